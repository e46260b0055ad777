//! The federation's report workbooks as a county office sends them round: a title row, the
//! table, and for the 进度通报 native Excel charts (activation rate per org; members per month).

use rust_xlsxwriter::{Chart, ChartType, Format, FormatAlign, FormatBorder, Workbook, Worksheet};

use crate::error::{WorkbookError, write_error};
use crate::out::column_index;

/// The title of the progress report (the month follows it).
pub const PROGRESS_TITLE: &str = "长兴县工会会员实名制工作进度通报";
/// The title of the subsidy list.
pub const SUBSIDY_TITLE: &str = "长兴县基层工会建会补助名单";

/// A cell of a report table.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text as written.
    Text(String),
    /// A whole number.
    Number(f64),
    /// A ratio shown as a percentage (0.5 → 50.0%).
    Percent(f64),
    /// Nothing (a blank with the table's border).
    Empty,
}

/// A report table under a title.
#[derive(Debug, Clone, Default)]
pub struct TitledTable {
    /// The worksheet's name.
    pub sheet: String,
    /// Row 1, merged across the table.
    pub title: String,
    /// Row 2 (the month, when it was taken, …).
    pub subtitle: String,
    /// Row 3.
    pub headers: Vec<String>,
    /// From row 4; the last row may be a total.
    pub rows: Vec<Vec<Cell>>,
}

/// The first table row (0-based) below the title, subtitle and header.
pub const FIRST_BODY_ROW: u32 = 3;

struct Formats {
    title: Format,
    subtitle: Format,
    heading: Format,
    text: Format,
    number: Format,
    percent: Format,
}

fn formats() -> Formats {
    let plain = Format::new().set_border(FormatBorder::Thin);
    Formats {
        title: Format::new()
            .set_bold()
            .set_font_size(16)
            .set_align(FormatAlign::Center),
        subtitle: Format::new().set_align(FormatAlign::Center),
        heading: plain.clone().set_bold().set_text_wrap(),
        text: plain.clone(),
        number: plain.clone().set_num_format("0"),
        percent: plain.set_num_format("0.0%"),
    }
}

fn row_num(r: usize) -> Result<u32, WorkbookError> {
    u32::try_from(r).map_err(|_| WorkbookError::Write("more rows than a worksheet holds".into()))
}

fn write_table(
    sheet: &mut Worksheet,
    table: &TitledTable,
    f: &Formats,
) -> Result<(), WorkbookError> {
    sheet.set_name(&table.sheet).map_err(write_error)?;
    let last_col = column_index(table.headers.len().max(1) - 1);
    if last_col > 0 {
        sheet
            .merge_range(0, 0, 0, last_col, &table.title, &f.title)
            .map_err(write_error)?;
        sheet
            .merge_range(1, 0, 1, last_col, &table.subtitle, &f.subtitle)
            .map_err(write_error)?;
    } else {
        sheet
            .write_string_with_format(0, 0, &table.title, &f.title)
            .map_err(write_error)?;
        sheet
            .write_string_with_format(1, 0, &table.subtitle, &f.subtitle)
            .map_err(write_error)?;
    }
    sheet.set_row_height(0, 28).map_err(write_error)?;
    for (c, h) in table.headers.iter().enumerate() {
        let col = column_index(c);
        sheet
            .write_string_with_format(2, col, h, &f.heading)
            .map_err(write_error)?;
        sheet
            .set_column_width(col, if c == 1 { 24 } else { 12 })
            .map_err(write_error)?;
    }
    for (r, row) in table.rows.iter().enumerate() {
        let line = FIRST_BODY_ROW + row_num(r)?;
        for (c, cell) in row.iter().enumerate() {
            let col = column_index(c);
            match cell {
                Cell::Text(s) => sheet.write_string_with_format(line, col, s, &f.text),
                Cell::Number(v) => sheet.write_number_with_format(line, col, *v, &f.number),
                Cell::Percent(v) => sheet.write_number_with_format(line, col, *v, &f.percent),
                Cell::Empty => sheet.write_blank(line, col, &f.text),
            }
            .map_err(write_error)?;
        }
    }
    sheet
        .set_freeze_panes(FIRST_BODY_ROW, 0)
        .map_err(write_error)?;
    Ok(())
}

/// Writes `table` alone.
pub fn write_titled(table: &TitledTable) -> Result<Vec<u8>, WorkbookError> {
    let mut workbook = Workbook::new();
    let f = formats();
    write_table(workbook.add_worksheet(), table, &f)?;
    workbook.save_to_buffer().map_err(write_error)
}

/// The progress report: `table` (its body rows the orgs, then one total row), a column chart
/// of column `rate_col` (the activation rate) per org named in column `name_col`, and on a
/// second sheet the members at the end of each month with a line chart of them.
pub fn write_progress(
    table: &TitledTable,
    name_col: usize,
    rate_col: usize,
    members_by_month: &[(String, u64)],
) -> Result<Vec<u8>, WorkbookError> {
    let mut workbook = Workbook::new();
    let f = formats();
    let orgs = table.rows.len().saturating_sub(1);
    let months_sheet = "月度会员数";
    {
        let sheet = workbook.add_worksheet();
        write_table(sheet, table, &f)?;
        let below = FIRST_BODY_ROW + row_num(table.rows.len())? + 2;
        if orgs > 0 {
            let last = FIRST_BODY_ROW + row_num(orgs)? - 1;
            let mut chart = Chart::new(ChartType::Column);
            chart
                .add_series()
                .set_name("激活率")
                .set_categories((
                    table.sheet.as_str(),
                    FIRST_BODY_ROW,
                    column_index(name_col),
                    last,
                    column_index(name_col),
                ))
                .set_values((
                    table.sheet.as_str(),
                    FIRST_BODY_ROW,
                    column_index(rate_col),
                    last,
                    column_index(rate_col),
                ));
            chart.title().set_name("会员卡激活率");
            chart.y_axis().set_num_format("0%");
            chart.legend().set_hidden();
            sheet.insert_chart(below, 0, &chart).map_err(write_error)?;
        }
        if !members_by_month.is_empty() {
            let last = row_num(members_by_month.len())?;
            let mut chart = Chart::new(ChartType::Line);
            chart
                .add_series()
                .set_name("会员数")
                .set_categories((months_sheet, 1, 0, last, 0))
                .set_values((months_sheet, 1, 1, last, 1));
            chart.title().set_name("近12个月会员数");
            chart.legend().set_hidden();
            sheet.insert_chart(below, 8, &chart).map_err(write_error)?;
        }
    }
    let sheet = workbook.add_worksheet();
    sheet.set_name(months_sheet).map_err(write_error)?;
    sheet
        .write_string_with_format(0, 0, "月份", &f.heading)
        .map_err(write_error)?;
    sheet
        .write_string_with_format(0, 1, "会员数", &f.heading)
        .map_err(write_error)?;
    for (i, (month, members)) in members_by_month.iter().enumerate() {
        let r = row_num(i + 1)?;
        sheet
            .write_string_with_format(r, 0, month, &f.text)
            .map_err(write_error)?;
        sheet
            .write_number_with_format(r, 1, *members as f64, &f.number)
            .map_err(write_error)?;
    }
    workbook.save_to_buffer().map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_progress_workbook_has_its_chart_parts() {
        let table = TitledTable {
            sheet: "进度通报".into(),
            title: format!("{PROGRESS_TITLE}（2026年12月）"),
            subtitle: "实时统计".into(),
            headers: vec!["排名".into(), "单位".into(), "激活率".into()],
            rows: vec![
                vec![
                    Cell::Number(1.0),
                    Cell::Text("甲".into()),
                    Cell::Percent(0.5),
                ],
                vec![Cell::Empty, Cell::Text("合计".into()), Cell::Percent(0.5)],
            ],
        };
        let bytes = write_progress(&table, 1, 2, &[("2026-12".into(), 4)]).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(bytes.len() > 1000);
        // The chart parts are stored under their names in the zip's directory.
        assert!(text.contains("xl/charts/chart1.xml"));
        assert!(text.contains("xl/charts/chart2.xml"));
    }
}

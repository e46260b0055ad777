//! What the two writers share: title, header row, formats.

use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Worksheet};

use crate::error::{WorkbookError, write_error};
use crate::sheet::ColumnSpec;

/// The cell formats of a table's body.
pub(crate) struct BodyFormats {
    /// Bordered, for numbers.
    pub(crate) plain: Format,
    /// Bordered and formatted as text (`@`).
    pub(crate) text: Format,
    /// Bordered and shown as `2001-05-06`.
    pub(crate) date: Format,
}

/// A worksheet column index for a layout column index.
pub(crate) fn column_index(index: usize) -> u16 {
    u16::try_from(index).unwrap_or(u16::MAX)
}

/// The worksheet row of the `sequence`-th data row (1-based) under `header_row` (0-based).
pub(crate) fn data_row(header_row: u32, sequence: usize) -> Result<u32, WorkbookError> {
    u32::try_from(sequence)
        .ok()
        .and_then(|sequence| header_row.checked_add(sequence))
        .ok_or_else(|| WorkbookError::Write("more rows than a worksheet holds".to_owned()))
}

/// Names the sheet, writes the title merged over all columns on row 1, then `lines` (each
/// merged over all columns, with its format) on the rows below it, and the header on
/// `header_row` (0-based); sets column widths, formats `text_columns` as text for rows added
/// later and freezes the panes below the header. Rows are written top to bottom, as a
/// worksheet in constant-memory mode needs.
#[allow(clippy::too_many_arguments)]
pub(crate) fn begin_table(
    sheet: &mut Worksheet,
    sheet_name: &str,
    title: &str,
    lines: &[(&str, &Format)],
    columns: &[ColumnSpec],
    widths: &[f64],
    header_row: u32,
    text_columns: &[usize],
) -> Result<BodyFormats, WorkbookError> {
    let last_column = column_index(columns.len().saturating_sub(1));
    sheet.set_name(sheet_name).map_err(write_error)?;

    let title_format = Format::new()
        .set_bold()
        .set_font_size(16)
        .set_align(FormatAlign::Center)
        .set_align(FormatAlign::VerticalCenter);
    sheet
        .merge_range(0, 0, 0, last_column, title, &title_format)
        .map_err(write_error)?;
    sheet.set_row_height(0, 30).map_err(write_error)?;
    for (row, (text, format)) in (1u32..).zip(lines) {
        sheet
            .merge_range(row, 0, row, last_column, text, format)
            .map_err(write_error)?;
    }

    let plain = Format::new()
        .set_border(FormatBorder::Thin)
        .set_align(FormatAlign::VerticalCenter);
    let heading = plain
        .clone()
        .set_bold()
        .set_text_wrap()
        .set_align(FormatAlign::Center);
    for (index, spec) in columns.iter().enumerate() {
        let column = column_index(index);
        sheet
            .write_string_with_format(header_row, column, spec.name, &heading)
            .map_err(write_error)?;
        let width = widths.get(index).copied().unwrap_or(10.0);
        sheet.set_column_width(column, width).map_err(write_error)?;
    }
    let text_column = Format::new().set_num_format("@");
    for &index in text_columns {
        sheet
            .set_column_format(column_index(index), &text_column)
            .map_err(write_error)?;
    }
    sheet
        .set_freeze_panes(header_row + 1, 0)
        .map_err(write_error)?;

    Ok(BodyFormats {
        text: plain.clone().set_num_format("@"),
        date: plain.clone().set_num_format("yyyy-mm-dd"),
        plain,
    })
}

/// Writes `value` as a text cell, or a formatted blank when it is empty.
pub(crate) fn write_text(
    sheet: &mut Worksheet,
    row: u32,
    column: usize,
    value: &str,
    format: &Format,
) -> Result<(), WorkbookError> {
    let column = column_index(column);
    if value.is_empty() {
        sheet
            .write_blank(row, column, format)
            .map_err(write_error)?;
    } else {
        sheet
            .write_string_with_format(row, column, value, format)
            .map_err(write_error)?;
    }
    Ok(())
}

/// Writes the 序号 of a data row.
pub(crate) fn write_sequence(
    sheet: &mut Worksheet,
    row: u32,
    sequence: usize,
    format: &Format,
) -> Result<(), WorkbookError> {
    // Sequence numbers stay far below 2⁵³, so the conversion is exact.
    let number = sequence as f64;
    sheet
        .write_number_with_format(row, 0, number, format)
        .map_err(write_error)?;
    Ok(())
}

//! Plain reports: one worksheet per table, a bold header row, text cells (the data-quality
//! report uses it).

use rust_xlsxwriter::{Format, FormatBorder, Workbook};

use crate::error::{WorkbookError, write_error};
use crate::out::column_index;

/// One worksheet: its name (at most 31 characters), the header and the rows.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// The worksheet's name.
    pub name: String,
    /// The header row.
    pub headers: Vec<String>,
    /// The body, every cell as text.
    pub rows: Vec<Vec<String>>,
}

/// Writes each table on its own worksheet, in order.
pub fn write_tables(tables: &[Table]) -> Result<Vec<u8>, WorkbookError> {
    let mut workbook = Workbook::new();
    let plain = Format::new().set_border(FormatBorder::Thin);
    let heading = plain.clone().set_bold();
    for table in tables {
        let sheet = workbook.add_worksheet();
        sheet.set_name(&table.name).map_err(write_error)?;
        for (c, h) in table.headers.iter().enumerate() {
            let col = column_index(c);
            sheet
                .write_string_with_format(0, col, h, &heading)
                .map_err(write_error)?;
            sheet.set_column_width(col, 18).map_err(write_error)?;
        }
        for (r, row) in table.rows.iter().enumerate() {
            let line = u32::try_from(r + 1)
                .map_err(|_| WorkbookError::Write("more rows than a worksheet holds".to_owned()))?;
            for (c, value) in row.iter().enumerate() {
                sheet
                    .write_string_with_format(line, column_index(c), value, &plain)
                    .map_err(write_error)?;
            }
        }
        sheet.set_freeze_panes(1, 0).map_err(write_error)?;
    }
    workbook.save_to_buffer().map_err(write_error)
}

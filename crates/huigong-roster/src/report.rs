//! Row-level validation errors and the helpers that produce them.

use serde::Serialize;

use crate::cell::CellValue;
use crate::sheet::{ColumnSpec, DataRow};

/// One problem with one cell of an uploaded table.
///
/// Never contains the cell's content: a clerk finds the cell by `row` and `cell`, and the
/// message says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RowError {
    /// The row number Excel shows (1-based).
    pub row: u32,
    /// The column's header text as the notice writes it (`身份证号码`), even when the file
    /// used an accepted synonym (`身份证号`).
    pub column: String,
    /// The cell reference, e.g. `D7`.
    pub cell: String,
    /// A stable snake_case identifier, e.g. `id_number_check_digit`, `sex_mismatch`.
    pub code: String,
    /// What is wrong, in Chinese.
    pub message: String,
}

/// The errors of a whole table, with the list capped at [`Limits::max_errors`](crate::Limits).
#[derive(Debug, Default)]
pub(crate) struct ErrorLog {
    pub(crate) errors: Vec<RowError>,
    pub(crate) max: usize,
    pub(crate) invalid_rows: u32,
    pub(crate) omitted: u32,
}

impl ErrorLog {
    pub(crate) fn new(max: usize) -> ErrorLog {
        ErrorLog {
            max,
            ..ErrorLog::default()
        }
    }

    /// Records the errors of one row; a row with none is not counted.
    pub(crate) fn add_row(&mut self, errors: Vec<RowError>) {
        if errors.is_empty() {
            return;
        }
        self.invalid_rows += 1;
        for error in errors {
            if self.errors.len() < self.max {
                self.errors.push(error);
            } else {
                self.omitted = self.omitted.saturating_add(1);
            }
        }
    }
}

/// Validation of one data row: reads its cells and collects its errors.
pub(crate) struct RowCheck<'r, 't> {
    row: &'r mut DataRow<'t>,
    columns: &'static [ColumnSpec],
    /// The errors so far, with the layout index of their column.
    errors: Vec<(usize, RowError)>,
}

impl<'r, 't> RowCheck<'r, 't> {
    pub(crate) fn new(row: &'r mut DataRow<'t>, columns: &'static [ColumnSpec]) -> Self {
        RowCheck {
            row,
            columns,
            errors: Vec::new(),
        }
    }

    /// The row number Excel shows.
    pub(crate) fn row_number(&self) -> u32 {
        self.row.number
    }

    /// The notice's header text of a column.
    pub(crate) fn column_name(&self, column: usize) -> &'static str {
        self.columns.get(column).map_or("", |spec| spec.name)
    }

    /// Records an error in `column`.
    pub(crate) fn error(&mut self, column: usize, code: &str, message: String) {
        let error = RowError {
            row: self.row.number,
            column: self.column_name(column).to_owned(),
            cell: self.row.cell_ref(column),
            code: code.to_owned(),
            message,
        };
        self.errors.push((column, error));
    }

    /// The cell's value; an empty cell is a `required` error, an error value (`#N/A`) a
    /// `cell_error`. Either way `None`.
    pub(crate) fn required(&mut self, column: usize) -> Option<CellValue> {
        match self.row.take(column) {
            Some(value) => self.reject_error_value(column, value),
            None => {
                let name = self.column_name(column);
                self.error(column, "required", format!("“{name}”为必填项，不能为空"));
                None
            }
        }
    }

    /// The cell's value, `None` when empty; an error value (`#N/A`) is a `cell_error`.
    pub(crate) fn optional(&mut self, column: usize) -> Option<CellValue> {
        let value = self.row.take(column)?;
        self.reject_error_value(column, value)
    }

    fn reject_error_value(&mut self, column: usize, value: CellValue) -> Option<CellValue> {
        if let CellValue::Error(shown) = &value {
            let name = self.column_name(column);
            self.error(
                column,
                "cell_error",
                format!("“{name}”单元格是错误值{shown}，请填写实际内容（不要用公式）"),
            );
            return None;
        }
        Some(value)
    }

    /// Required text, as the clerk sees it (numbers and dates converted, trimmed).
    pub(crate) fn required_text(&mut self, column: usize) -> Option<String> {
        self.required(column).map(|value| value.display())
    }

    /// Optional text, as the clerk sees it.
    pub(crate) fn optional_text(&mut self, column: usize) -> Option<String> {
        self.optional(column).map(|value| value.display())
    }

    /// Whether no error has been recorded for this row.
    pub(crate) fn is_clean(&self) -> bool {
        self.errors.is_empty()
    }

    /// The row's errors in the notice's column order, whatever order the checks ran in.
    pub(crate) fn finish(mut self) -> Vec<RowError> {
        self.errors.sort_by_key(|(column, _)| *column);
        self.errors.into_iter().map(|(_, error)| error).collect()
    }
}

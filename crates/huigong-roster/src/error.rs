//! Limits on what an uploaded workbook may cost, and the errors that reject a whole file.

use serde::Serialize;

/// Bounds on the work and memory a single uploaded workbook may cause.
///
/// The defaults suit a county roster: 100,000 members fit in a few megabytes of `.xlsx`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Largest accepted file, in bytes (default 10 MiB).
    pub max_bytes: usize,
    /// Most data rows accepted; more is [`WorkbookError::TooManyRows`] (default 100,000).
    /// Blank rows and footer rows (备注, 合计, 填表人 …) do not count.
    pub max_rows: u32,
    /// Largest total of the uncompressed sizes that the zip entries declare (default 200 MiB).
    pub max_uncompressed_bytes: u64,
    /// Largest ratio of uncompressed to compressed size of one entry (default 100). Only
    /// entries declaring more than 1 MiB uncompressed are checked: tiny parts such as
    /// `styles.xml` legitimately compress very well and cost nothing.
    pub max_compression_ratio: u64,
    /// Most entries in the zip container (default 10,000; a workbook has a few dozen).
    pub max_zip_entries: usize,
    /// Most [`RowError`](crate::RowError)s listed in a report (default 10,000). Rows beyond
    /// are still validated and counted, but their errors are only counted, so a file in which
    /// every row is wrong cannot make the report itself huge.
    pub max_errors: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 10 * 1024 * 1024,
            max_rows: 100_000,
            max_uncompressed_bytes: 200 * 1024 * 1024,
            max_compression_ratio: 100,
            max_zip_entries: 10_000,
            max_errors: 10_000,
        }
    }
}

/// Why a whole workbook was rejected (as opposed to a [`RowError`](crate::RowError) about one
/// cell). No variant carries any cell's content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkbookError {
    /// The file is larger than [`Limits::max_bytes`].
    #[error("workbook is larger than {max_bytes} bytes")]
    TooLarge {
        /// The limit that was exceeded.
        max_bytes: usize,
    },
    /// Not a zip container, or a zip that is not an Office Open XML workbook (e.g. `.ods`,
    /// `.docx`, an empty zip, a renamed text file).
    #[error("not an .xlsx workbook")]
    NotXlsx,
    /// An OLE compound file (starting `D0 CF 11 E0`) that is not a readable Excel 97-2003
    /// `.xls`: typically a WPS `.et` file, or a workbook of an even older Excel.
    #[error("OLE file that is not a readable Excel 97-2003 workbook (e.g. WPS .et)")]
    LegacyFormat,
    /// An `.xlsx` protected with an opening password, which Excel stores in an OLE container.
    #[error("password-protected workbook")]
    Encrypted,
    /// The zip declares too much uncompressed data, too high a compression ratio or too many
    /// entries; see [`Limits`].
    #[error("zip container exceeds the decompression limits")]
    ZipBomb,
    /// More data rows than [`Limits::max_rows`]; reading stopped there.
    #[error("more than {max} data rows")]
    TooManyRows {
        /// The limit that was exceeded.
        max: u32,
    },
    /// The workbook has no worksheet (only chart sheets, or none at all).
    #[error("workbook has no worksheet")]
    NoWorksheet,
    /// No row among the first rows of the sheet holds the expected header texts.
    #[error("header row not found (looked for {expected:?})")]
    HeaderNotFound {
        /// The header texts looked for, e.g. `["姓名", "身份证号码"]`.
        expected: Vec<String>,
    },
    /// The header row lacks required columns; the names are the notice's header texts.
    #[error("header row lacks columns {0:?}")]
    MissingColumns(Vec<String>),
    /// The container is a workbook but could not be read. The text describes the technical
    /// cause for logs (never a cell's content); users get [`WorkbookError::message_zh`].
    #[error("workbook could not be read: {0}")]
    Corrupt(String),
    /// Writing a workbook failed (technical cause for logs).
    #[error("workbook could not be written: {0}")]
    Write(String),
}

impl WorkbookError {
    /// A stable snake_case identifier for API responses and translations.
    pub fn code(&self) -> &'static str {
        match self {
            WorkbookError::TooLarge { .. } => "workbook_too_large",
            WorkbookError::NotXlsx => "workbook_not_xlsx",
            WorkbookError::LegacyFormat => "workbook_legacy_format",
            WorkbookError::Encrypted => "workbook_encrypted",
            WorkbookError::ZipBomb => "workbook_zip_bomb",
            WorkbookError::TooManyRows { .. } => "workbook_too_many_rows",
            WorkbookError::NoWorksheet => "workbook_no_worksheet",
            WorkbookError::HeaderNotFound { .. } => "workbook_header_not_found",
            WorkbookError::MissingColumns(_) => "workbook_missing_columns",
            WorkbookError::Corrupt(_) => "workbook_corrupt",
            WorkbookError::Write(_) => "workbook_write_failed",
        }
    }

    /// A sentence a clerk can act on, in Chinese.
    pub fn message_zh(&self) -> String {
        match self {
            WorkbookError::TooLarge { max_bytes } => {
                format!("文件超过{}MB的上限，请分批上传", max_bytes / (1024 * 1024))
            }
            WorkbookError::NotXlsx => {
                "文件不是Excel工作簿（支持.xlsx、.xls、.ods），请用Excel另存为“Excel工作簿(*.xlsx)”后再上传".to_owned()
            }
            WorkbookError::LegacyFormat => "无法读取此文件：它可能是WPS表格（.et）文件或更早版本的Excel文件。请在WPS或Excel中打开，用“文件→另存为”保存为“Excel工作簿(*.xlsx)”后再上传".to_owned(),
            WorkbookError::Encrypted => "文件设置了打开密码，无法读取。请取消密码，并在Excel中另存为“Excel工作簿(*.xlsx)”后再上传".to_owned(),
            WorkbookError::ZipBomb => "文件解压后体积异常（可能含大量空白行或空白格式），请删除多余的行和列，另存为.xlsx后再上传".to_owned(),
            WorkbookError::TooManyRows { max } => {
                format!("数据超过{max}行的上限，请分批上传")
            }
            WorkbookError::NoWorksheet => "工作簿中没有工作表".to_owned(),
            WorkbookError::HeaderNotFound { expected } => format!(
                "未找到表头：表格前{}行中没有同时包含{}的行，请勿改动模板的列名",
                crate::sheet::HEADER_SCAN_ROWS,
                quoted_list(expected)
            ),
            WorkbookError::MissingColumns(columns) => {
                format!("表头缺少以下列：{}", quoted_list(columns))
            }
            WorkbookError::Corrupt(_) => {
                "文件已损坏或无法读取，请用Excel打开后另存为.xlsx再上传".to_owned()
            }
            WorkbookError::Write(_) => "生成Excel文件失败，请稍后重试".to_owned(),
        }
    }
}

/// `“姓名”、“身份证号码”`.
fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|name| format!("“{name}”"))
        .collect::<Vec<_>>()
        .join("、")
}

/// Maps a writer failure; the text is technical and holds no cell content.
pub(crate) fn write_error(error: rust_xlsxwriter::XlsxError) -> WorkbookError {
    WorkbookError::Write(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_snake_case() {
        let errors = [
            WorkbookError::TooLarge { max_bytes: 1 },
            WorkbookError::NotXlsx,
            WorkbookError::LegacyFormat,
            WorkbookError::Encrypted,
            WorkbookError::ZipBomb,
            WorkbookError::TooManyRows { max: 1 },
            WorkbookError::NoWorksheet,
            WorkbookError::HeaderNotFound { expected: vec![] },
            WorkbookError::MissingColumns(vec![]),
            WorkbookError::Corrupt(String::new()),
            WorkbookError::Write(String::new()),
        ];
        let mut codes: Vec<&str> = errors.iter().map(WorkbookError::code).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.chars().all(|ch| ch.is_ascii_lowercase() || ch == '_'))
        );
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
    }

    #[test]
    fn messages_name_columns_and_limits() {
        let missing = WorkbookError::MissingColumns(vec!["性别".to_owned(), "国籍".to_owned()]);
        assert_eq!(missing.message_zh(), "表头缺少以下列：“性别”、“国籍”");
        let large = WorkbookError::TooLarge {
            max_bytes: 10 * 1024 * 1024,
        };
        assert_eq!(large.message_zh(), "文件超过10MB的上限，请分批上传");
    }
}

//! Reading a table (title lines, a header row, data rows) from the first worksheet.
//!
//! The sheet is streamed cell by cell with calamine's cell reader instead of being loaded as
//! a dense [`calamine::Range`]: a hostile file with one cell in `A1` and one in `XFD1048576`
//! would otherwise allocate seventeen billion cells, and the row limit can stop the reading
//! early. Only the mapped columns of each data row are kept.

use std::io::Cursor;

use calamine::{Data, DataRef, Ods, Range, Reader, SheetType, SheetVisible, Xls, Xlsx, XlsxError};

use crate::cell::{CellValue, column_letters, normalise_header};
use crate::container::Format;
use crate::error::{Limits, WorkbookError};

/// How many non-blank rows from the top of the sheet are searched for the header row.
pub(crate) const HEADER_SCAN_ROWS: usize = 20;

/// Texts that start a footer row (notes, totals, signatures) under a table. Such a row is
/// skipped when its key column is empty.
const FOOTER_PREFIXES: [&str; 12] = [
    "备注",
    "注：",
    "注:",
    "说明",
    "合计",
    "总计",
    "小计",
    "填表人",
    "制表人",
    "审核人",
    "填报人",
    "填表日期",
];

/// One column of a layout.
pub(crate) struct ColumnSpec {
    /// The header text in the notice, used in reports and when writing.
    pub(crate) name: &'static str,
    /// Header texts accepted for this column (after [`normalise_header`]), in order of
    /// preference; the first is `name`.
    pub(crate) aliases: &'static [&'static str],
    /// Whether the header row must have this column.
    pub(crate) required: bool,
}

/// The columns of a table and how to recognise its header row.
pub(crate) struct Layout {
    pub(crate) columns: &'static [ColumnSpec],
    /// Columns that together identify the header row.
    pub(crate) anchors: &'static [usize],
    /// The column whose emptiness, together with a footer text, marks a footer row.
    pub(crate) key: usize,
    /// Columns whose content alone does not make a row non-blank (the 序号 column).
    pub(crate) ignored_for_blank: &'static [usize],
}

/// A row as it appears in the sheet: 1-based row number and its non-empty cells, by 0-based
/// column index in increasing order.
#[derive(Debug)]
pub(crate) struct RawRow {
    pub(crate) number: u32,
    pub(crate) cells: Vec<(u32, CellValue)>,
}

impl RawRow {
    /// The cells' texts in column order.
    pub(crate) fn texts(&self) -> impl Iterator<Item = String> + '_ {
        self.cells.iter().map(|(_, value)| value.display())
    }
}

/// A data row reduced to the layout's columns.
pub(crate) struct DataRow<'t> {
    /// The row number Excel shows.
    pub(crate) number: u32,
    /// One entry per layout column; `None` when empty or when the column is absent.
    pub(crate) cells: Vec<Option<CellValue>>,
    /// Where each layout column is in the sheet (0-based), if present.
    pub(crate) positions: &'t [Option<u32>],
}

impl DataRow<'_> {
    /// The cell reference (`D7`) of a layout column in this row, or just the row number when
    /// the column is absent.
    pub(crate) fn cell_ref(&self, column: usize) -> String {
        match self.positions.get(column).copied().flatten() {
            Some(position) => format!("{}{}", column_letters(position), self.number),
            None => self.number.to_string(),
        }
    }

    /// Takes a cell's value out of the row.
    pub(crate) fn take(&mut self, column: usize) -> Option<CellValue> {
        self.cells.get_mut(column).and_then(Option::take)
    }
}

/// Where the cells of the worksheet come from.
enum Source<'b> {
    /// An `.xlsx`, streamed cell by cell.
    Xlsx(Box<Xlsx<Cursor<&'b [u8]>>>),
    /// An `.xls` or `.ods` sheet, which calamine reads whole.
    Range(Range<Data>),
}

/// An opened workbook and the name of the worksheet to read.
pub(crate) struct Workbook<'b> {
    source: Source<'b>,
    sheet: String,
    /// Size of the file, which bounds how many rows it can plausibly hold.
    file_size: usize,
}

/// Opens a workbook whose container has passed [`crate::container::check`] (which told its
/// `format`) and picks its first visible worksheet.
pub(crate) fn open(bytes: &[u8], format: Format) -> Result<Workbook<'_>, WorkbookError> {
    let (source, sheet) = match format {
        Format::Xlsx => {
            let xlsx: Xlsx<Cursor<&[u8]>> = Xlsx::new(Cursor::new(bytes)).map_err(open_error)?;
            let sheet = first_worksheet(xlsx.sheets_metadata())?;
            (Source::Xlsx(Box::new(xlsx)), sheet)
        }
        Format::Ole => {
            // Not a BIFF workbook stream (a WPS `.et`, an Excel 5 file, a `.doc`): only the
            // Save As step helps.
            let mut xls: Xls<Cursor<&[u8]>> =
                Xls::new(Cursor::new(bytes)).map_err(|_| WorkbookError::LegacyFormat)?;
            let sheet = first_worksheet(xls.sheets_metadata())?;
            let range = xls
                .worksheet_range(&sheet)
                .map_err(|_| WorkbookError::LegacyFormat)?;
            (Source::Range(range), sheet)
        }
        Format::Ods => {
            let mut ods: Ods<Cursor<&[u8]>> =
                Ods::new(Cursor::new(bytes)).map_err(|e| WorkbookError::Corrupt(ods_cause(&e)))?;
            let sheet = first_worksheet(ods.sheets_metadata())?;
            let range = ods
                .worksheet_range(&sheet)
                .map_err(|e| WorkbookError::Corrupt(ods_cause(&e)))?;
            (Source::Range(range), sheet)
        }
    };
    Ok(Workbook {
        source,
        sheet,
        file_size: bytes.len(),
    })
}

/// Describes an `.ods` read failure without echoing XML content, which could be a cell's.
fn ods_cause(error: &calamine::OdsError) -> String {
    match error {
        calamine::OdsError::Xml(_) | calamine::OdsError::XmlAttr(_) => "malformed XML".to_owned(),
        calamine::OdsError::CellLimitExceeded { .. } => "too many cells".to_owned(),
        _ => "unreadable .ods".to_owned(),
    }
}

/// A table being read: its header row has been found, data rows follow one at a time.
pub(crate) struct Table<'w, 'b> {
    rows: RowStream<'w, 'b>,
    layout: &'static Layout,
    max_rows: u32,
    preamble: Vec<RawRow>,
    header_row: u32,
    positions: Vec<Option<u32>>,
    data_rows: u32,
    expected_rows: usize,
}

impl<'w, 'b> Table<'w, 'b> {
    /// Finds the header row of `layout` among the first [`HEADER_SCAN_ROWS`] non-blank rows
    /// and checks that every required column is there.
    pub(crate) fn start(
        workbook: &'w mut Workbook<'b>,
        layout: &'static Layout,
        limits: &Limits,
    ) -> Result<Self, WorkbookError> {
        let (cells, declared_last_row) = match &mut workbook.source {
            Source::Xlsx(xlsx) => {
                let cells = xlsx
                    .worksheet_cells_reader(&workbook.sheet)
                    .map_err(read_error)?;
                let last = cells.dimensions().end.0;
                (Cells::Xlsx(Box::new(cells)), last)
            }
            Source::Range(range) => {
                let (row0, column0) = range.start().unwrap_or((0, 0));
                let last = range.end().map_or(0, |(row, _)| row);
                let used = range.used_cells().map(move |(row, column, value)| {
                    (
                        row0.saturating_add(u32::try_from(row).unwrap_or(u32::MAX)),
                        column0.saturating_add(u32::try_from(column).unwrap_or(u32::MAX)),
                        value,
                    )
                });
                (Cells::Range(Box::new(used)), last)
            }
        };
        let mut rows = RowStream {
            cells,
            pending: None,
            last_row: None,
            finished: false,
        };

        let mut preamble = Vec::new();
        let (header_row, positions) = loop {
            let Some(row) = rows.next_row()? else {
                return Err(header_not_found(layout));
            };
            if let Some(positions) = match_header(&row, layout) {
                break (row.number, positions);
            }
            if preamble.len() + 1 >= HEADER_SCAN_ROWS {
                return Err(header_not_found(layout));
            }
            preamble.push(row);
        };
        let missing: Vec<String> = layout
            .columns
            .iter()
            .zip(&positions)
            .filter(|(spec, position)| spec.required && position.is_none())
            .map(|(spec, _)| spec.name.to_owned())
            .collect();
        if !missing.is_empty() {
            return Err(WorkbookError::MissingColumns(missing));
        }

        // The sheet's declared dimension, trusted only as far as the limits and the file
        // size allow (a row of real data takes well over 8 compressed bytes).
        let declared_rows =
            usize::try_from(declared_last_row.saturating_sub(header_row - 1)).unwrap_or(usize::MAX);
        let expected_rows = declared_rows
            .min(usize::try_from(limits.max_rows).unwrap_or(usize::MAX))
            .min(workbook.file_size / 8);
        Ok(Table {
            rows,
            layout,
            max_rows: limits.max_rows,
            preamble,
            header_row,
            positions,
            data_rows: 0,
            expected_rows,
        })
    }

    /// The next data row that is neither blank nor a footer, or `None` at the end.
    /// More than [`Limits::max_rows`] data rows is [`WorkbookError::TooManyRows`].
    pub(crate) fn next_row(&mut self) -> Result<Option<DataRow<'_>>, WorkbookError> {
        while let Some(row) = self.rows.next_row()? {
            let starts_like_footer = starts_like_footer(&row);
            let number = row.number;
            let cells = pick_columns(row, &self.positions);
            let key_empty = cells.get(self.layout.key).is_none_or(Option::is_none);
            if is_blank(&cells, self.layout) || (starts_like_footer && key_empty) {
                continue;
            }
            self.data_rows += 1;
            if self.data_rows > self.max_rows {
                return Err(WorkbookError::TooManyRows { max: self.max_rows });
            }
            return Ok(Some(DataRow {
                number,
                cells,
                positions: &self.positions,
            }));
        }
        Ok(None)
    }

    /// The non-blank rows above the header (title, 工会名称 …), fewer than
    /// [`HEADER_SCAN_ROWS`].
    pub(crate) fn preamble(&self) -> &[RawRow] {
        &self.preamble
    }

    /// The row number of the header row.
    pub(crate) fn header_row(&self) -> u32 {
        self.header_row
    }

    /// Data rows returned so far.
    pub(crate) fn data_rows(&self) -> u32 {
        self.data_rows
    }

    /// A plausible number of data rows, for reserving memory; not a promise.
    pub(crate) fn expected_rows(&self) -> usize {
        self.expected_rows
    }
}

/// The first visible worksheet, or the first worksheet if all are hidden.
fn first_worksheet(sheets: &[calamine::Sheet]) -> Result<String, WorkbookError> {
    let worksheets = || {
        sheets
            .iter()
            .filter(|sheet| sheet.typ == SheetType::WorkSheet)
    };
    worksheets()
        .find(|sheet| sheet.visible == SheetVisible::Visible)
        .or_else(|| worksheets().next())
        .map(|sheet| sheet.name.clone())
        .ok_or(WorkbookError::NoWorksheet)
}

/// For each layout column, the sheet column holding it, if `row` is the header row.
///
/// A header cell is claimed by at most one column; each column takes the cell matching its
/// most preferred alias (so a sheet with both 手机号码 and 联系电话 maps 手机号码).
fn match_header(row: &RawRow, layout: &Layout) -> Option<Vec<Option<u32>>> {
    let headers: Vec<(u32, String)> = row
        .cells
        .iter()
        .filter_map(|(column, value)| match value {
            CellValue::Text(text) => Some((*column, normalise_header(text))),
            _ => None,
        })
        .collect();
    let mut claimed = vec![false; headers.len()];
    let mut positions = vec![None; layout.columns.len()];
    for (spec, position) in layout.columns.iter().zip(positions.iter_mut()) {
        for alias in spec.aliases {
            let found = headers
                .iter()
                .zip(claimed.iter_mut())
                .find(|((_, text), taken)| !**taken && text == alias);
            if let Some(((column, _), taken)) = found {
                *taken = true;
                *position = Some(*column);
                break;
            }
        }
    }
    layout
        .anchors
        .iter()
        .all(|&anchor| positions.get(anchor).copied().flatten().is_some())
        .then_some(positions)
}

fn header_not_found(layout: &Layout) -> WorkbookError {
    WorkbookError::HeaderNotFound {
        expected: layout
            .anchors
            .iter()
            .filter_map(|&anchor| layout.columns.get(anchor))
            .map(|spec| spec.name.to_owned())
            .collect(),
    }
}

/// Moves the cells of the layout's columns out of a row, in layout order.
fn pick_columns(row: RawRow, positions: &[Option<u32>]) -> Vec<Option<CellValue>> {
    let mut cells = vec![None; positions.len()];
    for (column, value) in row.cells {
        if let Some(index) = positions.iter().position(|p| *p == Some(column))
            && let Some(slot) = cells.get_mut(index)
        {
            *slot = Some(value);
        }
    }
    cells
}

fn is_blank(cells: &[Option<CellValue>], layout: &Layout) -> bool {
    cells
        .iter()
        .enumerate()
        .all(|(index, cell)| cell.is_none() || layout.ignored_for_blank.contains(&index))
}

/// Whether the row's first cell is text like `备注：…` or `合计`: together with an empty key
/// column this marks a footer under the table.
fn starts_like_footer(row: &RawRow) -> bool {
    row.cells.first().is_some_and(|(_, value)| match value {
        CellValue::Text(text) => FOOTER_PREFIXES.iter().any(|p| text.starts_with(p)),
        _ => false,
    })
}

/// The cells of a sheet in row order: streamed from an `.xlsx`, or taken from a range.
enum Cells<'w, 'b> {
    Xlsx(Box<calamine::XlsxCellReader<'w, Cursor<&'b [u8]>>>),
    Range(Box<dyn Iterator<Item = (u32, u32, &'w Data)> + 'w>),
}

/// Groups the cell stream into rows.
struct RowStream<'w, 'b> {
    cells: Cells<'w, 'b>,
    /// A cell read ahead: the first of the next row.
    pending: Option<(u32, u32, CellValue)>,
    /// The 0-based index of the last row returned.
    last_row: Option<u32>,
    /// Whether the cell reader has reached the end of the sheet data; it must not be asked
    /// again then.
    finished: bool,
}

impl RowStream<'_, '_> {
    /// The next row with at least one non-empty cell, or `None` at the end of the sheet.
    fn next_row(&mut self) -> Result<Option<RawRow>, WorkbookError> {
        let mut current: Option<(u32, Vec<(u32, CellValue)>)> = None;
        loop {
            let next = match self.pending.take() {
                Some(cell) => Some(cell),
                None => self.next_cell()?,
            };
            let Some((row, column, value)) = next else {
                break;
            };
            match &mut current {
                None => {
                    if self.last_row.is_some_and(|last| row <= last) {
                        // Excel and every other writer store rows in ascending order.
                        return Err(WorkbookError::Corrupt(
                            "worksheet rows are not in ascending order".to_owned(),
                        ));
                    }
                    current = Some((row, vec![(column, value)]));
                }
                Some((current_row, cells)) if *current_row == row => cells.push((column, value)),
                Some(_) => {
                    self.pending = Some((row, column, value));
                    break;
                }
            }
        }
        Ok(current.map(|(row, mut cells)| {
            self.last_row = Some(row);
            cells.sort_by_key(|(column, _)| *column);
            cells.dedup_by_key(|(column, _)| *column);
            RawRow {
                number: row.saturating_add(1),
                cells,
            }
        }))
    }

    /// The next non-empty cell as (row, column, value), 0-based.
    fn next_cell(&mut self) -> Result<Option<(u32, u32, CellValue)>, WorkbookError> {
        while !self.finished {
            let next = match &mut self.cells {
                Cells::Xlsx(reader) => reader.next_cell().map_err(read_error)?.map(|cell| {
                    let (row, column) = cell.get_position();
                    (row, column, CellValue::from_calamine(cell.get_value()))
                }),
                Cells::Range(cells) => cells
                    .next()
                    .map(|(row, column, value)| (row, column, from_data(value))),
            };
            let Some((row, column, value)) = next else {
                self.finished = true;
                break;
            };
            if let Some(value) = value {
                return Ok(Some((row, column, value)));
            }
        }
        Ok(None)
    }
}

/// A cell of an `.xls` or `.ods` range, read like the same cell of an `.xlsx`.
fn from_data(value: &Data) -> Option<CellValue> {
    let value = match value {
        Data::Empty => DataRef::Empty,
        Data::String(text) => DataRef::SharedString(text),
        Data::Int(number) => DataRef::Int(*number),
        Data::Float(number) => DataRef::Float(*number),
        Data::Bool(flag) => DataRef::Bool(*flag),
        Data::DateTime(excel) => DataRef::DateTime(*excel),
        Data::DateTimeIso(text) => DataRef::DateTimeIso(text.clone()),
        Data::DurationIso(text) => DataRef::DurationIso(text.clone()),
        Data::Error(error) => DataRef::Error(error.clone()),
    };
    CellValue::from_calamine(&value)
}

/// Maps a failure to open the workbook: a zip without the parts of a workbook is not an
/// `.xlsx`; anything else is a damaged one.
fn open_error(error: XlsxError) -> WorkbookError {
    match error {
        XlsxError::Zip(_) | XlsxError::FileNotFound(_) | XlsxError::RelationshipNotFound => {
            WorkbookError::NotXlsx
        }
        XlsxError::Password => WorkbookError::Encrypted,
        other => read_error(other),
    }
}

/// Describes a read failure for logs without echoing XML content, which could be a cell's.
fn read_error(error: XlsxError) -> WorkbookError {
    let cause = match error {
        XlsxError::Xml(_) | XlsxError::XmlAttr(_) => "malformed XML".to_owned(),
        XlsxError::Unrecognized { typ, .. } => format!("unrecognized {typ}"),
        XlsxError::CellTAttribute(_) => "unknown cell type".to_owned(),
        other => other.to_string(),
    };
    WorkbookError::Corrupt(cause)
}

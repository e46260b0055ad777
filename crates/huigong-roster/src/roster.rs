//! The member roster, 附件3 长兴县基层工会会员花名册.
//!
//! A clerk's file: a title line, the lines `工会名称:` / `联系人:` / `联系电话:`, then the header
//! `序号 姓名 性别 身份证号码 国籍 学历 手机号码 户籍类型 所属单位 就业状况 担任工会职务` and one row per
//! member.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use chrono::NaiveDate;
use huigong_core::{IdNumber, Mobile, Sex, mask_id_number, mask_mobile, mask_name};
use rust_xlsxwriter::{Format, FormatAlign, Workbook};
use serde::{Deserialize, Serialize};

use crate::cell::{CellValue, integer_text, is_scientific_notation, tidy_name};
use crate::container;
use crate::error::{Limits, WorkbookError, write_error};
use crate::out;
use crate::report::{ErrorLog, RowCheck, RowError};
use crate::sheet::{self, ColumnSpec, DataRow, Layout, RawRow};

/// The title line of the roster.
pub const ROSTER_TITLE: &str = "长兴县基层工会会员花名册";

const SEQ: usize = 0;
const NAME: usize = 1;
const SEX: usize = 2;
const ID: usize = 3;
const NATIONALITY: usize = 4;
const EDUCATION: usize = 5;
const MOBILE: usize = 6;
const HOUSEHOLD: usize = 7;
const UNIT: usize = 8;
const EMPLOYMENT: usize = 9;
const POST: usize = 10;

/// The columns in the notice's order, with the header texts accepted for each.
static COLUMNS: [ColumnSpec; 11] = [
    column("序号", &["序号", "编号"], false),
    column("姓名", &["姓名", "会员姓名"], true),
    column("性别", &["性别"], true),
    column(
        "身份证号码",
        &[
            "身份证号码",
            "身份证号",
            "公民身份号码",
            "身份证件号码",
            "身份证",
        ],
        true,
    ),
    column("国籍", &["国籍"], true),
    column("学历", &["学历", "文化程度"], true),
    column(
        "手机号码",
        &["手机号码", "手机号", "手机", "联系电话", "联系方式"],
        true,
    ),
    column(
        "户籍类型",
        &["户籍类型", "户口类型", "户籍性质", "户口性质"],
        true,
    ),
    column(
        "所属单位",
        &["所属单位", "工作单位", "单位", "单位名称"],
        true,
    ),
    column("就业状况", &["就业状况", "就业状态"], true),
    column("担任工会职务", &["担任工会职务", "工会职务", "职务"], true),
];

static LAYOUT: Layout = Layout {
    columns: &COLUMNS,
    anchors: &[NAME, ID],
    key: ID,
    ignored_for_blank: &[SEQ],
};

const fn column(
    name: &'static str,
    aliases: &'static [&'static str],
    required: bool,
) -> ColumnSpec {
    ColumnSpec {
        name,
        aliases,
        required,
    }
}

/// One valid member row.
///
/// `Debug` masks the name, the identity number and the mobile number.
#[derive(Clone, PartialEq, Eq)]
pub struct RosterRow {
    /// The row number Excel shows (1-based).
    pub row: u32,
    /// 姓名, trimmed; spaces that clerks put between Chinese characters to align
    /// two-character names (`张  三`) are removed.
    pub name: String,
    /// 性别, which agrees with the identity number.
    pub sex: Sex,
    /// 身份证号码.
    pub id_number: IdNumber,
    /// 国籍, as written.
    pub nationality: String,
    /// 学历, as written.
    pub education: String,
    /// 手机号码, if given.
    pub mobile: Option<Mobile>,
    /// 户籍类型, as written.
    pub household_type: String,
    /// 所属单位, as written.
    pub unit_name: String,
    /// 就业状况, as written.
    pub employment_status: String,
    /// 担任工会职务, as written (`无` is a value like any other).
    pub union_post: String,
}

impl fmt::Debug for RosterRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RosterRow")
            .field("row", &self.row)
            .field("name", &mask_name(&self.name))
            .field("sex", &self.sex)
            .field("id_number", &self.id_number)
            .field("nationality", &self.nationality)
            .field("education", &self.education)
            .field("mobile", &self.mobile)
            .field("household_type", &self.household_type)
            .field("unit_name", &self.unit_name)
            .field("employment_status", &self.employment_status)
            .field("union_post", &self.union_post)
            .finish()
    }
}

/// The lines above the roster's header row. A missing or empty line is `None`; the values
/// are kept as written (the phone is not validated: it is often a landline or an extension).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterHeader {
    /// 工会名称.
    pub union_name: Option<String>,
    /// 联系人.
    pub contact: Option<String>,
    /// 联系电话.
    pub phone: Option<String>,
}

/// The result of reading a roster: its valid rows and a report on the others.
///
/// Every data row is either in `rows` or counted in `invalid_rows`:
/// `rows.len() + invalid_rows == total_rows`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedRoster {
    /// The lines above the header row.
    pub header: RosterHeader,
    /// The row number of the header row.
    pub header_row: u32,
    /// The valid rows, in file order.
    pub rows: Vec<RosterRow>,
    /// Data rows seen: rows below the header that are neither blank (a row with only 序号
    /// counts as blank) nor a footer line (备注, 填表人 …, with an empty 身份证号码).
    pub total_rows: u32,
    /// Rows with at least one error.
    pub invalid_rows: u32,
    /// The errors, in row order, at most [`Limits::max_errors`].
    pub errors: Vec<RowError>,
    /// Errors found beyond [`Limits::max_errors`], counted but not listed.
    pub omitted_errors: u32,
}

/// Reads a roster workbook (附件3 layout) and validates every row.
///
/// The first visible worksheet is read. Its header row is the first row, among the first 20
/// non-blank ones, holding 姓名 and 身份证号码 (or an accepted synonym); columns may be in any
/// order and are found by their header text. A header row lacking any of the ten data
/// columns (序号 is optional) is [`WorkbookError::MissingColumns`].
///
/// Rules per row, each broken rule being one [`RowError`]:
/// - every column but 序号 and 手机号码 is required (`required`); text is kept as written,
///   trimmed; number and date cells are converted to the text Excel shows (a date as
///   `YYYY-MM-DD`);
/// - 身份证号码 must be valid per GB 11643 (the `id_number_*` codes of
///   [`huigong_core::IdNumberError`]); spaces inside are ignored. A number cell, or text in
///   Excel's scientific form (`1.10105E+17`), is `id_number_as_number`: its last digits are
///   lost and are never guessed;
/// - 性别 is `男`/`女`/`男性`/`女性` (`sex_invalid`) and agrees with the number
///   (`sex_mismatch`);
/// - 手机号码, when present, must be a mainland mobile (the `phone_*` codes of
///   [`huigong_core::PhoneError`]); a number cell is read as its digits;
/// - an identity number already seen in an earlier row is `duplicate_in_file`;
/// - an error value such as `#N/A` is `cell_error`.
///
/// `today` bounds birth dates. Whole-file problems (size, format, zip bomb, too many rows,
/// missing header) are [`WorkbookError`]s.
pub fn parse_roster(
    bytes: &[u8],
    today: NaiveDate,
    limits: &Limits,
) -> Result<ParsedRoster, WorkbookError> {
    let format = container::check(bytes, limits)?;
    let mut workbook = sheet::open(bytes, format)?;
    let mut table = sheet::Table::start(&mut workbook, &LAYOUT, limits)?;
    let mut log = ErrorLog::new(limits.max_errors);
    let mut rows = Vec::with_capacity(table.expected_rows());
    let mut first_row_of = HashMap::with_capacity(table.expected_rows());
    while let Some(mut row) = table.next_row()? {
        let (member, errors) = check_row(&mut row, today, &mut first_row_of);
        log.add_row(errors);
        rows.extend(member);
    }
    Ok(ParsedRoster {
        header: header_from_preamble(table.preamble()),
        header_row: table.header_row(),
        rows,
        total_rows: table.data_rows(),
        invalid_rows: log.invalid_rows,
        errors: log.errors,
        omitted_errors: log.omitted,
    })
}

/// Validates one data row: the member if it is valid, and its errors.
fn check_row(
    row: &mut DataRow<'_>,
    today: NaiveDate,
    first_row_of: &mut HashMap<IdKey, u32>,
) -> (Option<RosterRow>, Vec<RowError>) {
    let mut check = RowCheck::new(row, &COLUMNS);
    let name = check.required_text(NAME).map(|name| tidy_name(&name));
    let sex = read_sex(&mut check);
    let id_number = read_id_number(&mut check, today);
    if let (Some(sex), Some(id_number)) = (sex, &id_number)
        && sex != id_number.sex()
    {
        check.error(
            SEX,
            "sex_mismatch",
            format!(
                "性别填写为{}，与身份证号码（{}）不一致",
                sex.label_zh(),
                id_number.sex().label_zh()
            ),
        );
    }
    let nationality = check.required_text(NATIONALITY);
    let education = check.required_text(EDUCATION);
    let mobile = read_mobile(&mut check);
    let household_type = check.required_text(HOUSEHOLD);
    let unit_name = check.required_text(UNIT);
    let employment_status = check.required_text(EMPLOYMENT);
    let union_post = check.required_text(POST);

    if let Some(key) = id_number.as_ref().and_then(id_key) {
        match first_row_of.entry(key) {
            Entry::Occupied(first) => {
                let first = *first.get();
                check.error(
                    ID,
                    "duplicate_in_file",
                    format!("身份证号码与第{first}行重复"),
                );
            }
            Entry::Vacant(slot) => {
                slot.insert(check.row_number());
            }
        }
    }

    let row_number = check.row_number();
    if !check.is_clean() {
        return (None, check.finish());
    }
    let (
        Some(name),
        Some(sex),
        Some(id_number),
        Some(nationality),
        Some(education),
        Some(mobile),
        Some(household_type),
        Some(unit_name),
        Some(employment_status),
        Some(union_post),
    ) = (
        name,
        sex,
        id_number,
        nationality,
        education,
        mobile,
        household_type,
        unit_name,
        employment_status,
        union_post,
    )
    else {
        // Unreachable: every `None` above recorded an error.
        return (None, check.finish());
    };
    let member = RosterRow {
        row: row_number,
        name,
        sex,
        id_number,
        nationality,
        education,
        mobile,
        household_type,
        unit_name,
        employment_status,
        union_post,
    };
    (Some(member), check.finish())
}

/// An identity number as a map key without a heap allocation: its 18 ASCII bytes.
type IdKey = [u8; 18];

fn id_key(id_number: &IdNumber) -> Option<IdKey> {
    IdKey::try_from(id_number.as_str().as_bytes()).ok()
}

fn read_sex(check: &mut RowCheck<'_, '_>) -> Option<Sex> {
    let text = check.required_text(SEX)?;
    let sex = Sex::parse_zh(&text);
    if sex.is_none() {
        check.error(SEX, "sex_invalid", "性别应填写“男”或“女”".to_owned());
    }
    sex
}

fn read_id_number(check: &mut RowCheck<'_, '_>, today: NaiveDate) -> Option<IdNumber> {
    let value = check.required(ID)?;
    let lost_digits = match &value {
        CellValue::Number(_) => true,
        CellValue::Text(text) => is_scientific_notation(text),
        _ => false,
    };
    if lost_digits {
        check.error(
            ID,
            "id_number_as_number",
            "身份证号码被存成了数字，Excel只保留15位有效数字，末尾几位已丢失。请把该列设置为“文本”格式后重新录入完整号码".to_owned(),
        );
        return None;
    }
    let compact: String = value
        .display()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    match IdNumber::parse(&compact, today) {
        Ok(id_number) => Some(id_number),
        Err(error) => {
            check.error(ID, error.code(), error.message_zh());
            None
        }
    }
}

/// `Some(None)` when the cell is empty, `None` when it is invalid.
fn read_mobile(check: &mut RowCheck<'_, '_>) -> Option<Option<Mobile>> {
    let Some(value) = check.optional(MOBILE) else {
        // Empty, or an error value already reported.
        return Some(None);
    };
    let text = match &value {
        CellValue::Number(number) => integer_text(*number).unwrap_or_else(|| value.display()),
        _ => value.display(),
    };
    match Mobile::parse(&text) {
        Ok(mobile) => Some(Some(mobile)),
        Err(error) => {
            check.error(MOBILE, error.code(), error.message_zh());
            None
        }
    }
}

/// A label in the lines above the header, with the field it fills.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HeaderField {
    UnionName,
    Contact,
    Phone,
}

/// Labels looked for, longer ones first where one is a prefix of another. A bare `电话` is
/// not a label: it occurs inside union names (`某某电话机厂工会`).
const HEADER_LABELS: [(&str, HeaderField); 4] = [
    ("工会名称", HeaderField::UnionName),
    ("联系人电话", HeaderField::Phone),
    ("联系人", HeaderField::Contact),
    ("联系电话", HeaderField::Phone),
];

enum Segment {
    Label(HeaderField),
    Text(String),
}

/// Reads 工会名称 / 联系人 / 联系电话 from the rows above the header. The value may follow the
/// label in the same cell (after `:` or `：`) or be in a following cell; several labels may
/// share one row or one cell.
fn header_from_preamble(preamble: &[RawRow]) -> RosterHeader {
    let mut header = RosterHeader::default();
    for row in preamble {
        let segments: Vec<Segment> = row.texts().flat_map(|text| split_labels(&text)).collect();
        for (index, segment) in segments.iter().enumerate() {
            let Segment::Label(field) = segment else {
                continue;
            };
            let value = segments
                .get(index + 1..)
                .unwrap_or_default()
                .iter()
                .map_while(|next| match next {
                    Segment::Text(text) => Some(text),
                    Segment::Label(_) => None,
                })
                .map(|text| clean_header_value(text))
                .find(|text| !text.is_empty());
            let slot = match field {
                HeaderField::UnionName => &mut header.union_name,
                HeaderField::Contact => &mut header.contact,
                HeaderField::Phone => &mut header.phone,
            };
            if slot.is_none() {
                *slot = value;
            }
        }
    }
    header
}

/// Splits a cell's text into labels and the text between them.
fn split_labels(text: &str) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut plain_start = 0;
    let mut position = 0;
    while position < text.len() {
        let rest = text.get(position..).unwrap_or_default();
        if let Some((label, field)) = HEADER_LABELS
            .iter()
            .find(|(label, _)| rest.starts_with(label))
        {
            if let Some(plain) = text.get(plain_start..position) {
                segments.push(Segment::Text(plain.to_owned()));
            }
            segments.push(Segment::Label(*field));
            position += label.len();
            plain_start = position;
        } else {
            position += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    if let Some(plain) = text.get(plain_start..) {
        segments.push(Segment::Text(plain.to_owned()));
    }
    segments
}

/// Strips the colon after a label, blanks and the underscores of a paper form's fill-in line.
fn clean_header_value(text: &str) -> String {
    text.trim_matches(|c: char| c.is_whitespace() || matches!(c, ':' | '：' | '_'))
        .to_owned()
}

/// One member row to write, as display text: the caller decides whether the name, the
/// identity number and the mobile are shown in full or masked.
///
/// `Debug` masks the name, the identity number and the mobile whatever they hold.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterExportRow {
    /// 姓名.
    pub name: String,
    /// 性别.
    pub sex: String,
    /// 身份证号码.
    pub id_number: String,
    /// 国籍.
    pub nationality: String,
    /// 学历.
    pub education: String,
    /// 手机号码 (empty when none).
    pub mobile: String,
    /// 户籍类型.
    pub household_type: String,
    /// 所属单位.
    pub unit_name: String,
    /// 就业状况.
    pub employment_status: String,
    /// 担任工会职务.
    pub union_post: String,
}

impl RosterExportRow {
    /// Every value in full. Only for roles entitled to see them; the export is to be audited.
    pub fn full(row: &RosterRow) -> RosterExportRow {
        RosterExportRow {
            name: row.name.clone(),
            id_number: row.id_number.as_str().to_owned(),
            mobile: row
                .mobile
                .as_ref()
                .map(|m| m.as_str().to_owned())
                .unwrap_or_default(),
            ..RosterExportRow::common(row)
        }
    }

    /// Name, identity number and mobile masked (`张*`, `110105********002X`,
    /// `138****5678`).
    pub fn masked(row: &RosterRow) -> RosterExportRow {
        RosterExportRow {
            name: mask_name(&row.name),
            id_number: row.id_number.masked(),
            mobile: row.mobile.as_ref().map(Mobile::masked).unwrap_or_default(),
            ..RosterExportRow::common(row)
        }
    }

    fn common(row: &RosterRow) -> RosterExportRow {
        RosterExportRow {
            sex: row.sex.label_zh().to_owned(),
            nationality: row.nationality.clone(),
            education: row.education.clone(),
            household_type: row.household_type.clone(),
            unit_name: row.unit_name.clone(),
            employment_status: row.employment_status.clone(),
            union_post: row.union_post.clone(),
            ..RosterExportRow::default()
        }
    }

    /// The ten values in column order (序号 excluded).
    fn values(&self) -> [&str; 10] {
        [
            &self.name,
            &self.sex,
            &self.id_number,
            &self.nationality,
            &self.education,
            &self.mobile,
            &self.household_type,
            &self.unit_name,
            &self.employment_status,
            &self.union_post,
        ]
    }
}

impl fmt::Debug for RosterExportRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RosterExportRow")
            .field("name", &mask_name(&self.name))
            .field("sex", &self.sex)
            .field("id_number", &mask_id_number(&self.id_number))
            .field("nationality", &self.nationality)
            .field("education", &self.education)
            .field("mobile", &mask_mobile(&self.mobile))
            .field("household_type", &self.household_type)
            .field("unit_name", &self.unit_name)
            .field("employment_status", &self.employment_status)
            .field("union_post", &self.union_post)
            .finish()
    }
}

/// The 0-based row `write_roster` puts the header on (row 5 in Excel).
const HEADER_ROW: u32 = 4;

/// Column widths, in characters, in column order.
const WIDTHS: [f64; 11] = [
    6.0, 10.0, 6.0, 22.0, 8.0, 10.0, 15.0, 12.0, 28.0, 10.0, 14.0,
];

/// Writes a roster in the notice's layout: the title on row 1, 工会名称 / 联系人 / 联系电话 on
/// rows 2–4, the header on row 5 and members from row 6, numbered from 1 in 序号.
///
/// Every value is written as a text cell, and the 身份证号码 and 手机号码 columns are formatted
/// as text (`@`), so Excel neither turns numbers into `1.10105E+17` nor strips anything —
/// also for rows a clerk adds later. [`parse_roster`] reads the result back unchanged.
pub fn write_roster(
    header: &RosterHeader,
    rows: &[RosterExportRow],
) -> Result<Vec<u8>, WorkbookError> {
    write_roster_with(header, rows, Spill::Never)
}

/// Where the writer may keep the rows it has written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spill {
    /// Everything in memory: nothing touches the disk (for full, unmasked values).
    Never,
    /// Rows go to an anonymous temporary file as they are written, so memory stays flat
    /// however long the roster is. Only for values that may sit on disk, i.e. masked ones.
    ToTempFile,
}

/// [`write_roster`], choosing where written rows are kept.
pub fn write_roster_with(
    header: &RosterHeader,
    rows: &[RosterExportRow],
    spill: Spill,
) -> Result<Vec<u8>, WorkbookError> {
    let mut workbook = Workbook::new();
    let sheet = match spill {
        Spill::Never => workbook.add_worksheet(),
        Spill::ToTempFile => workbook
            .add_worksheet_with_constant_memory()
            .map_err(write_error)?,
    };
    let line = Format::new().set_align(FormatAlign::Left);
    let texts = [
        ("工会名称", &header.union_name),
        ("联系人", &header.contact),
        ("联系电话", &header.phone),
    ]
    .map(|(label, value)| format!("{label}：{}", value.as_deref().unwrap_or_default()));
    let lines = texts.each_ref().map(|text| (text.as_str(), &line));
    let formats = out::begin_table(
        sheet,
        "会员花名册",
        ROSTER_TITLE,
        &lines,
        &COLUMNS,
        &WIDTHS,
        HEADER_ROW,
        &[ID, MOBILE],
    )?;

    for (index, member) in rows.iter().enumerate() {
        let sequence = index + 1;
        let row = out::data_row(HEADER_ROW, sequence)?;
        out::write_sequence(sheet, row, sequence, &formats.plain)?;
        for (column, value) in (NAME..).zip(member.values()) {
            out::write_text(sheet, row, column, value, &formats.text)?;
        }
    }
    workbook.save_to_buffer().map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header_of(rows: &[&[&str]]) -> RosterHeader {
        let preamble: Vec<RawRow> = (1u32..)
            .zip(rows)
            .map(|(number, cells)| RawRow {
                number,
                cells: (0u32..)
                    .zip(cells.iter())
                    .map(|(column, text)| (column, CellValue::Text((*text).to_owned())))
                    .collect(),
            })
            .collect();
        header_from_preamble(&preamble)
    }

    #[test]
    fn header_lines_in_every_form() {
        let expected = RosterHeader {
            union_name: Some("长兴某某公司工会".to_owned()),
            contact: Some("李四".to_owned()),
            phone: Some("0572-6022447".to_owned()),
        };
        // Label and value in one cell, half- and full-width colons.
        assert_eq!(
            header_of(&[
                &[ROSTER_TITLE],
                &["工会名称:长兴某某公司工会"],
                &["联系人：李四"],
                &["联系电话： 0572-6022447"],
            ]),
            expected
        );
        // Value in the next cell.
        assert_eq!(
            header_of(&[
                &["工会名称：", "长兴某某公司工会"],
                &["联系人", "李四"],
                &["联系电话:", "0572-6022447"],
            ]),
            expected
        );
        // All on one line, in cells or in one cell.
        assert_eq!(
            header_of(&[&[
                "工会名称：",
                "长兴某某公司工会",
                "联系人：",
                "李四",
                "联系电话：",
                "0572-6022447"
            ]]),
            expected
        );
        assert_eq!(
            header_of(&[&["工会名称：长兴某某公司工会  联系人：李四  联系电话：0572-6022447"]]),
            expected
        );
    }

    #[test]
    fn empty_header_lines_are_none() {
        assert_eq!(
            header_of(&[
                &[ROSTER_TITLE],
                &["工会名称：___"],
                &["联系人："],
                &["联系电话:"]
            ]),
            RosterHeader::default()
        );
        // 电话 inside a union name is not a label.
        assert_eq!(
            header_of(&[&["工会名称：长兴电话机厂工会"]])
                .union_name
                .as_deref(),
            Some("长兴电话机厂工会")
        );
        // An empty value does not take the next label's value.
        assert_eq!(
            header_of(&[&["工会名称：", "联系人：", "李四"]]),
            RosterHeader {
                contact: Some("李四".to_owned()),
                ..RosterHeader::default()
            }
        );
    }
}

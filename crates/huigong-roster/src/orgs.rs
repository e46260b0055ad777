//! The organisation table, 附件1 长兴县基层工会组织信息采集汇总表.
//!
//! A title line, then the header `序号 单位名称 单位组织机构代码证 单位性质 单位地址 职工人数 工会名称
//! 建会时间 工会类型 会员人数 工会负责人 联系电话 备注` and one row per union.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;

use chrono::{Datelike, NaiveDate};
use huigong_core::{ContactPhone, UnitCode, mask_mobile, mask_name};
use rust_xlsxwriter::Workbook;
use serde::{Deserialize, Serialize};

use crate::cell::{
    CellValue, count_from_number, integer_text, is_scientific_notation, parse_count_text,
    parse_date_text, tidy_name,
};
use crate::container;
use crate::error::{Limits, WorkbookError, write_error};
use crate::labels::{UnionType, UnitNature};
use crate::out;
use crate::report::{ErrorLog, RowCheck, RowError};
use crate::sheet::{self, ColumnSpec, DataRow, Layout};

/// The title line of the organisation table.
pub const ORGS_TITLE: &str = "长兴县基层工会组织信息采集汇总表";

/// Earliest accepted 建会时间.
const EARLIEST_FOUNDING_YEAR: i32 = 1900;

const SEQ: usize = 0;
const UNIT_NAME: usize = 1;
const UNIT_CODE: usize = 2;
const NATURE: usize = 3;
const ADDRESS: usize = 4;
const EMPLOYEES: usize = 5;
const UNION_NAME: usize = 6;
const FOUNDED: usize = 7;
const UNION_TYPE: usize = 8;
const MEMBERS: usize = 9;
const LEADER: usize = 10;
const PHONE: usize = 11;
const REMARK: usize = 12;

static COLUMNS: [ColumnSpec; 13] = [
    column("序号", &["序号", "编号"], false),
    column("单位名称", &["单位名称"], true),
    column(
        "单位组织机构代码证",
        &[
            "单位组织机构代码证",
            "单位组织机构代码",
            "组织机构代码证",
            "组织机构代码",
            "统一社会信用代码",
            "社会信用代码",
            "法人和其他组织统一社会信用代码",
            "单位代码",
        ],
        true,
    ),
    column("单位性质", &["单位性质"], true),
    column("单位地址", &["单位地址", "地址"], true),
    column("职工人数", &["职工人数", "职工数"], true),
    column("工会名称", &["工会名称"], true),
    column("建会时间", &["建会时间", "建会日期", "成立时间"], true),
    column("工会类型", &["工会类型"], true),
    column("会员人数", &["会员人数", "会员数"], true),
    column("工会负责人", &["工会负责人", "负责人", "工会主席"], true),
    column("联系电话", &["联系电话", "电话", "联系方式"], true),
    column("备注", &["备注"], false),
];

static LAYOUT: Layout = Layout {
    columns: &COLUMNS,
    anchors: &[UNIT_NAME, UNION_NAME],
    key: UNIT_CODE,
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

/// One valid organisation row.
///
/// `Debug` masks the leader's name (and [`ContactPhone`] masks a mobile).
#[derive(Clone, PartialEq, Eq)]
pub struct OrgRow {
    /// The row number Excel shows (1-based).
    pub row: u32,
    /// 单位名称, as written.
    pub unit_name: String,
    /// 单位组织机构代码证: credit code or legacy organisation code.
    pub unit_code: UnitCode,
    /// 单位性质.
    pub unit_nature: UnitNature,
    /// What the nature is, for 其他 (the cell says `其他：…`).
    pub unit_nature_other: Option<String>,
    /// 单位地址, as written.
    pub unit_address: String,
    /// 职工人数.
    pub employee_count: u32,
    /// 工会名称, as written.
    pub union_name: String,
    /// 建会时间, not after the day of the upload.
    pub founded_on: NaiveDate,
    /// 工会类型.
    pub union_type: UnionType,
    /// 会员人数. It may exceed 职工人数 (a 联合工会 covers several units), so the two are not
    /// compared.
    pub member_count: u32,
    /// 工会负责人.
    pub leader_name: String,
    /// 联系电话: a mobile or a landline with area code.
    pub phone: ContactPhone,
    /// 备注, if any.
    pub remark: Option<String>,
}

impl fmt::Debug for OrgRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrgRow")
            .field("row", &self.row)
            .field("unit_name", &self.unit_name)
            .field("unit_code", &self.unit_code)
            .field("unit_nature", &self.unit_nature)
            .field("unit_nature_other", &self.unit_nature_other)
            .field("unit_address", &self.unit_address)
            .field("employee_count", &self.employee_count)
            .field("union_name", &self.union_name)
            .field("founded_on", &self.founded_on)
            .field("union_type", &self.union_type)
            .field("member_count", &self.member_count)
            .field("leader_name", &mask_name(&self.leader_name))
            .field("phone", &self.phone)
            .field("remark", &self.remark)
            .finish()
    }
}

/// The result of reading an organisation table.
///
/// `rows.len() + invalid_rows == total_rows`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedOrgs {
    /// The row number of the header row.
    pub header_row: u32,
    /// The valid rows, in file order.
    pub rows: Vec<OrgRow>,
    /// Data rows seen: rows below the header that are neither blank nor a footer line
    /// (合计, 备注, 填表人 …, with an empty 单位组织机构代码证).
    pub total_rows: u32,
    /// Rows with at least one error.
    pub invalid_rows: u32,
    /// The errors, in row order, at most [`Limits::max_errors`].
    pub errors: Vec<RowError>,
    /// Errors found beyond [`Limits::max_errors`], counted but not listed.
    pub omitted_errors: u32,
}

/// Reads an organisation table (附件1 layout) and validates every row.
///
/// The header row is found like [`parse_roster`](crate::parse_roster)'s, by 单位名称 and 工会名称;
/// every column but 序号 and 备注 must be present. Rules per row:
/// - 单位名称, 单位地址, 工会名称, 工会负责人 are required text (`required`);
/// - 单位组织机构代码证 is a valid credit or organisation code (the `unit_code_*` codes of
///   [`huigong_core::UnitCodeError`]); a number cell with more than 15 digits, or text in
///   scientific form, is `unit_code_as_number`; a code whose organisation code (characters
///   9–17 of a credit code) appeared in an earlier row is `duplicate_in_file`;
/// - 单位性质 and 工会类型 are one of the notice's labels (`unit_nature_invalid`,
///   `union_type_invalid`);
/// - 职工人数 and 会员人数 are non-negative integers, as numbers or text, `人` allowed
///   (`count_invalid`);
/// - 建会时间 is a date cell or text such as `2001-05-06`, `2001/5/6`, `2001.5.6`,
///   `2001年5月6日`, `20010506` (`date_invalid`), from 1900 (`date_too_early`) up to `today`
///   (`date_in_future`);
/// - 联系电话 is a mobile or a landline with area code (the `phone_*` codes of
///   [`huigong_core::PhoneError`]).
pub fn parse_orgs(
    bytes: &[u8],
    today: NaiveDate,
    limits: &Limits,
) -> Result<ParsedOrgs, WorkbookError> {
    let format = container::check(bytes, limits)?;
    let mut workbook = sheet::open(bytes, format)?;
    let mut table = sheet::Table::start(&mut workbook, &LAYOUT, limits)?;
    let mut log = ErrorLog::new(limits.max_errors);
    let mut rows = Vec::with_capacity(table.expected_rows());
    let mut first_row_of = HashMap::new();
    while let Some(mut row) = table.next_row()? {
        let (org, errors) = check_row(&mut row, today, &mut first_row_of);
        log.add_row(errors);
        rows.extend(org);
    }
    Ok(ParsedOrgs {
        header_row: table.header_row(),
        rows,
        total_rows: table.data_rows(),
        invalid_rows: log.invalid_rows,
        errors: log.errors,
        omitted_errors: log.omitted,
    })
}

fn check_row(
    row: &mut DataRow<'_>,
    today: NaiveDate,
    first_row_of: &mut HashMap<String, u32>,
) -> (Option<OrgRow>, Vec<RowError>) {
    let mut check = RowCheck::new(row, &COLUMNS);
    let unit_name = check.required_text(UNIT_NAME);
    let unit_code = read_unit_code(&mut check);
    let nature = read_nature(&mut check);
    let unit_address = check.required_text(ADDRESS);
    let employee_count = read_count(&mut check, EMPLOYEES);
    let union_name = check.required_text(UNION_NAME);
    let founded_on = read_founding_date(&mut check, today);
    let union_type = read_label(
        &mut check,
        UNION_TYPE,
        "union_type_invalid",
        UnionType::parse_zh,
        UnionType::labels_zh,
    );
    let member_count = read_count(&mut check, MEMBERS);
    let leader_name = check.required_text(LEADER).map(|name| tidy_name(&name));
    let phone = read_phone(&mut check);
    let remark = check.optional_text(REMARK);

    if let Some(unit_code) = &unit_code {
        match first_row_of.entry(unit_code.organisation_code().to_owned()) {
            Entry::Occupied(first) => {
                let first = *first.get();
                check.error(
                    UNIT_CODE,
                    "duplicate_in_file",
                    format!("单位组织机构代码与第{first}行重复"),
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
        Some(unit_name),
        Some(unit_code),
        Some(unit_nature),
        Some(unit_address),
        Some(employee_count),
        Some(union_name),
        Some(founded_on),
        Some(union_type),
        Some(member_count),
        Some(leader_name),
        Some(phone),
    ) = (
        unit_name,
        unit_code,
        nature,
        unit_address,
        employee_count,
        union_name,
        founded_on,
        union_type,
        member_count,
        leader_name,
        phone,
    )
    else {
        // Unreachable: every `None` above recorded an error.
        return (None, check.finish());
    };
    let org = OrgRow {
        row: row_number,
        unit_name,
        unit_code,
        unit_nature: unit_nature.0,
        unit_nature_other: unit_nature.1,
        unit_address,
        employee_count,
        union_name,
        founded_on,
        union_type,
        member_count,
        leader_name,
        phone,
        remark,
    };
    (Some(org), check.finish())
}

fn read_unit_code(check: &mut RowCheck<'_, '_>) -> Option<UnitCode> {
    let value = check.required(UNIT_CODE)?;
    let text = match &value {
        CellValue::Number(number) => integer_text(*number),
        CellValue::Text(text) if is_scientific_notation(text) => None,
        other => Some(other.display()),
    };
    let Some(text) = text else {
        check.error(
            UNIT_CODE,
            "unit_code_as_number",
            "单位组织机构代码被存成了数字，末尾几位已丢失。请把该列设置为“文本”格式后重新录入完整代码".to_owned(),
        );
        return None;
    };
    match UnitCode::parse(&text) {
        Ok(code) => Some(code),
        Err(error) => {
            check.error(UNIT_CODE, error.code(), error.message_zh());
            None
        }
    }
}

/// A value from one of the notice's lists; anything else is `invalid_code`, with a message
/// listing the allowed labels.
/// 单位性质: a label of the notice, or 其他 with what it is.
fn read_nature(check: &mut RowCheck<'_, '_>) -> Option<(UnitNature, Option<String>)> {
    let text = check.required_text(NATURE)?;
    match UnitNature::parse_written(&text) {
        Ok(nature) => Some(nature),
        Err(e) => {
            let name = check.column_name(NATURE);
            check.error(NATURE, e.code(), e.message_zh(name));
            None
        }
    }
}

fn read_label<T>(
    check: &mut RowCheck<'_, '_>,
    column: usize,
    invalid_code: &str,
    parse: fn(&str) -> Option<T>,
    labels: fn() -> String,
) -> Option<T> {
    let text = check.required_text(column)?;
    let value = parse(&text);
    if value.is_none() {
        let name = check.column_name(column);
        check.error(
            column,
            invalid_code,
            format!("{name}应为以下之一：{}", labels()),
        );
    }
    value
}

fn read_count(check: &mut RowCheck<'_, '_>, column: usize) -> Option<u32> {
    let value = check.required(column)?;
    let count = match &value {
        CellValue::Number(number) => count_from_number(*number),
        CellValue::Text(text) => parse_count_text(text),
        _ => None,
    };
    if count.is_none() {
        let name = check.column_name(column);
        check.error(
            column,
            "count_invalid",
            format!("“{name}”应为不小于0的整数"),
        );
    }
    count
}

fn read_founding_date(check: &mut RowCheck<'_, '_>, today: NaiveDate) -> Option<NaiveDate> {
    let value = check.required(FOUNDED)?;
    let date = match &value {
        CellValue::DateTime(datetime) => Some(datetime.date()),
        CellValue::Text(text) => parse_date_text(text),
        // `20010506` typed as a number; other numbers are not guessed at.
        CellValue::Number(number) => integer_text(*number)
            .filter(|digits| digits.len() == 8)
            .and_then(|digits| parse_date_text(&digits)),
        _ => None,
    };
    let Some(date) = date else {
        check.error(
            FOUNDED,
            "date_invalid",
            "“建会时间”应为有效日期，如2001-05-06".to_owned(),
        );
        return None;
    };
    if date > today {
        check.error(
            FOUNDED,
            "date_in_future",
            "“建会时间”不能晚于今天".to_owned(),
        );
        return None;
    }
    if date.year() < EARLIEST_FOUNDING_YEAR {
        check.error(
            FOUNDED,
            "date_too_early",
            format!("“建会时间”不能早于{EARLIEST_FOUNDING_YEAR}年"),
        );
        return None;
    }
    Some(date)
}

fn read_phone(check: &mut RowCheck<'_, '_>) -> Option<ContactPhone> {
    let value = check.required(PHONE)?;
    let text = match &value {
        CellValue::Number(number) => integer_text(*number).unwrap_or_else(|| value.display()),
        _ => value.display(),
    };
    match ContactPhone::parse(&text) {
        Ok(phone) => Some(phone),
        Err(error) => {
            check.error(PHONE, error.code(), error.message_zh());
            None
        }
    }
}

/// One organisation row to write. Name and phone of the leader are text, so the caller may
/// mask them.
///
/// `Debug` masks the leader's name and phone.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgExportRow {
    /// 单位名称.
    pub unit_name: String,
    /// 单位组织机构代码证.
    pub unit_code: String,
    /// 单位性质.
    pub unit_nature: UnitNature,
    /// What the nature is, for 其他: written `其他：…`.
    #[serde(default)]
    pub unit_nature_other: Option<String>,
    /// 单位地址.
    pub unit_address: String,
    /// 职工人数.
    pub employee_count: u32,
    /// 工会名称.
    pub union_name: String,
    /// 建会时间, written as a date cell shown `2001-05-06`.
    pub founded_on: NaiveDate,
    /// 工会类型.
    pub union_type: UnionType,
    /// 会员人数.
    pub member_count: u32,
    /// 工会负责人.
    pub leader_name: String,
    /// 联系电话.
    pub phone: String,
    /// 备注 (empty when none).
    pub remark: String,
}

impl From<&OrgRow> for OrgExportRow {
    /// Every value in full.
    fn from(row: &OrgRow) -> OrgExportRow {
        OrgExportRow {
            unit_name: row.unit_name.clone(),
            unit_code: row.unit_code.as_str().to_owned(),
            unit_nature: row.unit_nature,
            unit_nature_other: row.unit_nature_other.clone(),
            unit_address: row.unit_address.clone(),
            employee_count: row.employee_count,
            union_name: row.union_name.clone(),
            founded_on: row.founded_on,
            union_type: row.union_type,
            member_count: row.member_count,
            leader_name: row.leader_name.clone(),
            phone: row.phone.as_str().to_owned(),
            remark: row.remark.clone().unwrap_or_default(),
        }
    }
}

impl fmt::Debug for OrgExportRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OrgExportRow")
            .field("unit_name", &self.unit_name)
            .field("unit_code", &self.unit_code)
            .field("unit_nature", &self.unit_nature)
            .field("unit_nature_other", &self.unit_nature_other)
            .field("unit_address", &self.unit_address)
            .field("employee_count", &self.employee_count)
            .field("union_name", &self.union_name)
            .field("founded_on", &self.founded_on)
            .field("union_type", &self.union_type)
            .field("member_count", &self.member_count)
            .field("leader_name", &mask_name(&self.leader_name))
            .field("phone", &mask_mobile(&self.phone))
            .field("remark", &self.remark)
            .finish()
    }
}

/// The 0-based row `write_orgs` puts the header on (row 2 in Excel).
const HEADER_ROW: u32 = 1;

/// Column widths, in characters, in column order.
const WIDTHS: [f64; 13] = [
    6.0, 28.0, 22.0, 10.0, 30.0, 9.0, 28.0, 12.0, 11.0, 9.0, 10.0, 15.0, 16.0,
];

/// Writes an organisation table in the notice's layout: the title on row 1, the header on
/// row 2 and one union per row from row 3, numbered from 1 in 序号.
///
/// Codes and phones are text cells in text-formatted columns, counts are numbers and
/// 建会时间 a date cell shown as `2001-05-06`, the notice's format. [`parse_orgs`] reads the
/// result back unchanged.
pub fn write_orgs(rows: &[OrgExportRow]) -> Result<Vec<u8>, WorkbookError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    let formats = out::begin_table(
        sheet,
        "组织信息",
        ORGS_TITLE,
        &[],
        &COLUMNS,
        &WIDTHS,
        HEADER_ROW,
        &[UNIT_CODE, PHONE],
    )?;

    for (index, org) in rows.iter().enumerate() {
        let sequence = index + 1;
        let row = out::data_row(HEADER_ROW, sequence)?;
        out::write_sequence(sheet, row, sequence, &formats.plain)?;
        let nature = org.unit_nature.written(org.unit_nature_other.as_deref());
        let texts = [
            (UNIT_NAME, org.unit_name.as_str()),
            (UNIT_CODE, org.unit_code.as_str()),
            (NATURE, nature.as_str()),
            (ADDRESS, org.unit_address.as_str()),
            (UNION_NAME, org.union_name.as_str()),
            (UNION_TYPE, org.union_type.label_zh()),
            (LEADER, org.leader_name.as_str()),
            (PHONE, org.phone.as_str()),
            (REMARK, org.remark.as_str()),
        ];
        for (column, value) in texts {
            out::write_text(sheet, row, column, value, &formats.text)?;
        }
        for (column, count) in [(EMPLOYEES, org.employee_count), (MEMBERS, org.member_count)] {
            sheet
                .write_number_with_format(
                    row,
                    out::column_index(column),
                    f64::from(count),
                    &formats.plain,
                )
                .map_err(write_error)?;
        }
        sheet
            .write_date_with_format(
                row,
                out::column_index(FOUNDED),
                org.founded_on,
                &formats.date,
            )
            .map_err(write_error)?;
    }
    workbook.save_to_buffer().map_err(write_error)
}

//! Reading clerks' files, round trips through the writers, and hostile inputs.
//!
//! Every workbook is built here with rust_xlsxwriter (no binary fixtures). All tests live in
//! this one file: each extra file under `tests/` is another link step.

use std::io::{Cursor, Write};

use calamine::{Data, Reader, Xlsx};
use chrono::NaiveDate;
use huigong_core::Sex;
use huigong_roster::{
    Limits, OrgExportRow, ParsedOrgs, ParsedRoster, RosterExportRow, RosterHeader, RowError,
    UnionType, UnitNature, WorkbookError, parse_orgs, parse_roster, write_orgs, write_roster,
};
use rust_xlsxwriter::{Format, FormatBorder, Workbook, Worksheet, XlsxError};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("bad test date {y}-{m}-{d}"))
}

/// A fixed "today" so nothing depends on the machine clock.
fn today() -> NaiveDate {
    date(2025, 6, 30)
}

/// Appends the GB 11643 check character to 17 digits.
fn id_with_check(body: &str) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    assert_eq!(body.len(), 17, "{body}");
    let sum: u32 = body
        .chars()
        .zip(WEIGHTS)
        .map(|(c, w)| c.to_digit(10).unwrap_or_else(|| panic!("digit")) * w)
        .sum();
    let check = b"10X98765432"[(sum % 11) as usize];
    format!("{body}{}", char::from(check))
}

/// A valid identity number for region 330522, the given birth date and sequence number
/// (odd for a man).
fn id_number(birth: &str, sequence: u32) -> String {
    id_with_check(&format!("330522{birth}{sequence:03}"))
}

/// A valid identity number whose check character is `X`.
fn id_number_ending_in_x(birth: &str) -> String {
    (0..1000)
        .map(|sequence| id_number(birth, sequence))
        .find(|id| id.ends_with('X'))
        .unwrap_or_else(|| panic!("no sequence gives X"))
}

/// Completes 16 credit-code characters with the organisation check (17th) and the credit
/// check (18th), per GB 11714 and GB 32100.
fn credit_code(first16: &str) -> String {
    const ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const CREDIT_WEIGHTS: [u32; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    const ORGANISATION_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];
    let value = |c: char| c.to_digit(36).unwrap_or_else(|| panic!("alphanumeric"));
    let body: Vec<char> = first16.chars().skip(8).collect();
    let sum: u32 = body
        .iter()
        .zip(ORGANISATION_WEIGHTS)
        .map(|(&c, w)| value(c) * w)
        .sum();
    let organisation_check = match 11 - sum % 11 {
        10 => 'X',
        11 => '0',
        digit => char::from_digit(digit, 10).unwrap_or_else(|| panic!("digit")),
    };
    let first17 = format!("{first16}{organisation_check}");
    let sum: u32 = first17
        .chars()
        .zip(CREDIT_WEIGHTS)
        .map(|(c, w)| {
            let position = ALPHABET.iter().position(|&a| char::from(a) == c);
            u32::try_from(position.unwrap_or_else(|| panic!("credit alphabet")))
                .unwrap_or_else(|e| panic!("{e}"))
                * w
        })
        .sum();
    let check = ALPHABET[((31 - sum % 31) % 31) as usize];
    format!("{first17}{}", char::from(check))
}

/// A legacy 9-character organisation code for 8 body characters.
fn organisation_code(body: &str) -> String {
    credit_code(&format!("00000000{body}"))[8..17].to_owned()
}

/// Builds a one-sheet workbook.
fn workbook(build: impl FnOnce(&mut Worksheet) -> Result<(), XlsxError>) -> Vec<u8> {
    let mut workbook = Workbook::new();
    build(workbook.add_worksheet()).unwrap_or_else(|e| panic!("building the test sheet: {e}"));
    workbook
        .save_to_buffer()
        .unwrap_or_else(|e| panic!("saving the test workbook: {e}"))
}

fn write_row(
    sheet: &mut Worksheet,
    row: u32,
    first_column: u16,
    cells: &[&str],
) -> Result<(), XlsxError> {
    for (column, text) in (first_column..).zip(cells) {
        if !text.is_empty() {
            sheet.write_string(row, column, *text)?;
        }
    }
    Ok(())
}

fn parse_roster_ok(bytes: &[u8]) -> ParsedRoster {
    parse_roster(bytes, today(), &Limits::default())
        .unwrap_or_else(|e| panic!("roster rejected: {e} ({})", e.code()))
}

fn parse_orgs_ok(bytes: &[u8]) -> ParsedOrgs {
    parse_orgs(bytes, today(), &Limits::default())
        .unwrap_or_else(|e| panic!("org table rejected: {e} ({})", e.code()))
}

fn roster_err(bytes: &[u8], limits: &Limits) -> WorkbookError {
    match parse_roster(bytes, today(), limits) {
        Ok(parsed) => panic!("accepted, {} rows", parsed.total_rows),
        Err(error) => error,
    }
}

/// (row, column, cell, code) of each error.
fn summary(errors: &[RowError]) -> Vec<(u32, &str, &str, &str)> {
    errors
        .iter()
        .map(|e| (e.row, e.column.as_str(), e.cell.as_str(), e.code.as_str()))
        .collect()
}

fn assert_no_personal_data(errors: &[RowError], personal: &[&str]) {
    for error in errors {
        for value in personal {
            assert!(
                !error.message.contains(value) && !error.cell.contains(value),
                "error of row {} leaks a value: {}",
                error.row,
                error.message
            );
        }
    }
}

#[test]
fn helpers_reproduce_public_vectors() {
    assert_eq!(id_with_check("11010519491231002"), "11010519491231002X");
    assert_eq!(id_with_check("44052418800101001"), "440524188001010014");
    assert_eq!(id_with_check("91139819901231002"), "911398199012310021");
    assert_eq!(credit_code("91350100M000100Y"), "91350100M000100Y43");
    assert_eq!(credit_code("9135052155323005"), "9135052155323005XL");
}

// ---------------------------------------------------------------------------------------------
// Roster (附件3)
// ---------------------------------------------------------------------------------------------

/// The column order of the clerk's file below: shuffled, with synonyms and a line break in
/// a header cell. The table starts in column B, so cell references are shifted by one.
const CLERK_HEADER: [&str; 11] = [
    "姓名",
    "序号",
    "身份证号",
    "性别",
    "手机号码",
    "所属单位",
    "国籍",
    "文化程度",
    "户籍类型",
    "就业状况",
    "担任工会\n职务",
];

/// A member in `CLERK_HEADER` order, without the ID (column D) and mobile (column F), which
/// the tests write themselves.
fn clerk_row(
    sheet: &mut Worksheet,
    row: u32,
    sequence: &str,
    name: &str,
    sex: &str,
    unit: &str,
) -> Result<(), XlsxError> {
    // B 姓名, C 序号, E 性别, G 所属单位, H 国籍, I 文化程度, J 户籍类型, K 就业状况, L 职务.
    write_row(sheet, row, 1, &[name, sequence])?;
    write_row(sheet, row, 4, &[sex])?;
    write_row(
        sheet,
        row,
        6,
        &[unit, "中国", "本科", "非农业户口", "在岗", "会员"],
    )?;
    Ok(())
}

#[test]
fn clerk_roster_is_read_with_an_exact_report() {
    let id_x = id_number_ending_in_x("19900101");
    let id_x_sex = if id_x.as_bytes()[16] % 2 == 1 {
        "男"
    } else {
        "女"
    };
    let id_as_number = "440524188001010014";
    let full_width_id: String = "810000199408230021"
        .chars()
        .map(|c| char::from_u32(u32::from(c) + 0xFEE0).unwrap_or(c))
        .collect();
    let man_sequence = id_number("19850315", 11);
    let bad_check = {
        let mut id = id_number("19850315", 13);
        let last = if id.ends_with('0') { '1' } else { '0' };
        id.pop();
        id.push(last);
        id
    };

    let bytes = workbook(|sheet| {
        let date_format = Format::new().set_num_format("yyyy-mm-dd");
        let border = Format::new().set_border(FormatBorder::Thin);
        sheet.merge_range(0, 1, 0, 11, "长兴县基层工会会员花名册", &Format::new())?;
        write_row(sheet, 1, 1, &["工会名称：", "长兴某某纺织有限公司工会"])?;
        write_row(sheet, 2, 1, &["联系人:李四"])?;
        write_row(sheet, 3, 1, &["联系电话", "0572-6022447"])?;
        write_row(sheet, 4, 1, &CLERK_HEADER)?;

        // Row 6: valid; the mobile is a number cell.
        clerk_row(sheet, 5, "1", "王 芳", "女", "长兴某某纺织有限公司")?;
        sheet.write_string(5, 3, "11010519491231002X")?;
        sheet.write_number(5, 5, 13812345678.0)?;
        // Row 7: the ID typed as a number.
        clerk_row(sheet, 6, "2", "赵老汉", "男", "长兴某某纺织有限公司")?;
        sheet.write_number(6, 3, 440_524_188_001_010_014.0)?;
        // Row 8: lower-case x.
        clerk_row(sheet, 7, "3", "钱多多", id_x_sex, "长兴某某纺织有限公司")?;
        sheet.write_string(7, 3, id_x.to_lowercase())?;
        // Row 9: full-width digits, no mobile.
        clerk_row(sheet, 8, "4", "陈美玲", "女性", "长兴某某纺织有限公司")?;
        sheet.write_string(8, 3, &full_width_id)?;
        // Row 10: a date cell in 所属单位.
        clerk_row(sheet, 9, "5", "孙悟", "男", "")?;
        sheet.write_string(9, 3, &man_sequence)?;
        sheet.write_date_with_format(9, 6, date(2020, 1, 2), &date_format)?;
        // Row 11: fully blank (formatted cells only). Row 12: only 序号.
        sheet.write_blank(10, 3, &border)?;
        sheet.write_string(11, 2, "6")?;
        // Row 13: sex does not agree with the ID (830000199201300022 is a woman's).
        clerk_row(sheet, 12, "7", "周台生", "男", "长兴某某纺织有限公司")?;
        sheet.write_string(12, 3, "830000199201300022")?;
        // Row 14: the ID of row 6 again, with spaces.
        clerk_row(sheet, 13, "8", "王芳", "女", "长兴某某纺织有限公司")?;
        sheet.write_string(13, 3, " 1101 0519 4912 3100 2x ")?;
        // Row 15: no name, a wrong check digit, a 10-digit mobile.
        clerk_row(sheet, 14, "9", "", "男", "长兴某某纺织有限公司")?;
        sheet.write_string(14, 3, &bad_check)?;
        sheet.write_string(14, 5, "1381234567")?;
        // Row 16: a note under the table. Rows 17-20: formatted but blank.
        write_row(sheet, 15, 1, &["备注：此表转制成EXCEL，纸质稿一式三份"])?;
        for row in 16..20 {
            for column in 1..12 {
                sheet.write_blank(row, column, &border)?;
            }
        }
        Ok(())
    });

    let parsed = parse_roster_ok(&bytes);
    assert_eq!(
        parsed.header,
        RosterHeader {
            union_name: Some("长兴某某纺织有限公司工会".to_owned()),
            contact: Some("李四".to_owned()),
            phone: Some("0572-6022447".to_owned()),
        }
    );
    assert_eq!(parsed.header_row, 5);
    assert_eq!(
        summary(&parsed.errors),
        vec![
            (7, "身份证号码", "D7", "id_number_as_number"),
            (13, "性别", "E13", "sex_mismatch"),
            (14, "身份证号码", "D14", "duplicate_in_file"),
            (15, "姓名", "B15", "required"),
            (15, "身份证号码", "D15", "id_number_check_digit"),
            (15, "手机号码", "F15", "phone_mobile_length"),
        ]
    );
    assert_eq!(
        parsed.errors[1].message,
        "性别填写为男，与身份证号码（女）不一致"
    );
    assert_eq!(parsed.errors[2].message, "身份证号码与第6行重复");
    assert!(parsed.errors[0].message.contains("文本"));
    assert_eq!(parsed.total_rows, 8);
    assert_eq!(parsed.invalid_rows, 4);
    assert_eq!(parsed.omitted_errors, 0);
    assert_no_personal_data(
        &parsed.errors,
        &[
            "11010519491231002",
            id_as_number,
            "4.40524",
            "830000199201300022",
            &bad_check,
            "1381234567",
            "周台生",
            "王芳",
        ],
    );

    let rows: Vec<u32> = parsed.rows.iter().map(|r| r.row).collect();
    assert_eq!(rows, vec![6, 8, 9, 10]);
    let [wang, qian, chen, sun] = parsed.rows.as_slice() else {
        panic!("four valid rows expected");
    };
    assert_eq!(wang.name, "王芳");
    assert_eq!(wang.sex, Sex::Female);
    assert_eq!(wang.id_number.as_str(), "11010519491231002X");
    assert_eq!(
        wang.mobile.as_ref().map(|m| m.as_str()),
        Some("13812345678")
    );
    assert_eq!(
        (
            wang.nationality.as_str(),
            wang.education.as_str(),
            wang.household_type.as_str(),
            wang.unit_name.as_str(),
            wang.employment_status.as_str(),
            wang.union_post.as_str(),
        ),
        (
            "中国",
            "本科",
            "非农业户口",
            "长兴某某纺织有限公司",
            "在岗",
            "会员"
        )
    );
    assert_eq!(qian.id_number.as_str(), id_x);
    assert_eq!(chen.id_number.as_str(), "810000199408230021");
    assert_eq!(chen.mobile, None);
    assert_eq!(sun.unit_name, "2020-01-02");
    assert_eq!(sun.sex, Sex::Male);

    // Debug output of a row never shows the full values.
    let debug = format!("{wang:?}");
    assert!(
        !debug.contains("11010519491231002X") && !debug.contains("王芳"),
        "{debug}"
    );
}

/// Rewrites the first worksheet's XML inside a workbook, for cells rust_xlsxwriter does not
/// write (error values, rows out of order).
fn patch_sheet(bytes: &[u8], replacements: &[(&str, &str)]) -> Vec<u8> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap_or_else(|e| panic!("{e}"));
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).unwrap_or_else(|e| panic!("{e}"));
        let name = entry.name().unwrap_or_else(|e| panic!("{e}")).into_owned();
        let mut content = Vec::new();
        std::io::copy(&mut entry, &mut content).unwrap_or_else(|e| panic!("{e}"));
        if name == "xl/worksheets/sheet1.xml" {
            let mut xml = String::from_utf8(content).unwrap_or_else(|e| panic!("{e}"));
            for (from, to) in replacements {
                assert!(xml.contains(from), "{from} not in the sheet XML");
                xml = xml.replace(from, to);
            }
            content = xml.into_bytes();
        }
        writer
            .start_file(name, options)
            .unwrap_or_else(|e| panic!("{e}"));
        writer.write_all(&content).unwrap_or_else(|e| panic!("{e}"));
    }
    writer
        .finish()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner()
}

#[test]
fn ids_as_numbers_and_error_values_are_never_guessed() {
    // No title: the sheet's first cell is C3, the header row.
    let header = [
        "序号",
        "姓名",
        "性别",
        "身份证号码",
        "国籍",
        "学历",
        "手机号码",
        "户籍类型",
        "所属单位",
        "就业状况",
        "担任工会职务",
    ];
    let rest = ["中国", "高中", "农业户口", "某厂", "在岗", "无"];
    let bytes = workbook(|sheet| {
        write_row(sheet, 2, 2, &header)?;
        for row in 3..7 {
            write_row(sheet, row, 3, &["某人", "女"])?;
            write_row(sheet, row, 6, &rest[..2])?;
            write_row(sheet, row, 9, &rest[2..])?;
        }
        // Row 4: 15 digits as an exact number; row 5: the scientific text a CSV leaves.
        sheet.write_number(3, 5, 110_105_194_912_310.0)?;
        sheet.write_string(4, 5, "1.10105E+17")?;
        // Row 6: valid, but its name will be #N/A; row 7: mobile will be #REF!.
        sheet.write_string(5, 5, "11010519491231002X")?;
        sheet.write_string(6, 5, "810000199408230021")?;
        sheet.write_number(5, 3, 777.0)?;
        sheet.write_number(6, 8, 888.0)?;
        Ok(())
    });
    let bytes = patch_sheet(
        &bytes,
        &[
            (
                r#"<c r="D6"><v>777</v></c>"#,
                r#"<c r="D6" t="e"><v>#N/A</v></c>"#,
            ),
            (
                r#"<c r="I7"><v>888</v></c>"#,
                r#"<c r="I7" t="e"><v>#REF!</v></c>"#,
            ),
        ],
    );
    let parsed = parse_roster_ok(&bytes);
    assert_eq!(parsed.header_row, 3);
    assert_eq!(
        summary(&parsed.errors),
        vec![
            (4, "身份证号码", "F4", "id_number_as_number"),
            (5, "身份证号码", "F5", "id_number_as_number"),
            (6, "姓名", "D6", "cell_error"),
            (7, "手机号码", "I7", "cell_error"),
        ]
    );
    assert!(parsed.errors[2].message.contains("#N/A"));
    assert_eq!(parsed.total_rows, 4);
    assert_eq!(parsed.rows, vec![]);
}

#[test]
fn rows_out_of_order_are_a_damaged_file() {
    let bytes = workbook(|sheet| {
        write_row(sheet, 0, 0, &CLERK_HEADER)?;
        write_row(sheet, 1, 0, &["张三"])?;
        write_row(sheet, 2, 0, &["李四"])
    });
    // Swap the row numbers of rows 2 and 3 without moving them.
    let bytes = patch_sheet(
        &bytes,
        &[
            (r#"<row r="2""#, r#"<row r="X""#),
            (r#"<row r="3""#, r#"<row r="2""#),
            (r#"<row r="X""#, r#"<row r="3""#),
            (r#"<c r="A2""#, r#"<c r="AX""#),
            (r#"<c r="A3""#, r#"<c r="A2""#),
            (r#"<c r="AX""#, r#"<c r="A3""#),
        ],
    );
    let error = roster_err(&bytes, &Limits::default());
    assert_eq!(error.code(), "workbook_corrupt");
}

fn sample_members() -> Vec<RosterExportRow> {
    let member = |name: &str, sex: &str, id: &str, mobile: &str, unit: &str| RosterExportRow {
        name: name.to_owned(),
        sex: sex.to_owned(),
        id_number: id.to_owned(),
        nationality: "中国".to_owned(),
        education: "大专".to_owned(),
        mobile: mobile.to_owned(),
        household_type: "农业户口".to_owned(),
        unit_name: unit.to_owned(),
        employment_status: "在岗".to_owned(),
        union_post: "无".to_owned(),
    };
    vec![
        member(
            "张三",
            "男",
            &id_number("19800101", 11),
            "13912345678",
            "长兴县某某机械厂",
        ),
        member(
            "欧阳娜娜",
            "女",
            "11010519491231002X",
            "",
            "长兴县某某机械厂",
        ),
        member(
            "阿卜杜拉·买买提",
            "男",
            "440524188001010014",
            "18657200000",
            "长兴县某某机械厂（二分厂）",
        ),
        RosterExportRow {
            nationality: "美国".to_owned(),
            union_post: "工会主席".to_owned(),
            ..member(
                "John Smith",
                "女",
                "911398199012310021",
                "",
                "长兴县某某外资公司",
            )
        },
        member(
            "林台",
            "女",
            "830000199201300022",
            "15000000000",
            "长兴县某某机械厂",
        ),
    ]
}

#[test]
fn roster_round_trips_through_the_writer() {
    let header = RosterHeader {
        union_name: Some("长兴县某某机械厂工会".to_owned()),
        contact: Some("吴可青".to_owned()),
        phone: Some("6022447".to_owned()),
    };
    let members = sample_members();
    let bytes = write_roster(&header, &members).unwrap_or_else(|e| panic!("{e}"));

    let parsed = parse_roster_ok(&bytes);
    assert_eq!(parsed.errors, vec![]);
    assert_eq!(parsed.header, header);
    assert_eq!(parsed.header_row, 5);
    assert_eq!(parsed.total_rows, 5);
    let read_back: Vec<RosterExportRow> = parsed.rows.iter().map(RosterExportRow::full).collect();
    assert_eq!(read_back, members);
    let rows: Vec<u32> = parsed.rows.iter().map(|r| r.row).collect();
    assert_eq!(rows, vec![6, 7, 8, 9, 10]);

    // Once more: what was read back writes the same table.
    let again = write_roster(&parsed.header, &read_back).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parse_roster_ok(&again), parsed);

    // Written through a temporary file, the table reads back the same.
    let spilled =
        huigong_roster::write_roster_with(&header, &members, huigong_roster::Spill::ToTempFile)
            .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parse_roster_ok(&spilled), parsed);
}

/// The cells of the first sheet, by (row, column), 0-based.
fn cells_of(bytes: &[u8]) -> calamine::Range<Data> {
    let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).unwrap_or_else(|e| panic!("{e}"));
    workbook
        .worksheet_range_at(0)
        .unwrap_or_else(|| panic!("no sheet"))
        .unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn roster_writer_stores_ids_and_mobiles_as_text() {
    let members = sample_members();
    let bytes = write_roster(&RosterHeader::default(), &members).unwrap_or_else(|e| panic!("{e}"));
    let cells = cells_of(&bytes);
    assert_eq!(
        cells.get_value((0, 0)),
        Some(&Data::String("长兴县基层工会会员花名册".to_owned()))
    );
    assert_eq!(
        cells.get_value((1, 0)),
        Some(&Data::String("工会名称：".to_owned()))
    );
    let header: Vec<String> = (0..11)
        .map(|c| {
            cells
                .get_value((4, c))
                .map(|d| d.to_string())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(
        header,
        [
            "序号",
            "姓名",
            "性别",
            "身份证号码",
            "国籍",
            "学历",
            "手机号码",
            "户籍类型",
            "所属单位",
            "就业状况",
            "担任工会职务"
        ]
    );
    assert_eq!(cells.get_value((5, 0)), Some(&Data::Float(1.0)));
    assert_eq!(
        cells.get_value((5, 3)),
        Some(&Data::String(members[0].id_number.clone()))
    );
    assert_eq!(
        cells.get_value((5, 6)),
        Some(&Data::String("13912345678".to_owned()))
    );

    // Masked export: the writer writes what it is given.
    let parsed = parse_roster_ok(&bytes);
    let masked: Vec<RosterExportRow> = parsed.rows.iter().map(RosterExportRow::masked).collect();
    assert_eq!(masked[1].name, "欧阳**");
    assert_eq!(masked[1].id_number, "110105********002X");
    assert_eq!(masked[0].mobile, "139****5678");
    assert_eq!(masked[1].mobile, "");
    let bytes = write_roster(&RosterHeader::default(), &masked).unwrap_or_else(|e| panic!("{e}"));
    let cells = cells_of(&bytes);
    assert_eq!(
        cells.get_value((6, 3)),
        Some(&Data::String("110105********002X".to_owned()))
    );
    // A masked file is no roster to import: every number fails its check.
    let reparsed = parse_roster_ok(&bytes);
    assert_eq!(reparsed.rows, vec![]);
    assert_eq!(reparsed.invalid_rows, 5);
}

#[test]
fn header_and_columns_problems_reject_the_file() {
    let no_header = workbook(|sheet| {
        write_row(sheet, 0, 0, &["长兴县基层工会会员花名册"])?;
        write_row(sheet, 1, 0, &["张三", "男", "11010519491231002X"])
    });
    assert_eq!(
        roster_err(&no_header, &Limits::default()),
        WorkbookError::HeaderNotFound {
            expected: vec!["姓名".to_owned(), "身份证号码".to_owned()]
        }
    );

    let missing = workbook(|sheet| {
        write_row(
            sheet,
            0,
            0,
            &[
                "序号",
                "姓名",
                "身份证号码",
                "学历",
                "手机号码",
                "户籍类型",
                "所属单位",
                "就业状况",
                "职务",
            ],
        )
    });
    let error = roster_err(&missing, &Limits::default());
    assert_eq!(
        error,
        WorkbookError::MissingColumns(vec!["性别".to_owned(), "国籍".to_owned()])
    );
    assert_eq!(error.message_zh(), "表头缺少以下列：“性别”、“国籍”");

    // The header must be among the first 20 non-blank rows.
    let late_header = workbook(|sheet| {
        for row in 0..20 {
            write_row(sheet, row, 0, &["说明"])?;
        }
        write_row(sheet, 20, 0, &CLERK_HEADER)
    });
    assert_eq!(
        roster_err(&late_header, &Limits::default()).code(),
        "workbook_header_not_found"
    );
}

#[test]
fn error_list_is_capped_but_rows_are_counted() {
    let members: Vec<RosterExportRow> = (0..5)
        .map(|i| RosterExportRow {
            name: String::new(),
            sex: "男".to_owned(),
            id_number: id_number("19900101", 2 * i + 1),
            ..RosterExportRow::default()
        })
        .collect();
    let bytes = write_roster(&RosterHeader::default(), &members).unwrap_or_else(|e| panic!("{e}"));
    let limits = Limits {
        max_errors: 4,
        ..Limits::default()
    };
    let parsed = parse_roster(&bytes, today(), &limits).unwrap_or_else(|e| panic!("{e}"));
    // Each row lacks 姓名, 国籍, 学历, 户籍类型, 所属单位, 就业状况, 担任工会职务.
    assert_eq!(parsed.total_rows, 5);
    assert_eq!(parsed.invalid_rows, 5);
    assert_eq!(parsed.errors.len(), 4);
    assert_eq!(parsed.omitted_errors, 5 * 7 - 4);
    assert!(parsed.errors.iter().all(|e| e.code == "required"));
}

// ---------------------------------------------------------------------------------------------
// Organisations (附件1)
// ---------------------------------------------------------------------------------------------

const ORG_HEADER: [&str; 13] = [
    "序号",
    "单位名称",
    "单位组织机构代码证",
    "单位性质",
    "单位地址",
    "职工人数",
    "工会名称",
    "建会时间",
    "工会类型",
    "会员人数",
    "工会负责人",
    "联系电话",
    "备注",
];

#[test]
fn clerk_org_table_is_read_with_an_exact_report() {
    let code_a = "91350100M000100Y43";
    let code_b = "9135052155323005XL";
    let code_c = credit_code("91330522MA2B3C4D");
    let bytes = workbook(|sheet| {
        let date_format = Format::new().set_num_format("yyyy\"年\"m\"月\"d\"日\"");
        write_row(sheet, 0, 0, &["长兴县基层工会组织信息采集汇总表"])?;
        write_row(sheet, 1, 0, &ORG_HEADER)?;
        // Row 3: valid; date cell, counts as numbers, landline.
        write_row(
            sheet,
            2,
            0,
            &[
                "1",
                "长兴某某纺织有限公司",
                code_a,
                "私营经济",
                "长兴县雉城街道1号",
            ],
        )?;
        sheet.write_number(2, 5, 120.0)?;
        write_row(sheet, 2, 6, &["长兴某某纺织有限公司工会"])?;
        sheet.write_date_with_format(2, 7, date(2001, 5, 6), &date_format)?;
        write_row(sheet, 2, 8, &["单建"])?;
        sheet.write_number(2, 9, 118.0)?;
        write_row(sheet, 2, 10, &["李四", "0572-6022447"])?;
        // Row 4: valid; text date 2001/5/6, counts as text, mobile as a number cell, a remark.
        write_row(
            sheet,
            3,
            0,
            &[
                "2",
                "长兴县某某村经济联合社",
                code_b,
                "集体经济",
                "长兴县林城镇",
                "35人",
                "某某村联合工会",
                "2001/5/6",
                "联合工会",
                "60",
                "王 五",
                "",
                "覆盖三家单位",
            ],
        )?;
        sheet.write_number(3, 11, 13812345678.0)?;
        // Row 5: the organisation code of row 4 (legacy, hyphenated), a future date,
        // a fractional count, an unknown nature and union type.
        write_row(
            sheet,
            4,
            0,
            &[
                "3",
                "长兴某某贸易公司",
                "55323005-X",
                "私营企业",
                "长兴县",
                "",
                "长兴某某贸易公司工会",
                "2030年1月1日",
                "工会",
                "",
                "赵六",
                "13912345678",
            ],
        )?;
        sheet.write_number(4, 5, 12.5)?;
        sheet.write_number(4, 9, 10.0)?;
        // Row 6: valid; 2001年5月6日 text, 工会联合会, code typed in lower case.
        write_row(
            sheet,
            5,
            0,
            &[
                "4",
                "长兴县某某行业协会",
                &code_c.to_lowercase(),
                "股份制",
                "长兴县太湖街道",
                "0",
                "长兴县某某行业工会联合会",
                "2001年5月6日",
                "工会联合会",
                "0",
                "钱七",
                "0572 6022447",
            ],
        )?;
        // Row 7: a credit code typed as a number, a date typed as 20010506, a local number
        // without area code.
        write_row(
            sheet,
            6,
            1,
            &[
                "长兴某某个体店",
                "",
                "个体经济",
                "长兴县",
                "3",
                "某某店工会",
                "",
                "单建",
                "3",
                "孙八",
            ],
        )?;
        sheet.write_number(6, 2, 913_305_221_234_567_890.0)?;
        sheet.write_number(6, 7, 20_010_506.0)?;
        sheet.write_number(6, 11, 6_022_447.0)?;
        // Row 8: totals under the table.
        write_row(sheet, 7, 0, &["合计"])?;
        sheet.write_number(7, 5, 170.0)?;
        sheet.write_number(7, 9, 191.0)?;
        Ok(())
    });

    let parsed = parse_orgs_ok(&bytes);
    assert_eq!(parsed.header_row, 2);
    assert_eq!(
        summary(&parsed.errors),
        vec![
            (5, "单位组织机构代码证", "C5", "duplicate_in_file"),
            (5, "单位性质", "D5", "unit_nature_invalid"),
            (5, "职工人数", "F5", "count_invalid"),
            (5, "建会时间", "H5", "date_in_future"),
            (5, "工会类型", "I5", "union_type_invalid"),
            (7, "单位组织机构代码证", "C7", "unit_code_as_number"),
            (7, "联系电话", "L7", "phone_landline"),
        ]
    );
    assert_eq!(parsed.errors[0].message, "单位组织机构代码与第4行重复");
    assert_eq!(
        parsed.errors[1].message,
        "单位性质应为以下之一：党政机关、事业单位、国有经济、集体经济、私营经济、个体经济、联营经济、股份制、外商投资、港澳台投资、其他（选其他须写明，如“其他：民办非企业单位”）"
    );
    assert_eq!(parsed.total_rows, 5);
    assert_eq!(parsed.invalid_rows, 2);

    let rows: Vec<u32> = parsed.rows.iter().map(|r| r.row).collect();
    assert_eq!(rows, vec![3, 4, 6]);
    let [a, b, c] = parsed.rows.as_slice() else {
        panic!("three valid rows expected");
    };
    assert_eq!(a.unit_code.as_str(), code_a);
    assert_eq!(a.unit_nature, UnitNature::Private);
    assert_eq!((a.employee_count, a.member_count), (120, 118));
    assert_eq!(a.founded_on, date(2001, 5, 6));
    assert_eq!(a.union_type, UnionType::Single);
    assert_eq!(a.phone.as_str(), "0572-6022447");
    assert_eq!(a.remark, None);
    assert_eq!((b.employee_count, b.member_count), (35, 60));
    assert_eq!(b.founded_on, date(2001, 5, 6));
    assert_eq!(b.union_type, UnionType::Joint);
    assert_eq!(b.leader_name, "王五");
    assert_eq!(b.phone.as_str(), "13812345678");
    assert_eq!(b.remark.as_deref(), Some("覆盖三家单位"));
    assert_eq!(c.unit_code.as_str(), code_c);
    assert_eq!(c.founded_on, date(2001, 5, 6));
    assert_eq!(c.union_type, UnionType::Federation);
    assert_eq!((c.employee_count, c.member_count), (0, 0));
    assert_eq!(c.phone.as_str(), "0572-6022447");
}

#[test]
fn org_table_round_trips_through_the_writer() {
    let org = |name: &str, code: &str, nature, founded, kind, phone: &str| OrgExportRow {
        unit_name: name.to_owned(),
        unit_code: code.to_owned(),
        unit_nature: nature,
        unit_nature_other: None,
        unit_address: "浙江省湖州市长兴县雉城街道金陵路88号".to_owned(),
        employee_count: 250,
        union_name: format!("{name}工会"),
        founded_on: founded,
        union_type: kind,
        member_count: 248,
        leader_name: "吴可青".to_owned(),
        phone: phone.to_owned(),
        remark: String::new(),
    };
    let rows = vec![
        org(
            "长兴某某纺织有限公司",
            "91350100M000100Y43",
            UnitNature::Private,
            date(2001, 5, 6),
            UnionType::Single,
            "0572-6022447",
        ),
        OrgExportRow {
            remark: "含三家小微企业".to_owned(),
            member_count: 400,
            ..org(
                "长兴县某某工业园区",
                "9135052155323005XL",
                UnitNature::HongKongMacaoTaiwanInvested,
                date(1999, 12, 31),
                UnionType::Joint,
                "13812345678",
            )
        },
        org(
            "长兴县某某局",
            &credit_code("11330522002601AB"),
            UnitNature::PartyGovernment,
            date(1950, 10, 1),
            UnionType::Federation,
            "010-12345678-123",
        ),
        org(
            "长兴县老厂",
            &organisation_code("12345678"),
            UnitNature::Collective,
            today(),
            UnionType::Single,
            "0572-6022447",
        ),
        OrgExportRow {
            unit_nature_other: Some("民办非企业单位".to_owned()),
            ..org(
                "长兴县某某培训学校",
                &credit_code("52330522MJ0000AB"),
                UnitNature::Other,
                date(2010, 3, 1),
                UnionType::Single,
                "0572-6022447",
            )
        },
    ];
    let bytes = write_orgs(&rows).unwrap_or_else(|e| panic!("{e}"));
    let parsed = parse_orgs_ok(&bytes);
    assert_eq!(parsed.errors, vec![]);
    assert_eq!(parsed.header_row, 2);
    let read_back: Vec<OrgExportRow> = parsed.rows.iter().map(OrgExportRow::from).collect();
    assert_eq!(read_back, rows);
    let row_numbers: Vec<u32> = parsed.rows.iter().map(|r| r.row).collect();
    assert_eq!(row_numbers, vec![3, 4, 5, 6, 7]);
    // 其他 is written with what it is, as the notice's list ends with 等.
    assert_eq!(
        cells_of(&bytes).get_value((6, 3)),
        Some(&Data::String("其他：民办非企业单位".to_owned()))
    );

    // Codes and phones are text cells, counts numbers, the founding date a date cell.
    let cells = cells_of(&bytes);
    assert_eq!(
        cells.get_value((2, 2)),
        Some(&Data::String("91350100M000100Y43".to_owned()))
    );
    assert_eq!(cells.get_value((2, 5)), Some(&Data::Float(250.0)));
    assert!(matches!(cells.get_value((2, 7)), Some(Data::DateTime(_))));
    assert_eq!(
        cells.get_value((3, 11)),
        Some(&Data::String("13812345678".to_owned()))
    );
}

// ---------------------------------------------------------------------------------------------
// Limits and hostile files
// ---------------------------------------------------------------------------------------------

fn small_roster() -> Vec<u8> {
    write_roster(&RosterHeader::default(), &sample_members()).unwrap_or_else(|e| panic!("{e}"))
}

/// A zip with the given entries, each compressed with deflate.
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, content) in entries {
        writer
            .start_file(*name, options)
            .unwrap_or_else(|e| panic!("{e}"));
        writer.write_all(content).unwrap_or_else(|e| panic!("{e}"));
    }
    writer
        .finish()
        .unwrap_or_else(|e| panic!("{e}"))
        .into_inner()
}

#[test]
fn garbage_and_other_formats_are_not_xlsx() {
    let limits = Limits::default();
    // Deterministic pseudo-random bytes (xorshift).
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let random: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect();
    assert_eq!(roster_err(&random, &limits), WorkbookError::NotXlsx);
    assert_eq!(roster_err(b"", &limits), WorkbookError::NotXlsx);
    assert_eq!(
        roster_err("序号,姓名,身份证号码\n".as_bytes(), &limits),
        WorkbookError::NotXlsx
    );

    // An empty zip: just the end-of-central-directory record.
    let mut empty_zip = b"PK\x05\x06".to_vec();
    empty_zip.extend([0u8; 18]);
    assert_eq!(roster_err(&empty_zip, &limits), WorkbookError::NotXlsx);
    assert_eq!(roster_err(&zip_of(&[]), &limits), WorkbookError::NotXlsx);

    // A zip that is not an OOXML package or an OpenDocument spreadsheet (a text document),
    // and one that claims to be a workbook but has none.
    let other_zip = zip_of(&[
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("content.xml", b"<office:document-content/>"),
    ]);
    assert_eq!(roster_err(&other_zip, &limits), WorkbookError::NotXlsx);
    let hollow = zip_of(&[("[Content_Types].xml", b"<Types/>")]);
    assert_eq!(roster_err(&hollow, &limits), WorkbookError::NotXlsx);

    // A truncated workbook.
    let roster = small_roster();
    let truncated = &roster[..roster.len() / 2];
    assert_eq!(roster_err(truncated, &limits), WorkbookError::NotXlsx);
}

/// A fixture written by `tests/fixtures/make_formats.py`.
fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn item1_xls_and_ods_rosters_give_the_same_report_as_xlsx() {
    let xlsx = parse_roster_ok(&fixture("roster.xlsx"));
    // The report of the file itself, so that the comparison below compares something.
    assert_eq!(xlsx.header_row, 3);
    assert_eq!(
        xlsx.header.union_name.as_deref(),
        Some("长兴某某纺织有限公司工会")
    );
    assert_eq!(xlsx.total_rows, 5);
    assert_eq!(
        summary(&xlsx.errors)
            .iter()
            .map(|(row, column, _, code)| (*row, *column, *code))
            .collect::<Vec<_>>(),
        vec![
            (5, "身份证号码", "id_number_as_number"),
            (8, "身份证号码", "duplicate_in_file"),
            (9, "姓名", "required"),
            (9, "身份证号码", "id_number_check_digit"),
            (9, "手机号码", "phone_mobile_length"),
        ]
    );
    assert_eq!(
        xlsx.rows.iter().map(|r| r.row).collect::<Vec<_>>(),
        vec![4, 6]
    );
    for name in ["roster.xls", "roster.ods"] {
        let other = parse_roster_ok(&fixture(name));
        assert_eq!(other, xlsx, "{name}");
    }
}

#[test]
fn item1_xls_and_ods_org_tables_give_the_same_report_as_xlsx() {
    let xlsx = parse_orgs_ok(&fixture("orgs.xlsx"));
    assert_eq!(xlsx.total_rows, 3);
    assert!(!xlsx.errors.is_empty());
    assert_eq!(xlsx.rows.len(), 2);
    for name in ["orgs.xls", "orgs.ods"] {
        let other = parse_orgs_ok(&fixture(name));
        assert_eq!(other, xlsx, "{name}");
    }
}

#[test]
fn item1_wps_et_and_unreadable_ole_files_name_the_save_as_step() {
    // An OLE compound file without an Excel workbook stream, as a WPS `.et` is to calamine.
    let mut et = vec![0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];
    et.extend([0u8; 504]);
    let error = roster_err(&et, &Limits::default());
    assert_eq!(error, WorkbookError::LegacyFormat);
    assert_eq!(error.code(), "workbook_legacy_format");
    assert!(error.message_zh().contains(".et"));
    assert!(error.message_zh().contains("另存为"));
    assert!(error.message_zh().contains(".xlsx"));
    let orgs = parse_orgs(&et, today(), &Limits::default());
    assert_eq!(orgs.err(), Some(WorkbookError::LegacyFormat));

    // A password-protected `.xlsx` is an OLE file with an `EncryptedPackage` stream.
    let mut encrypted = et.clone();
    let name: Vec<u8> = "EncryptedPackage"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    encrypted.extend(name);
    let error = roster_err(&encrypted, &Limits::default());
    assert_eq!(error, WorkbookError::Encrypted);
    assert!(error.message_zh().contains("密码"));
}

#[test]
fn zip_bombs_are_rejected_before_parsing() {
    let limits = Limits::default();
    // 8 MiB of zeros deflate to a few KiB: a ratio near 1000.
    let zeros = vec![0u8; 8 * 1024 * 1024];
    let bomb = zip_of(&[
        ("[Content_Types].xml", b"<Types/>"),
        ("xl/worksheets/sheet1.xml", &zeros),
    ]);
    assert!(bomb.len() < 100 * 1024, "bomb is {} bytes", bomb.len());
    assert_eq!(roster_err(&bomb, &limits), WorkbookError::ZipBomb);

    // The total declared size counts too, even at an innocent ratio.
    let tight = Limits {
        max_uncompressed_bytes: 1000,
        ..Limits::default()
    };
    assert_eq!(roster_err(&small_roster(), &tight), WorkbookError::ZipBomb);

    // And so does the number of entries.
    let few = Limits {
        max_zip_entries: 3,
        ..Limits::default()
    };
    assert_eq!(roster_err(&small_roster(), &few), WorkbookError::ZipBomb);
}

#[test]
fn size_and_row_limits_hold() {
    let roster = small_roster();
    let small = Limits {
        max_bytes: roster.len() - 1,
        ..Limits::default()
    };
    assert_eq!(
        roster_err(&roster, &small),
        WorkbookError::TooLarge {
            max_bytes: roster.len() - 1
        }
    );

    let four = Limits {
        max_rows: 4,
        ..Limits::default()
    };
    assert_eq!(
        roster_err(&roster, &four),
        WorkbookError::TooManyRows { max: 4 }
    );
    let five = Limits {
        max_rows: 5,
        ..Limits::default()
    };
    let parsed = parse_roster(&roster, today(), &five).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(parsed.rows.len(), 5);
}

#[test]
fn first_visible_worksheet_is_read() {
    let mut book = Workbook::new();
    let hidden = book.add_worksheet();
    write_row(hidden, 0, 0, &["说明"]).unwrap_or_else(|e| panic!("{e}"));
    hidden.set_hidden(true);
    let roster = book.add_worksheet();
    write_row(roster, 0, 0, &CLERK_HEADER).unwrap_or_else(|e| panic!("{e}"));
    let second = book.add_worksheet();
    write_row(second, 0, 0, &["其他"]).unwrap_or_else(|e| panic!("{e}"));
    book.worksheet_from_index(1)
        .unwrap_or_else(|e| panic!("{e}"))
        .set_active(true);
    let bytes = book.save_to_buffer().unwrap_or_else(|e| panic!("{e}"));
    let parsed = parse_roster_ok(&bytes);
    assert_eq!(parsed.header_row, 1);
    assert_eq!(parsed.total_rows, 0);
}

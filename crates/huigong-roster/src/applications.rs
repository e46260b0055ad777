//! The list of appendix 2, 中华全国总工会入会申请书: the declaration, then one row per applicant
//! with 序号, 姓名, 签名, 是否注册电子会员卡(√), 有无微信(√).

use std::fmt;

use huigong_core::mask_name;
use rust_xlsxwriter::{Format, FormatAlign, Image, Workbook};

use crate::error::{WorkbookError, write_error};
use crate::out;
use crate::sheet::ColumnSpec;

/// The title of appendix 2.
pub const APPLICATIONS_TITLE: &str = "中华全国总工会入会申请书";

const COLUMNS: [ColumnSpec; 5] = [
    column("序号"),
    column("姓名"),
    column("签名"),
    column("是否注册电子会员卡(√)"),
    column("有无微信(√)"),
];

const fn column(name: &'static str) -> ColumnSpec {
    ColumnSpec {
        name,
        aliases: &[],
        required: true,
    }
}

const WIDTHS: [f64; 5] = [6.0, 12.0, 22.0, 22.0, 14.0];

/// The 0-based row of the header: title, declaration, union name, header.
const HEADER_ROW: u32 = 3;

/// One applicant on the list.
#[derive(Clone, PartialEq, Eq)]
pub struct ApplicationListRow {
    /// 姓名, as the export should show it (masked or full).
    pub name: String,
    /// The typed signature, written when there is no drawn one (or it is not shown).
    pub signature: String,
    /// A drawn signature (PNG bytes), embedded in the 签名 cell.
    pub signature_png: Option<Vec<u8>>,
    /// Whether the applicant has an active 惠工卡.
    pub card_registered: bool,
    /// Whether the applicant has WeChat (always, for online applications).
    pub has_wechat: bool,
}

impl fmt::Debug for ApplicationListRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApplicationListRow")
            .field("name", &mask_name(&self.name))
            .field("signature_png", &self.signature_png.as_ref().map(Vec::len))
            .field("card_registered", &self.card_registered)
            .field("has_wechat", &self.has_wechat)
            .finish_non_exhaustive()
    }
}

/// Writes appendix 2's list for `union_name`: the title, the declaration `declaration`, the
/// union's name, then the header and one row per applicant (numbered from 1). A drawn signature
/// that is not a readable image is written as the typed one.
pub fn write_applications(
    union_name: &str,
    declaration: &str,
    rows: &[ApplicationListRow],
) -> Result<Vec<u8>, WorkbookError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    let wrapped = Format::new()
        .set_text_wrap()
        .set_align(FormatAlign::VerticalCenter);
    let plain = Format::new();
    let union_line = format!("工会名称：{union_name}");
    let formats = out::begin_table(
        sheet,
        "入会申请",
        APPLICATIONS_TITLE,
        &[(declaration, &wrapped), (&union_line, &plain)],
        &COLUMNS,
        &WIDTHS,
        HEADER_ROW,
        &[1, 2],
    )?;
    sheet.set_row_height(1, 48).map_err(write_error)?;
    let centred = formats.plain.clone().set_align(FormatAlign::Center);
    for (index, applicant) in rows.iter().enumerate() {
        let sequence = index + 1;
        let row = out::data_row(HEADER_ROW, sequence)?;
        out::write_sequence(sheet, row, sequence, &formats.plain)?;
        out::write_text(sheet, row, 1, &applicant.name, &formats.text)?;
        let image = applicant
            .signature_png
            .as_deref()
            .and_then(|png| Image::new_from_buffer(png).ok());
        match image {
            Some(image) => {
                sheet.set_row_height(row, 36).map_err(write_error)?;
                sheet
                    .embed_image_with_format(row, 2, &image, &formats.plain)
                    .map_err(write_error)?;
            }
            None => out::write_text(sheet, row, 2, &applicant.signature, &formats.text)?,
        }
        for (column, yes) in [(3, applicant.card_registered), (4, applicant.has_wechat)] {
            out::write_text(sheet, row, column, if yes { "√" } else { "" }, &centred)?;
        }
    }
    workbook.save_to_buffer().map_err(write_error)
}

/// The ten columns of the notice's printed 附件2: two groups of five side by side.
const SIGNING_COLUMNS: [ColumnSpec; 10] = [
    column("序号"),
    column("姓名"),
    column("签名"),
    column("是否注册电子会员卡(√)"),
    column("有无微信(√)"),
    column("序号"),
    column("姓名"),
    column("签名"),
    column("是否注册电子会员卡(√)"),
    column("有无微信(√)"),
];

const SIGNING_WIDTHS: [f64; 10] = [6.0, 10.0, 20.0, 12.0, 9.0, 6.0, 10.0, 20.0, 12.0, 9.0];

/// The footnote the notice prints under 附件2.
pub const SIGNING_LIST_NOTE: &str =
    "备注：《中华全国总工会入会申请书》一式两份，一份留存在基层工会，一份留存在上级工会。";

/// One member on the notice's 入会申请书一览表 (附件2 as printed).
#[derive(Clone, PartialEq, Eq)]
pub struct SigningListRow {
    /// 姓名, as the export should show it (masked or full).
    pub name: String,
    /// The day the member signed the declaration online; `None` for paper (the 签名 cell is
    /// left blank for the member to sign on the printout).
    pub signed_online_on: Option<chrono::NaiveDate>,
    /// Whether the member has an active 惠工卡.
    pub card_registered: bool,
    /// Whether a WeChat account is bound.
    pub has_wechat: bool,
}

impl fmt::Debug for SigningListRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningListRow")
            .field("name", &mask_name(&self.name))
            .field("signed_online_on", &self.signed_online_on)
            .field("card_registered", &self.card_registered)
            .field("has_wechat", &self.has_wechat)
            .finish()
    }
}

/// Writes 附件2 as the notice prints it for `union_name`: the title, the declaration, the
/// union's name, a header of two groups (序号, 姓名, 签名, 是否注册电子会员卡(√), 有无微信(√),
/// twice), the members two per row (1 and 2 on the first row, 3 and 4 on the next …), and the
/// notice's footnote. 签名 is blank for a paper signature, `已在线签名 2026-12-07` otherwise.
pub fn write_signing_list(
    union_name: &str,
    declaration: &str,
    rows: &[SigningListRow],
) -> Result<Vec<u8>, WorkbookError> {
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet();
    let wrapped = Format::new()
        .set_text_wrap()
        .set_align(FormatAlign::VerticalCenter);
    let plain = Format::new();
    let union_line = format!("工会名称：{union_name}");
    let formats = out::begin_table(
        sheet,
        "入会申请书",
        APPLICATIONS_TITLE,
        &[(declaration, &wrapped), (&union_line, &plain)],
        &SIGNING_COLUMNS,
        &SIGNING_WIDTHS,
        HEADER_ROW,
        &[1, 2, 6, 7],
    )?;
    sheet.set_row_height(1, 48).map_err(write_error)?;
    let centred = formats.plain.clone().set_align(FormatAlign::Center);
    let mut last_row = HEADER_ROW;
    for (index, member) in rows.iter().enumerate() {
        let sequence = index + 1;
        let row = out::data_row(HEADER_ROW, index / 2 + 1)?;
        last_row = row;
        let first = if index % 2 == 0 { 0 } else { 5 };
        // Sequence numbers stay far below 2⁵³, so the conversion is exact.
        sheet
            .write_number_with_format(
                row,
                out::column_index(first),
                sequence as f64,
                &formats.plain,
            )
            .map_err(write_error)?;
        out::write_text(sheet, row, first + 1, &member.name, &formats.text)?;
        let signature = member
            .signed_online_on
            .map(|day| format!("已在线签名 {day}"))
            .unwrap_or_default();
        out::write_text(sheet, row, first + 2, &signature, &formats.text)?;
        for (column, yes) in [(3, member.card_registered), (4, member.has_wechat)] {
            out::write_text(
                sheet,
                row,
                first + column,
                if yes { "√" } else { "" },
                &centred,
            )?;
        }
        if index % 2 == 0 {
            // The right-hand group of the last row stays a bordered blank.
            for column in 5..10 {
                out::write_text(sheet, row, column, "", &formats.plain)?;
            }
        }
    }
    sheet
        .merge_range(
            last_row + 1,
            0,
            last_row + 1,
            9,
            SIGNING_LIST_NOTE,
            &wrapped,
        )
        .map_err(write_error)?;
    workbook.save_to_buffer().map_err(write_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use calamine::{Data, Reader, Xlsx};
    use std::io::Cursor;

    fn cells(bytes: Vec<u8>) -> Vec<Vec<String>> {
        let mut book: Xlsx<_> =
            calamine::open_workbook_from_rs(Cursor::new(bytes)).unwrap_or_else(|e| panic!("{e}"));
        let range = book
            .worksheet_range_at(0)
            .unwrap_or_else(|| panic!("no sheet"))
            .unwrap_or_else(|e| panic!("{e}"));
        range
            .rows()
            .map(|r| {
                r.iter()
                    .map(|c| match c {
                        Data::String(s) => s.clone(),
                        Data::Float(f) => f.to_string(),
                        _ => String::new(),
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_list_has_appendix_2s_header_and_marks() {
        let rows = [
            ApplicationListRow {
                name: "赵小明".to_owned(),
                signature: "赵小明".to_owned(),
                signature_png: None,
                card_registered: true,
                has_wechat: true,
            },
            ApplicationListRow {
                name: "钱*".to_owned(),
                signature: "钱*".to_owned(),
                signature_png: Some(b"not an image".to_vec()),
                card_registered: false,
                has_wechat: true,
            },
        ];
        let sheet = cells(
            write_applications("甲公司工会", "我自愿加入中华全国总工会……", &rows)
                .unwrap_or_else(|e| panic!("{e}")),
        );
        assert_eq!(sheet[0][0], APPLICATIONS_TITLE);
        assert!(sheet[1][0].starts_with("我自愿加入"));
        assert_eq!(sheet[2][0], "工会名称：甲公司工会");
        assert_eq!(
            sheet[3],
            [
                "序号",
                "姓名",
                "签名",
                "是否注册电子会员卡(√)",
                "有无微信(√)"
            ]
        );
        assert_eq!(sheet[4], ["1", "赵小明", "赵小明", "√", "√"]);
        // An unreadable drawing falls back to the typed signature.
        assert_eq!(sheet[5], ["2", "钱*", "钱*", "", "√"]);
    }
}

//! Cell values detached from calamine, and the text conventions clerks' files follow.

use calamine::DataRef;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

/// Largest magnitude below which every integer is exactly representable and Excel shows all
/// digits: Excel keeps 15 significant digits.
const EXACT_INTEGER_LIMIT: f64 = 1e15;

/// A non-empty cell's value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum CellValue {
    /// Text, trimmed; never empty.
    Text(String),
    /// A number that is not formatted as a date.
    Number(f64),
    /// `TRUE` / `FALSE`.
    Bool(bool),
    /// A number formatted as a date or date-time.
    DateTime(NaiveDateTime),
    /// An error value such as `#N/A`, as Excel shows it.
    Error(String),
}

impl CellValue {
    /// Converts calamine's value; empty cells and whitespace-only text are `None`.
    pub(crate) fn from_calamine(value: &DataRef<'_>) -> Option<CellValue> {
        let value = match value {
            DataRef::Empty => return None,
            DataRef::String(text) => return text_value(text),
            DataRef::SharedString(text) => return text_value(text),
            DataRef::Int(number) => CellValue::Number(*number as f64),
            DataRef::Float(number) => CellValue::Number(*number),
            DataRef::Bool(flag) => CellValue::Bool(*flag),
            DataRef::DateTime(excel) => match excel.as_datetime() {
                Some(datetime) if excel.is_datetime() => CellValue::DateTime(datetime),
                // A duration, or a serial number outside chrono's range: keep the number.
                _ => CellValue::Number(excel.as_f64()),
            },
            DataRef::DateTimeIso(text) => match parse_iso_datetime(text) {
                Some(datetime) => CellValue::DateTime(datetime),
                None => return text_value(text),
            },
            DataRef::DurationIso(text) => return text_value(text),
            DataRef::Error(error) => CellValue::Error(error.to_string()),
        };
        Some(value)
    }

    /// The text a clerk sees in the cell: numbers without a spurious `.0`, dates as
    /// `YYYY-MM-DD` (with `HH:MM:SS` only when there is a time of day), booleans as Excel
    /// shows them.
    pub(crate) fn display(&self) -> String {
        match self {
            CellValue::Text(text) | CellValue::Error(text) => text.clone(),
            CellValue::Number(number) => {
                integer_text(*number).unwrap_or_else(|| format!("{number}"))
            }
            CellValue::Bool(true) => "TRUE".to_owned(),
            CellValue::Bool(false) => "FALSE".to_owned(),
            CellValue::DateTime(datetime) if datetime.time() == NaiveTime::MIN => {
                datetime.format("%Y-%m-%d").to_string()
            }
            CellValue::DateTime(datetime) => datetime.format("%Y-%m-%d %H:%M:%S").to_string(),
        }
    }
}

fn text_value(text: &str) -> Option<CellValue> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| CellValue::Text(trimmed.to_owned()))
}

fn parse_iso_datetime(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    text.parse::<NaiveDateTime>().ok().or_else(|| {
        text.parse::<NaiveDate>()
            .ok()
            .map(|date| date.and_time(NaiveTime::MIN))
    })
}

/// The decimal digits of a number that is an exact integer Excel shows in full (below
/// 10¹⁵ in magnitude), e.g. `13812345678.0` → `"13812345678"`.
pub(crate) fn integer_text(number: f64) -> Option<String> {
    if number.is_finite() && number.fract() == 0.0 && number.abs() < EXACT_INTEGER_LIMIT {
        // Exact: an integral value below 10¹⁵ fits an i64 without loss.
        Some(format!("{}", number as i64))
    } else {
        None
    }
}

/// Maps full-width ASCII variants (U+FF01–U+FF5E) to ASCII and the ideographic space to a
/// space, as Chinese input methods produce them.
pub(crate) fn fold_width(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '\u{3000}' => ' ',
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(u32::from(c) - 0xFEE0).unwrap_or(c),
            _ => c,
        })
        .collect()
}

/// Normalises a header cell for matching: full-width folded, every whitespace (including
/// line breaks inside the cell) and the required-field marks `*` removed, and a trailing
/// bracketed note dropped (`手机号码（选填）` → `手机号码`).
pub(crate) fn normalise_header(text: &str) -> String {
    let compact: String = fold_width(text)
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '*')
        .collect();
    if compact.ends_with(')')
        && let Some(open) = compact.rfind('(')
        && open > 0
    {
        return compact[..open].to_owned();
    }
    compact
}

/// Whether text looks like Excel's scientific display of a long number (`1.10105E+17`),
/// which is what is left of an identity number once it has been a number cell.
pub(crate) fn is_scientific_notation(text: &str) -> bool {
    let folded = fold_width(text);
    let Some((mantissa, exponent)) = folded.trim().split_once(['E', 'e']) else {
        return false;
    };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    let mantissa_ok = !mantissa.is_empty()
        && mantissa.chars().all(|c| c.is_ascii_digit() || c == '.')
        && mantissa.chars().filter(|&c| c == '.').count() <= 1
        && mantissa.starts_with(|c: char| c.is_ascii_digit());
    mantissa_ok && !exponent.is_empty() && exponent.chars().all(|c| c.is_ascii_digit())
}

/// Reads a date written as text: `2001-05-06`, `2001/5/6`, `2001.5.6`, `2001年5月6日`
/// (`号` for `日` too) or `20010506`, with full-width digits allowed and a trailing
/// time of day (`2001-05-06 00:00:00`) ignored. Does not check the range.
pub(crate) fn parse_date_text(text: &str) -> Option<NaiveDate> {
    let folded = fold_width(text);
    let mut text = folded.trim();
    if let Some((date, time)) = text.split_once([' ', 'T'])
        && is_time_of_day(time.trim())
    {
        text = date;
    }
    let text = text
        .strip_suffix('日')
        .or_else(|| text.strip_suffix('号'))
        .unwrap_or(text);

    if text.len() == 8 && text.bytes().all(|b| b.is_ascii_digit()) {
        let (year, month_day) = text.split_at(4);
        let (month, day) = month_day.split_at(2);
        return NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?);
    }

    let parts: Vec<&str> = text.split(['-', '/', '.', '年', '月']).collect();
    let [year, month, day] = parts.as_slice() else {
        return None;
    };
    let digits = |part: &str, lengths: std::ops::RangeInclusive<usize>| {
        lengths.contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit())
    };
    if !(digits(year, 4..=4) && digits(month, 1..=2) && digits(day, 1..=2)) {
        return None;
    }
    NaiveDate::from_ymd_opt(year.parse().ok()?, month.parse().ok()?, day.parse().ok()?)
}

/// `HH:MM` or `HH:MM:SS`, optionally with a fraction of a second.
fn is_time_of_day(text: &str) -> bool {
    let groups: Vec<&str> = text.split(':').collect();
    (2..=3).contains(&groups.len())
        && groups.iter().all(|group| {
            let whole = group.split_once('.').map_or(*group, |(whole, _)| whole);
            !whole.is_empty() && group.chars().all(|c| c.is_ascii_digit() || c == '.')
        })
}

/// Reads a head count written as text: digits, optionally with thousands separators and a
/// trailing `人` (`1,200人`). Negative, fractional or non-numeric text is `None`.
pub(crate) fn parse_count_text(text: &str) -> Option<u32> {
    let folded = fold_width(text);
    let trimmed = folded.trim();
    let trimmed = trimmed.strip_suffix('人').unwrap_or(trimmed).trim_end();
    let digits: String = trimmed.chars().filter(|&c| c != ',').collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// A count from a number cell: a non-negative integer that fits `u32`.
pub(crate) fn count_from_number(number: f64) -> Option<u32> {
    if number.is_finite() && number.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&number)
    {
        // In range and integral, so exact.
        Some(number as u32)
    } else {
        None
    }
}

/// Removes the spaces clerks put inside Chinese names to align them (`张  三` → `张三`);
/// names with Latin letters keep their spaces.
pub(crate) fn tidy_name(name: &str) -> String {
    let is_chinese = |c: char| {
        matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}')
            || matches!(c, '·' | '•' | '‧' | '・' | '．')
    };
    let name = name.trim();
    if name.chars().all(|c| c.is_whitespace() || is_chinese(c)) {
        name.chars().filter(|c| !c.is_whitespace()).collect()
    } else {
        name.to_owned()
    }
}

/// Excel's column letters for a 0-based index: 0 → `A`, 26 → `AA`.
pub(crate) fn column_letters(index: u32) -> String {
    let mut letters = Vec::new();
    let mut n = u64::from(index) + 1;
    while n > 0 {
        let remainder = u8::try_from((n - 1) % 26).unwrap_or(0);
        letters.push(char::from(b'A' + remainder));
        n = (n - 1) / 26;
    }
    letters.iter().rev().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("bad test date"))
    }

    #[test]
    fn numbers_display_without_fraction_when_integral() {
        assert_eq!(CellValue::Number(13812345678.0).display(), "13812345678");
        assert_eq!(CellValue::Number(1.5).display(), "1.5");
        assert_eq!(CellValue::Number(-3.0).display(), "-3");
        assert_eq!(integer_text(1e15), None);
        assert_eq!(
            integer_text(999_999_999_999_999.0).as_deref(),
            Some("999999999999999")
        );
    }

    #[test]
    fn dates_display_as_iso() {
        let midnight = date(2020, 1, 2).and_time(NaiveTime::MIN);
        assert_eq!(CellValue::DateTime(midnight).display(), "2020-01-02");
        let later = date(2020, 1, 2)
            .and_hms_opt(8, 30, 0)
            .unwrap_or_else(|| panic!("bad time"));
        assert_eq!(CellValue::DateTime(later).display(), "2020-01-02 08:30:00");
    }

    #[test]
    fn headers_normalise() {
        assert_eq!(normalise_header(" 身份证\n号码 "), "身份证号码");
        assert_eq!(normalise_header("*姓\u{3000}名"), "姓名");
        assert_eq!(normalise_header("手机号码（选填）"), "手机号码");
        assert_eq!(normalise_header("手机号码(选填)"), "手机号码");
        assert_eq!(normalise_header("(备注)"), "(备注)");
    }

    #[test]
    fn scientific_notation_is_recognised() {
        assert!(is_scientific_notation("1.10105E+17"));
        assert!(is_scientific_notation(" 4.40524E17 "));
        assert!(is_scientific_notation("１．１Ｅ＋１７"));
        assert!(!is_scientific_notation("11010519491231002X"));
        assert!(!is_scientific_notation("E17"));
        assert!(!is_scientific_notation("1.1E"));
    }

    #[test]
    fn text_dates_in_every_clerk_form() {
        let expected = Some(date(2001, 5, 6));
        for text in [
            "2001-05-06",
            "2001/5/6",
            "2001.5.6",
            "2001年5月6日",
            "2001年05月06号",
            "２００１－０５－０６",
            "20010506",
            " 2001-05-06 00:00:00 ",
            "2001-05-06T00:00:00",
        ] {
            assert_eq!(parse_date_text(text), expected, "{text}");
        }
        for text in [
            "2001",
            "2001-5",
            "01-05-06",
            "2001-13-01",
            "2001-02-30",
            "明天",
            "",
        ] {
            assert_eq!(parse_date_text(text), None, "{text}");
        }
    }

    #[test]
    fn counts_from_text_and_numbers() {
        assert_eq!(parse_count_text("120"), Some(120));
        assert_eq!(parse_count_text(" 1,200人 "), Some(1200));
        assert_eq!(parse_count_text("１２"), Some(12));
        assert_eq!(parse_count_text("-1"), None);
        assert_eq!(parse_count_text("1.5"), None);
        assert_eq!(parse_count_text("约100"), None);
        assert_eq!(count_from_number(0.0), Some(0));
        assert_eq!(count_from_number(12.0), Some(12));
        assert_eq!(count_from_number(12.5), None);
        assert_eq!(count_from_number(-1.0), None);
        assert_eq!(count_from_number(f64::NAN), None);
    }

    #[test]
    fn names_lose_alignment_spaces_only_when_chinese() {
        assert_eq!(tidy_name("张  三"), "张三");
        assert_eq!(tidy_name(" 王\u{3000}小明 "), "王小明");
        assert_eq!(tidy_name("阿卜杜拉 · 买买提"), "阿卜杜拉·买买提");
        assert_eq!(tidy_name("John Smith"), "John Smith");
    }

    #[test]
    fn column_letters_follow_excel() {
        assert_eq!(column_letters(0), "A");
        assert_eq!(column_letters(25), "Z");
        assert_eq!(column_letters(26), "AA");
        assert_eq!(column_letters(16_383), "XFD");
    }
}

//! Chinese identity numbers (公民身份号码), GB 11643-1999, check digit ISO 7064 MOD 11-2.
//!
//! The same 18-character layout is used by the resident identity card, the residence permits
//! for people from Hong Kong, Macau and Taiwan (港澳台居民居住证, region 810000 / 820000 /
//! 830000) and the 2023 foreigner's permanent residence card (外国人永久居留身份证, first
//! digit 9):
//!
//! | characters (1-based) | meaning                                         |
//! |----------------------|-------------------------------------------------|
//! | 1–6                  | region code                                     |
//! | 7–14                 | birth date, `YYYYMMDD`                          |
//! | 15–17                | sequence; the 17th digit is odd for men          |
//! | 18                   | check character, `0`–`9` or `X`                 |
//!
//! An identity number is personal data: [`IdNumber`]'s `Debug` prints only the masked form,
//! it has no `Display`, and no error message ever contains the input.

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use std::fmt;

use crate::width::to_half_width;

/// Number of characters in an identity number.
pub const ID_NUMBER_LENGTH: usize = 18;

/// Earliest birth year accepted.
///
/// GB 11643 itself sets no lower bound. The domain rule asked for 1900-01-01, but the widely
/// published test vector `440524188001010014` encodes 1880-01-01, so the bound is
/// 1800-01-01: it still rejects obviously mistyped centuries (`0949…`, `1049…`) while
/// accepting that vector.
pub const EARLIEST_BIRTH_YEAR: i32 = 1800;

/// Weights W₁…W₁₇ of ISO 7064 MOD 11-2 as used by GB 11643.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];

/// Check character for each value of `(Σ dᵢ·Wᵢ) mod 11`.
const CHECK_CHARACTERS: [u8; 11] = *b"10X98765432";

/// Which document an identity number belongs to, as told by its first characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    /// 居民身份证: first digit 1–8, except the permit regions below.
    Resident,
    /// 港澳台居民居住证: region code 810000 (Hong Kong), 820000 (Macau) or 830000 (Taiwan).
    HongKongMacauTaiwanPermit,
    /// 外国人永久居留身份证 (2023 format): first digit 9.
    ForeignPermanentResident,
}

/// Sex as recorded in an identity number or on a membership form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    Male,
    Female,
}

impl Sex {
    /// The Chinese label used on forms: `男` or `女`.
    pub fn label_zh(self) -> &'static str {
        match self {
            Sex::Male => "男",
            Sex::Female => "女",
        }
    }

    /// Reads `男` / `男性` or `女` / `女性` (surrounding whitespace ignored); anything else is
    /// `None`.
    pub fn parse_zh(input: &str) -> Option<Sex> {
        match input.trim() {
            "男" | "男性" => Some(Sex::Male),
            "女" | "女性" => Some(Sex::Female),
            _ => None,
        }
    }
}

/// A validated 18-character identity number, stored in normalised form (ASCII digits, an
/// upper-case `X` check character).
///
/// Construct it with [`IdNumber::parse`]. `Debug` prints only [`IdNumber::masked`]; there is
/// deliberately no `Display`, so every use of the full number goes through
/// [`IdNumber::as_str`] and is easy to find in review.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct IdNumber {
    value: String,
    birth_date: NaiveDate,
}

impl IdNumber {
    /// Validates and normalises an identity number.
    ///
    /// Normalisation: surrounding whitespace is trimmed, full-width digits (`０`–`９`) become
    /// ASCII digits and `x`, `Ｘ`, `ｘ` become `X`.
    ///
    /// The rules are checked in this order, and the first one broken is reported:
    /// 1. exactly 18 characters ([`IdNumberError::Length`]);
    /// 2. the first 17 are digits and the last is a digit or `X`
    ///    ([`IdNumberError::Characters`]);
    /// 3. the first digit is not 0 — 1–8 are residents and the Hong Kong / Macau / Taiwan
    ///    permits, 9 the foreigner's permanent residence card ([`IdNumberError::Region`]);
    /// 4. characters 7–14 are a real date, not after `today` and not before
    ///    [`EARLIEST_BIRTH_YEAR`]-01-01 ([`IdNumberError::Date`]);
    /// 5. the 18th character is `"10X98765432"[(Σ dᵢ·Wᵢ) mod 11]` with
    ///    W = 7,9,10,5,8,4,2,1,6,3,7,9,10,5,8,4,2 ([`IdNumberError::CheckDigit`]).
    ///
    /// `today` is passed in because this crate reads no clock.
    pub fn parse(input: &str, today: NaiveDate) -> Result<IdNumber, IdNumberError> {
        let value = normalise(input);

        let found = value.chars().count();
        if found != ID_NUMBER_LENGTH {
            return Err(IdNumberError::Length { found });
        }
        // 18 characters and (checked next) all ASCII, so 18 bytes.
        let bytes = value.as_bytes();
        let (body, check) = bytes.split_at(ID_NUMBER_LENGTH - 1);
        let check = check.first().copied().unwrap_or_default();
        if !value.is_ascii()
            || !body.iter().all(u8::is_ascii_digit)
            || !(check.is_ascii_digit() || check == b'X')
        {
            return Err(IdNumberError::Characters);
        }

        if body.first() == Some(&b'0') {
            return Err(IdNumberError::Region);
        }

        let birth_date = birth_date_of(body, today).ok_or(IdNumberError::Date)?;

        if check != check_character(body) {
            return Err(IdNumberError::CheckDigit);
        }

        Ok(IdNumber { value, birth_date })
    }

    /// The normalised number, 18 ASCII characters. This is personal data: do not log it.
    pub fn as_str(&self) -> &str {
        &self.value
    }

    /// The first 6 and last 4 characters, with the 8 between replaced by `*`:
    /// `330522********1234`. Safe to log and to show in lists.
    pub fn masked(&self) -> String {
        crate::mask::mask_id_number(&self.value)
    }

    /// Which document the number belongs to; see [`IdKind`].
    pub fn kind(&self) -> IdKind {
        if self.value.starts_with('9') {
            IdKind::ForeignPermanentResident
        } else if ["810000", "820000", "830000"]
            .iter()
            .any(|region| self.value.starts_with(region))
        {
            IdKind::HongKongMacauTaiwanPermit
        } else {
            IdKind::Resident
        }
    }

    /// The birth date encoded in characters 7–14.
    pub fn birth_date(&self) -> NaiveDate {
        self.birth_date
    }

    /// The sex encoded in the 17th character: odd for men, even for women.
    pub fn sex(&self) -> Sex {
        let seventeenth = self.value.as_bytes().get(16).copied().unwrap_or(b'0');
        // ASCII '0' is even, so a digit's byte has the digit's parity.
        if seventeenth % 2 == 1 {
            Sex::Male
        } else {
            Sex::Female
        }
    }
}

impl fmt::Debug for IdNumber {
    /// Prints only the masked form: `IdNumber("110105********002X")`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IdNumber").field(&self.masked()).finish()
    }
}

/// Why a text is not an identity number. No variant carries, and no message contains, the
/// rejected input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdNumberError {
    /// Not 18 characters after trimming; `found` is how many there were.
    Length { found: usize },
    /// A non-digit among the first 17 characters, or a last character other than a digit or
    /// `X`.
    Characters,
    /// The first digit is 0, which no region code uses.
    Region,
    /// Characters 7–14 are not a real date, or the date is after today or before
    /// [`EARLIEST_BIRTH_YEAR`].
    Date,
    /// The 18th character does not match the ISO 7064 MOD 11-2 check of the first 17.
    CheckDigit,
}

impl IdNumberError {
    /// A stable snake_case identifier for API responses and translations.
    pub fn code(&self) -> &'static str {
        match self {
            IdNumberError::Length { .. } => "id_number_length",
            IdNumberError::Characters => "id_number_characters",
            IdNumberError::Region => "id_number_region",
            IdNumberError::Date => "id_number_date",
            IdNumberError::CheckDigit => "id_number_check_digit",
        }
    }

    /// A sentence a clerk can act on, in Chinese.
    pub fn message_zh(&self) -> String {
        match self {
            IdNumberError::Length { found } => {
                format!("身份证号应为18位，实际为{found}位")
            }
            IdNumberError::Characters => {
                "身份证号前17位只能是数字，最后一位只能是数字或X".to_owned()
            }
            IdNumberError::Region => "身份证号第1位不能为0，请核对地区码".to_owned(),
            IdNumberError::Date => format!(
                "身份证号第7至14位不是有效的出生日期（须为{EARLIEST_BIRTH_YEAR}年1月1日至今天之间的真实日期）"
            ),
            IdNumberError::CheckDigit => "身份证号校验位不符，请逐位核对号码".to_owned(),
        }
    }
}

impl fmt::Display for IdNumberError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IdNumberError::Length { found } => {
                write!(f, "ID number must have 18 characters, found {found}")
            }
            IdNumberError::Characters => {
                f.write_str("ID number must be 17 digits followed by a digit or X")
            }
            IdNumberError::Region => f.write_str("ID number must not start with 0"),
            IdNumberError::Date => write!(
                f,
                "ID number characters 7-14 are not a real birth date between \
                 {EARLIEST_BIRTH_YEAR}-01-01 and today"
            ),
            IdNumberError::CheckDigit => f.write_str("ID number check digit does not match"),
        }
    }
}

impl std::error::Error for IdNumberError {}

/// Trims, folds full-width characters to ASCII and upper-cases `x`. Does not validate.
pub(crate) fn normalise(input: &str) -> String {
    input
        .trim()
        .chars()
        .map(to_half_width)
        .map(|c| if c == 'x' { 'X' } else { c })
        .collect()
}

/// Completes 17 digits (region, birth date, sequence) with their GB 11643 check character:
/// how demo and test data get valid numbers. `None` unless the input is 17 ASCII digits.
pub fn with_check_character(body: &str) -> Option<String> {
    let bytes = body.as_bytes();
    if bytes.len() != ID_NUMBER_LENGTH - 1 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(format!("{body}{}", char::from(check_character(bytes))))
}

/// The check character for 17 ASCII digits.
fn check_character(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .zip(WEIGHTS)
        .map(|(digit, weight)| u32::from(digit - b'0') * weight)
        .sum();
    // `sum % 11` is below 11, the length of the table.
    CHECK_CHARACTERS
        .get((sum % 11) as usize)
        .copied()
        .unwrap_or_default()
}

/// The birth date in characters 7–14 of 17 ASCII digits, if it is a real date within
/// [`EARLIEST_BIRTH_YEAR`]-01-01 ..= `today`.
fn birth_date_of(body: &[u8], today: NaiveDate) -> Option<NaiveDate> {
    let number = |range: std::ops::Range<usize>| -> Option<u32> {
        body.get(range).map(|digits| {
            digits
                .iter()
                .fold(0, |n, digit| n * 10 + u32::from(digit - b'0'))
        })
    };
    let year = i32::try_from(number(6..10)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, number(10..12)?, number(12..14)?)?;
    (year >= EARLIEST_BIRTH_YEAR && date <= today).then_some(date)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_else(|| panic!("bad test date {y}-{m}-{d}"))
    }

    /// A fixed "today" so the tests do not depend on the machine clock.
    fn today() -> NaiveDate {
        date(2025, 6, 30)
    }

    fn parse(input: &str) -> Result<IdNumber, IdNumberError> {
        IdNumber::parse(input, today())
    }

    fn parse_ok(input: &str) -> IdNumber {
        parse(input).unwrap_or_else(|e| panic!("expected a valid ID number, got {e}"))
    }

    /// Appends the correct check character to 17 digits.
    fn with_check(body: &str) -> String {
        assert_eq!(body.len(), 17);
        format!("{body}{}", char::from(check_character(body.as_bytes())))
    }

    #[test]
    fn public_vectors_are_valid() {
        let cases = [
            (
                "11010519491231002X",
                date(1949, 12, 31),
                Sex::Female,
                IdKind::Resident,
            ),
            (
                "440524188001010014",
                date(1880, 1, 1),
                Sex::Male,
                IdKind::Resident,
            ),
            (
                "810000199408230021",
                date(1994, 8, 23),
                Sex::Female,
                IdKind::HongKongMacauTaiwanPermit,
            ),
            (
                "830000199201300022",
                date(1992, 1, 30),
                Sex::Female,
                IdKind::HongKongMacauTaiwanPermit,
            ),
            (
                "911398199012310021",
                date(1990, 12, 31),
                Sex::Female,
                IdKind::ForeignPermanentResident,
            ),
        ];
        for (input, birth, sex, kind) in cases {
            let id = parse_ok(input);
            assert_eq!(id.as_str(), input);
            assert_eq!(id.birth_date(), birth, "{input}");
            assert_eq!(id.sex(), sex, "{input}");
            assert_eq!(id.kind(), kind, "{input}");
        }
    }

    #[test]
    fn macau_permit_is_told_apart_from_residents() {
        let id = parse_ok(&with_check("82000019800101003"));
        assert_eq!(id.kind(), IdKind::HongKongMacauTaiwanPermit);
        assert_eq!(id.sex(), Sex::Male);
        // Another region starting with 8 is an ordinary resident number.
        assert_eq!(
            parse_ok(&with_check("85000019800101003")).kind(),
            IdKind::Resident
        );
    }

    #[test]
    fn wrong_length_reports_how_many_characters_were_found() {
        assert_eq!(
            parse("11010519491231002").map(|_| ()),
            Err(IdNumberError::Length { found: 17 })
        );
        assert_eq!(
            parse("11010519491231002X1").map(|_| ()),
            Err(IdNumberError::Length { found: 19 })
        );
        assert_eq!(
            parse("   ").map(|_| ()),
            Err(IdNumberError::Length { found: 0 })
        );
        // Characters, not bytes, are counted.
        assert_eq!(
            parse("一二三").map(|_| ()),
            Err(IdNumberError::Length { found: 3 })
        );
        // The legacy 15-digit number is not accepted.
        assert_eq!(
            parse("110105491231002").map(|_| ()),
            Err(IdNumberError::Length { found: 15 })
        );
    }

    #[test]
    fn non_digits_are_rejected_as_characters() {
        for input in [
            "1101051949A231002X",  // letter in the body
            "1101051949X2310029",  // X not in last place
            "X10105194912310029",  // X in first place
            "11010519491231002Y",  // last is neither digit nor X
            "110105 19491231002",  // inner space
            "11010519491231002张", // 18 characters, not ASCII
        ] {
            assert_eq!(
                parse(input).map(|_| ()),
                Err(IdNumberError::Characters),
                "{input}"
            );
        }
    }

    #[test]
    fn first_digit_zero_is_rejected_as_region() {
        let input = with_check("01010519491231002");
        assert_eq!(parse(&input).map(|_| ()), Err(IdNumberError::Region));
    }

    #[test]
    fn impossible_future_and_too_early_dates_are_rejected() {
        for body in [
            "11010519491331002", // month 13
            "11010519490230002", // 30 February
            "11010519490001002", // month 0
            "11010519491200002", // day 0
            "11010519000229002", // 1900 was not a leap year
            "11010520250701002", // the day after `today`
            "11010530000101002", // far future
            "11010517991231002", // before 1800
            "11010500000101002", // year 0
        ] {
            assert_eq!(
                parse(&with_check(body)).map(|_| ()),
                Err(IdNumberError::Date),
                "{body}"
            );
        }
    }

    #[test]
    fn date_bounds_are_inclusive() {
        assert_eq!(
            parse_ok(&with_check("11010520250630002")).birth_date(),
            today()
        );
        assert_eq!(
            parse_ok(&with_check("11010518000101002")).birth_date(),
            date(1800, 1, 1)
        );
        assert_eq!(
            parse_ok(&with_check("11010519000101002")).birth_date(),
            date(1900, 1, 1)
        );
        assert_eq!(
            parse_ok(&with_check("11010520000229002")).birth_date(),
            date(2000, 2, 29)
        );
    }

    #[test]
    fn with_check_character_completes_valid_numbers_only() {
        let full = with_check_character("33052219900101123").unwrap_or_default();
        assert_eq!(full.len(), 18);
        assert!(parse(&full).is_ok(), "{full}");
        assert_eq!(with_check_character("3305221990010112"), None);
        assert_eq!(with_check_character("3305221990010112X"), None);
    }

    #[test]
    fn wrong_check_digit_is_rejected() {
        for input in [
            "110105194912310021",
            "110105194912310029",
            "440524188001010015",
        ] {
            assert_eq!(
                parse(input).map(|_| ()),
                Err(IdNumberError::CheckDigit),
                "{input}"
            );
        }
    }

    #[test]
    fn input_is_trimmed_and_full_width_and_lower_case_x_are_normalised() {
        for input in [
            "  11010519491231002X \t",
            "11010519491231002x",
            "11010519491231002Ｘ",
            "11010519491231002ｘ",
            "１１０１０５１９４９１２３１００２Ｘ",
            "\u{3000}１１０１０５１９４９１２３１００２ｘ\u{3000}",
        ] {
            assert_eq!(parse_ok(input).as_str(), "11010519491231002X", "{input:?}");
        }
    }

    #[test]
    fn masked_keeps_first_six_and_last_four() {
        assert_eq!(
            parse_ok("11010519491231002X").masked(),
            "110105********002X"
        );
        assert_eq!(
            parse_ok("440524188001010014").masked(),
            "440524********0014"
        );
    }

    #[test]
    fn debug_shows_only_the_masked_number() {
        let id = parse_ok("11010519491231002X");
        let debug = format!("{id:?}");
        assert_eq!(debug, "IdNumber(\"110105********002X\")");
        assert!(!debug.contains("11010519491231002X"));
        assert!(!debug.contains("19491231"));
        // Also when nested in another Debug.
        let nested = format!("{:?}", Some(&id));
        assert!(!nested.contains("19491231"));
    }

    #[test]
    fn errors_have_distinct_codes_and_never_echo_the_input() {
        let input = "  1101051949A231002X";
        let errors = [
            IdNumberError::Length { found: 17 },
            IdNumberError::Characters,
            IdNumberError::Region,
            IdNumberError::Date,
            IdNumberError::CheckDigit,
        ];
        let mut codes: Vec<&str> = errors.iter().map(IdNumberError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
        for error in errors {
            assert!(error.code().starts_with("id_number_"));
            assert!(
                error
                    .code()
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c == '_')
            );
            for text in [error.message_zh(), error.to_string(), format!("{error:?}")] {
                assert!(!text.contains("110105"), "{text}");
                assert!(!text.contains(input.trim()), "{text}");
            }
        }
        assert_eq!(
            IdNumberError::Length { found: 17 }.message_zh(),
            "身份证号应为18位，实际为17位"
        );
        assert_eq!(parse(input).map(|_| ()), Err(IdNumberError::Characters));
    }

    #[test]
    fn sex_labels_and_parsing() {
        assert_eq!(Sex::Male.label_zh(), "男");
        assert_eq!(Sex::Female.label_zh(), "女");
        assert_eq!(Sex::parse_zh("男"), Some(Sex::Male));
        assert_eq!(Sex::parse_zh("男性"), Some(Sex::Male));
        assert_eq!(Sex::parse_zh(" 女 "), Some(Sex::Female));
        assert_eq!(Sex::parse_zh("女性"), Some(Sex::Female));
        assert_eq!(Sex::parse_zh("M"), None);
        assert_eq!(Sex::parse_zh(""), None);
        assert_eq!(Sex::parse_zh("男女"), None);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// Days from 1900-01-01 to `today()`, inclusive of both ends.
        fn days_since_1900() -> i64 {
            (today() - date(1900, 1, 1)).num_days()
        }

        fn region() -> impl Strategy<Value = String> {
            prop_oneof![
                (1u32..=9, 0u32..100_000).prop_map(|(first, rest)| format!("{first}{rest:05}")),
                Just("810000".to_owned()),
                Just("820000".to_owned()),
                Just("830000".to_owned()),
            ]
        }

        /// A valid number with the birth date and sex it encodes.
        fn valid_number() -> impl Strategy<Value = (String, NaiveDate, Sex)> {
            (region(), 0..=days_since_1900(), 0u32..1000).prop_map(|(region, days, sequence)| {
                let birth = date(1900, 1, 1) + chrono::Days::new(days.unsigned_abs());
                let body = format!("{region}{}{sequence:03}", birth.format("%Y%m%d"));
                let sex = if sequence % 2 == 1 {
                    Sex::Male
                } else {
                    Sex::Female
                };
                (with_check(&body), birth, sex)
            })
        }

        proptest! {
            #[test]
            fn generated_valid_numbers_parse_and_round_trip(
                (number, birth, sex) in valid_number()
            ) {
                let parsed = IdNumber::parse(&number, today());
                prop_assert!(parsed.is_ok(), "{:?}", parsed.as_ref().err());
                if let Ok(id) = parsed {
                    prop_assert_eq!(id.as_str(), number.as_str());
                    prop_assert_eq!(id.birth_date(), birth);
                    prop_assert_eq!(id.sex(), sex);
                    let expected_kind = match &number[..6] {
                        "810000" | "820000" | "830000" => IdKind::HongKongMacauTaiwanPermit,
                        _ if number.starts_with('9') => IdKind::ForeignPermanentResident,
                        _ => IdKind::Resident,
                    };
                    prop_assert_eq!(id.kind(), expected_kind);
                    let masked = id.masked();
                    prop_assert_eq!(&masked[..6], &number[..6]);
                    prop_assert_eq!(&masked[6..14], "********");
                    prop_assert_eq!(&masked[14..], &number[14..]);
                }
            }

            #[test]
            fn any_single_changed_character_is_rejected(
                (number, _birth, _sex) in valid_number(),
                position in 0usize..ID_NUMBER_LENGTH,
                shift in 1usize..11,
            ) {
                // Replace the character by another of `0`–`9`, `X`: shifting its place in
                // that list by 1–10 never lands on itself.
                const CHOICES: &[u8; 11] = b"0123456789X";
                let mut bytes = number.into_bytes();
                let original = CHOICES.iter().position(|&c| c == bytes[position]).unwrap_or(0);
                bytes[position] = CHOICES[(original + shift) % CHOICES.len()];
                let changed = String::from_utf8(bytes)
                    .unwrap_or_else(|e| panic!("ASCII stays UTF-8: {e}"));
                let parsed = IdNumber::parse(&changed, today());
                prop_assert!(parsed.is_err(), "accepted a changed number");
            }
        }
    }
}

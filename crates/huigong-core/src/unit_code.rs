//! The code identifying an employer (单位组织机构代码证 on the membership notice).
//!
//! Two forms are in use:
//! - the 18-character unified social credit code (统一社会信用代码, GB 32100-2015), and
//! - the legacy 9-character organisation code (组织机构代码, GB 11714-1997), often written
//!   `XXXXXXXX-X`.
//!
//! Characters 9–17 of a credit code are the organisation code of the same unit, so both
//! check characters are verified.

use std::fmt;

use crate::width::to_half_width;

/// Number of characters in a unified social credit code.
pub const CREDIT_CODE_LENGTH: usize = 18;

/// Number of characters in an organisation code, without its hyphen.
pub const ORGANISATION_CODE_LENGTH: usize = 9;

/// The 31 characters of a credit code, in value order: digits, then Latin capitals without
/// I, O, Z, S and V.
const CREDIT_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

/// GB 32100 weights of the first 17 characters.
const CREDIT_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// GB 11714 weights of the 8 body characters.
const ORGANISATION_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

/// Which form a [`UnitCode`] has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitCodeKind {
    /// 18-character unified social credit code.
    CreditCode,
    /// Legacy 9-character organisation code.
    OrganisationCode,
}

/// A validated employer code, stored upper-case and, for a legacy organisation code,
/// without its hyphen (`M000100Y4`, not `M000100Y-4`).
///
/// Not personal data: `Debug` and `Display` show it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UnitCode(String);

impl UnitCode {
    /// Validates and normalises an employer code.
    ///
    /// Normalisation: surrounding whitespace is trimmed, full-width characters are folded to
    /// ASCII and letters are upper-cased. A 10-character input whose 9th character is `-` is
    /// a legacy organisation code written with its hyphen, which is removed.
    ///
    /// An 18-character code must use only the credit-code alphabet
    /// `0123456789ABCDEFGHJKLMNPQRTUWXY` ([`UnitCodeError::Characters`]); its 18th character
    /// must be `alphabet[(31 − S mod 31) mod 31]` with S the sum of the first 17 values
    /// weighted 1,3,9,27,19,26,16,17,20,29,25,13,8,24,10,30,28
    /// ([`UnitCodeError::CreditCodeCheck`]); and characters 9–17 must be a valid
    /// organisation code ([`UnitCodeError::OrganisationCodeCheck`]). The first two
    /// characters (registration authority and unit type) are not restricted to a list.
    ///
    /// A 9-character organisation code has 8 body characters from `0-9A-Z` and a check
    /// character `0-9` or `X` ([`UnitCodeError::Characters`]). With values 0–9 for digits and
    /// A=10 … Z=35, weights 3,7,9,10,5,8,4,2 and C = 11 − (Σ mod 11), the check character is
    /// `X` for C = 10, `0` for C = 11, else the digit C
    /// ([`UnitCodeError::OrganisationCodeCheck`]).
    ///
    /// Any other length is [`UnitCodeError::Length`].
    pub fn parse(input: &str) -> Result<UnitCode, UnitCodeError> {
        let mut chars: Vec<char> = input
            .trim()
            .chars()
            .map(|c| to_half_width(c).to_ascii_uppercase())
            .collect();
        if chars.len() == ORGANISATION_CODE_LENGTH + 1 && chars.get(8) == Some(&'-') {
            chars.remove(8);
        }
        let found = chars.len();
        if found != CREDIT_CODE_LENGTH && found != ORGANISATION_CODE_LENGTH {
            return Err(UnitCodeError::Length { found });
        }
        if !chars.iter().all(char::is_ascii) {
            return Err(UnitCodeError::Characters);
        }
        let value: String = chars.into_iter().collect();
        let bytes = value.as_bytes();

        if found == CREDIT_CODE_LENGTH {
            let (body, check) = bytes.split_at(CREDIT_CODE_LENGTH - 1);
            if !bytes.iter().all(|b| CREDIT_ALPHABET.contains(b)) {
                return Err(UnitCodeError::Characters);
            }
            if check.first() != Some(&credit_check_character(body)) {
                return Err(UnitCodeError::CreditCodeCheck);
            }
            if !is_valid_organisation_code(&bytes[8..17]) {
                return Err(UnitCodeError::OrganisationCodeCheck);
            }
        } else {
            let (body, check) = bytes.split_at(ORGANISATION_CODE_LENGTH - 1);
            let check_ok = check.iter().all(|&b| b.is_ascii_digit() || b == b'X');
            if !body.iter().all(u8::is_ascii_alphanumeric) || !check_ok {
                return Err(UnitCodeError::Characters);
            }
            if !is_valid_organisation_code(bytes) {
                return Err(UnitCodeError::OrganisationCodeCheck);
            }
        }
        Ok(UnitCode(value))
    }

    /// The normalised code: 18 characters, or 9 for a legacy organisation code (no hyphen).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether this is a credit code or a legacy organisation code.
    pub fn kind(&self) -> UnitCodeKind {
        if self.0.len() == CREDIT_CODE_LENGTH {
            UnitCodeKind::CreditCode
        } else {
            UnitCodeKind::OrganisationCode
        }
    }

    /// The 9-character organisation code: characters 9–17 of a credit code, or the whole
    /// legacy code. Lets a unit registered under its old code be matched with its new one.
    pub fn organisation_code(&self) -> &str {
        match self.kind() {
            UnitCodeKind::CreditCode => self.0.get(8..17).unwrap_or_default(),
            UnitCodeKind::OrganisationCode => &self.0,
        }
    }
}

impl fmt::Display for UnitCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a text is not an employer code. No message contains the rejected input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnitCodeError {
    /// Neither 18 characters nor 9 (10 with the hyphen) after trimming; `found` is how many.
    Length { found: usize },
    /// A character outside the alphabet of the code's form.
    Characters,
    /// The 18th character of a credit code does not match its GB 32100 check.
    CreditCodeCheck,
    /// The organisation code (characters 9–17 of a credit code, or the legacy code) does not
    /// match its GB 11714 check.
    OrganisationCodeCheck,
}

impl UnitCodeError {
    /// A stable snake_case identifier for API responses and translations.
    pub fn code(&self) -> &'static str {
        match self {
            UnitCodeError::Length { .. } => "unit_code_length",
            UnitCodeError::Characters => "unit_code_characters",
            UnitCodeError::CreditCodeCheck => "unit_code_credit_check",
            UnitCodeError::OrganisationCodeCheck => "unit_code_organisation_check",
        }
    }

    /// A sentence a clerk can act on, in Chinese.
    pub fn message_zh(&self) -> String {
        match self {
            UnitCodeError::Length { found } => format!(
                "单位代码应为18位统一社会信用代码或9位组织机构代码（可写作XXXXXXXX-X），实际为{found}位"
            ),
            UnitCodeError::Characters => "单位代码含有不允许的字符：统一社会信用代码只用数字和除I、O、Z、S、V以外的大写字母，组织机构代码末位只能是数字或X".to_owned(),
            UnitCodeError::CreditCodeCheck => {
                "统一社会信用代码校验位（第18位）不符，请逐位核对".to_owned()
            }
            UnitCodeError::OrganisationCodeCheck => {
                "组织机构代码校验位不符（统一社会信用代码的第9至17位），请逐位核对".to_owned()
            }
        }
    }
}

impl fmt::Display for UnitCodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnitCodeError::Length { found } => write!(
                f,
                "unit code must have 18 characters (credit code) or 9 (organisation code), \
                 found {found}"
            ),
            UnitCodeError::Characters => f.write_str("unit code contains a character not allowed"),
            UnitCodeError::CreditCodeCheck => {
                f.write_str("credit code check character does not match")
            }
            UnitCodeError::OrganisationCodeCheck => {
                f.write_str("organisation code check character does not match")
            }
        }
    }
}

impl std::error::Error for UnitCodeError {}

/// The GB 32100 check character of 17 characters from [`CREDIT_ALPHABET`].
fn credit_check_character(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .zip(CREDIT_WEIGHTS)
        .map(|(b, weight)| credit_value(*b) * weight)
        .sum();
    let index = (31 - sum % 31) % 31;
    CREDIT_ALPHABET
        .get(index as usize)
        .copied()
        .unwrap_or_default()
}

/// The value of a credit-code character: its position in [`CREDIT_ALPHABET`].
fn credit_value(b: u8) -> u32 {
    CREDIT_ALPHABET
        .iter()
        .zip(0..)
        .find_map(|(&c, value)| (c == b).then_some(value))
        .unwrap_or_default()
}

/// Whether 9 characters (8 from `0-9A-Z`, then `0-9` or `X`) carry a correct GB 11714 check.
fn is_valid_organisation_code(code: &[u8]) -> bool {
    match code.split_at_checked(ORGANISATION_CODE_LENGTH - 1) {
        Some((body, [check])) => organisation_check_character(body) == *check,
        _ => false,
    }
}

/// The GB 11714 check character of 8 body characters from `0-9A-Z`.
fn organisation_check_character(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .zip(ORGANISATION_WEIGHTS)
        .map(|(&b, weight)| organisation_value(b) * weight)
        .sum();
    match 11 - sum % 11 {
        10 => b'X',
        11 => b'0',
        // Between 1 and 9 here.
        c => b'0' + c as u8,
    }
}

/// Digits are worth 0–9 and letters A=10 … Z=35.
fn organisation_value(b: u8) -> u32 {
    match b {
        b'0'..=b'9' => u32::from(b - b'0'),
        b'A'..=b'Z' => u32::from(b - b'A') + 10,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(input: &str) -> UnitCode {
        UnitCode::parse(input).unwrap_or_else(|e| panic!("expected a valid unit code, got {e}"))
    }

    fn parse_err(input: &str) -> UnitCodeError {
        match UnitCode::parse(input) {
            Ok(code) => panic!("expected {input:?} to be rejected, got {code:?}"),
            Err(e) => e,
        }
    }

    /// Completes 16 credit-code characters with the organisation check (character 17) and
    /// the credit check (character 18).
    fn complete_credit_code(first16: &str) -> String {
        let org_check = organisation_check_character(&first16.as_bytes()[8..16]);
        let mut body = first16.as_bytes().to_vec();
        body.push(org_check);
        let check = credit_check_character(&body);
        body.push(check);
        String::from_utf8(body).unwrap_or_else(|e| panic!("ASCII stays UTF-8: {e}"))
    }

    #[test]
    fn published_credit_codes_are_valid() {
        for (input, organisation) in [
            ("91350100M000100Y43", "M000100Y4"),
            ("9135052155323005XL", "55323005X"),
        ] {
            let code = parse_ok(input);
            assert_eq!(code.as_str(), input);
            assert_eq!(code.kind(), UnitCodeKind::CreditCode);
            assert_eq!(code.organisation_code(), organisation);
        }
    }

    #[test]
    fn credit_code_is_trimmed_and_upper_cased() {
        assert_eq!(
            parse_ok(" 91350100m000100y43\t").as_str(),
            "91350100M000100Y43"
        );
        assert_eq!(
            parse_ok("９１３５０５２１５５３２３００５ｘｌ").as_str(),
            "9135052155323005XL"
        );
    }

    #[test]
    fn first_two_characters_are_not_restricted() {
        // Unions hold codes starting with 81.
        let code = complete_credit_code("81330522M000100Y");
        assert!(code.starts_with("81"));
        assert_eq!(parse_ok(&code).kind(), UnitCodeKind::CreditCode);
        let code = complete_credit_code("Y1330522M000100Y");
        assert_eq!(parse_ok(&code).kind(), UnitCodeKind::CreditCode);
    }

    #[test]
    fn legacy_organisation_codes_with_and_without_hyphen() {
        // Characters 9–17 of the two credit codes above.
        for (plain, hyphenated) in [("M000100Y4", "M000100Y-4"), ("55323005X", "55323005-X")] {
            for input in [
                plain,
                hyphenated,
                &plain.to_lowercase(),
                &format!(" {hyphenated} "),
            ] {
                let code = parse_ok(input);
                assert_eq!(code.as_str(), plain, "{input:?}");
                assert_eq!(code.kind(), UnitCodeKind::OrganisationCode);
                assert_eq!(code.organisation_code(), plain);
                assert_eq!(code.to_string(), plain);
            }
        }
        // Letters excluded from credit codes are allowed in a legacy body.
        let body = "IOZSV123";
        let legacy = format!(
            "{body}{}",
            char::from(organisation_check_character(body.as_bytes()))
        );
        assert_eq!(parse_ok(&legacy).as_str(), legacy);
    }

    #[test]
    fn check_character_ten_and_eleven() {
        // Σ mod 11 = 1 gives C = 10, written X (the published vector 55323005X).
        assert_eq!(organisation_check_character(b"55323005"), b'X');
        // Σ mod 11 = 0 gives C = 11, written 0.
        assert_eq!(organisation_check_character(b"00000000"), b'0');
        assert_eq!(parse_ok("00000000-0").as_str(), "000000000");
    }

    #[test]
    fn wrong_length() {
        assert_eq!(
            parse_err("91350100M000100Y4"),
            UnitCodeError::Length { found: 17 }
        );
        assert_eq!(
            parse_err("91350100M000100Y431"),
            UnitCodeError::Length { found: 19 }
        );
        assert_eq!(parse_err(""), UnitCodeError::Length { found: 0 });
        // A hyphen anywhere but before the check character.
        assert_eq!(parse_err("M000-100Y4"), UnitCodeError::Length { found: 10 });
        assert_eq!(
            parse_err("9135 0100M000100Y43"),
            UnitCodeError::Length { found: 19 }
        );
    }

    #[test]
    fn characters_outside_the_alphabet() {
        // I, O, Z, S, V are not used in credit codes.
        for c in ['I', 'O', 'Z', 'S', 'V', '-', '*'] {
            let input = format!("9135010{c}M000100Y43");
            assert_eq!(parse_err(&input), UnitCodeError::Characters, "{input}");
        }
        assert_eq!(parse_err("91350100M000100Y4张"), UnitCodeError::Characters);
        assert_eq!(parse_err("M000100YA"), UnitCodeError::Characters);
        assert_eq!(parse_err("M000-100Y"), UnitCodeError::Characters);
        assert_eq!(parse_err("M000100Y-*"), UnitCodeError::Characters);
    }

    #[test]
    fn wrong_credit_check() {
        assert_eq!(
            parse_err("91350100M000100Y44"),
            UnitCodeError::CreditCodeCheck
        );
        assert_eq!(
            parse_err("9135052155323005XM"),
            UnitCodeError::CreditCodeCheck
        );
    }

    #[test]
    fn wrong_embedded_organisation_check() {
        // Organisation check 5 instead of 4, with the credit check recomputed to match.
        let mut body = b"91350100M000100Y5".to_vec();
        body.push(credit_check_character(&body));
        let input = String::from_utf8(body).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parse_err(&input), UnitCodeError::OrganisationCodeCheck);
    }

    #[test]
    fn wrong_legacy_check() {
        assert_eq!(parse_err("M000100Y5"), UnitCodeError::OrganisationCodeCheck);
        assert_eq!(
            parse_err("55323005-0"),
            UnitCodeError::OrganisationCodeCheck
        );
    }

    #[test]
    fn errors_have_distinct_codes_and_never_echo_the_input() {
        let errors = [
            UnitCodeError::Length { found: 17 },
            UnitCodeError::Characters,
            UnitCodeError::CreditCodeCheck,
            UnitCodeError::OrganisationCodeCheck,
        ];
        let mut codes: Vec<&str> = errors.iter().map(UnitCodeError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
        for error in errors {
            assert!(error.code().starts_with("unit_code_"));
            for text in [error.message_zh(), error.to_string()] {
                assert!(!text.contains("9135"), "{text}");
            }
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn credit_char() -> impl Strategy<Value = u8> {
            proptest::sample::select(CREDIT_ALPHABET.to_vec())
        }

        /// A valid credit code from 16 random characters of the credit alphabet.
        fn valid_credit_code() -> impl Strategy<Value = String> {
            proptest::collection::vec(credit_char(), 16).prop_map(|first16| {
                let first16 = String::from_utf8(first16).unwrap_or_else(|e| panic!("ASCII: {e}"));
                complete_credit_code(&first16)
            })
        }

        proptest! {
            #[test]
            fn generated_credit_codes_parse(code in valid_credit_code()) {
                let parsed = UnitCode::parse(&code);
                prop_assert!(parsed.is_ok(), "{:?}", parsed.as_ref().err());
                if let Ok(unit) = parsed {
                    prop_assert_eq!(unit.as_str(), code.as_str());
                    prop_assert_eq!(unit.kind(), UnitCodeKind::CreditCode);
                    // Its organisation code is valid on its own, with and without hyphen.
                    let organisation = unit.organisation_code();
                    let legacy = UnitCode::parse(organisation);
                    prop_assert!(legacy.is_ok(), "{:?}", legacy.as_ref().err());
                    let hyphenated = format!("{}-{}", &organisation[..8], &organisation[8..]);
                    let legacy = UnitCode::parse(&hyphenated);
                    prop_assert_eq!(
                        legacy.as_ref().map(UnitCode::as_str),
                        Ok(organisation)
                    );
                }
            }

            #[test]
            fn any_single_changed_character_is_rejected(
                code in valid_credit_code(),
                position in 0usize..CREDIT_CODE_LENGTH,
                shift in 1usize..36,
            ) {
                // Replace the character by another of `0`–`9`, `A`–`Z` (including the
                // letters credit codes exclude): shifting its place in that list by 1–35
                // never lands on itself.
                const CHOICES: &[u8; 36] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
                let mut bytes = code.into_bytes();
                let original = CHOICES.iter().position(|&c| c == bytes[position]).unwrap_or(0);
                bytes[position] = CHOICES[(original + shift) % CHOICES.len()];
                let changed = String::from_utf8(bytes)
                    .unwrap_or_else(|e| panic!("ASCII stays UTF-8: {e}"));
                prop_assert!(UnitCode::parse(&changed).is_err(), "accepted a changed code");
            }
        }
    }
}

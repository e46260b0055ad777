//! Telephone numbers: a member's mainland mobile number and an organisation's contact phone.
//!
//! A mobile number is personal data: [`Mobile`]'s `Debug` prints only the masked form, it has
//! no `Display`, and no error message ever contains the input.

use std::fmt;

use crate::width::to_half_width;

/// Number of digits in a mainland mobile number.
pub const MOBILE_LENGTH: usize = 11;

/// Longest extension accepted after a landline number.
const MAX_EXTENSION_LENGTH: usize = 6;

/// A mainland China mobile number: 11 digits matching `1[3-9]\d{9}`, stored without prefix
/// or separators.
///
/// Construct it with [`Mobile::parse`]. `Debug` prints only [`Mobile::masked`].
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Mobile(String);

impl Mobile {
    /// Validates and normalises a mobile number.
    ///
    /// Normalisation: surrounding whitespace is trimmed, full-width characters are folded to
    /// ASCII, spaces and hyphens (`-`, and the dashes `–` `—`) inside are removed, and a
    /// leading `+86`, or `86` followed by 11 digits, is removed.
    ///
    /// Then, in order: only digits may remain ([`PhoneError::Characters`]; an empty input is
    /// [`PhoneError::Empty`]), there must be 11 ([`PhoneError::MobileLength`]), and they must
    /// start with 13–19 ([`PhoneError::MobilePrefix`]).
    pub fn parse(input: &str) -> Result<Mobile, PhoneError> {
        let text = normalise(input);
        if text.is_empty() {
            return Err(PhoneError::Empty);
        }
        let compact: String = text.chars().filter(|&c| !is_separator(c)).collect();
        let digits = match compact.strip_prefix("+86") {
            Some(rest) => rest,
            None => match compact.strip_prefix("86") {
                Some(rest) if rest.len() == MOBILE_LENGTH => rest,
                _ => compact.as_str(),
            },
        };
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(PhoneError::Characters);
        }
        if digits.len() != MOBILE_LENGTH {
            return Err(PhoneError::MobileLength {
                found: digits.len(),
            });
        }
        let mut leading = digits.bytes();
        if leading.next() != Some(b'1') || !matches!(leading.next(), Some(b'3'..=b'9')) {
            return Err(PhoneError::MobilePrefix);
        }
        Ok(Mobile(digits.to_owned()))
    }

    /// The 11 digits. This is personal data: do not log it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 3 and last 4 digits with the 4 between replaced by `*`: `138****5678`.
    pub fn masked(&self) -> String {
        let chars: Vec<char> = self.0.chars().collect();
        crate::mask::keep_ends(&chars, 3, 4)
    }
}

impl fmt::Debug for Mobile {
    /// Prints only the masked form: `Mobile("138****5678")`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Mobile").field(&self.masked()).finish()
    }
}

/// A landline number with area code, e.g. `0572-6022447` or `010-12345678-123`.
///
/// Shape: an area code of `0` and 2–3 digits, a local number of 7–8 digits, an optional
/// extension of 1–6 digits. The separator between area code and number is optional; before
/// an extension it is required. The stored text is normalised: full-width characters folded,
/// and each run of spaces or hyphens between groups written as a single `-`.
///
/// An organisation's phone is not personal data, so `Debug` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Landline(String);

impl Landline {
    /// Validates and normalises a landline number; see [`Landline`] for the accepted shape.
    /// Errors are [`PhoneError::Empty`], [`PhoneError::Characters`] or
    /// [`PhoneError::Landline`].
    pub fn parse(input: &str) -> Result<Landline, PhoneError> {
        let text = normalise(input);
        if text.is_empty() {
            return Err(PhoneError::Empty);
        }
        if !text.chars().all(|c| c.is_ascii_digit() || is_separator(c)) {
            return Err(PhoneError::Characters);
        }
        let groups: Vec<&str> = text.split(is_separator).filter(|g| !g.is_empty()).collect();
        let valid = match groups.as_slice() {
            [all] => is_area_and_number(all),
            [first, second] => {
                (is_area_code(first) && is_local_number(second))
                    || (is_area_and_number(first) && is_extension(second))
            }
            [area, number, extension] => {
                is_area_code(area) && is_local_number(number) && is_extension(extension)
            }
            _ => false,
        };
        if valid {
            Ok(Landline(groups.join("-")))
        } else {
            Err(PhoneError::Landline)
        }
    }

    /// The normalised text, e.g. `0572-6022447`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How to reach an organisation: a mobile or a landline number.
///
/// `Debug` masks a mobile number and shows a landline.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ContactPhone {
    Mobile(Mobile),
    Landline(Landline),
}

impl ContactPhone {
    /// Reads a contact phone.
    ///
    /// After trimming and folding full-width characters: text whose digits start with `0` is
    /// read as a [`Landline`]; text starting with `1` or `+`, or `86` followed by 11 digits,
    /// as a [`Mobile`]. Anything
    /// else is [`PhoneError::Landline`] (most likely a local number without its area code).
    /// Characters other than digits, spaces, hyphens and a leading `+` are
    /// [`PhoneError::Characters`].
    pub fn parse(input: &str) -> Result<ContactPhone, PhoneError> {
        let text = normalise(input);
        let compact: String = text.chars().filter(|&c| !is_separator(c)).collect();
        if compact.starts_with('0') {
            Landline::parse(&text).map(ContactPhone::Landline)
        } else if compact.is_empty()
            || compact.starts_with(['1', '+'])
            || (compact.starts_with("86") && compact.len() == 2 + MOBILE_LENGTH)
        {
            Mobile::parse(&text).map(ContactPhone::Mobile)
        } else if !compact.chars().all(|c| c.is_ascii_digit()) {
            Err(PhoneError::Characters)
        } else {
            Err(PhoneError::Landline)
        }
    }

    /// The normalised text: the 11 digits of a mobile, or the landline as in
    /// [`Landline::as_str`].
    pub fn as_str(&self) -> &str {
        match self {
            ContactPhone::Mobile(mobile) => mobile.as_str(),
            ContactPhone::Landline(landline) => landline.as_str(),
        }
    }
}

/// Why a text is not a phone number. No variant carries, and no message contains, the
/// rejected input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhoneError {
    /// Nothing but whitespace.
    Empty,
    /// A character other than digits, spaces, hyphens and a leading `+86`.
    Characters,
    /// Not 11 digits once separators and the `+86` prefix are removed; `found` is how many.
    MobileLength { found: usize },
    /// 11 digits that do not start with 13–19.
    MobilePrefix,
    /// Not the shape of a landline number with area code.
    Landline,
}

impl PhoneError {
    /// A stable snake_case identifier for API responses and translations.
    pub fn code(&self) -> &'static str {
        match self {
            PhoneError::Empty => "phone_empty",
            PhoneError::Characters => "phone_characters",
            PhoneError::MobileLength { .. } => "phone_mobile_length",
            PhoneError::MobilePrefix => "phone_mobile_prefix",
            PhoneError::Landline => "phone_landline",
        }
    }

    /// A sentence a clerk can act on, in Chinese.
    pub fn message_zh(&self) -> String {
        match self {
            PhoneError::Empty => "请填写电话号码".to_owned(),
            PhoneError::Characters => {
                "电话号码只能包含数字、空格和连字符（-），手机号可带+86前缀".to_owned()
            }
            PhoneError::MobileLength { found } => {
                format!("手机号应为11位数字，实际为{found}位")
            }
            PhoneError::MobilePrefix => "手机号应以13至19开头".to_owned(),
            PhoneError::Landline => "固定电话应为区号加号码，如0572-6022447：区号以0开头共3至4位，号码7至8位，分机号最多6位".to_owned(),
        }
    }
}

impl fmt::Display for PhoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PhoneError::Empty => f.write_str("phone number is empty"),
            PhoneError::Characters => f.write_str(
                "phone number may contain only digits, spaces, hyphens and a leading +86",
            ),
            PhoneError::MobileLength { found } => {
                write!(f, "mobile number must have 11 digits, found {found}")
            }
            PhoneError::MobilePrefix => f.write_str("mobile number must start with 13 to 19"),
            PhoneError::Landline => f.write_str(
                "landline must be an area code (0 and 2-3 digits), 7-8 digits \
                 and an optional extension of up to 6 digits",
            ),
        }
    }
}

impl std::error::Error for PhoneError {}

/// Trims and folds full-width characters to ASCII. Does not validate.
fn normalise(input: &str) -> String {
    input.trim().chars().map(to_half_width).collect()
}

/// Spaces and hyphens allowed between groups of digits.
fn is_separator(c: char) -> bool {
    c.is_whitespace() || matches!(c, '-' | '–' | '—')
}

fn all_digits(group: &str) -> bool {
    group.bytes().all(|b| b.is_ascii_digit())
}

/// `0` followed by 2–3 digits.
fn is_area_code(group: &str) -> bool {
    (3..=4).contains(&group.len()) && group.starts_with('0') && all_digits(group)
}

/// 7–8 digits.
fn is_local_number(group: &str) -> bool {
    (7..=8).contains(&group.len()) && all_digits(group)
}

/// An area code directly followed by a local number: `0` and 9–11 more digits.
fn is_area_and_number(group: &str) -> bool {
    (10..=12).contains(&group.len()) && group.starts_with('0') && all_digits(group)
}

/// 1–6 digits.
fn is_extension(group: &str) -> bool {
    (1..=MAX_EXTENSION_LENGTH).contains(&group.len()) && all_digits(group)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mobile(input: &str) -> Mobile {
        Mobile::parse(input).unwrap_or_else(|e| panic!("expected a valid mobile, got {e}"))
    }

    fn contact(input: &str) -> ContactPhone {
        ContactPhone::parse(input)
            .unwrap_or_else(|e| panic!("expected a valid contact phone, got {e}"))
    }

    #[test]
    fn mobiles_are_normalised() {
        for input in [
            "13812345678",
            " 13812345678 ",
            "138 1234 5678",
            "138-1234-5678",
            "+8613812345678",
            "+86 138 1234 5678",
            "8613812345678",
            "１３８１２３４５６７８",
            "＋８６　１３８－１２３４－５６７８",
        ] {
            assert_eq!(mobile(input).as_str(), "13812345678", "{input:?}");
        }
        for prefix in 13..=19 {
            let input = format!("{prefix}012345678");
            assert_eq!(mobile(&input).as_str(), input);
        }
    }

    #[test]
    fn mobile_rejections_have_their_own_reason() {
        let cases = [
            ("", PhoneError::Empty),
            ("  ", PhoneError::Empty),
            ("138123456a8", PhoneError::Characters),
            ("(138)12345678", PhoneError::Characters),
            ("138+12345678", PhoneError::Characters),
            ("1381234567", PhoneError::MobileLength { found: 10 }),
            ("138123456789", PhoneError::MobileLength { found: 12 }),
            ("+86138123456", PhoneError::MobileLength { found: 9 }),
            ("12812345678", PhoneError::MobilePrefix),
            ("10012345678", PhoneError::MobilePrefix),
            ("23812345678", PhoneError::MobilePrefix),
            ("05726022447", PhoneError::MobilePrefix),
        ];
        for (input, expected) in cases {
            assert_eq!(Mobile::parse(input).map(|_| ()), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn mobile_is_masked_and_debug_shows_only_the_mask() {
        let m = mobile("13812345678");
        assert_eq!(m.masked(), "138****5678");
        let debug = format!("{m:?}");
        assert_eq!(debug, "Mobile(\"138****5678\")");
        assert!(!debug.contains("13812345678"));
        let contact_debug = format!("{:?}", contact("13812345678"));
        assert!(!contact_debug.contains("1234"), "{contact_debug}");
    }

    #[test]
    fn contact_phone_accepts_mobiles_and_landlines() {
        assert_eq!(
            contact("+86 138-1234-5678"),
            ContactPhone::Mobile(mobile("13812345678"))
        );
        let cases = [
            ("0572-6022447", "0572-6022447"),
            ("05726022447", "05726022447"),
            ("0572 6022447", "0572-6022447"),
            ("０５７２－６０２２４４７", "0572-6022447"),
            ("010-12345678", "010-12345678"),
            ("010-12345678-123", "010-12345678-123"),
            ("0572-6022447-123456", "0572-6022447-123456"),
            ("05726022447-8", "05726022447-8"),
            (" 021 - 87654321 ", "021-87654321"),
        ];
        for (input, normalised) in cases {
            let phone = contact(input);
            assert!(matches!(phone, ContactPhone::Landline(_)), "{input:?}");
            assert_eq!(phone.as_str(), normalised, "{input:?}");
        }
    }

    #[test]
    fn contact_phone_rejections() {
        let cases = [
            ("", PhoneError::Empty),
            ("0572-602244", PhoneError::Landline), // 6-digit local number
            ("0572-602244789", PhoneError::Landline), // 9-digit local number
            ("05-6022447", PhoneError::Landline),  // area code too short
            ("05721-6022447", PhoneError::Landline), // area code too long
            ("0572-6022447-1234567", PhoneError::Landline), // extension too long
            ("0572-6022447-1-2", PhoneError::Landline), // too many groups
            ("6022447", PhoneError::Landline),     // no area code
            ("0572-6022447转123", PhoneError::Characters),
            ("phone", PhoneError::Characters),
            ("1381234567", PhoneError::MobileLength { found: 10 }),
            ("12812345678", PhoneError::MobilePrefix),
        ];
        for (input, expected) in cases {
            assert_eq!(
                ContactPhone::parse(input).map(|_| ()),
                Err(expected),
                "{input:?}"
            );
        }
    }

    #[test]
    fn errors_have_distinct_codes_and_never_echo_the_input() {
        let errors = [
            PhoneError::Empty,
            PhoneError::Characters,
            PhoneError::MobileLength { found: 10 },
            PhoneError::MobilePrefix,
            PhoneError::Landline,
        ];
        let mut codes: Vec<&str> = errors.iter().map(PhoneError::code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), errors.len());
        for error in errors {
            assert!(error.code().starts_with("phone_"));
            for text in [error.message_zh(), error.to_string()] {
                assert!(!text.contains("1381234567"), "{text}");
            }
        }
        assert_eq!(
            PhoneError::MobileLength { found: 10 }.message_zh(),
            "手机号应为11位数字，实际为10位"
        );
    }
}

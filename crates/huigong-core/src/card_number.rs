//! 惠工卡 card numbers: 16 digits, a fixed issuer prefix, random digits and a Luhn check digit.
//!
//! A card number is never derived from the holder's ID number: the random part comes from the
//! caller (the store draws it from a CSPRNG), so the number says nothing about the person.

/// The issuer prefix of every card number (8 = not a bank card, then the county's region
/// code 330522 shortened to 33052).
pub const CARD_PREFIX: &str = "833052";

/// Length of a card number, check digit included.
pub const CARD_NUMBER_LEN: usize = 16;

/// How many random digits follow the prefix.
const RANDOM_DIGITS: usize = CARD_NUMBER_LEN - CARD_PREFIX.len() - 1;

/// The Luhn check digit for `body` (digits only).
fn luhn_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    b'0' + ((10 - (sum % 10)) % 10) as u8
}

/// A card number from a random value: the prefix, the value's lowest digits (zero-padded) and
/// the check digit.
pub fn card_number_from_random(random: u64) -> String {
    let modulus = 10u64.pow(RANDOM_DIGITS as u32);
    let mut body = format!(
        "{CARD_PREFIX}{:0width$}",
        random % modulus,
        width = RANDOM_DIGITS
    );
    let check = luhn_digit(body.as_bytes());
    body.push(char::from(check));
    body
}

/// Whether `text` is a well-formed card number: 16 digits, our prefix, a correct check digit.
pub fn is_valid_card_number(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.len() == CARD_NUMBER_LEN
        && bytes.iter().all(u8::is_ascii_digit)
        && text.starts_with(CARD_PREFIX)
        && luhn_digit(&bytes[..CARD_NUMBER_LEN - 1]) == bytes[CARD_NUMBER_LEN - 1]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_luhn_values() {
        // The classic example: 7992739871 has check digit 3.
        assert_eq!(luhn_digit(b"7992739871"), b'3');
        assert_eq!(luhn_digit(b"0"), b'0');
    }

    #[test]
    fn numbers_have_the_prefix_length_and_check_digit() {
        for random in [0, 1, 999_999_999, u64::MAX] {
            let n = card_number_from_random(random);
            assert_eq!(n.len(), CARD_NUMBER_LEN, "{n}");
            assert!(n.starts_with(CARD_PREFIX));
            assert!(is_valid_card_number(&n), "{n}");
        }
    }

    proptest! {
        #[test]
        fn any_single_changed_digit_is_caught(random in any::<u64>(), pos in 0usize..16, delta in 1u8..10) {
            let n = card_number_from_random(random);
            let mut bytes = n.into_bytes();
            bytes[pos] = b'0' + (bytes[pos] - b'0' + delta) % 10;
            let changed = String::from_utf8(bytes).unwrap_or_default();
            prop_assert!(!is_valid_card_number(&changed));
        }
    }
}

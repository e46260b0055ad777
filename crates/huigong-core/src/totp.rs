//! One-time codes of authenticator apps: TOTP (RFC 6238) over HOTP (RFC 4226).
//!
//! The profile every authenticator app understands: HMAC-SHA-1, 6 digits, 30-second steps
//! counted from the Unix epoch. A code is accepted for the current step and one step either side
//! (clock drift of the phone); the caller refuses a step it has already accepted, so a code
//! works once. Time always comes from the caller (a [`crate::Clock`]), never from here.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha1::Sha1;
use subtle::ConstantTimeEq;

/// Seconds per time step.
pub const STEP_SECS: i64 = 30;
/// Digits of a code.
pub const DIGITS: u32 = 6;
/// Steps accepted on either side of the current one.
pub const WINDOW: i64 = 1;
/// Bytes of a new secret (160 bits, the HMAC-SHA-1 block recommendation of RFC 4226).
pub const SECRET_LEN: usize = 20;

/// HOTP (RFC 4226 §5.3): HMAC-SHA-1 of the big-endian counter, dynamically truncated, modulo
/// `10^digits`.
pub fn hotp(key: &[u8], counter: u64, digits: u32) -> u32 {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(key) else {
        return 0;
    };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[digest.len() - 1] & 0x0f);
    let binary = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    binary % 10u32.pow(digits)
}

/// The time step of `at` (RFC 6238 `T`, with `T0 = 0` and `X = 30`).
pub fn step_at(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(STEP_SECS)
}

/// The 6-digit code of `step`, zero-padded.
pub fn code_at_step(key: &[u8], step: i64) -> String {
    let counter = u64::try_from(step).unwrap_or(0);
    format!(
        "{:0width$}",
        hotp(key, counter, DIGITS),
        width = DIGITS as usize
    )
}

/// The code an authenticator shows at `at`.
pub fn code_at(key: &[u8], at: DateTime<Utc>) -> String {
    code_at_step(key, step_at(at))
}

/// Checks `code` against the steps around `now` and returns the step it belongs to, if any.
///
/// Only steps after `last_accepted` count: a code already used (or older than one already
/// used) is refused. Spaces in the code are ignored; anything but 6 digits never matches.
/// Every candidate is compared in constant time.
pub fn verify(
    key: &[u8],
    code: &str,
    now: DateTime<Utc>,
    last_accepted: Option<i64>,
) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step_at(now);
    let mut matched = None;
    for step in (current - WINDOW)..=(current + WINDOW) {
        let expected = code_at_step(key, step);
        let equal: bool = expected.as_bytes().ct_eq(code.as_bytes()).into();
        if equal && last_accepted.is_none_or(|last| step > last) {
            matched = Some(step);
        }
    }
    matched
}

const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// Base32 (RFC 4648) without padding, as authenticator apps take secrets.
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(BASE32[((buffer >> bits) & 0x1f) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(BASE32[((buffer << (5 - bits)) & 0x1f) as usize]));
    }
    out
}

/// Decodes base32 (upper or lower case, padding and spaces ignored); `None` if not base32.
pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let mut buffer: u32 = 0;
    let mut bits = 0u32;
    for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
        let c = c.to_ascii_uppercase();
        let value = BASE32.iter().position(|&a| char::from(a) == c)?;
        buffer = (buffer << 5) | value as u32;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

/// The `otpauth://` URI authenticator apps scan (Google Authenticator key URI format).
pub fn otpauth_url(issuer: &str, account: &str, secret_base32: &str) -> String {
    let issuer = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer}:{account}?secret={secret_base32}&issuer={issuer}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        account = percent_encode(account),
    )
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC_KEY: &[u8] = b"12345678901234567890";

    fn at(unix: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(unix, 0).unwrap_or_default()
    }

    #[test]
    fn hotp_matches_rfc_4226_appendix_d() {
        let expected = [
            755224, 287082, 359152, 969429, 338314, 254676, 287922, 162583, 399871, 520489,
        ];
        for (counter, code) in expected.iter().enumerate() {
            assert_eq!(hotp(RFC_KEY, counter as u64, 6), *code, "counter {counter}");
        }
    }

    #[test]
    fn totp_matches_rfc_6238_appendix_b_sha1() {
        let vectors = [
            (59, 94287082),
            (1111111109, 7081804),
            (1111111111, 14050471),
            (1234567890, 89005924),
            (2000000000, 69279037),
            (20000000000, 65353130),
        ];
        for (unix, code) in vectors {
            let step = u64::try_from(step_at(at(unix))).unwrap_or_default();
            assert_eq!(hotp(RFC_KEY, step, 8), code, "T = {unix}");
            // The 6-digit profile is the same value's last six digits.
            assert_eq!(
                code_at(RFC_KEY, at(unix)),
                format!("{:06}", code % 1_000_000)
            );
        }
    }

    #[test]
    fn verify_accepts_one_step_of_drift_and_names_the_step() {
        let now = at(1_700_000_000);
        let step = step_at(now);
        for offset in [-1, 0, 1] {
            let code = code_at_step(RFC_KEY, step + offset);
            assert_eq!(verify(RFC_KEY, &code, now, None), Some(step + offset));
        }
        for offset in [-3, -2, 2, 3] {
            let code = code_at_step(RFC_KEY, step + offset);
            assert_eq!(verify(RFC_KEY, &code, now, None), None, "offset {offset}");
        }
    }

    #[test]
    fn verify_refuses_steps_already_used() {
        let now = at(1_700_000_000);
        let step = step_at(now);
        let code = code_at_step(RFC_KEY, step);
        assert_eq!(verify(RFC_KEY, &code, now, Some(step)), None);
        assert_eq!(verify(RFC_KEY, &code, now, Some(step + 1)), None);
        assert_eq!(verify(RFC_KEY, &code, now, Some(step - 1)), Some(step));
        let previous = code_at_step(RFC_KEY, step - 1);
        assert_eq!(verify(RFC_KEY, &previous, now, Some(step - 1)), None);
    }

    #[test]
    fn verify_wants_six_digits() {
        let now = at(1_700_000_000);
        let code = code_at(RFC_KEY, now);
        let spaced = format!("{} {}", &code[..3], &code[3..]);
        assert!(verify(RFC_KEY, &spaced, now, None).is_some());
        for bad in ["", "12345", "1234567", "abcdef", &format!("{code}0")] {
            assert_eq!(verify(RFC_KEY, bad, now, None), None, "{bad:?}");
        }
    }

    #[test]
    fn base32_round_trips_and_matches_rfc_4648() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_encode(b"fooba"), "MZXW6YTB");
        assert_eq!(base32_encode(b"f"), "MY");
        assert_eq!(base32_decode("MZXW6YTBOI======"), Some(b"foobar".to_vec()));
        assert_eq!(base32_decode("mzxw 6ytb"), Some(b"fooba".to_vec()));
        assert_eq!(base32_decode("MZ1"), None);
        let secret: Vec<u8> = (0u8..20).collect();
        assert_eq!(base32_decode(&base32_encode(&secret)), Some(secret));
    }

    #[test]
    fn otpauth_url_escapes_issuer_and_account() {
        let url = otpauth_url("惠工", "admin one", "MZXW6YTB");
        assert!(url.starts_with("otpauth://totp/%E6%83%A0%E5%B7%A5:admin%20one?secret=MZXW6YTB"));
        assert!(url.contains("&digits=6&period=30"));
    }
}

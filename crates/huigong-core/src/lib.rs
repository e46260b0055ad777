//! Pure domain of Huigong: the vocabulary every other crate shares.
//!
//! Nothing here performs I/O or depends on a web or database framework.
//!
//! - [`card_number`]: 惠工卡 numbers (issuer prefix, random digits, Luhn check digit).
//! - [`clock`], [`role`], [`secret`]: time as a dependency, authorisation roles, secret text.
//! - [`id_number`]: Chinese identity numbers (GB 11643), with the birth date, sex and kind of
//!   document they encode.
//! - [`unit_code`]: an employer's unified social credit code (GB 32100) or legacy
//!   organisation code (GB 11714).
//! - [`phone`]: a member's mobile number and an organisation's contact phone.
//! - [`totp`]: one-time codes of authenticator apps (RFC 6238 TOTP over RFC 4226 HOTP).
//! - [`period`]: report months and half-years in Beijing time; [`subsidy`]: the 建会补助 rule.
//! - [`mask`]: masking of names, identity numbers, mobile numbers and addresses for display
//!   and logs.
//!
//! Values that are personal data ([`IdNumber`], [`Mobile`]) print only their masked form with
//! `Debug`, have no `Display`, and their parse errors never contain the input.

pub mod card_number;
pub mod clock;
pub mod id_number;
pub mod labels;
pub mod mask;
pub mod period;
pub mod phone;
pub mod role;
pub mod secret;
pub mod subsidy;
pub mod totp;
pub mod unit_code;
mod width;

pub use clock::{Clock, FixedClock, SystemClock};
pub use id_number::{IdKind, IdNumber, IdNumberError, Sex};
pub use mask::{ShownPerson, mask_address, mask_id_number, mask_mobile, mask_name, shown_contact};
pub use phone::{ContactPhone, Landline, Mobile, PhoneError};
pub use role::Role;
pub use secret::Secret;
pub use unit_code::{UnitCode, UnitCodeError, UnitCodeKind};

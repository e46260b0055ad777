//! Calls that need the access token: the user's phone number, subscribe messages and
//! mini-program codes.

use crate::{WechatClient, WechatError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The phone number the user agreed to share (`getuserphonenumber`'s `phone_info`).
/// Personal data: `Debug` shows the masked number only.
#[derive(Clone, Deserialize)]
pub struct PhoneInfo {
    /// With the country code for numbers outside mainland China.
    #[serde(rename = "phoneNumber")]
    pub phone_number: String,
    /// Without country code.
    #[serde(rename = "purePhoneNumber")]
    pub pure_phone_number: String,
    #[serde(rename = "countryCode")]
    pub country_code: String,
}

impl std::fmt::Debug for PhoneInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhoneInfo")
            .field(
                "pure_phone_number",
                &huigong_core::mask::mask_mobile(&self.pure_phone_number),
            )
            .field("country_code", &self.country_code)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct PhoneAnswer {
    phone_info: PhoneInfo,
}

#[derive(Serialize)]
struct PhoneRequest<'a> {
    code: &'a str,
    /// The user the code must belong to: WeChat refuses another user's code (40029).
    openid: &'a str,
}

/// Which version of the mini program a subscribe message opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MiniprogramState {
    Developer,
    Trial,
    Formal,
}

/// One subscribe message (`/cgi-bin/message/subscribe/send`).
#[derive(Debug, Clone, Serialize)]
pub struct SubscribeMessage {
    /// The recipient's openid.
    pub touser: String,
    pub template_id: String,
    /// The mini-program page the message opens, with its query.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page: Option<String>,
    /// The template's fields: `{"thing1": {"value": "…"}}`.
    pub data: BTreeMap<String, TemplateValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miniprogram_state: Option<MiniprogramState>,
    /// `zh_CN` unless said otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lang: Option<String>,
}

/// One template field's value.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct TemplateValue {
    pub value: String,
}

impl SubscribeMessage {
    /// A message with the given fields and no page, state or language.
    pub fn new(touser: impl Into<String>, template_id: impl Into<String>) -> Self {
        Self {
            touser: touser.into(),
            template_id: template_id.into(),
            page: None,
            data: BTreeMap::new(),
            miniprogram_state: None,
            lang: None,
        }
    }

    /// Adds a template field, made to fit its type's limit with [`fit_value`].
    pub fn fitted(self, key: &str, value: &str) -> Self {
        let value = fit_value(key, value);
        self.field(key, value)
    }

    /// Adds a template field as given.
    pub fn field(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.data.insert(
            key.into(),
            TemplateValue {
                value: value.into(),
            },
        );
        self
    }
}

/// How many characters WeChat accepts in a template value of `key`'s type (`thing1` is a
/// `thing`): `thing` 20, `phrase` 5, `name` 10 (Chinese), `number` / `letter` /
/// `character_string` 32, `symbol` 5, `phone_number` 17, `car_number` 8. `None` for types whose
/// rule is a format rather than a length (`time`, `date`, `amount`, `enum`).
pub fn value_limit(key: &str) -> Option<usize> {
    match key.trim_end_matches(|c: char| c.is_ascii_digit()) {
        "thing" => Some(20),
        "phrase" | "symbol" => Some(5),
        "name" => Some(10),
        "number" | "letter" | "character_string" => Some(32),
        "phone_number" => Some(17),
        "car_number" => Some(8),
        _ => None,
    }
}

/// What WeChat puts in place of an empty value it would refuse (47003).
const EMPTY_VALUE: &str = "无";

/// `value` made acceptable for `key`'s type: control characters and runs of white space become
/// one space, the ends are trimmed, an empty value becomes "无", and a value over the type's
/// limit ([`value_limit`]) is cut at a character boundary (never inside a multibyte character)
/// — a `thing` ends with "…" then; other types are cut without it (it is not a digit, letter or
/// Chinese character).
pub fn fit_value(key: &str, value: &str) -> String {
    let mut clean = String::with_capacity(value.len());
    for word in value
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
    {
        if !clean.is_empty() {
            clean.push(' ');
        }
        clean.push_str(word);
    }
    if clean.is_empty() {
        return EMPTY_VALUE.to_owned();
    }
    let Some(limit) = value_limit(key) else {
        return clean;
    };
    if clean.chars().count() <= limit {
        return clean;
    }
    let kind = key.trim_end_matches(|c: char| c.is_ascii_digit());
    if matches!(kind, "thing") {
        let mut cut: String = clean.chars().take(limit - 1).collect();
        cut.truncate(cut.trim_end().len());
        cut.push('…');
        cut
    } else {
        clean.chars().take(limit).collect()
    }
}

/// Which version of the mini program a mini-program code opens (`env_version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EnvVersion {
    Release,
    Trial,
    Develop,
}

impl EnvVersion {
    /// `release`, `trial` or `develop`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "release" => Some(Self::Release),
            "trial" => Some(Self::Trial),
            "develop" => Some(Self::Develop),
            _ => None,
        }
    }
}

#[derive(Serialize)]
struct WxacodeRequest<'a> {
    scene: &'a str,
    page: &'a str,
    /// Only the released version's pages can be checked; a trial or develop code would be
    /// refused (41030) for a page not released yet.
    check_path: bool,
    env_version: EnvVersion,
    width: u32,
}

#[derive(Deserialize)]
struct SendAnswer {
    #[serde(default)]
    msgid: Option<serde_json::Value>,
}

impl WechatClient {
    /// Exchanges a phone-number code (from the mini program's `getPhoneNumber` button) for the
    /// number, as the user `openid` (the caller's own session's): a code another user's button
    /// produced is refused, so nobody can attach someone else's number to their account. A code
    /// works once and for five minutes: 40029 (also for another user's code) is
    /// [`WechatError::InvalidCode`]. Not retried on -1 (the user simply taps again); a rejected
    /// access token is refreshed and the call retried once.
    pub async fn user_phone_number(
        &self,
        code: &str,
        openid: &str,
    ) -> Result<PhoneInfo, WechatError> {
        let answer: PhoneAnswer = self
            .post_with_token(
                "/wxa/business/getuserphonenumber",
                &PhoneRequest { code, openid },
            )
            .await?;
        Ok(answer.phone_info)
    }

    /// Sends a subscribe message; returns WeChat's `msgid` as text.
    ///
    /// Never retried here except after a rejected access token (the message was not sent then):
    /// the caller's outbox decides with [`WechatError::is_transient`]. 43101 (the user refused
    /// or has no subscription left) is [`WechatError::UserRefused`], a permanent failure.
    pub async fn send_subscribe_message(
        &self,
        message: &SubscribeMessage,
    ) -> Result<String, WechatError> {
        let answer: SendAnswer = self
            .post_with_token("/cgi-bin/message/subscribe/send", message)
            .await?;
        Ok(match answer.msgid {
            Some(serde_json::Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => String::new(),
        })
    }

    /// `POST /wxa/getwxacodeunlimit`: the mini-program code (PNG bytes, `width` pixels,
    /// 280–1280) that opens `page` (`pages/apply/index`, no leading `/`) with `scene` (≤ 32
    /// characters, read by the page as `query.scene`) in the `env` version of the mini program.
    /// WeChat answers an image on success and JSON on failure: 40169
    /// ([`WechatError::InvalidScene`]), 41030 ([`WechatError::InvalidPage`]), 45009
    /// ([`WechatError::QuotaExceeded`]). Unlimited in number, but each call counts against the
    /// app's API quota: cache the image. A rejected access token is refreshed and the call
    /// retried once.
    pub async fn get_unlimited_wxacode(
        &self,
        scene: &str,
        page: &str,
        width: u32,
        env: EnvVersion,
    ) -> Result<Vec<u8>, WechatError> {
        self.post_for_image_with_token(
            "/wxa/getwxacodeunlimit",
            &WxacodeRequest {
                scene,
                page,
                check_path: env == EnvVersion::Release,
                env_version: env,
                width,
            },
        )
        .await
    }
}

//! Calls that need the access token: the user's phone number and subscribe messages.

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

    /// Adds a template field.
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

#[derive(Deserialize)]
struct SendAnswer {
    #[serde(default)]
    msgid: Option<serde_json::Value>,
}

impl WechatClient {
    /// Exchanges a phone-number code (from the mini program's `getPhoneNumber` button) for the
    /// number. A code works once and for five minutes: 40029 is [`WechatError::InvalidCode`].
    /// Not retried on -1 (the user simply taps again); a rejected access token is refreshed and
    /// the call retried once.
    pub async fn user_phone_number(&self, code: &str) -> Result<PhoneInfo, WechatError> {
        let answer: PhoneAnswer = self
            .post_with_token("/wxa/business/getuserphonenumber", &PhoneRequest { code })
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
}

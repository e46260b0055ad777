//! The notice's own enumerations, with their Chinese labels as the wire and storage form.

use serde::{Deserialize, Serialize};

macro_rules! labelled {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $label:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $label)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The notice's label, also the stored and JSON form.
            pub fn label_zh(self) -> &'static str {
                match self {
                    $($name::$variant => $label),+
                }
            }

            /// The value for a label (surrounding spaces ignored).
            pub fn parse_zh(text: &str) -> Option<Self> {
                let text = text.trim();
                Self::ALL.iter().copied().find(|v| v.label_zh() == text)
            }

            /// The labels, joined for an error message.
            pub fn labels_zh() -> String {
                Self::ALL.iter().map(|v| v.label_zh()).collect::<Vec<_>>().join("、")
            }
        }
    };
}

labelled! {
    /// 单位性质 (appendix 1, note 2).
    UnitNature {
        PartyGovernment => "党政机关",
        PublicInstitution => "事业单位",
        StateOwned => "国有经济",
        Collective => "集体经济",
        Private => "私营经济",
        Individual => "个体经济",
        Joint => "联营经济",
        ShareHolding => "股份制",
        ForeignInvested => "外商投资",
        HongKongMacaoTaiwanInvested => "港澳台投资",
        Other => "其他",
    }
}

/// The longest description of a 单位性质 of 其他, in characters: a category (民办非企业单位,
/// 社会团体, 基金会), not a name. `其他：` and 13 characters fill the stored column (16).
pub const NATURE_OTHER_MAX_CHARS: usize = 13;

/// Why a written 单位性质 was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatureError {
    /// Neither one of the notice's labels nor 其他 with a description.
    Unknown,
    /// 其他 alone: the notice's list ends with 等, so 其他 must say what the nature is.
    OtherWithoutText,
    /// A description longer than [`NATURE_OTHER_MAX_CHARS`].
    OtherTooLong,
}

impl NatureError {
    pub fn code(self) -> &'static str {
        match self {
            NatureError::Unknown => "unit_nature_invalid",
            NatureError::OtherWithoutText => "unit_nature_other_missing",
            NatureError::OtherTooLong => "unit_nature_other_too_long",
        }
    }

    /// What to fix, in Chinese, naming the column as `what`.
    pub fn message_zh(self, what: &str) -> String {
        match self {
            NatureError::Unknown => format!(
                "{what}应为以下之一：{}（选其他须写明，如“其他：民办非企业单位”）",
                UnitNature::labels_zh()
            ),
            NatureError::OtherWithoutText => {
                format!("{what}为“其他”时须写明具体性质，如“其他：民办非企业单位”")
            }
            NatureError::OtherTooLong => {
                format!("{what}“其他”后的说明不能超过 {NATURE_OTHER_MAX_CHARS} 个字")
            }
        }
    }
}

impl UnitNature {
    /// A 单位性质 as a clerk writes it: one of the notice's labels, or 其他 followed by what the
    /// nature is (`其他：民办非企业单位`, `其他（社会团体）`, `其他-民办学校`, `其他 基金会`).
    /// Returns the nature and, for 其他, its description (trimmed, never empty).
    pub fn parse_written(text: &str) -> Result<(UnitNature, Option<String>), NatureError> {
        let text = text.trim();
        if let Some(nature) = UnitNature::parse_zh(text) {
            return if nature == UnitNature::Other {
                Err(NatureError::OtherWithoutText)
            } else {
                Ok((nature, None))
            };
        }
        let Some(rest) = text.strip_prefix(UnitNature::Other.label_zh()) else {
            return Err(NatureError::Unknown);
        };
        let separators = [
            ':', '：', '(', '（', '-', '—', '、', ',', '，', ' ', '\u{3000}',
        ];
        if !rest.starts_with(separators) {
            return Err(NatureError::Unknown);
        }
        let description = rest
            .trim_start_matches(separators)
            .trim_end_matches([')', '）'])
            .trim();
        if description.is_empty() {
            return Err(NatureError::OtherWithoutText);
        }
        if description.chars().count() > NATURE_OTHER_MAX_CHARS {
            return Err(NatureError::OtherTooLong);
        }
        Ok((UnitNature::Other, Some(description.to_owned())))
    }

    /// The written (stored, exported) form: the label, or `其他：description` for 其他.
    pub fn written(self, other: Option<&str>) -> String {
        match (self, other) {
            (UnitNature::Other, Some(d)) => format!("{}：{d}", self.label_zh()),
            _ => self.label_zh().to_owned(),
        }
    }
}

labelled! {
    /// The categories of union services (惠工服务) the mini program lists.
    BenefitCategory {
        Medical => "职工医疗",
        Employment => "职工就业",
        Training => "职工培训",
        LegalAid => "法律援助",
        Recuperation => "职工疗休养",
        Hardship => "困难帮扶",
        Culture => "文体活动",
    }
}

labelled! {
    /// 工会类型 (appendix 1, note 4). A 联合工会 covers several units.
    UnionType {
        Single => "单建",
        Joint => "联合工会",
        Federation => "工会联合会",
    }
}

labelled! {
    /// Where an organisation sits in the county's hierarchy.
    OrgLevel {
        County => "county",
        District => "district",
        Grassroots => "grassroots",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_round_trip_through_text_and_json() {
        for nature in UnitNature::ALL {
            assert_eq!(UnitNature::parse_zh(nature.label_zh()), Some(*nature));
            let json = serde_json::to_string(nature).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", nature.label_zh()));
        }
        assert_eq!(UnionType::parse_zh(" 联合工会 "), Some(UnionType::Joint));
        assert_eq!(UnionType::parse_zh("联合"), None);
        assert_eq!(OrgLevel::parse_zh("district"), Some(OrgLevel::District));
        assert!(UnitNature::labels_zh().contains("私营经济、个体经济"));
    }

    #[test]
    fn other_nature_needs_its_description() {
        for written in [
            "其他：民办非企业单位",
            "其他（民办非企业单位）",
            "其他 民办非企业单位",
        ] {
            assert_eq!(
                UnitNature::parse_written(written),
                Ok((UnitNature::Other, Some("民办非企业单位".to_owned()))),
                "{written}"
            );
        }
        assert_eq!(
            UnitNature::parse_written(" 私营经济 "),
            Ok((UnitNature::Private, None))
        );
        assert_eq!(
            UnitNature::parse_written("其他"),
            Err(NatureError::OtherWithoutText)
        );
        assert_eq!(
            UnitNature::parse_written("其他："),
            Err(NatureError::OtherWithoutText)
        );
        assert_eq!(
            UnitNature::parse_written("其他经济"),
            Err(NatureError::Unknown)
        );
        assert_eq!(
            UnitNature::parse_written(&format!("其他：{}", "长".repeat(14))),
            Err(NatureError::OtherTooLong)
        );
        let written = UnitNature::Other.written(Some("社会团体"));
        assert_eq!(written, "其他：社会团体");
        assert_eq!(
            UnitNature::parse_written(&written),
            Ok((UnitNature::Other, Some("社会团体".to_owned())))
        );
        assert_eq!(UnitNature::Private.written(Some("ignored")), "私营经济");
    }
}

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
}

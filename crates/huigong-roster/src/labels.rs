//! The value lists the notice gives for the organisation table (附件1, 备注 2 and 4).
//!
//! These are `huigong-core`'s enums, re-exported: the rest of the workspace (store, API)
//! already uses them, so a parsed [`OrgRow`](crate::OrgRow) needs no conversion. Their JSON
//! and storage form is the notice's own Chinese label (`"私营经济"`, `"联合工会"`).

pub use huigong_core::labels::{UnionType, UnitNature};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_notice_lists_are_complete() {
        let natures: Vec<&str> = UnitNature::ALL.iter().map(|n| n.label_zh()).collect();
        assert_eq!(
            natures,
            [
                "党政机关",
                "事业单位",
                "国有经济",
                "集体经济",
                "私营经济",
                "个体经济",
                "联营经济",
                "股份制",
                "外商投资",
                "港澳台投资",
                "其他"
            ]
        );
        let types: Vec<&str> = UnionType::ALL.iter().map(|t| t.label_zh()).collect();
        assert_eq!(types, ["单建", "联合工会", "工会联合会"]);
    }

    #[test]
    fn json_uses_the_notice_labels() {
        let json = serde_json::to_string(&(UnitNature::Private, UnionType::Joint))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(json, r#"["私营经济","联合工会"]"#);
    }
}

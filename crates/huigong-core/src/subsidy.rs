//! 建会补助 (notice 二(五)): the one-time subsidy for a grassroots union newly set up during the
//! campaign in a unit of collective or non-public ownership that has collected its members'
//! data completely, by the unit's employee count. The rule lives here once; storage and HTTP
//! only gather the facts and show the verdict.
//!
//! The notice's bands "50人以下" and "50—500人" overlap at 50: 50 goes to the 1000 元 band.
//! A 联合工会 (several units) is counted by the sum of its units' employees.

use crate::labels::UnitNature;
use chrono::NaiveDate;

/// The natures a subsidy is paid for by default: collective and non-public ownership.
pub const DEFAULT_NATURES: &[UnitNature] = &[
    UnitNature::Collective,
    UnitNature::Private,
    UnitNature::Individual,
    UnitNature::Joint,
    UnitNature::ShareHolding,
    UnitNature::ForeignInvested,
    UnitNature::HongKongMacaoTaiwanInvested,
];

/// The subsidy in 元 for a union whose units employ `employees` people (0 → none).
pub fn amount_for(employees: u64) -> Option<u32> {
    match employees {
        0 => None,
        1..=49 => Some(600),
        50..=500 => Some(1000),
        _ => Some(2000),
    }
}

/// The configurable part of the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubsidyRule {
    /// Unit natures that qualify (every unit of the union must have one of them).
    pub natures: Vec<UnitNature>,
    /// Unions founded on or after this date count as newly set up during the campaign.
    pub founded_from: NaiveDate,
}

impl Default for SubsidyRule {
    fn default() -> Self {
        Self {
            natures: DEFAULT_NATURES.to_vec(),
            founded_from: NaiveDate::from_ymd_opt(2018, 3, 1).unwrap_or_default(),
        }
    }
}

/// What the rule looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnionFacts {
    /// The union is approved (not pending, rejected or dissolved).
    pub approved: bool,
    pub founded_on: Option<NaiveDate>,
    /// The natures of its units (one for a 单建 union, several for a 联合工会).
    pub natures: Vec<UnitNature>,
    /// The employees of its units, summed.
    pub employees: u64,
    /// Active members on its roster.
    pub members: u64,
    /// Of those, records with every roster field filled in.
    pub complete_members: u64,
}

/// Why a union does not (yet) qualify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Missing {
    /// Not approved by its parent (or dissolved).
    NotApproved,
    /// Founded before the campaign.
    FoundedBefore,
    /// A unit of a nature the subsidy is not for (state-owned, government, …).
    Nature,
    /// No employee count.
    NoEmployees,
    /// No members on the roster.
    NoMembers,
    /// Some member records are incomplete.
    IncompleteMembers,
}

impl Missing {
    /// The reason's code (JSON).
    pub fn code(self) -> &'static str {
        match self {
            Missing::NotApproved => "not_approved",
            Missing::FoundedBefore => "founded_before_campaign",
            Missing::Nature => "unit_nature",
            Missing::NoEmployees => "no_employees",
            Missing::NoMembers => "no_members",
            Missing::IncompleteMembers => "incomplete_members",
        }
    }

    /// The reason for a clerk.
    pub fn message_zh(self) -> &'static str {
        match self {
            Missing::NotApproved => "工会尚未经上级批准",
            Missing::FoundedBefore => "建会时间早于本次实名制工作",
            Missing::Nature => "单位性质不属于集体或非公有制",
            Missing::NoEmployees => "职工人数为零",
            Missing::NoMembers => "尚未登记会员",
            Missing::IncompleteMembers => "会员信息尚未采集完整",
        }
    }
}

/// The rule's verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Eligible { amount: u32 },
    NotYet { missing: Vec<Missing> },
}

impl SubsidyRule {
    /// Applies the rule to `facts`.
    pub fn judge(&self, facts: &UnionFacts) -> Verdict {
        let mut missing = Vec::new();
        if !facts.approved {
            missing.push(Missing::NotApproved);
        }
        if facts.founded_on.is_none_or(|d| d < self.founded_from) {
            missing.push(Missing::FoundedBefore);
        }
        if facts.natures.is_empty() || facts.natures.iter().any(|n| !self.natures.contains(n)) {
            missing.push(Missing::Nature);
        }
        let amount = amount_for(facts.employees);
        if amount.is_none() {
            missing.push(Missing::NoEmployees);
        }
        if facts.members == 0 {
            missing.push(Missing::NoMembers);
        } else if facts.complete_members < facts.members {
            missing.push(Missing::IncompleteMembers);
        }
        match amount {
            Some(amount) if missing.is_empty() => Verdict::Eligible { amount },
            _ => Verdict::NotYet { missing },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> UnionFacts {
        UnionFacts {
            approved: true,
            founded_on: NaiveDate::from_ymd_opt(2018, 5, 1),
            natures: vec![UnitNature::Private],
            employees: 50,
            members: 40,
            complete_members: 40,
        }
    }

    #[test]
    fn bands_follow_the_notice_and_fifty_goes_to_one_thousand() {
        assert_eq!(amount_for(0), None);
        assert_eq!(amount_for(1), Some(600));
        assert_eq!(amount_for(49), Some(600));
        assert_eq!(amount_for(50), Some(1000));
        assert_eq!(amount_for(500), Some(1000));
        assert_eq!(amount_for(501), Some(2000));
    }

    #[test]
    fn a_complete_private_union_of_fifty_gets_one_thousand() {
        let rule = SubsidyRule::default();
        assert_eq!(rule.judge(&facts()), Verdict::Eligible { amount: 1000 });
    }

    #[test]
    fn each_missing_condition_is_named() {
        let rule = SubsidyRule::default();
        let mut f = facts();
        f.natures = vec![UnitNature::Private, UnitNature::StateOwned];
        f.complete_members = 39;
        f.founded_on = NaiveDate::from_ymd_opt(2001, 5, 6);
        assert_eq!(
            rule.judge(&f),
            Verdict::NotYet {
                missing: vec![
                    Missing::FoundedBefore,
                    Missing::Nature,
                    Missing::IncompleteMembers
                ]
            }
        );
    }
}

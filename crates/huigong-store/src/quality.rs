//! The data-quality report (数据清、情况明) for an administrator's scope: duplicate people,
//! 空挂会员, incomplete roster records, declared counts far from the roster, and unions not
//! confirmed in the current half-year cycle.

use crate::StoreError;
use crate::entity::{membership, org, person, unit};
use crate::people;
use crate::union_lifecycle::cycle_start;
use chrono::{DateTime, NaiveDate, Utc};
use huigong_core::labels::OrgLevel;
use huigong_core::mask::mask_name;
use huigong_vault::KeyRing;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// A member named in the report: ids, the union, the masked name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRef {
    pub member_id: Uuid,
    pub org_id: Uuid,
    pub org_name: String,
    pub name_masked: String,
}

/// A person with more than one active membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Duplicate {
    pub person_id: Uuid,
    pub memberships: Vec<MemberRef>,
}

/// A member on no real union: `union_dissolved`, `union_not_approved`, `unit_not_covered`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dangling {
    pub member: MemberRef,
    pub problem: &'static str,
}

/// A roster record with empty fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incomplete {
    pub member: MemberRef,
    pub missing: Vec<&'static str>,
}

/// A union whose declared member count is far from its roster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountGap {
    pub org_id: Uuid,
    pub org_name: String,
    pub declared: u64,
    pub registered: u64,
}

/// A union not confirmed in the current cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unconfirmed {
    pub org_id: Uuid,
    pub org_name: String,
    pub confirmed_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub cycle_start: NaiveDate,
    pub duplicates: Vec<Duplicate>,
    pub dangling: Vec<Dangling>,
    pub incomplete: Vec<Incomplete>,
    pub count_gaps: Vec<CountGap>,
    pub unconfirmed: Vec<Unconfirmed>,
}

/// "Far": more than 5 people apart and more than 20 % of the declared count.
pub fn count_is_far(declared: u64, registered: u64) -> bool {
    let diff = declared.abs_diff(registered);
    diff > 5 && diff * 5 > declared
}

const CHUNK: usize = 500;

/// Builds the report for `scope` at `now`.
pub async fn report<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    scope: &str,
    now: DateTime<Utc>,
) -> Result<Report, StoreError> {
    let (cycle, cycle_instant) = cycle_start(now);
    let orgs: HashMap<Uuid, org::Model> = org::Entity::find()
        .filter(org::Column::Path.starts_with(scope))
        .all(conn)
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    let grassroots = OrgLevel::Grassroots.label_zh();
    let org_ids: Vec<Uuid> = orgs.keys().copied().collect();
    let mut members = Vec::new();
    let mut units: HashMap<Uuid, HashSet<String>> = HashMap::new();
    for chunk in org_ids.chunks(CHUNK) {
        members.extend(
            membership::Entity::find()
                .filter(membership::Column::OrgId.is_in(chunk.to_vec()))
                .filter(membership::Column::Status.eq("active"))
                .order_by_asc(membership::Column::Id)
                .all(conn)
                .await?,
        );
        let rows: Vec<(Uuid, String)> = unit::Entity::find()
            .select_only()
            .column(unit::Column::OrgId)
            .column(unit::Column::Name)
            .filter(unit::Column::OrgId.is_in(chunk.to_vec()))
            .into_tuple()
            .all(conn)
            .await?;
        for (org_id, name) in rows {
            units
                .entry(org_id)
                .or_default()
                .insert(name.trim().to_owned());
        }
    }

    // Duplicates: people of this scope with more than one active membership anywhere.
    let person_ids: Vec<Uuid> = members.iter().map(|m| m.person_id).collect();
    let mut dup_rows: Vec<membership::Model> = Vec::new();
    let mut no_mobile: HashSet<Uuid> = HashSet::new();
    for chunk in person_ids.chunks(CHUNK) {
        let all = membership::Entity::find()
            .filter(membership::Column::PersonId.is_in(chunk.to_vec()))
            .filter(membership::Column::Status.eq("active"))
            .all(conn)
            .await?;
        let mut per: HashMap<Uuid, Vec<membership::Model>> = HashMap::new();
        for m in all {
            per.entry(m.person_id).or_default().push(m);
        }
        dup_rows.extend(per.into_values().filter(|v| v.len() > 1).flatten());
        let missing: Vec<Uuid> = person::Entity::find()
            .select_only()
            .column(person::Column::Id)
            .filter(person::Column::Id.is_in(chunk.to_vec()))
            .filter(person::Column::MobileEnc.is_null())
            .into_tuple()
            .all(conn)
            .await?;
        no_mobile.extend(missing);
    }

    let mut dangling = Vec::new();
    let mut incomplete = Vec::new();
    for m in &members {
        let Some(o) = orgs.get(&m.org_id) else {
            continue;
        };
        let problem = match o.status.as_str() {
            "dissolved" => Some("union_dissolved"),
            "pending" | "rejected" => Some("union_not_approved"),
            _ if o.level == grassroots
                && !units
                    .get(&o.id)
                    .is_some_and(|u| u.contains(m.unit_name.trim())) =>
            {
                Some("unit_not_covered")
            }
            _ => None,
        };
        if let Some(problem) = problem {
            dangling.push((m, problem));
        }
        let mut missing = Vec::new();
        for (field, value) in [
            ("unit_name", &m.unit_name),
            ("nationality", &m.nationality),
            ("education", &m.education),
            ("household_type", &m.household_type),
            ("employment_status", &m.employment_status),
            ("union_post", &m.union_post),
        ] {
            if value.trim().is_empty() {
                missing.push(field);
            }
        }
        if no_mobile.contains(&m.person_id) {
            missing.push("mobile");
        }
        if !missing.is_empty() {
            incomplete.push((m, missing));
        }
    }

    // Names, masked, for the members named.
    let mut named: Vec<Uuid> = dup_rows.iter().map(|m| m.person_id).collect();
    named.extend(dangling.iter().map(|(m, _)| m.person_id));
    named.extend(incomplete.iter().map(|(m, _)| m.person_id));
    named.sort();
    named.dedup();
    let mut names = HashMap::new();
    for chunk in named.chunks(CHUNK) {
        for (id, p) in people::get_many(conn, vault, chunk).await? {
            names.insert(id, mask_name(&p.name));
        }
    }
    let mut org_names: HashMap<Uuid, String> =
        orgs.values().map(|o| (o.id, o.name.clone())).collect();
    let outside: Vec<Uuid> = dup_rows
        .iter()
        .map(|m| m.org_id)
        .filter(|id| !org_names.contains_key(id))
        .collect();
    if !outside.is_empty() {
        // A duplicate's other union may lie outside the scope: named only as "其他工会".
        for id in outside {
            org_names.insert(id, "（其他工会）".to_owned());
        }
    }
    let member_ref = |m: &membership::Model| MemberRef {
        member_id: m.id,
        org_id: if orgs.contains_key(&m.org_id) {
            m.org_id
        } else {
            Uuid::nil()
        },
        org_name: org_names.get(&m.org_id).cloned().unwrap_or_default(),
        name_masked: names.get(&m.person_id).cloned().unwrap_or_default(),
    };
    let mut by_person: HashMap<Uuid, Vec<MemberRef>> = HashMap::new();
    for m in &dup_rows {
        let mut r = member_ref(m);
        if r.org_id.is_nil() {
            r.member_id = Uuid::nil();
        }
        by_person.entry(m.person_id).or_default().push(r);
    }
    let mut duplicates: Vec<Duplicate> = by_person
        .into_iter()
        .map(|(person_id, memberships)| Duplicate {
            person_id,
            memberships,
        })
        .collect();
    duplicates.sort_by_key(|d| d.person_id);

    let mut grassroots_orgs: Vec<&org::Model> = orgs
        .values()
        .filter(|o| o.level == grassroots && o.status == "active")
        .collect();
    grassroots_orgs.sort_by(|a, b| a.path.cmp(&b.path));
    let ids: Vec<Uuid> = grassroots_orgs.iter().map(|o| o.id).collect();
    let counts = crate::orgs::registered_member_counts(conn, &ids).await?;
    let count_gaps = grassroots_orgs
        .iter()
        .filter_map(|o| {
            let declared = u64::try_from(o.member_count_declared.unwrap_or(0)).unwrap_or(0);
            let registered = counts.get(&o.id).copied().unwrap_or(0);
            count_is_far(declared, registered).then(|| CountGap {
                org_id: o.id,
                org_name: o.name.clone(),
                declared,
                registered,
            })
        })
        .collect();
    let unconfirmed = grassroots_orgs
        .iter()
        .filter(|o| o.confirmed_at.is_none_or(|t| t < cycle_instant))
        .map(|o| Unconfirmed {
            org_id: o.id,
            org_name: o.name.clone(),
            confirmed_at: o.confirmed_at,
        })
        .collect();

    Ok(Report {
        cycle_start: cycle,
        duplicates,
        dangling: dangling
            .into_iter()
            .map(|(m, problem)| Dangling {
                member: member_ref(m),
                problem,
            })
            .collect(),
        incomplete: incomplete
            .into_iter()
            .map(|(m, missing)| Incomplete {
                member: member_ref(m),
                missing,
            })
            .collect(),
        count_gaps,
        unconfirmed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn far_means_more_than_five_and_more_than_a_fifth() {
        assert!(!count_is_far(80, 75));
        assert!(count_is_far(80, 0));
        assert!(!count_is_far(100, 85));
        assert!(count_is_far(100, 79));
        assert!(count_is_far(0, 6));
        assert!(!count_is_far(0, 5));
    }
}

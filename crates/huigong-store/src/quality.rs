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
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
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
    /// Some member list held more than [`LIST_LIMIT`] entries and was cut.
    pub truncated: bool,
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

/// At most this many entries per list; `Report::truncated` says when a list was cut.
pub const LIST_LIMIT: u64 = 5000;

/// Active memberships of orgs in `scope`, matching `cond`, at most `LIST_LIMIT + 1`.
async fn active_where<C: ConnectionTrait>(
    conn: &C,
    scope: &str,
    cond: Condition,
) -> Result<Vec<membership::Model>, StoreError> {
    Ok(membership::Entity::find()
        .filter(membership::Column::Status.eq("active"))
        .filter(membership::Column::OrgId.in_subquery(crate::orgs::ids_in_scope(scope)))
        .filter(cond)
        .order_by_asc(membership::Column::Id)
        .limit(LIST_LIMIT + 1)
        .all(conn)
        .await?)
}

/// Builds the report for `scope` at `now`. Each check is a query that returns only the rows
/// at fault, so the report costs little memory however large the scope.
pub async fn report<C: ConnectionTrait>(
    conn: &C,
    vault: &KeyRing,
    scope: &str,
    now: DateTime<Utc>,
) -> Result<Report, StoreError> {
    let (cycle, cycle_instant) = cycle_start(now);
    let grassroots = OrgLevel::Grassroots.label_zh();
    let mut truncated = false;
    let mut cut = |mut rows: Vec<membership::Model>| {
        if rows.len() as u64 > LIST_LIMIT {
            rows.truncate(LIST_LIMIT as usize);
            truncated = true;
        }
        rows
    };

    // Duplicates: people with more than one active membership, one of them in scope.
    let dup_people: Vec<Uuid> = membership::Entity::find()
        .select_only()
        .column(membership::Column::PersonId)
        .filter(membership::Column::Status.eq("active"))
        .group_by(membership::Column::PersonId)
        .having(Expr::col(membership::Column::Id).count().gt(1))
        .limit(LIST_LIMIT)
        .into_tuple()
        .all(conn)
        .await?;
    let mut dup_rows = Vec::new();
    for chunk in dup_people.chunks(CHUNK) {
        dup_rows.extend(
            membership::Entity::find()
                .filter(membership::Column::PersonId.is_in(chunk.to_vec()))
                .filter(membership::Column::Status.eq("active"))
                .all(conn)
                .await?,
        );
    }

    // 空挂: on a union not approved or dissolved, or on a unit the grassroots union does not cover.
    let not_active_orgs = Query::select()
        .column(org::Column::Id)
        .from(org::Entity)
        .and_where(org::Column::Path.starts_with(scope))
        .and_where(org::Column::Status.ne("active"))
        .to_owned();
    let on_bad_union = cut(active_where(
        conn,
        scope,
        Condition::all().add(membership::Column::OrgId.in_subquery(not_active_orgs)),
    )
    .await?);
    let active_grassroots = Query::select()
        .column(org::Column::Id)
        .from(org::Entity)
        .and_where(org::Column::Path.starts_with(scope))
        .and_where(org::Column::Status.eq("active"))
        .and_where(org::Column::Level.eq(grassroots))
        .to_owned();
    let covering_unit = Query::select()
        .expr(Expr::val(1))
        .from(unit::Entity)
        .and_where(
            Expr::col((unit::Entity, unit::Column::OrgId))
                .equals((membership::Entity, membership::Column::OrgId)),
        )
        .and_where(
            Expr::col((unit::Entity, unit::Column::Name))
                .equals((membership::Entity, membership::Column::UnitName)),
        )
        .to_owned();
    let uncovered = cut(active_where(
        conn,
        scope,
        Condition::all()
            .add(membership::Column::OrgId.in_subquery(active_grassroots))
            .add(Expr::exists(covering_unit).not()),
    )
    .await?);

    // Incomplete: an empty roster field, or no mobile.
    let no_mobile = Query::select()
        .column(person::Column::Id)
        .from(person::Entity)
        .and_where(person::Column::MobileEnc.is_null())
        .to_owned();
    let mut any_missing = Condition::any().add(membership::Column::PersonId.in_subquery(no_mobile));
    for col in TEXT_FIELDS.iter().map(|(_, c)| *c) {
        any_missing = any_missing.add(col.eq(""));
    }
    let incomplete_rows = cut(active_where(conn, scope, any_missing).await?);
    let mut without_mobile: HashSet<Uuid> = HashSet::new();
    let incomplete_people: Vec<Uuid> = incomplete_rows.iter().map(|m| m.person_id).collect();
    for chunk in incomplete_people.chunks(CHUNK) {
        let ids: Vec<Uuid> = person::Entity::find()
            .select_only()
            .column(person::Column::Id)
            .filter(person::Column::Id.is_in(chunk.to_vec()))
            .filter(person::Column::MobileEnc.is_null())
            .into_tuple()
            .all(conn)
            .await?;
        without_mobile.extend(ids);
    }

    // Names (masked) and unions of the members named.
    let mut named: Vec<Uuid> = dup_rows.iter().map(|m| m.person_id).collect();
    named.extend(on_bad_union.iter().map(|m| m.person_id));
    named.extend(uncovered.iter().map(|m| m.person_id));
    named.extend(incomplete_people.iter().copied());
    named.sort();
    named.dedup();
    let mut names = HashMap::new();
    for chunk in named.chunks(CHUNK) {
        for (id, p) in people::get_many(conn, vault, chunk).await? {
            names.insert(id, mask_name(&p.name));
        }
    }
    let mut org_ids: Vec<Uuid> = dup_rows.iter().map(|m| m.org_id).collect();
    org_ids.extend(on_bad_union.iter().map(|m| m.org_id));
    org_ids.extend(uncovered.iter().map(|m| m.org_id));
    org_ids.extend(incomplete_rows.iter().map(|m| m.org_id));
    org_ids.sort();
    org_ids.dedup();
    let mut orgs: HashMap<Uuid, org::Model> = HashMap::new();
    for chunk in org_ids.chunks(CHUNK) {
        for o in org::Entity::find()
            .filter(org::Column::Id.is_in(chunk.to_vec()))
            .all(conn)
            .await?
        {
            orgs.insert(o.id, o);
        }
    }
    // A duplicate's other union may lie outside the scope: it is not named.
    let member_ref = |m: &membership::Model| match orgs.get(&m.org_id) {
        Some(o) if o.path.starts_with(scope) => MemberRef {
            member_id: m.id,
            org_id: m.org_id,
            org_name: o.name.clone(),
            name_masked: names.get(&m.person_id).cloned().unwrap_or_default(),
        },
        _ => MemberRef {
            member_id: Uuid::nil(),
            org_id: Uuid::nil(),
            org_name: "（辖区外工会）".to_owned(),
            name_masked: names.get(&m.person_id).cloned().unwrap_or_default(),
        },
    };
    let mut by_person: HashMap<Uuid, Vec<&membership::Model>> = HashMap::new();
    for m in &dup_rows {
        by_person.entry(m.person_id).or_default().push(m);
    }
    let mut duplicates: Vec<Duplicate> = by_person
        .into_iter()
        .filter(|(_, ms)| {
            ms.iter().any(|m| {
                orgs.get(&m.org_id)
                    .is_some_and(|o| o.path.starts_with(scope))
            })
        })
        .map(|(person_id, ms)| Duplicate {
            person_id,
            memberships: ms.into_iter().map(member_ref).collect(),
        })
        .collect();
    duplicates.sort_by_key(|d| d.person_id);

    let mut dangling: Vec<Dangling> = on_bad_union
        .iter()
        .map(|m| Dangling {
            member: member_ref(m),
            problem: match orgs.get(&m.org_id).map(|o| o.status.as_str()) {
                Some("dissolved") => "union_dissolved",
                _ => "union_not_approved",
            },
        })
        .collect();
    dangling.extend(uncovered.iter().map(|m| Dangling {
        member: member_ref(m),
        problem: "unit_not_covered",
    }));
    let incomplete = incomplete_rows
        .iter()
        .map(|m| {
            let mut missing: Vec<&'static str> = TEXT_FIELDS
                .iter()
                .filter(|(_, col)| text_of(m, *col).trim().is_empty())
                .map(|(name, _)| *name)
                .collect();
            if without_mobile.contains(&m.person_id) {
                missing.push("mobile");
            }
            Incomplete {
                member: member_ref(m),
                missing,
            }
        })
        .collect();

    // Per-union checks over the approved grassroots unions of the scope.
    let unions = org::Entity::find()
        .filter(org::Column::Path.starts_with(scope))
        .filter(org::Column::Status.eq("active"))
        .filter(org::Column::Level.eq(grassroots))
        .order_by_asc(org::Column::Path)
        .all(conn)
        .await?;
    let mut count_gaps = Vec::new();
    let mut unconfirmed = Vec::new();
    for chunk in unions.chunks(CHUNK) {
        let ids: Vec<Uuid> = chunk.iter().map(|o| o.id).collect();
        let counts = crate::orgs::registered_member_counts(conn, &ids).await?;
        for o in chunk {
            let declared = u64::try_from(o.member_count_declared.unwrap_or(0)).unwrap_or(0);
            let registered = counts.get(&o.id).copied().unwrap_or(0);
            if count_is_far(declared, registered) {
                count_gaps.push(CountGap {
                    org_id: o.id,
                    org_name: o.name.clone(),
                    declared,
                    registered,
                });
            }
            if o.confirmed_at.is_none_or(|t| t < cycle_instant) {
                unconfirmed.push(Unconfirmed {
                    org_id: o.id,
                    org_name: o.name.clone(),
                    confirmed_at: o.confirmed_at,
                });
            }
        }
    }

    Ok(Report {
        cycle_start: cycle,
        truncated,
        duplicates,
        dangling,
        incomplete,
        count_gaps,
        unconfirmed,
    })
}

/// The roster's text fields, by their API names.
const TEXT_FIELDS: [(&str, membership::Column); 6] = [
    ("unit_name", membership::Column::UnitName),
    ("nationality", membership::Column::Nationality),
    ("education", membership::Column::Education),
    ("household_type", membership::Column::HouseholdType),
    ("employment_status", membership::Column::EmploymentStatus),
    ("union_post", membership::Column::UnionPost),
];

fn text_of(m: &membership::Model, col: membership::Column) -> &str {
    match col {
        membership::Column::UnitName => &m.unit_name,
        membership::Column::Nationality => &m.nationality,
        membership::Column::Education => &m.education,
        membership::Column::HouseholdType => &m.household_type,
        membership::Column::EmploymentStatus => &m.employment_status,
        membership::Column::UnionPost => &m.union_post,
        _ => "",
    }
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

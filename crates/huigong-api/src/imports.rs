//! Workbook imports, shared by the HTTP API and the `huigong` command line: the roster of a
//! grassroots union (附件3) and the grassroots unions of a district (附件1).
//!
//! Both follow one contract. The workbook is parsed and every row checked, then checked
//! against the database (people already members elsewhere, units registered elsewhere). A dry
//! run stops there and answers the report. A commit with any error writes nothing and answers
//! the report as refused; otherwise everything is written in one transaction.

use chrono::{DateTime, NaiveDate, Utc};
use huigong_core::labels::OrgLevel;
use huigong_core::labels::UnionType;
use huigong_core::mask::{mask_name, shown_contact};
use huigong_roster::{Limits, OrgExportRow, OrgRow, RowError, WorkbookError};
use huigong_store::audit::Actor;
use huigong_store::card_views::{CardViews, StaleViews};
use huigong_store::members::{self, ImportError, ImportRow, RosterFields};
use huigong_store::orgs::{self, NewOrg, NewUnion, NewUnit, Org};
use huigong_store::{Database, StoreError};
use huigong_vault::KeyRing;
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// One problem of one row.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportProblem {
    /// The row number Excel shows.
    pub row: u32,
    /// The column's header text, e.g. 身份证号码.
    pub column: String,
    pub code: String,
    pub message: String,
}

impl From<RowError> for ImportProblem {
    fn from(e: RowError) -> Self {
        ImportProblem {
            row: e.row,
            column: e.column,
            code: e.code,
            message: e.message,
        }
    }
}

/// The import report, for dry runs and commits alike.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportReport {
    /// Data rows in the file.
    pub rows: u32,
    /// Rows without any error.
    pub valid: u32,
    pub errors: Vec<ImportProblem>,
    /// Errors found beyond the listed ones.
    pub omitted_errors: u32,
    pub committed: bool,
    /// On commit: records created, changed, and found identical (members for a roster,
    /// unions for an organisation table).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchanged: Option<u64>,
}

impl ImportReport {
    fn new(rows: u32, invalid: u32, errors: Vec<ImportProblem>, omitted: u32) -> Self {
        ImportReport {
            rows,
            valid: rows.saturating_sub(invalid),
            errors,
            omitted_errors: omitted,
            committed: false,
            created: None,
            updated: None,
            unchanged: None,
        }
    }

    fn has_errors(&self) -> bool {
        !self.errors.is_empty() || self.omitted_errors > 0
    }
}

/// What an import came to.
#[derive(Debug)]
pub enum Imported {
    /// A dry run (with or without errors), or a commit that wrote everything.
    Done(ImportReport),
    /// A commit refused because of the listed errors; nothing was written.
    Refused(ImportReport),
    /// A roster commit refused as a whole, naming no row: some ID numbers are active members
    /// elsewhere under other names (409 `id_number_unavailable`, [`ID_NUMBERS_UNAVAILABLE`]).
    /// Naming the rows would make commits a bulk membership oracle. Nothing was written.
    Unavailable,
}

/// The neutral refusal of a whole roster commit: some of its ID numbers cannot be registered
/// in this union. Which ones, and why, is not said.
pub const ID_NUMBERS_UNAVAILABLE: &str = "名册中有身份证号码无法登记为本工会会员，本次未写入任何数据；请核对名册中的号码与姓名，如确属本工会职工，请联系上级工会核实";

/// The row error of a person on record (a member nowhere) whose name or mobile differs.
pub const RECORD_DIFFERS: &str = "此身份证号码已有登记信息，姓名或手机号与之不一致，导入不会改写；请核实后逐个登记此人并选择保留哪一份";

/// The neutral refusal of a person whose ID number cannot be registered here: it is taken
/// (an active member elsewhere, under another name), and the importer is not told by whom.
pub const ID_NUMBER_UNAVAILABLE: &str = "无法以此身份证号码和姓名登记为本工会会员，请核对号码与姓名；如确属本工会职工，请联系上级工会核实";

/// An import that produced no report.
#[derive(Debug)]
pub enum ImportFailure {
    /// Refused before any work: over a limit (429) or the limit's store is down (503).
    Refused(crate::error::ApiError),
    /// The file is not a usable workbook.
    Workbook(WorkbookError),
    /// A concurrent import wrote some of the same records first; nothing was written.
    Conflict,
    Store(StoreError),
    Internal(String),
}

impl From<StoreError> for ImportFailure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict => ImportFailure::Conflict,
            other => ImportFailure::Store(other),
        }
    }
}

/// Who imports what, when.
#[derive(Debug, Clone, Copy)]
pub struct ImportContext<'a> {
    pub db: &'a Database,
    pub vault: &'a KeyRing,
    /// The cached card views a commit may make stale (a name, a unit, a union's name).
    pub views: &'a CardViews,
    pub actor: &'a Actor,
    pub now: DateTime<Utc>,
    pub commit: bool,
    /// The importer's daily budget of rows checked against the county's membership (an
    /// admin's; the command line has none).
    pub budget: Option<crate::membership_checks::RowBudget<'a>>,
}

async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, WorkbookError> + Send + 'static,
) -> Result<T, ImportFailure> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ImportFailure::Internal(e.to_string()))?
        .map_err(ImportFailure::Workbook)
}

fn sorted(mut errors: Vec<ImportProblem>) -> Vec<ImportProblem> {
    errors.sort_by_key(|e| e.row);
    errors
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Imports a roster workbook into grassroots union `org`.
pub async fn roster(
    cx: ImportContext<'_>,
    org: &Org,
    bytes: Vec<u8>,
) -> Result<Imported, ImportFailure> {
    let started = std::time::Instant::now();
    let result = roster_once(cx, org, bytes).await;
    crate::metrics::import_finished("roster", cx.commit, started, &result);
    result
}

async fn roster_once(
    cx: ImportContext<'_>,
    org: &Org,
    bytes: Vec<u8>,
) -> Result<Imported, ImportFailure> {
    let today = cx.now.date_naive();
    let parsed =
        off_thread(move || huigong_roster::parse_roster(&bytes, today, &Limits::default())).await?;
    // The rows move into the store's shape; only their row numbers stay behind.
    let row_numbers: Vec<u32> = parsed.rows.iter().map(|r| r.row).collect();
    let rows: Vec<ImportRow> = parsed
        .rows
        .into_iter()
        .map(|r| ImportRow {
            id_number: r.id_number,
            name: r.name,
            mobile: r.mobile,
            fields: RosterFields {
                unit_name: r.unit_name,
                nationality: r.nationality,
                education: r.education,
                household_type: r.household_type,
                employment_status: r.employment_status,
                union_post: r.union_post,
            },
        })
        .collect();
    // Every row checked against the county's membership counts against the importer's daily
    // budget, dry run or commit (issue 13, item 5).
    if let Some(budget) = &cx.budget {
        budget
            .charge(
                org.id,
                u64::try_from(rows.len()).unwrap_or(u64::MAX),
                cx.now,
            )
            .await
            .map_err(ImportFailure::Refused)?;
    }
    // A member of another union is reported as such only when the row gives the recorded
    // name; otherwise a check reads the row like a new person's, and only an actual commit
    // refuses — the whole file, naming no row (`Imported::Unavailable`). A person on record
    // (a member nowhere) with another name or mobile is a row to review: an import never
    // overwrites them.
    let conflict_errors = |conflicts: &members::ImportConflicts| -> Vec<ImportProblem> {
        let elsewhere = conflicts
            .elsewhere
            .iter()
            .filter(|c| c.name_matches)
            .map(|c| {
                let r = &rows[c.index];
                ImportProblem {
                    row: row_numbers[c.index],
                    column: "身份证号码".to_owned(),
                    code: "member_elsewhere".to_owned(),
                    message: format!(
                        "{}（{}）已是其他工会的会员，须先办理转出",
                        mask_name(&r.name),
                        r.id_number.masked()
                    ),
                }
            });
        let differs = conflicts.differs.iter().map(|d| ImportProblem {
            row: row_numbers[d.index],
            column: if d.name { "姓名" } else { "联系电话" }.to_owned(),
            code: "record_differs".to_owned(),
            message: RECORD_DIFFERS.to_owned(),
        });
        elsewhere.chain(differs).collect()
    };
    // Whether a commit must be refused as a whole: a member elsewhere under another name.
    let unavailable =
        |conflicts: &members::ImportConflicts| conflicts.elsewhere.iter().any(|c| !c.name_matches);
    // A clean commit checks for members of other unions inside its own transaction; a dry
    // run, or a file with errors, checks here so that the report lists them all.
    let clean = parsed.errors.is_empty() && parsed.omitted_errors == 0;
    let elsewhere = if cx.commit && clean {
        Vec::new()
    } else {
        let all = members::import_conflicts(&cx.db.conn, cx.vault, org.id, &rows).await?;
        let reported = conflict_errors(&all);
        audit_check(&cx, org, "roster.dry_run", rows.len(), reported.len()).await?;
        reported
    };
    let mut errors: Vec<ImportProblem> = parsed.errors.into_iter().map(Into::into).collect();
    errors.extend(elsewhere.iter().cloned());
    let mut report = ImportReport::new(
        parsed.total_rows,
        parsed.invalid_rows + count(elsewhere.len()),
        sorted(errors),
        parsed.omitted_errors,
    );
    if !cx.commit {
        return Ok(Imported::Done(report));
    }
    if report.has_errors() {
        return Ok(Imported::Refused(report));
    }
    match members::import(cx.db, cx.vault, cx.views, org.id, &rows, cx.actor, cx.now).await {
        Ok(outcome) => {
            report.committed = true;
            report.created = Some(outcome.created);
            report.updated = Some(outcome.updated);
            report.unchanged = Some(outcome.unchanged);
            Ok(Imported::Done(report))
        }
        // Some are members elsewhere (or joined meanwhile), or on record with other details:
        // nothing was written.
        Err(ImportError::Conflicts(conflicts)) => {
            let found = conflicts.elsewhere.len() + conflicts.differs.len();
            audit_check(&cx, org, "roster.import_refused", rows.len(), found).await?;
            if unavailable(&conflicts) {
                return Ok(Imported::Unavailable);
            }
            report.errors = sorted(conflict_errors(&conflicts));
            report.valid = report.rows.saturating_sub(count(report.errors.len()));
            Ok(Imported::Refused(report))
        }
        Err(ImportError::Store(e)) => Err(e.into()),
    }
}

/// Records a check of `rows` roster rows against the county's membership that wrote nothing
/// (a dry run, a refused commit): who (the actor), which union, how many rows, how many
/// conflicts reported. No personal data: the counts travel in the event's `fields`, after the
/// names of the personal fields read (`rows_checked=N`, `conflicts=M`).
async fn audit_check(
    cx: &ImportContext<'_>,
    org: &Org,
    action: &str,
    rows: usize,
    conflicts: usize,
) -> Result<(), ImportFailure> {
    let rows_checked = format!("rows_checked={rows}");
    let conflicts = format!("conflicts={conflicts}");
    let txn = cx.db.begin_write().await?;
    huigong_store::audit::record(
        &txn,
        cx.actor,
        &huigong_store::audit::Entry {
            action,
            target_type: "org",
            target_id: Some(org.id.to_string()),
            fields: &["id_number", "name", &rows_checked, &conflicts],
            outcome: huigong_store::audit::Outcome::Success,
        },
        cx.now,
    )
    .await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(())
}

const CODE_COLUMN: &str = "单位组织机构代码证";

/// The rows of one union in an organisation table: a 单建 union has one row, a 联合工会 or
/// 工会联合会 one row per unit, all with the same 工会名称 and union fields.
struct Group {
    rows: Vec<usize>,
    /// The registered union these rows update, if any.
    target: Option<Uuid>,
}

/// The 备注 of a union's rows: the first one given.
fn remark_of<'a>(rows: &'a [OrgRow], group: &Group) -> Option<&'a str> {
    group
        .rows
        .iter()
        .find_map(|&i| rows.get(i).and_then(|r| r.remark.as_deref()))
        .map(str::trim)
        .filter(|r| !r.is_empty())
}

/// The first union field where two rows of one union disagree.
fn union_difference(a: &OrgRow, b: &OrgRow) -> Option<&'static str> {
    if a.union_type != b.union_type {
        Some("工会类型")
    } else if a.founded_on != b.founded_on {
        Some("建会时间")
    } else if a.member_count != b.member_count {
        Some("会员人数")
    } else if a.leader_name != b.leader_name {
        Some("工会负责人")
    } else if a.phone != b.phone {
        Some("联系电话")
    } else {
        None
    }
}

/// Groups the valid rows into unions, and places them against the registered units: a unit
/// already registered under `parent` means its union is updated, under any other parent is an
/// error.
fn plan_orgs(
    parent: &Org,
    rows: &[OrgRow],
    placed: &HashMap<String, orgs::PlacedUnit>,
) -> (Vec<Group>, Vec<ImportProblem>) {
    let mut errors = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut by_name: HashMap<&str, usize> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        if row.union_type == UnionType::Single {
            groups.push(Group {
                rows: vec![i],
                target: None,
            });
            continue;
        }
        match by_name.get(row.union_name.as_str()) {
            Some(&g) => {
                let first = &rows[groups[g].rows[0]];
                match union_difference(first, row) {
                    Some(column) => errors.push(ImportProblem {
                        row: row.row,
                        column: column.to_owned(),
                        code: "union_fields_differ".to_owned(),
                        message: format!(
                            "同一工会（{}）各行的{column}须一致，与第 {} 行不同",
                            row.union_name, first.row
                        ),
                    }),
                    None => groups[g].rows.push(i),
                }
            }
            None => {
                by_name.insert(&row.union_name, groups.len());
                groups.push(Group {
                    rows: vec![i],
                    target: None,
                });
            }
        }
    }
    for group in &mut groups {
        for &i in &group.rows {
            let row = &rows[i];
            let Some(at) = placed.get(row.unit_code.as_str()) else {
                continue;
            };
            if at.parent_id != Some(parent.id) {
                errors.push(ImportProblem {
                    row: row.row,
                    column: CODE_COLUMN.to_owned(),
                    code: "unit_elsewhere".to_owned(),
                    message: "该单位已在其他乡镇（街道、园区）总工会或县直属工会下登记".to_owned(),
                });
            } else if group.target.is_some_and(|t| t != at.org_id) {
                errors.push(ImportProblem {
                    row: row.row,
                    column: CODE_COLUMN.to_owned(),
                    code: "units_in_different_unions".to_owned(),
                    message: "同一工会各行的单位已分属不同的已登记工会".to_owned(),
                });
            } else {
                group.target = Some(at.org_id);
            }
        }
    }
    (groups, errors)
}

fn unit_codes(rows: &[OrgRow]) -> Vec<String> {
    rows.iter()
        .map(|r| r.unit_code.as_str().to_owned())
        .collect()
}

/// The union (and its units) that a group's rows describe.
fn union_of<'a>(rows: &'a [OrgRow], group: &Group) -> (&'a str, NewUnion<'a>) {
    let first = &rows[group.rows[0]];
    let union = NewUnion {
        founded_on: first.founded_on,
        union_type: first.union_type,
        member_count: first.member_count,
        leader_name: &first.leader_name,
        phone: &first.phone,
        units: group
            .rows
            .iter()
            .map(|&i| {
                let r = &rows[i];
                NewUnit {
                    name: &r.unit_name,
                    code: &r.unit_code,
                    nature: r.unit_nature,
                    nature_other: r.unit_nature_other.as_deref(),
                    address: &r.unit_address,
                    employee_count: r.employee_count,
                }
            })
            .collect(),
    };
    (&first.union_name, union)
}

/// Whether the registered `org` already says exactly what `union` says.
fn same_registration(org: &Org, name: &str, union: &NewUnion<'_>) -> bool {
    let Some(current) = &org.union else {
        return false;
    };
    org.name == name
        && current.founded_on == union.founded_on
        && current.union_type == union.union_type
        && current.member_count_declared == union.member_count
        && current.leader_name.as_str() == union.leader_name
        && current.phone == union.phone.as_str()
        && union.units.iter().all(|u| {
            current.units.iter().any(|c| {
                c.code == u.code.as_str()
                    && c.name == u.name
                    && c.nature == u.nature
                    && c.nature_other.as_deref() == u.nature_other
                    && c.address == u.address
                    && c.employee_count == u.employee_count
            })
        })
}

/// Imports an organisation table: the grassroots unions under district union `parent`.
/// Rows of a unit already registered under `parent` update its union.
pub async fn orgs(
    cx: ImportContext<'_>,
    parent: &Org,
    bytes: Vec<u8>,
) -> Result<Imported, ImportFailure> {
    let started = std::time::Instant::now();
    let result = orgs_once(cx, parent, bytes).await;
    crate::metrics::import_finished("orgs", cx.commit, started, &result);
    result
}

async fn orgs_once(
    cx: ImportContext<'_>,
    parent: &Org,
    bytes: Vec<u8>,
) -> Result<Imported, ImportFailure> {
    let today: NaiveDate = cx.now.date_naive();
    let parsed =
        off_thread(move || huigong_roster::parse_orgs(&bytes, today, &Limits::default())).await?;
    let codes = unit_codes(&parsed.rows);
    // As for the roster: a clean commit plans only inside its transaction.
    let clean = parsed.errors.is_empty() && parsed.omitted_errors == 0;
    let plan_errors = if cx.commit && clean {
        Vec::new()
    } else {
        let placed = orgs::units_by_code(&cx.db.conn, &codes).await?;
        plan_orgs(parent, &parsed.rows, &placed).1
    };
    let mut report = ImportReport::new(
        parsed.total_rows,
        parsed.invalid_rows + count(plan_errors.len()),
        sorted(
            parsed
                .errors
                .iter()
                .cloned()
                .map(Into::into)
                .chain(plan_errors)
                .collect(),
        ),
        parsed.omitted_errors,
    );
    if !cx.commit {
        return Ok(Imported::Done(report));
    }
    if report.has_errors() {
        return Ok(Imported::Refused(report));
    }
    // Plan inside the write transaction, so what is written is what was checked.
    let txn = cx.db.begin_write().await?;
    let placed = orgs::units_by_code(&txn, &codes).await?;
    let (groups, errors) = plan_orgs(parent, &parsed.rows, &placed);
    if !errors.is_empty() {
        report.valid = report.rows.saturating_sub(count(errors.len()));
        report.errors = sorted(errors);
        return Ok(Imported::Refused(report));
    }
    let (mut created, mut updated, mut unchanged) = (0, 0, 0);
    let mut stale = StaleViews::new();
    for group in &groups {
        let (name, union) = union_of(&parsed.rows, group);
        let remark = remark_of(&parsed.rows, group);
        let id = match group.target {
            Some(id) => {
                let current = orgs::get_in_scope(&txn, cx.vault, id, &parent.path)
                    .await?
                    .ok_or(StoreError::Conflict)?;
                if same_registration(&current, name, &union) {
                    unchanged += 1;
                } else {
                    if current.name != name {
                        // Renamed: every card of the union shows the new name.
                        stale.holders_in(id);
                    }
                    orgs::update_union(&txn, cx.vault, id, name, &union, cx.actor, cx.now).await?;
                    updated += 1;
                }
                id
            }
            None => {
                let new = NewOrg {
                    level: OrgLevel::Grassroots,
                    name,
                    union: Some(&union),
                };
                created += 1;
                orgs::create(&txn, cx.vault, parent, &new, cx.actor, cx.now)
                    .await?
                    .id
            }
        };
        orgs::set_remark(&txn, id, remark, cx.now).await?;
    }
    txn.commit().await.map_err(StoreError::from)?;
    cx.views.invalidate(&cx.db.conn, stale).await;
    report.committed = true;
    report.created = Some(created);
    report.updated = Some(updated);
    report.unchanged = Some(unchanged);
    Ok(Imported::Done(report))
}

/// The organisation table of the grassroots unions in `orgs`, one row per unit; leader names
/// and phones masked unless `full`.
pub fn org_rows(orgs: &[Org], full: bool) -> Vec<OrgExportRow> {
    let mut rows = Vec::new();
    for org in orgs {
        let Some(union) = &org.union else { continue };
        let contact = shown_contact(full, &union.leader_name, &union.phone);
        for (index, unit) in union.units.iter().enumerate() {
            let first = index == 0;
            rows.push(OrgExportRow {
                unit_name: unit.name.clone(),
                unit_code: unit.code.clone(),
                unit_nature: unit.nature,
                unit_nature_other: unit.nature_other.clone(),
                unit_address: unit.address.clone(),
                employee_count: unit.employee_count,
                union_name: org.name.clone(),
                founded_on: union.founded_on,
                union_type: union.union_type,
                member_count: union.member_count_declared,
                leader_name: contact.0.clone(),
                phone: contact.1.clone(),
                // The union's 备注 once, on its first unit's row.
                remark: if first {
                    org.remark.clone().unwrap_or_default()
                } else {
                    String::new()
                },
            });
        }
    }
    rows
}

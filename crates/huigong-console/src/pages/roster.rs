//! 花名册导入 and the exports.
//!
//! - Upload (htmx, multipart, the JSON import's own `upload` with its limits) runs the dry run
//!   (`import_roster_bytes`, the JSON import's function) and shows its report as a table (row,
//!   column, message). A clean dry run leaves the workbook server-side, sealed with the vault
//!   under a random one-use token (30 minutes, in the shared ephemeral store, bound to the
//!   clerk and the union); 确认导入 commits exactly that workbook — nothing is re-uploaded.
//! - The commit runs as a background task; its state lives in the ephemeral store and the page
//!   polls it with htmx every second, so a 100,000-row commit never times the clerk out. It is
//!   all-or-nothing like the JSON import: any error and nothing is written.
//! - Exports: 附件3 masked (GET) or full (POST with a confirmation, audited by the same
//!   function), 附件2 (申请书名单 and 一览表) and 附件1: cookie-authenticated downloads that call
//!   the JSON routes' own workbook functions.

use crate::error::PageError;
use crate::layout::Layout;
use crate::pages::members::{UnionChoice, unions_in_scope};
use crate::pages::{html, see_other};
use crate::session::{Admin, state_of};
use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use huigong_api::imports::Imported;
use huigong_api::routes::orgs::org_in_scope;
use huigong_api::routes::roster as api;
use huigong_api::{ApiError, AppState};
use huigong_core::Role;
use huigong_core::labels::OrgLevel;
use huigong_vault::{Ciphertext, FieldContext};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

/// How long a clean dry run's workbook waits for 确认导入.
const PENDING_TTL: Duration = Duration::from_secs(30 * 60);
/// How long a commit's outcome can be read.
const JOB_TTL: Duration = Duration::from_secs(24 * 60 * 60);

fn pending_key(token: Uuid) -> String {
    format!("console:roster-import:{token}")
}

fn job_key(job: Uuid) -> String {
    format!("console:roster-job:{job}")
}

fn sealing(token: Uuid) -> FieldContext<'static> {
    FieldContext {
        table: "console_roster_import",
        column: "workbook",
        row: token,
    }
}

#[derive(Template)]
#[template(path = "roster_index.html")]
struct IndexPage {
    layout: Layout,
    unions: Vec<UnionChoice>,
    own_org: Uuid,
}

/// `GET /console/roster`: a grassroots clerk goes straight to its union; others pick one.
pub async fn index(req: HttpRequest, signed: Admin) -> Result<HttpResponse, PageError> {
    if signed.admin.caller.role == Role::GrassrootsAdmin {
        return Ok(see_other(&format!(
            "/console/roster/{}",
            signed.admin.org_id
        )));
    }
    let state = state_of(&req)?;
    let unions = unions_in_scope(&state, &signed.admin).await?;
    let page = IndexPage {
        own_org: signed.admin.org_id,
        layout: signed.layout,
        unions,
    };
    Ok(html(StatusCode::OK, page.render()?))
}

#[derive(Template)]
#[template(path = "roster.html")]
struct UnionPage {
    layout: Layout,
    org_id: Uuid,
    name: String,
    grassroots: bool,
}

/// `GET /console/roster/{org}`: upload and exports of one union of the caller's subtree.
pub async fn page(
    req: HttpRequest,
    signed: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let org = org_in_scope(&state, &signed.admin, &id).await?;
    let page = UnionPage {
        layout: signed.layout,
        org_id: org.id,
        grassroots: org.level == OrgLevel::Grassroots,
        name: org.name,
    };
    Ok(html(StatusCode::OK, page.render()?))
}

/// One problem of the report, as shown.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Problem {
    pub row: u32,
    pub column: String,
    pub message: String,
}

/// A report as the partials show it (a dry run's, or a commit's).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Report {
    pub rows: u32,
    pub valid: u32,
    pub problems: Vec<Problem>,
    pub omitted: u32,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl From<huigong_api::imports::ImportReport> for Report {
    fn from(r: huigong_api::imports::ImportReport) -> Self {
        Report {
            rows: r.rows,
            valid: r.valid,
            problems: r
                .errors
                .into_iter()
                .map(|e| Problem {
                    row: e.row,
                    column: e.column,
                    message: e.message,
                })
                .collect(),
            omitted: r.omitted_errors,
            created: r.created.unwrap_or(0),
            updated: r.updated.unwrap_or(0),
            unchanged: r.unchanged.unwrap_or(0),
        }
    }
}

#[derive(Template)]
#[template(path = "roster_report.html")]
struct ReportPartial {
    org_id: Uuid,
    csrf: String,
    report: Option<Report>,
    /// The token of a clean dry run, for 确认导入.
    token: Option<Uuid>,
    error: Option<String>,
}

/// `POST /console/roster/{org}/upload` (htmx, multipart `file`): the dry run and its report.
pub async fn upload(
    req: HttpRequest,
    signed: Admin,
    id: web::Path<String>,
    payload: Multipart,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let org = api::roster_union(&state, &signed.admin, &id).await?;
    let csrf = signed.layout.csrf.clone();
    let partial = |report, token, error| ReportPartial {
        org_id: org.id,
        csrf: csrf.clone(),
        report,
        token,
        error,
    };
    let bytes = match api::upload(payload).await {
        Ok(b) => b,
        Err(e) => return field_error(e, partial(None, None, None)),
    };
    let kept = bytes.clone();
    let actor = signed.admin.actor(&req);
    let report = match api::import_roster_bytes(&state, &actor, &org, bytes, false).await {
        Ok(Imported::Done(r) | Imported::Refused(r)) => r,
        Ok(Imported::Unavailable) => {
            return field_error(api::unavailable(), partial(None, None, None));
        }
        Err(e) => return field_error(api::import_error(e), partial(None, None, None)),
    };
    let clean = report.errors.is_empty() && report.omitted_errors == 0 && report.rows > 0;
    let token = if clean {
        let token = Uuid::new_v4();
        let mut plain = Vec::with_capacity(32 + kept.len());
        plain.extend_from_slice(signed.admin.caller.user_id.as_bytes());
        plain.extend_from_slice(org.id.as_bytes());
        plain.extend_from_slice(&kept);
        let sealed = state.vault.seal(&sealing(token), &plain);
        state
            .sessions
            .store()
            .set(&pending_key(token), sealed.as_bytes(), PENDING_TTL)
            .await
            .map_err(ApiError::from)?;
        Some(token)
    } else {
        None
    };
    let page = partial(Some(report.into()), token, None);
    Ok(html(StatusCode::OK, page.render()?))
}

/// A refusal the clerk can act on (bad file, too large, budget used up, 409) shown in the
/// report area; anything else is the error page.
fn field_error(e: ApiError, mut partial: ReportPartial) -> Result<HttpResponse, PageError> {
    if e.status.is_server_error() || e.status == StatusCode::NOT_FOUND {
        return Err(e.into());
    }
    partial.error = Some(e.body.message.to_string());
    // 200 so that htmx swaps the message in (it ignores error answers by default).
    Ok(html(StatusCode::OK, partial.render()?))
}

/// A commit's state, in the ephemeral store.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Job {
    user: Uuid,
    org: Uuid,
    /// `running`, `done`, `refused`, `failed`.
    state: String,
    rows: u32,
    started: i64,
    report: Option<Report>,
    message: Option<String>,
}

#[derive(Template)]
#[template(path = "roster_job.html")]
struct JobPartial {
    org_id: Uuid,
    job_id: Uuid,
    job: Job,
    elapsed: i64,
}

#[derive(Debug, Deserialize)]
pub struct CommitForm {
    #[serde(default)]
    token: String,
}

/// `POST /console/roster/{org}/commit` (htmx): commits the dry run's workbook in the
/// background and answers the progress partial, which polls.
pub async fn commit(
    req: HttpRequest,
    signed: Admin,
    id: web::Path<String>,
    form: web::Form<CommitForm>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let org = api::roster_union(&state, &signed.admin, &id).await?;
    let expired = || {
        PageError::from(ApiError::new(
            StatusCode::GONE,
            "import_token_expired",
            "预检结果已过期或已使用，请重新上传花名册",
        ))
    };
    let token = Uuid::parse_str(form.token.trim()).map_err(|_| expired())?;
    let store = state.sessions.store();
    let sealed = store
        .get(&pending_key(token))
        .await
        .map_err(ApiError::from)?
        .ok_or_else(expired)?;
    // One use: whoever deletes it commits.
    if !store
        .delete(&pending_key(token))
        .await
        .map_err(ApiError::from)?
    {
        return Err(expired());
    }
    let plain = Ciphertext::from_bytes(sealed)
        .ok()
        .and_then(|c| state.vault.open(&sealing(token), &c).ok())
        .ok_or_else(expired)?;
    let user = signed.admin.caller.user_id;
    if plain.len() < 32 || plain[..16] != *user.as_bytes() || plain[16..32] != *org.id.as_bytes() {
        return Err(expired());
    }
    let bytes = plain[32..].to_vec();
    let job_id = Uuid::new_v4();
    let job = Job {
        user,
        org: org.id,
        state: "running".to_owned(),
        rows: 0,
        started: state.clock.now().timestamp(),
        report: None,
        message: None,
    };
    save(&state, job_id, &job).await?;
    let actor = signed.admin.actor(&req);
    let org_id = org.id;
    let background = state.clone();
    actix_web::rt::spawn(async move {
        let result = api::import_roster_bytes(&background, &actor, &org, bytes, true).await;
        let mut job = job;
        match result {
            Ok(Imported::Done(r)) => {
                job.state = "done".to_owned();
                job.rows = r.rows;
                job.report = Some(r.into());
            }
            Ok(Imported::Refused(r)) => {
                job.state = "refused".to_owned();
                job.rows = r.rows;
                job.report = Some(r.into());
            }
            Ok(Imported::Unavailable) => {
                job.state = "refused".to_owned();
                job.message = Some(api::unavailable().body.message.to_string());
            }
            Err(e) => {
                let e = api::import_error(e);
                job.state = "failed".to_owned();
                job.message = Some(if e.status.is_server_error() {
                    "导入未完成，未写入任何数据，请稍后重新上传。".to_owned()
                } else {
                    e.body.message.to_string()
                });
            }
        }
        if let Err(e) = save(&background, job_id, &job).await {
            tracing::warn!(error = %e.body.message, "console import outcome not saved");
        }
    });
    job_page(&state, user, org_id, job_id)
        .await
        .map(|p| html(StatusCode::OK, p))
}

async fn save(state: &AppState, id: Uuid, job: &Job) -> Result<(), ApiError> {
    let value = serde_json::to_vec(job).map_err(|e| ApiError::internal(&e))?;
    state
        .sessions
        .store()
        .set(&job_key(id), &value, JOB_TTL)
        .await
        .map_err(ApiError::from)
}

async fn job_page(state: &AppState, user: Uuid, org: Uuid, id: Uuid) -> Result<String, PageError> {
    let job: Job = state
        .sessions
        .store()
        .get(&job_key(id))
        .await
        .map_err(ApiError::from)?
        .and_then(|v| serde_json::from_slice(&v).ok())
        .filter(|j: &Job| j.org == org && j.user == user)
        .ok_or_else(PageError::not_found)?;
    let elapsed = (state.clock.now().timestamp() - job.started).max(0);
    Ok(JobPartial {
        org_id: org,
        job_id: id,
        job,
        elapsed,
    }
    .render()?)
}

/// `GET /console/roster/{org}/jobs/{job}` (htmx polling): the commit's progress or outcome.
pub async fn job(
    req: HttpRequest,
    signed: Admin,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let (id, job) = path.into_inner();
    let org = org_in_scope(&state, &signed.admin, &id).await?;
    let job = Uuid::parse_str(&job).map_err(|_| PageError::not_found())?;
    let body = job_page(&state, signed.admin.caller.user_id, org.id, job).await?;
    Ok(html(StatusCode::OK, body))
}

/// `GET /console/roster/{org}/roster.xlsx`: 附件3, masked.
pub async fn roster_masked(
    req: HttpRequest,
    signed: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let actor = signed.admin.actor(&req);
    Ok(api::roster_xlsx(&state, &signed.admin, &actor, &id, false, None).await?)
}

#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    confirm: Option<String>,
}

/// `POST /console/roster/{org}/roster.xlsx`: 附件3 in full, only with the confirmation ticked
/// (the export is audited by `roster_xlsx` itself).
pub async fn roster_full(
    req: HttpRequest,
    signed: Admin,
    id: web::Path<String>,
    form: web::Form<ConfirmForm>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    if form.confirm.as_deref() != Some("yes") {
        // Scope first: out of scope stays a 404 whatever the form says.
        org_in_scope(&state, &signed.admin, &id).await?;
        return Err(ApiError::invalid_field("confirm", "导出完整信息前须勾选确认").into());
    }
    let actor = signed.admin.actor(&req);
    Ok(api::roster_xlsx(&state, &signed.admin, &actor, &id, true, None).await?)
}

/// `GET /console/roster/{org}/applications.xlsx`: 附件2 入会申请书名单, masked.
pub async fn applications_xlsx(
    req: HttpRequest,
    signed: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let actor = signed.admin.actor(&req);
    Ok(api::applications_xlsx(&state, &signed.admin, &actor, &id, false).await?)
}

/// `GET /console/roster/{org}/signing-list.xlsx`: 附件2 入会申请书一览表, masked.
pub async fn signing_list_xlsx(
    req: HttpRequest,
    signed: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let actor = signed.admin.actor(&req);
    Ok(api::signing_list_xlsx(&state, &signed.admin, &actor, &id, false).await?)
}

/// `GET /console/roster/{org}/units.xlsx`: 附件1 of the org's subtree, masked.
pub async fn units_xlsx(
    req: HttpRequest,
    signed: Admin,
    id: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let actor = signed.admin.actor(&req);
    Ok(api::units_xlsx(&state, &signed.admin, &actor, &id, false).await?)
}

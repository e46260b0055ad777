//! The roster (花名册) in and out of Excel, in appendix 3's layout.
//!
//! Import is a dry run unless `?commit=true`; both answer the same report. A commit with any
//! error changes nothing (422 with the report).

use crate::auth::AdminCaller;
use crate::error::{ApiError, ErrorBody};
use crate::imports::{self, ImportContext, ImportFailure, ImportReport, Imported};
use crate::state::AppState;
use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use futures_util::StreamExt as _;
use huigong_core::labels::OrgLevel;
use huigong_core::mask::{ShownPerson, mask_name, shown_contact};
use huigong_roster::{
    ApplicationListRow, RosterExportRow, RosterHeader, SigningListRow, Spill, WorkbookError,
};
use huigong_store::audit::{self, Actor, Entry, Outcome};
use huigong_store::{StoreError, members, orgs};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

/// The largest workbook accepted.
const MAX_UPLOAD: usize = 10 * 1024 * 1024;

fn workbook_error(e: &WorkbookError) -> ApiError {
    let status = match e {
        WorkbookError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut err = ApiError::new(status, "invalid_workbook", e.message_zh());
    err.body.field = Some("file".into());
    err
}

/// Org `id` of the caller's subtree (else 404), of any level if `level` is `None`.
async fn org_in_scope(
    state: &AppState,
    admin: &AdminCaller,
    id: &str,
    level: Option<OrgLevel>,
) -> Result<orgs::Org, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::not_found())?;
    let org = orgs::get_in_scope(&state.db.conn, &state.vault, id, &admin.scope)
        .await?
        .ok_or_else(ApiError::not_found)?;
    match level {
        Some(OrgLevel::Grassroots) if org.level != OrgLevel::Grassroots => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_grassroots",
            "花名册属于基层工会",
        )),
        Some(OrgLevel::District) if org.level != OrgLevel::District => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_district",
            "基层工会须导入到乡镇（街道、园区）总工会或县直属产业（行业）工会之下",
        )),
        _ => Ok(org),
    }
}

/// The most bytes of all multipart fields other than `file` together (form fields a browser
/// adds; nothing reads them).
const MAX_OTHER_FIELDS_BYTES: usize = 4 * 1024;
/// The most multipart fields before `file`.
const MAX_FIELDS: usize = 16;

fn too_large(field: &str, message: &'static str) -> ApiError {
    let mut err = ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message);
    err.body.field = Some(field.to_owned().into());
    err
}

/// Reads the multipart field `file`, at most [`MAX_UPLOAD`] bytes. Other fields are read and
/// dropped, at most [`MAX_OTHER_FIELDS_BYTES`] together and [`MAX_FIELDS`] of them (413 naming
/// the field past the limit): the upload's size is bounded whatever its shape.
pub async fn upload(mut payload: Multipart) -> Result<Vec<u8>, ApiError> {
    let unreadable = || ApiError::invalid_field("file", "上传内容无法读取");
    let (mut fields, mut other_bytes) = (0usize, 0usize);
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(|_| unreadable())?;
        fields += 1;
        if field.name() != Some("file") {
            let name = field
                .name()
                .unwrap_or_default()
                .chars()
                .take(64)
                .collect::<String>();
            if fields > MAX_FIELDS {
                return Err(too_large(&name, "上传的表单字段过多"));
            }
            while let Some(chunk) = field.next().await {
                other_bytes += chunk.map_err(|_| unreadable())?.len();
                if other_bytes > MAX_OTHER_FIELDS_BYTES {
                    return Err(too_large(&name, "file 以外的表单字段合计不能超过 4 KB"));
                }
            }
            continue;
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| unreadable())?;
            if bytes.len() + chunk.len() > MAX_UPLOAD {
                return Err(too_large("file", "文件不能超过 10 MB"));
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok(bytes);
    }
    Err(ApiError::invalid_field(
        "file",
        "请以 multipart 字段 file 上传 .xlsx、.xls 或 .ods 文件",
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `true` to write; otherwise a dry run.
    commit: Option<bool>,
}

/// Imports a roster workbook (multipart field `file`, `.xlsx`, `.xls` or `.ods`, ≤ 10 MB, ≤ 100,000 rows) into a
/// grassroots union of the caller's subtree.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(ImportQuery),
    request_body(content_type = "multipart/form-data", description = "field `file`: the .xlsx roster"),
    responses(
        (status = 200, body = ImportReport, description = "dry run (with or without errors), or committed"),
        (status = 400, body = ErrorBody, description = "not a valid workbook, or no header row"),
        (status = 404, body = ErrorBody),
        (status = 413, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "`id_number_unavailable`: commit refused as a whole, naming no row — some ID numbers cannot be registered in this union (members elsewhere under other names); nothing was written. `import_conflict`: a concurrent import won"),
        (status = 422, body = ImportReport, description = "commit refused: the report lists the errors (incl. `member_elsewhere` with the recorded name, `record_differs` for a person on record with another name or mobile); nothing was written"),
        (status = 429, body = ErrorBody, description = "`too_many_attempts`: the admin's or the union's daily budget of rows checked (`roster.max_checked_rows_per_day`) is used up"),
    )
)]
#[post("/api/v1/admin/orgs/{id}/roster/import")]
pub async fn import_roster(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    query: crate::query::Query<ImportQuery>,
    payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    let org = roster_union(&state, &admin, &id).await?;
    let bytes = upload(payload).await?;
    let actor = admin.actor(&req);
    answer(import_roster_bytes(&state, &actor, &org, bytes, query.commit.unwrap_or(false)).await)
}

/// The grassroots union `id` of the caller's subtree whose roster may be imported: 404 out of
/// scope, 400 `not_grassroots`, 409 when it is not active (the JSON import and the console).
pub async fn roster_union(
    state: &AppState,
    admin: &AdminCaller,
    id: &str,
) -> Result<orgs::Org, ApiError> {
    let org = org_in_scope(state, admin, id, Some(OrgLevel::Grassroots)).await?;
    if org.status != "active" {
        return Err(crate::routes::members::union_not_active());
    }
    Ok(org)
}

/// Checks (and with `commit`, writes) a roster workbook into `org` (from [`roster_union`]): the
/// JSON import and the console's. Failures map to errors with [`import_error`].
pub async fn import_roster_bytes(
    state: &AppState,
    actor: &Actor,
    org: &orgs::Org,
    bytes: Vec<u8>,
    commit: bool,
) -> Result<Imported, ImportFailure> {
    let cx = import_context(state, actor, commit);
    imports::roster(cx, org, bytes).await
}

fn import_context<'a>(state: &'a AppState, actor: &'a Actor, commit: bool) -> ImportContext<'a> {
    ImportContext {
        db: &state.db,
        vault: &state.vault,
        views: &state.card_views,
        actor,
        now: state.clock.now(),
        commit,
        budget: actor
            .user_id
            .map(|user| crate::membership_checks::RowBudget::of(state, user)),
    }
}

fn answer(result: Result<Imported, ImportFailure>) -> Result<HttpResponse, ApiError> {
    match result {
        Ok(Imported::Done(report)) => Ok(HttpResponse::Ok().json(report)),
        Ok(Imported::Refused(report)) => Ok(HttpResponse::UnprocessableEntity().json(report)),
        Ok(Imported::Unavailable) => Err(unavailable()),
        Err(e) => Err(import_error(e)),
    }
}

/// `id_number_unavailable`: a commit refused as a whole, naming no row.
pub fn unavailable() -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "id_number_unavailable",
        imports::ID_NUMBERS_UNAVAILABLE,
    )
}

/// The error an import's failure answers.
pub fn import_error(e: ImportFailure) -> ApiError {
    match e {
        ImportFailure::Workbook(e) => workbook_error(&e),
        ImportFailure::Refused(e) => e,
        // A concurrent import of the same records won the unique index: nothing was written.
        ImportFailure::Conflict => ApiError::new(
            StatusCode::CONFLICT,
            "import_conflict",
            "另一导入同时登记了其中的记录，本次未写入任何数据，请重新导入",
        ),
        ImportFailure::Store(e) => e.into(),
        ImportFailure::Internal(e) => ApiError::internal(&e),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `true` for unmasked values (recorded in the audit log).
    full: Option<bool>,
    /// Roster only: the roster archived when the union confirmed this half-year (`2026H2`).
    period: Option<String>,
}

/// The roster of a grassroots union as an .xlsx in appendix 3's layout, masked unless
/// `?full=true`. A full export imports back unchanged. With `?period=2026H2`, the roster as it
/// was archived when the union confirmed that half-year (404 `not_archived` if it did not).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(ExportQuery),
    responses(
        (status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", description = "the workbook"),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/api/v1/admin/orgs/{id}/roster.xlsx")]
pub async fn export_roster(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    query: crate::query::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let actor = admin.actor(&req);
    roster_xlsx(
        &state,
        &admin,
        &actor,
        &id,
        query.full.unwrap_or(false),
        query.period.as_deref(),
    )
    .await
}

/// The workbook of [`export_roster`] (the JSON route and the console's download): org `id` of the
/// caller's subtree (else 404), masked unless `full` (audited).
pub async fn roster_xlsx(
    state: &AppState,
    admin: &AdminCaller,
    actor: &Actor,
    id: &str,
    full: bool,
    period: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let org = org_in_scope(state, admin, id, Some(OrgLevel::Grassroots)).await?;
    if let Some(period) = period {
        let actor = actor.clone();
        return crate::routes::reports::archived_roster_xlsx(state, &actor, &org, period, full)
            .await;
    }
    if full {
        audit_full_export(
            state,
            actor,
            "roster.export_full",
            org.id,
            &["name", "id_number", "mobile", "leader_name", "phone"],
        )
        .await?;
    }
    // Page by page: only one page of decrypted people is held at a time.
    let mut rows: Vec<RosterExportRow> = Vec::new();
    let mut after = None;
    loop {
        let page = members::page_of(&state.db.conn, &state.vault, org.id, after, 2000).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        rows.extend(page.iter().map(|m| {
            let p = &m.person;
            export_row(
                ShownPerson::new(full, &p.name, &p.id_number, p.mobile.as_ref()),
                &m.fields,
            )
        }));
    }
    // The header's contact is the union's leader: masked like the rows unless full.
    let contact = org
        .union
        .as_ref()
        .map(|u| shown_contact(full, &u.leader_name, &u.phone));
    let header = RosterHeader {
        union_name: Some(org.name.clone()),
        contact: contact.as_ref().map(|c| c.0.clone()),
        phone: contact.map(|c| c.1),
    };
    // Masked rows may spill to a temporary file while the workbook is written; full ones never
    // touch the disk.
    let spill = if full {
        Spill::Never
    } else {
        Spill::ToTempFile
    };
    xlsx_written(&format!("{}花名册", org.name), move || {
        huigong_roster::write_roster_with(&header, &rows, spill)
    })
    .await
}

/// One row of appendix 3 as exported: the person as `shown`, then the roster's own fields.
pub(crate) fn export_row(
    shown: ShownPerson,
    fields: &huigong_store::members::RosterFields,
) -> RosterExportRow {
    RosterExportRow {
        name: shown.name,
        sex: shown.sex.to_owned(),
        id_number: shown.id_number,
        nationality: fields.nationality.clone(),
        education: fields.education.clone(),
        mobile: shown.mobile.unwrap_or_default(),
        household_type: fields.household_type.clone(),
        unit_name: fields.unit_name.clone(),
        employment_status: fields.employment_status.clone(),
        union_post: fields.union_post.clone(),
    }
}

/// Records that `actor` exported unmasked personal data of `org_id`.
pub(crate) async fn audit_full_export(
    state: &AppState,
    actor: &Actor,
    action: &'static str,
    org_id: Uuid,
    fields: &'static [&'static str],
) -> Result<(), ApiError> {
    let txn = state.db.begin_write().await?;
    audit::record(
        &txn,
        actor,
        &Entry {
            action,
            target_type: "org",
            target_id: Some(org_id.to_string()),
            fields,
            outcome: Outcome::Success,
        },
        state.clock.now(),
    )
    .await?;
    txn.commit().await.map_err(StoreError::from)?;
    Ok(())
}

/// Writes a workbook off the async workers and answers it as the download `{name}.xlsx`.
pub(crate) async fn xlsx_written(
    name: &str,
    write: impl FnOnce() -> Result<Vec<u8>, WorkbookError> + Send + 'static,
) -> Result<HttpResponse, ApiError> {
    let bytes = web::block(write)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))?;
    Ok(xlsx(bytes, name))
}

/// A workbook download named `{name}.xlsx`, never cached.
fn xlsx(bytes: Vec<u8>, name: &str) -> HttpResponse {
    let disposition = format!(
        "attachment; filename=\"export.xlsx\"; filename*=UTF-8''{}.xlsx",
        percent_encode(name)
    );
    HttpResponse::Ok()
        .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .insert_header((
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(bytes)
}

/// Imports an organisation table (附件1 layout; multipart field `file`, `.xlsx`, `.xls` or
/// `.ods`, ≤ 10 MB):
/// grassroots unions under district union `{id}`. A row whose unit is already registered
/// under `{id}` updates its union; rows of one 联合工会 (same 工会名称) make one union with
/// several units.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(ImportQuery),
    request_body(content_type = "multipart/form-data", description = "field `file`: the .xlsx organisation table"),
    responses(
        (status = 200, body = ImportReport, description = "dry run (with or without errors), or committed; created/updated/unchanged count unions"),
        (status = 400, body = ErrorBody, description = "not a valid workbook, or `{id}` is not a district union"),
        (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "a concurrent import registered some of the units; nothing was written"),
        (status = 413, body = ErrorBody),
        (status = 422, body = ImportReport, description = "commit refused: the report lists the errors; nothing was written"),
    )
)]
#[post("/api/v1/admin/orgs/{id}/children/import")]
pub async fn import_children(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    query: crate::query::Query<ImportQuery>,
    payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    let parent = org_in_scope(&state, &admin, &id, Some(OrgLevel::District)).await?;
    let bytes = upload(payload).await?;
    let actor = admin.actor(&req);
    let cx = import_context(&state, &actor, query.commit.unwrap_or(false));
    answer(imports::orgs(cx, &parent, bytes).await)
}

/// The grassroots unions of org `{id}`'s subtree as an .xlsx in appendix 1's layout, one row
/// per unit; leader names and phones masked unless `?full=true` (audited). A full export of a
/// district imports back unchanged.
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(ExportQuery),
    responses(
        (status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", description = "the workbook"),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/api/v1/admin/orgs/{id}/units.xlsx")]
pub async fn export_units(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    query: crate::query::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let actor = admin.actor(&req);
    units_xlsx(&state, &admin, &actor, &id, query.full.unwrap_or(false)).await
}

/// The workbook of [`export_units`] (the JSON route and the console's download): org `id` of the
/// caller's subtree (else 404), masked unless `full` (audited).
pub async fn units_xlsx(
    state: &AppState,
    admin: &AdminCaller,
    actor: &Actor,
    id: &str,
    full: bool,
) -> Result<HttpResponse, ApiError> {
    let org = org_in_scope(state, admin, id, None).await?;
    let unions = orgs::grassroots_in(&state.db.conn, &state.vault, &org.path).await?;
    if full {
        audit_full_export(
            state,
            actor,
            "units.export_full",
            org.id,
            &["leader_name", "phone"],
        )
        .await?;
    }
    let rows = imports::org_rows(&unions, full);
    xlsx_written(
        &format!("{}基层工会组织信息", org.name),
        move || huigong_roster::write_orgs(&rows),
    )
    .await
}

/// Appendix 2's list of applicants to grassroots union `{id}` (序号, 姓名, 签名, 是否注册电子会员卡,
/// 有无微信): the applications not rejected, oldest first. Names masked and typed signatures
/// shown masked unless `?full=true`, which also embeds drawn signatures (audited).
/// 是否注册电子会员卡 is ticked for approved applications only (a pending one says nothing of a
/// card).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(ExportQuery),
    responses(
        (status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", description = "the workbook"),
        (status = 404, body = ErrorBody),
    )
)]
#[get("/api/v1/admin/orgs/{id}/applications.xlsx")]
pub async fn export_applications(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    query: crate::query::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let actor = admin.actor(&req);
    applications_xlsx(&state, &admin, &actor, &id, query.full.unwrap_or(false)).await
}

/// The workbook of [`export_applications`] (the JSON route and the console's download): org `id` of the
/// caller's subtree (else 404), masked unless `full` (audited).
pub async fn applications_xlsx(
    state: &AppState,
    admin: &AdminCaller,
    actor: &Actor,
    id: &str,
    full: bool,
) -> Result<HttpResponse, ApiError> {
    use base64::Engine as _;
    let org = org_in_scope(state, admin, id, Some(OrgLevel::Grassroots)).await?;
    let listed =
        huigong_store::applications::signed_list(&state.db.conn, &state.vault, org.id, full)
            .await?;
    if full {
        audit_full_export(
            state,
            actor,
            "applications.export_full",
            org.id,
            &["name", "signature"],
        )
        .await?;
    }
    let rows: Vec<ApplicationListRow> = listed
        .into_iter()
        .map(|l| {
            let shown = if full {
                l.application.signature_name.to_string()
            } else {
                mask_name(&l.application.signature_name)
            };
            ApplicationListRow {
                name: if full {
                    l.application.name.to_string()
                } else {
                    mask_name(&l.application.name)
                },
                signature: shown,
                signature_png: l.signature_png.and_then(|b64| {
                    base64::engine::general_purpose::STANDARD
                        .decode(b64.as_bytes())
                        .ok()
                }),
                card_registered: l.card_active,
                has_wechat: true,
            }
        })
        .collect();
    let union_name = org.name.clone();
    xlsx_written(&format!("{}入会申请书名单", org.name), move || {
        huigong_roster::write_applications(
            &union_name,
            crate::routes::applications::DECLARATION_TEXT,
            &rows,
        )
    })
    .await
}

/// 附件2 as the notice prints it (入会申请书一览表) for grassroots union `{id}`: every active
/// member, two per row in two column groups (序号, 姓名, 签名, 是否注册电子会员卡(√), 有无微信(√)).
/// 签名 is blank for a paper signature and `已在线签名 <date>` for an approved online
/// application; the card mark comes from the card's status, the WeChat mark from a bound
/// account (or an online application). Names masked unless `?full=true` (audited,
/// `members.signing_list_full`).
#[utoipa::path(
    tag = "admin",
    security(("bearer" = [])),
    params(ExportQuery),
    responses(
        (status = 200, content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", description = "the workbook"),
        (status = 404, body = ErrorBody, description = "not a grassroots union of the caller's subtree"),
    )
)]
#[get("/api/v1/admin/orgs/{id}/signing-list.xlsx")]
pub async fn export_signing_list(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    query: crate::query::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let actor = admin.actor(&req);
    signing_list_xlsx(&state, &admin, &actor, &id, query.full.unwrap_or(false)).await
}

/// The workbook of [`export_signing_list`] (the JSON route and the console's download): org `id` of the
/// caller's subtree (else 404), masked unless `full` (audited).
pub async fn signing_list_xlsx(
    state: &AppState,
    admin: &AdminCaller,
    actor: &Actor,
    id: &str,
    full: bool,
) -> Result<HttpResponse, ApiError> {
    let org = org_in_scope(state, admin, id, Some(OrgLevel::Grassroots)).await?;
    let listed =
        huigong_store::member_cards::signing_list(&state.db.conn, &state.vault, org.id).await?;
    if full {
        audit_full_export(state, actor, "members.signing_list_full", org.id, &["name"]).await?;
    }
    let rows: Vec<SigningListRow> = listed
        .into_iter()
        .map(|entry| {
            let name = &entry.member.member.person.name;
            SigningListRow {
                name: if full {
                    name.to_string()
                } else {
                    mask_name(name)
                },
                signed_online_on: entry
                    .signed_online_at
                    .map(huigong_store::merchants::beijing_day),
                card_registered: entry.member.card
                    == huigong_store::member_cards::CardState::Active,
                has_wechat: entry.member.wechat_bound || entry.applied_online,
            }
        })
        .collect();
    let union_name = org.name.clone();
    xlsx_written(
        &format!("{}入会申请书一览表", org.name),
        move || {
            huigong_roster::write_signing_list(
                &union_name,
                crate::routes::applications::DECLARATION_TEXT,
                &rows,
            )
        },
    )
    .await
}

/// RFC 5987 encoding of a file name.
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

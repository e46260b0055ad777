//! The roster (花名册) in and out of Excel, in appendix 3's layout.
//!
//! Import is a dry run unless `?commit=true`; both answer the same report. A commit with any
//! error changes nothing (422 with the report).

use crate::auth::AdminCaller;
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;
use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use futures_util::StreamExt as _;
use huigong_core::labels::OrgLevel;
use huigong_core::mask::mask_name;
use huigong_roster::{Limits, RosterExportRow, RosterHeader, RowError, WorkbookError};
use huigong_store::audit::{self, Entry, Outcome};
use huigong_store::members::{self, ImportError, ImportRow, RosterFields};
use huigong_store::{StoreError, orgs};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// The largest workbook accepted.
const MAX_UPLOAD: usize = 10 * 1024 * 1024;

#[derive(Debug, Serialize, ToSchema)]
pub struct ImportProblem {
    /// The row number Excel shows.
    pub row: u32,
    /// The column's header text, e.g. 身份证号码.
    pub column: String,
    pub code: String,
    pub message: String,
}

/// The import report, for dry runs and commits alike.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    /// Data rows in the file.
    pub rows: u32,
    /// Rows without any error.
    pub valid: u32,
    pub errors: Vec<ImportProblem>,
    /// Errors found beyond the listed ones.
    pub omitted_errors: u32,
    pub committed: bool,
    /// On commit: new memberships, changed ones, identical ones.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unchanged: Option<u64>,
}

fn row_error(e: RowError) -> ImportProblem {
    ImportProblem {
        row: e.row,
        column: e.column,
        code: e.code,
        message: e.message,
    }
}

fn workbook_error(e: &WorkbookError) -> ApiError {
    let status = match e {
        WorkbookError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut err = ApiError::new(status, "invalid_workbook", e.message_zh());
    err.body.field = Some("file".into());
    err
}

async fn grassroots_in_scope(
    state: &AppState,
    admin: &AdminCaller,
    id: &str,
) -> Result<orgs::Org, ApiError> {
    let id = Uuid::parse_str(id).map_err(|_| ApiError::not_found())?;
    let org = orgs::get_in_scope(&state.db.conn, &state.vault, id, &admin.scope)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if org.level != OrgLevel::Grassroots {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "not_grassroots",
            "花名册属于基层工会",
        ));
    }
    Ok(org)
}

/// Reads the multipart field `file`, at most [`MAX_UPLOAD`] bytes.
async fn upload(mut payload: Multipart) -> Result<Vec<u8>, ApiError> {
    while let Some(field) = payload.next().await {
        let mut field = field.map_err(|_| ApiError::invalid_field("file", "上传内容无法读取"))?;
        if field.name() != Some("file") {
            continue;
        }
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk = chunk.map_err(|_| ApiError::invalid_field("file", "上传内容无法读取"))?;
            if bytes.len() + chunk.len() > MAX_UPLOAD {
                let mut err = ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    "文件不能超过 10 MB",
                );
                err.body.field = Some("file".into());
                return Err(err);
            }
            bytes.extend_from_slice(&chunk);
        }
        return Ok(bytes);
    }
    Err(ApiError::invalid_field(
        "file",
        "请以 multipart 字段 file 上传 .xlsx 文件",
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ImportQuery {
    /// `true` to write; otherwise a dry run.
    commit: Option<bool>,
}

/// Imports a roster workbook (multipart field `file`, `.xlsx`, ≤ 10 MB, ≤ 100,000 rows) into a
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
        (status = 422, body = ImportReport, description = "commit refused: the report lists the errors; nothing was written"),
    )
)]
#[post("/api/v1/admin/orgs/{id}/roster/import")]
pub async fn import_roster(
    req: HttpRequest,
    state: web::Data<AppState>,
    admin: AdminCaller,
    id: web::Path<String>,
    query: web::Query<ImportQuery>,
    payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    let org = grassroots_in_scope(&state, &admin, &id).await?;
    let bytes = upload(payload).await?;
    let today = state.clock.now().date_naive();
    let parsed =
        web::block(move || huigong_roster::parse_roster(&bytes, today, &Limits::default()))
            .await
            .map_err(|e| ApiError::internal(&e))?
            .map_err(|e| workbook_error(&e))?;
    let rows: Vec<ImportRow> = parsed
        .rows
        .iter()
        .map(|r| ImportRow {
            id_number: r.id_number.clone(),
            name: r.name.clone(),
            mobile: r.mobile.clone(),
            fields: RosterFields {
                unit_name: r.unit_name.clone(),
                nationality: r.nationality.clone(),
                education: r.education.clone(),
                household_type: r.household_type.clone(),
                employment_status: r.employment_status.clone(),
                union_post: r.union_post.clone(),
            },
        })
        .collect();
    let mut errors: Vec<ImportProblem> = parsed.errors.into_iter().map(row_error).collect();
    let elsewhere = members::import_conflicts(&state.db.conn, &state.vault, org.id, &rows).await?;
    let elsewhere_errors = |conflicts: &[members::ElsewhereConflict]| -> Vec<ImportProblem> {
        conflicts
            .iter()
            .map(|c| {
                let r = &parsed.rows[c.index];
                ImportProblem {
                    row: r.row,
                    column: "身份证号码".to_owned(),
                    code: "member_elsewhere".to_owned(),
                    message: format!(
                        "{}（{}）已是其他工会的会员，须先办理转出",
                        mask_name(&r.name),
                        r.id_number.masked()
                    ),
                }
            })
            .collect()
    };
    errors.extend(elsewhere_errors(&elsewhere));
    errors.sort_by_key(|e| e.row);
    let invalid = parsed.invalid_rows + u32::try_from(elsewhere.len()).unwrap_or(u32::MAX);
    let mut report = ImportReport {
        rows: parsed.total_rows,
        valid: parsed.total_rows.saturating_sub(invalid),
        errors,
        omitted_errors: parsed.omitted_errors,
        committed: false,
        created: None,
        updated: None,
        unchanged: None,
    };
    if !query.commit.unwrap_or(false) {
        return Ok(HttpResponse::Ok().json(report));
    }
    if !report.errors.is_empty() || report.omitted_errors > 0 {
        return Ok(HttpResponse::UnprocessableEntity().json(report));
    }
    match members::import(
        &state.db,
        &state.vault,
        org.id,
        &rows,
        &admin.actor(&req),
        state.clock.now(),
    )
    .await
    {
        Ok(outcome) => {
            report.committed = true;
            report.created = Some(outcome.created);
            report.updated = Some(outcome.updated);
            report.unchanged = Some(outcome.unchanged);
            Ok(HttpResponse::Ok().json(report))
        }
        // Someone joined these people elsewhere meanwhile: nothing was written.
        Err(ImportError::Elsewhere(conflicts)) => {
            report.errors = elsewhere_errors(&conflicts);
            report.valid = report
                .rows
                .saturating_sub(u32::try_from(conflicts.len()).unwrap_or(u32::MAX));
            Ok(HttpResponse::UnprocessableEntity().json(report))
        }
        // A concurrent import of the same people won the unique index: nothing was written.
        Err(ImportError::Store(StoreError::Conflict)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "import_conflict",
            "另一导入同时登记了其中的会员，本次未写入任何数据，请重新导入",
        )),
        Err(ImportError::Store(e)) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `true` for unmasked values (recorded in the audit log).
    full: Option<bool>,
}

/// The roster of a grassroots union as an .xlsx in appendix 3's layout, masked unless
/// `?full=true`. A full export imports back unchanged.
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
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    let org = grassroots_in_scope(&state, &admin, &id).await?;
    let full = query.full.unwrap_or(false);
    let members = members::all_of(&state.db.conn, &state.vault, org.id).await?;
    if full {
        let txn = state.db.begin_write().await?;
        audit::record(
            &txn,
            &admin.actor(&req),
            &Entry {
                action: "roster.export_full",
                target_type: "org",
                target_id: Some(org.id.to_string()),
                fields: &["name", "id_number", "mobile"],
                outcome: Outcome::Success,
            },
            state.clock.now(),
        )
        .await?;
        txn.commit().await.map_err(StoreError::from)?;
    }
    let rows: Vec<RosterExportRow> = members
        .iter()
        .map(|m| {
            let p = &m.person;
            RosterExportRow {
                name: if full {
                    p.name.to_string()
                } else {
                    mask_name(&p.name)
                },
                sex: p.sex.label_zh().to_owned(),
                id_number: if full {
                    p.id_number.as_str().to_owned()
                } else {
                    p.id_number.masked()
                },
                nationality: m.fields.nationality.clone(),
                education: m.fields.education.clone(),
                mobile: p
                    .mobile
                    .as_ref()
                    .map(|x| {
                        if full {
                            x.as_str().to_owned()
                        } else {
                            x.masked()
                        }
                    })
                    .unwrap_or_default(),
                household_type: m.fields.household_type.clone(),
                unit_name: m.fields.unit_name.clone(),
                employment_status: m.fields.employment_status.clone(),
                union_post: m.fields.union_post.clone(),
            }
        })
        .collect();
    let header = RosterHeader {
        union_name: Some(org.name.clone()),
        contact: org.union.as_ref().map(|u| u.leader_name.to_string()),
        phone: org.union.as_ref().map(|u| u.phone.clone()),
    };
    let bytes = web::block(move || huigong_roster::write_roster(&header, &rows))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))?;
    let disposition = format!(
        "attachment; filename=\"roster.xlsx\"; filename*=UTF-8''{}.xlsx",
        percent_encode(&format!("{}花名册", org.name))
    );
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        .insert_header((
            header::CONTENT_DISPOSITION,
            HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")),
        ))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .body(bytes))
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

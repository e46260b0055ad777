//! 进度通报: the monthly progress report of the caller's subtree (county and district
//! administrators) as a table and two charts drawn on the server as SVG with plotters (the
//! activation rate per org, the 12-month member trend), a month picker, and the workbook. Every
//! figure comes from `progress_of`, the function behind `GET /api/v1/admin/reports/progress`;
//! the workbook from `progress_workbook`, behind `progress.xlsx`. Who may read it (and the
//! 403 for a grassroots administrator) is decided there, not here.

use crate::error::PageError;
use crate::layout::Layout;
use crate::pages::html;
use crate::session::{Admin, state_of};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use base64::Engine;
use huigong_api::routes::reports::{FiguresView, progress_of, progress_trend, progress_workbook};
use plotters::prelude::*;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct MonthQuery {
    month: Option<String>,
}

/// One row of the table, formatted.
pub struct Row {
    pub rank: String,
    pub name: String,
    pub unions: u64,
    pub units: u64,
    pub members: u64,
    pub complete: u64,
    pub cards: u64,
    pub rate: String,
    pub members_change: String,
    pub pending: u64,
    pub overdue: u64,
    pub changes: u64,
    pub unconfirmed: u64,
    pub target: String,
}

#[derive(Template)]
#[template(path = "progress.html")]
struct ProgressPage {
    layout: Layout,
    /// The month asked for (`YYYY-MM`), for the picker and the download link.
    month: String,
    /// Why there is no report for it (bad month, no snapshot).
    problem: Option<String>,
    label: String,
    source: String,
    rows: Vec<Row>,
    total: Option<Row>,
    /// `data:` URLs of the two charts.
    rate_chart: String,
    trend_chart: String,
}

fn percent(rate: f64) -> String {
    format!("{:.1}%", rate * 100.0)
}

fn signed(v: Option<i64>) -> String {
    match v {
        Some(v) if v > 0 => format!("+{v}"),
        Some(v) => v.to_string(),
        None => "—".to_owned(),
    }
}

fn row(rank: Option<u32>, name: &str, f: &FiguresView, change: Option<i64>, target: String) -> Row {
    Row {
        rank: rank.map_or_else(String::new, |r| r.to_string()),
        name: name.to_owned(),
        unions: f.unions_registered,
        units: f.units_covered,
        members: f.members,
        complete: f.members_complete,
        cards: f.cards_active,
        rate: percent(f.activation_rate),
        members_change: signed(change),
        pending: f.applications_pending,
        overdue: f.applications_overdue,
        changes: f.changes_processed,
        unconfirmed: f.unions_unconfirmed,
        target,
    }
}

fn data_url(svg: &str) -> String {
    format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    )
}

const RED: RGBColor = RGBColor(0xb3, 0x26, 0x1e);
const FONT: &str = "sans-serif";

fn chart_error<E: std::fmt::Debug>(e: E) -> PageError {
    tracing::error!(error = ?e, "chart did not draw");
    PageError::internal()
}

/// Bars of the activation rate (0–1) per org, in the report's order.
fn rate_chart(rates: &[(&str, f64)]) -> Result<String, PageError> {
    let mut svg = String::new();
    {
        let names: Vec<&str> = rates.iter().map(|(name, _)| *name).collect();
        let n = names.len().max(1);
        let root = SVGBackend::with_string(&mut svg, (1000, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("各单位会员卡激活率", (FONT, 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(56)
            .build_cartesian_2d((0..(n - 1).max(1)).into_segmented(), 0f64..100f64)
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(TRANSPARENT)
            .y_labels(6)
            .x_labels(n)
            .x_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) | SegmentValue::Exact(i) => {
                    names.get(*i).map(|s| (*s).to_owned()).unwrap_or_default()
                }
                SegmentValue::Last => String::new(),
            })
            .y_desc("激活率（%）")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 13))
            .draw()
            .map_err(chart_error)?;
        chart
            .draw_series(rates.iter().enumerate().map(|(i, (_, rate))| {
                let rate = (rate * 100.0).clamp(0.0, 100.0);
                let mut bar = Rectangle::new(
                    [
                        (SegmentValue::Exact(i), 0.0),
                        (SegmentValue::Exact(i + 1), rate),
                    ],
                    RED.filled(),
                );
                bar.set_margin(0, 0, 24, 24);
                bar
            }))
            .map_err(chart_error)?;
        root.present().map_err(chart_error)?;
    }
    Ok(data_url(&svg))
}

/// The line of members per month over the 12 months ending with the report's.
fn trend_chart(series: &[(String, u64)]) -> Result<String, PageError> {
    let mut svg = String::new();
    {
        let n = series.len().max(1);
        let top = series.iter().map(|(_, v)| *v).max().unwrap_or(0).max(10) as f64 * 1.1;
        let root = SVGBackend::with_string(&mut svg, (1000, 280)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption("近 12 个月会员数", (FONT, 20))
            .margin(12)
            .margin_right(40)
            .x_label_area_size(36)
            .y_label_area_size(64)
            .build_cartesian_2d(0..n.saturating_sub(1).max(1), 0f64..top)
            .map_err(chart_error)?;
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .y_labels(6)
            .x_labels(n)
            .x_label_formatter(&|i| series.get(*i).map(|(m, _)| m.clone()).unwrap_or_default())
            .y_desc("会员数")
            .y_label_formatter(&|v| format!("{v:.0}"))
            .label_style((FONT, 13))
            .draw()
            .map_err(chart_error)?;
        let points: Vec<(usize, f64)> = series
            .iter()
            .enumerate()
            .map(|(i, (_, v))| (i, *v as f64))
            .collect();
        chart
            .draw_series(LineSeries::new(points.clone(), RED.stroke_width(3)))
            .map_err(chart_error)?;
        chart
            .draw_series(points.into_iter().map(|p| Circle::new(p, 4, RED.filled())))
            .map_err(chart_error)?;
        root.present().map_err(chart_error)?;
    }
    Ok(data_url(&svg))
}

/// `GET /console/reports/progress?month=YYYY-MM`.
pub async fn page(
    req: HttpRequest,
    signed: Admin,
    query: web::Query<MonthQuery>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    let Admin { admin, layout } = signed;
    let asked = query
        .month
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty());
    let view = match progress_of(&state, &admin, asked).await {
        Ok(view) => view,
        // A malformed or future month, or one without a snapshot: say so beside the picker.
        Err(e)
            if e.status == StatusCode::BAD_REQUEST
                || (e.status == StatusCode::NOT_FOUND && e.body.code == "no_snapshot") =>
        {
            let page = ProgressPage {
                layout,
                month: asked.unwrap_or_default().to_owned(),
                problem: Some(e.body.message.into_owned()),
                label: String::new(),
                source: String::new(),
                rows: Vec::new(),
                total: None,
                rate_chart: String::new(),
                trend_chart: String::new(),
            };
            return Ok(html(e.status, page.render()?));
        }
        Err(e) => return Err(e.into()),
    };
    let trend = progress_trend(&state, &admin, &view).await?;
    let month = huigong_core::period::Month::parse(&view.month).ok_or_else(PageError::internal)?;
    let source = match view.taken_at {
        Some(at) => format!(
            "{} 快照",
            (at + chrono::Duration::hours(8)).format("%Y-%m-%d %H:%M")
        ),
        None => "实时统计".to_owned(),
    };
    let rows = view
        .rows
        .iter()
        .map(|r| {
            let target = r
                .target
                .and_then(|t| t.members.map(|m| (m, t.members_progress)))
                .map_or_else(
                    || "—".to_owned(),
                    |(m, p)| format!("{m}（{}）", p.map_or_else(|| "—".to_owned(), percent)),
                );
            row(
                Some(r.rank),
                &r.org_name,
                &r.figures,
                r.change.map(|c| c.members),
                target,
            )
        })
        .collect();
    let total = row(
        None,
        "合计",
        &view.total,
        view.total_change.map(|c| c.members),
        String::new(),
    );
    let page = ProgressPage {
        rate_chart: rate_chart(
            &view
                .rows
                .iter()
                .map(|r| (r.org_name.as_str(), r.figures.activation_rate))
                .collect::<Vec<_>>(),
        )?,
        trend_chart: trend_chart(&trend)?,
        layout,
        label: month.label_zh(),
        month: view.month.clone(),
        problem: None,
        source,
        rows,
        total: Some(total),
    };
    Ok(html(StatusCode::OK, page.render()?))
}

/// `GET /console/reports/progress.xlsx?month=YYYY-MM`: the workbook of the JSON route.
pub async fn workbook(
    req: HttpRequest,
    signed: Admin,
    query: web::Query<MonthQuery>,
) -> Result<HttpResponse, PageError> {
    let state = state_of(&req)?;
    Ok(progress_workbook(&state, &signed.admin, query.month.as_deref()).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svg_of(data_url: &str) -> String {
        let b64 = data_url
            .strip_prefix("data:image/svg+xml;base64,")
            .unwrap_or_else(|| panic!("not an SVG data URL: {data_url}"));
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_else(|e| panic!("base64: {e}"));
        String::from_utf8(bytes).unwrap_or_else(|e| panic!("utf-8: {e}"))
    }

    #[test]
    fn charts_draw_any_number_of_orgs_and_months_with_chinese_labels_as_svg_text() {
        for rates in [
            vec![],
            vec![("甲公司工会", 0.5)],
            vec![
                ("雉城街道总工会", 1.0),
                ("煤山镇总工会", 0.0),
                ("夹浦镇总工会", 0.25),
            ],
        ] {
            let svg = svg_of(&rate_chart(&rates).unwrap_or_else(|e| panic!("{e}")));
            assert!(svg.starts_with("<svg"), "{svg}");
            assert!(svg.contains("各单位会员卡激活率"), "{svg}");
            for (name, _) in &rates {
                assert!(svg.contains(&format!("\n{name}\n</text>")), "{name}: {svg}");
            }
        }
        for months in [0, 1, 12] {
            let series: Vec<(String, u64)> = (0..months)
                .map(|i| (format!("2026-{:02}", i + 1), 100 + i))
                .collect();
            let svg = svg_of(&trend_chart(&series).unwrap_or_else(|e| panic!("{e}")));
            assert!(svg.contains("近 12 个月会员数"), "{svg}");
            if let Some((last, _)) = series.last() {
                assert!(svg.contains(&format!("\n{last}\n</text>")), "{last}: {svg}");
            }
        }
    }
}

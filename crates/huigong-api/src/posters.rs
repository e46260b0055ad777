//! Union posters (issue 16): a printable A4 poster (1240 × 1754 px, 150 dpi) with the union's
//! name, a line of campaign text and the mini-program code from WeChat's `getwxacodeunlimit`,
//! whose `scene` is the union's scene code ([`huigong_store::union_scenes`]) and whose page is
//! 申请入会. The rules live here, once: scope (404 outside it, as every org route), grassroots
//! only, the cache (ephemeral store, keyed by org, name, code and campaign text: a renamed union
//! gets a new poster), the audit of each download (`org.poster`).
//!
//! Chinese text needs a CJK font (`poster.font_path`, Debian's `fonts-wqy-microhei` by
//! default): it is loaded on first use and kept; while it is missing or has no Chinese glyphs
//! the poster answers 503 `poster_font_missing` before WeChat is asked for anything.

use crate::error::ApiError;
use crate::state::AppState;
use ab_glyph::{Font, FontVec, PxScale, ScaleFont, point};
use actix_web::http::StatusCode;
use huigong_core::labels::OrgLevel;
use huigong_store::audit::Actor;
use huigong_store::{orgs, union_scenes};
use huigong_wechat::EnvVersion;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::OnceCell;
use uuid::Uuid;

/// The poster's size: A4 at 150 dpi.
pub const POSTER_WIDTH: u32 = 1240;
pub const POSTER_HEIGHT: u32 = 1754;
/// The mini-program code's side on the poster (and the width asked of WeChat).
pub const CODE_SIDE: u32 = 640;
/// The page a poster's code opens (申请入会): no leading `/`, as WeChat wants it.
pub const APPLY_PAGE: &str = "pages/apply/index";

/// The poster's settings (`[poster]`).
#[derive(Debug, Clone)]
pub struct PosterSettings {
    /// A font with Chinese glyphs (`.ttf`, `.otf` or the first face of a `.ttc`).
    pub font_path: PathBuf,
    /// The line under the union's name.
    pub campaign_text: String,
    /// Which version of the mini program the code opens (`release` in production).
    pub env_version: EnvVersion,
    /// How long a rendered poster is kept in the session backend.
    pub cache_ttl: Duration,
    /// Scene look-ups (`GET /api/v1/unions/scene/{code}`) per client address per hour.
    pub scene_lookups_per_ip_per_hour: u64,
    /// The loaded font, shared by every request of this instance.
    pub font: Arc<OnceCell<Arc<FontVec>>>,
}

impl Default for PosterSettings {
    fn default() -> Self {
        Self {
            font_path: PathBuf::from("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
            campaign_text: "扫码申请加入工会，激活惠工卡，共享会员服务".to_owned(),
            env_version: EnvVersion::Release,
            cache_ttl: Duration::from_secs(7 * 86_400),
            scene_lookups_per_ip_per_hour: 600,
            font: Arc::default(),
        }
    }
}

fn font_missing() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "poster_font_missing",
        "海报所需的中文字体未安装，请联系管理员（poster.font_path）",
    )
}

/// The configured font, loaded once. A failure is not kept: installing the font later is
/// enough, no restart needed.
async fn font(settings: &PosterSettings) -> Result<Arc<FontVec>, ApiError> {
    let path = settings.font_path.clone();
    settings
        .font
        .get_or_try_init(|| async move {
            let loaded = tokio::task::spawn_blocking(move || {
                let data = std::fs::read(&path).map_err(|e| e.to_string())?;
                let font = FontVec::try_from_vec_and_index(data, 0).map_err(|e| e.to_string())?;
                // A font without Chinese would print empty boxes: refuse it.
                if "工会惠".chars().any(|c| font.glyph_id(c).0 == 0) {
                    return Err("no Chinese glyphs".to_owned());
                }
                Ok(Arc::new(font))
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
            loaded.map_err(|why| {
                tracing::error!(
                    path = %settings.font_path.display(),
                    why,
                    "poster font unusable: install fonts-wqy-microhei or set poster.font_path"
                );
                font_missing()
            })
        })
        .await
        .cloned()
}

/// The poster of union `org_id` for an administrator whose scope is `scope`: from the cache,
/// or rendered around a fresh mini-program code. Audited (`org.poster`) on every download.
pub async fn poster(
    state: &AppState,
    scope: &str,
    org_id: Uuid,
    actor: &Actor,
) -> Result<Vec<u8>, ApiError> {
    let org = orgs::get_in_scope(&state.db.conn, &state.vault, org_id, scope)
        .await?
        .ok_or_else(ApiError::not_found)?;
    if org.level != OrgLevel::Grassroots || org.status != "active" {
        return Err(ApiError::invalid_field(
            "id",
            "只有已成立的基层工会可以生成入会海报",
        ));
    }
    let settings = &state.poster;
    let now = state.clock.now();
    let scene = union_scenes::scene_code(&state.db, org.id, now).await?;
    let key = cache_key(org.id, &org.name, &scene, settings);
    let store = state.sessions.store();
    let png = match store.get(&key).await? {
        Some(png) => png,
        None => {
            // The font first: without it WeChat's quota is not spent.
            let font = font(settings).await?;
            let code = state
                .wechat
                .get_unlimited_wxacode(&scene, APPLY_PAGE, CODE_SIDE, settings.env_version)
                .await?;
            let district = match org.parent_id {
                Some(parent) => orgs::get_in_scope(&state.db.conn, &state.vault, parent, "/")
                    .await?
                    .map(|p| p.name),
                None => None,
            };
            let text = PosterText {
                union_name: org.name.clone(),
                campaign: settings.campaign_text.clone(),
                district,
            };
            let png = tokio::task::spawn_blocking(move || render(&font, &text, &code))
                .await
                .map_err(|e| ApiError::internal(&e))??;
            store.set(&key, &png, settings.cache_ttl).await?;
            png
        }
    };
    union_scenes::record_poster(&state.db, org.id, actor, now).await?;
    Ok(png)
}

/// The cache key: a new name, code, text or target version is a new poster.
fn cache_key(org_id: Uuid, name: &str, scene: &str, settings: &PosterSettings) -> String {
    let mut h = Sha256::new();
    for part in [
        name,
        scene,
        settings.campaign_text.as_str(),
        APPLY_PAGE,
        match settings.env_version {
            EnvVersion::Release => "release",
            EnvVersion::Trial => "trial",
            EnvVersion::Develop => "develop",
        },
    ] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("poster:v1:{org_id}:{hex}")
}

/// What the poster says.
struct PosterText {
    union_name: String,
    campaign: String,
    district: Option<String>,
}

type Rgb = [u8; 3];
const RED: Rgb = [0xc8, 0x16, 0x1d];
const WHITE: Rgb = [0xff, 0xff, 0xff];
const INK: Rgb = [0x26, 0x26, 0x26];
const GREY: Rgb = [0x80, 0x80, 0x80];

/// An RGB canvas.
struct Canvas {
    width: usize,
    height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    fn new(width: u32, height: u32, background: Rgb) -> Self {
        let (width, height) = (width as usize, height as usize);
        Self {
            width,
            height,
            pixels: background.repeat(width * height),
        }
    }

    fn fill_rect(&mut self, x0: usize, y0: usize, w: usize, h: usize, color: Rgb) {
        for y in y0..(y0 + h).min(self.height) {
            for x in x0..(x0 + w).min(self.width) {
                let i = (y * self.width + x) * 3;
                self.pixels[i..i + 3].copy_from_slice(&color);
            }
        }
    }

    /// Blends `color` over the pixel at (`x`, `y`) with `coverage` (0–1).
    fn blend(&mut self, x: i64, y: i64, color: Rgb, coverage: f32) {
        let (Ok(x), Ok(y)) = (usize::try_from(x), usize::try_from(y)) else {
            return;
        };
        if x >= self.width || y >= self.height {
            return;
        }
        let a = coverage.clamp(0.0, 1.0);
        let i = (y * self.width + x) * 3;
        for (c, new) in self.pixels[i..i + 3].iter_mut().zip(color) {
            *c = (f32::from(*c) * (1.0 - a) + f32::from(new) * a).round() as u8;
        }
    }

    fn encode(&self) -> Result<Vec<u8>, ApiError> {
        let mut out = Vec::new();
        let (w, h) = (
            u32::try_from(self.width).map_err(|e| ApiError::internal(&e))?,
            u32::try_from(self.height).map_err(|e| ApiError::internal(&e))?,
        );
        let mut encoder = png::Encoder::new(&mut out, w, h);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        // Printers take the size from here: 150 dpi is A4.
        encoder.set_pixel_dims(Some(png::PixelDimensions {
            xppu: 5906,
            yppu: 5906,
            unit: png::Unit::Meter,
        }));
        let mut writer = encoder.write_header().map_err(|e| ApiError::internal(&e))?;
        writer
            .write_image_data(&self.pixels)
            .map_err(|e| ApiError::internal(&e))?;
        writer.finish().map_err(|e| ApiError::internal(&e))?;
        Ok(out)
    }
}

fn text_width(font: &FontVec, scale: PxScale, text: &str) -> f32 {
    let scaled = font.as_scaled(scale);
    text.chars()
        .map(|c| scaled.h_advance(scaled.glyph_id(c)))
        .sum()
}

/// `text` cut into lines no wider than `max` (characters, not words: Chinese has no spaces).
fn wrap(font: &FontVec, scale: PxScale, text: &str, max: f32) -> Vec<String> {
    let scaled = font.as_scaled(scale);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut width = 0.0;
    for c in text.chars() {
        let w = scaled.h_advance(scaled.glyph_id(c));
        if width + w > max && !line.is_empty() {
            lines.push(std::mem::take(&mut line));
            width = 0.0;
        }
        line.push(c);
        width += w;
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// Draws one line centred horizontally with its baseline at `baseline`.
fn draw_centred(
    canvas: &mut Canvas,
    font: &FontVec,
    scale: PxScale,
    text: &str,
    baseline: f32,
    color: Rgb,
) {
    let scaled = font.as_scaled(scale);
    let mut caret = (canvas.width as f32 - text_width(font, scale, text)) / 2.0;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        let glyph = id.with_scale_and_position(scale, point(caret, baseline));
        caret += scaled.h_advance(id);
        if let Some(outlined) = font.outline_glyph(glyph) {
            let bounds = outlined.px_bounds();
            outlined.draw(|gx, gy, coverage| {
                canvas.blend(
                    bounds.min.x as i64 + i64::from(gx),
                    bounds.min.y as i64 + i64::from(gy),
                    color,
                    coverage,
                );
            });
        }
    }
}

/// Draws `lines` centred, the first baseline at `top + ascent`; returns the y below them.
fn draw_block(
    canvas: &mut Canvas,
    font: &FontVec,
    size: f32,
    lines: &[String],
    top: f32,
    color: Rgb,
) -> f32 {
    let scale = PxScale::from(size);
    let scaled = font.as_scaled(scale);
    let line_height = size * 1.35;
    let mut y = top;
    for line in lines {
        draw_centred(canvas, font, scale, line, y + scaled.ascent(), color);
        y += line_height;
    }
    y
}

/// The largest size (from `start` down to `min`) at which `text` fits in `max_lines` lines of
/// `width`, with its lines (at `min` it may take more).
fn fit(
    font: &FontVec,
    text: &str,
    start: f32,
    min: f32,
    width: f32,
    max_lines: usize,
) -> (f32, Vec<String>) {
    let mut size = start;
    loop {
        let lines = wrap(font, PxScale::from(size), text, width);
        if lines.len() <= max_lines || size <= min {
            return (size, lines);
        }
        size -= 4.0;
    }
}

/// Decodes WeChat's image (any PNG colour type, alpha over white) to RGB.
fn decode_code(png_bytes: &[u8]) -> Result<(usize, usize, Vec<u8>), ApiError> {
    let bad = |e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, "wechat's mini-program code is not a readable PNG");
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "wechat_unavailable",
            "微信返回的小程序码无法读取，请稍后再试",
        )
    };
    let mut decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(|e| bad(&e))?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| bad(&"image too large"))?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(|e| bad(&e))?;
    let (w, h) = (info.width as usize, info.height as usize);
    let channels = match info.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err(bad(&"palette not expanded")),
    };
    let mut rgb = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        let row = &buf[y * info.line_size..y * info.line_size + w * channels];
        for px in row.chunks_exact(channels) {
            let (color, alpha) = match channels {
                1 => ([px[0]; 3], 255),
                2 => ([px[0]; 3], px[1]),
                3 => ([px[0], px[1], px[2]], 255),
                _ => ([px[0], px[1], px[2]], px[3]),
            };
            let a = u16::from(alpha);
            for c in color {
                // Over white.
                rgb.push(((u16::from(c) * a + 255 * (255 - a)) / 255) as u8);
            }
        }
    }
    Ok((w, h, rgb))
}

/// Lays the poster out: a red band with the union's name, the campaign line, the code, the
/// instruction under it and the district at the foot.
fn render(font: &FontVec, text: &PosterText, code_png: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut canvas = Canvas::new(POSTER_WIDTH, POSTER_HEIGHT, WHITE);
    let width = POSTER_WIDTH as f32;
    let margin = 100.0;

    canvas.fill_rect(0, 0, POSTER_WIDTH as usize, 440, RED);
    draw_block(
        &mut canvas,
        font,
        56.0,
        &["欢迎加入工会".to_owned()],
        70.0,
        WHITE,
    );
    let (size, lines) = fit(font, &text.union_name, 88.0, 48.0, width - 2.0 * margin, 2);
    let block = size * 1.35 * lines.len() as f32;
    draw_block(
        &mut canvas,
        font,
        size,
        &lines,
        170.0 + (230.0 - block) / 2.0,
        WHITE,
    );

    let (size, lines) = fit(font, &text.campaign, 52.0, 36.0, width - 2.0 * margin, 3);
    draw_block(&mut canvas, font, size, &lines, 500.0, INK);

    // The code, scaled (nearest neighbour: its modules stay sharp) into a square.
    let (w, h, rgb) = decode_code(code_png)?;
    let side = CODE_SIDE as usize;
    let left = (POSTER_WIDTH as usize - side) / 2;
    let top = 740;
    for y in 0..side {
        let sy = y * h / side;
        for x in 0..side {
            let sx = x * w / side;
            let s = (sy * w + sx) * 3;
            let d = ((top + y) * canvas.width + left + x) * 3;
            canvas.pixels[d..d + 3].copy_from_slice(&rgb[s..s + 3]);
        }
    }

    draw_block(
        &mut canvas,
        font,
        46.0,
        &["微信扫一扫 · 在线申请入会".to_owned()],
        (top + side + 50) as f32,
        INK,
    );
    let foot = match &text.district {
        Some(d) => format!("{d} · 惠工卡"),
        None => "惠工卡".to_owned(),
    };
    canvas.fill_rect(
        0,
        POSTER_HEIGHT as usize - 180,
        POSTER_WIDTH as usize,
        6,
        RED,
    );
    draw_block(
        &mut canvas,
        font,
        36.0,
        &[foot],
        POSTER_HEIGHT as f32 - 130.0,
        GREY,
    );
    canvas.encode()
}

/// The union whose poster carries `code`, counted against the client address's hourly
/// look-ups (so scene codes cannot be enumerated); 404 for a code of no active union.
pub async fn union_by_scene(
    state: &AppState,
    req: &actix_web::HttpRequest,
    code: &str,
) -> Result<union_scenes::SceneUnion, ApiError> {
    use crate::limits::{HOUR, client_ip, too_many, window};
    let (hour, left) = window(state.clock.now(), HOUR, 0);
    let used = state
        .sessions
        .store()
        .increment(
            &format!("scene-lookups:ip:{}:{hour}", client_ip(req)),
            Duration::from_secs(left + 1),
        )
        .await?;
    if used > state.poster.scene_lookups_per_ip_per_hour {
        return Err(too_many("当前网络的查询过多，请稍后再试", left));
    }
    union_scenes::union_by_scene(&state.db.conn, code.trim())
        .await?
        .ok_or_else(ApiError::not_found)
}

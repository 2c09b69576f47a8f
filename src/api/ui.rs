//! `GET /ui`: the dashboard. Its files (`ui/` in the repository) are embedded in the binary, so
//! it needs no file on disk, no CDN and no network. Loading the page needs no token: it holds no
//! data, asks for a token and sends it with each API call it makes (see `ui/api.js`). The client
//! address allowlist applies, as on every endpoint but `/health` and `/ready`.
//!
//! Every answer carries a Content-Security-Policy that lets the page load and reach only its own
//! origin (no inline script or style, no frames), and `Cache-Control: no-cache` with an `ETag`:
//! the URLs carry no version, so a browser revalidates (a 304 costs a few bytes) and never runs
//! an old script against a newer gateway.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

use super::errors::ApiError;
use super::AppState;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset { name: "index.html", content_type: "text/html; charset=utf-8", body: include_bytes!("../../ui/index.html") },
    Asset { name: "app.css", content_type: "text/css; charset=utf-8", body: include_bytes!("../../ui/app.css") },
    Asset { name: "app.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../ui/app.js") },
    Asset { name: "api.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../ui/api.js") },
    Asset { name: "sse.js", content_type: "text/javascript; charset=utf-8", body: include_bytes!("../../ui/sse.js") },
    Asset { name: "icon.svg", content_type: "image/svg+xml", body: include_bytes!("../../ui/icon.svg") },
];

/// Self only: scripts, styles, images and API calls from this origin; no plugin, no frame, no
/// `<base>` rewriting, forms submitted nowhere else.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// `GET /ui`: the page (no token; `If-None-Match` may answer 304).
#[utoipa::path(
    method(get, head), path = "/ui", tag = "dashboard", operation_id = "ui", security(()),
    responses(
        (status = 200, description = "The dashboard's page", content_type = "text/html; charset=utf-8", body = String,
            headers(("ETag" = String), ("Content-Security-Policy" = String))),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        (status = 403, response = super::openapi::Forbidden),
    ),
)]
pub async fn page(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, "index.html")
}

/// `GET /ui/`: the page too.
#[utoipa::path(
    method(get, head), path = "/ui/", tag = "dashboard", operation_id = "ui_slash", security(()),
    responses(
        (status = 200, description = "The dashboard's page", content_type = "text/html; charset=utf-8", body = String),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        (status = 403, response = super::openapi::Forbidden),
    ),
)]
pub async fn page_slash(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, "index.html")
}

/// `GET /ui/{file}`: one of the page's files.
#[utoipa::path(
    method(get, head), path = "/ui/{file}", tag = "dashboard", operation_id = "ui_file", security(()),
    params(("file" = String, Path, description = "`index.html`, `app.css`, `app.js`, `api.js`, `sse.js` or `icon.svg`",
        example = "app.js")),
    responses(
        (status = 200, description = "The file", content(
            (String = "text/html; charset=utf-8"), (String = "text/css; charset=utf-8"),
            (String = "text/javascript; charset=utf-8"), (String = "image/svg+xml"))),
        (status = 304, description = "Unchanged since the `If-None-Match` ETag"),
        (status = 403, response = super::openapi::Forbidden),
        (status = 404, response = super::openapi::NotFound),
    ),
)]
pub async fn file(
    state: web::Data<AppState>,
    req: HttpRequest,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    serve(&state, &req, &name)
}

fn serve(state: &AppState, req: &HttpRequest, name: &str) -> Result<HttpResponse, ApiError> {
    if let Some(peer) = req.peer_addr() {
        if !state.settings.auth.allowed_ips.allows(peer.ip()) {
            return Err(ApiError::ForbiddenIp);
        }
    }
    let index = ASSETS
        .iter()
        .position(|a| a.name == name)
        .ok_or_else(|| ApiError::NotFound { code: "not_found", message: "no such file in the dashboard".into() })?;
    let asset = &ASSETS[index];
    let etag = &etags()[index];
    let unchanged = matches_etag(req, etag);
    let mut response = if unchanged { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"));
    if unchanged {
        return Ok(response.finish());
    }
    Ok(response.content_type(asset.content_type).body(asset.body))
}

/// Each asset's strong `ETag`: a digest of its bytes, computed once.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.body);
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

/// Whether `If-None-Match` names the current version (or is `*`).
fn matches_etag(req: &HttpRequest, etag: &str) -> bool {
    let Some(value) = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    value.split(',').map(|t| t.trim().trim_start_matches("W/")).any(|t| t == etag || t == "*")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_distinct_name_and_etag() {
        let tags = etags();
        assert_eq!(tags.len(), ASSETS.len());
        for (i, a) in ASSETS.iter().enumerate() {
            assert!(!a.body.is_empty(), "{} is empty", a.name);
            assert!(ASSETS.iter().skip(i + 1).all(|b| b.name != a.name), "{} twice", a.name);
            assert!(tags.iter().skip(i + 1).all(|t| *t != tags[i]), "{} shares its ETag", a.name);
        }
    }

    #[test]
    fn the_page_loads_only_what_is_embedded() {
        // Every `/ui/...` URL the page names is an asset, and it names no other origin.
        let page = std::str::from_utf8(ASSETS[0].body).unwrap();
        for part in page.split("\"/ui/").skip(1) {
            let name = &part[..part.find('"').unwrap()];
            assert!(ASSETS.iter().any(|a| a.name == name), "index.html names /ui/{name}, which is not embedded");
        }
        for asset in ASSETS {
            // An SVG's namespace is a name, not a URL anything loads.
            let text = String::from_utf8_lossy(asset.body).replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
            assert!(!text.contains("http://") && !text.contains("https://"), "{} names another origin", asset.name);
        }
    }
}

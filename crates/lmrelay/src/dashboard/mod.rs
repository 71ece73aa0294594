//! The web dashboard at `/ui`: a static page (HTML, CSS and plain JavaScript embedded in the
//! binary, nothing fetched from elsewhere) that signs in with the admin token and reads the
//! admin API — `/admin/events` for live snapshots, `/admin/keys`, `/admin/usage` and the
//! actions. The shell needs no token (it holds no data); without `[admin] token` `/ui`
//! answers 404 with a page that says the dashboard is disabled, as the admin routes do.
//! Every asset is sent with a strict Content-Security-Policy and an ETag.

use crate::server::AppState;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http::{HeaderMap, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// Scripts, styles, images and connections only from this origin; no inline code, no
/// framing, no plugins.
const CSP: &str = "default-src 'self'; base-uri 'none'; form-action 'self'; \
                   frame-ancestors 'none'; object-src 'none'";

/// One embedded file.
struct Asset {
    body: &'static str,
    content_type: &'static str,
    /// A strong ETag from the content, so a browser revalidates cheaply after an upgrade.
    etag: LazyLock<HeaderValue>,
}

macro_rules! asset {
    ($file:literal, $type:literal) => {
        Asset {
            body: include_str!(concat!("assets/", $file)),
            content_type: $type,
            etag: LazyLock::new(|| etag(include_str!(concat!("assets/", $file)))),
        }
    };
}

static INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");
static DISABLED: Asset = asset!("disabled.html", "text/html; charset=utf-8");
static SCRIPT: Asset = asset!("app.js", "text/javascript; charset=utf-8");
static STYLE: Asset = asset!("app.css", "text/css; charset=utf-8");
static ICON: Asset = asset!("icon.svg", "image/svg+xml");

/// The dashboard's routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/ui", get(page))
        .route("/ui/", get(page))
        .route(
            "/ui/app.js",
            get(|h: HeaderMap| async move { serve(&SCRIPT, &h, StatusCode::OK) }),
        )
        .route(
            "/ui/app.css",
            get(|h: HeaderMap| async move { serve(&STYLE, &h, StatusCode::OK) }),
        )
        .route(
            "/ui/icon.svg",
            get(|h: HeaderMap| async move { serve(&ICON, &h, StatusCode::OK) }),
        )
}

/// `GET /ui`: the page, or the notice that the dashboard is off without an admin token.
async fn page(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if st.runtime.load().config.admin_token.is_some() {
        serve(&INDEX, &headers, StatusCode::OK)
    } else {
        serve(&DISABLED, &headers, StatusCode::NOT_FOUND)
    }
}

/// An asset with its headers; 304 when the browser's copy is current.
fn serve(asset: &Asset, request: &HeaderMap, status: StatusCode) -> Response {
    let etag = &*asset.etag;
    let fresh = status == StatusCode::OK
        && request
            .get(http::header::IF_NONE_MATCH)
            .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (status, asset.body).into_response()
    };
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache"),
    );
    h.insert(http::header::ETAG, etag.clone());
    h.insert(
        http::header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        http::header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        http::header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        http::header::X_FRAME_OPTIONS,
        HeaderValue::from_static("DENY"),
    );
    resp
}

/// `"<first 16 hex digits of the SHA-256>"`.
fn etag(body: &str) -> HeaderValue {
    let digest = Sha256::digest(body.as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

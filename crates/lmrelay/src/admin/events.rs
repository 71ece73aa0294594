//! The dashboard's data: `GET /admin/activity` answers one snapshot — providers with health,
//! breaker and key states, the last minutes' per-second series and the latest requests — and
//! `GET /admin/events` streams snapshots as server-sent events, one a second (the first
//! with the whole series, later ones with the last seconds only). A stream ends when the
//! gateway shuts down, when the admin token changes or goes away on a reload, and after
//! [`STREAM_LIFETIME`] (the page reconnects), so it never holds a drain or outlives its
//! token. Names and short ids only, as every admin answer.

use super::{bearer, constant_time_eq, error, runtime};
use crate::activity::{self, Series};
use crate::server::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::time::Duration;
use tokio::time::{Instant, MissedTickBehavior};

/// How often the stream sends a snapshot.
pub const EVERY: Duration = Duration::from_secs(1);

/// How long one stream lasts before it ends and the page opens another.
pub const STREAM_LIFETIME: Duration = Duration::from_secs(300);

/// Seconds of series a later snapshot of a stream carries (enough to cover a late tick).
const TAIL_SECONDS: usize = 10;

/// Requests each snapshot lists by default.
const RECENT_DEFAULT: usize = 25;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityQuery {
    /// Seconds of series, 1 to 600 (default 600).
    seconds: Option<usize>,
    /// Recent requests, 0 to 100 (default 25).
    recent: Option<usize>,
}

/// One snapshot.
#[derive(Serialize)]
struct Snapshot {
    time: String,
    providers: Vec<serde_json::Value>,
    series: Series,
    recent: Vec<activity::Entry>,
}

/// `GET /admin/activity`.
pub async fn activity(
    State(st): State<AppState>,
    query: Result<Query<ActivityQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Ok(Query(q)) = query else {
        return error(
            StatusCode::BAD_REQUEST,
            "Unknown or invalid query parameter; use seconds (1-600) and recent (0-100).",
            None,
        );
    };
    let seconds = q.seconds.unwrap_or(activity::SECONDS);
    let recent = q.recent.unwrap_or(RECENT_DEFAULT);
    if !(1..=activity::SECONDS).contains(&seconds) {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`seconds` is 1 to 600.",
            Some("seconds"),
        );
    }
    if recent > activity::RECENT {
        return error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "`recent` is 0 to 100.",
            Some("recent"),
        );
    }
    (
        [(http::header::CACHE_CONTROL, "no-store")],
        axum::Json(snapshot(&st, seconds, recent)),
    )
        .into_response()
}

/// `GET /admin/events`: `event: snapshot` frames, one a second.
pub async fn events(State(st): State<AppState>, headers: HeaderMap) -> Response {
    // The middleware let this request in with this token; the stream re-checks it each tick.
    let Some(token) = bearer(&headers).map(str::to_owned) else {
        return error(StatusCode::UNAUTHORIZED, "No admin token.", None);
    };
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let feed = Feed {
        closing: st.live.closing.subscribe(),
        st,
        token,
        tick,
        first: true,
        until: Instant::now() + STREAM_LIFETIME,
    };
    let frames = futures_util::stream::unfold(feed, |mut f| async move {
        let frame = f.next().await?;
        Some((Ok::<_, Infallible>(frame), f))
    });
    let mut resp = Response::new(Body::from_stream(frames));
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    resp
}

/// The state of one event stream.
struct Feed {
    st: AppState,
    token: String,
    closing: tokio::sync::watch::Receiver<bool>,
    tick: tokio::time::Interval,
    first: bool,
    until: Instant,
}

// === impl Feed ===

impl Feed {
    /// The next frame, or `None` when the stream should end.
    async fn next(&mut self) -> Option<Bytes> {
        tokio::select! {
            _ = self.tick.tick() => {}
            _ = self.closing.wait_for(|closing| *closing) => return None,
        }
        if Instant::now() >= self.until {
            return None;
        }
        let still_valid = runtime(&self.st)
            .config
            .admin_token
            .as_ref()
            .is_some_and(|t| constant_time_eq(&self.token, t.expose()));
        if !still_valid {
            return None;
        }
        let seconds = if self.first {
            activity::SECONDS
        } else {
            TAIL_SECONDS
        };
        self.first = false;
        let json = serde_json::to_string(&snapshot(&self.st, seconds, RECENT_DEFAULT)).ok()?;
        Some(Bytes::from(format!("event: snapshot\ndata: {json}\n\n")))
    }
}

fn snapshot(st: &AppState, seconds: usize, recent: usize) -> Snapshot {
    let rt = runtime(st);
    let now = crate::now_ms();
    Snapshot {
        time: lmrelay_protocol::time::rfc3339_from_unix_ms(now),
        providers: super::providers::views(&rt, now),
        series: rt.live.activity.series(now, seconds),
        recent: rt.live.activity.recent(recent),
    }
}

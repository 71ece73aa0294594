//! The dashboard's server side: the static shell at `/ui` (content types, CSP, ETag, the
//! disabled page without an admin token), `/admin/activity` fed by every exchange's outcome
//! (successes and failures, no secret), and `/admin/events` — snapshots as server-sent
//! events that end when the admin token goes away on a reload and when the gateway shuts
//! down (with a drain timeout far longer than the test waits).

mod common;

use common::{Client, Env};
use lmrelay::config::load_file;
use lmrelay::Gateway;
use lmrelay_mock::{spawn, Flavor, MockConfig};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const TOP: &str = "[admin]\ntoken = \"admin-token\"\n";

fn chat_body(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]})
}

#[tokio::test]
async fn the_shell_is_served_with_strict_headers() {
    let env = Env::start_with_top(TOP, "").await;
    for (path, kind) in [
        ("/ui", "text/html"),
        ("/ui/", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
        ("/ui/icon.svg", "image/svg+xml"),
    ] {
        let resp = env
            .http
            .get(format!("{}{path}", env.url))
            .send()
            .await
            .expect("answer");
        assert_eq!(resp.status(), 200, "{path}");
        let h = resp.headers();
        let header = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(header("content-type").starts_with(kind), "{path}");
        assert!(header("content-security-policy").starts_with("default-src 'self'"));
        assert_eq!(header("cache-control"), "no-cache");
        assert_eq!(header("x-content-type-options"), "nosniff");
        let etag = header("etag").to_owned();
        assert!(etag.starts_with('"'), "{path}: {etag}");
        let again = env
            .http
            .get(format!("{}{path}", env.url))
            .header("if-none-match", &etag)
            .send()
            .await
            .expect("answer");
        assert_eq!(again.status(), 304, "{path}");
    }
    let (_, page) = env.get("/ui", &[]).await;
    let page = String::from_utf8_lossy(&page);
    assert!(page.contains(r#"<script src="/ui/app.js" defer></script>"#));
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "nothing from elsewhere"
    );
    env.stop().await;
}

#[tokio::test]
async fn without_an_admin_token_the_dashboard_says_it_is_disabled() {
    let env = Env::start().await;
    let (status, page) = env.get("/ui", &[]).await;
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&page).contains("The dashboard is disabled"));
    let (status, _) = env.get("/admin/events", &[]).await;
    assert_eq!(status, 404);
    env.stop().await;
}

#[tokio::test]
async fn activity_shows_every_exchange_without_secrets() {
    let env = Env::start_with_top(TOP, "").await;
    let (status, _) = env.get("/admin/activity", &[]).await;
    assert_eq!(status, 401);
    for stream in [false, true] {
        let (s, _, _) = env
            .post(
                Client::OpenAi,
                "/v1/chat/completions",
                &chat_body("to-openai", stream),
            )
            .await;
        assert_eq!(s, 200);
    }
    let (s, _, _) = env
        .post(
            Client::OpenAi,
            "/v1/chat/completions",
            &chat_body("no-such-model", false),
        )
        .await;
    assert_eq!(s, 404);

    let (status, raw) = env
        .get(
            "/admin/activity?seconds=120&recent=10",
            &[("authorization", "Bearer admin-token")],
        )
        .await;
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&raw);
    assert!(!text.contains("upstream-key"), "no upstream secret: {text}");
    let a: Value = serde_json::from_slice(&raw).expect("JSON");
    let series = &a["series"];
    assert_eq!(series["requests"].as_array().map(Vec::len), Some(120));
    let sum = |k: &str| -> u64 {
        series[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .sum()
    };
    assert_eq!(sum("requests"), 3);
    assert_eq!(sum("errors"), 1);
    assert!(
        series["ttft_ms"]
            .as_array()
            .into_iter()
            .flatten()
            .any(Value::is_u64),
        "the stream's first token"
    );

    let recent = a["recent"].as_array().expect("recent");
    assert_eq!(recent.len(), 3);
    assert_eq!(recent[0]["status"], 404);
    assert_eq!(recent[0]["result"], "error");
    assert_eq!(recent[0]["model"], "no-such-model");
    for e in &recent[1..] {
        assert_eq!(e["status"], 200);
        assert_eq!(e["model"], "to-openai");
        assert_eq!(e["provider"], "oa");
        assert!(e["upstream_key"]
            .as_str()
            .is_some_and(|k| k.starts_with("key_")));
    }
    assert_eq!(recent[1]["result"], "stream");
    assert!(recent[1]["ttft_ms"].is_u64());
    assert_eq!(a["providers"].as_array().map(Vec::len), Some(3));
    let openapi = env.get_admin("/admin/openapi.json").await;
    for path in ["/admin/activity", "/admin/events"] {
        assert!(
            openapi["paths"][path]["get"].is_object(),
            "{path} documented"
        );
    }

    for (query, want) in [("seconds=0", 422), ("recent=101", 422), ("colour=red", 400)] {
        let (status, _) = env
            .get(
                &format!("/admin/activity?{query}"),
                &[("authorization", "Bearer admin-token")],
            )
            .await;
        assert_eq!(status, want, "{query}");
    }
    env.stop().await;
}

/// Reads one `event: snapshot` frame, at most 10 s; `None` when the stream ended.
async fn next_snapshot(resp: &mut reqwest::Response, buf: &mut String) -> Option<Value> {
    loop {
        if let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let data = frame.lines().find_map(|l| l.strip_prefix("data: "))?;
            assert!(frame.starts_with("event: snapshot\n"), "{frame}");
            return Some(serde_json::from_str(data).expect("JSON"));
        }
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk())
            .await
            .expect("a frame or the end within 10 s");
        match chunk {
            Ok(Some(bytes)) => buf.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(None) | Err(_) => return None,
        }
    }
}

async fn open_events(http: &reqwest::Client, url: &str) -> reqwest::Response {
    let resp = http
        .get(format!("{url}/admin/events"))
        .header("authorization", "Bearer admin-token")
        .send()
        .await
        .expect("answer");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream")
    );
    resp
}

#[tokio::test]
async fn events_carry_the_whole_series_then_the_last_seconds() {
    let env = Env::start_with_top(TOP, "").await;
    let (status, _) = env.get("/admin/events", &[]).await;
    assert_eq!(status, 401);
    let mut resp = open_events(&env.http, &env.url).await;
    let mut buf = String::new();
    let first = next_snapshot(&mut resp, &mut buf)
        .await
        .expect("a first snapshot");
    assert_eq!(
        first["series"]["requests"].as_array().map(Vec::len),
        Some(600)
    );
    let names: Vec<&str> = first["providers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(names, ["oa", "an", "ol"]);
    let (s, _, _) = env
        .post(
            Client::OpenAi,
            "/v1/chat/completions",
            &chat_body("to-openai", false),
        )
        .await;
    assert_eq!(s, 200);
    let later = next_snapshot(&mut resp, &mut buf)
        .await
        .expect("a later snapshot");
    assert_eq!(
        later["series"]["requests"].as_array().map(Vec::len),
        Some(10)
    );
    drop(resp);
    env.stop().await;
}

fn write_config(file: &Path, mock_url: &str, with_token: bool) {
    let admin = if with_token { TOP } else { "" };
    let text = format!(
        "listen = \"127.0.0.1:0\"\ndrain_timeout = \"60s\"\nwatch_config = true\n{admin}\n\
         [health]\ninterval = \"0s\"\n\n[[providers]]\nname = \"oa\"\ntype = \"openai\"\n\
         base_url = \"{mock_url}\"\nkeys = [\"upstream-key\"]\nmodels = [\"gpt-4o-mini\"]\n"
    );
    std::fs::write(file, text).expect("write the config");
}

/// Polls `/ui` until it answers `status` (a reload on a file change is debounced).
async fn wait_for_ui(http: &reqwest::Client, url: &str, status: u16) {
    for _ in 0..100 {
        let got = http
            .get(format!("{url}/ui"))
            .send()
            .await
            .map(|r| r.status().as_u16());
        if got.ok() == Some(status) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("/ui never answered {status}");
}

#[tokio::test]
async fn a_stream_ends_with_its_token_and_at_shutdown() {
    let mock = spawn(
        Flavor::OpenAi,
        MockConfig {
            keys: vec!["upstream-key".into()],
            ..MockConfig::default()
        },
    )
    .await
    .expect("mock");
    let dir = std::env::temp_dir().join(format!("lmrelay-dashboard-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("lmrelay.toml");
    write_config(&file, &mock.base_url(), true);
    let gateway = Gateway::bind(load_file(&file).expect("valid"))
        .await
        .expect("bind");
    let url = format!("http://{}", gateway.local_addr().expect("addr"));
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(gateway.run(async move {
        let _ = rx.await;
    }));
    let http = reqwest::Client::new();

    // The token goes away: the open stream ends, /ui says the dashboard is off.
    let mut resp = open_events(&http, &url).await;
    let mut buf = String::new();
    assert!(next_snapshot(&mut resp, &mut buf).await.is_some());
    write_config(&file, &mock.base_url(), false);
    wait_for_ui(&http, &url, 404).await;
    let mut ended = false;
    for _ in 0..5 {
        if next_snapshot(&mut resp, &mut buf).await.is_none() {
            ended = true;
            break;
        }
    }
    assert!(ended, "the stream outlived its token");

    // Shutdown: the stream ends although the drain would wait 60 s for it.
    write_config(&file, &mock.base_url(), true);
    wait_for_ui(&http, &url, 200).await;
    let mut resp = open_events(&http, &url).await;
    let mut buf = String::new();
    assert!(next_snapshot(&mut resp, &mut buf).await.is_some());
    let _ = stop.send(());
    let mut ended = false;
    for _ in 0..5 {
        if next_snapshot(&mut resp, &mut buf).await.is_none() {
            ended = true;
            break;
        }
    }
    assert!(ended, "the stream held the shutdown");
    let finished = tokio::time::timeout(Duration::from_secs(10), task).await;
    assert!(
        finished.is_ok(),
        "the gateway finished without waiting out the drain"
    );
    mock.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}

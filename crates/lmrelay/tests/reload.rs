//! Hot reload: `POST /admin/reload` and SIGHUP pick up a changed file; an invalid file gets
//! 422 with every error while the old config keeps serving; a stream in flight finishes on
//! the config it started with; live state (key marks, usage) carries over.

use lmrelay::config::load_file;
use lmrelay::Gateway;
use lmrelay_mock::{spawn, Flavor, MockConfig, MockServer};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

struct Setup {
    mock: MockServer,
    file: PathBuf,
    url: String,
    http: reqwest::Client,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

fn config(mock: &MockServer, extra: &str) -> String {
    config_watching(mock, extra, false)
}

/// The config; `watch` turns reloading on file changes on (off elsewhere, so each test
/// exercises its own trigger).
fn config_watching(mock: &MockServer, extra: &str, watch: bool) -> String {
    format!(
        r#"listen = "127.0.0.1:0"
drain_timeout = "2s"
watch_config = {watch}
[admin]
token = "admin-token"
[health]
interval = "0s"

[[providers]]
name = "oa"
type = "openai"
base_url = "{}"
keys = ["upstream-key"]
models = ["gpt-4o-mini"]

[[routes]]
model = "first"
targets = ["oa/gpt-4o-mini"]
{extra}
"#,
        mock.base_url()
    )
}

async fn start(name: &str) -> Setup {
    start_watching(name, false).await
}

async fn start_watching(name: &str, watch: bool) -> Setup {
    let mock = spawn(
        Flavor::OpenAi,
        MockConfig {
            keys: vec!["upstream-key".into()],
            ..MockConfig::default()
        },
    )
    .await
    .expect("mock");
    let dir = std::env::temp_dir().join(format!("lmrelay-reload-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("lmrelay.toml");
    std::fs::write(&file, config_watching(&mock, "", watch)).expect("write");
    let gateway = Gateway::bind(load_file(&file).expect("valid"))
        .await
        .expect("bind");
    let url = format!("http://{}", gateway.local_addr().expect("addr"));
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = gateway
            .run(async move {
                let _ = rx.await;
            })
            .await;
    });
    Setup {
        mock,
        file,
        url,
        http: reqwest::Client::new(),
        stop,
        task,
    }
}

impl Setup {
    async fn chat(&self, model: &str, stream: bool) -> (u16, String) {
        let body = json!({"model": model, "stream": stream,
            "messages": [{"role": "user", "content": "one two three four five six seven eight"}]});
        let resp = self
            .http
            .post(format!("{}/v1/chat/completions", self.url))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("answer");
        let status = resp.status().as_u16();
        (status, resp.text().await.expect("body"))
    }

    async fn admin(&self, method: reqwest::Method, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("authorization", "Bearer admin-token")
            .send()
            .await
            .expect("answer");
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
        self.mock.shutdown().await;
        let _ = std::fs::remove_dir_all(self.file.parent().expect("dir"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_reload_applies_a_change_and_refuses_an_invalid_file() {
    let s = start("admin").await;
    assert_eq!(s.chat("second", false).await.0, 404);
    std::fs::write(
        &s.file,
        config(
            &s.mock,
            "[[routes]]\nmodel = \"second\"\ntargets = [\"oa/gpt-4o-mini\"]\n",
        ),
    )
    .expect("write");
    let (status, body) = s.admin(reqwest::Method::POST, "/admin/reload").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["routes"], 2);
    assert_eq!(s.chat("second", false).await.0, 200);
    // Two errors: both reported, and the old config keeps serving.
    std::fs::write(
        &s.file,
        config(
            &s.mock,
            "[[routes]]\nmodel = \"third\"\ntargets = [\"nowhere/x\"]\nstrategy = \"random\"\n",
        ),
    )
    .expect("write");
    let (status, body) = s.admin(reqwest::Method::POST, "/admin/reload").await;
    assert_eq!(status, 422, "{body}");
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 2, "{body}");
    assert!(errors
        .iter()
        .all(|e| e["line"].is_number() && e["field"].is_string()));
    assert_eq!(
        s.chat("second", false).await.0,
        200,
        "the old config serves"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_state_survives_a_reload() {
    let s = start("live").await;
    // A served request (usage), then a 429 that cools the only key for a minute.
    assert_eq!(s.chat("first", false).await.0, 200);
    s.mock.faults().fail_next(429, 1, Some(60));
    assert_eq!(s.chat("first", false).await.0, 503);
    std::fs::write(
        &s.file,
        config(
            &s.mock,
            "[[routes]]\nmodel = \"second\"\ntargets = [\"oa/gpt-4o-mini\"]\n",
        ),
    )
    .expect("write");
    let (status, _) = s.admin(reqwest::Method::POST, "/admin/reload").await;
    assert_eq!(status, 200);
    // The key is still cooling after the reload: live state carried over.
    let (_, providers) = s.admin(reqwest::Method::GET, "/admin/providers").await;
    assert_eq!(
        providers["providers"][0]["keys"][0]["state"], "cooling",
        "{providers}"
    );
    // Usage recorded before the reload is still there.
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, usage) = s.admin(reqwest::Method::GET, "/admin/usage").await;
    assert_eq!(usage["total"]["requests"], 1, "{usage}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_in_flight_finishes_across_a_reload() {
    let s = start("stream").await;
    s.mock.faults().set_event_delay_ms(40);
    let url = s.url.clone();
    let http = s.http.clone();
    let stream = tokio::spawn(async move {
        let body = json!({"model": "first", "stream": true,
            "messages": [{"role": "user", "content": "one two three four five six seven eight"}]});
        let resp = http
            .post(format!("{url}/v1/chat/completions"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .expect("answer");
        resp.text().await.expect("whole stream")
    });
    tokio::time::sleep(Duration::from_millis(120)).await;
    // The route the stream uses disappears in the new config.
    let replaced = config(&s.mock, "").replace("model = \"first\"", "model = \"renamed\"");
    std::fs::write(&s.file, replaced).expect("write");
    let (status, _) = s.admin(reqwest::Method::POST, "/admin/reload").await;
    assert_eq!(status, 200);
    let text = stream.await.expect("join");
    assert!(text.trim_end().ends_with("data: [DONE]"), "{text}");
    assert!(text.contains("eight"), "{text}");
    // New requests see the new config.
    assert_eq!(s.chat("first", false).await.0, 404);
    assert_eq!(s.chat("renamed", false).await.0, 200);
    s.stop().await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads() {
    let s = start("hup").await;
    // Let the gateway install its SIGHUP handler before signalling this process.
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(
        &s.file,
        config(
            &s.mock,
            "[[routes]]\nmodel = \"second\"\ntargets = [\"oa/gpt-4o-mini\"]\n",
        ),
    )
    .expect("write");
    let pid = std::process::id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .expect("kill");
    assert!(sent.success());
    let mut served = false;
    for _ in 0..50 {
        if s.chat("second", false).await.0 == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "the new route is served after SIGHUP");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_file_is_reloaded_by_itself() {
    let s = start_watching("watch", true).await;
    assert_eq!(s.chat("second", false).await.0, 404);
    std::fs::write(
        &s.file,
        config_watching(
            &s.mock,
            "[[routes]]\nmodel = \"second\"\ntargets = [\"oa/gpt-4o-mini\"]\n",
            true,
        ),
    )
    .expect("write");
    let mut served = false;
    for _ in 0..60 {
        if s.chat("second", false).await.0 == 200 {
            served = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(served, "the new route is served after the file changed");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_of_live_state_are_reported_as_needing_a_restart() {
    let s = start("restart").await;
    let audit = s.file.with_file_name("audit.jsonl");
    let extra = format!(
        "[audit]\npath = \"{}\"\n[telemetry]\nendpoint = \"http://127.0.0.1:9\"\n",
        audit.display()
    );
    std::fs::write(
        &s.file,
        config(&s.mock, &extra).replace("127.0.0.1:0", "127.0.0.1:1"),
    )
    .expect("write");
    let (status, body) = s.admin(reqwest::Method::POST, "/admin/reload").await;
    assert_eq!(status, 200, "{body}");
    let restart: Vec<&str> = body["needs_restart"]
        .as_array()
        .expect("needs_restart")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for setting in ["listen", "audit", "telemetry"] {
        assert!(
            restart.iter().any(|r| r.starts_with(setting)),
            "{setting} in {restart:?}"
        );
    }
    assert!(!audit.exists(), "the audit log starts with a restart only");
    assert_eq!(s.chat("first", false).await.0, 200);
    s.stop().await;
}

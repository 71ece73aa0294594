//! Redis stopped mid-run (a Redis this test starts on its own port): with limits failing
//! open requests are served and nothing crashes; failing closed they get 503; once Redis is
//! back, limits are enforced again.

mod common;

use common::{Client, Env};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

/// A throwaway Redis on `port`, stopped (by PID) when dropped.
struct Redis(Child);

impl Redis {
    fn start(port: u16) -> Redis {
        let mut child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (CI installs it)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Redis(child);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server did not start on port {port}");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn top(port: u16, mode: &str) -> String {
    format!(
        "[store]\nbackend = \"redis\"\nurl = \"redis://127.0.0.1:{port}/0\"\ntimeout = \"200ms\"\nlimits_on_failure = \"{mode}\"\n"
    )
}

const EXTRA: &str = "[[keys]]\nname = \"k\"\nkey = \"limited\"\nmodels = [\"*\"]\nrpm = 2\n";

async fn ask(env: &Env) -> u16 {
    env.http
        .post(format!("{}/v1/chat/completions", env.url))
        .header("authorization", "Bearer limited")
        .header("content-type", "application/json")
        .body(
            Client::OpenAi
                .chat("to-openai", "hi", false, false)
                .to_string(),
        )
        .send()
        .await
        .expect("the gateway answers")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_fail_open_or_closed_while_redis_is_down_and_recover() {
    let port = free_port();
    let redis = Redis::start(port);
    let open = Env::start_with_top(&top(port, "open"), EXTRA).await;
    let closed = Env::start_with_top(&top(port, "closed"), EXTRA).await;
    assert_eq!(ask(&open).await, 200);
    drop(redis);
    // Down: failing open serves (limits not enforced), failing closed refuses with 503.
    for _ in 0..4 {
        assert_eq!(ask(&open).await, 200, "fail open: served without limits");
    }
    let refused = closed
        .http
        .post(format!("{}/v1/chat/completions", closed.url))
        .header("authorization", "Bearer limited")
        .header("content-type", "application/json")
        .body(
            Client::OpenAi
                .chat("to-openai", "hi", false, false)
                .to_string(),
        )
        .send()
        .await
        .expect("answer");
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"));
    let text = refused.text().await.expect("body");
    assert!(text.contains("state store"), "{text}");
    let (_, metrics) = open.get("/metrics", &[]).await;
    assert!(String::from_utf8_lossy(&metrics).contains("lmrelay_store_failures"));
    // Back: the connection manager reconnects by itself, and the limit bites again.
    let _redis = Redis::start(port);
    let mut limited = false;
    for _ in 0..60 {
        if ask(&open).await == 429 {
            limited = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(limited, "rpm = 2 is enforced again once Redis is back");
    open.stop().await;
    closed.stop().await;
}

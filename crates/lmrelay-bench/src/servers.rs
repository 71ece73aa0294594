//! The processes under test, each started as a user would start it: `lmrelay-mock` (the
//! upstream), `lmrelay serve` with a config file, and nginx with a config of its own.

use crate::http::{probe_status, Call, HttpClient};
use crate::procs::{children, command, free_port, Proc};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command};
use std::time::{Duration, Instant};

/// The key the mock accepts (the gateway's upstream key; clients of nginx and of the direct
/// path send it themselves).
pub const UPSTREAM_KEY: &str = "bench-upstream-key";
/// The gateway key clients of lmrelay send.
pub const GATEWAY_KEY: &str = "bench-gateway-key-0123456789";
/// The OpenAI mock's model (lmrelay's `oa` provider).
pub const OPENAI_MODEL: &str = "gpt-4o-mini";
/// The Anthropic mock's model (lmrelay's `an` provider).
pub const ANTHROPIC_MODEL: &str = "claude-3-5-haiku-latest";

/// `lmrelay-mock` serving the OpenAI and Anthropic flavours, request recording off.
pub struct Mock {
    pub proc: Proc,
    /// `http://127.0.0.1:PORT` of each flavour.
    pub openai: String,
    pub anthropic: String,
    _stdout: ChildStdout,
}

impl Mock {
    pub fn start(bin: &Path, cpu: Option<usize>, dir: &Path) -> Result<Mock, String> {
        let mut cmd = command(bin, cpu);
        cmd.args([
            "--openai",
            "127.0.0.1:0",
            "--anthropic",
            "127.0.0.1:0",
            "--key",
            UPSTREAM_KEY,
            "--no-record",
        ]);
        let mut proc = Proc::spawn("lmrelay-mock", cmd, &dir.join("mock.log"), true)?;
        let stdout = proc
            .child_mut()
            .stdout
            .take()
            .ok_or("lmrelay-mock: no stdout")?;
        let mut reader = BufReader::new(stdout);
        let (mut openai, mut anthropic) = (None, None);
        while openai.is_none() || anthropic.is_none() {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => {
                    return Err(format!(
                        "lmrelay-mock exited before printing its addresses: {}",
                        tail(&dir.join("mock.log"))
                    ))
                }
                Ok(_) => {}
            }
            let mut parts = line.split_whitespace();
            let (Some(flavor), Some(url)) = (parts.next(), parts.next()) else {
                continue;
            };
            let root = url.trim_end_matches("/v1").to_owned();
            match flavor {
                "openai" => openai = Some(root),
                "anthropic" => anthropic = Some(root),
                _ => {}
            }
        }
        Ok(Mock {
            proc,
            openai: openai.unwrap_or_default(),
            anthropic: anthropic.unwrap_or_default(),
            _stdout: reader.into_inner(),
        })
    }

    /// Sets the pause between streamed events on both flavours.
    pub async fn set_event_delay(&self, client: &HttpClient, ms: u64) -> Result<(), String> {
        let body = serde_json::json!({ "event_delay_ms": ms });
        for root in [&self.openai, &self.anthropic] {
            client
                .send_ok(&Call::new(root, "/mock/faults", &[], &body)?)
                .await?;
        }
        Ok(())
    }

    /// The OpenAI flavour's address, for nginx's `upstream`.
    pub fn openai_addr(&self) -> String {
        self.openai.trim_start_matches("http://").to_owned()
    }
}

/// A running `lmrelay serve`.
pub struct Lmrelay {
    pub proc: Proc,
    pub url: String,
    /// From the spawn to the first 200 from `/healthz`.
    pub ready: Duration,
}

/// `lmrelay hash-key KEY`: the `sha256:` form a user puts in the config.
pub fn hash_key(bin: &Path, key: &str) -> Result<String, String> {
    let out = Command::new(bin)
        .args(["hash-key", key])
        .output()
        .map_err(|e| format!("cannot run lmrelay hash-key: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if !out.status.success() || !text.starts_with("sha256:") {
        return Err(format!(
            "lmrelay hash-key failed: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(text)
}

/// The gateway's config: a provider per mock flavour, one gateway key (hashed, every model,
/// an `rpm` limit far above any rate here), the in-memory store. Everything else is the
/// default a user gets (metrics on, info logging, config watching).
pub fn lmrelay_config(port: u16, mock: &Mock, key_hash: &str) -> String {
    format!(
        r#"# Written by lmrelay-bench.
listen = "127.0.0.1:{port}"

[[providers]]
name = "oa"
type = "openai"
base_url = "{openai}/v1"
keys = ["{UPSTREAM_KEY}"]
models = ["{OPENAI_MODEL}"]

[[providers]]
name = "an"
type = "anthropic"
base_url = "{anthropic}"
keys = ["{UPSTREAM_KEY}"]
models = ["{ANTHROPIC_MODEL}"]

[[keys]]
name = "bench"
key = "{key_hash}"
models = ["*"]
rpm = 100000000

[store]
backend = "memory"
"#,
        openai = mock.openai,
        anthropic = mock.anthropic,
    )
}

impl Lmrelay {
    /// Writes the config into `dir` and starts `lmrelay serve -c` on a free port, pinned to
    /// `cpu`; returns once `/healthz` answers 200. Its log (stderr) goes to `dir/lmrelay.log`.
    pub fn start(
        bin: &Path,
        dir: &Path,
        mock: &Mock,
        key_hash: &str,
        cpu: Option<usize>,
    ) -> Result<Lmrelay, String> {
        Self::start_under(bin, dir, mock, key_hash, cpu, None)
    }

    /// [`Lmrelay::start`], run by `wrapper` (a program and its arguments, such as valgrind),
    /// which may take up to a minute to be ready.
    pub fn start_under(
        bin: &Path,
        dir: &Path,
        mock: &Mock,
        key_hash: &str,
        cpu: Option<usize>,
        wrapper: Option<(&Path, &[String])>,
    ) -> Result<Lmrelay, String> {
        let port = free_port()?;
        // A file per instance: lmrelay watches its config, and another instance's file
        // written over it would reload it.
        let config = dir.join(format!("lmrelay-{port}.toml"));
        std::fs::write(&config, lmrelay_config(port, mock, key_hash))
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let (mut cmd, timeout) = match wrapper {
            Some((program, args)) => {
                let mut c = command(program, cpu);
                c.args(args).arg(bin);
                (c, Duration::from_secs(60))
            }
            None => (command(bin, cpu), Duration::from_secs(10)),
        };
        cmd.arg("serve").arg("-c").arg(&config);
        cmd.env_remove("LMRELAY_LOG")
            .env_remove("LMRELAY_LOG_FORMAT")
            .env_remove("LMRELAY_CONFIG")
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT");
        let log = dir.join("lmrelay.log");
        let spawned = Instant::now();
        let mut proc = Proc::spawn("lmrelay", cmd, &log, false)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_until(&mut proc, &log, timeout, || {
            probe_status(addr, "/healthz", Duration::from_millis(200)) == Some(200)
        })?;
        let ready = spawned.elapsed();
        Ok(Lmrelay {
            proc,
            url: format!("http://{addr}"),
            ready,
        })
    }

    pub fn pid(&self) -> u32 {
        self.proc.pid()
    }
}

/// Polls `ready` every 200 µs until it holds, the process exits, or `timeout` passes.
fn wait_until(
    proc: &mut Proc,
    log: &Path,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<(), String> {
    let deadline = Instant::now() + timeout;
    loop {
        if ready() {
            return Ok(());
        }
        if let Some(status) = proc.exited() {
            return Err(format!(
                "{} exited ({status}) before it was ready: {}",
                proc.name,
                tail(log)
            ));
        }
        if Instant::now() > deadline {
            return Err(format!(
                "{} not ready after {timeout:?}: {}",
                proc.name,
                tail(log)
            ));
        }
        std::thread::sleep(Duration::from_micros(200));
    }
}

/// The last lines of a log, for error messages.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(8)..].join("\n")
}

/// nginx as a plain reverse proxy in front of the OpenAI mock.
pub struct Nginx {
    pub proc: Proc,
    pub url: String,
}

/// nginx's config: one worker, upstream keep-alive, HTTP/1.1 to the upstream with the
/// `Connection` header cleared, no buffering (streams flow), no access log. Keep-alive
/// request limits are raised on both sides so that neither side reconnects every 1,000
/// requests (lmrelay has no such limit).
pub fn nginx_config(dir: &Path, port: u16, upstream: &str) -> String {
    let d = dir.display();
    format!(
        r#"# Written by lmrelay-bench.
daemon off;
master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/nginx-error.log warn;

events {{
    worker_connections 16384;
}}

http {{
    access_log off;
    client_body_temp_path {d}/nginx-body;
    proxy_temp_path {d}/nginx-proxy;
    fastcgi_temp_path {d}/nginx-fastcgi;
    uwsgi_temp_path {d}/nginx-uwsgi;
    scgi_temp_path {d}/nginx-scgi;
    keepalive_requests 1000000;
    keepalive_timeout 75s;

    upstream mock {{
        server {upstream};
        keepalive 1024;
        keepalive_requests 1000000;
        keepalive_timeout 75s;
    }}

    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://mock;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 300s;
        }}
    }}
}}
"#
    )
}

impl Nginx {
    /// Writes the config into `dir` and starts nginx (master and one worker, pinned to `cpu`)
    /// in front of the mock's OpenAI flavour; returns once it answers.
    pub fn start(bin: &Path, dir: &Path, mock: &Mock, cpu: Option<usize>) -> Result<Nginx, String> {
        let port = free_port()?;
        let config = dir.join("nginx.conf");
        std::fs::write(&config, nginx_config(dir, port, &mock.openai_addr()))
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let mut cmd = command(bin, cpu);
        cmd.arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("nginx-error.log"))
            .arg("-c")
            .arg(&config);
        let log = dir.join("nginx.log");
        let mut proc = Proc::spawn("nginx", cmd, &log, false)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        wait_until(
            &mut proc,
            &dir.join("nginx-error.log"),
            Duration::from_secs(10),
            || probe_status(addr, "/", Duration::from_millis(200)).is_some(),
        )?;
        let pid = proc.pid();
        proc.also = children(pid);
        Ok(Nginx {
            proc,
            url: format!("http://{addr}"),
        })
    }

    /// The master and its workers.
    pub fn pids(&self) -> Vec<u32> {
        let master = self.proc.pid();
        let mut pids = vec![master];
        pids.extend(children(master));
        pids
    }
}

/// Where the release binaries are: next to this one (`target/release`).
pub fn sibling_binary(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

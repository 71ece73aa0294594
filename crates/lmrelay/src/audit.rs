//! The audit log: one JSON line per request, to a file or standard output (`[audit] path`),
//! written by a background thread: the request path only queues an [`AuditRecord`] (fields
//! it already owns, moved, not copied), and the writer formats and writes it. Each line has the
//! time, request id, gateway key name, client protocol, model asked, provider and model that
//! served, upstream key id, attempts, status, tokens, cost, latency, time to first token and
//! cache result. Never a secret; the prompt and the completion only with `include_content`,
//! cut to `max_content` bytes. Lines reach the file in batches, at most 200 ms after their
//! request. If the writer falls behind by more than the queue holds, lines are dropped and
//! counted rather than slowing requests down.

use crate::config::{AuditConfig, KeyConfig};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

/// How long written lines may wait in the writer's buffer (the file sees them in batches,
/// not one write per request).
const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// Lines waiting for the writer.
const QUEUE: usize = 16 * 1024;

/// One request as the audit log records it; formatted on the writer thread.
#[derive(Debug, Default)]
pub struct AuditRecord {
    /// When the request was answered (Unix ms).
    pub time_ms: u64,
    pub request_id: String,
    /// The gateway key (its name is logged).
    pub key: Option<Arc<KeyConfig>>,
    /// The client protocol's family name.
    pub protocol: &'static str,
    /// The model the client asked for.
    pub model: String,
    /// The provider that served (or last failed), and its model name.
    pub provider: Option<String>,
    pub provider_model: Option<String>,
    /// The upstream key's short id.
    pub upstream_key: Option<String>,
    pub attempts: u32,
    pub status: u16,
    /// `complete`, `stream`, `client disconnected`, `error`, …
    pub result: &'static str,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub cost_usd: f64,
    pub latency_ms: u64,
    pub ttft_ms: Option<u64>,
    /// `hit` or `miss` on routes that cache.
    pub cache: Option<&'static str>,
    /// Only with `include_content`, already capped.
    pub prompt: Option<String>,
    pub completion: Option<String>,
}

/// An [`AuditRecord`] as its JSON line.
#[derive(serde::Serialize)]
struct Line<'a> {
    time: String,
    request_id: &'a str,
    key: Option<&'a str>,
    protocol: &'a str,
    model: &'a str,
    provider: Option<&'a str>,
    provider_model: Option<&'a str>,
    upstream_key: Option<&'a str>,
    attempts: u32,
    status: u16,
    result: &'a str,
    input_tokens: u64,
    output_tokens: u64,
    cached_tokens: u64,
    cost_usd: f64,
    latency_ms: u64,
    ttft_ms: Option<u64>,
    cache: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prompt: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completion: Option<&'a str>,
}

// === impl AuditRecord ===

impl AuditRecord {
    /// Appends the record's JSON line, with its newline, to `out`.
    fn write_to(&self, out: &mut Vec<u8>) {
        let line = Line {
            time: lmrelay_protocol::time::rfc3339_from_unix_ms(self.time_ms),
            request_id: &self.request_id,
            key: self.key.as_ref().map(|k| k.name.as_str()),
            protocol: self.protocol,
            model: &self.model,
            provider: self.provider.as_deref(),
            provider_model: self.provider_model.as_deref(),
            upstream_key: self.upstream_key.as_deref(),
            attempts: self.attempts,
            status: self.status,
            result: self.result,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            cached_tokens: self.cached_tokens,
            cost_usd: self.cost_usd,
            latency_ms: self.latency_ms,
            ttft_ms: self.ttft_ms,
            cache: self.cache,
            prompt: self.prompt.as_deref(),
            completion: self.completion.as_deref(),
        };
        if serde_json::to_writer(&mut *out, &line).is_ok() {
            out.push(b'\n');
        }
    }
}

/// Where audit lines go.
pub struct AuditLog {
    tx: mpsc::SyncSender<Box<AuditRecord>>,
    /// The writer thread, joined by [`AuditLog::close`].
    writer: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    closing: std::sync::Arc<std::sync::atomic::AtomicBool>,
    pub include_content: bool,
    pub max_content: usize,
    dropped: AtomicU64,
}

// === impl AuditLog ===

impl AuditLog {
    /// Opens the destination and starts the writer task.
    pub fn open(cfg: &AuditConfig) -> std::io::Result<AuditLog> {
        let out: Box<dyn Write + Send> = if cfg.path == "-" {
            Box::new(std::io::stdout())
        } else {
            Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&cfg.path)?,
            )
        };
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let closing = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = closing.clone();
        let writer = std::thread::Builder::new()
            .name("lmrelay-audit".into())
            .spawn(move || write_lines(rx, out, &flag))?;
        Ok(AuditLog {
            tx,
            writer: std::sync::Mutex::new(Some(writer)),
            closing,
            include_content: cfg.include_content,
            max_content: cfg.max_content,
            dropped: AtomicU64::new(0),
        })
    }

    /// Queues one record for the writer.
    pub fn write(&self, record: AuditRecord) {
        if self.tx.try_send(Box::new(record)).is_err()
            && self.dropped.fetch_add(1, Ordering::Relaxed) == 0
        {
            tracing::warn!("the audit log falls behind: lines are being dropped");
        }
    }

    /// Writes out every queued line and stops the writer (at shutdown).
    pub fn close(&self) {
        self.closing.store(true, Ordering::Release);
        let writer = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(w) = writer {
            w.thread().unpark();
            let _ = w.join();
        }
    }

    /// Lines dropped because the writer fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// `text` cut to `max_content` bytes (on a character boundary).
    pub fn cap(&self, text: &str) -> String {
        if text.len() <= self.max_content {
            return text.to_owned();
        }
        let mut end = self.max_content;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &text[..end])
    }
}

/// The writer: wakes every [`FLUSH_EVERY`] (or when closed), writes every line queued since
/// and flushes, until closed or every sender is gone. (It never waits on the queue itself, so a request's send wakes no
/// thread.)
fn write_lines(
    rx: mpsc::Receiver<Box<AuditRecord>>,
    mut out: Box<dyn Write + Send>,
    closing: &std::sync::atomic::AtomicBool,
) {
    let mut buf = Vec::with_capacity(64 * 1024);
    loop {
        std::thread::park_timeout(FLUSH_EVERY);
        let last_round = closing.load(Ordering::Acquire);
        let mut gone = false;
        loop {
            match rx.try_recv() {
                Ok(record) => {
                    record.write_to(&mut buf);
                    if buf.len() >= 64 * 1024 {
                        let _ = out.write_all(&buf);
                        buf.clear();
                    }
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    gone = true;
                    break;
                }
            }
        }
        let _ = out.write_all(&buf);
        let _ = out.flush();
        buf.clear();
        if last_round || gone {
            return;
        }
    }
}

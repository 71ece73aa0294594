//! The audit log: one JSON line per request, to a file or standard output (`[audit] path`),
//! written by a background task so the request path only queues a line. Each line has the
//! time, request id, gateway key name, client protocol, model asked, provider and model that
//! served, upstream key id, attempts, status, tokens, cost, latency, time to first token and
//! cache result. Never a secret; the prompt and the completion only with `include_content`,
//! cut to `max_content` bytes. Lines reach the file in batches, at most 200 ms after their
//! request. If the writer falls behind by more than the queue holds, lines are dropped and
//! counted rather than slowing requests down.

use crate::config::AuditConfig;
use serde_json::{Map, Value};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// How long written lines may wait in the writer's buffer (the file sees them in batches,
/// not one write per request).
const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// Lines waiting for the writer.
const QUEUE: usize = 16 * 1024;

/// Where audit lines go.
pub struct AuditLog {
    tx: mpsc::SyncSender<String>,
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

    /// Queues one record.
    pub fn write(&self, record: Map<String, Value>) {
        self.write_line(Value::Object(record).to_string());
    }

    /// Queues one line (a JSON object without its newline).
    pub fn write_line(&self, mut line: String) {
        line.push('\n');
        if self.tx.try_send(line).is_err() && self.dropped.fetch_add(1, Ordering::Relaxed) == 0 {
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
    rx: mpsc::Receiver<String>,
    mut out: Box<dyn Write + Send>,
    closing: &std::sync::atomic::AtomicBool,
) {
    let mut buf = std::io::BufWriter::with_capacity(64 * 1024, &mut out);
    loop {
        std::thread::park_timeout(FLUSH_EVERY);
        let last_round = closing.load(Ordering::Acquire);
        loop {
            match rx.try_recv() {
                Ok(line) => {
                    let _ = buf.write_all(line.as_bytes());
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    let _ = buf.flush();
                    return;
                }
            }
        }
        let _ = buf.flush();
        if last_round {
            return;
        }
    }
}

/// A record's common fields.
pub fn record(
    request_id: &str,
    protocol: &str,
    key: Option<&str>,
    model: &str,
) -> Map<String, Value> {
    let mut m = Map::with_capacity(20);
    m.insert(
        "time".into(),
        Value::from(lmrelay_protocol::time::rfc3339_from_unix_ms(crate::now_ms())),
    );
    m.insert("request_id".into(), Value::from(request_id));
    m.insert("key".into(), key.map_or(Value::Null, Value::from));
    m.insert("protocol".into(), Value::from(protocol));
    m.insert("model".into(), Value::from(model));
    m
}

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
use std::time::{Duration, Instant};

/// How long written lines may wait in the writer's buffer (the file sees them in batches,
/// not one write per request).
const FLUSH_EVERY: Duration = Duration::from_millis(200);

/// Lines waiting for the writer.
const QUEUE: usize = 16 * 1024;

/// Where audit lines go.
pub struct AuditLog {
    tx: mpsc::SyncSender<String>,
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
        std::thread::Builder::new()
            .name("lmrelay-audit".into())
            .spawn(move || write_lines(rx, out))?;
        Ok(AuditLog {
            tx,
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

/// The writer: buffers lines and flushes them every [`FLUSH_EVERY`] (or when 64 KiB are
/// waiting), until every sender is gone.
fn write_lines(rx: mpsc::Receiver<String>, mut out: Box<dyn Write + Send>) {
    let mut buf = std::io::BufWriter::with_capacity(64 * 1024, &mut out);
    let mut last_flush = Instant::now();
    loop {
        match rx.recv_timeout(FLUSH_EVERY) {
            Ok(line) => {
                let _ = buf.write_all(line.as_bytes());
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
        if last_flush.elapsed() >= FLUSH_EVERY {
            let _ = buf.flush();
            last_flush = Instant::now();
        }
    }
    let _ = buf.flush();
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

//! The audit log: one JSON line per request, to a file or standard output (`[audit] path`),
//! written by a background task so the request path only queues a line. Each line has the
//! time, request id, gateway key name, client protocol, model asked, provider and model that
//! served, upstream key id, attempts, status, tokens, cost, latency, time to first token and
//! cache result. Never a secret; the prompt and the completion only with `include_content`,
//! cut to `max_content` bytes. If the writer falls behind by more than the queue holds,
//! lines are dropped and counted rather than slowing requests down.

use crate::config::AuditConfig;
use serde_json::{Map, Value};
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

/// Lines waiting for the writer.
const QUEUE: usize = 16 * 1024;

/// Where audit lines go.
pub struct AuditLog {
    tx: mpsc::Sender<String>,
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
        let (tx, rx) = mpsc::channel(QUEUE);
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
        let mut line = Value::Object(record).to_string();
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

/// The writer: blocks on the queue, writes each line, flushes when the queue is empty.
fn write_lines(mut rx: mpsc::Receiver<String>, mut out: Box<dyn Write + Send>) {
    let mut buf = std::io::BufWriter::new(&mut out);
    while let Some(line) = rx.blocking_recv() {
        let _ = buf.write_all(line.as_bytes());
        while let Ok(more) = rx.try_recv() {
            let _ = buf.write_all(more.as_bytes());
        }
        let _ = buf.flush();
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

//! One client connection's clock: the socket wrapped to see reads and blocked writes, the
//! requests in flight on it, and the watchdog that closes it when a limit passes — a request
//! head that takes too long, an idle keep-alive, or a client that stopped reading.

use crate::config::ServerLimits;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What a connection is doing, in milliseconds since it was accepted (0: not set).
#[derive(Debug)]
pub struct Activity {
    opened: Instant,
    /// Requests being served (their responses not yet fully written).
    in_flight: AtomicU32,
    /// When the connection last became idle (no request in flight).
    idle_since: AtomicU64,
    /// When the first bytes of a request head arrived on an idle connection.
    head_since: AtomicU64,
    /// Since when a write has been waiting for the client to read.
    blocked_since: AtomicU64,
    /// Wakes the watchdog when a change brings a deadline closer.
    changed: tokio::sync::Notify,
}

/// Why the watchdog closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// A request head did not arrive whole within `header_timeout`.
    SlowHead,
    /// No request within `idle_timeout`.
    Idle,
    /// The client did not read its answer for `write_timeout`.
    SlowReader,
}

// === impl Activity ===

impl Activity {
    pub fn new() -> Arc<Activity> {
        Arc::new(Activity {
            opened: Instant::now(),
            in_flight: AtomicU32::new(0),
            // 1, not 0: idle from the start.
            idle_since: AtomicU64::new(1),
            head_since: AtomicU64::new(0),
            blocked_since: AtomicU64::new(0),
            changed: tokio::sync::Notify::new(),
        })
    }

    fn now(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64 + 1
    }

    /// A request was read whole and is being served.
    pub fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.head_since.store(0, Ordering::Release);
        InFlight(self.clone())
    }

    fn read(&self, n: usize) {
        if n > 0
            && self.in_flight.load(Ordering::Acquire) == 0
            && self.head_since.load(Ordering::Acquire) == 0
        {
            self.head_since.store(self.now(), Ordering::Release);
            self.changed.notify_one();
        }
    }

    fn write_blocked(&self) {
        if self.blocked_since.load(Ordering::Relaxed) == 0 {
            self.blocked_since.store(self.now(), Ordering::Release);
            self.changed.notify_one();
        }
    }

    fn wrote(&self) {
        if self.blocked_since.load(Ordering::Relaxed) != 0 {
            self.blocked_since.store(0, Ordering::Relaxed);
        }
    }

    /// The limit that would close the connection next, and when (ms since opened).
    fn next_deadline(&self, limits: &ServerLimits) -> (Closed, u64) {
        let ms = |d: Duration| d.as_millis() as u64;
        let blocked = self.blocked_since.load(Ordering::Acquire);
        if blocked != 0 {
            return (Closed::SlowReader, blocked + ms(limits.write_timeout));
        }
        if self.in_flight.load(Ordering::Acquire) > 0 {
            // Serving: the request's own deadlines apply; look again later.
            return (Closed::Idle, self.now() + ms(limits.idle_timeout));
        }
        let head = self.head_since.load(Ordering::Acquire);
        if head != 0 {
            return (Closed::SlowHead, head + ms(limits.header_timeout));
        }
        let idle = self.idle_since.load(Ordering::Acquire);
        (Closed::Idle, idle + ms(limits.idle_timeout))
    }

    /// Resolves when a limit has passed: the connection must close.
    pub async fn watchdog(self: Arc<Self>, limits: ServerLimits) -> Closed {
        loop {
            let (why, at) = self.next_deadline(&limits);
            let now = self.now();
            if at <= now {
                // Still true now that the time has come?
                let (again, at_again) = self.next_deadline(&limits);
                if again == why && at_again <= self.now() {
                    return why;
                }
                continue;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(at - now)) => {}
                _ = self.changed.notified() => {}
            }
        }
    }
}

/// A request in flight on a connection; dropped when its response is written (or dropped).
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        if a.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            a.idle_since.store(a.now(), Ordering::Release);
            a.changed.notify_one();
        }
    }
}

/// The socket, seen by the connection's [`Activity`].
pub struct Watched<T> {
    pub inner: T,
    pub activity: Arc<Activity>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Watched<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.activity.read(buf.filled().len() - before);
        }
        polled
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Watched<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, data);
        self.note_write(&polled);
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.note_write(&polled);
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl<T> Watched<T> {
    fn note_write(&self, polled: &Poll<io::Result<usize>>) {
        match polled {
            Poll::Pending => self.activity.write_blocked(),
            Poll::Ready(_) => self.activity.wrote(),
        }
    }
}

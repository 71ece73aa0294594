//! The HTTP edge's accept loop, in front of the router: TCP_NODELAY on every connection, at
//! most `max_connections` served at once (one more is told 503 in its protocol's shape), a
//! watchdog per connection for slow request heads, idle keep-alives and clients that stop
//! reading, limits on header count and size, TLS termination when `[server.tls]` is set
//! ([`tls`]), and a graceful drain at shutdown. (axum's own `serve` runs hyper without a
//! timer and with none of these limits.)

mod conn;
pub mod overload;
pub mod tls;

use crate::config::ServerLimits;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::Router;
use conn::{Activity, Closed, Watched};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

/// Connections beyond `max_connections` that may be held at once to be told 503; past
/// that they are closed at once.
const REFUSING: usize = 64;
/// How long a refused connection may take to send its request head.
const REFUSAL_HEAD_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves `router` on `listener` (through TLS when `tls` is given) until `stop` turns true,
/// then waits for open connections to finish their requests, for at most `drain`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    tls: Option<TlsAcceptor>,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
) {
    let builder = Arc::new(connection_builder(&limits));
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(REFUSING));
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of descriptors, say: wait a moment instead of spinning.
                    tracing::debug!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = stopped(&mut stop) => break,
        };
        let _ = tcp.set_nodelay(true);
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                let activity = Activity::new();
                let watched = Watched {
                    inner: tcp,
                    activity: activity.clone(),
                };
                let svc = service(router.clone(), peer, activity.clone());
                let (builder, tls) = (builder.clone(), tls.clone());
                // Registered before the handshake, so the drain waits for it too.
                let watcher = graceful.watcher();
                tokio::spawn(async move {
                    // The handshake is bounded by the watchdog's head timeout, like a
                    // request head: the first bytes in start its clock.
                    tokio::select! {
                        _ = serve_connection(&builder, watched, svc, tls, watcher) => {}
                        why = activity.watchdog(limits) => closed(why),
                    }
                    drop(slot);
                });
            }
            Err(_) => match refusals.clone().try_acquire_owned() {
                Ok(permit) => {
                    let tls = tls.clone();
                    tokio::spawn(async move {
                        match tls {
                            None => refuse(tcp).await,
                            Some(acceptor) => {
                                if let Ok(Ok(stream)) =
                                    tokio::time::timeout(REFUSAL_HEAD_TIMEOUT, acceptor.accept(tcp))
                                        .await
                                {
                                    refuse(stream).await;
                                }
                            }
                        }
                        drop(permit);
                    });
                }
                Err(_) => drop(tcp),
            },
        }
    }
    drop(listener);
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(drain) => {
            tracing::warn!("drain timeout reached; closing the remaining connections");
        }
    }
}

/// Serves one connection, after its TLS handshake when the edge terminates TLS.
async fn serve_connection<S>(
    builder: &auto::Builder<TokioExecutor>,
    watched: Watched<tokio::net::TcpStream>,
    svc: S,
    tls: Option<TlsAcceptor>,
    watcher: hyper_util::server::graceful::Watcher,
) where
    S: hyper::service::Service<
            http::Request<Incoming>,
            Response = axum::response::Response,
            Error = Infallible,
        > + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    match tls {
        None => {
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(watched), svc);
            let _ = watcher.watch(conn.into_owned()).await;
        }
        Some(acceptor) => {
            let Ok(stream) = acceptor.accept(watched).await else {
                return;
            };
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(stream), svc);
            let _ = watcher.watch(conn.into_owned()).await;
        }
    }
}

/// HTTP/1.1 and HTTP/2 (prior knowledge) with the header limits.
fn connection_builder(limits: &ServerLimits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .max_headers(limits.max_headers)
        // hyper's smallest read buffer is 8 KiB; a head must fit in it.
        .max_buf_size(limits.max_header_bytes.max(8192));
    b.http2()
        .timer(TokioTimer::new())
        .max_header_list_size(limits.max_header_bytes as u32);
    b
}

/// The router as a hyper service for one connection: each request carries the peer's
/// address and counts as in flight until its response body is done.
fn service(
    router: Router,
    peer: SocketAddr,
    activity: Arc<Activity>,
) -> impl hyper::service::Service<
    http::Request<Incoming>,
    Response = axum::response::Response,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<axum::response::Response, Infallible>> + Send,
> + Clone {
    hyper::service::service_fn(move |req: http::Request<Incoming>| {
        let in_flight = activity.request_started();
        let mut req = req.map(Body::new);
        req.extensions_mut().insert(ConnectInfo(peer));
        let router = router.clone();
        async move {
            let resp = router.oneshot(req).await?;
            Ok(overload::hold(resp, in_flight))
        }
    })
}

/// Resolves when `stop` turns true (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

fn closed(why: Closed) {
    tracing::debug!(reason = ?why, "connection closed by the edge's limits");
}

/// Tells a connection over `max_connections` 503, in the shape its request path speaks,
/// and closes it (HTTP/1.1 or, through TLS with ALPN, HTTP/2).
async fn refuse<I>(io: I)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1()
        .timer(TokioTimer::new())
        .header_read_timeout(REFUSAL_HEAD_TIMEOUT)
        .keep_alive(false);
    b.http2().timer(TokioTimer::new());
    let svc = hyper::service::service_fn(|req: http::Request<Incoming>| async move {
        Ok::<_, Infallible>(overload::overloaded(
            req.uri().path(),
            "open connections (max_connections)",
        ))
    });
    let _ = tokio::time::timeout(
        REFUSAL_HEAD_TIMEOUT * 2,
        b.serve_connection(TokioIo::new(io), svc),
    )
    .await;
}

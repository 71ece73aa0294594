//! The Redis state store against the real Redis at 127.0.0.1:6379 (CI starts it; locally
//! `redis-server --daemonize yes`): the conformance suite, state shared between replicas,
//! passwords kept out of errors, and failures bounded by the timeout when Redis is away,
//! stops answering or drops the connection. Without that Redis these tests fail; they do not
//! skip.
//!
//! Each test keeps its keys under its own `lmrelay-test:<random>:` prefix and deletes them at
//! the end, also when it fails.

#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use futures_util::FutureExt;
use lmrelay::store::{conformance, CounterOp, RedisStore, StateStore, StoreError};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

const REDIS: &str = "redis://127.0.0.1:6379/0";
const REDIS_ADDR: &str = "127.0.0.1:6379";
const TIMEOUT: Duration = Duration::from_secs(2);
/// The timeout of stores that are meant to time out.
const SHORT: Duration = Duration::from_millis(300);
/// Far beyond any timeout here: a call still running after this hangs.
const HANG: Duration = Duration::from_secs(15);
const KEEP: Option<Duration> = Some(Duration::from_secs(600));

fn unique_prefix() -> String {
    format!("lmrelay-test:{:016x}:", fastrand::u64(..))
}

/// A store on the test Redis, or a panic saying the tests need one.
async fn connect(prefix: &str) -> RedisStore {
    RedisStore::connect(REDIS, prefix, TIMEOUT)
        .await
        .unwrap_or_else(|e| {
            panic!(
                "these tests need Redis at {REDIS} (CI starts it; locally run \
                 `redis-server --daemonize yes`): {e}"
            )
        })
}

/// Runs `test`, then deletes every key under `store`'s prefix, even if `test` panicked.
async fn cleaning_up(store: &RedisStore, test: impl Future<Output = ()>) {
    let outcome = AssertUnwindSafe(test).catch_unwind().await;
    for (key, _) in store.scan("").await.unwrap() {
        store.delete(&key).await.unwrap();
    }
    assert_eq!(
        store.scan("").await.unwrap(),
        [],
        "cleanup must leave nothing"
    );
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

/// `call`, failing the test if it is still running after [`HANG`].
async fn bounded<T>(what: &str, call: impl Future<Output = T>) -> T {
    tokio::time::timeout(HANG, call)
        .await
        .unwrap_or_else(|_| panic!("{what} hung instead of failing within its timeout"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_conforms() {
    let store = connect(&unique_prefix()).await;
    cleaning_up(&store, conformance::run(&store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_state() {
    let prefix = unique_prefix();
    let (a, b) = (connect(&prefix).await, connect(&prefix).await);
    let other = connect(&unique_prefix()).await;
    let bare = connect("").await;
    cleaning_up(&a, async {
        assert_eq!(
            a.counters(&[CounterOp::add("n", 3, KEEP)]).await.unwrap(),
            [3]
        );
        assert_eq!(
            b.counters(&[CounterOp::add("n", 4, KEEP)]).await.unwrap(),
            [7],
            "a replica must count on from another's counter"
        );
        assert_eq!(a.counters(&[CounterOp::read("n")]).await.unwrap(), [7]);

        a.set("r", Bytes::from_static(b"one"), None).await.unwrap();
        assert_eq!(b.get("r").await.unwrap(), Some(Bytes::from_static(b"one")));
        assert!(b
            .compare_and_set("r", Some(b"one"), Some(Bytes::from_static(b"two")), None)
            .await
            .unwrap());
        assert!(
            !a.compare_and_set("r", Some(b"one"), Some(Bytes::from_static(b"x")), None)
                .await
                .unwrap(),
            "a replica's compare_and_set must see another's write"
        );
        assert_eq!(
            a.scan("").await.unwrap(),
            [
                ("n".to_owned(), Bytes::from_static(b"7")),
                ("r".to_owned(), Bytes::from_static(b"two"))
            ]
        );

        // Another prefix is another gateway: it sees nothing of these.
        assert_eq!(other.counters(&[CounterOp::read("n")]).await.unwrap(), [0]);
        assert_eq!(other.get("r").await.unwrap(), None);
        // Every key is under the prefix.
        assert_eq!(
            bare.scan(&prefix).await.unwrap(),
            [
                (format!("{prefix}n"), Bytes::from_static(b"7")),
                (format!("{prefix}r"), Bytes::from_static(b"two"))
            ]
        );

        assert!(b.delete("r").await.unwrap());
        assert_eq!(a.get("r").await.unwrap(), None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn increments_from_replicas_are_atomic() {
    let prefix = unique_prefix();
    let a = Arc::new(connect(&prefix).await);
    let b = Arc::new(connect(&prefix).await);
    cleaning_up(&a.clone(), async move {
        let tasks: Vec<JoinHandle<Vec<i64>>> = [a.clone(), b.clone()]
            .into_iter()
            .flat_map(|store| (0..4).map(move |_| store.clone()))
            .map(|store| {
                tokio::spawn(async move {
                    let mut seen = Vec::new();
                    for _ in 0..50 {
                        let ops = [CounterOp::add("n", 1, KEEP), CounterOp::read("n")];
                        let values = store.counters(&ops).await.unwrap();
                        assert!(values[1] >= values[0]);
                        seen.push(values[0]);
                    }
                    seen
                })
            })
            .collect();
        let mut all = Vec::new();
        for task in tasks {
            all.extend(task.await.unwrap());
        }
        all.sort_unstable();
        assert!(
            all.iter().copied().eq(1..=400),
            "every increment from every replica must see a value no other saw"
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counters_are_exact_and_saturate() {
    let store = connect(&unique_prefix()).await;
    cleaning_up(&store, async {
        let big = (1_i64 << 53) + 1;
        let ops = [
            CounterOp::add("big", big, KEEP),
            CounterOp::add("big", 2, KEEP),
            CounterOp::add("max", i64::MAX, KEEP),
            CounterOp::add("max", 1, None),
            CounterOp::add("min", i64::MIN, KEEP),
            CounterOp::add("min", -1, None),
            CounterOp::add("min", 5, None),
        ];
        assert_eq!(
            store.counters(&ops).await.unwrap(),
            [
                big,
                big + 2,
                i64::MAX,
                i64::MAX,
                i64::MIN,
                i64::MIN,
                i64::MIN + 5
            ],
            "counters must be exact over the whole i64 range and saturate at its ends"
        );

        // A TTL too long for Redis is kept forever, not refused.
        let forever = Some(Duration::MAX);
        assert_eq!(
            store
                .counters(&[CounterOp::add("forever", 1, forever)])
                .await
                .unwrap(),
            [1]
        );
        store.set("r", Bytes::new(), forever).await.unwrap();
        assert_eq!(store.get("r").await.unwrap(), Some(Bytes::new()));
        assert!(store
            .compare_and_set("r", Some(b""), Some(Bytes::from_static(b"x")), forever)
            .await
            .unwrap());

        // A record read as a counter is named, not taken for 0.
        store
            .set("text", Bytes::from_static(b"hello"), None)
            .await
            .unwrap();
        for ops in [
            vec![CounterOp::read("text")],
            vec![CounterOp::add("text", 1, None)],
            vec![
                CounterOp::add("ok", 1, KEEP),
                CounterOp::add("text", 1, None),
            ],
        ] {
            match store.counters(&ops).await {
                Err(StoreError::Corrupt { key, .. }) => assert_eq!(key, "text"),
                other => panic!("a record read as a counter must be Corrupt, got {other:?}"),
            }
        }
        assert!(matches!(
            store.scan_counters("te").await,
            Err(StoreError::Corrupt { key, .. }) if key == "text"
        ));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_never_appear_in_errors() {
    let secret = "Sup3r-s3cret";
    let closed = closed_port().await;
    for url in [
        // Nothing listens.
        format!("redis://app:{secret}@127.0.0.1:{closed}/0"),
        format!("redis://:{secret}@127.0.0.1:{closed}/0"),
        // Redis answers and refuses the user.
        format!("redis://lmrelay-nobody:{secret}@{REDIS_ADDR}/0"),
        // Not a valid URL.
        format!("redis://app:{secret}@{REDIS_ADDR}/not-a-database"),
        format!("redis://app:{secret}@{REDIS_ADDR}:x/0"),
        format!("redis+unix:///nowhere/redis.sock?pass={secret}"),
    ] {
        let error = bounded(&url, RedisStore::connect(&url, &unique_prefix(), SHORT))
            .await
            .expect_err(&url);
        for shown in [error.to_string(), format!("{error:?}")] {
            assert!(
                !shown.contains(secret),
                "the password must not appear in an error: {shown}"
            );
        }
        assert!(
            matches!(error, StoreError::Unavailable(_) | StoreError::Timeout),
            "{error:?}"
        );
    }
    let error = RedisStore::connect(
        &format!("redis://app:{secret}@127.0.0.1:{closed}/0"),
        "",
        SHORT,
    )
    .await
    .unwrap_err();
    assert!(
        error.to_string().contains("redis://app:***@127.0.0.1"),
        "the error must name the server, password masked: {error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absent_redis_fails_within_the_timeout() {
    // Nothing listens: refused at once.
    let url = format!("redis://127.0.0.1:{}/0", closed_port().await);
    let error = bounded("connect", RedisStore::connect(&url, "", SHORT))
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::Unavailable(_)),
        "a refused connection must be Unavailable: {error:?}"
    );

    // Something listens and never answers.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("redis://{}/0", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let error = bounded("connect", RedisStore::connect(&url, "", SHORT))
        .await
        .unwrap_err();
    assert!(
        matches!(error, StoreError::Timeout | StoreError::Unavailable(_)),
        "a server that does not answer must time out: {error:?}"
    );
    held.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_stops_answering_times_out_and_is_replaced() {
    let proxy = Proxy::start().await;
    let prefix = unique_prefix();
    let store = RedisStore::connect(&proxy.url(), &prefix, SHORT)
        .await
        .unwrap();
    cleaning_up(&connect(&prefix).await, async {
        store
            .set("k", Bytes::from_static(b"v"), KEEP)
            .await
            .unwrap();

        proxy.stall_existing();
        let stalled = bounded("get", store.get("k")).await;
        assert!(
            matches!(stalled, Err(StoreError::Timeout)),
            "a call on a connection that stopped answering must time out: {stalled:?}"
        );
        // The store replaces the connection by itself; the proxy lets new ones through.
        let answer = recovers(&store).await;
        assert_eq!(answer, Some(Bytes::from_static(b"v")));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_reconnects_by_itself_after_an_outage() {
    let proxy = Proxy::start().await;
    let prefix = unique_prefix();
    let store = RedisStore::connect(&proxy.url(), &prefix, SHORT)
        .await
        .unwrap();
    cleaning_up(&connect(&prefix).await, async {
        assert_eq!(
            store
                .counters(&[CounterOp::add("n", 1, KEEP)])
                .await
                .unwrap(),
            [1]
        );

        // Redis goes away: connections cut, new ones refused.
        proxy.set_down(true);
        proxy.cut();
        for _ in 0..5 {
            let result = bounded("counters", store.counters(&[CounterOp::add("n", 1, KEEP)])).await;
            assert!(
                matches!(
                    result,
                    Err(StoreError::Unavailable(_) | StoreError::Timeout)
                ),
                "a call while Redis is away must fail: {result:?}"
            );
        }

        // Redis is back: the store finds it without being told.
        proxy.set_down(false);
        recovers(&store).await;
        let n = store.counters(&[CounterOp::read("n")]).await.unwrap()[0];
        assert_eq!(n, 1, "no increment sent while Redis was away may count");
    })
    .await;
}

/// Reads `k` until the store answers again, which it must within a few seconds; only
/// `Unavailable` and `Timeout` may come before.
async fn recovers(store: &RedisStore) -> Option<Bytes> {
    for _ in 0..50 {
        match bounded("get", store.get("k")).await {
            Ok(answer) => return answer,
            Err(StoreError::Unavailable(_) | StoreError::Timeout) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => panic!("unexpected error while reconnecting: {e:?}"),
        }
    }
    panic!("the store did not reconnect by itself");
}

/// A port nothing listens on (one the OS just gave out and took back).
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap().port()
}

/// A TCP proxy to the test Redis that can stall its connections, cut them, or refuse new
/// ones.
struct Proxy {
    port: u16,
    state: Arc<ProxyState>,
    accept: AbortHandle,
}

#[derive(Default)]
struct ProxyState {
    down: AtomicBool,
    conns: Mutex<Vec<(Arc<AtomicBool>, AbortHandle)>>,
}

impl Proxy {
    async fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(ProxyState::default());
        let shared = state.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if shared.down.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(server) = TcpStream::connect(REDIS_ADDR).await else {
                    continue;
                };
                let stalled = Arc::new(AtomicBool::new(false));
                let task = tokio::spawn(pump(client, server, stalled.clone()));
                shared
                    .conns
                    .lock()
                    .unwrap()
                    .push((stalled, task.abort_handle()));
            }
        })
        .abort_handle();
        Proxy {
            port,
            state,
            accept,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Connections open now stop forwarding, in both directions; new ones work.
    fn stall_existing(&self) {
        for (stalled, _) in self.state.conns.lock().unwrap().iter() {
            stalled.store(true, Ordering::SeqCst);
        }
    }

    /// Closes every open connection.
    fn cut(&self) {
        for (_, task) in self.state.conns.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    /// While down, new connections are closed at once.
    fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

async fn pump(client: TcpStream, server: TcpStream, stalled: Arc<AtomicBool>) {
    let (client_read, client_write) = client.into_split();
    let (server_read, server_write) = server.into_split();
    tokio::select! {
        _ = forward(client_read, server_write, &stalled) => {}
        _ = forward(server_read, client_write, &stalled) => {}
    }
}

async fn forward(
    mut from: impl AsyncReadExt + Unpin,
    mut to: impl AsyncWriteExt + Unpin,
    stalled: &AtomicBool,
) {
    let mut buf = vec![0; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while stalled.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

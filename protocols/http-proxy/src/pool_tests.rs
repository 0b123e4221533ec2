//! Pool tests against a raw HTTP/1.1 upstream on a std thread, so the test decides exactly
//! when the upstream answers and when it closes a connection.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::AtomicUsize;
use std::sync::mpsc;

use http::{Method, Request, Response, StatusCode};
use http_body_util::BodyExt as _;

use super::*;
use crate::config::{ProxyConfig, RouteConfig};

/// Upper bound of any wait (a hang becomes a failure).
const WAIT: Duration = Duration::from_secs(10);

/// What the upstream does with the `n`-th request (0-based) of a connection.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Act {
    /// Answer `200 ok` and wait for the next request.
    Answer,
    /// Answer `200 ok` without `Connection: close`; close the socket when the test says so.
    AnswerThenCloseWhenTold,
    /// Read the request and close without answering.
    CloseUnanswered,
}

struct RawUpstream {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<AtomicUsize>,
    /// One message each time the upstream closed a connection.
    closed: mpsc::Receiver<()>,
    /// One message lets one connection in `AnswerThenCloseWhenTold` close.
    tell: mpsc::Sender<()>,
}

impl RawUpstream {
    fn start(script: fn(usize) -> Act) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let (tx, closed) = mpsc::channel();
        let (tell, told) = mpsc::channel();
        let told = Arc::new(parking_lot::Mutex::new(told));
        let (c, r) = (connections.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { return };
                c.fetch_add(1, Ordering::SeqCst);
                let (r, tx, told) = (r.clone(), tx.clone(), told.clone());
                std::thread::spawn(move || {
                    serve(stream, script, &r, &told);
                    let _ = tx.send(());
                });
            }
        });
        Self {
            addr,
            connections,
            requests,
            closed,
            tell,
        }
    }

    fn pool(&self, max_idle: usize, idle_timeout: Duration) -> Arc<Pool> {
        let proxy = ProxyConfig::default();
        let connector = Connector::new(&proxy, &RouteConfig::default(), false).expect("connector");
        let dial = format!("http://{}/", self.addr).parse().expect("uri");
        Pool::new(
            connector,
            dial,
            PoolSettings {
                max_idle,
                idle_timeout,
                cancel: CancellationToken::new(),
                tasks: TaskTracker::new(),
            },
        )
    }

    /// Lets one waiting connection close, and blocks the calling thread (and so a
    /// current-thread runtime: the proxy side cannot notice yet) until it has.
    fn close_one_blocking(&self) {
        self.tell.send(()).expect("upstream running");
        self.closed
            .recv_timeout(WAIT)
            .expect("upstream closed a connection");
    }
}

/// Serves one connection by `script` (the socket closes when this returns).
fn serve(
    stream: std::net::TcpStream,
    script: fn(usize) -> Act,
    requests: &AtomicUsize,
    told: &parking_lot::Mutex<mpsc::Receiver<()>>,
) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut out = stream;
    for n in 0.. {
        let mut line = String::new();
        let mut saw_any = false;
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" && saw_any => break,
                Ok(_) => saw_any = true,
            }
        }
        requests.fetch_add(1, Ordering::SeqCst);
        let act = script(n);
        if act == Act::CloseUnanswered {
            return;
        }
        if out
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            .is_err()
        {
            return;
        }
        if act == Act::AnswerThenCloseWhenTold {
            let _ = told.lock().recv_timeout(WAIT);
            return;
        }
    }
}

fn request(method: Method) -> Request<UpstreamBody> {
    let mut req = Request::new(UpstreamBody::Empty);
    *req.method_mut() = method;
    *req.uri_mut() = Uri::from_static("/");
    req.headers_mut()
        .insert(header::HOST, http::HeaderValue::from_static("upstream"));
    req.headers_mut()
        .insert(header::CONTENT_LENGTH, http::HeaderValue::from_static("0"));
    req
}

/// One exchange: acquire, send, read the body to the end, check the connection in.
async fn exchange(pool: &Arc<Pool>, method: Method) -> Result<StatusCode, SendError> {
    let conn = pool.acquire(Instant::now()).await.expect("a connection");
    let (resp, conn) = Pool::send(conn, request(method)).await?;
    let status = resp.status();
    let reuse = keeps_alive(&resp);
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    assert_eq!(body, "ok");
    if reuse {
        conn.checkin();
    }
    Ok(status)
}

fn idle_len(pool: &Pool) -> usize {
    pool.idle.lock().len()
}

#[tokio::test]
async fn sequential_requests_reuse_one_connection() {
    let up = RawUpstream::start(|_| Act::Answer);
    let pool = up.pool(8, Duration::from_secs(60));
    for _ in 0..3 {
        assert_eq!(
            exchange(&pool, Method::GET).await.ok(),
            Some(StatusCode::OK)
        );
    }
    assert_eq!(pool.opened(), 1);
    assert_eq!(up.connections.load(Ordering::SeqCst), 1);
    assert_eq!(up.requests.load(Ordering::SeqCst), 3);
    assert_eq!(idle_len(&pool), 1);
}

#[tokio::test]
async fn a_connection_the_upstream_closed_is_discarded() {
    let up = RawUpstream::start(|_| Act::AnswerThenCloseWhenTold);
    let pool = up.pool(8, Duration::from_secs(60));
    assert_eq!(
        exchange(&pool, Method::GET).await.ok(),
        Some(StatusCode::OK)
    );
    assert_eq!(
        idle_len(&pool),
        1,
        "the response said nothing about closing"
    );
    up.close_one_blocking();
    // Let the connection's driver see the upstream's FIN: its sender reports closed.
    let seen = tokio::time::timeout(WAIT, async {
        while !pool
            .idle
            .lock()
            .front()
            .is_some_and(|e| e.sender.is_closed())
        {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(seen.is_ok(), "the driver noticed the close");
    assert_eq!(
        exchange(&pool, Method::GET).await.ok(),
        Some(StatusCode::OK)
    );
    assert_eq!(pool.opened(), 2, "the closed connection was not reused");
    assert_eq!(up.requests.load(Ordering::SeqCst), 2);
    up.tell.send(()).expect("upstream running");
}

#[tokio::test]
async fn a_request_a_reused_connection_gives_back_unsent_goes_on_a_new_one() {
    let up = RawUpstream::start(|_| Act::Answer);
    let pool = up.pool(8, Duration::from_secs(60));
    assert_eq!(
        exchange(&pool, Method::GET).await.ok(),
        Some(StatusCode::OK)
    );
    let mut conn = pool
        .acquire(Instant::now())
        .await
        .expect("the pooled connection");
    assert!(conn.reused);
    // Occupy the connection behind the pool's back: it cannot take the next request and
    // gives it back unsent (what hyper also does when a connection closes with a request
    // still queued).
    let first = conn.sender.try_send_request(request(Method::GET));
    let (resp, fresh) = Pool::send(conn, request(Method::POST))
        .await
        .expect("sent on a new connection");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(!fresh.reused);
    resp.into_body().collect().await.expect("body");
    let first = first.await.expect("the first request is answered");
    first.into_body().collect().await.expect("body");
    assert_eq!(pool.opened(), 2);
    assert_eq!(
        up.requests.load(Ordering::SeqCst),
        3,
        "each request reached the upstream exactly once"
    );
}

#[tokio::test]
async fn a_request_a_new_connection_gives_back_unsent_is_returned() {
    let up = RawUpstream::start(|_| Act::Answer);
    let pool = up.pool(8, Duration::from_secs(60));
    let mut conn = pool
        .acquire(Instant::now())
        .await
        .expect("a new connection");
    assert!(!conn.reused);
    let first = conn.sender.try_send_request(request(Method::GET));
    let err = Pool::send(conn, request(Method::POST))
        .await
        .expect_err("not sent");
    assert!(matches!(err, SendError::Unsent(_, _)), "{err:?}");
    assert_eq!(pool.opened(), 1, "the caller decides where it goes next");
    first.await.expect("the first request is answered");
    assert_eq!(up.requests.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_request_the_upstream_may_have_seen_is_not_resent() {
    // First request answered; the second is read and the connection closed unanswered.
    let up = RawUpstream::start(|n| {
        if n == 0 {
            Act::Answer
        } else {
            Act::CloseUnanswered
        }
    });
    let pool = up.pool(8, Duration::from_secs(60));
    assert_eq!(
        exchange(&pool, Method::GET).await.ok(),
        Some(StatusCode::OK)
    );
    let conn = pool
        .acquire(Instant::now())
        .await
        .expect("the pooled connection");
    assert!(conn.reused);
    let err = Pool::send(conn, request(Method::POST))
        .await
        .expect_err("no answer");
    assert!(matches!(err, SendError::Failed(_)), "{err:?}");
    assert_eq!(pool.opened(), 1, "no second connection was opened");
    assert_eq!(up.requests.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_idle_list_is_bounded() {
    let up = RawUpstream::start(|_| Act::Answer);
    let pool = up.pool(2, Duration::from_secs(60));
    let mut held = Vec::new();
    for _ in 0..3 {
        let conn = pool.acquire(Instant::now()).await.expect("a connection");
        let (resp, conn) = Pool::send(conn, request(Method::GET)).await.expect("sent");
        resp.into_body().collect().await.expect("body");
        held.push(conn);
    }
    assert_eq!(pool.opened(), 3, "busy connections are not shared");
    for conn in held {
        conn.checkin();
    }
    assert_eq!(
        idle_len(&pool),
        2,
        "pool_max_idle_per_host bounds the idle list"
    );
}

#[tokio::test]
async fn no_idle_connections_when_pooling_is_off() {
    let up = RawUpstream::start(|_| Act::Answer);
    let pool = up.pool(0, Duration::from_secs(60));
    for _ in 0..2 {
        assert_eq!(
            exchange(&pool, Method::GET).await.ok(),
            Some(StatusCode::OK)
        );
    }
    assert_eq!(idle_len(&pool), 0);
    assert_eq!(pool.opened(), 2);
}

#[tokio::test]
async fn idle_connections_expire() {
    let up = RawUpstream::start(|_| Act::Answer);
    let timeout = Duration::from_secs(4);
    let pool = up.pool(8, timeout);
    assert_eq!(
        exchange(&pool, Method::GET).await.ok(),
        Some(StatusCode::OK)
    );
    let now = Instant::now();
    pool.sweep(now);
    assert_eq!(idle_len(&pool), 1, "not expired yet");
    assert!(
        pool.checkout(now + timeout).is_none(),
        "expired at checkout"
    );
    assert_eq!(idle_len(&pool), 0);

    assert_eq!(
        exchange(&pool, Method::GET).await.ok(),
        Some(StatusCode::OK)
    );
    assert_eq!(idle_len(&pool), 1);
    pool.sweep(Instant::now() + timeout);
    assert_eq!(idle_len(&pool), 0, "the sweeper drops it");
    assert_eq!(pool.opened(), 2);
}

#[tokio::test]
async fn shutdown_empties_the_pool_and_stops_pooling() {
    let up = RawUpstream::start(|_| Act::Answer);
    let pool = up.pool(8, Duration::from_secs(60));
    assert_eq!(
        exchange(&pool, Method::GET).await.ok(),
        Some(StatusCode::OK)
    );
    assert_eq!(idle_len(&pool), 1);
    pool.settings.cancel.cancel();
    pool.settings.tasks.close();
    tokio::time::timeout(WAIT, pool.settings.tasks.wait())
        .await
        .expect("the sweeper stops on shutdown");
    assert_eq!(idle_len(&pool), 0);
    assert_eq!(
        exchange(&pool, Method::GET).await.ok(),
        Some(StatusCode::OK)
    );
    assert_eq!(idle_len(&pool), 0, "no checkin after shutdown");
}

#[test]
fn keep_alive_follows_version_and_connection() {
    let resp = |version: Version, connection: Option<&'static str>| {
        let mut r = Response::new(());
        *r.version_mut() = version;
        if let Some(c) = connection {
            r.headers_mut()
                .insert(header::CONNECTION, http::HeaderValue::from_static(c));
        }
        keeps_alive(&r)
    };
    assert!(resp(Version::HTTP_11, None));
    assert!(resp(Version::HTTP_11, Some("keep-alive")));
    assert!(!resp(Version::HTTP_11, Some("close")));
    assert!(!resp(Version::HTTP_11, Some("Keep-Alive, Close")));
    assert!(!resp(Version::HTTP_10, None));
    assert!(resp(Version::HTTP_10, Some("keep-alive")));
}

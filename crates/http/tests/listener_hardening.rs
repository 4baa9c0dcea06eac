//! The listener's limits over real sockets: an unfinished request head and an idle keep-alive
//! connection are closed, the connection limit holds extra connections back, a handler panic
//! answers 500 on a connection that keeps working, and every response carries
//! `Cache-Control: no-store` and the configured `custom_response_headers`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tresor_core::{Core, CoreOptions, SingleNode};
use tresor_http::{AppState, HeaderScope, ResponseHeaders, ServeOptions, Timeouts, router, serve};

/// Upper bound for anything that should happen "soon"; generous for loaded CI machines.
const SOON: Duration = Duration::from_secs(20);

fn state() -> AppState {
    let core = Core::new(
        Arc::new(tresor_storage::InMemBackend::new()),
        CoreOptions {
            backends: tresor_engines::registry(),
            ..CoreOptions::default()
        },
        Arc::new(SingleNode::default()),
    );
    AppState {
        core,
        max_request_size: 0,
        max_request_duration: Duration::from_secs(30),
        metrics: Default::default(),
        json_limits: Default::default(),
        raw_switches: Default::default(),
    }
}

/// A running listener; stops when dropped.
struct Server {
    addr: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn start(options: ServeOptions) -> Server {
    let app = router(state()).route("/test/panic", get(panicking));
    start_with(options, app).await
}

async fn panicking() -> &'static str {
    panic!("handler bug")
}

async fn start_with(options: ServeOptions, app: axum::Router) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let token = stop.clone();
    tokio::spawn(async move { serve(listener, options, app, token).await });
    Server { addr, stop }
}

fn timeouts(read_header: u64, read: u64, idle: u64) -> Timeouts {
    Timeouts::from_settings(
        Duration::from_millis(read_header),
        Duration::from_millis(read),
        Duration::ZERO,
        Duration::from_millis(idle),
    )
}

/// One HTTP/1.1 response read off a raw connection.
#[derive(Debug)]
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response (headers, then a `Content-Length` body).
async fn read_response(stream: &mut TcpStream) -> RawResponse {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before a response");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap();
            (n.trim().to_owned(), v.trim().to_owned())
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .map(|(_, v)| v.parse().unwrap())
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < len {
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed inside a body");
        body.extend_from_slice(&chunk[..n]);
    }
    RawResponse {
        status,
        headers,
        body: String::from_utf8(body).unwrap(),
    }
}

async fn request(stream: &mut TcpStream, path: &str) -> RawResponse {
    let req = format!("GET {path} HTTP/1.1\r\nHost: tresor\r\n\r\n");
    stream.write_all(req.as_bytes()).await.unwrap();
    tokio::time::timeout(SOON, read_response(stream))
        .await
        .expect("no response in time")
}

/// Waits until the server closes the connection (EOF or reset).
async fn closed_by_server(stream: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    let wait = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(SOON, wait)
        .await
        .expect("the server kept the connection open");
}

#[tokio::test]
async fn unfinished_request_head_is_closed() {
    let server = start(ServeOptions {
        timeouts: timeouts(300, 30_000, 300_000),
        ..ServeOptions::default()
    })
    .await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(b"GET /v1/sys/health HTTP/1.1\r\nHost: tresor\r\n")
        .await
        .unwrap();
    closed_by_server(&mut s).await;
    // A connection that sends nothing at all is closed too.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    closed_by_server(&mut silent).await;
    // The listener still serves.
    let mut ok = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(request(&mut ok, "/v1/sys/seal-status").await.status, 200);
}

#[tokio::test]
async fn idle_keep_alive_connection_is_closed() {
    let server = start(ServeOptions {
        timeouts: timeouts(10_000, 30_000, 300),
        ..ServeOptions::default()
    })
    .await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let r = request(&mut s, "/v1/sys/seal-status").await;
    assert_eq!(r.status, 200);
    // Kept alive: a second request on the same connection is answered.
    assert_eq!(request(&mut s, "/v1/sys/seal-status").await.status, 200);
    closed_by_server(&mut s).await;
}

#[tokio::test]
async fn slow_body_is_cut_off_by_the_read_timeout() {
    let server = start(ServeOptions {
        timeouts: timeouts(10_000, 400, 300_000),
        ..ServeOptions::default()
    })
    .await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    s.write_all(
        b"PUT /v1/sys/init HTTP/1.1\r\nHost: tresor\r\nContent-Length: 100\r\n\r\n{\"secret",
    )
    .await
    .unwrap();
    // The body never completes: the request fails and the connection is not reused.
    let r = tokio::time::timeout(SOON, read_response(&mut s))
        .await
        .expect("no answer to a stalled body");
    assert!(r.status >= 400, "{r:?}");
    closed_by_server(&mut s).await;
}

#[tokio::test]
async fn connection_limit_holds_back_extra_connections() {
    let server = start(ServeOptions {
        max_connections: 2,
        ..ServeOptions::default()
    })
    .await;
    let mut c1 = TcpStream::connect(server.addr).await.unwrap();
    let mut c2 = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(request(&mut c1, "/v1/sys/seal-status").await.status, 200);
    assert_eq!(request(&mut c2, "/v1/sys/seal-status").await.status, 200);
    // The third connection is queued by the kernel but not served while two are open.
    let mut c3 = TcpStream::connect(server.addr).await.unwrap();
    c3.write_all(b"GET /v1/sys/seal-status HTTP/1.1\r\nHost: tresor\r\n\r\n")
        .await
        .unwrap();
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), c3.read(&mut byte)).await;
    assert!(early.is_err(), "a third connection was served: {early:?}");
    // Once one closes, the waiting connection is served.
    drop(c1);
    let r = tokio::time::timeout(SOON, read_response(&mut c3))
        .await
        .expect("the queued connection was never served");
    assert_eq!(r.status, 200);
    // The second connection was never disturbed.
    assert_eq!(request(&mut c2, "/v1/sys/seal-status").await.status, 200);
}

#[tokio::test]
async fn handler_panic_is_a_500_and_the_connection_lives_on() {
    let server = start(ServeOptions::default()).await;
    let mut s = TcpStream::connect(server.addr).await.unwrap();
    let r = request(&mut s, "/test/panic").await;
    assert_eq!(r.status, 500);
    let body: Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(body, json!({ "errors": ["internal error"] }));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    // The same connection still answers, and so do new ones.
    assert_eq!(request(&mut s, "/v1/sys/seal-status").await.status, 200);
    let mut other = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(request(&mut other, "/v1/sys/health").await.status, 501);
    assert_eq!(request(&mut s, "/test/panic").await.status, 500);
}

/// Initializes and unseals the node behind `base` with one key share; returns the root token.
async fn init_and_unseal(client: &reqwest::Client, base: &str) -> String {
    let init: Value = client
        .put(format!("{base}/v1/sys/init"))
        .json(&json!({ "secret_shares": 1, "secret_threshold": 1 }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = init["keys"][0].as_str().unwrap().to_owned();
    let resp = client
        .put(format!("{base}/v1/sys/unseal"))
        .json(&json!({ "key": key }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    init["root_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn vault_headers_on_every_response() {
    let mut headers = ResponseHeaders::new();
    headers
        .add(
            HeaderScope::All,
            "Strict-Transport-Security",
            "max-age=31536000; includeSubDomains",
        )
        .unwrap();
    headers
        .add(HeaderScope::All, "X-Custom", "default")
        .unwrap();
    headers
        .add(HeaderScope::Class(4), "X-Custom", "4xx")
        .unwrap();
    headers
        .add(HeaderScope::Status(404), "X-Custom", "404")
        .unwrap();
    headers.add(HeaderScope::Class(2), "X-Two", "2xx").unwrap();
    let server = start(ServeOptions {
        response_headers: headers,
        ..ServeOptions::default()
    })
    .await;
    let base = format!("http://{}", server.addr);
    let client = reqwest::Client::new();
    let check = |resp: &reqwest::Response, status: u16, custom: &str, two: bool| {
        assert_eq!(resp.status().as_u16(), status, "{}", resp.url());
        let h = resp.headers();
        assert_eq!(h["cache-control"], "no-store", "{}", resp.url());
        assert_eq!(
            h["strict-transport-security"],
            "max-age=31536000; includeSubDomains"
        );
        assert_eq!(h["x-custom"], custom, "{}", resp.url());
        assert_eq!(h.contains_key("x-two"), two, "{}", resp.url());
    };
    // Raw sys endpoints, sealed and uninitialized.
    let r = client
        .get(format!("{base}/v1/sys/seal-status"))
        .send()
        .await
        .unwrap();
    check(&r, 200, "default", true);
    let r = client
        .get(format!("{base}/v1/sys/health"))
        .send()
        .await
        .unwrap();
    check(&r, 501, "default", false);
    let token = init_and_unseal(&client, &base).await;
    let r = client
        .get(format!("{base}/v1/sys/health"))
        .send()
        .await
        .unwrap();
    check(&r, 200, "default", true);
    // 204 from the logical pipeline.
    let r = client
        .post(format!("{base}/v1/sys/mounts/kv-test"))
        .header("x-vault-token", &token)
        .json(&json!({ "type": "kv" }))
        .send()
        .await
        .unwrap();
    check(&r, 204, "default", true);
    // 403 and 404.
    let r = client
        .get(format!("{base}/v1/sys/mounts"))
        .header("x-vault-token", "not-a-token")
        .send()
        .await
        .unwrap();
    check(&r, 403, "4xx", false);
    let r = client
        .get(format!("{base}/v1/kv-test/missing"))
        .header("x-vault-token", &token)
        .send()
        .await
        .unwrap();
    check(&r, 404, "404", false);
    let r = client
        .get(format!("{base}/not-the-api"))
        .send()
        .await
        .unwrap();
    check(&r, 404, "404", false);
}

#[tokio::test]
async fn cache_control_without_custom_headers() {
    let server = start(ServeOptions::default()).await;
    let r = reqwest::get(format!("http://{}/v1/sys/seal-status", server.addr))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    assert!(!r.headers().contains_key("x-custom"));
}

#[tokio::test]
async fn http2_connection_is_served_with_the_headers() {
    let server = start(ServeOptions {
        timeouts: timeouts(300, 30_000, 300_000),
        ..ServeOptions::default()
    })
    .await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let url = format!("http://{}/v1/sys/seal-status", server.addr);
    let r = client.get(&url).send().await.unwrap();
    assert_eq!(r.version(), reqwest::Version::HTTP_2);
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["cache-control"], "no-store");
    // A panic resets nothing: the same HTTP/2 connection answers 500, then 200.
    let url_panic = format!("http://{}/test/panic", server.addr);
    assert_eq!(client.get(&url_panic).send().await.unwrap().status(), 500);
    assert_eq!(client.get(&url).send().await.unwrap().status(), 200);
}

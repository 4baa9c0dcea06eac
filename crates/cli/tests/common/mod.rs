//! A fake Vault-shaped HTTP server that records requests, and a fake environment.

#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub token: Option<String>,
    pub content_type: Option<String>,
    pub body: Option<Value>,
}

type Responder = dyn Fn(&Seen) -> (u16, Option<Value>) + Send + Sync;

#[derive(Clone)]
struct AppState {
    seen: Arc<Mutex<Vec<Seen>>>,
    respond: Arc<Responder>,
}

pub struct FakeServer {
    pub addr: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeServer {
    /// Starts a server answering every request with `respond(seen)`.
    pub async fn start(
        respond: impl Fn(&Seen) -> (u16, Option<Value>) + Send + Sync + 'static,
    ) -> Self {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let state = AppState {
            seen: seen.clone(),
            respond: Arc::new(respond),
        };
        let app = axum::Router::new().fallback(handle).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self { addr, seen }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// The requests other than the KV mount probe.
    pub fn calls(&self) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| !s.path.starts_with("/v1/sys/internal/ui/mounts"))
            .collect()
    }

    pub fn last(&self) -> Seen {
        self.seen().last().cloned().unwrap()
    }
}

async fn handle(
    State(st): State<AppState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let seen = Seen {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        token: h("x-vault-token"),
        content_type: h("content-type"),
        body: if body.is_empty() {
            None
        } else {
            Some(
                serde_json::from_slice(&body)
                    .unwrap_or(Value::String(String::from_utf8_lossy(&body).into_owned())),
            )
        },
    };
    let (code, resp) = (st.respond)(&seen);
    st.seen.lock().unwrap().push(seen);
    let status = StatusCode::from_u16(code).unwrap();
    match resp {
        Some(v) => (status, axum::Json(v)).into_response(),
        None => status.into_response(),
    }
}

/// A fake environment: variables, a temporary home directory and canned stdin.
pub struct FakeEnv {
    pub vars: HashMap<String, String>,
    pub home: tempfile::TempDir,
    pub stdin: String,
}

impl FakeEnv {
    pub fn new(addr: &str) -> Self {
        let mut vars = HashMap::new();
        vars.insert("VAULT_ADDR".to_owned(), addr.to_owned());
        Self {
            vars,
            home: tempfile::tempdir().unwrap(),
            stdin: String::new(),
        }
    }

    pub fn with(mut self, k: &str, v: &str) -> Self {
        self.vars.insert(k.to_owned(), v.to_owned());
        self
    }

    pub fn without(mut self, k: &str) -> Self {
        self.vars.remove(k);
        self
    }

    pub fn stdin(mut self, s: &str) -> Self {
        self.stdin = s.to_owned();
        self
    }

    pub fn token_file(&self) -> PathBuf {
        self.home.path().join(".vault-token")
    }
}

impl tresor_cli::Env for FakeEnv {
    fn var(&self, name: &str) -> Option<String> {
        self.vars.get(name).cloned().filter(|v| !v.is_empty())
    }
    fn home_dir(&self) -> Option<PathBuf> {
        Some(self.home.path().to_path_buf())
    }
    fn read_stdin(&self) -> std::io::Result<String> {
        Ok(self.stdin.clone())
    }
}

/// The outcome of one CLI run.
pub struct Outcome {
    pub code: i32,
    pub out: String,
    pub err: String,
}

pub async fn cli(env: &FakeEnv, args: &[&str]) -> Outcome {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let code = tresor_cli::run_with(
        args.iter().map(|s| s.to_string()).collect(),
        env,
        &mut out,
        &mut err,
    )
    .await;
    Outcome {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

/// A logical envelope around `data`.
pub fn envelope(data: Value) -> Value {
    serde_json::json!({"request_id":"r1","lease_id":"","renewable":false,"lease_duration":0,
        "data":data,"wrap_info":null,"warnings":null,"auth":null})
}

/// The mount probe answer for a KV mount.
pub fn probe(mount: &str, version: &str) -> Value {
    envelope(serde_json::json!({"path":mount,"type":"kv","options":{"version":version}}))
}

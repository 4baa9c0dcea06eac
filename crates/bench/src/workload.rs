//! What each scenario sends: pure request construction, no I/O.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use bytes::Bytes;
use rand::Rng;
use serde_json::json;

use crate::config::{BenchConfig, KvVersion, Scenario};
use crate::payload::{key_name, payload};

/// HTTP method of an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// `GET`
    Get,
    /// `PUT`
    Put,
    /// `POST`
    Post,
}

/// One request to send, relative to a target's base URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpRequest {
    /// The method.
    pub method: Method,
    /// The path, starting with `/`.
    pub path: String,
    /// The JSON body, if any.
    pub body: Option<Bytes>,
}

/// Builds the requests of one scenario; shared read-only by all workers.
#[derive(Clone, Debug)]
pub struct Workload {
    scenario: Scenario,
    mount: String,
    prefix: String,
    keys: u64,
    kv_version: KvVersion,
    transit_key: String,
    payload: String,
    /// KV write bodies do not depend on the key, so they are serialised once.
    kv_body: Bytes,
    transit_body: Bytes,
    /// The login scenarios' path and body (the body holds the secret; never printed).
    login_path: String,
    login_body: Bytes,
}

/// Share of reads in the `mixed` scenario, in tenths.
const MIXED_READ_TENTHS: u32 = 9;

impl Workload {
    /// The workload `config` describes; the payload is derived from `config.seed`.
    pub fn new(config: &BenchConfig) -> Self {
        let payload = payload(config.payload_bytes, config.seed);
        let kv_body = match config.kv_version {
            KvVersion::V1 => json!({ "v": payload }),
            KvVersion::V2 => json!({ "data": { "v": payload } }),
        };
        let transit_body = json!({ "plaintext": B64.encode(payload.as_bytes()) });
        Self {
            scenario: config.scenario,
            mount: config.mount.clone(),
            prefix: config.prefix.clone(),
            keys: config.keys,
            kv_version: config.kv_version,
            transit_key: config.transit_key.clone(),
            payload,
            kv_body: Bytes::from(kv_body.to_string()),
            transit_body: Bytes::from(transit_body.to_string()),
            login_path: match config.scenario {
                Scenario::UserpassLogin => {
                    format!("/v1/auth/{}/login/{}", config.mount, config.login_id)
                }
                Scenario::DbCreds => format!("/v1/{}/creds/{}", config.mount, config.login_id),
                _ => format!("/v1/auth/{}/login", config.mount),
            },
            login_body: Bytes::from(
                match config.scenario {
                    Scenario::UserpassLogin => {
                        json!({ "password": config.login_secret.expose() })
                    }
                    _ => json!({
                        "role_id": config.login_id,
                        "secret_id": config.login_secret.expose(),
                    }),
                }
                .to_string(),
            ),
        }
    }

    /// The payload every write carries.
    pub fn payload(&self) -> &str {
        &self.payload
    }

    /// The request that writes key number `n` (KV write, or etcd put for etcd scenarios).
    pub fn write_op(&self, n: u64) -> OpRequest {
        let key = key_name(&self.prefix, n);
        if self.scenario.is_etcd() {
            let body = json!({
                "key": B64.encode(key.as_bytes()),
                "value": B64.encode(self.payload.as_bytes()),
            });
            return post("/v3/kv/put".to_owned(), body.to_string().into());
        }
        OpRequest {
            method: Method::Put,
            path: self.kv_path(&key),
            body: Some(self.kv_body.clone()),
        }
    }

    /// The request that reads key number `n` (KV read, or etcd range for etcd scenarios).
    pub fn read_op(&self, n: u64) -> OpRequest {
        let key = key_name(&self.prefix, n);
        if self.scenario.is_etcd() {
            let body = json!({ "key": B64.encode(key.as_bytes()) });
            return post("/v3/kv/range".to_owned(), body.to_string().into());
        }
        OpRequest {
            method: Method::Get,
            path: self.kv_path(&key),
            body: None,
        }
    }

    /// The next measured operation, drawing keys (and, for `mixed`, the read/write choice)
    /// from `rng`.
    pub fn next_op(&self, rng: &mut impl Rng) -> OpRequest {
        match self.scenario {
            Scenario::KvWrite | Scenario::EtcdPut => self.write_op(rng.gen_range(0..self.keys)),
            Scenario::KvRead | Scenario::EtcdRange => self.read_op(rng.gen_range(0..self.keys)),
            Scenario::Mixed => {
                let n = rng.gen_range(0..self.keys);
                if rng.gen_ratio(MIXED_READ_TENTHS, 10) {
                    self.read_op(n)
                } else {
                    self.write_op(n)
                }
            }
            Scenario::TokenCreate => post(
                "/v1/auth/token/create".to_owned(),
                Bytes::from_static(br#"{"policies":["default"],"ttl":"1h"}"#),
            ),
            Scenario::TransitEncrypt => self.transit_op(),
            Scenario::UserpassLogin | Scenario::ApproleLogin => {
                post(self.login_path.clone(), self.login_body.clone())
            }
            Scenario::DbCreds => self.creds_op(),
        }
    }

    fn creds_op(&self) -> OpRequest {
        OpRequest {
            method: Method::Get,
            path: self.login_path.clone(),
            body: None,
        }
    }

    /// The request sent once before the run to check the target can serve the scenario
    /// (`transit-encrypt`: the transit engine may not exist yet; the logins: the user or role
    /// may not).
    pub fn probe_op(&self) -> Option<OpRequest> {
        match self.scenario {
            Scenario::TransitEncrypt => Some(self.transit_op()),
            Scenario::UserpassLogin | Scenario::ApproleLogin => {
                Some(post(self.login_path.clone(), self.login_body.clone()))
            }
            Scenario::DbCreds => Some(self.creds_op()),
            _ => None,
        }
    }

    fn transit_op(&self) -> OpRequest {
        post(
            format!("/v1/{}/encrypt/{}", self.mount, self.transit_key),
            self.transit_body.clone(),
        )
    }

    fn kv_path(&self, key: &str) -> String {
        match self.kv_version {
            KvVersion::V1 => format!("/v1/{}/{key}", self.mount),
            KvVersion::V2 => format!("/v1/{}/data/{key}", self.mount),
        }
    }
}

fn post(path: String, body: Bytes) -> OpRequest {
    OpRequest {
        method: Method::Post,
        path,
        body: Some(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;
    use rand::{SeedableRng, rngs::StdRng};
    use serde_json::Value;

    fn workload(args: &[&str]) -> Workload {
        let mut full = vec!["tresor-bench"];
        full.extend_from_slice(args);
        full.extend_from_slice(&["--ops", "1", "--seed", "5"]);
        let config = Cli::try_parse_from(full)
            .unwrap()
            .validate(|k| (k == "VAULT_TOKEN").then(|| "tok".to_owned()))
            .unwrap();
        Workload::new(&config)
    }

    fn body_json(op: &OpRequest) -> Value {
        serde_json::from_slice(op.body.as_ref().unwrap()).unwrap()
    }

    #[test]
    fn kv_v2_write_and_read() {
        let w = workload(&["kv-write", "--payload", "10", "--prefix", "p"]);
        let op = w.write_op(7);
        assert_eq!(op.method, Method::Put);
        assert_eq!(op.path, "/v1/secret/data/p/7");
        assert_eq!(body_json(&op), json!({ "data": { "v": payload(10, 5) } }));
        let op = w.read_op(3);
        assert_eq!(op.method, Method::Get);
        assert_eq!(op.path, "/v1/secret/data/p/3");
        assert_eq!(op.body, None);
    }

    #[test]
    fn db_creds_reads_the_roles_credentials() {
        let w = workload(&["db-creds", "--login-id", "app"]);
        let op = w.next_op(&mut StdRng::seed_from_u64(1));
        assert_eq!(op.method, Method::Get);
        assert_eq!(op.path, "/v1/database/creds/app");
        assert!(op.body.is_none());
        assert_eq!(w.probe_op(), Some(op));
    }

    #[test]
    fn kv_v1_paths_and_body() {
        let w = workload(&["kv-read", "--kv-version", "1", "--mount", "kv1"]);
        let op = w.write_op(1);
        assert_eq!(op.path, "/v1/kv1/tresor-bench/1");
        assert_eq!(body_json(&op), json!({ "v": w.payload() }));
        assert_eq!(w.read_op(1).path, "/v1/kv1/tresor-bench/1");
    }

    #[test]
    fn keys_stay_in_the_key_set() {
        let w = workload(&["kv-read", "--keys", "3", "--prefix", "k"]);
        let mut rng = StdRng::seed_from_u64(1);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.insert(w.next_op(&mut rng).path);
        }
        let want: std::collections::BTreeSet<String> =
            (0..3).map(|n| format!("/v1/secret/data/k/{n}")).collect();
        assert_eq!(seen, want);
    }

    #[test]
    fn mixed_is_about_ninety_percent_reads() {
        let w = workload(&["mixed"]);
        let mut rng = StdRng::seed_from_u64(2);
        let reads = (0..20_000)
            .filter(|_| w.next_op(&mut rng).method == Method::Get)
            .count();
        assert!((17_600..=18_400).contains(&reads), "{reads} reads of 20000");
    }

    #[test]
    fn login_requests() {
        let w = workload(&[
            "userpass-login",
            "--login-id",
            "alice",
            "--login-secret",
            "pw",
        ]);
        let mut rng = StdRng::seed_from_u64(1);
        let op = w.next_op(&mut rng);
        assert_eq!(op.path, "/v1/auth/userpass/login/alice");
        let body: Value = serde_json::from_slice(op.body.as_deref().unwrap()).unwrap();
        assert_eq!(body, json!({"password": "pw"}));
        assert!(w.probe_op().is_some());
        let w = workload(&[
            "approle-login",
            "--mount",
            "ar",
            "--login-id",
            "rid",
            "--login-secret",
            "sid",
        ]);
        let op = w.next_op(&mut rng);
        assert_eq!(op.path, "/v1/auth/ar/login");
        let body: Value = serde_json::from_slice(op.body.as_deref().unwrap()).unwrap();
        assert_eq!(body, json!({"role_id": "rid", "secret_id": "sid"}));
    }

    #[test]
    fn token_create_body() {
        let w = workload(&["token-create"]);
        let op = w.next_op(&mut StdRng::seed_from_u64(0));
        assert_eq!(op.method, Method::Post);
        assert_eq!(op.path, "/v1/auth/token/create");
        assert_eq!(
            body_json(&op),
            json!({ "policies": ["default"], "ttl": "1h" })
        );
        assert!(w.probe_op().is_none());
    }

    #[test]
    fn transit_encrypts_base64_payload_and_is_probed() {
        let w = workload(&[
            "transit-encrypt",
            "--transit-key",
            "bench",
            "--payload",
            "33",
        ]);
        let op = w.next_op(&mut StdRng::seed_from_u64(0));
        assert_eq!(op.path, "/v1/transit/encrypt/bench");
        let plaintext = body_json(&op)["plaintext"].as_str().unwrap().to_owned();
        assert_eq!(B64.decode(plaintext).unwrap(), payload(33, 5).into_bytes());
        assert_eq!(w.probe_op(), Some(op));
    }

    #[test]
    fn etcd_put_and_range_use_base64_keys() {
        let w = workload(&["etcd-range", "--prefix", "e", "--payload", "4"]);
        let put = w.write_op(12);
        assert_eq!(
            (put.method, put.path.as_str()),
            (Method::Post, "/v3/kv/put")
        );
        let body = body_json(&put);
        assert_eq!(body["key"], B64.encode("e/12"));
        assert_eq!(body["value"], B64.encode(payload(4, 5)));
        let range = w.read_op(12);
        assert_eq!(range.path, "/v3/kv/range");
        assert_eq!(body_json(&range), json!({ "key": B64.encode("e/12") }));
        let next = w.next_op(&mut StdRng::seed_from_u64(0));
        assert_eq!(next.path, "/v3/kv/range");
    }
}

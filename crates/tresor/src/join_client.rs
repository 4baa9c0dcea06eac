//! The joining node's HTTP client for the leader's API port: fetches the seal challenge and
//! sends the answer (`sys/storage/raft/bootstrap/{challenge,answer}`).

use std::time::Duration;

use serde_json::{Value, json};
use tresor_core::{CoreError, JoinChallenge, JoinParams};
use tresor_raft::NodeInfo;

/// Talks to one leader on behalf of this node.
#[derive(Clone, Debug)]
pub(crate) struct JoinClient {
    http: reqwest::Client,
    leader: String,
    me: NodeInfo,
    non_voter: bool,
}

fn bad(e: impl std::fmt::Display) -> CoreError {
    CoreError::invalid(e.to_string())
}

impl JoinClient {
    /// A client for `params.leader_api_addr` with its TLS settings.
    pub(crate) fn new(params: &JoinParams, me: NodeInfo) -> Result<Self, CoreError> {
        let mut b = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(3));
        if let Some(ca) = params.leader_ca_cert.as_deref().filter(|c| !c.is_empty()) {
            let cert = reqwest::Certificate::from_pem(ca.as_bytes())
                .map_err(|e| bad(format!("leader_ca_cert: {e}")))?;
            b = b.add_root_certificate(cert);
        }
        if let (Some(cert), Some(key)) = (&params.leader_client_cert, &params.leader_client_key) {
            let pem = zeroize::Zeroizing::new(format!("{cert}\n{key}"));
            let id = reqwest::Identity::from_pem(pem.as_bytes())
                .map_err(|e| bad(format!("leader client certificate: {e}")))?;
            b = b.identity(id);
        }
        let http = b.build().map_err(bad)?;
        Ok(Self {
            http,
            leader: params.leader_api_addr.trim_end_matches('/').to_owned(),
            me,
            non_voter: params.non_voter,
        })
    }

    /// The leader's API address.
    pub(crate) fn leader(&self) -> &str {
        &self.leader
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value, CoreError> {
        let url = format!("{}/v1/{path}", self.leader);
        let resp =
            self.http
                .post(&url)
                .json(&body)
                .send()
                .await
                .map_err(|e| CoreError::Standby {
                    leader: Some(format!("{}: {e}", self.leader)),
                })?;
        let status = resp.status();
        let text = resp.text().await.map_err(bad)?;
        if !status.is_success() {
            return Err(CoreError::invalid(format!(
                "leader {} answered {status}: {text}",
                self.leader
            )));
        }
        serde_json::from_str(&text).map_err(bad)
    }

    /// Asks the leader for a seal challenge.
    pub(crate) async fn challenge(&self) -> Result<JoinChallenge, CoreError> {
        let v = self
            .post(
                "sys/storage/raft/bootstrap/challenge",
                json!({ "server_id": self.me.node_id }),
            )
            .await?;
        serde_json::from_value(v).map_err(bad)
    }

    /// Sends the decrypted challenge; returns the sealed node identity.
    pub(crate) async fn answer(&self, answer: &str) -> Result<String, CoreError> {
        let v = self
            .post(
                "sys/storage/raft/bootstrap/answer",
                json!({
                    "server_id": self.me.node_id,
                    "answer": answer,
                    "cluster_addr": self.me.cluster_addr,
                    "api_addr": self.me.api_addr,
                    "non_voter": self.non_voter,
                }),
            )
            .await?;
        v.get("identity")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| CoreError::Internal("leader sent no node identity".into()))
    }
}

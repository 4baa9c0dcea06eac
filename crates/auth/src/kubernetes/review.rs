//! The Kubernetes side of a login: the service account a JWT's claims name (legacy secret
//! tokens and projected tokens alike), and the TokenReview call that asks the API server
//! whether the JWT is valid and whose it is.

use serde_json::{Map, Value, json};

use crate::remote::{self, RemoteError};

/// The service account a JWT names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServiceAccount {
    /// Name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// UID.
    pub uid: String,
    /// The secret holding the token (legacy tokens only).
    pub secret_name: String,
    /// The token's audiences.
    pub audiences: Vec<String>,
}

fn text<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
    m.get(k).and_then(Value::as_str).unwrap_or_default()
}

/// The service account of a JWT's claims: a projected token's `kubernetes.io` object wins
/// over the legacy `kubernetes.io/serviceaccount/...` claims. Pure.
pub fn service_account(claims: &Map<String, Value>) -> ServiceAccount {
    let mut sa = ServiceAccount {
        name: text(claims, "kubernetes.io/serviceaccount/service-account.name").to_owned(),
        namespace: text(claims, "kubernetes.io/serviceaccount/namespace").to_owned(),
        uid: text(claims, "kubernetes.io/serviceaccount/service-account.uid").to_owned(),
        secret_name: text(claims, "kubernetes.io/serviceaccount/secret.name").to_owned(),
        audiences: crate::jwt::claims::audiences(claims),
    };
    if let Some(Value::Object(k)) = claims.get("kubernetes.io") {
        sa.namespace = text(k, "namespace").to_owned();
        if let Some(Value::Object(s)) = k.get("serviceaccount") {
            sa.name = text(s, "name").to_owned();
            sa.uid = text(s, "uid").to_owned();
        }
    }
    sa
}

/// Who the API server says a reviewed token belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reviewed {
    /// Service account name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// UID.
    pub uid: String,
}

/// Reads a TokenReview answer: authenticated, no error, a `system:serviceaccount:<ns>:<name>`
/// user, and (when audiences were asked for and the answer names some) an audience in
/// common. Pure.
pub fn read_review(answer: &Value, asked_audiences: &[String]) -> Result<Reviewed, String> {
    let status = answer
        .get("status")
        .and_then(Value::as_object)
        .ok_or("lookup failed: no status in the TokenReview answer")?;
    let error = text(status, "error");
    if !error.is_empty() {
        return Err(format!("lookup failed: {error}"));
    }
    if status.get("authenticated").and_then(Value::as_bool) != Some(true) {
        return Err("lookup failed: service account jwt not valid".into());
    }
    let user = status
        .get("user")
        .and_then(Value::as_object)
        .ok_or("lookup failed: no user in the TokenReview answer")?;
    let parts: Vec<&str> = text(user, "username").split(':').collect();
    let ["system", "serviceaccount", ns, name] = parts.as_slice() else {
        return Err("lookup failed: unexpected username format".into());
    };
    if let Some(Value::Array(got)) = status.get("audiences")
        && !asked_audiences.is_empty()
        && !got
            .iter()
            .filter_map(Value::as_str)
            .any(|a| asked_audiences.iter().any(|w| w == a))
    {
        return Err("lookup failed: JWT audiences do not match".into());
    }
    Ok(Reviewed {
        name: (*name).to_owned(),
        namespace: (*ns).to_owned(),
        uid: text(user, "uid").to_owned(),
    })
}

/// The TokenReview URL of an API server (`host`, `host:port` or a URL).
pub fn review_url(host: &str) -> String {
    let host = host.trim().trim_end_matches('/');
    let base = if host.contains("://") {
        host.to_owned()
    } else {
        format!("https://{host}")
    };
    format!("{base}/apis/authentication.k8s.io/v1/tokenreviews")
}

/// The HTTP client of one mount's TokenReview calls, kept while the host and CA stay the
/// same (building one reads the trust store).
#[derive(Debug, Default)]
pub struct ReviewClient {
    cached: std::sync::Mutex<Option<(String, String, reqwest::Client)>>,
}

impl ReviewClient {
    fn client(&self, url: &str, ca_pem: &str) -> Result<reqwest::Client, RemoteError> {
        if let Ok(guard) = self.cached.lock()
            && let Some((u, ca, c)) = guard.as_ref()
            && u == url
            && ca == ca_pem
        {
            return Ok(c.clone());
        }
        let c = remote::client(url, ca_pem)?;
        if let Ok(mut guard) = self.cached.lock() {
            *guard = Some((url.to_owned(), ca_pem.to_owned(), c.clone()));
        }
        Ok(c)
    }

    /// Asks the API server at `host` to review `jwt`, presenting `bearer`.
    pub async fn review(
        &self,
        host: &str,
        ca_pem: &str,
        bearer: &str,
        jwt: &str,
        audiences: &[String],
    ) -> Result<Value, RemoteError> {
        let url = review_url(host);
        let client = self.client(&url, ca_pem)?;
        review_with(&client, &url, bearer, jwt, audiences).await
    }
}

async fn review_with(
    client: &reqwest::Client,
    url: &str,
    bearer: &str,
    jwt: &str,
    audiences: &[String],
) -> Result<Value, RemoteError> {
    let mut spec = json!({ "token": jwt });
    if !audiences.is_empty() {
        spec["audiences"] = json!(audiences);
    }
    let body = json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": spec,
    });
    let req = client
        .post(url)
        .bearer_auth(bearer)
        .header("accept", "application/json")
        .json(&body);
    remote::json(url, req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn legacy_and_projected_claims() {
        let legacy = service_account(&obj(json!({
            "kubernetes.io/serviceaccount/service-account.name": "webapp-sa",
            "kubernetes.io/serviceaccount/namespace": "production",
            "kubernetes.io/serviceaccount/service-account.uid": "u1",
            "kubernetes.io/serviceaccount/secret.name": "webapp-sa-token-x",
        })));
        assert_eq!(
            (
                legacy.name.as_str(),
                legacy.namespace.as_str(),
                legacy.uid.as_str(),
                legacy.secret_name.as_str()
            ),
            ("webapp-sa", "production", "u1", "webapp-sa-token-x")
        );
        let projected = service_account(&obj(json!({
            "aud": ["vault"],
            "kubernetes.io": {"namespace": "prod", "serviceaccount": {"name": "web", "uid": "u2"},
                              "pod": {"name": "p", "uid": "pu"}},
        })));
        assert_eq!(
            (
                projected.name.as_str(),
                projected.namespace.as_str(),
                projected.uid.as_str()
            ),
            ("web", "prod", "u2")
        );
        assert_eq!(projected.secret_name, "");
        assert_eq!(projected.audiences, vec!["vault"]);
    }

    #[test]
    fn reviews() {
        let ok = json!({"status": {"authenticated": true, "audiences": ["vault"],
            "user": {"username": "system:serviceaccount:prod:web", "uid": "u2"}}});
        let r = read_review(&ok, &["vault".into()]).expect("ok");
        assert_eq!(
            (r.namespace.as_str(), r.name.as_str(), r.uid.as_str()),
            ("prod", "web", "u2")
        );
        assert!(read_review(&ok, &["other".into()]).is_err());
        assert!(read_review(&ok, &[]).is_ok());
        assert!(
            read_review(&json!({"status": {"authenticated": false}}), &[])
                .unwrap_err()
                .contains("not valid")
        );
        assert!(
            read_review(&json!({"status": {"error": "boom"}}), &[])
                .unwrap_err()
                .contains("boom")
        );
        let odd = json!({"status": {"authenticated": true, "user": {"username": "alice"}}});
        assert!(
            read_review(&odd, &[])
                .unwrap_err()
                .contains("username format")
        );
        assert!(read_review(&json!([]), &[]).is_err());
    }

    #[test]
    fn urls() {
        assert_eq!(
            review_url("https://k8s:6443/"),
            "https://k8s:6443/apis/authentication.k8s.io/v1/tokenreviews"
        );
        assert_eq!(
            review_url("10.0.0.1:6443"),
            "https://10.0.0.1:6443/apis/authentication.k8s.io/v1/tokenreviews"
        );
    }
}

//! One differential case: policies, a token holding them, a few seeded secrets and one
//! request. Everything is plain data; [`crate::generate`] builds it from a seed and
//! [`crate::runner`] plays it against a server.

use std::fmt::Write as _;

use serde_json::Value;

/// Placeholder in a request for a throwaway token created in the case's setup.
pub const THROWAWAY: &str = "{throwaway}";
/// Placeholder for the accessor of the throwaway token.
pub const THROWAWAY_ACCESSOR: &str = "{throwaway_accessor}";
/// Placeholder for the accessor of the case's own token.
pub const SELF_ACCESSOR: &str = "{self_accessor}";

/// A capability of a policy rule, as written in HCL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cap {
    /// `create`
    Create,
    /// `read`
    Read,
    /// `update`
    Update,
    /// `patch`
    Patch,
    /// `delete`
    Delete,
    /// `list`
    List,
    /// `sudo`
    Sudo,
    /// `deny`
    Deny,
}

impl Cap {
    /// Every capability.
    pub const ALL: [Cap; 8] = [
        Cap::Create,
        Cap::Read,
        Cap::Update,
        Cap::Patch,
        Cap::Delete,
        Cap::List,
        Cap::Sudo,
        Cap::Deny,
    ];

    /// The HCL spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Cap::Create => "create",
            Cap::Read => "read",
            Cap::Update => "update",
            Cap::Patch => "patch",
            Cap::Delete => "delete",
            Cap::List => "list",
            Cap::Sudo => "sudo",
            Cap::Deny => "deny",
        }
    }
}

/// One `path "..." { ... }` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The path pattern (may hold `*` at the end and `+` segments).
    pub path: String,
    /// Capabilities.
    pub caps: Vec<Cap>,
    /// `allowed_parameters`: name to allowed values (empty: any value).
    pub allowed: Vec<(String, Vec<String>)>,
    /// `denied_parameters`: name to denied values (empty: any value).
    pub denied: Vec<(String, Vec<String>)>,
    /// `required_parameters`.
    pub required: Vec<String>,
}

/// A named ACL policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDef {
    /// The policy's name (lower case; the case generator never writes upper-case names).
    pub name: String,
    /// Its rules.
    pub rules: Vec<Rule>,
}

/// How the case's request authenticates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// The case's token (created with the case's policies).
    CaseToken,
    /// No `X-Vault-Token` header.
    None,
}

/// The request under test.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The HTTP method, sent verbatim (`LIST` included).
    pub method: String,
    /// The raw request target (`/v1/...` plus any query), sent byte for byte.
    pub target: String,
    /// A JSON body, if any (placeholders are substituted per server).
    pub body: Option<Value>,
    /// Extra `Content-Type` (PATCH needs `application/merge-patch+json`).
    pub content_type: Option<&'static str>,
    /// Which credentials to send.
    pub auth: Auth,
}

/// A secret written with the root token before the request.
#[derive(Debug, Clone, PartialEq)]
pub struct Seed {
    /// API path under `/v1/`.
    pub path: String,
    /// JSON body.
    pub body: Value,
}

/// A complete case.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// The run's seed.
    pub seed: u64,
    /// The case's index within the run.
    pub index: u64,
    /// Unique, lower-case tag of this case (`c<seed>-<index>`), used in policy names and paths.
    pub tag: String,
    /// Policies written before the request.
    pub policies: Vec<PolicyDef>,
    /// Policies attached to the case's token (may name policies that do not exist).
    pub token_policies: Vec<String>,
    /// Whether the token also gets the `default` policy.
    pub with_default: bool,
    /// Secrets written with the root token.
    pub seeds: Vec<Seed>,
    /// Whether setup creates a throwaway token (for lookup/revoke requests).
    pub throwaway: bool,
    /// Mount paths (without trailing slash) to disable with the root token after the case.
    pub cleanup_mounts: Vec<String>,
    /// The request.
    pub request: Request,
    /// Short labels describing the case's features (for grouping differences).
    pub features: Vec<String>,
}

impl Case {
    /// The command line that replays this case alone.
    pub fn replay_hint(&self) -> String {
        format!("DIFFTEST_SEED={} DIFFTEST_CASE={}", self.seed, self.index)
    }

    /// A multi-line human description: policies, token, request.
    pub fn describe(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(s, "case {} ({})", self.tag, self.replay_hint());
        for p in &self.policies {
            let _ = writeln!(s, "  policy {}:", p.name);
            for line in render_hcl(&p.rules).lines() {
                let _ = writeln!(s, "    {line}");
            }
        }
        let _ = writeln!(
            s,
            "  token policies: {:?}{}",
            self.token_policies,
            if self.with_default { " + default" } else { "" }
        );
        for seed in &self.seeds {
            let _ = writeln!(s, "  seeded: {} {}", seed.path, seed.body);
        }
        let r = &self.request;
        let _ = write!(s, "  request: {} {}", r.method, r.target);
        if let Some(b) = &r.body {
            let _ = write!(s, " body={b}");
        }
        if r.auth == Auth::None {
            let _ = write!(s, " (no token)");
        }
        let _ = write!(s, "\n  features: {}", self.features.join(","));
        s
    }
}

/// Quotes `s` as an HCL string.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

fn render_params(out: &mut String, key: &str, params: &[(String, Vec<String>)]) {
    if params.is_empty() {
        return;
    }
    let _ = writeln!(out, "  {key} = {{");
    for (name, values) in params {
        let vals: Vec<String> = values.iter().map(|v| quote(v)).collect();
        let _ = writeln!(out, "    {} = [{}]", quote(name), vals.join(", "));
    }
    out.push_str("  }\n");
}

/// Renders rules as policy HCL.
pub fn render_hcl(rules: &[Rule]) -> String {
    let mut out = String::new();
    for r in rules {
        let _ = writeln!(out, "path {} {{", quote(&r.path));
        let caps: Vec<String> = r.caps.iter().map(|c| quote(c.as_str())).collect();
        let _ = writeln!(out, "  capabilities = [{}]", caps.join(", "));
        render_params(&mut out, "allowed_parameters", &r.allowed);
        render_params(&mut out, "denied_parameters", &r.denied);
        if !r.required.is_empty() {
            let req: Vec<String> = r.required.iter().map(|v| quote(v)).collect();
            let _ = writeln!(out, "  required_parameters = [{}]", req.join(", "));
        }
        out.push_str("}\n");
    }
    out
}

/// Values substituted for the placeholders on one server.
#[derive(Debug, Clone, Default)]
pub struct Bindings {
    /// The throwaway token.
    pub throwaway: String,
    /// Its accessor.
    pub throwaway_accessor: String,
    /// The accessor of the case's token.
    pub self_accessor: String,
}

impl Bindings {
    /// `s` with every placeholder replaced.
    pub fn apply(&self, s: &str) -> String {
        s.replace(THROWAWAY_ACCESSOR, &self.throwaway_accessor)
            .replace(THROWAWAY, &self.throwaway)
            .replace(SELF_ACCESSOR, &self.self_accessor)
    }

    /// `v` with every placeholder in its strings replaced.
    pub fn apply_json(&self, v: &Value) -> Value {
        match v {
            Value::String(s) => Value::String(self.apply(s)),
            Value::Array(a) => Value::Array(a.iter().map(|x| self.apply_json(x)).collect()),
            Value::Object(o) => Value::Object(
                o.iter()
                    .map(|(k, x)| (k.clone(), self.apply_json(x)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hcl_rendering_covers_every_field() {
        let rules = vec![Rule {
            path: "kv/a/*".into(),
            caps: vec![Cap::Read, Cap::Update],
            allowed: vec![("a".into(), vec![]), ("b".into(), vec!["x*".into()])],
            denied: vec![("c".into(), vec![])],
            required: vec!["a".into()],
        }];
        let hcl = render_hcl(&rules);
        assert_eq!(
            hcl,
            "path \"kv/a/*\" {\n  capabilities = [\"read\", \"update\"]\n  allowed_parameters = {\n    \"a\" = []\n    \"b\" = [\"x*\"]\n  }\n  denied_parameters = {\n    \"c\" = []\n  }\n  required_parameters = [\"a\"]\n}\n"
        );
    }

    #[test]
    fn quoting_escapes() {
        assert_eq!(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }

    #[test]
    fn placeholders_are_substituted() {
        let b = Bindings {
            throwaway: "s.T".into(),
            throwaway_accessor: "ACC".into(),
            self_accessor: "SELF".into(),
        };
        assert_eq!(
            b.apply("/v1/x/{throwaway_accessor}/{throwaway}/{self_accessor}"),
            "/v1/x/ACC/s.T/SELF"
        );
        assert_eq!(
            b.apply_json(&json!({"token": "{throwaway}", "n": [1, "{self_accessor}"]})),
            json!({"token": "s.T", "n": [1, "SELF"]})
        );
    }
}

//! The seeded case generator: `generate(seed, index)` is a pure function, so any case of any
//! run can be rebuilt alone from the two numbers printed with a failure.
//!
//! A case picks a *family* (KV v1 under `kv/`, KV v2 under `secret/`, the policy endpoints,
//! the token backend, `sys/mounts`, `sys/capabilities-self`, sudo-protected `sys/` paths),
//! a canonical request path in that family, a method and a body; then policies whose rules
//! are derived from paths near the request (exact, prefix globs, `+` segments, broad globs,
//! deny, sudo, parameter constraints); then, with some probability, it mangles the raw
//! request target (double slashes, dot segments, traversal, trailing slash, percent-encoding,
//! `+`, NUL, case changes, `?list=` variants). Everything a case touches is named after its
//! unique tag `c<seed>-<index>`, so cases do not disturb one another.

use serde_json::{Map, Value, json};

use crate::case::{
    Auth, Cap, Case, PolicyDef, Request, Rule, SELF_ACCESSOR, Seed, THROWAWAY, THROWAWAY_ACCESSOR,
};
use crate::rng::Rng;

/// The request families.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Kv1,
    Kv2,
    Policy,
    Token,
    Mounts,
    Capabilities,
    Sudo,
}

impl Family {
    fn label(self) -> &'static str {
        match self {
            Family::Kv1 => "kv1",
            Family::Kv2 => "kv2",
            Family::Policy => "policy",
            Family::Token => "token",
            Family::Mounts => "mounts",
            Family::Capabilities => "capabilities",
            Family::Sudo => "sudo-path",
        }
    }
}

/// Work in progress for one case.
struct Draft {
    rng: Rng,
    tag: String,
    features: Vec<String>,
    seeds: Vec<Seed>,
    throwaway: bool,
    cleanup_mounts: Vec<String>,
    /// Policy names of the case (filled before the request is drawn).
    names: Vec<String>,
}

impl Draft {
    fn feature(&mut self, f: impl Into<String>) {
        let f = f.into();
        if !self.features.contains(&f) {
            self.features.push(f);
        }
    }
}

/// A canonical request before the target is mangled.
struct Planned {
    method: &'static str,
    /// Path under `/v1/`, no leading slash.
    path: String,
    /// `?list=true` instead of the `LIST` method.
    list_query: bool,
    body: Option<Value>,
    /// Paths near the request, from which policy rules are derived.
    anchors: Vec<String>,
    /// Parameter names meaningful for this request's body.
    params: &'static [&'static str],
}

/// Builds case `index` of run `seed`.
pub fn generate(seed: u64, index: u64) -> Case {
    let mut d = Draft {
        rng: Rng::for_case(seed, index),
        tag: format!("c{seed}-{index}"),
        features: Vec::new(),
        seeds: Vec::new(),
        throwaway: false,
        cleanup_mounts: Vec::new(),
        names: Vec::new(),
    };
    let family = [
        Family::Kv1,
        Family::Kv2,
        Family::Policy,
        Family::Token,
        Family::Mounts,
        Family::Capabilities,
        Family::Sudo,
    ][d.rng.weighted(&[30, 24, 12, 13, 5, 11, 5])];
    d.feature(family.label());
    let npol = 1 + d.rng.below(3);
    d.names = (0..npol).map(|k| format!("p{}-{k}", d.tag)).collect();

    let planned = match family {
        Family::Kv1 => plan_kv1(&mut d),
        Family::Kv2 => plan_kv2(&mut d),
        Family::Policy => plan_policy(&mut d),
        Family::Token => plan_token(&mut d),
        Family::Mounts => plan_mounts(&mut d),
        Family::Capabilities => plan_capabilities(&mut d),
        Family::Sudo => plan_sudo(&mut d),
    };

    let names = d.names.clone();
    let policies: Vec<PolicyDef> = names
        .iter()
        .map(|name| {
            let nrules = 1 + d.rng.below(3);
            let rules = (0..nrules)
                .map(|_| gen_rule(&mut d, &planned.anchors, planned.params))
                .collect();
            PolicyDef {
                name: name.clone(),
                rules,
            }
        })
        .collect();

    let mut token_policies: Vec<String> =
        names.iter().filter(|_| d.rng.chance(85)).cloned().collect();
    if d.rng.chance(8) {
        token_policies.push(format!("missing-{}", d.tag));
        d.feature("missing-policy");
    }
    if token_policies.is_empty() {
        // A token created by root with no policies would inherit root's: give it one that
        // does not exist instead (no permissions at all).
        token_policies.push(format!("missing-{}", d.tag));
        d.feature("missing-policy");
    }
    if d.rng.chance(10) {
        let i = d.rng.below(token_policies.len());
        token_policies[i] = token_policies[i].to_uppercase();
        d.feature("token-policy-upper");
    }
    let with_default = d.rng.chance(30);
    if with_default {
        d.feature("default-policy");
    }
    let auth = if d.rng.chance(4) {
        d.feature("no-token");
        Auth::None
    } else {
        Auth::CaseToken
    };

    let method = planned.method;
    let content_type = (method == "PATCH").then_some("application/merge-patch+json");
    let target = mangle_target(&mut d, &planned);
    d.feature(method_label(method, planned.list_query));

    Case {
        seed,
        index,
        tag: d.tag,
        policies,
        token_policies,
        with_default,
        seeds: d.seeds,
        throwaway: d.throwaway,
        cleanup_mounts: d.cleanup_mounts,
        request: Request {
            method: method.to_owned(),
            target,
            body: planned.body,
            content_type,
            auth,
        },
        features: d.features,
    }
}

fn method_label(method: &str, list_query: bool) -> String {
    if list_query {
        "GET?list".to_owned()
    } else {
        method.to_owned()
    }
}

// ---- request plans per family -------------------------------------------------------------

/// Values used in request bodies and parameter constraints.
const VALUES: &[&str] = &["1", "2", "xa", "by", "zz"];

fn random_fields(d: &mut Draft, names: &[&str]) -> Map<String, Value> {
    let mut m = Map::new();
    for n in names {
        if d.rng.chance(50) {
            m.insert((*n).to_owned(), json!(d.rng.pick(VALUES)));
        }
    }
    m
}

fn plan_kv1(d: &mut Draft) -> Planned {
    let t = d.tag.clone();
    d.seeds.push(Seed {
        path: format!("kv/{t}/a"),
        body: json!({"a": "1"}),
    });
    d.seeds.push(Seed {
        path: format!("kv/{t}/a/b"),
        body: json!({"b": "2"}),
    });
    let rest = *d.rng.pick(&["a", "a", "b", "a/b", "a/b/c", "d/", ""]);
    let path = format!("kv/{t}/{rest}");
    let (method, list_query) = match d.rng.weighted(&[30, 10, 8, 15, 10, 10, 4]) {
        0 => ("GET", false),
        1 => ("LIST", false),
        2 => ("GET", true),
        3 => ("PUT", false),
        4 => ("POST", false),
        5 => ("DELETE", false),
        _ => ("PATCH", false),
    };
    let body = matches!(method, "PUT" | "POST" | "PATCH")
        .then(|| Value::Object(random_fields(d, &["a", "b", "c", "d"])));
    Planned {
        method,
        path: path.clone(),
        list_query,
        body,
        anchors: vec![
            path,
            format!("kv/{t}/a"),
            format!("kv/{t}/a/b"),
            format!("kv/{t}/"),
        ],
        params: &["a", "b", "c", "*"],
    }
}

fn plan_kv2(d: &mut Draft) -> Planned {
    let t = d.tag.clone();
    d.seeds.push(Seed {
        path: format!("secret/data/{t}/a"),
        body: json!({"data": {"a": "1"}}),
    });
    let key = *d.rng.pick(&["a", "a", "b", "a/b", ""]);
    let sub = d.rng.weighted(&[45, 30, 8, 5, 4, 4, 4]);
    let (path, method, list_query, body) = match sub {
        0 => {
            let path = format!("secret/data/{t}/{key}");
            let (m, body) = match d.rng.weighted(&[40, 15, 15, 15, 15]) {
                0 => ("GET", None),
                1 => ("PUT", Some(kv2_data_body(d))),
                2 => ("POST", Some(kv2_data_body(d))),
                3 => ("PATCH", Some(kv2_data_body(d))),
                _ => ("DELETE", None),
            };
            (path, m, false, body)
        }
        1 => {
            let path = format!("secret/metadata/{t}/{key}");
            match d.rng.weighted(&[30, 25, 10, 15, 10, 10]) {
                0 => (path, "GET", false, None),
                1 => (path, "LIST", false, None),
                2 => (path, "GET", true, None),
                3 => (path, "POST", false, Some(json!({"max_versions": 3}))),
                4 => (path, "PATCH", false, Some(json!({"max_versions": 4}))),
                _ => (path, "DELETE", false, None),
            }
        }
        2 => (
            format!("secret/delete/{t}/{key}"),
            "POST",
            false,
            Some(json!({"versions": [1]})),
        ),
        3 => (
            format!("secret/undelete/{t}/{key}"),
            "POST",
            false,
            Some(json!({"versions": [1]})),
        ),
        4 => (
            format!("secret/destroy/{t}/{key}"),
            "PUT",
            false,
            Some(json!({"versions": [1]})),
        ),
        5 => (format!("secret/subkeys/{t}/{key}"), "GET", false, None),
        _ => ("secret/config".to_owned(), "GET", false, None),
    };
    Planned {
        method,
        path: path.clone(),
        list_query,
        body,
        anchors: vec![
            path,
            format!("secret/data/{t}/a"),
            format!("secret/metadata/{t}/a"),
            format!("secret/{t}/a"),
            format!("secret/data/{t}/"),
        ],
        params: &["data", "options", "versions", "*"],
    }
}

fn kv2_data_body(d: &mut Draft) -> Value {
    let mut b = Map::new();
    b.insert(
        "data".into(),
        Value::Object(random_fields(d, &["a", "b", "c"])),
    );
    if d.rng.chance(20) {
        b.insert("options".into(), json!({"cas": 0}));
    }
    Value::Object(b)
}

fn plan_policy(d: &mut Draft) -> Planned {
    let t = d.tag.clone();
    let own = d.rng.pick(&d.names.clone()).clone();
    let which = d.rng.weighted(&[45, 20, 15, 10, 10]);
    let name = match which {
        0 => own.clone(),
        1 => format!("{t}-new"),
        2 => {
            d.feature("policy-name-upper");
            own.to_uppercase()
        }
        3 => "default".to_owned(),
        _ => "root".to_owned(),
    };
    let prefix = if d.rng.chance(60) {
        "sys/policies/acl"
    } else {
        "sys/policy"
    };
    let field = if prefix == "sys/policy" && d.rng.chance(30) {
        "rules"
    } else {
        "policy"
    };
    let text = if d.rng.chance(10) {
        d.feature("invalid-hcl");
        "path \"kv/x\" { capabilities = [".to_owned()
    } else {
        format!("path \"kv/{t}/zz\" {{ capabilities = [\"read\"] }}")
    };
    let mut m = d.rng.weighted(&[35, 25, 10, 15, 15]);
    if name == "default" && m != 0 && m != 4 {
        // Writing or deleting `default` would change every later case's default policy.
        m = 0;
    }
    let (path, method, list_query, body) = match m {
        0 => (format!("{prefix}/{name}"), "GET", false, None),
        1 => (
            format!("{prefix}/{name}"),
            "PUT",
            false,
            Some(json!({ field: text })),
        ),
        2 => (
            format!("{prefix}/{name}"),
            "POST",
            false,
            Some(json!({ field: text })),
        ),
        3 => (format!("{prefix}/{name}"), "DELETE", false, None),
        _ => {
            if prefix == "sys/policy" {
                (prefix.to_owned(), "GET", false, None)
            } else if d.rng.chance(50) {
                (prefix.to_owned(), "LIST", false, None)
            } else {
                (prefix.to_owned(), "GET", true, None)
            }
        }
    };
    Planned {
        method,
        path: path.clone(),
        list_query,
        body,
        anchors: vec![
            path,
            format!("sys/policies/acl/{own}"),
            format!("sys/policy/{own}"),
            "sys/policies/acl".into(),
            "sys/policy".into(),
        ],
        params: &["policy", "rules", "*"],
    }
}

fn plan_token(d: &mut Draft) -> Planned {
    let names = d.names.clone();
    let create_body = |d: &mut Draft| {
        let mut pols: Vec<String> = names.iter().filter(|_| d.rng.chance(60)).cloned().collect();
        if d.rng.chance(20) {
            pols.push("root".into());
        }
        if d.rng.chance(15) {
            pols.push(format!("other-{}", d.tag));
        }
        let mut b = json!({"policies": pols, "ttl": "10m"});
        if d.rng.chance(30) {
            b["no_default_policy"] = json!(true);
        }
        if d.rng.chance(15) {
            b["no_parent"] = json!(true);
        }
        b
    };
    let choice = d.rng.weighted(&[12, 10, 8, 12, 6, 8, 8, 8, 6, 4, 6, 4]);
    let (path, method, list_query, body): (String, &'static str, bool, Option<Value>) = match choice
    {
        0 => ("auth/token/lookup-self".into(), "GET", false, None),
        1 => {
            d.throwaway = true;
            (
                "auth/token/lookup".into(),
                "POST",
                false,
                Some(json!({"token": THROWAWAY})),
            )
        }
        2 => {
            d.throwaway = true;
            (
                "auth/token/lookup-accessor".into(),
                "POST",
                false,
                Some(json!({"accessor": THROWAWAY_ACCESSOR})),
            )
        }
        3 => (
            "auth/token/create".into(),
            "POST",
            false,
            Some(create_body(d)),
        ),
        4 => (
            "auth/token/create-orphan".into(),
            "POST",
            false,
            Some(create_body(d)),
        ),
        5 => {
            d.throwaway = true;
            (
                "auth/token/revoke-orphan".into(),
                "POST",
                false,
                Some(json!({"token": THROWAWAY})),
            )
        }
        6 => ("auth/token/accessors".into(), "LIST", false, None),
        7 => ("auth/token/accessors".into(), "GET", true, None),
        8 => {
            d.throwaway = true;
            (
                "auth/token/revoke-accessor".into(),
                "POST",
                false,
                Some(json!({"accessor": THROWAWAY_ACCESSOR})),
            )
        }
        9 => {
            d.throwaway = true;
            (
                "auth/token/revoke".into(),
                "POST",
                false,
                Some(json!({"token": THROWAWAY})),
            )
        }
        10 => (
            "auth/token/lookup-accessor".into(),
            "POST",
            false,
            Some(json!({"accessor": SELF_ACCESSOR})),
        ),
        _ => (
            "auth/token/renew-self".into(),
            "POST",
            false,
            Some(json!({})),
        ),
    };
    Planned {
        method,
        path: path.clone(),
        list_query,
        body,
        anchors: vec![
            path,
            "auth/token/".into(),
            "auth/token/create".into(),
            "auth/token/accessors".into(),
            "auth/token/revoke-orphan".into(),
            "auth/token/lookup".into(),
        ],
        params: &["policies", "ttl", "no_parent", "token", "accessor", "*"],
    }
}

fn plan_mounts(d: &mut Draft) -> Planned {
    let t = d.tag.clone();
    let mine = format!("m{t}");
    let (path, method, body) = match d.rng.weighted(&[30, 20, 15, 20, 15]) {
        0 => ("sys/mounts".to_owned(), "GET", None),
        1 => ("sys/mounts/kv/tune".to_owned(), "GET", None),
        2 => ("sys/mounts/secret".to_owned(), "GET", None),
        3 => {
            d.cleanup_mounts.push(mine.clone());
            (
                format!("sys/mounts/{mine}"),
                "POST",
                Some(json!({"type": "kv", "description": "difftest"})),
            )
        }
        _ => (format!("sys/mounts/{mine}"), "DELETE", None),
    };
    Planned {
        method,
        path: path.clone(),
        list_query: false,
        body,
        anchors: vec![
            path,
            "sys/mounts".into(),
            format!("sys/mounts/{mine}"),
            "sys/mounts/kv/tune".into(),
        ],
        params: &["type", "description", "*"],
    }
}

fn plan_capabilities(d: &mut Draft) -> Planned {
    let t = d.tag.clone();
    let candidates = [
        format!("kv/{t}/a"),
        format!("kv/{t}/a/b"),
        format!("kv/{t}/"),
        format!("kv/{t}"),
        format!("secret/data/{t}/a"),
        format!("secret/metadata/{t}/a"),
        format!("sys/policies/acl/p{t}-0"),
        "sys/mounts".to_owned(),
        "auth/token/accessors".to_owned(),
        "auth/token/revoke-orphan".to_owned(),
        format!("kv/{t}//a"),
        format!("kv/{t}/./a"),
        format!("kv/{t}/x/../a"),
        format!("KV/{t}/a"),
        format!("kv/{t}/a+b"),
        format!("/kv/{t}/a"),
    ];
    let n = 1 + d.rng.below(3);
    let paths: Vec<String> = (0..n).map(|_| d.rng.pick(&candidates).clone()).collect();
    let body = if paths.len() == 1 && d.rng.chance(40) {
        json!({"path": paths[0]})
    } else {
        json!({ "paths": paths })
    };
    let method = if d.rng.chance(70) { "POST" } else { "PUT" };
    let mut anchors: Vec<String> = paths
        .iter()
        .map(|p| p.trim_start_matches('/').to_owned())
        .collect();
    anchors.push(format!("kv/{t}/a"));
    anchors.push("sys/capabilities-self".into());
    Planned {
        method,
        path: "sys/capabilities-self".into(),
        list_query: false,
        body: Some(body),
        anchors,
        params: &["path", "paths", "*"],
    }
}

fn plan_sudo(d: &mut Draft) -> Planned {
    let (path, method, list_query) = match d.rng.weighted(&[25, 20, 15, 20, 20]) {
        0 => ("sys/audit", "GET", false),
        1 => ("sys/leases/lookup/", "LIST", false),
        2 => ("sys/config/auditing/request-headers", "GET", false),
        3 => ("sys/auth", "GET", false),
        _ => ("sys/leases/lookup/", "GET", true),
    };
    Planned {
        method,
        path: path.to_owned(),
        list_query,
        body: None,
        anchors: vec![path.to_owned(), "sys/".into(), "sys/leases/".into()],
        params: &["*"],
    }
}

// ---- policy rules -------------------------------------------------------------------------

/// Broad patterns mixed into policies now and then.
fn broad_patterns(tag: &str) -> Vec<String> {
    vec![
        "*".into(),
        "kv/*".into(),
        "secret/*".into(),
        "sys/*".into(),
        "auth/*".into(),
        "auth/token/*".into(),
        format!("+/{tag}/*"),
        "kv/+/a".into(),
        "kv/+/+".into(),
        format!("secret/+/{tag}/*"),
        "sys/policies/acl/*".into(),
        "sys/+/acl/*".into(),
    ]
}

fn gen_rule(d: &mut Draft, anchors: &[String], params: &[&str]) -> Rule {
    let path = gen_pattern(d, anchors);
    let mut caps = Vec::new();
    let n = 1 + d.rng.below(4);
    for _ in 0..n {
        let c = Cap::ALL[d.rng.weighted(&[14, 18, 16, 8, 10, 12, 10, 6])];
        if !caps.contains(&c) {
            caps.push(c);
        }
    }
    caps.sort();
    if caps.contains(&Cap::Deny) {
        d.feature("deny");
    }
    if caps.contains(&Cap::Sudo) {
        d.feature("sudo");
    }
    let mut rule = Rule {
        path,
        caps,
        allowed: Vec::new(),
        denied: Vec::new(),
        required: Vec::new(),
    };
    if d.rng.chance(25) {
        d.feature("params");
        let values = |d: &mut Draft| -> Vec<String> {
            match d.rng.weighted(&[50, 20, 15, 15]) {
                0 => Vec::new(),
                1 => vec![d.rng.pick(VALUES).to_string()],
                2 => vec!["x*".into(), "2".into()],
                _ => vec!["*y".into()],
            }
        };
        for p in params {
            match d.rng.weighted(&[55, 25, 12, 8]) {
                1 => {
                    let v = values(d);
                    rule.allowed.push(((*p).to_owned(), v));
                }
                2 => {
                    let v = values(d);
                    rule.denied.push(((*p).to_owned(), v));
                }
                3 if *p != "*" => rule.required.push((*p).to_owned()),
                _ => {}
            }
        }
    }
    rule
}

fn gen_pattern(d: &mut Draft, anchors: &[String]) -> String {
    let choice = d.rng.weighted(&[30, 22, 14, 8, 8, 10, 4, 4]);
    if choice == 5 {
        d.feature("broad-glob");
        let b = broad_patterns(&d.tag);
        return d.rng.pick(&b).clone();
    }
    let anchor = d.rng.pick(anchors).clone();
    match choice {
        0 => anchor,
        1 => {
            d.feature("glob");
            prefix_glob(d, &anchor)
        }
        2 => {
            d.feature("plus-pattern");
            plus_segment(d, &anchor)
        }
        3 => {
            d.feature("plus-pattern");
            let p = plus_segment(d, &anchor);
            prefix_glob(d, &p)
        }
        4 => {
            d.feature("glob");
            format!("{}/*", anchor.trim_end_matches('/'))
        }
        6 => {
            d.feature("pattern-upper");
            anchor.to_uppercase()
        }
        _ => {
            // The directory form or the form without a trailing slash.
            if anchor.ends_with('/') {
                anchor.trim_end_matches('/').to_owned()
            } else {
                format!("{anchor}/")
            }
        }
    }
}

/// `anchor` cut at a random character and ended with `*`.
fn prefix_glob(d: &mut Draft, anchor: &str) -> String {
    let chars: Vec<char> = anchor.chars().collect();
    let cut = if chars.is_empty() {
        0
    } else if d.rng.chance(50) {
        // At a segment boundary.
        let bounds: Vec<usize> = chars
            .iter()
            .enumerate()
            .filter(|(_, c)| **c == '/')
            .map(|(i, _)| i + 1)
            .collect();
        if bounds.is_empty() {
            chars.len()
        } else {
            *d.rng.pick(&bounds)
        }
    } else {
        1 + d.rng.below(chars.len())
    };
    let mut s: String = chars[..cut].iter().collect();
    s.push('*');
    s
}

/// `anchor` with one segment replaced by `+`.
fn plus_segment(d: &mut Draft, anchor: &str) -> String {
    let mut segs: Vec<&str> = anchor.split('/').collect();
    let non_empty: Vec<usize> = segs
        .iter()
        .enumerate()
        .filter(|(_, s)| !s.is_empty())
        .map(|(i, _)| i)
        .collect();
    if non_empty.is_empty() {
        return anchor.to_owned();
    }
    let i = *d.rng.pick(&non_empty);
    segs[i] = "+";
    segs.join("/")
}

// ---- raw target mangling ------------------------------------------------------------------

/// The raw request target: `/v1/<path>`, possibly mangled, plus `?list=...` if planned.
fn mangle_target(d: &mut Draft, p: &Planned) -> String {
    let mut path = format!("/v1/{}", p.path);
    let rounds = match d.rng.weighted(&[55, 35, 10]) {
        0 => 0,
        1 => 1,
        _ => 2,
    };
    for _ in 0..rounds {
        path = mangle_once(d, &path);
    }
    let mut target = path;
    if p.list_query {
        let q = *d
            .rng
            .pick(&["list=true", "list=true", "list=1", "list=TRUE", "list=t"]);
        target.push('?');
        target.push_str(q);
    } else if p.method == "GET" && d.rng.chance(5) {
        d.feature("list-false");
        target.push_str("?list=false");
    }
    target
}

/// Byte offsets just after each `/` past `/v1/` (positions where a segment starts).
fn segment_starts(path: &str) -> Vec<usize> {
    path.char_indices()
        .filter(|(i, c)| *c == '/' && *i >= 3)
        .map(|(i, _)| i + 1)
        .collect()
}

fn insert_at_segment(d: &mut Draft, path: &str, what: &str) -> String {
    let starts = segment_starts(path);
    let at = if starts.is_empty() {
        path.len()
    } else {
        *d.rng.pick(&starts)
    };
    format!("{}{}{}", &path[..at], what, &path[at..])
}

/// Replaces the `i`-th slash past `/v1/` with `with`.
fn replace_slash(d: &mut Draft, path: &str, with: &str) -> String {
    let slashes: Vec<usize> = path
        .char_indices()
        .filter(|(i, c)| *c == '/' && *i > 3 && *i + 1 < path.len())
        .map(|(i, _)| i)
        .collect();
    if slashes.is_empty() {
        return format!("{path}{with}");
    }
    let at = *d.rng.pick(&slashes);
    format!("{}{}{}", &path[..at], with, &path[at + 1..])
}

/// Inserts `what` inside a random segment (after its first character).
fn insert_in_segment(d: &mut Draft, path: &str, what: &str) -> String {
    let starts: Vec<usize> = segment_starts(path)
        .into_iter()
        .filter(|&s| s < path.len() && path.as_bytes()[s] != b'/')
        .collect();
    if starts.is_empty() {
        return format!("{path}{what}");
    }
    let at = *d.rng.pick(&starts) + 1;
    format!("{}{}{}", &path[..at], what, &path[at..])
}

fn mangle_once(d: &mut Draft, path: &str) -> String {
    let kinds = [
        "double-slash",
        "dot-segment",
        "dotdot",
        "traversal",
        "trailing-slash",
        "enc-slash",
        "enc-dot",
        "enc-letter",
        "space",
        "plus",
        "nul",
        "upper",
        "leading-double-slash",
    ];
    let k = d.rng.weighted(&[12, 9, 9, 7, 12, 9, 7, 6, 5, 8, 4, 9, 3]);
    d.feature(kinds[k]);
    match k {
        0 => insert_at_segment(d, path, "/"),
        1 => insert_at_segment(d, path, "./"),
        2 => insert_at_segment(d, path, "zz/../"),
        3 => {
            // Climb out of an innocuous prefix into another family's path.
            let t = d.tag.clone();
            let inner = path.trim_start_matches("/v1/");
            let depth = inner.split('/').filter(|s| !s.is_empty()).count().max(1);
            let ups = "../".repeat(if d.rng.chance(50) { 2 } else { depth });
            let base = d
                .rng
                .pick(&[format!("kv/{t}/"), format!("secret/data/{t}/")])
                .clone();
            format!("/v1/{base}{ups}{inner}")
        }
        4 => format!("{path}/"),
        5 => {
            let enc = if d.rng.chance(70) { "%2F" } else { "%2f" };
            replace_slash(d, path, enc)
        }
        6 => {
            let seg = *d
                .rng
                .pick(&["%2E/", "%2E%2E/", "%2e/", "x/%2E%2E/", ".%2E/"]);
            insert_at_segment(d, path, seg)
        }
        7 => {
            // Percent-encode one letter.
            let letters: Vec<usize> = path
                .char_indices()
                .filter(|(i, c)| *i > 3 && c.is_ascii_lowercase())
                .map(|(i, _)| i)
                .collect();
            if letters.is_empty() {
                path.to_owned()
            } else {
                let at = *d.rng.pick(&letters);
                let b = path.as_bytes()[at];
                format!("{}%{:02X}{}", &path[..at], b, &path[at + 1..])
            }
        }
        8 => insert_in_segment(d, path, "%20"),
        9 => {
            if d.rng.chance(50) {
                insert_in_segment(d, path, "+")
            } else {
                insert_at_segment(d, path, "+/")
            }
        }
        10 => insert_in_segment(d, path, "%00"),
        11 => {
            // Upper-case one segment.
            let starts = segment_starts(path);
            if starts.is_empty() {
                return path.to_uppercase();
            }
            let s = *d.rng.pick(&starts);
            let e = path[s..].find('/').map_or(path.len(), |i| s + i);
            format!("{}{}{}", &path[..s], path[s..e].to_uppercase(), &path[e..])
        }
        _ => format!("/v1//{}", &path[4..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_per_seed_and_index() {
        for i in 0..200 {
            assert_eq!(generate(42, i), generate(42, i), "case {i}");
        }
    }

    #[test]
    fn different_seeds_give_different_runs() {
        let a: Vec<String> = (0..50).map(|i| generate(1, i).request.target).collect();
        let b: Vec<String> = (0..50).map(|i| generate(2, i).request.target).collect();
        assert_ne!(a, b);
    }

    #[test]
    fn cases_are_tagged_and_isolated() {
        for i in 0..300 {
            let c = generate(7, i);
            assert_eq!(c.tag, format!("c7-{i}"));
            for p in &c.policies {
                assert!(p.name.contains(&c.tag), "{}", p.name);
                assert!(!p.rules.is_empty());
                assert!(p.rules.iter().all(|r| !r.caps.is_empty()));
            }
            for s in &c.seeds {
                assert!(s.path.contains(&c.tag), "{}", s.path);
            }
            assert!(c.request.target.starts_with("/v1/"), "{}", c.request.target);
            // A raw target must stay a valid HTTP request-target: no spaces or controls.
            assert!(
                c.request.target.bytes().all(|b| b > b' ' && b < 0x7f),
                "{:?}",
                c.request.target
            );
        }
    }

    #[test]
    fn tokens_never_inherit_root() {
        for i in 0..2000 {
            assert!(!generate(5, i).token_policies.is_empty());
        }
    }

    #[test]
    fn never_writes_or_deletes_the_default_policy() {
        for i in 0..3000 {
            let c = generate(11, i);
            let t = c.request.target.to_lowercase();
            if t.contains("/default") && t.contains("sys/polic") {
                assert_eq!(c.request.method, "GET", "{}", c.describe());
            }
        }
    }

    #[test]
    fn covers_the_feature_space() {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..3000 {
            seen.extend(generate(3, i).features);
        }
        for f in [
            "kv1",
            "kv2",
            "policy",
            "token",
            "mounts",
            "capabilities",
            "sudo-path",
            "double-slash",
            "dot-segment",
            "dotdot",
            "traversal",
            "trailing-slash",
            "enc-slash",
            "enc-dot",
            "enc-letter",
            "space",
            "plus",
            "nul",
            "upper",
            "deny",
            "sudo",
            "params",
            "glob",
            "plus-pattern",
            "broad-glob",
            "policy-name-upper",
            "GET?list",
            "LIST",
            "PATCH",
            "DELETE",
        ] {
            assert!(seen.contains(f), "feature {f} never generated: {seen:?}");
        }
    }

    #[test]
    fn segment_helpers() {
        assert_eq!(segment_starts("/v1/kv/a"), vec![4, 7]);
        let mut d = Draft {
            rng: Rng::new(1),
            tag: "t".into(),
            features: vec![],
            seeds: vec![],
            throwaway: false,
            cleanup_mounts: vec![],
            names: vec![],
        };
        for _ in 0..50 {
            let p = plus_segment(&mut d, "kv/t/a");
            assert_eq!(p.matches('+').count(), 1, "{p}");
            let g = prefix_glob(&mut d, "kv/t/a");
            assert!(
                g.ends_with('*') && "kv/t/a".starts_with(g.trim_end_matches('*')),
                "{g}"
            );
            let s = replace_slash(&mut d, "/v1/kv/t/a", "%2F");
            assert!(s.starts_with("/v1/") && s.contains("%2F"), "{s}");
        }
    }
}

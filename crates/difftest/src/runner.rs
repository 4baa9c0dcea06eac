//! Playing cases against both servers and comparing the answers.
//!
//! For each case, on each server: write the case's policies with the root token, seed its
//! secrets, create its throwaway token (if any) and its own token, send the request (raw
//! target, placeholders bound to this server's tokens), disable any mount the case may have
//! created. Setup answers are compared too: a policy one server accepts and the other rejects
//! is a difference in its own right.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use serde_json::{Value, json};

use crate::allowed::{Allowance, matching_allowance};
use crate::case::{Auth, Bindings, Case, render_hcl};
use crate::classify::{Outcome, Verdict, classify, compare};
use crate::error::DiffError;
use crate::generate::generate;
use crate::http::{Client, Response};
use crate::server::ROOT_TOKEN;

/// What setting a case up on one server produced.
#[derive(Debug, Clone)]
struct Setup {
    /// Per policy: accepted (2xx) or the rejection (status and errors).
    policies: Vec<(String, Result<(), String>)>,
    /// The case token, or why it could not be created.
    token: Result<String, String>,
    bindings: Bindings,
}

/// The result of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// The case.
    pub case: Case,
    /// OpenBao's answer.
    pub openbao: Outcome,
    /// Tresor's answer.
    pub tresor: Outcome,
    /// The comparison (setup differences included).
    pub verdict: Verdict,
    /// The accepted difference that covers a `Different` verdict, if any.
    pub allowed_by: Option<&'static str>,
}

impl CaseResult {
    /// Whether this case fails the run.
    pub fn is_failure(&self) -> bool {
        matches!(self.verdict, Verdict::Different(_)) && self.allowed_by.is_none()
    }

    /// A multi-line report of the case and both answers.
    pub fn describe(&self) -> String {
        let v = match &self.verdict {
            Verdict::Same => "same".to_owned(),
            Verdict::Soft(s) => format!("soft difference: {s}"),
            Verdict::Different(s) => format!("DIFFERENCE: {s}"),
        };
        format!(
            "{}\n  openbao: {}\n  tresor:  {}\n  => {v}{}",
            self.case.describe(),
            self.openbao,
            self.tresor,
            self.allowed_by
                .map(|a| format!(" (accepted: {a})"))
                .unwrap_or_default()
        )
    }
}

fn root_call(
    c: &mut Client,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Result<Response, DiffError> {
    let text = body.map(Value::to_string);
    c.send(
        method,
        &format!("/v1/{path}"),
        &[
            ("X-Vault-Token", ROOT_TOKEN),
            ("Content-Type", "application/json"),
        ],
        text.as_deref().map(str::as_bytes),
    )
}

fn describe_failure(r: &Response) -> String {
    let errs = classify(r, false).errors;
    format!("{} {}", r.status, errs)
}

fn create_token(c: &mut Client, body: &Value) -> Result<(String, String), String> {
    let r = root_call(c, "POST", "auth/token/create", Some(body)).map_err(|e| e.to_string())?;
    if r.status != 200 {
        return Err(describe_failure(&r));
    }
    let j = r.json().unwrap_or_default();
    let token = j["auth"]["client_token"].as_str().unwrap_or_default();
    let accessor = j["auth"]["accessor"].as_str().unwrap_or_default();
    if token.is_empty() {
        return Err(format!("no client_token in {j}"));
    }
    Ok((token.to_owned(), accessor.to_owned()))
}

fn setup(c: &mut Client, case: &Case) -> Result<Setup, DiffError> {
    let mut s = Setup {
        policies: Vec::new(),
        token: Err("not created".into()),
        bindings: Bindings::default(),
    };
    for p in &case.policies {
        let body = json!({"policy": render_hcl(&p.rules)});
        let r = root_call(
            c,
            "PUT",
            &format!("sys/policies/acl/{}", p.name),
            Some(&body),
        )?;
        let res = if r.status / 100 == 2 {
            Ok(())
        } else {
            Err(describe_failure(&r))
        };
        s.policies.push((p.name.clone(), res));
    }
    for seed in &case.seeds {
        let r = root_call(c, "PUT", &seed.path, Some(&seed.body))?;
        if r.status / 100 != 2 {
            return Err(DiffError::Setup {
                server: c.addr().to_owned(),
                what: format!("seeding {}: {}", seed.path, describe_failure(&r)),
            });
        }
    }
    if case.throwaway {
        let (t, a) =
            create_token(c, &json!({"policies": ["default"], "ttl": "10m"})).map_err(|what| {
                DiffError::Setup {
                    server: c.addr().to_owned(),
                    what: format!("throwaway token: {what}"),
                }
            })?;
        s.bindings.throwaway = t;
        s.bindings.throwaway_accessor = a;
    }
    let body = json!({
        "policies": case.token_policies,
        "no_default_policy": !case.with_default,
        "ttl": "10m",
    });
    s.token = create_token(c, &body).map(|(t, a)| {
        s.bindings.self_accessor = a;
        t
    });
    Ok(s)
}

fn send_request(c: &mut Client, case: &Case, s: &Setup) -> Result<Outcome, DiffError> {
    let r = &case.request;
    let target = s.bindings.apply(&r.target);
    let body = r
        .body
        .as_ref()
        .map(|b| s.bindings.apply_json(b).to_string());
    let token = s.token.clone().unwrap_or_default();
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if r.auth == Auth::CaseToken {
        headers.push(("X-Vault-Token", &token));
    }
    if body.is_some() {
        headers.push(("Content-Type", r.content_type.unwrap_or("application/json")));
    }
    let resp = c.send(
        &r.method,
        &target,
        &headers,
        body.as_deref().map(str::as_bytes),
    )?;
    let caps = target.contains("capabilities-self");
    Ok(classify(&resp, caps))
}

fn cleanup(c: &mut Client, case: &Case) -> Result<(), DiffError> {
    for m in &case.cleanup_mounts {
        root_call(c, "DELETE", &format!("sys/mounts/{m}"), None)?;
    }
    Ok(())
}

/// Differences in setup (policy acceptance, token creation), if any.
fn compare_setup(bao: &Setup, tresor: &Setup) -> Option<String> {
    for ((name, b), (_, t)) in bao.policies.iter().zip(&tresor.policies) {
        if b.is_ok() != t.is_ok() {
            return Some(format!(
                "setup: policy {name}: openbao {} / tresor {}",
                b.as_ref().err().map_or("accepted", String::as_str),
                t.as_ref().err().map_or("accepted", String::as_str)
            ));
        }
    }
    if bao.token.is_ok() != tresor.token.is_ok() {
        return Some(format!(
            "setup: token creation: openbao {} / tresor {}",
            bao.token.as_ref().err().map_or("ok", String::as_str),
            tresor.token.as_ref().err().map_or("ok", String::as_str)
        ));
    }
    None
}

/// Plays `case` on both servers and compares.
pub fn run_case(
    case: Case,
    openbao: &mut Client,
    tresor: &mut Client,
    allowances: &[Allowance],
) -> Result<CaseResult, DiffError> {
    let sb = setup(openbao, &case)?;
    let st = setup(tresor, &case)?;
    let ob = send_request(openbao, &case, &sb)?;
    let ot = send_request(tresor, &case, &st)?;
    cleanup(openbao, &case)?;
    cleanup(tresor, &case)?;
    let verdict = match compare_setup(&sb, &st) {
        Some(d) => Verdict::Different(d),
        None => compare(&ob, &ot),
    };
    let allowed_by = match verdict {
        Verdict::Different(_) => matching_allowance(allowances, &case, &ob, &ot),
        _ => None,
    };
    Ok(CaseResult {
        case,
        openbao: ob,
        tresor: ot,
        verdict,
        allowed_by,
    })
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The run's seed.
    pub seed: u64,
    /// Number of cases (indices `0..cases`), ignored when `only` is set.
    pub cases: u64,
    /// Replay just this case index.
    pub only: Option<u64>,
    /// Worker threads (each with its own connections).
    pub threads: usize,
    /// Stop after this many failing cases (0: never stop early).
    pub max_failures: usize,
}

impl RunConfig {
    /// Reads `DIFFTEST_SEED`, `DIFFTEST_CASES`, `DIFFTEST_CASE`, `DIFFTEST_THREADS` and
    /// `DIFFTEST_MAX_FAILURES`, with the given defaults.
    pub fn from_env(default_seed: u64, default_cases: u64) -> RunConfig {
        let num = |k: &str| {
            std::env::var(k)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
        };
        RunConfig {
            seed: num("DIFFTEST_SEED").unwrap_or(default_seed),
            cases: num("DIFFTEST_CASES").unwrap_or(default_cases),
            only: num("DIFFTEST_CASE"),
            threads: num("DIFFTEST_THREADS").map_or(4, |t| t.clamp(1, 64) as usize),
            max_failures: num("DIFFTEST_MAX_FAILURES").map_or(0, |n| n as usize),
        }
    }
}

/// Aggregated results of a run.
#[derive(Debug, Default)]
pub struct Summary {
    /// The seed.
    pub seed: u64,
    /// Cases run.
    pub total: u64,
    /// Cases with identical answers.
    pub same: u64,
    /// Soft differences: category to (count, first example).
    pub soft: BTreeMap<String, (u64, String)>,
    /// Accepted differences: allowance id to count.
    pub allowed: BTreeMap<&'static str, u64>,
    /// Failing cases, by category: (count, up to three examples).
    pub failures: BTreeMap<String, (u64, Vec<CaseResult>)>,
    /// Cases that could not be run (harness or server errors).
    pub errors: Vec<String>,
}

impl Summary {
    /// Number of failing cases.
    pub fn failure_count(&self) -> u64 {
        self.failures.values().map(|(n, _)| n).sum()
    }

    fn add(&mut self, r: CaseResult) {
        self.total += 1;
        match &r.verdict {
            Verdict::Same => self.same += 1,
            Verdict::Soft(s) => {
                let key = format!("{} {}: {s}", family(&r.case), r.case.request.method);
                let e = self.soft.entry(key).or_insert((0, String::new()));
                if e.0 == 0 {
                    e.1 = format!(
                        "{} {} ({})",
                        r.case.request.method,
                        r.case.request.target,
                        r.case.replay_hint()
                    );
                }
                e.0 += 1;
            }
            Verdict::Different(_) => {
                if let Some(a) = r.allowed_by {
                    *self.allowed.entry(a).or_insert(0) += 1;
                } else {
                    let e = self.failures.entry(category(&r)).or_insert((0, Vec::new()));
                    e.0 += 1;
                    if e.1.len() < 3 {
                        e.1.push(r);
                    }
                }
            }
        }
    }

    /// The human-readable report.
    pub fn report(&self, examples_per_category: usize) -> String {
        let mut s = format!(
            "difftest seed {}: {} cases, {} identical, {} soft differences, {} accepted differences, {} FAILING, {} errors\n",
            self.seed,
            self.total,
            self.same,
            self.soft.values().map(|(n, _)| n).sum::<u64>(),
            self.allowed.values().sum::<u64>(),
            self.failure_count(),
            self.errors.len()
        );
        if !self.allowed.is_empty() {
            s.push_str("\naccepted differences (crates/difftest/src/allowed.rs):\n");
            for (id, n) in &self.allowed {
                s.push_str(&format!("  {n:6}  {id}\n"));
            }
        }
        if !self.soft.is_empty() {
            s.push_str("\nsoft differences (same decision, other status):\n");
            for (k, (n, ex)) in &self.soft {
                s.push_str(&format!("  {n:6}  {k}   e.g. {ex}\n"));
            }
        }
        if !self.failures.is_empty() {
            let mut cats: Vec<_> = self.failures.iter().collect();
            cats.sort_by_key(|c| std::cmp::Reverse(c.1.0));
            s.push_str("\nFAILING differences by category:\n");
            for (k, (n, _)) in &cats {
                s.push_str(&format!("  {n:6}  {k}\n"));
            }
            s.push_str("\nexamples:\n");
            for (k, (n, ex)) in &cats {
                s.push_str(&format!("\n### {k} ({n} cases)\n"));
                for r in ex.iter().take(examples_per_category) {
                    s.push_str(&r.describe());
                    s.push_str("\n\n");
                }
            }
        }
        for e in self.errors.iter().take(20) {
            s.push_str(&format!("error: {e}\n"));
        }
        s
    }
}

fn family(case: &Case) -> &str {
    case.features.first().map_or("?", String::as_str)
}

/// Features describing how the raw target was mangled.
const PATH_MUTATIONS: &[&str] = &[
    "double-slash",
    "leading-double-slash",
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
];

/// Other features that change what is asked (not the path's shape).
const OTHER_VARIATIONS: &[&str] = &["policy-name-upper", "token-policy-upper", "no-token"];

/// The variation class of a case: its path mutations, else its other variations, else
/// `canonical`.
fn variation(case: &Case) -> String {
    let pick = |list: &[&str]| {
        let mut m: Vec<&str> = case
            .features
            .iter()
            .map(String::as_str)
            .filter(|f| list.contains(f))
            .collect();
        m.sort_unstable();
        m.join("+")
    };
    let p = pick(PATH_MUTATIONS);
    if !p.is_empty() {
        return p;
    }
    let o = pick(OTHER_VARIATIONS);
    if o.is_empty() { "canonical".into() } else { o }
}

/// The grouping key of a failing case: its variation class and the kind of difference; for
/// canonical requests also the family and method (those differences are the surprising ones).
pub fn category(r: &CaseResult) -> String {
    let what = match &r.verdict {
        Verdict::Different(d) if d.starts_with("setup: policy") => {
            "setup: a policy accepted by one server only".to_owned()
        }
        Verdict::Different(d) if d.starts_with("setup") => "setup: token creation".to_owned(),
        Verdict::Different(d) if d.starts_with("capabilities") => "capabilities differ".into(),
        _ => format!(
            "openbao {} / tresor {}",
            r.openbao.decision.kind(),
            r.tresor.decision.kind()
        ),
    };
    let v = variation(&r.case);
    let path_mutated = r
        .case
        .features
        .iter()
        .any(|f| PATH_MUTATIONS.contains(&f.as_str()));
    if !path_mutated {
        format!(
            "[{v}] {} {}: {what}",
            family(&r.case),
            method_label(&r.case)
        )
    } else {
        format!("[{v}] {what}")
    }
}

fn method_label(case: &Case) -> String {
    if case.features.iter().any(|f| f == "GET?list") {
        "GET?list".into()
    } else {
        case.request.method.clone()
    }
}

/// Runs `cfg` against the two servers at `openbao` and `tresor` (`host:port`).
pub fn run(
    cfg: &RunConfig,
    openbao: &str,
    tresor: &str,
    allowances: &[Allowance],
    progress: &(dyn Fn(u64) + Sync),
) -> Summary {
    let indices: Vec<u64> = match cfg.only {
        Some(i) => vec![i],
        None => (0..cfg.cases).collect(),
    };
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let failures = AtomicUsize::new(0);
    let summary = Mutex::new(Summary {
        seed: cfg.seed,
        ..Summary::default()
    });
    std::thread::scope(|scope| {
        for _ in 0..cfg.threads.max(1) {
            scope.spawn(|| {
                let mut cb = Client::new(openbao);
                let mut ct = Client::new(tresor);
                loop {
                    if cfg.max_failures > 0 && failures.load(Ordering::Relaxed) >= cfg.max_failures
                    {
                        break;
                    }
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&index) = indices.get(k) else { break };
                    let case = generate(cfg.seed, index);
                    let hint = case.replay_hint();
                    let res = run_case(case, &mut cb, &mut ct, allowances);
                    let mut s = summary.lock().unwrap_or_else(|p| p.into_inner());
                    match res {
                        Ok(r) => {
                            if r.is_failure() {
                                failures.fetch_add(1, Ordering::Relaxed);
                            }
                            s.add(r);
                        }
                        Err(e) => {
                            failures.fetch_add(1, Ordering::Relaxed);
                            s.errors.push(format!("{hint}: {e}"));
                        }
                    }
                    drop(s);
                    progress(done.fetch_add(1, Ordering::Relaxed) + 1);
                }
            });
        }
    });
    summary.into_inner().unwrap_or_else(|p| p.into_inner())
}

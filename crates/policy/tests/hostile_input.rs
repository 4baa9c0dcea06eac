//! Hostile policy text: nesting far past the limit is an error, never a stack overflow, and
//! text just inside the limit parses on a thread with a worker-sized stack.

#![allow(clippy::unwrap_used)] // tests may unwrap

use tresor_policy::{MAX_POLICY_DEPTH, Policy, PolicyError, format_hcl};

/// A tokio worker's default stack; requests are parsed on such threads.
const WORKER_STACK: usize = 2 * 1024 * 1024;

/// Runs `f` on a thread with a worker-sized stack (a stack overflow aborts the test binary).
fn on_worker_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .stack_size(WORKER_STACK)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap()
}

fn nested(open: &str, close: &str, n: usize) -> String {
    format!("x = {}true{}\n", open.repeat(n), close.repeat(n))
}

/// Every way HCL nests, `n` deep.
fn shapes(n: usize) -> Vec<(&'static str, String)> {
    vec![
        ("arrays", nested("[", "]", n)),
        ("objects", nested("{a = ", "}", n)),
        ("parentheses", nested("(", ")", n)),
        ("function calls", nested("f(", ")", n)),
        ("index", nested("a[", "]", n)),
        ("not", nested("!", "", n)),
        ("negation", nested("-", "", n)),
        ("binary", format!("x = 1{}\n", " + 1".repeat(n))),
        ("conditional", format!("x = {}1\n", "a ? 1 : ".repeat(n))),
        ("interpolation", nested("\"${", "}\"", n)),
        (
            "blocks",
            format!("{}{}\n", "b {\n".repeat(n), "}\n".repeat(n)),
        ),
        ("labels", format!("path {} {{}}\n", "\"l\" ".repeat(n))),
        (
            "directives",
            format!(
                "x = <<EOF\n{}{}\nEOF\n",
                "%{ if a }".repeat(n),
                "%{ endif }".repeat(n)
            ),
        ),
        (
            "json",
            format!("{{\"path\": {}1{}}}", "[".repeat(n), "]".repeat(n)),
        ),
    ]
}

#[test]
fn hundred_thousand_deep_policy_is_an_error_not_a_crash() {
    on_worker_stack(|| {
        for (shape, text) in shapes(100_000) {
            match Policy::parse("deep", &text) {
                Err(PolicyError::TooDeep { limit, .. }) => assert_eq!(limit, MAX_POLICY_DEPTH),
                other => panic!("{shape}: {other:?}"),
            }
            assert!(
                matches!(format_hcl(&text), Err(PolicyError::TooDeep { .. })),
                "{shape}: policy fmt"
            );
        }
    });
}

#[test]
fn the_reported_row_nested_arrays() {
    // sys/policies/acl/deep with x = [[[[…]]]] 100,000 deep aborted the process.
    let text = format!("x = {}{}", "[".repeat(100_000), "]".repeat(100_000));
    let err = on_worker_stack(move || Policy::parse("deep", &text).unwrap_err());
    assert!(
        matches!(err, PolicyError::TooDeep { line: 1, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("maximum depth of 100"), "{err}");
    assert!(!err.is_permission_denied(), "bad input is a 400, not a 403");
}

#[test]
fn text_just_inside_the_limit_parses_on_a_worker_stack() {
    // Every shape as deep as the scanner lets through: the parser's recursion must fit.
    on_worker_stack(|| {
        for n in [10, 30, 60, MAX_POLICY_DEPTH] {
            let mut accepted = 0;
            for (shape, text) in shapes(n) {
                match Policy::parse("p", &text) {
                    Err(PolicyError::TooDeep { .. }) => {}
                    // anything else (a structure error, a syntax error) means the parser ran
                    _ => accepted += 1,
                }
                let _ = format_hcl(&text);
                let _ = shape;
            }
            if n <= 20 {
                assert_eq!(accepted, shapes(n).len(), "depth {n} must reach the parser");
            }
        }
        // The deepest text that passes, for each shape: trim until the scanner accepts it.
        for (shape, _) in shapes(1) {
            let mut n = MAX_POLICY_DEPTH;
            let text = loop {
                let text = shapes(n).into_iter().find(|(s, _)| *s == shape).unwrap().1;
                if !matches!(Policy::parse("p", &text), Err(PolicyError::TooDeep { .. })) {
                    break text;
                }
                n -= 1;
            };
            assert!(n >= 20, "{shape}: only {n} levels accepted");
            let _ = Policy::parse("p", &text);
        }
    });
}

#[test]
fn real_policies_are_far_from_the_limit() {
    let text = r#"
# Allow tokens to look up their own properties
path "auth/token/lookup-self" {
    capabilities = ["read"]
}
path "secret/data/{{identity.entity.id}}/*" {
  capabilities = ["create", "update", "read"]
  allowed_parameters = {
    "ttl" = []
    "*"   = ["a", "b"]
  }
  denied_parameters = { "admin" = [] }
  required_parameters = ["ttl"]
  min_wrapping_ttl = "1m"
  max_wrapping_ttl = "24h"
}
"#;
    let depth = tresor_sdk::nesting::depth(text, tresor_sdk::nesting::Syntax::Hcl);
    assert!(depth < 15, "depth {depth}");
    Policy::parse("real", text).unwrap();
}

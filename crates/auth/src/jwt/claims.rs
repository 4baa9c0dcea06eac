//! The checks a JWT login makes on a token's claims once its signature holds: times (`exp`,
//! `nbf`, `iat`, with the role's leeways), issuer, subject, audiences, `bound_claims`, and the
//! claims a login reads (`user_claim`, `groups_claim`, `claim_mappings`). A claim name that
//! starts with `/` is a JSON pointer into nested claims (`/a/b`). Pure: the time is passed in.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::glob;

/// Default `clock_skew_leeway` (seconds).
pub const DEFAULT_CLOCK_SKEW_LEEWAY: i64 = 60;
/// Default `expiration_leeway` and `not_before_leeway` (seconds).
pub const DEFAULT_CLAIM_LEEWAY: i64 = 150;

/// The value of claim `name` (a JSON pointer when it starts with `/`).
pub fn get<'a>(claims: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    if name.starts_with('/') {
        // Value::pointer on the object as a whole.
        let mut cur: Option<&Value> = None;
        for (i, raw) in name.split('/').skip(1).enumerate() {
            let key = raw.replace("~1", "/").replace("~0", "~");
            cur = match (i, cur) {
                (0, _) => claims.get(&key),
                (_, Some(Value::Object(m))) => m.get(&key),
                (_, Some(Value::Array(a))) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
                _ => None,
            };
            cur?;
        }
        cur
    } else {
        claims.get(name)
    }
}

/// A leeway as applied: 0 means the default, a negative value none.
pub fn effective_leeway(configured: i64, default: i64) -> i64 {
    match configured {
        0 => default,
        n if n < 0 => 0,
        n => n,
    }
}

/// A NumericDate claim: seconds (fractions cut); absent, null or 0 is "not set".
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<i64, String> {
    match claims.get(name) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .ok_or_else(|| format!("claim {name:?} is not a valid time")),
        Some(_) => Err(format!("claim {name:?} is not a number")),
    }
}

/// The leeways of a role, as configured (0 = default, negative = none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Leeways {
    /// Allowed clock difference for every time check.
    pub clock_skew: i64,
    /// Life given to a token without `exp`, from its `iat`/`nbf`.
    pub expiration: i64,
    /// Start given to a token with neither `nbf` nor `iat`, before its `exp`.
    pub not_before: i64,
}

/// Checks `exp`, `nbf` and `iat` at `now`. A token must carry at least one of them; a missing
/// `exp` is the later of `iat`/`nbf` plus the expiration leeway, a missing `nbf` is `iat` (or
/// `exp` minus the not-before leeway); then each is checked with the clock-skew leeway.
pub fn check_times(claims: &Map<String, Value>, l: Leeways, now: i64) -> Result<(), String> {
    let iat = numeric_date(claims, "iat")?;
    let mut exp = numeric_date(claims, "exp")?;
    let mut nbf = numeric_date(claims, "nbf")?;
    if iat == 0 && exp == 0 && nbf == 0 {
        return Err("no issue time, notbefore, or expiration time encoded in token".into());
    }
    if exp == 0 {
        exp = iat
            .max(nbf)
            .saturating_add(effective_leeway(l.expiration, DEFAULT_CLAIM_LEEWAY));
    }
    if nbf == 0 {
        nbf = if iat != 0 {
            iat
        } else {
            exp.saturating_sub(effective_leeway(l.not_before, DEFAULT_CLAIM_LEEWAY))
        };
    }
    let skew = effective_leeway(l.clock_skew, DEFAULT_CLOCK_SKEW_LEEWAY);
    if now.saturating_add(skew) < nbf {
        return Err("validation failed, token not valid yet (nbf)".into());
    }
    if now.saturating_sub(skew) > exp {
        return Err("validation failed, token is expired (exp)".into());
    }
    if iat != 0 && now.saturating_add(skew) < iat {
        return Err("validation failed, token issued in the future (iat)".into());
    }
    Ok(())
}

/// The token's audiences (`aud` is a string or a list of strings).
pub fn audiences(claims: &Map<String, Value>) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// The audience rule of JWT roles: with bound audiences, one of the token's must be among
/// them; without, a token naming any audience is refused.
pub fn check_audience(bound: &[String], claims: &Map<String, Value>) -> Result<(), String> {
    let aud = audiences(claims);
    if bound.is_empty() {
        if aud.is_empty() {
            return Ok(());
        }
        return Err("audience claim found in JWT but no audiences bound to the role".into());
    }
    if aud.iter().any(|a| bound.contains(a)) {
        Ok(())
    } else {
        Err("aud claim does not match any bound audience".into())
    }
}

/// `iss` must equal `expected` (when set).
pub fn check_issuer(expected: &str, claims: &Map<String, Value>) -> Result<(), String> {
    if expected.is_empty() || claims.get("iss").and_then(Value::as_str) == Some(expected) {
        Ok(())
    } else {
        Err("validation failed, invalid issuer claim (iss)".into())
    }
}

/// `sub` must equal `bound` (when set).
pub fn check_subject(bound: &str, claims: &Map<String, Value>) -> Result<(), String> {
    if bound.is_empty() || claims.get("sub").and_then(Value::as_str) == Some(bound) {
        Ok(())
    } else {
        Err("sub claim does not match bound subject".into())
    }
}

/// A scalar claim as text (strings as they are, numbers and booleans printed).
fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The values a bound claim accepts: a string, or a list of strings (a bound value given
/// as a number or boolean is read as its text).
pub fn bound_values(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Array(a) => a.iter().map(scalar_text).collect(),
        other => scalar_text(other).map(|s| vec![s]),
    }
}

/// `bound_claims`: every bound claim must be present, and one of its values (a list claim:
/// any of its items) must equal one of the bound values (or match it as a glob when `glob`).
pub fn check_bound_claims(
    bound: &Map<String, Value>,
    glob_match: bool,
    claims: &Map<String, Value>,
) -> Result<(), String> {
    for (name, want) in bound {
        let Some(have) = get(claims, name) else {
            return Err(format!("claim {name:?} is missing"));
        };
        let have: Vec<String> = match have {
            Value::Array(a) => a.iter().filter_map(scalar_text).collect(),
            other => scalar_text(other).into_iter().collect(),
        };
        let want = bound_values(want).unwrap_or_default();
        let ok = have.iter().any(|h| {
            want.iter().any(|w| {
                if glob_match {
                    glob::matches(w, h)
                } else {
                    w == h
                }
            })
        });
        if !ok {
            return Err(format!(
                "claim {name:?} does not match any associated bound claim values"
            ));
        }
    }
    Ok(())
}

/// The alias name: the user claim, which must be a string (a JSON pointer only when
/// `pointer`).
pub fn user_name(
    claims: &Map<String, Value>,
    user_claim: &str,
    pointer: bool,
) -> Result<String, String> {
    let v = if pointer {
        get(claims, user_claim)
    } else {
        claims.get(user_claim)
    };
    match v {
        None => Err(format!("claim {user_claim:?} not found in token")),
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(_) => Err(format!(
            "claim {user_claim:?} could not be converted to string"
        )),
    }
}

/// The groups of the groups claim: a list of strings (or one string); empty names dropped.
pub fn groups(claims: &Map<String, Value>, groups_claim: &str) -> Result<Vec<String>, String> {
    let v = get(claims, groups_claim)
        .ok_or_else(|| format!("{groups_claim:?} claim not found in token"))?;
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        one => vec![one],
    };
    let mut out = Vec::new();
    for item in items {
        let Value::String(s) = item else {
            return Err(format!(
                "value {item} in groups claim could not be parsed as string"
            ));
        };
        if !s.is_empty() {
            out.push(s.clone());
        }
    }
    Ok(out)
}

/// Metadata from `claim_mappings` (claim → metadata key): scalar claims are copied as text,
/// missing ones skipped; a list or object is an error.
pub fn mapped_metadata(
    claims: &Map<String, Value>,
    mappings: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for (claim, key) in mappings {
        let Some(v) = get(claims, claim) else {
            continue;
        };
        let text =
            scalar_text(v).ok_or_else(|| format!("error converting claim '{claim}' to string"))?;
        out.insert(key.clone(), text);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
            ".{0,8}".prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
        ]
    }

    fn claim_value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::btree_map("[a-z/~01]{0,4}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(tresor_testkit::props::seeded_config(256))]
        /// Hostile claims and bindings never panic any check.
        #[test]
        fn checks_never_panic_on_hostile_claims(
            claims in proptest::collection::btree_map(
                prop_oneof![Just("exp".to_string()), Just("nbf".to_string()), Just("iat".to_string()),
                            Just("aud".to_string()), "[a-z/~01]{0,4}"],
                claim_value(), 0..8),
            bound in proptest::collection::btree_map("[a-z/~01]{0,4}", claim_value(), 0..4),
            leeways in (any::<i64>(), any::<i64>(), any::<i64>()),
            now in any::<i64>(),
            name in "[a-z/~01]{0,6}",
        ) {
            let claims: Map<String, Value> = claims.into_iter().collect();
            let bound: Map<String, Value> = bound.into_iter().collect();
            let l = Leeways { clock_skew: leeways.0, expiration: leeways.1, not_before: leeways.2 };
            let _ = check_times(&claims, l, now);
            let _ = check_audience(&["a".into()], &claims);
            let _ = check_bound_claims(&bound, true, &claims);
            let _ = check_bound_claims(&bound, false, &claims);
            let _ = user_name(&claims, &name, true);
            let _ = groups(&claims, &name);
            let m: BTreeMap<String, String> = [(name.clone(), "k".to_string())].into_iter().collect();
            let _ = mapped_metadata(&claims, &m);
        }
    }

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    const NOW: i64 = 1_700_000_000;
    const L: Leeways = Leeways {
        clock_skew: 0,
        expiration: 0,
        not_before: 0,
    };

    #[test]
    fn times_with_leeways() {
        let ok = |c: Value, l: Leeways| check_times(&obj(c), l, NOW);
        assert!(ok(json!({"exp": NOW + 10}), L).is_ok());
        assert!(
            ok(json!({"exp": NOW - 30}), L).is_ok(),
            "inside the 60 s default skew"
        );
        assert!(
            ok(json!({"exp": NOW - 61}), L)
                .unwrap_err()
                .contains("expired")
        );
        let none = Leeways {
            clock_skew: -1,
            ..L
        };
        assert!(ok(json!({"exp": NOW - 1}), none).is_err(), "skew disabled");
        assert!(
            ok(json!({"nbf": NOW + 100, "exp": NOW + 200}), L)
                .unwrap_err()
                .contains("nbf")
        );
        assert!(
            ok(json!({"iat": NOW + 100, "exp": NOW + 200}), L)
                .unwrap_err()
                .contains("nbf"),
            "a missing nbf is the iat"
        );
        assert!(
            ok(
                json!({"nbf": NOW - 10, "iat": NOW + 100, "exp": NOW + 200}),
                L
            )
            .unwrap_err()
            .contains("iat")
        );
        assert!(ok(json!({}), L).unwrap_err().contains("no issue time"));
        // No exp: iat + 150 s (+ 60 s skew) by default; an explicit leeway replaces 150.
        assert!(ok(json!({"iat": NOW - 200}), L).is_ok());
        assert!(ok(json!({"iat": NOW - 211}), L).is_err());
        let long = Leeways {
            expiration: 1000,
            ..L
        };
        assert!(ok(json!({"iat": NOW - 1000}), long).is_ok());
        // Fractional times are read.
        assert!(ok(json!({"exp": (NOW + 5) as f64 + 0.5}), L).is_ok());
        assert!(ok(json!({"exp": "soon"}), L).is_err());
    }

    #[test]
    fn audiences_issuer_subject() {
        let c = obj(json!({"aud": ["a", "b"], "iss": "https://i", "sub": "s"}));
        assert!(check_audience(&["b".into()], &c).is_ok());
        assert!(check_audience(&["c".into()], &c).is_err());
        assert!(
            check_audience(&[], &c)
                .unwrap_err()
                .contains("no audiences bound")
        );
        assert!(check_audience(&[], &obj(json!({}))).is_ok());
        assert!(check_audience(&["x".into()], &obj(json!({"aud": "x"}))).is_ok());
        assert!(check_issuer("https://i", &c).is_ok());
        assert!(check_issuer("https://j", &c).is_err());
        assert!(check_issuer("", &c).is_ok());
        assert!(check_subject("s", &c).is_ok());
        assert!(check_subject("t", &c).is_err());
    }

    #[test]
    fn bound_claims_strings_lists_globs_and_pointers() {
        let c = obj(json!({
            "groups": ["dev", "ops"], "env": "prod-eu", "n": 7,
            "nested": {"team": {"name": "core"}}, "a/b": "slash"
        }));
        let b = |v: Value, g: bool| check_bound_claims(&obj(v), g, &c);
        assert!(b(json!({"groups": "ops"}), false).is_ok());
        assert!(b(json!({"groups": ["x", "dev"]}), false).is_ok());
        assert!(b(json!({"groups": "admin"}), false).is_err());
        assert!(
            b(json!({"env": "prod-*"}), false).is_err(),
            "no glob unless asked"
        );
        assert!(b(json!({"env": "prod-*"}), true).is_ok());
        assert!(b(json!({"n": "7"}), false).is_ok());
        assert!(b(json!({"/nested/team/name": "core"}), false).is_ok());
        assert!(b(json!({"/nested/team/name": "edge"}), false).is_err());
        assert!(b(json!({"/a~1b": "slash"}), false).is_ok());
        assert!(
            b(json!({"missing": "x"}), false)
                .unwrap_err()
                .contains("missing")
        );
        assert!(b(json!({"/nested/nope/x": "x"}), false).is_err());
    }

    #[test]
    fn user_groups_and_mappings() {
        let c =
            obj(json!({"sub": "alice", "n": 1, "g": ["a", "", "b"], "o": {"k": "v"}, "bad": [1]}));
        assert_eq!(user_name(&c, "sub", false).unwrap(), "alice");
        assert!(user_name(&c, "n", false).is_err());
        assert!(user_name(&c, "none", false).is_err());
        assert!(
            user_name(&c, "/o/k", false).is_err(),
            "no pointer unless asked"
        );
        assert_eq!(user_name(&c, "/o/k", true).unwrap(), "v");
        assert_eq!(groups(&c, "g").unwrap(), vec!["a", "b"]);
        assert!(groups(&c, "bad").is_err());
        assert!(groups(&c, "nope").is_err());
        let m: BTreeMap<String, String> = [
            ("n".to_string(), "num".to_string()),
            ("/o/k".into(), "kk".into()),
            ("zz".into(), "z".into()),
        ]
        .into_iter()
        .collect();
        let md = mapped_metadata(&c, &m).unwrap();
        assert_eq!(md.get("num").map(String::as_str), Some("1"));
        assert_eq!(md.get("kk").map(String::as_str), Some("v"));
        assert!(!md.contains_key("z"));
        let bad: BTreeMap<String, String> =
            [("g".to_string(), "g".to_string())].into_iter().collect();
        assert!(mapped_metadata(&c, &bad).is_err());
    }
}

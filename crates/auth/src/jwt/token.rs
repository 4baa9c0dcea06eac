//! The compact form of a signed JWT (`header.payload.signature`, base64url), parsed with
//! bounds: the whole token at most [`MAX_JWT_BYTES`], its claims at most [`MAX_CLAIM_DEPTH`]
//! deep. Nothing here checks the signature or the claims; it only takes the token apart. Pure.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// Longest token accepted.
pub const MAX_JWT_BYTES: usize = 64 * 1024;
/// Deepest nesting of arrays and objects accepted in the header or the claims.
pub const MAX_CLAIM_DEPTH: usize = 32;

/// Why a token could not be taken apart.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Longer than [`MAX_JWT_BYTES`].
    #[error("token is longer than {MAX_JWT_BYTES} bytes")]
    TooLong,
    /// Not three dot-separated base64url parts.
    #[error("token is not a compact JWS (header.payload.signature)")]
    Shape,
    /// A part is not base64url.
    #[error("token {0} is not base64url")]
    Base64(&'static str),
    /// The header or claims are not a JSON object.
    #[error("token {0} is not a JSON object")]
    Json(&'static str),
    /// Nested deeper than [`MAX_CLAIM_DEPTH`].
    #[error("token {0} is nested too deeply")]
    Depth(&'static str),
    /// The header names no algorithm, or one this server does not verify.
    #[error("unsupported signing algorithm {0:?}")]
    Alg(String),
    /// The header asks for extensions (`crit`) this server does not know.
    #[error("token has critical header extensions, which are not supported")]
    Crit,
}

/// The signing algorithms verified.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    RS384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    RS512,
    /// RSASSA-PSS with SHA-256.
    PS256,
    /// RSASSA-PSS with SHA-384.
    PS384,
    /// RSASSA-PSS with SHA-512.
    PS512,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// ECDSA P-384 with SHA-384.
    ES384,
    /// Ed25519.
    EdDSA,
}

impl Alg {
    /// Every supported algorithm (the default of `jwt_supported_algs`).
    pub const ALL: [Alg; 9] = [
        Alg::RS256,
        Alg::RS384,
        Alg::RS512,
        Alg::PS256,
        Alg::PS384,
        Alg::PS512,
        Alg::ES256,
        Alg::ES384,
        Alg::EdDSA,
    ];

    /// The JOSE name.
    pub fn name(self) -> &'static str {
        match self {
            Alg::RS256 => "RS256",
            Alg::RS384 => "RS384",
            Alg::RS512 => "RS512",
            Alg::PS256 => "PS256",
            Alg::PS384 => "PS384",
            Alg::PS512 => "PS512",
            Alg::ES256 => "ES256",
            Alg::ES384 => "ES384",
            Alg::EdDSA => "EdDSA",
        }
    }

    /// The algorithm of a JOSE name.
    pub fn from_name(name: &str) -> Option<Alg> {
        Alg::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// A token taken apart.
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The header's algorithm.
    pub alg: Alg,
    /// The header's key id, if any.
    pub kid: Option<String>,
    /// The claims.
    pub claims: Map<String, Value>,
    /// What the signature covers (`header.payload` as sent).
    pub signing_input: Vec<u8>,
    /// The signature bytes.
    pub signature: Vec<u8>,
}

/// Depth of nested arrays and objects (a scalar is 0), stopping once past `limit`.
pub fn depth(v: &Value, limit: usize) -> usize {
    // Iterative, so a hostile document cannot exhaust the stack here.
    let mut deepest = 0;
    let mut stack: Vec<(&Value, usize)> = vec![(v, 0)];
    while let Some((v, d)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match v {
            Value::Array(a) => Box::new(a.iter()),
            Value::Object(o) => Box::new(o.values()),
            _ => continue,
        };
        let d = d + 1;
        deepest = deepest.max(d);
        if deepest > limit {
            return deepest;
        }
        stack.extend(children.map(|c| (c, d)));
    }
    deepest
}

fn decode_part(part: &str, what: &'static str) -> Result<Vec<u8>, TokenError> {
    // Some issuers pad; the padding carries nothing.
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| TokenError::Base64(what))
}

fn json_object(bytes: &[u8], what: &'static str) -> Result<Map<String, Value>, TokenError> {
    let v: Value = serde_json::from_slice(bytes).map_err(|_| TokenError::Json(what))?;
    if depth(&v, MAX_CLAIM_DEPTH) > MAX_CLAIM_DEPTH {
        return Err(TokenError::Depth(what));
    }
    match v {
        Value::Object(m) => Ok(m),
        _ => Err(TokenError::Json(what)),
    }
}

/// Takes a compact JWS apart.
pub fn parse(token: &str) -> Result<Parsed, TokenError> {
    let token = token.trim();
    if token.len() > MAX_JWT_BYTES {
        return Err(TokenError::TooLong);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Shape);
    };
    if h.is_empty() || p.is_empty() || s.is_empty() {
        return Err(TokenError::Shape);
    }
    let header = json_object(&decode_part(h, "header")?, "header")?;
    let claims = json_object(&decode_part(p, "payload")?, "payload")?;
    let signature = decode_part(s, "signature")?;
    if header.contains_key("crit") {
        return Err(TokenError::Crit);
    }
    let alg_name = header.get("alg").and_then(Value::as_str).unwrap_or("");
    let alg = Alg::from_name(alg_name).ok_or_else(|| TokenError::Alg(alg_name.to_owned()))?;
    let kid = header.get("kid").and_then(Value::as_str).map(str::to_owned);
    Ok(Parsed {
        alg,
        kid,
        claims,
        signing_input: format!("{h}.{p}").into_bytes(),
        signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn b64(v: &Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn well_formed_tokens_come_apart() {
        let t = format!(
            "{}.{}.{}",
            b64(&json!({"alg": "ES256", "kid": "k1", "typ": "JWT"})),
            b64(&json!({"sub": "alice", "n": {"a": [1, 2]}})),
            URL_SAFE_NO_PAD.encode([1u8, 2, 3])
        );
        let p = parse(&t).expect("parses");
        assert_eq!(p.alg, Alg::ES256);
        assert_eq!(p.kid.as_deref(), Some("k1"));
        assert_eq!(p.claims["sub"], "alice");
        assert_eq!(p.signature, vec![1, 2, 3]);
        assert!(t.starts_with(std::str::from_utf8(&p.signing_input).expect("ascii")));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        let h = b64(&json!({"alg": "RS256"}));
        let c = b64(&json!({"sub": "x"}));
        assert_eq!(parse("a.b").err(), Some(TokenError::Shape));
        assert_eq!(
            parse(&format!("{h}.{c}.s.x")).err(),
            Some(TokenError::Shape)
        );
        assert_eq!(parse(&format!("{h}.{c}.")).err(), Some(TokenError::Shape));
        assert_eq!(
            parse(&format!("{h}.{c}.!!")).err(),
            Some(TokenError::Base64("signature"))
        );
        let none = b64(&json!({"alg": "none"}));
        assert!(matches!(
            parse(&format!("{none}.{c}.AA")),
            Err(TokenError::Alg(_))
        ));
        let hs = b64(&json!({"alg": "HS256"}));
        assert!(matches!(
            parse(&format!("{hs}.{c}.AA")),
            Err(TokenError::Alg(_))
        ));
        let crit = b64(&json!({"alg": "RS256", "crit": ["b64"]}));
        assert_eq!(
            parse(&format!("{crit}.{c}.AA")).err(),
            Some(TokenError::Crit)
        );
        let arr = b64(&json!([1]));
        assert_eq!(
            parse(&format!("{h}.{arr}.AA")).err(),
            Some(TokenError::Json("payload"))
        );
        let long = "a".repeat(MAX_JWT_BYTES + 1);
        assert_eq!(parse(&long).err(), Some(TokenError::TooLong));
        let mut deep = json!("x");
        for _ in 0..(MAX_CLAIM_DEPTH + 1) {
            deep = json!({ "d": deep });
        }
        assert_eq!(
            parse(&format!("{h}.{}.AA", b64(&deep))).err(),
            Some(TokenError::Depth("payload"))
        );
    }

    #[test]
    fn depth_counts_nesting() {
        assert_eq!(depth(&json!(1), 10), 0);
        assert_eq!(depth(&json!({"a": [1, {"b": 2}]}), 10), 3);
    }

    proptest! {
        #![proptest_config(tresor_testkit::props::seeded_config(512))]
        /// Garbage never panics, and anything accepted names a supported algorithm.
        #[test]
        fn garbage_never_panics(s in ".{0,300}") {
            if let Ok(p) = parse(&s) {
                prop_assert!(Alg::ALL.contains(&p.alg));
            }
        }

        /// Valid headers with garbage payloads and signatures never panic.
        #[test]
        fn mangled_tokens_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..200),
                                      sig in "[A-Za-z0-9_=-]{0,80}") {
            let h = b64(&json!({"alg": "RS256"}));
            let t = format!("{h}.{}.{sig}", URL_SAFE_NO_PAD.encode(&payload));
            let _ = parse(&t);
        }
    }
}

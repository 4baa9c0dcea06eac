//! Key-less helpers: `random[/<source>][/<bytes>]` and `hash[/<algorithm>]`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value, json};
use tresor_sdk::{LogicalError, Request, Response, fields};

use super::batch::b64_field;
use super::cipher::random_secret;
use super::hashalg::{DIGEST_NAMES, HashAlg};

/// The most random bytes one request may ask for (128 KiB).
const MAX_RANDOM_BYTES: u64 = 128 * 1024;

/// Output encodings of `random` and `hash`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    Base64,
    Hex,
}

impl Format {
    fn parse(data: &Map<String, Value>, default: Format) -> Result<Format, LogicalError> {
        match fields::get_str(data, "format")?.as_deref() {
            None | Some("") => Ok(default),
            Some("base64") => Ok(Format::Base64),
            Some("hex") => Ok(Format::Hex),
            Some(other) => Err(LogicalError::invalid(format!(
                "unsupported encoding format {other:?}: use base64 or hex"
            ))),
        }
    }

    fn encode(self, bytes: &[u8]) -> String {
        match self {
            Format::Base64 => STANDARD.encode(bytes),
            Format::Hex => hex::encode(bytes),
        }
    }
}

/// The byte count of a `random` request: from the path (`random/32`, `random/all/32`), else
/// the `bytes` field, else 32. A source segment (`platform`, `seal`, `all`) is accepted; every
/// source reads the operating system's generator.
fn random_len(rest: &str, data: &Map<String, Value>) -> Result<u64, LogicalError> {
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let (source, count) = match segments.as_slice() {
        [] => (None, None),
        [one] if one.bytes().all(|b| b.is_ascii_digit()) => (None, Some(*one)),
        [one] => (Some(*one), None),
        [source, count] => (Some(*source), Some(*count)),
        _ => return Err(LogicalError::UnsupportedPath),
    };
    if let Some(s) = source
        && !matches!(s, "platform" | "seal" | "all")
    {
        return Err(LogicalError::invalid(format!(
            "unsupported random source {s:?}: use platform, seal or all"
        )));
    }
    let n = match count {
        Some(c) => c
            .parse::<u64>()
            .map_err(|_| LogicalError::invalid(format!("invalid byte count {c:?}")))?,
        None => fields::get_u64(data, "bytes")?.unwrap_or(32),
    };
    if n == 0 || n > MAX_RANDOM_BYTES {
        return Err(LogicalError::invalid(format!(
            "bytes must be between 1 and {MAX_RANDOM_BYTES}"
        )));
    }
    Ok(n)
}

/// `POST random[/<source>][/<bytes>]`: `{"random_bytes": ...}` in `format` (base64 default).
pub(super) fn random(req: &Request, rest: &str) -> Result<Option<Response>, LogicalError> {
    let n = random_len(rest, &req.data)?;
    let format = Format::parse(&req.data, Format::Base64)?;
    let len = usize::try_from(n).map_err(|_| LogicalError::invalid("too many bytes"))?;
    let bytes = random_secret(len);
    Ok(Some(Response::json(
        json!({ "random_bytes": format.encode(&bytes) }),
    )))
}

/// The digest of `input` under `algorithm`.
fn digest(algorithm: &str, input: &[u8]) -> Result<Vec<u8>, LogicalError> {
    let alg = HashAlg::parse_digest(algorithm).ok_or_else(|| {
        LogicalError::invalid(format!(
            "unsupported hash algorithm {algorithm:?}: use one of {DIGEST_NAMES}"
        ))
    })?;
    Ok(alg.digest(input))
}

/// `POST hash[/<algorithm>]`: `{"sum": ...}` of the base64 `input`, hex by default.
pub(super) fn hash(req: &Request, path_alg: &str) -> Result<Option<Response>, LogicalError> {
    let algorithm = if path_alg.is_empty() {
        fields::get_str(&req.data, "algorithm")?
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| "sha2-256".to_owned())
    } else {
        path_alg.to_owned()
    };
    let input = b64_field(&req.data, "input")?
        .ok_or_else(|| LogicalError::invalid("missing input to hash"))?;
    let format = Format::parse(&req.data, Format::Hex)?;
    let sum = digest(&algorithm, &input)?;
    Ok(Some(Response::json(json!({ "sum": format.encode(&sum) }))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn random_lengths() {
        let empty = Map::new();
        assert_eq!(random_len("", &empty).unwrap(), 32);
        assert_eq!(random_len("16", &empty).unwrap(), 16);
        assert_eq!(random_len("all/64", &empty).unwrap(), 64);
        assert_eq!(
            random_len("platform", &obj(json!({"bytes": "8"}))).unwrap(),
            8
        );
        assert_eq!(random_len("", &obj(json!({"bytes": 12}))).unwrap(), 12);
        assert!(random_len("0", &empty).is_err());
        assert!(random_len("999999", &empty).is_err());
        assert!(random_len("hsm/8", &empty).is_err());
        assert!(random_len("all/x", &empty).is_err());
    }

    #[test]
    fn digests_match_known_vectors() {
        // SHA-256("abc") and SHA-224("abc") from FIPS 180-2.
        assert_eq!(
            hex::encode(digest("sha2-256", b"abc").unwrap()),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex::encode(digest("sha2-224", b"abc").unwrap()),
            "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"
        );
        assert_eq!(digest("sha2-384", b"").unwrap().len(), 48);
        assert_eq!(digest("sha2-512", b"").unwrap().len(), 64);
        assert_eq!(digest("sha3-512", b"").unwrap().len(), 64);
        assert!(digest("md5", b"").is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(
            Format::parse(&Map::new(), Format::Hex).unwrap(),
            Format::Hex
        );
        assert_eq!(
            Format::parse(&obj(json!({"format": "base64"})), Format::Hex).unwrap(),
            Format::Base64
        );
        assert!(Format::parse(&obj(json!({"format": "bin"})), Format::Hex).is_err());
        assert_eq!(Format::Hex.encode(&[0xab, 0x01]), "ab01");
        assert_eq!(Format::Base64.encode(b"hi"), "aGk=");
    }
}

//! The transit ciphertext string: `vault:v<version>:<base64(nonce || ciphertext || tag)>`.
//!
//! The `vault:` prefix is kept so clients written for Vault (and Vault's transit seal) accept
//! Tresor's ciphertexts unchanged.

use base64::Engine as _;
use base64::engine::GeneralPurpose;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

/// The fixed prefix of every ciphertext.
const PREFIX: &str = "vault:v";

/// A parsed ciphertext: the key version it names and the sealed bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Ciphertext {
    /// The key version that sealed it (1 or more).
    pub(crate) version: u64,
    /// `nonce || ciphertext || tag`.
    pub(crate) blob: Vec<u8>,
}

/// Formats `blob` sealed under key `version`.
pub(crate) fn format(version: u64, blob: &[u8]) -> String {
    format!("{PREFIX}{version}:{}", STANDARD.encode(blob))
}

/// Parses a ciphertext string; the error says what is wrong with it.
pub(crate) fn parse(text: &str) -> Result<Ciphertext, String> {
    parse_as(text, "ciphertext")
}

/// Parses a versioned value of the same shape (`vault:v<N>:<base64>`: a ciphertext, a
/// signature, an HMAC); `what` names it in the error.
pub(crate) fn parse_as(text: &str, what: &str) -> Result<Ciphertext, String> {
    parse_with(text, what, &STANDARD)
}

/// Formats `blob` under key `version` in unpadded URL-safe base64 (JWS-marshaled signatures).
pub(crate) fn format_url(version: u64, blob: &[u8]) -> String {
    format!("{PREFIX}{version}:{}", URL_SAFE_NO_PAD.encode(blob))
}

/// Parses what [`format_url`] makes.
pub(crate) fn parse_url_as(text: &str, what: &str) -> Result<Ciphertext, String> {
    parse_with(text, what, &URL_SAFE_NO_PAD)
}

fn parse_with(text: &str, what: &str, engine: &GeneralPurpose) -> Result<Ciphertext, String> {
    let rest = text
        .trim()
        .strip_prefix(PREFIX)
        .ok_or_else(|| format!("invalid {what}: no prefix"))?;
    let (version, body) = rest
        .split_once(':')
        .ok_or_else(|| format!("invalid {what}: wrong number of fields"))?;
    let version: u64 = version
        .parse()
        .map_err(|_| format!("invalid {what}: could not parse the key version"))?;
    if version == 0 {
        return Err(format!("invalid {what}: key version 0 does not exist"));
    }
    let blob = engine
        .decode(body)
        .map_err(|_| format!("invalid {what}: could not decode the base64 payload"))?;
    Ok(Ciphertext { version, blob })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let text = format(3, &[0, 1, 2, 250]);
        assert_eq!(text, "vault:v3:AAEC+g==");
        assert_eq!(
            parse(&text).unwrap(),
            Ciphertext {
                version: 3,
                blob: vec![0, 1, 2, 250]
            }
        );
        assert_eq!(parse("vault:v12:AAEC+g==").unwrap().version, 12);
        let url = format_url(2, &[0xfb, 0xff]);
        assert_eq!(url, "vault:v2:-_8");
        assert_eq!(
            parse_url_as(&url, "signature").unwrap().blob,
            vec![0xfb, 0xff]
        );
        assert!(parse(&url).is_err());
    }

    #[test]
    fn malformed_inputs_are_refused_with_reasons() {
        let cases = [
            ("AAEC+g==", "no prefix"),
            ("vault:1:AAEC", "no prefix"),
            ("vault:v1", "wrong number of fields"),
            ("vault:vX:AAEC", "key version"),
            ("vault:v-1:AAEC", "key version"),
            ("vault:v0:AAEC", "version 0"),
            ("vault:v1:not base64!", "base64"),
        ];
        for (input, want) in cases {
            let err = parse(input).unwrap_err();
            assert!(err.contains(want), "{input}: {err}");
            assert!(err.starts_with("invalid ciphertext"), "{err}");
            let err = parse_as(input, "signature").unwrap_err();
            assert!(err.starts_with("invalid signature"), "{err}");
        }
    }
}

//! The wrapped-key formats: the transit ciphertext string (`vault:v<N>:<base64>`) stored as the
//! wrapped key's ciphertext, and the key id `<key_name>:v<N>` recorded next to it.

/// The prefix of every transit ciphertext, up to the version number.
const PREFIX: &str = "vault:v";

/// The key version a transit ciphertext names, or `None` if `text` is not a well-formed
/// ciphertext (prefix, a version of 1 or more, a non-empty base64 body).
pub(crate) fn ciphertext_version(text: &str) -> Option<u64> {
    let rest = text.strip_prefix(PREFIX)?;
    let (version, body) = rest.split_once(':')?;
    let version = parse_version(version)?;
    let base64_char = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
    if body.is_empty() || !body.bytes().all(base64_char) {
        return None;
    }
    Some(version)
}

/// The key id of a ciphertext made with version `version` of key `key_name`.
pub(crate) fn key_id(key_name: &str, version: u64) -> String {
    format!("{key_name}:v{version}")
}

/// Splits a key id into the key name and version.
pub(crate) fn parse_key_id(key_id: &str) -> Option<(&str, u64)> {
    let (name, version) = key_id.rsplit_once(":v")?;
    if name.is_empty() {
        return None;
    }
    Some((name, parse_version(version)?))
}

fn parse_version(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|v| *v > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_ciphertexts() {
        assert_eq!(ciphertext_version("vault:v1:AAEC+g=="), Some(1));
        assert_eq!(ciphertext_version("vault:v42:n9aUxoew/E7T"), Some(42));
        for bad in [
            "",
            "vault:v1:",
            "vault:v0:AAAA",
            "vault:v:AAAA",
            "vault:v-1:AAAA",
            "vault:v+1:AAAA",
            "vault:vX:AAAA",
            "vault:v1",
            "wault:v1:AAAA",
            "vault:v1:AA AA",
            "vault:v1:AA:AA",
        ] {
            assert_eq!(ciphertext_version(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn key_ids_round_trip() {
        let id = key_id("autounseal", 3);
        assert_eq!(id, "autounseal:v3");
        assert_eq!(parse_key_id(&id), Some(("autounseal", 3)));
        assert_eq!(parse_key_id("my.key-1:v12"), Some(("my.key-1", 12)));
        for bad in ["", "k", "k:v", "k:v0", ":v1", "k:1", "k:vx"] {
            assert_eq!(parse_key_id(bad), None, "{bad:?}");
        }
    }
}

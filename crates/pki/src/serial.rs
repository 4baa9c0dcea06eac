//! Certificate serial numbers as Vault writes them: lowercase hex byte pairs joined by `:`
//! (`1f:0a:...`); storage keys use `-` instead of `:`.

use rand::RngCore;

/// The number of bytes of a fresh serial (RFC 5280's maximum).
pub(crate) const SERIAL_LEN: usize = 20;

/// A fresh random serial: 20 bytes, positive, with no leading zero byte, so its DER INTEGER
/// is exactly these 20 bytes.
pub(crate) fn random() -> Vec<u8> {
    let mut b = vec![0u8; SERIAL_LEN];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b[0] = (b[0] & 0x7f) | 0x40;
    b
}

/// `1f:0a:...` for `bytes`.
pub(crate) fn format(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The storage form (`1f-0a-...`) of `bytes`.
pub(crate) fn storage_key(bytes: &[u8]) -> String {
    format(bytes).replace(':', "-")
}

/// Reads a serial written with `:` or `-` between byte pairs (either case); at most 32 bytes.
pub(crate) fn parse(text: &str) -> Result<Vec<u8>, String> {
    let bad = || format!("invalid serial number {:?}", truncate(text));
    let text = text.trim();
    if text.is_empty() || text.len() > 32 * 3 {
        return Err(bad());
    }
    text.split([':', '-'])
        .map(|pair| {
            if pair.len() == 2 {
                u8::from_str_radix(pair, 16).map_err(|_| bad())
            } else {
                Err(bad())
            }
        })
        .collect()
}

/// At most 64 characters of `text`, for error messages.
fn truncate(text: &str) -> String {
    text.chars().take(64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        assert_eq!(format(&[0x1f, 0x0a]), "1f:0a");
        assert_eq!(parse("1F-0a").ok(), Some(vec![0x1f, 0x0a]));
        assert_eq!(storage_key(&[1, 2]), "01-02");
        for bad in ["", "1", "1f:", "zz", "1f:0a0", &"ab:".repeat(40)] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn random_serials_are_positive_twenty_bytes() {
        for _ in 0..32 {
            let s = random();
            assert_eq!(s.len(), SERIAL_LEN);
            assert!(s[0] >= 0x40 && s[0] < 0x80);
        }
    }
}

//! Root-token generation helpers: one-time pads and decoding the encoded root token
//! (`base64(token XOR otp)`, unpadded standard alphabet).

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use rand::Rng as _;
use zeroize::Zeroizing;

const BASE62: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// A random base62 one-time pad of `len` characters.
pub(crate) fn generate(len: usize) -> String {
    let mut rng = rand::rngs::OsRng;
    (0..len)
        .map(|_| char::from(BASE62[rng.gen_range(0..BASE62.len())]))
        .collect()
}

/// Decodes an encoded root token with its one-time pad.
pub(crate) fn decode(encoded: &str, otp: &str) -> Result<Zeroizing<String>, String> {
    let encoded = encoded.trim();
    let bytes = Zeroizing::new(
        STANDARD_NO_PAD
            .decode(encoded)
            .or_else(|_| STANDARD.decode(encoded))
            .map_err(|e| format!("error decoding base64'd token: {e}"))?,
    );
    let pad = otp.trim().as_bytes();
    if bytes.len() != pad.len() {
        return Err(format!(
            "length of the OTP ({}) does not match the encoded token ({})",
            pad.len(),
            bytes.len()
        ));
    }
    let plain: Vec<u8> = bytes.iter().zip(pad).map(|(a, b)| a ^ b).collect();
    String::from_utf8(plain)
        .map(Zeroizing::new)
        .map_err(|_| "decoded token is not valid UTF-8 (wrong OTP?)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(token: &str, otp: &str) -> String {
        let x: Vec<u8> = token.bytes().zip(otp.bytes()).map(|(a, b)| a ^ b).collect();
        STANDARD_NO_PAD.encode(x)
    }

    #[test]
    fn round_trip_and_errors() {
        let otp = generate(28);
        assert_eq!(otp.len(), 28);
        assert!(otp.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(otp, generate(28));
        let token = "hvs.ABCDEFGHIJKLMNOPQRSTUVWX";
        let enc = encode(token, &otp);
        assert_eq!(decode(&enc, &otp).unwrap().as_str(), token);
        assert!(decode(&enc, &otp[..20]).is_err());
        assert!(decode("!!!", &otp).is_err());
    }
}

//! The self-describing ciphertext of a wrapped key (pure encoding and decoding).
//!
//! Layout, version 1 (lengths big-endian):
//!
//! ```text
//! version (1 byte, = 1)
//! key reference length (u16) | key reference (UTF-8): kms_key_id as configured when wrapping
//! data key length (u16)      | data key encrypted by KMS (the KMS CiphertextBlob)
//! nonce (12) | AES-256-GCM ciphertext | tag (16)   (tresor_crypto::aead under the data key)
//! ```
//!
//! The AES-GCM associated data is a domain label, the KMS key ARN recorded in the
//! `WrappedKey` and every header byte before the nonce, so neither the recorded key id nor the
//! key reference can be changed without the unwrap failing.

use std::borrow::Cow;

/// The only format version written.
const VERSION: u8 = 1;
/// Domain separation for the associated data.
const AAD_LABEL: &[u8] = b"tresor/seal/awskms/v1\0";

/// A parsed ciphertext blob, borrowing from the stored bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Envelope<'a> {
    /// `kms_key_id` as configured when the key was wrapped.
    pub(crate) key_ref: Cow<'a, str>,
    /// The data key as encrypted by KMS.
    pub(crate) encrypted_data_key: &'a [u8],
    /// `tresor_crypto::aead` output under the data key.
    pub(crate) sealed: &'a [u8],
    header_len: usize,
}

/// Why a blob did not parse. Never shown to users beyond "authentication failed".
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BadBlob;

impl<'a> Envelope<'a> {
    /// Parses `bytes`.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, BadBlob> {
        let (&version, rest) = bytes.split_first().ok_or(BadBlob)?;
        if version != VERSION {
            return Err(BadBlob);
        }
        let (key_ref, rest) = take_prefixed(rest)?;
        let key_ref = std::str::from_utf8(key_ref).map_err(|_| BadBlob)?;
        let (encrypted_data_key, sealed) = take_prefixed(rest)?;
        if key_ref.is_empty()
            || encrypted_data_key.is_empty()
            || sealed.len() < tresor_crypto::aead::OVERHEAD
        {
            return Err(BadBlob);
        }
        Ok(Envelope {
            key_ref: Cow::Borrowed(key_ref),
            encrypted_data_key,
            sealed,
            header_len: bytes.len() - sealed.len(),
        })
    }

    /// The header bytes (everything before the AES-GCM part) for a new blob.
    pub(crate) fn header(key_ref: &str, encrypted_data_key: &[u8]) -> Result<Vec<u8>, BadBlob> {
        let ref_len = u16::try_from(key_ref.len()).map_err(|_| BadBlob)?;
        let key_len = u16::try_from(encrypted_data_key.len()).map_err(|_| BadBlob)?;
        let mut out = Vec::with_capacity(5 + key_ref.len() + encrypted_data_key.len());
        out.push(VERSION);
        out.extend_from_slice(&ref_len.to_be_bytes());
        out.extend_from_slice(key_ref.as_bytes());
        out.extend_from_slice(&key_len.to_be_bytes());
        out.extend_from_slice(encrypted_data_key);
        Ok(out)
    }

    /// The header of this parsed blob, as stored.
    pub(crate) fn header_of(&self, bytes: &'a [u8]) -> &'a [u8] {
        &bytes[..self.header_len.min(bytes.len())]
    }
}

/// The associated data binding `header` and the recorded KMS key ARN.
pub(crate) fn associated_data(key_arn: &str, header: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(AAD_LABEL.len() + 8 + key_arn.len() + header.len());
    aad.extend_from_slice(AAD_LABEL);
    aad.extend_from_slice(&(key_arn.len() as u64).to_be_bytes());
    aad.extend_from_slice(key_arn.as_bytes());
    aad.extend_from_slice(header);
    aad
}

fn take_prefixed(bytes: &[u8]) -> Result<(&[u8], &[u8]), BadBlob> {
    let (len, rest) = bytes.split_first_chunk::<2>().ok_or(BadBlob)?;
    let len = usize::from(u16::from_be_bytes(*len));
    if rest.len() < len {
        return Err(BadBlob);
    }
    Ok(rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(key_ref: &str, edk: &[u8], sealed: &[u8]) -> Vec<u8> {
        let mut b = Envelope::header(key_ref, edk).unwrap();
        b.extend_from_slice(sealed);
        b
    }

    #[test]
    fn round_trip() {
        let sealed = [7u8; 40];
        let bytes = blob("alias/tresor", b"edk-bytes", &sealed);
        let env = Envelope::parse(&bytes).unwrap();
        assert_eq!(env.key_ref, "alias/tresor");
        assert_eq!(env.encrypted_data_key, b"edk-bytes");
        assert_eq!(env.sealed, &sealed[..]);
        assert_eq!(
            env.header_of(&bytes),
            &Envelope::header("alias/tresor", b"edk-bytes").unwrap()[..]
        );
    }

    #[test]
    fn damaged_blobs_are_refused() {
        let bytes = blob("alias/tresor", b"edk", &[0u8; 28]);
        assert_eq!(Envelope::parse(&[]), Err(BadBlob));
        let mut wrong_version = bytes.clone();
        wrong_version[0] = 2;
        assert_eq!(Envelope::parse(&wrong_version), Err(BadBlob));
        // Every truncation fails: a length runs past the end, or the AEAD part is too short.
        for n in 0..bytes.len() {
            assert_eq!(
                Envelope::parse(&bytes[..n]),
                Err(BadBlob),
                "truncated to {n}"
            );
        }
        // A key reference that is not UTF-8.
        let mut not_utf8 = bytes.clone();
        not_utf8[3] = 0xff;
        assert_eq!(Envelope::parse(&not_utf8), Err(BadBlob));
        // Empty fields.
        assert_eq!(Envelope::parse(&blob("", b"edk", &[0; 28])), Err(BadBlob));
        assert_eq!(Envelope::parse(&blob("k", b"", &[0; 28])), Err(BadBlob));
    }

    #[test]
    fn oversized_fields_cannot_be_encoded() {
        let long = "a".repeat(usize::from(u16::MAX) + 1);
        assert_eq!(Envelope::header(&long, b"edk"), Err(BadBlob));
    }

    #[test]
    fn associated_data_separates_arn_and_header() {
        let a = associated_data("arn:a", b"hdr");
        assert_ne!(a, associated_data("arn:b", b"hdr"));
        assert_ne!(a, associated_data("arn:a", b"hdx"));
        // The length prefix keeps "arn:a"+"Xhdr" apart from "arn:aX"+"hdr".
        assert_ne!(
            associated_data("arn:a", b"Xhdr"),
            associated_data("arn:aX", b"hdr")
        );
    }
}

//! Shamir secret sharing over GF(2^8).
//!
//! Every byte of the secret is the constant term of its own random polynomial of degree
//! `threshold - 1`. A share holds that polynomial's value for every byte, followed by a single
//! byte with the x-coordinate at which all of them were evaluated, so a share is one byte longer
//! than the secret. X-coordinates are distinct, non-zero and drawn at random.
//!
//! Limits: `1 <= threshold <= parts <= 255`, and a threshold of one is only allowed together
//! with a single part (one share that anybody can use would make splitting pointless).

use rand::rngs::OsRng;
use rand::seq::SliceRandom;
use rand::{CryptoRng, Rng, RngCore};
use zeroize::Zeroizing;

use crate::CryptoError;
use crate::gf256;

/// Bytes a share adds to the secret (the x-coordinate).
pub const SHARE_OVERHEAD: usize = 1;

/// Splits `secret` into `parts` shares, any `threshold` of which recover it.
pub fn split(
    secret: &[u8],
    parts: u8,
    threshold: u8,
) -> Result<Vec<Zeroizing<Vec<u8>>>, CryptoError> {
    split_with_rng(secret, parts, threshold, &mut OsRng)
}

/// [`split`] with a caller-provided random source (tests use a seeded one).
pub(crate) fn split_with_rng<R: RngCore + CryptoRng>(
    secret: &[u8],
    parts: u8,
    threshold: u8,
    rng: &mut R,
) -> Result<Vec<Zeroizing<Vec<u8>>>, CryptoError> {
    check_params(secret.len(), parts, threshold)?;

    // Distinct non-zero x-coordinates in random order.
    let mut xs: Vec<u8> = (1..=255u8).collect();
    xs.shuffle(rng);
    xs.truncate(usize::from(parts));

    let mut shares: Vec<Zeroizing<Vec<u8>>> = xs
        .iter()
        .map(|_| Zeroizing::new(Vec::with_capacity(secret.len() + SHARE_OVERHEAD)))
        .collect();
    let mut coefficients = Zeroizing::new(vec![0u8; usize::from(threshold)]);
    for &byte in secret {
        coefficients[0] = byte;
        rng.fill(&mut coefficients[1..]);
        for (share, &x) in shares.iter_mut().zip(&xs) {
            share.push(evaluate(&coefficients, x));
        }
    }
    for (share, &x) in shares.iter_mut().zip(&xs) {
        share.push(x);
    }
    Ok(shares)
}

/// Recovers the secret from shares made by [`split`]. At least two shares are needed, except
/// for the one-part split whose single share is accepted alone. Giving fewer shares than the
/// split's threshold yields a wrong secret, not an error: shares carry no threshold.
pub fn combine(shares: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let Some(first) = shares.first() else {
        return Err(CryptoError::ShamirShares("no shares given"));
    };
    if first.len() <= SHARE_OVERHEAD {
        return Err(CryptoError::ShamirShares("shares are too short"));
    }
    if shares.iter().any(|s| s.len() != first.len()) {
        return Err(CryptoError::ShamirShares("shares have different lengths"));
    }
    if shares.len() > 255 {
        return Err(CryptoError::ShamirShares("more than 255 shares given"));
    }
    let secret_len = first.len() - SHARE_OVERHEAD;
    let xs: Vec<u8> = shares.iter().map(|s| s[secret_len]).collect();
    if xs.contains(&0) {
        return Err(CryptoError::ShamirShares("share has a zero x-coordinate"));
    }
    for (i, x) in xs.iter().enumerate() {
        if xs[i + 1..].contains(x) {
            return Err(CryptoError::ShamirShares("duplicate share given"));
        }
    }
    if shares.len() == 1 {
        // A one-part split stores the secret itself (a constant polynomial).
        return Ok(Zeroizing::new(first[..secret_len].to_vec()));
    }

    // Lagrange basis at x = 0: l_i = prod_{j != i} x_j / (x_j - x_i).
    let basis: Vec<u8> = xs
        .iter()
        .enumerate()
        .map(|(i, &xi)| {
            xs.iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .fold(1u8, |acc, (_, &xj)| {
                    gf256::mul(acc, gf256::div(xj, gf256::add(xj, xi)))
                })
        })
        .collect();

    let mut secret = Zeroizing::new(vec![0u8; secret_len]);
    for (k, out) in secret.iter_mut().enumerate() {
        *out = shares.iter().zip(&basis).fold(0u8, |acc, (share, &l)| {
            gf256::add(acc, gf256::mul(share[k], l))
        });
    }
    Ok(secret)
}

fn check_params(secret_len: usize, parts: u8, threshold: u8) -> Result<(), CryptoError> {
    if secret_len == 0 {
        return Err(CryptoError::ShamirParams("cannot split an empty secret"));
    }
    if threshold == 0 || parts == 0 {
        return Err(CryptoError::ShamirParams(
            "parts and threshold must be at least one",
        ));
    }
    if threshold > parts {
        return Err(CryptoError::ShamirParams(
            "threshold cannot be larger than parts",
        ));
    }
    if parts > 1 && threshold < 2 {
        return Err(CryptoError::ShamirParams(
            "threshold must be at least two when there are multiple parts",
        ));
    }
    Ok(())
}

/// Horner evaluation of the polynomial with `coefficients` (constant term first) at `x`.
fn evaluate(coefficients: &[u8], x: u8) -> u8 {
    coefficients
        .iter()
        .rev()
        .fold(0u8, |acc, &c| gf256::add(gf256::mul(acc, x), c))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn refs(shares: &[Zeroizing<Vec<u8>>]) -> Vec<&[u8]> {
        shares.iter().map(|s| s.as_slice()).collect()
    }

    #[test]
    fn shares_have_layout_and_distinct_nonzero_x() {
        let secret = [7u8; 32];
        let shares = split(&secret, 5, 3).unwrap();
        assert_eq!(shares.len(), 5);
        let mut xs: Vec<u8> = shares.iter().map(|s| s[32]).collect();
        assert!(shares.iter().all(|s| s.len() == 33));
        assert!(!xs.contains(&0));
        xs.sort_unstable();
        xs.dedup();
        assert_eq!(xs.len(), 5);
    }

    #[test]
    fn parameter_rules() {
        let s = b"secret";
        assert!(split(s, 0, 0).is_err());
        assert!(split(s, 3, 0).is_err());
        assert!(split(s, 2, 3).is_err());
        assert!(split(s, 3, 1).is_err(), "threshold one with many parts");
        assert!(split(&[], 3, 2).is_err());
        assert!(split(s, 255, 255).is_ok());
        assert!(split(s, 255, 2).is_ok());
        let single = split(s, 1, 1).unwrap();
        assert_eq!(single.len(), 1);
        assert_eq!(single[0].len(), s.len() + 1);
        assert_eq!(combine(&refs(&single)).unwrap().as_slice(), s);
    }

    #[test]
    fn combine_rejects_bad_share_sets() {
        let shares = split(b"0123456789abcdef", 5, 3).unwrap();
        assert!(combine(&[]).is_err());
        assert!(
            combine(&[&shares[0][..], &shares[0][..]]).is_err(),
            "duplicate"
        );
        assert!(
            combine(&[&shares[0][..], &shares[1][..15]]).is_err(),
            "length"
        );
        assert!(combine(&[&[1u8][..], &[2u8][..]]).is_err(), "too short");
        let mut zero_x = shares[1].to_vec();
        zero_x[16] = 0;
        assert!(combine(&[&shares[0][..], &zero_x[..]]).is_err(), "zero x");
    }

    /// Every subset of `k` shares for k >= threshold recovers the secret; every subset of
    /// fewer does not (the chance that it does by accident is 2^-8 per byte).
    #[test]
    fn property_threshold_subsets_recover_and_smaller_ones_do_not() {
        let seed: u64 = rand::random();
        let mut rng = StdRng::seed_from_u64(seed);
        for round in 0..40 {
            let parts: u8 = rng.gen_range(2..=8);
            let threshold: u8 = rng.gen_range(2..=parts);
            let len = rng.gen_range(16..=48);
            let mut secret = vec![0u8; len];
            rng.fill(&mut secret[..]);
            let shares = split_with_rng(&secret, parts, threshold, &mut rng).unwrap();
            for mask in 1u32..(1 << parts) {
                let subset: Vec<&[u8]> = (0..usize::from(parts))
                    .filter(|i| mask & (1 << i) != 0)
                    .map(|i| shares[i].as_slice())
                    .collect();
                let k = subset.len();
                let ctx = format!(
                    "seed {seed} round {round}: {k} of {parts} shares, threshold {threshold}"
                );
                if k >= usize::from(threshold) {
                    assert_eq!(combine(&subset).unwrap().as_slice(), &secret[..], "{ctx}");
                } else {
                    // A single share is accepted (one-part case) but is not the secret.
                    let got = combine(&subset).unwrap();
                    assert_ne!(got.as_slice(), &secret[..], "{ctx}");
                }
            }
        }
    }

    #[test]
    fn large_split_recovers_from_any_threshold_window() {
        let secret: Vec<u8> = (0..32).collect();
        let shares = split(&secret, 255, 200).unwrap();
        let picked: Vec<&[u8]> = shares[40..240].iter().map(|s| s.as_slice()).collect();
        assert_eq!(combine(&picked).unwrap().as_slice(), &secret[..]);
        let short: Vec<&[u8]> = shares[40..239].iter().map(|s| s.as_slice()).collect();
        assert_ne!(combine(&short).unwrap().as_slice(), &secret[..]);
    }
}

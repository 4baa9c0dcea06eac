//! Generated passwords: 20+ characters from the operating system's CSPRNG, alphanumerics
//! starting with a letter (the shape of Vault's default password policy that every database
//! accepts inside a quoted literal), wiped from memory when dropped.

use rand::Rng;
use zeroize::Zeroizing;

/// Length of generated passwords.
pub const PASSWORD_LEN: usize = 24;

/// A fresh random password.
pub fn generate() -> Zeroizing<String> {
    const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut rng = rand::rngs::OsRng;
    let mut out = Zeroizing::new(String::with_capacity(PASSWORD_LEN));
    out.push(LETTERS[rng.gen_range(0..LETTERS.len())] as char);
    let rest = crate::template::random_alnum(PASSWORD_LEN - 1);
    out.push_str(&rest);
    drop(Zeroizing::new(rest));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape() {
        let a = generate();
        let b = generate();
        assert_eq!(a.len(), PASSWORD_LEN);
        assert!(a.chars().next().is_some_and(|c| c.is_ascii_alphabetic()));
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(*a, *b);
    }
}

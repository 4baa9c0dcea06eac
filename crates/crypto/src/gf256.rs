//! Arithmetic in GF(2^8) with the reduction polynomial x^8 + x^4 + x^3 + x + 1 (0x11b).
//!
//! Multiplication is a fixed eight-round shift-and-add loop with masks instead of branches, and
//! inversion is exponentiation by a constant, so the time taken does not depend on the values.

/// Addition (and subtraction) is XOR.
pub(crate) fn add(a: u8, b: u8) -> u8 {
    a ^ b
}

/// Carry-less multiplication reduced modulo 0x11b, without data-dependent branches.
pub(crate) fn mul(a: u8, b: u8) -> u8 {
    let mut a = a;
    let mut b = b;
    let mut product = 0u8;
    for _ in 0..8 {
        // mask is 0xff when the low bit of b is set, else 0x00.
        let mask = 0u8.wrapping_sub(b & 1);
        product ^= a & mask;
        let carry = 0u8.wrapping_sub(a >> 7);
        a = (a << 1) ^ (0x1b & carry);
        b >>= 1;
    }
    product
}

/// Multiplicative inverse: a^254, since a^255 = 1 for every non-zero a. Maps 0 to 0.
pub(crate) fn inv(a: u8) -> u8 {
    // 254 = 0b1111_1110: square-and-multiply with a fixed exponent.
    let a2 = mul(a, a);
    let a4 = mul(a2, a2);
    let a8 = mul(a4, a4);
    let a16 = mul(a8, a8);
    let a32 = mul(a16, a16);
    let a64 = mul(a32, a32);
    let a128 = mul(a64, a64);
    mul(mul(mul(a128, a64), mul(a32, a16)), mul(mul(a8, a4), a2))
}

/// Division a / b; callers guarantee b != 0.
pub(crate) fn div(a: u8, b: u8) -> u8 {
    mul(a, inv(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference multiplication, written the obvious (branching) way.
    fn slow_mul(a: u8, b: u8) -> u8 {
        let mut acc: u16 = 0;
        for i in 0..8 {
            if b & (1 << i) != 0 {
                acc ^= u16::from(a) << i;
            }
        }
        for i in (8..16).rev() {
            if acc & (1 << i) != 0 {
                acc ^= 0x11b << (i - 8);
            }
        }
        acc as u8
    }

    #[test]
    fn known_products() {
        // Values from the AES specification (FIPS-197 §4.2).
        assert_eq!(mul(0x57, 0x83), 0xc1);
        assert_eq!(mul(0x57, 0x13), 0xfe);
        assert_eq!(mul(0x53, 0xca), 0x01);
    }

    #[test]
    fn mul_matches_reference_and_inverse_is_inverse() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                assert_eq!(mul(a, b), slow_mul(a, b), "{a} * {b}");
            }
            if a != 0 {
                assert_eq!(mul(a, inv(a)), 1, "inverse of {a}");
                assert_eq!(div(mul(a, 7), a), 7);
            }
        }
        assert_eq!(inv(0), 0);
        assert_eq!(add(0x57, 0x57), 0);
    }
}

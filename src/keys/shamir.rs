//! Shamir secret sharing over GF(2^8), byte-compatible with sops (a fork of HashiCorp Vault's).
//!
//! With more than one key group, sops does not wrap the data key itself: it splits it into one
//! share per group, any `shamir_threshold` of which rebuild it, and each group's keys wrap that
//! group's share. To read and write such files kvsops must produce and accept exactly sops's
//! shares:
//! - the field is GF(2^8) reduced by x^8 + x^4 + x^3 + x + 1 (0x11B, the AES field);
//! - one random polynomial of degree `threshold - 1` per secret byte, with the byte as its
//!   constant term;
//! - a share is `len(secret) + 1` bytes: the polynomial values, then the x coordinate as the
//!   **last** byte, and share `i` (group `i`, counted from 0) is evaluated at `x = i + 1`;
//! - combining is Lagrange interpolation at x = 0, byte by byte.
//!
//! The arithmetic has no tables and no branch on secret data (sops fixed a timing leak in 3.10):
//! multiplication masks instead of branching, and the inverse is a fixed chain of
//! multiplications computing a^254.

use rand::RngCore;
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// The most shares (and the highest threshold) one split can have: x coordinates are non-zero bytes.
pub const MAX_PARTS: usize = 255;

/// Multiplication in GF(2^8) modulo 0x11B, without data-dependent branches or table lookups.
fn mul(a: u8, b: u8) -> u8 {
    let mut acc: u8 = 0;
    for i in (0..8).rev() {
        // acc * x, reduced: if the top bit was set, fold in 0x1B.
        let reduce = (acc >> 7).wrapping_neg() & 0x1B;
        acc = (acc << 1) ^ reduce;
        // Add `a` when bit i of b is set.
        let bit = (b >> i) & 1;
        acc ^= bit.wrapping_neg() & a;
    }
    acc
}

/// The multiplicative inverse, a^254 (Fermat); 0 maps to 0, which callers never divide by.
fn inv(a: u8) -> u8 {
    let a2 = mul(a, a);
    let a3 = mul(a2, a);
    let a6 = mul(a3, a3);
    let a12 = mul(a6, a6);
    let a15 = mul(a12, a3);
    let a24 = mul(a12, a12);
    let a48 = mul(a24, a24);
    let a63 = mul(a48, a15);
    let a126 = mul(a63, a63);
    let a127 = mul(a126, a);
    mul(a127, a127)
}

/// Evaluates a polynomial (constant term first) at a public, non-zero `x` by Horner's rule.
fn evaluate(coefficients: &[u8], x: u8) -> u8 {
    coefficients.iter().rev().fold(0u8, |acc, c| mul(acc, x) ^ c)
}

/// The value at x = 0 of the polynomial through the points `(xs[i], ys[i])`; the xs are distinct.
fn interpolate_at_zero(xs: &[u8], ys: &[u8]) -> u8 {
    let mut result = 0u8;
    for (i, (&xi, &yi)) in xs.iter().zip(ys).enumerate() {
        let mut basis = 1u8;
        for (j, &xj) in xs.iter().enumerate() {
            if i != j {
                // (0 - xj) / (xi - xj); subtraction is XOR.
                basis = mul(basis, mul(xj, inv(xi ^ xj)));
            }
        }
        result ^= mul(yi, basis);
    }
    result
}

/// Splits `secret` into `parts` shares, any `threshold` of which rebuild it, in sops's layout
/// (y bytes, then x = share index + 1 as the last byte).
///
/// The threshold must be 2..=255, `parts` at least the threshold and at most 255, and the secret
/// non-empty.
pub fn split(secret: &[u8], parts: usize, threshold: usize) -> Result<Vec<Vec<u8>>> {
    if threshold < 2 {
        return Err(Error::Config(format!("the Shamir threshold must be at least 2 (got {threshold})")));
    }
    if threshold > MAX_PARTS {
        return Err(Error::Config(format!("the Shamir threshold cannot exceed {MAX_PARTS} (got {threshold})")));
    }
    if parts < threshold {
        return Err(Error::Config(format!(
            "the Shamir threshold ({threshold}) is higher than the number of key groups ({parts})"
        )));
    }
    if parts > MAX_PARTS {
        return Err(Error::Config(format!(
            "Shamir secret sharing supports at most {MAX_PARTS} key groups (got {parts})"
        )));
    }
    if secret.is_empty() {
        return Err(Error::Config("cannot split an empty secret".into()));
    }

    let mut shares: Vec<Vec<u8>> = (0..parts)
        .map(|i| {
            let mut share = vec![0u8; secret.len() + 1];
            share[secret.len()] = (i + 1) as u8;
            share
        })
        .collect();
    let mut coefficients = Zeroizing::new(vec![0u8; threshold]);
    for (idx, &byte) in secret.iter().enumerate() {
        coefficients[0] = byte;
        rand::rngs::OsRng.fill_bytes(&mut coefficients[1..]);
        for (i, share) in shares.iter_mut().enumerate() {
            share[idx] = evaluate(&coefficients, (i + 1) as u8);
        }
    }
    Ok(shares)
}

/// Rebuilds a secret from shares made by [`split`] (or by sops). At least two shares of equal
/// length are needed, with distinct x coordinates; with fewer than the threshold the result is
/// simply wrong, which the caller detects when the data key fails to authenticate.
pub fn combine(shares: &[&[u8]]) -> Result<Zeroizing<Vec<u8>>> {
    let fail = |m: &str| Error::DataKey(format!("cannot combine the Shamir key shares: {m}"));
    if shares.len() < 2 {
        return Err(fail("at least two shares are needed"));
    }
    let len = shares[0].len();
    if len < 2 {
        return Err(fail("a share must be at least two bytes long"));
    }
    if shares.iter().any(|s| s.len() != len) {
        return Err(fail("the shares have different lengths"));
    }
    let xs: Vec<u8> = shares.iter().map(|s| s[len - 1]).collect();
    for (i, x) in xs.iter().enumerate() {
        if xs[..i].contains(x) {
            return Err(fail("two shares have the same x coordinate (a duplicate share)"));
        }
    }
    let mut secret = Zeroizing::new(vec![0u8; len - 1]);
    let mut ys = Zeroizing::new(vec![0u8; shares.len()]);
    for (idx, out) in secret.iter_mut().enumerate() {
        for (y, share) in ys.iter_mut().zip(shares) {
            *y = share[idx];
        }
        *out = interpolate_at_zero(&xs, &ys);
    }
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reference multiplication: schoolbook carry-less product, then reduction by 0x11B.
    fn slow_mul(a: u8, b: u8) -> u8 {
        let mut p: u16 = 0;
        for i in 0..8 {
            if (b >> i) & 1 == 1 {
                p ^= (a as u16) << i;
            }
        }
        for bit in (8..16).rev() {
            if (p >> bit) & 1 == 1 {
                p ^= 0x11B << (bit - 8);
            }
        }
        p as u8
    }

    #[test]
    fn field_arithmetic_is_the_aes_field() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                assert_eq!(mul(a, b), slow_mul(a, b), "{a} * {b}");
            }
        }
        // FIPS-197's worked example: {57} * {83} = {c1}.
        assert_eq!(mul(0x57, 0x83), 0xC1);
        assert_eq!(inv(0), 0);
        for a in 1..=255u8 {
            assert_eq!(mul(a, inv(a)), 1, "inverse of {a}");
        }
    }

    /// Every subset of `shares` with the given size, as index lists.
    fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
        (0u32..(1 << n))
            .filter(|m| m.count_ones() as usize == k)
            .map(|m| (0..n).filter(|i| m >> i & 1 == 1).collect())
            .collect()
    }

    #[test]
    fn any_threshold_subset_rebuilds_the_secret() {
        let mut rng_secret = [0u8; 33];
        for (parts, threshold) in [(2, 2), (3, 2), (3, 3), (5, 3), (6, 4), (7, 7)] {
            rand::rngs::OsRng.fill_bytes(&mut rng_secret);
            let secret = &rng_secret[..1 + parts * 4];
            let shares = split(secret, parts, threshold).unwrap();
            assert_eq!(shares.len(), parts);
            for (i, s) in shares.iter().enumerate() {
                assert_eq!(s.len(), secret.len() + 1);
                assert_eq!(s[secret.len()] as usize, i + 1, "x is the last byte, index + 1");
            }
            for k in threshold..=parts {
                for subset in subsets(parts, k) {
                    let picked: Vec<&[u8]> = subset.iter().map(|&i| shares[i].as_slice()).collect();
                    assert_eq!(
                        &combine(&picked).unwrap()[..],
                        secret,
                        "parts {parts} threshold {threshold} {subset:?}"
                    );
                    // The order of the shares does not matter.
                    let reversed: Vec<&[u8]> = picked.iter().rev().copied().collect();
                    assert_eq!(&combine(&reversed).unwrap()[..], secret);
                }
            }
        }
    }

    #[test]
    fn fewer_shares_than_the_threshold_do_not_give_the_secret() {
        let secret = [0x42u8; 32];
        // With threshold 3, two shares interpolate a line: the result is the secret only by a
        // 2^-256 chance.
        let shares = split(&secret, 3, 3).unwrap();
        let got = combine(&[&shares[0], &shares[2]]).unwrap();
        assert_ne!(&got[..], &secret);
    }

    #[test]
    fn shares_are_random_and_do_not_contain_the_secret() {
        let secret = [7u8; 32];
        let a = split(&secret, 3, 2).unwrap();
        let b = split(&secret, 3, 2).unwrap();
        assert_ne!(a, b);
        for share in &a {
            assert_ne!(&share[..32], &secret);
        }
    }

    #[test]
    fn a_known_share_set_combines() {
        // Degree-1 polynomials f(x) = s + x (c = 1) for secret bytes 0xAB and 0x00: the share at x
        // is s ^ x, since addition is XOR.
        let shares: Vec<Vec<u8>> = (1u8..=3).map(|x| vec![0xAB ^ x, x, x]).collect();
        let refs: Vec<&[u8]> = shares.iter().map(|s| s.as_slice()).collect();
        assert_eq!(&combine(&refs[1..]).unwrap()[..], &[0xAB, 0x00]);
        assert_eq!(&combine(&refs).unwrap()[..], &[0xAB, 0x00]);
    }

    #[test]
    fn bad_parameters_are_refused() {
        let s = [1u8; 4];
        assert!(split(&s, 3, 1).is_err());
        assert!(split(&s, 3, 0).is_err());
        assert!(split(&s, 2, 3).is_err());
        assert!(split(&s, 256, 2).is_err());
        assert!(split(&s, 256, 256).is_err());
        assert!(split(&[], 3, 2).is_err());
        assert_eq!(split(&s, 255, 255).unwrap().len(), 255);
        assert_eq!(split(&s, 255, 2).unwrap()[254][4], 255);

        let shares = split(&s, 3, 2).unwrap();
        assert!(combine(&[&shares[0]]).is_err(), "one share");
        assert!(combine(&[]).is_err());
        assert!(combine(&[&shares[0], &shares[0]]).is_err(), "duplicate x");
        assert!(combine(&[&shares[0], &shares[1][..4]]).is_err(), "different lengths");
        assert!(combine(&[&[1u8][..], &[2u8][..]]).is_err(), "too short");
        let err = combine(&[&shares[0], &shares[0]]).unwrap_err();
        assert_eq!(err.exit_code(), crate::error::exit::COULD_NOT_RETRIEVE_KEY);
    }

    // --- Known answer: the sops 3.11 fixture with three age groups and threshold 2. ---

    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/sops-3.11");

    /// The armored age blocks of a file, in order, found by a plain line scan.
    fn armored_blocks(text: &str) -> Vec<String> {
        let mut blocks = Vec::new();
        let mut current: Option<String> = None;
        for line in text.lines() {
            let t = line.trim();
            if t == "-----BEGIN AGE ENCRYPTED FILE-----" {
                current = Some(String::new());
            }
            if let Some(block) = current.as_mut() {
                block.push_str(t);
                block.push('\n');
            }
            if t == "-----END AGE ENCRYPTED FILE-----" {
                blocks.extend(current.take());
            }
        }
        blocks
    }

    /// The scalar after `key: ` on a top-level (or list-item) line.
    fn value_of(text: &str, prefix: &str) -> String {
        text.lines().find_map(|l| l.strip_prefix(prefix)).map(|v| v.trim().to_string()).unwrap()
    }

    /// The fixture's text and its three shares, each opened with its group's age key.
    fn fixture_shares() -> (String, Vec<Zeroizing<Vec<u8>>>) {
        let text = std::fs::read_to_string(format!("{FIXTURES}/sh.enc.yaml")).expect("fixture sh.enc.yaml");
        let blocks = armored_blocks(&text);
        assert_eq!(blocks.len(), 3);
        let shares = blocks
            .iter()
            .enumerate()
            .map(|(i, block)| {
                let key_text = std::fs::read_to_string(format!("{FIXTURES}/key{}.txt", i + 1)).unwrap();
                let ids = crate::keys::age::parse_identities(&key_text, "key file").unwrap();
                crate::keys::age::decrypt_armored(block, &ids).unwrap()
            })
            .collect();
        (text, shares)
    }

    #[test]
    fn combines_the_shares_of_a_sops_file() {
        use crate::cipher::{Cipher, DataKey};
        use crate::tree::{Leaf, Scalar, Value};
        let (text, shares) = fixture_shares();
        for (i, share) in shares.iter().enumerate() {
            assert_eq!(share.len(), 33);
            assert_eq!(share[32] as usize, i + 1, "sops puts x = group index + 1 last");
        }
        let a = value_of(&text, "a: ");
        let b = value_of(&text, "  - ");
        let expected_a = Leaf::Scalar(Scalar::new(Value::Int(1)));
        let expected_b = Leaf::Scalar(Scalar::str("x"));
        for (i, j) in [(0, 1), (0, 2), (1, 2), (2, 0)] {
            let key = combine(&[&shares[i], &shares[j]]).unwrap();
            let mut cipher = Cipher::new(DataKey::from_slice(&key).unwrap());
            assert_eq!(cipher.decrypt_str(&a, "a:").unwrap(), expected_a, "groups {i} and {j}");
            assert_eq!(cipher.decrypt_str(&b, "b:").unwrap(), expected_b, "groups {i} and {j}");
        }
        let all: Vec<&[u8]> = shares.iter().map(|s| s.as_slice()).collect();
        let key = combine(&all).unwrap();
        assert!(Cipher::new(DataKey::from_slice(&key).unwrap()).decrypt_str(&a, "a:").is_ok());
        // One share alone is refused, and is not the data key either.
        for share in &shares {
            assert!(combine(&[share]).is_err());
            let mut cipher = Cipher::new(DataKey::from_slice(&share[..32]).unwrap());
            assert!(cipher.decrypt_str(&a, "a:").is_err());
        }
    }

    #[test]
    fn our_split_of_a_sops_data_key_has_sops_layout() {
        let (_, shares) = fixture_shares();
        let key = combine(&[&shares[0], &shares[1]]).unwrap();
        let ours = split(&key, 3, 2).unwrap();
        for (o, s) in ours.iter().zip(&shares) {
            assert_eq!(o.len(), s.len());
            assert_eq!(o[32], s[32]);
        }
        assert_eq!(combine(&[&ours[2], &ours[0]]).unwrap(), key);
    }
}

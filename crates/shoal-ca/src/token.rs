//! SwarmKit join tokens: `SWMTKN-1-<root digest>-<secret>`.
//!
//! The digest (SHA-256 of the root CA certificate DER, base36, 50 chars) lets a
//! joining node pin the root CA it fetches; the secret (16 random bytes, base36,
//! 25 chars) authorises the join and selects the role. Format from swarmkit
//! `ca/config.go` `GenerateJoinToken` / `ParseJoinToken`.

use rand::RngCore;
use shoal_types::id::base36;
use thiserror::Error;

/// Token prefix; swarmkit `ca/config.go` (`"SWMTKN"`).
pub const TOKEN_PREFIX: &str = "SWMTKN";
/// Only version 1 (non-FIPS) tokens are supported; v2 is `SWMTKN-2-1-…`.
pub const TOKEN_VERSION: &str = "1";
/// Base36 width of the 256-bit root digest; swarmkit `maxDigestLen`-style padding.
pub const DIGEST_CHARS: usize = 50;
/// Base36 width of the 128-bit secret.
pub const SECRET_CHARS: usize = 25;
/// Random bytes in a token secret (swarmkit `generateRandomSecret`, 16 bytes).
pub const SECRET_BYTES: usize = 16;

/// A join token was not well formed. Display reads like Docker's `invalid join token`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid join token: {reason}")]
pub struct TokenError {
    /// Which check failed.
    pub reason: &'static str,
}

fn invalid(reason: &'static str) -> TokenError {
    TokenError { reason }
}

/// Builder/parser namespace for join tokens.
pub struct JoinToken;

/// The parts of a well-formed token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedToken {
    /// SHA-256 of the root CA certificate the token pins.
    pub digest: [u8; 32],
    /// The 25-char base36 secret, compared as a string by the manager.
    pub secret: String,
}

impl JoinToken {
    /// A fresh token pinning `root_digest` with a 16-byte secret from `rng`.
    pub fn generate(root_digest: &[u8; 32], rng: &mut impl RngCore) -> String {
        let mut secret = [0u8; SECRET_BYTES];
        rng.fill_bytes(&mut secret);
        format!(
            "{TOKEN_PREFIX}-{TOKEN_VERSION}-{}-{}",
            base36(root_digest, DIGEST_CHARS),
            base36(&secret, SECRET_CHARS)
        )
    }

    /// Parse and validate `token`; any structural problem is a [`TokenError`].
    pub fn parse(token: &str) -> Result<ParsedToken, TokenError> {
        let parts: Vec<&str> = token.split('-').collect();
        if parts.first() != Some(&TOKEN_PREFIX) {
            return Err(invalid("missing SWMTKN prefix"));
        }
        if parts.get(1) != Some(&TOKEN_VERSION) {
            return Err(invalid("unsupported token version"));
        }
        let [_, _, digest, secret] = parts.as_slice() else {
            return Err(invalid("wrong number of parts"));
        };
        if digest.len() != DIGEST_CHARS {
            return Err(invalid("root CA digest has the wrong length"));
        }
        if secret.len() != SECRET_CHARS {
            return Err(invalid("secret has the wrong length"));
        }
        if !secret.bytes().all(is_base36_digit) {
            return Err(invalid("secret is not base36"));
        }
        let digest = decode_base36_256(digest)?;
        Ok(ParsedToken {
            digest,
            secret: (*secret).to_owned(),
        })
    }
}

impl ParsedToken {
    /// Whether the token pins the root CA whose certificate hashes to `digest`.
    pub fn matches_root(&self, digest: &[u8; 32]) -> bool {
        self.digest == *digest
    }
}

/// Whether a presented token equals the expected one, in time that depends only on the
/// expected token's length (never on where the first difference is), so a caller cannot
/// learn a token's secret a character at a time by timing refusals.
pub fn tokens_equal(presented: &str, expected: &str) -> bool {
    let (a, b) = (presented.as_bytes(), expected.as_bytes());
    let mut diff = u64::from(a.len() != b.len());
    for (i, e) in b.iter().enumerate() {
        diff |= u64::from(a.get(i).copied().unwrap_or(0) ^ e);
    }
    std::hint::black_box(diff) == 0
}

fn is_base36_digit(c: u8) -> bool {
    c.is_ascii_digit() || c.is_ascii_lowercase()
}

/// Decode lowercase base36 into a big-endian 256-bit number.
fn decode_base36_256(s: &str) -> Result<[u8; 32], TokenError> {
    let mut out = [0u8; 32];
    for c in s.bytes() {
        let digit = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'z' => c - b'a' + 10,
            _ => return Err(invalid("root CA digest is not base36")),
        };
        // out = out * 36 + digit, from the least significant byte up.
        let mut carry = u32::from(digit);
        for b in out.iter_mut().rev() {
            let cur = u32::from(*b) * 36 + carry;
            *b = (cur & 0xff) as u8;
            carry = cur >> 8;
        }
        if carry != 0 {
            return Err(invalid("root CA digest is longer than 256 bits"));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn digest() -> [u8; 32] {
        let mut d = [0u8; 32];
        for (i, b) in d.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(200);
        }
        d
    }

    #[test]
    fn generated_token_round_trips() {
        let mut rng = StdRng::seed_from_u64(7);
        let token = JoinToken::generate(&digest(), &mut rng);
        assert!(token.starts_with("SWMTKN-1-"));
        assert_eq!(
            token.len(),
            "SWMTKN-1-".len() + DIGEST_CHARS + 1 + SECRET_CHARS
        );
        let parsed = JoinToken::parse(&token).expect("parse");
        assert_eq!(parsed.digest, digest());
        assert!(parsed.matches_root(&digest()));
        assert!(!parsed.matches_root(&[0u8; 32]));
        assert_eq!(parsed.secret, token.rsplit('-').next().expect("secret"));
    }

    #[test]
    fn extreme_digests_round_trip() {
        let mut rng = StdRng::seed_from_u64(1);
        for d in [[0u8; 32], [0xffu8; 32]] {
            let token = JoinToken::generate(&d, &mut rng);
            assert_eq!(JoinToken::parse(&token).expect("parse").digest, d);
        }
    }

    #[test]
    fn two_tokens_have_different_secrets() {
        let mut rng = StdRng::seed_from_u64(3);
        let a = JoinToken::generate(&digest(), &mut rng);
        let b = JoinToken::generate(&digest(), &mut rng);
        assert_ne!(a, b);
    }

    #[test]
    fn malformed_tokens_are_rejected() {
        let mut rng = StdRng::seed_from_u64(9);
        let good = JoinToken::generate(&digest(), &mut rng);
        let d = &good[9..9 + DIGEST_CHARS];
        let s = &good[good.len() - SECRET_CHARS..];
        let too_big = "z".repeat(DIGEST_CHARS);
        let cases = [
            String::new(),
            "garbage".to_owned(),
            format!("SWMTKX-1-{d}-{s}"),
            format!("SWMTKN-2-{d}-{s}"),
            format!("SWMTKN-2-1-{d}-{s}"),
            format!("SWMTKN-1-{d}"),
            format!("SWMTKN-1-{d}-{s}-extra"),
            format!("SWMTKN-1-{}-{s}", &d[1..]),
            format!("SWMTKN-1-{d}-{}", &s[1..]),
            format!("SWMTKN-1-{}-{s}", d.to_uppercase()),
            format!("SWMTKN-1-{d}-{}!", &s[1..]),
            format!("SWMTKN-1-{too_big}-{s}"),
        ];
        for bad in cases {
            let err = JoinToken::parse(&bad).expect_err(&bad);
            assert!(err.to_string().starts_with("invalid join token"), "{err}");
        }
    }

    #[test]
    fn token_comparison_is_exact() {
        let t = "SWMTKN-1-abc-def";
        assert!(tokens_equal(t, t));
        assert!(!tokens_equal("SWMTKN-1-abc-deg", t));
        assert!(!tokens_equal("SWMTKN-1-abc-de", t));
        assert!(!tokens_equal("SWMTKN-1-abc-def0", t));
        assert!(!tokens_equal("", t));
    }
}

//! Object identifiers.
//!
//! SwarmKit ids are 128 random bits written in base 36 and zero-padded to 25 characters; the
//! same shape keeps `docker` output (12-character truncation) looking as users expect.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Length of a SwarmKit-style id: 128 bits in base 36.
pub const ID_LEN: usize = 25;

/// Encodes big-endian `bytes` in base 36 (lowercase), left-padded with `0` to `width`.
pub fn base36(bytes: &[u8], width: usize) -> String {
    let mut digits: Vec<u8> = Vec::new();
    let mut num: Vec<u8> = bytes.to_vec();
    while num.iter().any(|b| *b != 0) {
        let mut rem: u32 = 0;
        for b in num.iter_mut() {
            let cur = (rem << 8) | u32::from(*b);
            *b = (cur / 36) as u8;
            rem = cur % 36;
        }
        digits.push(b"0123456789abcdefghijklmnopqrstuvwxyz"[rem as usize]);
    }
    while digits.len() < width {
        digits.push(b'0');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

/// A fresh random id from `rng`.
pub fn new_id(rng: &mut impl RngCore) -> String {
    let mut bytes = [0u8; 16];
    rng.fill_bytes(&mut bytes);
    base36(&bytes, ID_LEN)
}

macro_rules! define_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            /// A fresh random id.
            pub fn generate(rng: &mut impl RngCore) -> Self {
                Self(new_id(rng))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_string())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

define_id!(
    /// Identifies a node; also the CN of its certificate.
    NodeId
);
define_id!(
    /// Identifies a service.
    ServiceId
);
define_id!(
    /// Identifies a task; also the value of the `com.docker.swarm.task.id` container label.
    TaskId
);
define_id!(
    /// Identifies the cluster; also the O of every node certificate.
    ClusterId
);

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn ids_are_25_base36_chars() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let id = new_id(&mut rng);
        assert_eq!(id.len(), ID_LEN);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        );
    }

    #[test]
    fn base36_of_known_values() {
        assert_eq!(base36(&[0], 3), "000");
        assert_eq!(base36(&[35], 1), "z");
        assert_eq!(base36(&[1, 0], 1), "74"); // 256 = 7*36 + 4
        // 2^128 - 1 fits in 25 base-36 digits
        assert_eq!(base36(&[0xff; 16], 25), "f5lxx1zz5pnorynqglhzmsp33");
    }
}

//! Property-based fuzzing of join-token parsing, the first thing a joining node's bytes reach:
//! any text, and any mutation of a valid token, parses or is refused without panicking, and
//! only the token itself (not a mutation of it) is accepted as the original.

use crate::token::JoinToken;
use proptest::prelude::*;

fn valid_token(seed: u64) -> String {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    JoinToken::generate(&[7u8; 32], &mut rng)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_text_parses_or_is_refused(text in "\\PC{0,120}") {
        let _ = JoinToken::parse(&text);
    }

    #[test]
    fn token_shaped_text_parses_or_is_refused(text in "SWMTKN-1-[0-9a-z]{0,60}-[0-9a-zA-Z-]{0,30}") {
        let _ = JoinToken::parse(&text);
    }

    #[test]
    fn mutated_tokens_never_pass_as_the_original(seed in any::<u64>(), at in any::<prop::sample::Index>(), with in any::<char>()) {
        let token = valid_token(seed);
        let parsed = JoinToken::parse(&token).expect("a generated token parses");
        prop_assert!(parsed.matches_root(&[7u8; 32]));
        let mut chars: Vec<char> = token.chars().collect();
        let i = at.index(chars.len());
        if chars[i] != with {
            chars[i] = with;
            let mutated: String = chars.into_iter().collect();
            if let Ok(m) = JoinToken::parse(&mutated) {
                prop_assert!(m.secret != parsed.secret || !m.matches_root(&[7u8; 32]));
            }
        }
    }
}

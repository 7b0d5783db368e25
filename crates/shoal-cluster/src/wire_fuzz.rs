//! Property-based fuzzing of what a peer's bytes reach on the cluster channel: the
//! newline-delimited JSON decoder of session streams (bounded memory: an over-long line is
//! refused before it is buffered past the limit) and every request and response body type.
//! The property: any bytes decode or are refused, never a panic.

use crate::ndjson::LineDecoder;
use crate::wire;
use proptest::prelude::*;
use shoal_types::dispatch::{Assignments, HeartbeatResponse, SessionRequest, StatusBatch};

fn decode_all<T: serde::de::DeserializeOwned>(bytes: &[u8]) {
    let _ = serde_json::from_slice::<T>(bytes);
}

/// Every body type the channel's endpoints take or answer.
fn decode_every_type(bytes: &[u8]) {
    decode_all::<wire::RootCaResponse>(bytes);
    decode_all::<wire::JoinRequest>(bytes);
    decode_all::<wire::JoinResponse>(bytes);
    decode_all::<wire::RenewRequest>(bytes);
    decode_all::<wire::RenewResponse>(bytes);
    decode_all::<wire::SnapshotRequest>(bytes);
    decode_all::<wire::HeartbeatRequest>(bytes);
    decode_all::<wire::ForwardRequest>(bytes);
    decode_all::<wire::ForwardResponse>(bytes);
    decode_all::<SessionRequest>(bytes);
    decode_all::<StatusBatch>(bytes);
    decode_all::<HeartbeatResponse>(bytes);
    decode_all::<Assignments>(bytes);
}

/// JSON-shaped noise: braces, quotes, the wire types' field names, numbers, base64.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ",",
            ":",
            "\"",
            "\n",
            "null",
            "true",
            "-1",
            "1e999",
            "18446744073709551616",
            "\"token\"",
            "\"csr_pem\"",
            "\"advertise_addr\"",
            "\"tasks\"",
            "\"session_id\"",
            "\"updates\"",
            "\"node_id\"",
            "\"body\"",
            "\"method\"",
            "\"path\"",
            "\"AAAA\"",
            "\"=\"",
            "\"\\u0000\"",
            "\"\\ud800\"",
            "\"status\"",
            "\"networks\"",
        ]),
        0..40,
    )
    .prop_map(|parts| parts.concat().into_bytes())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_body_decodes_or_is_refused(bytes in prop::collection::vec(any::<u8>(), 0..256), shaped in jsonish()) {
        decode_every_type(&bytes);
        decode_every_type(&shaped);
    }

    #[test]
    fn the_line_decoder_stays_bounded(chunks in prop::collection::vec(prop_oneof![prop::collection::vec(any::<u8>(), 0..300), jsonish()], 0..12)) {
        const MAX: usize = 256;
        let mut dec = LineDecoder::new(MAX);
        for chunk in &chunks {
            dec.push(chunk);
            loop {
                match dec.next_value::<serde_json::Value>() {
                    Ok(Some(_)) => continue,
                    Ok(None) => break,
                    Err(_) => return Ok(()),
                }
            }
            // Whatever was not refused is at most one unfinished line within the limit.
            prop_assert!(dec.remainder() <= MAX, "buffered {} bytes", dec.remainder());
        }
    }
}

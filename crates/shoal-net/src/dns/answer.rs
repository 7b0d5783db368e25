//! The answer to one query, from the records: a pure function (randomness passed in).
//!
//! Follows Docker's embedded resolver: A records for owned names (several addresses
//! shuffled), an empty NOERROR answer for other types of an owned name (so `AAAA` lookups
//! do not leak upstream), PTR for owned addresses, and everything else to the upstream
//! resolvers.

use super::table::{Records, normalize};
use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, PTR};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use rand::Rng;
use rand::seq::SliceRandom;
use std::net::Ipv4Addr;

/// TTL of every answer, in seconds: moby's resolver uses 600 (`respTTL`). Answers follow
/// the store at once; the TTL only matters to clients that cache.
pub const TTL: u32 = 600;

/// Suffix of reverse (PTR) names for IPv4.
const REVERSE_V4: &str = ".in-addr.arpa";

/// What to do with a query.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Send this reply.
    Reply(Message),
    /// Not ours: ask the upstream resolvers.
    Forward,
}

/// Answers `query` from `client` (its source address) using `records`.
pub fn answer(records: &Records, client: Ipv4Addr, query: &Message, rng: &mut impl Rng) -> Outcome {
    if query.metadata.message_type != MessageType::Query {
        return Outcome::Reply(reply(query, ResponseCode::FormErr));
    }
    if query.metadata.op_code != OpCode::Query {
        return Outcome::Reply(reply(query, ResponseCode::NotImp));
    }
    let [question] = query.queries.as_slice() else {
        return Outcome::Reply(reply(query, ResponseCode::FormErr));
    };
    let qname = question.name();
    let name = normalize(&qname.to_ascii());
    let owned_reverse = (question.query_type() == RecordType::PTR)
        .then(|| reverse_addr(&name).and_then(|a| records.reverse(client, a)))
        .flatten();
    if let Some(target) = owned_reverse {
        let Ok(ptr) = Name::from_ascii(format!("{target}.")) else {
            return Outcome::Forward;
        };
        let mut msg = reply(query, ResponseCode::NoError);
        msg.add_answer(Record::from_rdata(qname.clone(), TTL, RData::PTR(PTR(ptr))));
        return Outcome::Reply(msg);
    }
    let Some(entry) = records.lookup(client, &name) else {
        return Outcome::Forward;
    };
    let mut msg = reply(query, ResponseCode::NoError);
    if question.query_type() == RecordType::A {
        let mut addrs = entry.addrs.clone();
        if entry.shuffle {
            addrs.shuffle(rng);
        }
        for a in addrs {
            msg.add_answer(Record::from_rdata(qname.clone(), TTL, RData::A(A(a))));
        }
    }
    Outcome::Reply(msg)
}

/// A reply to `query` with its id, question and recursion-desired flag, and `code`.
pub fn reply(query: &Message, code: ResponseCode) -> Message {
    let mut msg = Message::response(query.metadata.id, query.metadata.op_code);
    msg.metadata.recursion_desired = query.metadata.recursion_desired;
    msg.metadata.recursion_available = true;
    msg.metadata.response_code = code;
    msg.add_queries(query.queries.iter().cloned());
    if let Some(edns) = &query.edns {
        let mut ours = Edns::new();
        ours.set_max_payload(edns.max_payload().max(512));
        msg.set_edns(ours);
    }
    msg
}

/// `5.1.0.10.in-addr.arpa` → `10.0.1.5`.
fn reverse_addr(name: &str) -> Option<Ipv4Addr> {
    let digits = name.strip_suffix(REVERSE_V4)?;
    let mut octets = [0u8; 4];
    let mut parts = digits.split('.');
    for o in octets.iter_mut().rev() {
        *o = parts.next()?.parse().ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

/// Encodes `msg` to fit `limit` bytes (512, or the client's EDNS size, over UDP): drops
/// answers from the end and sets the truncation bit until it fits, as moby does, so the
/// client retries over TCP.
pub fn encode_within(msg: &Message, limit: usize) -> Option<Vec<u8>> {
    let bytes = msg.to_vec().ok()?;
    if bytes.len() <= limit {
        return Some(bytes);
    }
    let mut msg = msg.clone();
    msg.metadata.truncation = true;
    while !msg.answers.is_empty() {
        msg.answers.pop();
        let bytes = msg.to_vec().ok()?;
        if bytes.len() <= limit {
            return Some(bytes);
        }
    }
    msg.to_vec().ok()
}

/// The largest UDP reply `query` accepts: its EDNS payload size, at least 512 bytes.
pub fn udp_limit(query: &Message) -> usize {
    /// RFC 1035's UDP message size, what a client without EDNS accepts.
    const CLASSIC_UDP: usize = 512;
    query
        .edns
        .as_ref()
        .map(|e| usize::from(e.max_payload()))
        .unwrap_or(CLASSIC_UDP)
        .max(CLASSIC_UDP)
}

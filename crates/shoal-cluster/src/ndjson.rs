//! Newline-delimited JSON, the framing of the dispatcher session stream: one complete
//! [`Assignments`](shoal_types::dispatch::Assignments) set per line.

use bytes::{Bytes, BytesMut};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// One value as a JSON line. serde_json never emits a raw newline inside a value.
pub fn encode_line<T: Serialize>(value: &T) -> Result<Bytes, serde_json::Error> {
    let mut line = serde_json::to_vec(value)?;
    line.push(b'\n');
    Ok(Bytes::from(line))
}

/// Why a line could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    #[error("line longer than {max} bytes")]
    TooLong { max: usize },
    #[error("bad JSON line: {0}")]
    Json(#[from] serde_json::Error),
}

/// Reassembles lines from body chunks of any size.
#[derive(Debug)]
pub struct LineDecoder {
    buf: BytesMut,
    max_line: usize,
}

impl LineDecoder {
    /// A decoder refusing lines longer than `max_line` bytes (a bound on memory).
    pub fn new(max_line: usize) -> Self {
        Self {
            buf: BytesMut::new(),
            max_line,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete value, if a whole line is buffered. Blank lines are skipped.
    pub fn next_value<T: DeserializeOwned>(&mut self) -> Result<Option<T>, LineError> {
        loop {
            let Some(end) = self.buf.iter().position(|b| *b == b'\n') else {
                if self.buf.len() > self.max_line {
                    return Err(LineError::TooLong { max: self.max_line });
                }
                return Ok(None);
            };
            let line = self.buf.split_to(end + 1);
            let line = &line[..end];
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            if line.len() > self.max_line {
                return Err(LineError::TooLong { max: self.max_line });
            }
            return Ok(Some(serde_json::from_slice(line)?));
        }
    }

    /// Bytes of an unfinished line at the end of the stream.
    pub fn remainder(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_across_chunks_are_reassembled() {
        let mut bytes = encode_line(&vec![1, 2]).expect("encode").to_vec();
        bytes.extend_from_slice(&encode_line(&vec![3]).expect("encode"));
        let mut dec = LineDecoder::new(1024);
        let mut out: Vec<Vec<i32>> = Vec::new();
        for chunk in bytes.chunks(3) {
            dec.push(chunk);
            while let Some(v) = dec.next_value().expect("decode") {
                out.push(v);
            }
        }
        assert_eq!(out, vec![vec![1, 2], vec![3]]);
        assert_eq!(dec.remainder(), 0);
    }

    #[test]
    fn an_endless_line_is_refused() {
        let mut dec = LineDecoder::new(4);
        dec.push(b"[1,2,3,4,5");
        assert!(matches!(
            dec.next_value::<Vec<i32>>(),
            Err(LineError::TooLong { max: 4 })
        ));
    }
}

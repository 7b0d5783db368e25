//! Demultiplexes docker's stdcopy framing: each frame is an 8-byte header
//! `[stream, 0, 0, 0, len u32 BE]` followed by `len` bytes of payload.
//!
//! Stream 1 is stdout, 2 is stderr, 3 is a "system error" written by the daemon after the
//! stream started (shown on stderr). The decoder is incremental: feed it whatever chunks the
//! connection delivers and take out whole frames.

/// Size of a frame header.
const HEADER_LEN: usize = 8;

/// Which output a frame belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdStream {
    Stdin,
    Stdout,
    Stderr,
    /// Stream 3: an error the daemon hit while streaming.
    System,
}

impl StdStream {
    fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(StdStream::Stdin),
            1 => Some(StdStream::Stdout),
            2 => Some(StdStream::Stderr),
            3 => Some(StdStream::System),
            _ => None,
        }
    }
}

/// One demultiplexed frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub stream: StdStream,
    pub payload: Vec<u8>,
}

/// Incremental frame decoder.
#[derive(Debug, Default)]
pub struct Demuxer {
    buf: Vec<u8>,
}

impl Demuxer {
    pub fn new() -> Self {
        Demuxer::default()
    }

    /// Appends received bytes.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, if one has arrived. An unknown stream byte is an error, as
    /// in docker's `stdcopy.StdCopy` (`Unrecognized input header`).
    pub fn next_frame(&mut self) -> Result<Option<Frame>, String> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let stream = StdStream::from_byte(self.buf[0])
            .ok_or_else(|| format!("Unrecognized input header: {}", self.buf[0]))?;
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        let payload = self.buf[HEADER_LEN..HEADER_LEN + len].to_vec();
        self.buf.drain(..HEADER_LEN + len);
        Ok(Some(Frame { stream, payload }))
    }

    /// Bytes left over that do not form a whole frame (non-empty at the end means the stream
    /// was cut).
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }
}

/// Encodes one frame (for tests and fakes).
pub fn encode(stream: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![stream, 0, 0, 0];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_across_chunks_are_reassembled() {
        let mut wire = encode(1, b"hello\n");
        wire.extend(encode(2, b"oops\n"));
        wire.extend(encode(3, b"Error grabbing logs: x\n"));
        let mut d = Demuxer::new();
        let mut frames = Vec::new();
        for chunk in wire.chunks(3) {
            d.push(chunk);
            while let Some(f) = d.next_frame().expect("valid") {
                frames.push(f);
            }
        }
        assert_eq!(d.remaining(), 0);
        assert_eq!(
            frames,
            vec![
                Frame {
                    stream: StdStream::Stdout,
                    payload: b"hello\n".to_vec()
                },
                Frame {
                    stream: StdStream::Stderr,
                    payload: b"oops\n".to_vec()
                },
                Frame {
                    stream: StdStream::System,
                    payload: b"Error grabbing logs: x\n".to_vec()
                },
            ]
        );
    }

    #[test]
    fn an_empty_frame_is_still_a_frame() {
        let mut d = Demuxer::new();
        d.push(&encode(1, b""));
        assert_eq!(
            d.next_frame().expect("valid"),
            Some(Frame {
                stream: StdStream::Stdout,
                payload: vec![]
            })
        );
        assert_eq!(d.next_frame().expect("valid"), None);
    }

    #[test]
    fn an_unknown_stream_byte_is_an_error() {
        let mut d = Demuxer::new();
        d.push(&encode(7, b"x"));
        assert!(d.next_frame().is_err());
    }
}

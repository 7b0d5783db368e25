//! [`SessionStream`]: the client side of `/dispatcher/session`, decoding the NDJSON body
//! into assignment sets as they arrive.

use http_body_util::BodyExt;
use hyper::body::Incoming;
use shoal_types::dispatch::Assignments;

use crate::error::ClientError;
use crate::ndjson::LineDecoder;
use crate::wire::MAX_BODY_BYTES;

/// An open dispatcher session: the assignment sets the dispatcher pushes, in order.
pub struct SessionStream {
    pub(crate) addr: String,
    pub(crate) body: Incoming,
    pub(crate) decoder: LineDecoder,
}

impl SessionStream {
    /// The next assignment set; `None` when the dispatcher ended the session. A line cut off
    /// by the end of the stream is an error.
    pub async fn next(&mut self) -> Option<Result<Assignments, ClientError>> {
        const OP: &str = "read dispatcher session";
        loop {
            match self.decoder.next_value::<Assignments>() {
                Ok(Some(a)) => return Some(Ok(a)),
                Ok(None) => {}
                Err(e) => {
                    return Some(Err(ClientError::Decode {
                        op: OP,
                        addr: self.addr.clone(),
                        reason: e.to_string(),
                    }));
                }
            }
            match self.body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.decoder.push(&data);
                    }
                }
                Some(Err(e)) => {
                    return Some(Err(ClientError::Request {
                        op: OP,
                        addr: self.addr.clone(),
                        reason: e.to_string(),
                    }));
                }
                None if self.decoder.remainder() > 0 => {
                    let cut = self.decoder.remainder();
                    self.decoder = LineDecoder::new(MAX_BODY_BYTES);
                    return Some(Err(ClientError::Decode {
                        op: OP,
                        addr: self.addr.clone(),
                        reason: format!("stream ended inside a line ({cut} bytes)"),
                    }));
                }
                None => return None,
            }
        }
    }
}

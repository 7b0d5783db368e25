//! Container output frames from the engine → the agent's [`LogLine`]s.

use bollard::container::LogOutput;
use shoal_agent::{LogLine, LogStream};

/// Converts one demultiplexed frame. With `timestamps` the engine prefixes each line with an
/// RFC 3339 time and a space, which is split off. Stdin echoes are dropped; a TTY's single
/// stream counts as stdout.
pub fn log_line(output: LogOutput, timestamps: bool) -> Option<LogLine> {
    let (stream, message) = match output {
        LogOutput::StdOut { message } | LogOutput::Console { message } => {
            (LogStream::Stdout, message)
        }
        LogOutput::StdErr { message } => (LogStream::Stderr, message),
        LogOutput::StdIn { .. } => return None,
    };
    if !timestamps {
        return Some(LogLine {
            stream,
            timestamp: None,
            line: message,
        });
    }
    match message.iter().position(|b| *b == b' ') {
        Some(space) => {
            let timestamp = String::from_utf8_lossy(&message[..space]).into_owned();
            Some(LogLine {
                stream,
                timestamp: Some(timestamp),
                line: message.slice(space + 1..),
            })
        }
        None => Some(LogLine {
            stream,
            timestamp: None,
            line: message,
        }),
    }
}

/// `tail` as the engine takes it: a count, or `all`.
pub fn tail_param(tail: Option<u64>) -> String {
    tail.map_or_else(|| "all".to_string(), |n| n.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn timestamps_are_split_off_and_streams_kept_apart() {
        let out = LogOutput::StdErr {
            message: Bytes::from_static(b"2026-01-02T03:04:05.000000006Z oops\n"),
        };
        let line = log_line(out, true).unwrap();
        assert_eq!(line.stream, LogStream::Stderr);
        assert_eq!(
            line.timestamp.as_deref(),
            Some("2026-01-02T03:04:05.000000006Z")
        );
        assert_eq!(&line.line[..], b"oops\n");

        let out = LogOutput::StdOut {
            message: Bytes::from_static(b"hi there\n"),
        };
        let line = log_line(out, false).unwrap();
        assert_eq!(
            (line.stream, line.timestamp, &line.line[..]),
            (LogStream::Stdout, None, &b"hi there\n"[..])
        );
        assert!(
            log_line(
                LogOutput::StdIn {
                    message: Bytes::new()
                },
                false
            )
            .is_none()
        );
    }

    #[test]
    fn tail_defaults_to_all() {
        assert_eq!(tail_param(None), "all");
        assert_eq!(tail_param(Some(5)), "5");
    }
}

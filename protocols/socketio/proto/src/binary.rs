//! Binary attachments: the placeholders that stand for them in the JSON
//! (`{"_placeholder":true,"num":N}`), and the [`Reassembler`] that collects the binary
//! messages following a `BINARY_EVENT`/`BINARY_ACK`.

use bytes::Bytes;
use serde::Deserialize;

use crate::error::Error;

#[derive(Deserialize)]
struct Placeholder {
    #[serde(rename = "_placeholder")]
    placeholder: bool,
    num: u64,
}

/// The attachment index when `raw` (one JSON value) is a placeholder object
/// (`_placeholder` true and a non-negative integer `num`), as `socket.io-parser` recognises
/// them; other keys are ignored.
pub fn placeholder_index(raw: &str) -> Option<usize> {
    if !raw.starts_with('{') || !raw.contains("_placeholder") {
        return None;
    }
    let p: Placeholder = serde_json::from_str(raw).ok()?;
    if !p.placeholder {
        return None;
    }
    usize::try_from(p.num).ok()
}

/// A binary packet and all its attachments, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Complete<T> {
    /// The packet's text, as handed to [`Reassembler::start`].
    pub head: T,
    /// The attachments.
    pub attachments: Vec<Bytes>,
}

#[derive(Debug)]
struct Pending<T> {
    head: T,
    expected: usize,
    parts: Vec<Bytes>,
}

/// Collects the attachments of one binary packet at a time, as `socket.io-parser`'s
/// decoder does: text while attachments are expected, or a binary message nobody announced,
/// is a protocol error. The number of parts is bounded by the packet's announced count
/// (itself bounded by [`Limits::max_attachments`](crate::Limits)).
#[derive(Debug)]
pub struct Reassembler<T> {
    pending: Option<Pending<T>>,
}

impl<T> Default for Reassembler<T> {
    fn default() -> Self {
        Reassembler { pending: None }
    }
}

impl<T> Reassembler<T> {
    /// An idle reassembler.
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether attachments are expected.
    pub fn is_waiting(&self) -> bool {
        self.pending.is_some()
    }

    /// Checks that a text message may arrive now.
    pub fn check_text(&self) -> Result<(), Error> {
        if self.is_waiting() {
            Err(Error::TextWhileReassembling)
        } else {
            Ok(())
        }
    }

    /// A binary packet `head` announcing `attachments` (at least 1) arrived.
    pub fn start(&mut self, head: T, attachments: usize) -> Result<(), Error> {
        self.check_text()?;
        if attachments == 0 {
            return Err(Error::IllegalAttachments);
        }
        self.pending = Some(Pending {
            head,
            expected: attachments,
            parts: Vec::with_capacity(attachments),
        });
        Ok(())
    }

    /// A binary message arrived; returns the packet once its last attachment is in.
    pub fn push(&mut self, data: Bytes) -> Result<Option<Complete<T>>, Error> {
        let p = self.pending.as_mut().ok_or(Error::UnexpectedBinary)?;
        p.parts.push(data);
        if p.parts.len() < p.expected {
            return Ok(None);
        }
        Ok(self.pending.take().map(|p| Complete {
            head: p.head,
            attachments: p.parts,
        }))
    }

    /// Drops a packet in progress.
    pub fn clear(&mut self) {
        self.pending = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders() {
        assert_eq!(
            placeholder_index(r#"{"_placeholder":true,"num":0}"#),
            Some(0)
        );
        assert_eq!(
            placeholder_index(r#"{"num":3,"_placeholder":true,"x":1}"#),
            Some(3)
        );
        assert_eq!(placeholder_index(r#"{"_placeholder":false,"num":0}"#), None);
        assert_eq!(placeholder_index(r#"{"_placeholder":true,"num":-1}"#), None);
        assert_eq!(
            placeholder_index(r#"{"_placeholder":true,"num":0.5}"#),
            None
        );
        assert_eq!(placeholder_index(r#"{"_placeholder":true}"#), None);
        assert_eq!(placeholder_index(r#""_placeholder""#), None);
        assert_eq!(placeholder_index("{}"), None);
    }

    #[test]
    fn reassembly() {
        let mut r = Reassembler::new();
        assert_eq!(
            r.push(Bytes::from_static(b"x")),
            Err(Error::UnexpectedBinary)
        );
        assert_eq!(r.start("h", 0), Err(Error::IllegalAttachments));
        assert_eq!(r.start("h", 2), Ok(()));
        assert_eq!(r.check_text(), Err(Error::TextWhileReassembling));
        assert_eq!(r.start("h2", 1), Err(Error::TextWhileReassembling));
        assert_eq!(r.push(Bytes::from_static(b"a")), Ok(None));
        assert_eq!(
            r.push(Bytes::from_static(b"b")),
            Ok(Some(Complete {
                head: "h",
                attachments: vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")]
            }))
        );
        assert!(!r.is_waiting());
        assert_eq!(r.start("h", 1), Ok(()));
        r.clear();
        assert_eq!(r.check_text(), Ok(()));
    }
}

//! Writing packets: [`PacketWriter`] builds an event or an acknowledgement argument by
//! argument straight into its output (raw JSON is copied, never re-serialised), and the
//! helpers write the connection packets in the form each [`ProtocolVersion`] expects.

use crate::json;
use crate::packet::{PacketType, write_header};

/// The Socket.IO protocol revision of a client: it follows from the Engine.IO revision
/// (`EIO=4` → 5, `EIO=3` → 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolVersion {
    /// Revision 5: Socket.IO 3 and 4 (Engine.IO v4).
    V5,
    /// Revision 4: Socket.IO 1 and 2 (Engine.IO v3).
    V4,
}

/// An `EVENT` or `ACK` written one argument at a time; binary when `attachments > 0`.
#[derive(Debug, Clone)]
pub struct PacketWriter {
    out: String,
    args: usize,
    placeholders: usize,
}

impl PacketWriter {
    /// Starts a packet of `kind` (`Event` or `Ack`; promoted to its binary type when
    /// `attachments > 0`) with room for `capacity` bytes of arguments.
    pub fn with_capacity(
        kind: PacketType,
        nsp: &str,
        id: Option<u64>,
        attachments: usize,
        capacity: usize,
    ) -> Self {
        let mut out = String::with_capacity(capacity + nsp.len() + 24);
        write_header(
            &mut out,
            kind.with_attachments(attachments),
            attachments,
            nsp,
            id,
        );
        out.push('[');
        PacketWriter {
            out,
            args: 0,
            placeholders: 0,
        }
    }

    /// Starts an event (ack id `id`, when the sender wants an acknowledgement).
    pub fn event(nsp: &str, id: Option<u64>, attachments: usize) -> Self {
        Self::with_capacity(PacketType::Event, nsp, id, attachments, 64)
    }

    /// Starts the acknowledgement of event `id`.
    pub fn ack(nsp: &str, id: u64, attachments: usize) -> Self {
        Self::with_capacity(PacketType::Ack, nsp, Some(id), attachments, 32)
    }

    fn sep(&mut self) {
        if self.args > 0 {
            self.out.push(',');
        }
        self.args += 1;
    }

    /// Appends a string argument (escaped).
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.sep();
        json::write_str(&mut self.out, s);
        self
    }

    /// Appends an argument that is already JSON text (copied as it is).
    pub fn raw(&mut self, json: &str) -> &mut Self {
        self.sep();
        self.out.push_str(json);
        self
    }

    /// Appends an argument the caller writes as JSON text into the packet's buffer.
    pub fn with(&mut self, write: impl FnOnce(&mut String)) -> &mut Self {
        self.sep();
        write(&mut self.out);
        self
    }

    /// Appends the placeholder of the next attachment (`{"_placeholder":true,"num":N}`).
    pub fn placeholder(&mut self) -> &mut Self {
        self.sep();
        let n = self.placeholders;
        self.placeholders += 1;
        self.out.push_str("{\"_placeholder\":true,\"num\":");
        self.out.push_str(itoa(n, &mut [0u8; 20]));
        self.out.push('}');
        self
    }

    /// Placeholders written so far (the attachments the caller must send after the packet).
    pub fn placeholders(&self) -> usize {
        self.placeholders
    }

    /// Closes the argument array and returns the packet's text.
    pub fn finish(mut self) -> String {
        self.out.push(']');
        self.out
    }
}

/// Decimal digits of `n` without allocating.
fn itoa(mut n: usize, buf: &mut [u8; 20]) -> &str {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    std::str::from_utf8(&buf[i..]).unwrap_or("0")
}

/// The server's `CONNECT` answer: v5 `0/nsp,{"sid":"..."}`, v4 `0/nsp,` (no payload).
pub fn connect(version: ProtocolVersion, nsp: &str, sid: &str) -> String {
    let mut out = String::with_capacity(nsp.len() + sid.len() + 16);
    write_header(&mut out, PacketType::Connect, 0, nsp, None);
    if version == ProtocolVersion::V5 {
        out.push_str("{\"sid\":");
        json::write_str(&mut out, sid);
        out.push('}');
    }
    out
}

/// A `CONNECT_ERROR`: v5 `4/nsp,{"message":M,"data":D}` (`data` raw JSON, left out when
/// `None`); v4 sends `data` when given, else the message as a JSON string (as `socket.io`
/// does for `EIO=3` clients).
pub fn connect_error(
    version: ProtocolVersion,
    nsp: &str,
    message: &str,
    data: Option<&str>,
) -> String {
    let mut out = String::with_capacity(nsp.len() + message.len() + 48);
    write_header(&mut out, PacketType::ConnectError, 0, nsp, None);
    match version {
        ProtocolVersion::V5 => {
            out.push_str("{\"message\":");
            json::write_str(&mut out, message);
            if let Some(d) = data {
                out.push_str(",\"data\":");
                out.push_str(d);
            }
            out.push('}');
        }
        ProtocolVersion::V4 => match data {
            Some(d) => out.push_str(d),
            None => json::write_str(&mut out, message),
        },
    }
    out
}

/// A `DISCONNECT` of namespace `nsp`.
pub fn disconnect(nsp: &str) -> String {
    let mut out = String::with_capacity(nsp.len() + 2);
    write_header(&mut out, PacketType::Disconnect, 0, nsp, None);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers() {
        let mut w = PacketWriter::event("/", None, 0);
        w.str("message").str("a/b").raw("{\"v\":1}");
        assert_eq!(w.finish(), r#"2["message","a/b",{"v":1}]"#);
        let mut w = PacketWriter::event("/admin", Some(3), 2);
        w.str("x")
            .placeholder()
            .with(|o| o.push_str("null"))
            .placeholder();
        assert_eq!(w.placeholders(), 2);
        assert_eq!(
            w.finish(),
            r#"52-/admin,3["x",{"_placeholder":true,"num":0},null,{"_placeholder":true,"num":1}]"#
        );
        assert_eq!(PacketWriter::ack("/", 12, 0).finish(), "312[]");
        let mut w = PacketWriter::ack("/", 15, 1);
        w.str("bar").placeholder();
        assert_eq!(w.finish(), r#"61-15["bar",{"_placeholder":true,"num":0}]"#);
        assert_eq!(itoa(1234567, &mut [0; 20]), "1234567");
        assert_eq!(itoa(usize::MAX, &mut [0; 20]), usize::MAX.to_string());
    }

    #[test]
    fn connection_packets() {
        use ProtocolVersion::*;
        assert_eq!(connect(V5, "/", "abc"), r#"0{"sid":"abc"}"#);
        assert_eq!(connect(V5, "/admin", "a"), r#"0/admin,{"sid":"a"}"#);
        assert_eq!(connect(V4, "/", "a"), "0");
        assert_eq!(connect(V4, "/admin", "a"), "0/admin,");
        assert_eq!(
            connect_error(V5, "/", "Not authorized", None),
            r#"4{"message":"Not authorized"}"#
        );
        assert_eq!(
            connect_error(V5, "/random", "Invalid namespace", None),
            r#"4/random,{"message":"Invalid namespace"}"#
        );
        assert_eq!(
            connect_error(V5, "/", "no", Some(r#"{"code":"forbidden"}"#)),
            r#"4{"message":"no","data":{"code":"forbidden"}}"#
        );
        assert_eq!(connect_error(V4, "/a", "no", None), r#"4/a,"no""#);
        assert_eq!(connect_error(V4, "/", "no", Some("{}")), "4{}");
        assert_eq!(disconnect("/"), "1");
        assert_eq!(disconnect("/admin"), "1/admin,");
    }
}

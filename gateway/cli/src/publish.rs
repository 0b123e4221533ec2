//! `switchboard pub`: read the payloads (`-m`, `-f`, `-s`, `-n`, or each line of stdin with
//! `-l`), connect, publish each one (repeated with `--repeat`), and close only once the gateway
//! has everything.

use std::io::Write;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::sync::mpsc;

use crate::args::{KindArg, PubSettings, Source};
use crate::error::CliError;
use crate::link::Link;
use crate::message::{Kind, Outgoing};

/// The largest payload read from a file or stdin (MQTT's packet limit).
pub const MAX_PAYLOAD: usize = 268_435_455;
/// Lines read ahead of the publisher with `-l`.
const LINE_QUEUE: usize = 64;

/// What `pub` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PubSummary {
    /// Messages published (and acknowledged where the protocol acknowledges).
    pub published: u64,
}

fn input_error(what: &str, source: std::io::Error) -> CliError {
    CliError::Input {
        what: what.to_owned(),
        source,
    }
}

/// Reads all of `r`, refusing more than [`MAX_PAYLOAD`] bytes.
async fn read_all(r: impl AsyncRead + Unpin, what: &str) -> Result<Bytes, CliError> {
    let mut buf = Vec::new();
    let limit = u64::try_from(MAX_PAYLOAD).unwrap_or(u64::MAX) + 1;
    r.take(limit)
        .read_to_end(&mut buf)
        .await
        .map_err(|e| input_error(what, e))?;
    if buf.len() > MAX_PAYLOAD {
        return Err(CliError::usage(format!(
            "{what} is larger than {MAX_PAYLOAD} bytes"
        )));
    }
    Ok(Bytes::from(buf))
}

/// The message carrying `payload`, its kind decided by `--kind`.
fn message(s: &PubSettings, payload: Bytes) -> Result<Outgoing, CliError> {
    let utf8 = std::str::from_utf8(&payload).is_ok();
    let kind = match s.kind {
        KindArg::Json => {
            if serde_json::from_slice::<serde::de::IgnoredAny>(&payload).is_err() {
                return Err(CliError::usage(
                    "the payload is not valid JSON (--kind json / --content-type application/json)",
                ));
            }
            Kind::Json
        }
        KindArg::Text if !utf8 => {
            return Err(CliError::usage(
                "the payload is not UTF-8 text (--kind text)",
            ));
        }
        KindArg::Text => Kind::Text,
        KindArg::Binary => Kind::Binary,
        KindArg::Auto if utf8 => Kind::Text,
        KindArg::Auto => Kind::Binary,
    };
    Ok(Outgoing {
        payload,
        kind,
        ..s.template.clone()
    })
}

/// The time allowed for each acknowledgement: the connect timeout.
fn ack_limit(s: &PubSettings) -> Duration {
    s.connect.connect_timeout
}

/// Publishes `m`, or with `--request` sends it as a request and prints the reply on `out`.
async fn send(
    s: &PubSettings,
    link: &mut Link,
    m: &Outgoing,
    out: &mut (dyn Write + Send),
) -> Result<(), CliError> {
    let Some(r) = &s.request else {
        return link.publish(m, ack_limit(s)).await;
    };
    let reply = link.request(m, &r.response_topic, r.timeout).await?;
    out.write_all(&reply.payload)
        .and_then(|()| out.write_all(b"\n"))
        .and_then(|()| out.flush())
        .map_err(CliError::Output)
}

/// Runs `switchboard pub` with `stdin` as standard input; replies to `--request` go to `out`.
pub async fn publish(
    s: &PubSettings,
    stdin: impl AsyncRead + Unpin + Send + 'static,
    out: &mut (dyn Write + Send),
) -> Result<PubSummary, CliError> {
    let mut stdin = Some(stdin);
    let single = match &s.source {
        Source::Message(m) => Some(Bytes::from(m.clone())),
        Source::Null => Some(Bytes::new()),
        Source::File(path) => {
            let f = tokio::fs::File::open(path)
                .await
                .map_err(|e| input_error(&path.display().to_string(), e))?;
            Some(read_all(f, &path.display().to_string()).await?)
        }
        Source::Stdin => match stdin.take() {
            Some(r) => Some(read_all(r, "stdin").await?),
            None => None,
        },
        Source::Lines => None,
    };
    let limit = ack_limit(s);
    let mut published = 0;
    let link = match single {
        Some(payload) => {
            // Input problems (a file, JSON) are reported before connecting.
            let m = message(s, payload)?;
            let mut link = Link::connect(&s.connect).await?;
            for i in 0..s.repeat {
                send(s, &mut link, &m, out).await?;
                published += 1;
                if i + 1 < s.repeat && !s.repeat_delay.is_zero() {
                    tokio::time::sleep(s.repeat_delay).await;
                }
            }
            link
        }
        None => {
            let (tx, mut rx) = mpsc::channel::<Result<Bytes, CliError>>(LINE_QUEUE);
            let Some(stdin) = stdin.take() else {
                return Err(CliError::usage("stdin was already read"));
            };
            let reader = tokio::spawn(read_lines(stdin, tx));
            let mut link = Link::connect(&s.connect).await?;
            loop {
                // Keep the connection serviced (keep-alive, pings) while stdin is quiet.
                let line = tokio::select! {
                    line = rx.recv() => line,
                    e = link.idle() => {
                        reader.abort();
                        return Err(e);
                    }
                };
                let Some(line) = line else { break };
                send(s, &mut link, &message(s, line?)?, out).await?;
                published += 1;
            }
            link
        }
    };
    s.connect
        .debug(format_args!("published {published} message(s)"));
    link.close(limit).await?;
    Ok(PubSummary { published })
}

/// Sends each line of `r` (without `\n` or `\r\n`) until end of input.
async fn read_lines(r: impl AsyncRead + Unpin, tx: mpsc::Sender<Result<Bytes, CliError>>) {
    let mut r = BufReader::new(r);
    loop {
        let mut line = Vec::new();
        let limit = u64::try_from(MAX_PAYLOAD).unwrap_or(u64::MAX) + 1;
        let read = (&mut r).take(limit).read_until(b'\n', &mut line).await;
        let item = match read {
            Ok(0) => return,
            Ok(_) if line.len() > MAX_PAYLOAD => Err(CliError::usage(format!(
                "a line of stdin is longer than {MAX_PAYLOAD} bytes"
            ))),
            Ok(_) => {
                if line.last() == Some(&b'\n') {
                    line.pop();
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                }
                Ok(Bytes::from(line))
            }
            Err(e) => Err(input_error("stdin", e)),
        };
        let stop = item.is_err();
        if tx.send(item).await.is_err() || stop {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_lose_their_endings() {
        let (tx, mut rx) = mpsc::channel(8);
        read_lines(&b"a\nb\r\n\nlast"[..], tx).await;
        let mut lines = Vec::new();
        while let Some(l) = rx.recv().await {
            lines.push(l.unwrap());
        }
        assert_eq!(lines, ["a", "b", "", "last"].map(Bytes::from));
    }

    #[tokio::test]
    async fn read_all_reads_everything() {
        assert_eq!(read_all(&b"x\ny"[..], "t").await.unwrap(), &b"x\ny"[..]);
    }
}

//! The connection wrapper both listeners serve through. hyper answers a request head it cannot
//! parse or hold (malformed syntax, a target over 64 KiB, a head over the read buffer or with
//! too many fields) by itself, below any psn handler, with a bare `400`, `414` or `431` and no
//! body, then closes. The wrapper recognises exactly that response on its way out and writes a
//! problem document in its place. When hyper is done with the connection the wrapper hands the
//! stream back (see [`ProblemIo::new`]) so the listener can close it with [`linger`].

use crate::limits::{
    HARD_URI_BYTES, HTTP1_MAX_HEADERS, MAX_HEADER_BYTES, MAX_HEADER_FIELDS, MAX_URI_BYTES,
};
use psn_core::problem::{Problem, ProblemType, PROBLEM_JSON};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::oneshot;
use tokio::time::Instant;

/// Longest a closing connection keeps reading (and discarding) what the client still sends.
pub const LINGER_TIME: Duration = Duration::from_secs(30);
/// A closing connection on which the client sends nothing for this long is closed at once.
pub const LINGER_IDLE: Duration = Duration::from_secs(2);
/// Most bytes read and discarded while closing; past this the connection is closed.
pub const LINGER_BYTES: u64 = 64 * 1024 * 1024;
/// Longest spent finishing the last response and shutting down the write side.
const CLOSE_WRITE_TIME: Duration = Duration::from_secs(5);
/// The scratch buffer a lingering connection reads into (its only memory).
const LINGER_BUFFER: usize = 8 * 1024;

/// How a listener words the problems that replace hyper's own refusals.
#[derive(Clone, Copy, Debug)]
pub struct Refusals {
    /// The component named as the problem's `hop`.
    pub hop: &'static str,
    /// A message id for each refusal (the gateway's `PSN-Message-Id`), or none (the authority).
    pub message_id: fn() -> Option<String>,
    /// The listener's HTTP/1.1 read buffer (`max_buf_size`): the largest request head it holds.
    pub head_bytes: usize,
}

/// A connection's stream, handed back when hyper drops it, with any part of a replacement
/// problem not yet written.
pub struct Returned<S> {
    stream: S,
    pending: Vec<u8>,
}

/// A stream whose bare hyper refusals are replaced by problem documents.
pub struct ProblemIo<S> {
    stream: Option<S>,
    pending: Vec<u8>,
    refusals: Refusals,
    returned: Option<oneshot::Sender<Returned<S>>>,
}

impl<S> ProblemIo<S> {
    /// Wraps `stream`; the receiver gets it back when hyper drops the wrapper (however the
    /// connection ended), to be closed with [`linger`].
    pub fn new(stream: S, refusals: Refusals) -> (Self, oneshot::Receiver<Returned<S>>) {
        let (returned, receiver) = oneshot::channel();
        let io = Self {
            stream: Some(stream),
            pending: Vec::new(),
            refusals,
            returned: Some(returned),
        };
        (io, receiver)
    }
}

impl<S> Drop for ProblemIo<S> {
    fn drop(&mut self) {
        if let (Some(stream), Some(returned)) = (self.stream.take(), self.returned.take()) {
            let pending = std::mem::take(&mut self.pending);
            // The listener may be gone (shutting down); the stream is then simply closed.
            let _ = returned.send(Returned { stream, pending });
        }
    }
}

impl<S: AsyncWrite + Unpin> ProblemIo<S> {
    fn stream(&mut self) -> io::Result<Pin<&mut S>> {
        self.stream
            .as_mut()
            .map(Pin::new)
            .ok_or_else(|| io::ErrorKind::NotConnected.into())
    }

    /// Writes what is left of a replacement problem.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.pending.is_empty() {
            let pending = std::mem::take(&mut self.pending);
            let written = self.stream()?.poll_write(cx, &pending);
            self.pending = pending;
            match ready!(written)? {
                0 => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                n => drop(self.pending.drain(..n)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Takes `buf` in place of the stream if it is one of hyper's bare refusals: the problem
    /// is queued instead, and written before anything else reaches the stream.
    fn poll_replace(
        &mut self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Option<Poll<io::Result<usize>>> {
        self.pending = self.refusals.replacement(buf)?;
        Some(match self.poll_pending(cx) {
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(buf.len())),
        })
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ProblemIo<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut().stream.as_mut() {
            Some(stream) => Pin::new(stream).poll_read(cx, buf),
            None => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ProblemIo<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        if let Some(replaced) = this.poll_replace(cx, buf) {
            return replaced;
        }
        this.stream()?.poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        // hyper writes an automatic refusal as one buffer: the head, with no body.
        let mut filled = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (filled.next(), filled.next()) {
            if let Some(replaced) = this.poll_replace(cx, only) {
                return replaced;
            }
        }
        this.stream()?.poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.as_ref().is_some_and(|s| s.is_write_vectored())
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        this.stream()?.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_pending(cx))?;
        this.stream()?.poll_shutdown(cx)
    }
}

impl Refusals {
    /// The problem response to write in place of `buf`, if `buf` is a bare refusal of hyper's.
    fn replacement(&self, buf: &[u8]) -> Option<Vec<u8>> {
        let refusal = AutomaticRefusal::parse(buf)?;
        let mut problem = Problem::new(refusal.kind, self.detail(refusal.kind)).with_hop(self.hop);
        let id = (self.message_id)();
        if let Some(id) = &id {
            problem = problem.with_message_id(id.as_str());
        }
        // Serialising a problem cannot fail; were it to, hyper's bare refusal goes out as is.
        let body = serde_json::to_vec(&problem).ok()?;
        let mut head = format!(
            "{}\r\ncontent-type: {PROBLEM_JSON}\r\ncontent-length: {}\r\nconnection: close\r\n",
            refusal.status_line,
            body.len()
        );
        if let Some(id) = id {
            head.push_str(&format!("psn-message-id: {id}\r\n"));
        }
        if let Some(date) = refusal.date {
            head.push_str(&format!("date: {date}\r\n"));
        }
        head.push_str("\r\n");
        let mut response = head.into_bytes();
        response.extend_from_slice(&body);
        Some(response)
    }

    fn detail(&self, kind: ProblemType) -> String {
        match kind {
            ProblemType::UriTooLong => format!(
                "the request target is over {HARD_URI_BYTES} bytes; the limit is {MAX_URI_BYTES}"
            ),
            ProblemType::HeadersTooLarge => format!(
                "the request head is over {} bytes or {HTTP1_MAX_HEADERS} header fields; the \
                 limits are {MAX_HEADER_BYTES} bytes of header names and values and \
                 {MAX_HEADER_FIELDS} fields",
                self.head_bytes
            ),
            _ => "the request line or a header field is not valid HTTP/1.1".to_owned(),
        }
    }
}

/// A response hyper wrote by itself for a request head it refused: a status line of `400`,
/// `414` or `431`, `content-length: 0`, at most `connection: close` and `date`, and no body.
/// Every response psn's handlers produce with these statuses carries a problem body.
#[derive(Debug, PartialEq, Eq)]
struct AutomaticRefusal<'a> {
    kind: ProblemType,
    status_line: &'a str,
    date: Option<&'a str>,
}

impl<'a> AutomaticRefusal<'a> {
    fn parse(buf: &'a [u8]) -> Option<Self> {
        let head = std::str::from_utf8(buf.strip_suffix(b"\r\n\r\n")?).ok()?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next()?;
        let kind = match status_line {
            "HTTP/1.1 400 Bad Request" => ProblemType::InvalidRequest,
            "HTTP/1.1 414 URI Too Long" => ProblemType::UriTooLong,
            "HTTP/1.1 431 Request Header Fields Too Large" => ProblemType::HeadersTooLarge,
            _ => return None,
        };
        let (mut empty, mut date) = (false, None);
        for line in lines {
            match line.split_once(": ")? {
                ("content-length", "0") => empty = true,
                ("connection", "close") => {}
                ("date", value) => date = Some(value),
                _ => return None,
            }
        }
        empty.then_some(Self {
            kind,
            status_line,
            date,
        })
    }
}

/// Closes a connection hyper is done with without resetting it: finishes any replacement
/// problem, shuts down the write side, then reads and discards what the client still sends
/// until it closes, is idle for [`LINGER_IDLE`], or [`LINGER_TIME`] or [`LINGER_BYTES`] is
/// reached. Closing a socket with unread data makes the kernel send a reset, which destroys the
/// response the client has not read yet (a `413` while it is still uploading, a `431` while it
/// is still sending a huge head). Costs one 8 KiB buffer while it runs.
pub async fn linger<S: AsyncRead + AsyncWrite + Unpin>(returned: Returned<S>) {
    let Returned {
        mut stream,
        pending,
    } = returned;
    let closed = tokio::time::timeout(CLOSE_WRITE_TIME, async {
        stream.write_all(&pending).await?;
        stream.shutdown().await
    })
    .await;
    if matches!(closed, Ok(Ok(()))) {
        discard(&mut stream).await;
    }
}

async fn discard<S: AsyncRead + Unpin>(stream: &mut S) {
    let deadline = Instant::now() + LINGER_TIME;
    let mut scratch = vec![0; LINGER_BUFFER];
    let mut discarded = 0u64;
    while discarded < LINGER_BYTES {
        let wait = deadline
            .saturating_duration_since(Instant::now())
            .min(LINGER_IDLE);
        match tokio::time::timeout(wait, stream.read(&mut scratch)).await {
            Ok(Ok(n)) if n > 0 => discarded += n as u64,
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATE: &str = "Sun, 06 Dec 2026 14:00:00 GMT";

    fn refusals() -> Refusals {
        Refusals {
            hop: "consumer-gateway",
            message_id: || Some("0b6b4a52-2f6c-4a55-9e1c-5f0d7a8e3c11".into()),
            head_bytes: 256 * 1024,
        }
    }

    #[test]
    fn recognises_only_hypers_bare_refusals() {
        let bare = format!("HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: {DATE}\r\n\r\n");
        let parsed = AutomaticRefusal::parse(bare.as_bytes()).expect("bare 431");
        assert_eq!(parsed.kind, ProblemType::HeadersTooLarge);
        assert_eq!(parsed.date, Some(DATE));
        for other in [
            "HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n",
            "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\npsn-message-id: x\r\n\r\n",
            "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n",
            "HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\nbody",
            "HTTP/1.1 414 URI Too Long\r\n\r\n",
        ] {
            assert_eq!(AutomaticRefusal::parse(other.as_bytes()), None, "{other}");
        }
    }

    #[test]
    fn the_replacement_is_a_complete_problem_response() {
        let bare = format!(
            "HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\nconnection: close\r\ndate: {DATE}\r\n\r\n"
        );
        let response = refusals().replacement(bare.as_bytes()).expect("replaced");
        let text = String::from_utf8(response).expect("utf-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(head.contains(&format!("content-length: {}\r\n", body.len())));
        assert!(head.contains("psn-message-id: 0b6b4a52-2f6c-4a55-9e1c-5f0d7a8e3c11"));
        let problem: Problem = serde_json::from_str(body).expect("problem");
        assert_eq!(problem.kind(), Some(ProblemType::UriTooLong));
        assert_eq!(problem.hop.as_deref(), Some("consumer-gateway"));
        assert_eq!(
            problem.message_id.as_deref(),
            Some("0b6b4a52-2f6c-4a55-9e1c-5f0d7a8e3c11")
        );
    }
}

//! Bodies that stream through the gateway: counted against a limit, digested (SHA-256) as they
//! pass, never held whole. At the end the digest is handed to a finisher that may append a
//! trailer (the sender's signed statement) and sees the trailers that arrived (the peer's).

use bytes::Bytes;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Errors crossing the gateway's body plumbing.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The body type used on every hop.
pub type GatewayBody = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// The body exceeded the configured limit.
#[derive(Debug, thiserror::Error)]
#[error("body exceeds the limit of {0} bytes")]
pub struct TooLarge(pub u64);

/// What a finisher produces: trailers to send on, or an error that aborts the stream.
pub type Finishing = Pin<Box<dyn Future<Output = Result<Option<HeaderMap>, BoxError>> + Send>>;

/// What a body turned out to be once it has been read to its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digested {
    /// SHA-256 of every data byte.
    pub sha256: [u8; 32],
    /// How many data bytes passed.
    pub bytes: u64,
}

/// Where a body's chunks are copied as they pass (see [`DigestBody::with_tee`]).
pub type Tee = tokio_util::sync::PollSender<Bytes>;

/// Runs when the body has been fully read: receives its digest and the trailers that arrived
/// (if any). It may wait (for a batch signature or the audit log, say) before the stream ends.
pub type Finisher = Box<dyn FnOnce(Digested, Option<HeaderMap>) -> Finishing + Send>;

/// A streaming body wrapper that digests, limits and finishes. The last data chunk is held back
/// until the finisher has succeeded, so a reader never sees a complete body whose check failed
/// or whose audit record is not yet written: it sees an aborted one. (A reader that knows the
/// length from `Content-Length` would otherwise have everything before the finisher ran.)
pub struct DigestBody<B> {
    inner: B,
    digest: Option<ring::digest::Context>,
    limit: u64,
    seen: u64,
    held: Option<Bytes>,
    tee: Option<Tee>,
    finish: Option<Finisher>,
    finishing: Option<Finishing>,
    trailers: Option<HeaderMap>,
    done: bool,
}

impl<B> DigestBody<B> {
    /// Wraps `inner`; `finish` runs once at the end of the stream.
    pub fn new(inner: B, limit: u64, finish: Finisher) -> Self {
        Self {
            inner,
            digest: Some(ring::digest::Context::new(&ring::digest::SHA256)),
            limit,
            seen: 0,
            held: None,
            tee: None,
            finish: Some(finish),
            finishing: None,
            trailers: None,
            done: false,
        }
    }

    /// Also copies every data chunk to `tee` (with back-pressure), e.g. to keep the body in the
    /// audit log. The tee is closed when the body ends, before the finisher runs.
    pub fn with_tee(mut self, tee: Option<Tee>) -> Self {
        self.tee = tee;
        self
    }

    fn start_finishing(&mut self, trailers: Option<HeaderMap>) {
        self.tee = None;
        let mut digest = Digested {
            sha256: [0u8; 32],
            bytes: self.seen,
        };
        if let Some(ctx) = self.digest.take() {
            digest.sha256.copy_from_slice(ctx.finish().as_ref());
        }
        if let Some(finish) = self.finish.take() {
            self.finishing = Some(finish(digest, trailers));
        }
    }

    /// After the inner body ended: waits for the finisher, then releases the held chunk, then
    /// the finisher's trailers.
    fn poll_finishing(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(finishing) = self.finishing.as_mut() {
            match finishing.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => {
                    self.finishing = None;
                    self.held = None;
                    return Poll::Ready(Some(Err(e)));
                }
                Poll::Ready(Ok(trailers)) => {
                    self.finishing = None;
                    self.trailers = trailers;
                }
            }
        }
        if let Some(last) = self.held.take() {
            return Poll::Ready(Some(Ok(Frame::data(last))));
        }
        Poll::Ready(self.trailers.take().map(|t| Ok(Frame::trailers(t))))
    }
}

impl<B> Body for DigestBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        loop {
            if this.done {
                return this.poll_finishing(cx);
            }
            if let Some(tee) = this.tee.as_mut() {
                match tee.poll_reserve(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(())) => {}
                    Poll::Ready(Err(_)) => {
                        this.done = true;
                        this.finish = None;
                        this.held = None;
                        return Poll::Ready(Some(Err(
                            "the body copy for the audit log failed".into()
                        )));
                    }
                }
            }
            match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => {
                    this.done = true;
                    this.finish = None;
                    this.held = None;
                    return Poll::Ready(Some(Err(e.into())));
                }
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        this.seen += data.len() as u64;
                        if this.seen > this.limit {
                            this.done = true;
                            this.finish = None;
                            this.held = None;
                            return Poll::Ready(Some(Err(Box::new(TooLarge(this.limit)))));
                        }
                        if let Some(ctx) = this.digest.as_mut() {
                            ctx.update(&data);
                        }
                        if let Some(tee) = this.tee.as_mut() {
                            // Reserved above; a failure shows when the copy is finished.
                            let _ = tee.send_item(data.clone());
                        }
                        if let Some(previous) = this.held.replace(data) {
                            return Poll::Ready(Some(Ok(Frame::data(previous))));
                        }
                    }
                    Err(frame) => {
                        // A trailers frame ends the body.
                        this.done = true;
                        this.start_finishing(frame.into_trailers().ok());
                    }
                },
                Poll::Ready(None) => {
                    this.done = true;
                    this.start_finishing(None);
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
            && self.finishing.is_none()
            && self.finish.is_none()
            && self.held.is_none()
            && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        // The finisher may add a trailers frame, so the end is never known from the inner hint.
        let mut hint = SizeHint::new();
        if let Some(upper) = self.inner.size_hint().upper() {
            let held = self.held.as_ref().map_or(0, |h| h.len() as u64);
            hint.set_upper(upper.saturating_add(held));
        }
        hint
    }
}

/// Boxes any compatible body into the gateway body type.
pub fn boxed<B>(body: B) -> GatewayBody
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    use http_body_util::BodyExt;
    body.map_err(Into::into).boxed_unsync()
}

/// A complete body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> GatewayBody {
    boxed(http_body_util::Full::new(bytes.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn stream(chunks: Vec<&'static [u8]>, trailers: Option<HeaderMap>) -> GatewayBody {
        let mut frames: Vec<Result<Frame<Bytes>, BoxError>> = chunks
            .into_iter()
            .map(|c| Ok(Frame::data(Bytes::from_static(c))))
            .collect();
        if let Some(t) = trailers {
            frames.push(Ok(Frame::trailers(t)));
        }
        boxed(http_body_util::StreamBody::new(futures_util::stream::iter(
            frames,
        )))
    }

    #[tokio::test]
    async fn digests_the_whole_stream_and_appends_trailers() {
        let (tx, rx) = std::sync::mpsc::channel();
        let body = DigestBody::new(
            stream(vec![b"ab", b"c"], None),
            10,
            Box::new(move |digest, arrived| {
                tx.send((digest, arrived.is_some())).ok();
                Box::pin(async {
                    tokio::task::yield_now().await;
                    let mut t = HeaderMap::new();
                    t.insert("psn-request-proof", http::HeaderValue::from_static("x"));
                    Ok(Some(t))
                })
            }),
        );
        let collected = body.collect().await.expect("collect");
        assert_eq!(
            collected.trailers().map(|t| t["psn-request-proof"].clone()),
            Some(http::HeaderValue::from_static("x"))
        );
        assert_eq!(collected.to_bytes(), Bytes::from_static(b"abc"));
        let (digest, arrived) = rx.recv().expect("finished");
        assert_eq!(
            digest.sha256.as_slice(),
            psn_core::encoding::sha256(b"abc").as_slice()
        );
        assert_eq!(digest.bytes, 3);
        assert!(!arrived);
    }

    #[tokio::test]
    async fn hands_arriving_trailers_to_the_finisher_and_stops_over_the_limit() {
        let mut t = HeaderMap::new();
        t.insert("psn-response-proof", http::HeaderValue::from_static("p"));
        let body = DigestBody::new(
            stream(vec![b"x"], Some(t)),
            10,
            Box::new(|_, arrived| {
                assert!(arrived.is_some_and(|t| t.contains_key("psn-response-proof")));
                Box::pin(async { Ok(None) })
            }),
        );
        assert!(body.collect().await.expect("collect").trailers().is_none());
        let over = DigestBody::new(
            stream(vec![b"0123456789", b"x"], None),
            10,
            Box::new(|_, _| Box::pin(async { Ok(None) })),
        );
        let err = over.collect().await.expect_err("over the limit");
        assert!(err.to_string().contains("limit"));
    }

    #[tokio::test]
    async fn holds_the_last_chunk_until_the_finisher_succeeds() {
        let mut body = DigestBody::new(
            stream(vec![b"first", b"last"], None),
            100,
            Box::new(|_, _| Box::pin(async { Err("the statement does not verify".into()) })),
        );
        let first = body.frame().await.expect("frame").expect("data");
        assert_eq!(first.into_data().ok(), Some(Bytes::from_static(b"first")));
        let refused = body.frame().await.expect("an error, not the last chunk");
        assert!(refused.is_err());
        assert!(body.frame().await.is_none());
    }
}

/// Why a [`pump`] did not deliver a verified body.
#[derive(Debug)]
pub enum PumpFailure {
    /// Over the size limit.
    TooLarge(u64),
    /// The incoming body failed (peer reset, protocol error).
    Body(String),
    /// Nothing arrived for this long: the sender stalled.
    Stalled(std::time::Duration),
    /// The check of digest and trailers refused it.
    Refused(String),
}

/// Checks a finished body's digest and trailers; returns the value to report (e.g. the digest
/// text) or why the body is refused.
pub type Check = Box<dyn FnOnce(Digested, Option<HeaderMap>) -> Result<String, String> + Send>;

/// A body [`pump`] delivered: what its check reported, and its size.
#[derive(Debug)]
pub struct Pumped {
    /// The check's value.
    pub checked: String,
    /// Data bytes read.
    pub bytes: u64,
}

/// Reads `incoming` to its end in its own task, digesting it and forwarding its data to the
/// returned body while that body's reader wants it (with back-pressure: a few frames at most are
/// buffered). If the reader stops early (a backend that answers without reading the request),
/// the pump keeps reading and discarding, so the digest and trailers are always known. The last
/// chunk is held back until `check` accepts the whole body: a reader never sees a complete body
/// that fails the check, only an aborted one. A sender that sends nothing for `idle` has
/// stalled, and the body fails.
pub fn pump<B>(
    incoming: B,
    limit: u64,
    idle: std::time::Duration,
    check: Check,
    tee: Option<tokio::sync::mpsc::Sender<Bytes>>,
) -> (
    GatewayBody,
    tokio::sync::oneshot::Receiver<Result<Pumped, PumpFailure>>,
)
where
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError> + Send,
{
    use http_body_util::BodyExt;
    let (frames_tx, mut frames_rx) =
        tokio::sync::mpsc::channel::<Result<Frame<Bytes>, BoxError>>(4);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let mut incoming = incoming;
        let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
        let mut seen = 0u64;
        let mut held: Option<Bytes> = None;
        let forward = |frame: Result<Frame<Bytes>, BoxError>| {
            let tx = frames_tx.clone();
            async move {
                if !tx.is_closed() {
                    let _ = tx.send(frame).await;
                }
            }
        };
        let trailers = loop {
            let Ok(next) = tokio::time::timeout(idle, incoming.frame()).await else {
                break Err(PumpFailure::Stalled(idle));
            };
            match next {
                None => break Ok(None),
                Some(Err(e)) => break Err(PumpFailure::Body(e.into().to_string())),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => {
                        seen += data.len() as u64;
                        if seen > limit {
                            break Err(PumpFailure::TooLarge(limit));
                        }
                        digest.update(&data);
                        if let Some(tee) = &tee {
                            if tee.send(data.clone()).await.is_err() {
                                break Err(PumpFailure::Body(
                                    "the body copy for the audit log failed".into(),
                                ));
                            }
                        }
                        if let Some(previous) = held.replace(data) {
                            forward(Ok(Frame::data(previous))).await;
                        }
                    }
                    Err(frame) => break Ok(frame.into_trailers().ok()),
                },
            }
        };
        drop(tee);
        let outcome = trailers.and_then(|trailers| {
            let mut out = Digested {
                sha256: [0u8; 32],
                bytes: seen,
            };
            out.sha256.copy_from_slice(digest.finish().as_ref());
            check(out, trailers)
                .map(|checked| Pumped {
                    checked,
                    bytes: seen,
                })
                .map_err(PumpFailure::Refused)
        });
        match &outcome {
            Ok(_) => {
                if let Some(last) = held.take() {
                    forward(Ok(Frame::data(last))).await;
                }
            }
            Err(e) => forward(Err(format!("request body refused: {e:?}").into())).await,
        }
        drop(frames_tx);
        let _ = done_tx.send(outcome);
    });
    let stream = futures_util::stream::poll_fn(move |cx| frames_rx.poll_recv(cx));
    (boxed(http_body_util::StreamBody::new(stream)), done_rx)
}

//! Moving bytes between a TCP socket and an HTTP/2 stream, both ways, on
//! either end of a tunnel. Idle connections hold no buffer: a read buffer is
//! allocated only once the socket is readable, and is handed to HTTP/2 as
//! `Bytes` without a copy. Sending respects HTTP/2 flow control (capacity
//! is reserved before data is queued), so a slow reader slows its writer
//! instead of growing memory.

use std::future::poll_fn;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use h2::{RecvStream, SendStream};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;

use sekimori_types::Clock;

use crate::recording::{Direction, SessionRecording};

/// Bytes read from a socket at a time.
pub const READ_CHUNK: usize = 64 * 1024;

/// Why a direction stopped early.
#[derive(Debug, thiserror::Error)]
pub enum SpliceError {
    /// The socket failed.
    #[error("socket: {0}")]
    Socket(#[from] std::io::Error),
    /// The HTTP/2 stream was reset or the tunnel failed.
    #[error("tunnel stream: {0}")]
    Stream(#[from] h2::Error),
    /// The recording could not be written: the connection must close.
    #[error("recording: {0}")]
    Recording(String),
}

/// Records what passes in one direction (gateway only).
#[derive(Clone, Copy)]
pub struct Tap<'a> {
    pub recording: &'a SessionRecording,
    pub direction: Direction,
    pub clock: &'a dyn Clock,
}

impl std::fmt::Debug for Tap<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap").field("direction", &self.direction).finish_non_exhaustive()
    }
}

impl Tap<'_> {
    async fn seen(&self, data: &Bytes) -> Result<(), SpliceError> {
        self.recording
            .record(self.direction, self.clock.now(), data.clone())
            .await
            .map_err(|e| SpliceError::Recording(e.to_string()))
    }
}

/// Drives both directions of a connection until both have finished, or the
/// first error. `up_done` says the upward direction already finished (it
/// must then not be polled again). A clean end of one direction waits for
/// the other: half-closed connections stay usable.
pub async fn both_directions<U, D>(
    mut up: std::pin::Pin<&mut U>,
    mut up_done: bool,
    mut down: std::pin::Pin<&mut D>,
) -> Result<(), SpliceError>
where
    U: std::future::Future<Output = Result<(), SpliceError>>,
    D: std::future::Future<Output = Result<(), SpliceError>>,
{
    let mut down_done = false;
    while !(up_done && down_done) {
        tokio::select! {
            r = &mut up, if !up_done => { up_done = true; r?; }
            r = &mut down, if !down_done => { down_done = true; r?; }
        }
    }
    Ok(())
}

/// Queues `data` on `send`, waiting for flow-control capacity.
pub async fn send_all(send: &mut SendStream<Bytes>, mut data: Bytes) -> Result<(), SpliceError> {
    while !data.is_empty() {
        send.reserve_capacity(data.len());
        let granted = match poll_fn(|cx| send.poll_capacity(cx)).await {
            Some(r) => r?,
            // The stream was closed or reset under us.
            None => return Err(SpliceError::Stream(h2::Error::from(h2::Reason::CANCEL))),
        };
        if granted == 0 {
            continue;
        }
        let chunk = data.split_to(granted.min(data.len()));
        send.send_data(chunk, false)?;
    }
    Ok(())
}

/// Copies the HTTP/2 stream `body` into the socket until the peer ends the
/// stream, then shuts down the socket's write side.
pub async fn stream_to_socket<W: AsyncWrite + Unpin>(
    body: &mut RecvStream,
    socket: &mut W,
    count: &AtomicU64,
    tap: Option<Tap<'_>>,
) -> Result<(), SpliceError> {
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let n = chunk.len();
        // Counted as received: a cut in the middle of a write still counts
        // what may have crossed (and what the recording holds).
        count.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(tap) = tap {
            tap.seen(&chunk).await?;
        }
        socket.write_all(&chunk).await?;
        // Only now may the peer send more: the bytes have left our hands.
        let _ = body.flow_control().release_capacity(n);
    }
    let _ = socket.shutdown().await;
    Ok(())
}

/// Copies the socket into the HTTP/2 stream until the socket reaches EOF,
/// then ends the stream.
pub async fn socket_to_stream(
    socket: &mut OwnedReadHalf,
    send: &mut SendStream<Bytes>,
    count: &AtomicU64,
    tap: Option<Tap<'_>>,
) -> Result<(), SpliceError> {
    loop {
        socket.readable().await?;
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        match socket.try_read_buf(&mut buf) {
            Ok(0) => {
                send.send_data(Bytes::new(), true)?;
                return Ok(());
            }
            Ok(n) => {
                count.fetch_add(n as u64, Ordering::Relaxed);
                let data = buf.freeze();
                if let Some(tap) = tap {
                    tap.seen(&data).await?;
                }
                send_all(send, data).await?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

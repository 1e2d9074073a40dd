//! A long, thin network link between the clients and the emulator's OSS side, in user space
//! (the kernel here has no `netem`): a proxy in front of the OSS listener that gives every
//! connection what a WAN path gives it.
//!
//! - **Delay**: every byte reaches the other side RTT/2 after it left, both ways.
//! - **Window**: at most `window` bytes of a connection are unacknowledged in each direction; a
//!   byte is acknowledged one RTT after it left. One connection therefore carries at most
//!   window / RTT, as TCP does with a fixed window.
//! - **Rate**: one link shared by every connection, each direction its own (full duplex): bytes
//!   leave one after another at `rate`, so many connections together carry at most `rate`.
//! - **Handshake**: a new connection carries nothing for its first RTT.
//!
//! ```toml
//! [link]
//! rtt_ms = 250
//! rate_bytes_per_sec = 125000000   # 1 Gbit/s
//! window_bytes = 1048576
//! ```

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Deserialize;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::error::EmulatorError;

/// Bytes read from a socket at once: small against any window, so the window is honoured
/// closely.
const READ_CHUNK: usize = 64 * 1024;
/// How late a task may wake (timers tick in milliseconds; a busy machine adds more) and still
/// count as on time. Never lets a connection beat window / RTT: bytes still leave no earlier
/// than the acknowledgement that made room for them.
const TIMER_SLACK: Duration = Duration::from_millis(10);
/// The proxy's receive buffer: bytes waiting in it are not yet on the link, so it is kept small
/// (the sender's own buffer then fills and the sender waits, as on a real path).
const RECEIVE_BUFFER: u32 = 64 * 1024;

/// The link's settings (`[link]` in the config, `serve --link`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkConfig {
    /// Round-trip time in milliseconds.
    pub rtt_ms: u64,
    /// The link's rate in bytes per second, each direction.
    pub rate_bytes_per_sec: u64,
    /// Unacknowledged bytes a connection may have on the link, each direction.
    pub window_bytes: u64,
}

impl LinkConfig {
    /// Refuses settings that describe no link.
    pub fn validate(&self) -> Result<(), EmulatorError> {
        if self.rate_bytes_per_sec == 0 || self.window_bytes == 0 {
            return Err(EmulatorError::Config(
                "[link] rate_bytes_per_sec and window_bytes must be positive".to_owned(),
            ));
        }
        Ok(())
    }

    fn rtt(&self) -> Duration {
        Duration::from_millis(self.rtt_ms)
    }

    /// What one connection can carry at most, bytes per second.
    pub fn per_connection_rate(&self) -> f64 {
        if self.rtt_ms == 0 {
            return self.rate_bytes_per_sec as f64;
        }
        (self.window_bytes as f64 / self.rtt().as_secs_f64()).min(self.rate_bytes_per_sec as f64)
    }
}

/// One direction of the shared link: when it is next free to put a byte on the wire.
#[derive(Debug)]
struct Wire {
    free_at: Mutex<Instant>,
    seconds_per_byte: f64,
}

impl Wire {
    fn new(rate_bytes_per_sec: u64) -> Self {
        Wire {
            free_at: Mutex::new(Instant::now()),
            seconds_per_byte: 1.0 / rate_bytes_per_sec.max(1) as f64,
        }
    }

    /// Queues `bytes`, ready to leave at `ready`; returns when their first byte leaves and when
    /// their last has left.
    fn send(&self, bytes: usize, ready: Instant) -> (Instant, Instant) {
        let mut free_at = self.free_at.lock().unwrap_or_else(PoisonError::into_inner);
        let start = (*free_at).max(ready);
        *free_at = start + Duration::from_secs_f64(bytes as f64 * self.seconds_per_byte);
        (start, *free_at)
    }
}

/// Accepts clients on `listener` and carries each connection to `upstream` through the link,
/// until `stop` completes.
pub(crate) async fn serve_link(
    listener: TcpListener,
    upstream: SocketAddr,
    config: LinkConfig,
    stop: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    let up = Arc::new(Wire::new(config.rate_bytes_per_sec));
    let down = Arc::new(Wire::new(config.rate_bytes_per_sec));
    tokio::pin!(stop);
    loop {
        let (client, _) = tokio::select! {
            () = &mut stop => return Ok(()),
            accepted = listener.accept() => accepted?,
        };
        let (up, down) = (Arc::clone(&up), Arc::clone(&down));
        tokio::spawn(async move {
            // The handshake: nothing moves for one round trip.
            tokio::time::sleep(config.rtt()).await;
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (client_read, client_write) = client.into_split();
            let (server_read, server_write) = server.into_split();
            let requests = carry(client_read, server_write, up, config);
            let answers = carry(server_read, client_write, down, config);
            let _ = tokio::join!(requests, answers);
        });
    }
}

/// A listener for the link's public side, its receive buffer kept small (see
/// [`RECEIVE_BUFFER`]).
pub(crate) fn bind_small_buffers(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.set_recv_buffer_size(RECEIVE_BUFFER)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// Carries one direction of one connection: reads while the window has room, puts the bytes on
/// the shared wire, and hands them to the far side RTT/2 after they left.
async fn carry(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    wire: Arc<Wire>,
    config: LinkConfig,
) -> std::io::Result<()> {
    let half = config.rtt() / 2;
    let window = usize::try_from(config.window_bytes).unwrap_or(usize::MAX);
    let (deliveries, mut to_deliver) = mpsc::unbounded_channel::<(Vec<u8>, Instant)>();
    let deliver = async move {
        while let Some((bytes, at)) = to_deliver.recv().await {
            tokio::time::sleep_until(at).await;
            to.write_all(&bytes).await?;
        }
        to.shutdown().await
    };
    let read = async move {
        let mut unacknowledged = 0usize;
        let mut acks: VecDeque<(usize, Instant)> = VecDeque::new();
        loop {
            // Acknowledgements that came back free the window; wait for one if it is full.
            let mut opened = None;
            while let Some(&(bytes, at)) = acks.front() {
                if unacknowledged < window && at > Instant::now() {
                    break;
                }
                tokio::time::sleep_until(at).await;
                unacknowledged -= bytes;
                acks.pop_front();
                opened = Some(at);
            }
            let room = (window - unacknowledged).min(READ_CHUNK);
            let mut buffer = vec![0u8; room];
            let n = from.read(&mut buffer).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(());
            }
            buffer.truncate(n);
            // Bytes that were waiting when the window opened leave when it opened, not when the
            // timer (1 ms ticks) woke this task: otherwise each round trip would run late.
            let now = Instant::now();
            let ready = opened.filter(|at| now - *at <= TIMER_SLACK).unwrap_or(now);
            let (first_left, last_left) = wire.send(n, ready);
            unacknowledged += n;
            // Acknowledged a round trip after the chunk started to leave: TCP acknowledges each
            // small segment as it arrives, so a chunk's own time on the wire does not stretch
            // the round trip.
            acks.push_back((n, first_left + config.rtt()));
            if deliveries.send((buffer, last_left + half)).is_err() {
                return Ok(());
            }
        }
    };
    let (read, delivered) = tokio::join!(read, deliver);
    read.and(delivered)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server that reads `len` bytes from each connection, then answers one byte.
    async fn sink(len: usize) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buffer = vec![0u8; 256 * 1024];
                    let mut left = len;
                    while left > 0 {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => left = left.saturating_sub(n),
                        }
                    }
                    let _ = stream.write_all(b"k").await;
                });
            }
        });
        addr
    }

    async fn link(config: LinkConfig, upstream: SocketAddr) -> SocketAddr {
        let listener = bind_small_buffers("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve_link(
            listener,
            upstream,
            config,
            std::future::pending(),
        ));
        addr
    }

    /// Sends `len` bytes over a new connection through the link and waits for the answer;
    /// returns the seconds after the handshake (one RTT). With a full window per round trip,
    /// `len` bytes take len / window round trips, the last one's answer included.
    async fn transfer(addr: SocketAddr, len: usize, rtt: Duration) -> f64 {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let started = Instant::now();
        let body = vec![7u8; len];
        stream.write_all(&body).await.unwrap();
        let mut answer = [0u8; 1];
        stream.read_exact(&mut answer).await.unwrap();
        (started.elapsed() - rtt).as_secs_f64()
    }

    fn within(measured: f64, expected: f64, share: f64) -> bool {
        (measured - expected).abs() <= expected * share
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn one_connection_carries_window_per_rtt_and_many_share_the_rate() {
        let config = LinkConfig {
            rtt_ms: 100,
            rate_bytes_per_sec: 24 << 20,
            window_bytes: 512 << 10,
        };
        let rtt = config.rtt();
        // One connection: window-bound, 512 KiB per 100 ms = 5 MiB/s.
        let len = 8 << 20;
        let addr = link(config, sink(len).await).await;
        let seconds = transfer(addr, len, rtt).await;
        eprintln!(
            "one connection: {:.3} MiB/s",
            len as f64 / seconds / 1048576.0
        );
        // len / window round trips, plus the last window's own time on the wire.
        let expected = len as f64 / config.per_connection_rate()
            + config.window_bytes as f64 / config.rate_bytes_per_sec as f64;
        assert!(
            within(seconds, expected, 0.05),
            "one connection: {seconds:.3} s, expected {expected:.3} s at {:.2} MiB/s",
            config.per_connection_rate() / 1048576.0
        );

        // Eight connections could carry 40 MiB/s between them: the shared 24 MiB/s holds.
        let len = 6 << 20;
        let addr = link(config, sink(len).await).await;
        let started = Instant::now();
        let transfers: Vec<_> = (0..8)
            .map(|_| tokio::spawn(transfer(addr, len, rtt)))
            .collect();
        for transfer in transfers {
            transfer.await.unwrap();
        }
        // The handshake, and the last bytes' way there and the answer's way back.
        let seconds = (started.elapsed() - 2 * rtt).as_secs_f64();
        let rate = (8 * len) as f64 / seconds;
        eprintln!("eight connections: {:.3} MiB/s", rate / 1048576.0);
        assert!(
            within(rate, config.rate_bytes_per_sec as f64, 0.05),
            "eight connections: {:.2} MiB/s, expected {:.2}",
            rate / 1048576.0,
            config.rate_bytes_per_sec as f64 / 1048576.0
        );
    }
}

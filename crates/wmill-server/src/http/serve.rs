//! The accept loop: HTTP/1.1 connections served by hyper, each watched so that no client can
//! hold one for ever, and at most so many at once from one address.
//!
//! - **Header timeout**: from the moment a connection opens, the client has `header_timeout`
//!   to complete the request's headers; past it the connection is closed. On a kept-alive
//!   connection the time runs from the first byte of the next request, and the connection is
//!   closed within twice `header_timeout` (the watchdog is not woken per request: it looks
//!   at least every `header_timeout`, so that serving a request costs it nothing).
//! - **Body timeout**: enforced where bodies are read (the JSON extractor answers 408).
//! - **Idle timeout**: a kept-alive connection with no request in flight and no bytes coming
//!   is closed after `idle_timeout`.
//! - **Per-address cap**: a client address (trusted proxies excepted) has at most
//!   `max_connections_per_ip` connections open; more are closed at once.
//! - **Shutdown**: connections are told to finish the request in flight and close; the loop
//!   waits for them at most `shutdown_grace`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// Limits of the accept loop (see the module documentation).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections_per_ip: usize,
    /// Addresses exempt from the per-address cap (a proxy carries many clients).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub shutdown_grace: Duration,
}

/// Milliseconds since the first call, from a monotonic clock (0 means "not set" below).
fn now_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = *START.get_or_init(Instant::now);
    start.elapsed().as_millis() as u64 + 1
}

/// What the watchdog of one connection knows.
#[derive(Default)]
struct Activity {
    /// Requests being answered.
    in_flight: AtomicUsize,
    /// When the headers of a request started to arrive (or the connection opened); 0: none.
    headers_since: AtomicU64,
    /// When the connection last became idle.
    idle_since: AtomicU64,
}

impl Activity {
    fn on_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && self.headers_since.load(Ordering::Acquire) == 0
        {
            self.headers_since.store(now_ms(), Ordering::Release);
        }
    }

    fn request_started(&self) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.headers_since.store(0, Ordering::Release);
    }

    fn request_done(&self) {
        self.idle_since.store(now_ms(), Ordering::Release);
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
    }

    /// `Err(())` when the connection must be closed now; else when to look again. Nothing
    /// wakes the watchdog when these change, so it looks at least every header timeout: the
    /// headers of a request that starts while it sleeps are caught one period late at most.
    fn next_check(&self, o: &ServeOptions) -> Result<u64, ()> {
        let now = now_ms();
        self.deadline(o, now)
            .map(|at| at.min(now + o.header_timeout.as_millis().max(1) as u64))
    }

    fn deadline(&self, o: &ServeOptions, now: u64) -> Result<u64, ()> {
        let headers = self.headers_since.load(Ordering::Acquire);
        if headers != 0 {
            let deadline = headers + o.header_timeout.as_millis() as u64;
            return if now >= deadline {
                Err(())
            } else {
                Ok(deadline)
            };
        }
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return Ok(now + o.header_timeout.as_millis().max(1000) as u64);
        }
        let deadline = self.idle_since.load(Ordering::Acquire) + o.idle_timeout.as_millis() as u64;
        if now >= deadline {
            Err(())
        } else {
            Ok(deadline)
        }
    }
}

/// Marks a request done when its answer has been produced (or the request was dropped).
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.request_done();
    }
}

/// A TCP stream that reports reads to its connection's watchdog.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let res = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.on_read();
        }
        res
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// Open connections per client address.
#[derive(Default)]
struct PerIp(Mutex<HashMap<IpAddr, usize>>);

/// One open connection of an address; counted down when dropped.
struct Slot(Arc<PerIp>, IpAddr);

impl PerIp {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Slot> {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(Slot(self.clone(), ip))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut m = self.0.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = m.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown` completes, then lets connections finish
/// (within `shutdown_grace`).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    opts: ServeOptions,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let opts = Arc::new(opts);
    let per_ip = Arc::new(PerIp::default());
    let (closing_tx, closing_rx) = tokio::sync::watch::channel(false);
    let open = Arc::new(AtomicUsize::new(0));
    let all_closed = Arc::new(tokio::sync::Notify::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little instead of spinning.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let ip = peer.ip();
        let slot = if opts.trusted_proxies.iter().any(|n| n.contains(&ip)) {
            None
        } else {
            match per_ip.take(ip, opts.max_connections_per_ip) {
                Some(s) => Some(s),
                None => {
                    tracing::debug!(%ip, "connection refused: too many open from this address");
                    drop(stream);
                    continue;
                }
            }
        };
        let _ = stream.set_nodelay(true);
        open.fetch_add(1, Ordering::AcqRel);
        let (app, opts, closing, open, all_closed) = (
            app.clone(),
            opts.clone(),
            closing_rx.clone(),
            open.clone(),
            all_closed.clone(),
        );
        tokio::spawn(async move {
            connection(stream, peer, app, &opts, closing).await;
            drop(slot);
            if open.fetch_sub(1, Ordering::AcqRel) == 1 {
                all_closed.notify_waiters();
            }
        });
    }
    drop(listener);
    let _ = closing_tx.send(true);
    let waited = tokio::time::timeout(opts.shutdown_grace, async {
        while open.load(Ordering::Acquire) > 0 {
            let notified = all_closed.notified();
            if open.load(Ordering::Acquire) == 0 {
                break;
            }
            notified.await;
        }
    })
    .await;
    if waited.is_err() {
        tracing::warn!(
            "{} connections still open after {} s; closing them",
            open.load(Ordering::Acquire),
            opts.shutdown_grace.as_secs()
        );
    }
}

/// Serves one connection until it closes, times out, or the server shuts down.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    app: Router,
    opts: &ServeOptions,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::default());
    // The headers of the first request are due from the moment the connection opens.
    activity.headers_since.store(now_ms(), Ordering::Release);
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let tracked = activity.clone();
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        tracked.request_started();
        let guard = InFlight(tracked.clone());
        req.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move {
            let res = app.oneshot(req.map(axum::body::Body::new)).await;
            drop(guard);
            res
        }
    });
    // The watchdog below keeps the time; hyper's own header timer would also close idle
    // kept-alive connections after its 30 s default.
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.header_read_timeout(None).keep_alive(true);
    let conn = builder.serve_connection(io, service);
    tokio::pin!(conn);
    let mut shutting_down = *closing.borrow();
    if shutting_down {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        let next = match activity.next_check(opts) {
            Ok(at) => at,
            Err(()) => {
                if activity.headers_since.load(Ordering::Acquire) != 0 {
                    tracing::debug!(%peer, "closing a connection: request headers too slow");
                    return;
                }
                // Idle: let hyper close it cleanly (it does at once: nothing is in flight).
                if !shutting_down {
                    conn.as_mut().graceful_shutdown();
                    shutting_down = true;
                }
                now_ms() + 1000
            }
        };
        let sleep = tokio::time::sleep(Duration::from_millis(next.saturating_sub(now_ms())));
        tokio::select! {
            res = conn.as_mut() => {
                if let Err(e) = res {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
                return;
            }
            changed = closing.changed(), if !shutting_down => {
                if changed.is_ok() && *closing.borrow() {
                    conn.as_mut().graceful_shutdown();
                    shutting_down = true;
                }
            }
            () = sleep => {}
        }
    }
}

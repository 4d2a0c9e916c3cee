//! A small HTTP/1.1 server for read-only pages, bounded in every way, on one thread of its own.
//!
//! It serves `--metrics` and `--dashboard`. What it promises the process it runs in:
//!
//! - **One thread**, whatever the clients do: the thread runs a mio `Poll` (epoll) over the
//!   listener and at most `--http-clients` connections (a classroom's worth by default). A
//!   connection past that takes the slot of the one that has waited longest without sending a
//!   request (an idle keep-alive, or one that never will), or, when every slot is busy
//!   answering, is answered `503` at once and closed; so it holds nothing: 3,000 idle
//!   connections to the port cost one thread and the slots that were already there, and a
//!   page's requests still get through.
//! - **No memory that grows**: every slot's buffers are allocated and written once, when the
//!   server starts, before the binaries take the memory baseline that user bytes per connection
//!   are measured from; a request head longer than its buffer is refused (`431`).
//! - **Time-outs**: a connection that has not sent a whole request head within [`TIMEOUT`] of
//!   connecting (or of its last answer, with keep-alive), or that does not read its answer within
//!   it, is closed.
//! - **Read-only**: `GET` and `HEAD` only (`405` otherwise); no request changes anything.
//! - **Accepting never stops for good**: a failed `accept()` skips one connection or pauses
//!   accepting for a moment; it neither ends the loop nor spins it (`accept`).
//!
//! What a path answers is the [`Handler`]'s business, and so is its own work on this thread
//! ([`Handler::due`]: the dashboard samples there). A body is bytes written into the slot's
//! buffer, a `'static` page, or a stream continued piece by piece ([`Body::Stream`], sent
//! chunked): no answer, however long, needs more than the slot's buffer.

mod accept;
mod wire;

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token, Waker};

use wire::{hex7, parse, reason, write_head, Request, HEAD_ROOM};

/// How long a client has to send a request head, or to read an answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Clients served at once by default: a classroom's worth.
pub const DEFAULT_CLIENTS: usize = 32;
/// The longest request head read.
const HEAD_MAX: usize = 8 * 1024;
/// What a chunk's size line and its trailing CRLF take around its data.
const CHUNK_FRAME: usize = 12;
const LISTENER: Token = Token(usize::MAX);
const WAKER: Token = Token(usize::MAX - 1);

/// What an answer's body is.
pub enum Body {
    /// What the handler wrote into the buffer it was given.
    Buffered,
    /// A page that lives as long as the program.
    Static(&'static [u8]),
    /// Continued by [`Handler::more`] with this cursor until it says it is done.
    Stream(u64),
}

/// One answer: its status, content type and body.
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Body,
}

impl Answer {
    pub fn buffered(content_type: &'static str) -> Answer {
        Answer {
            status: 200,
            content_type,
            body: Body::Buffered,
        }
    }
}

/// What a server serves; it lives on the server's thread.
pub trait Handler: Send + 'static {
    /// The buffer each slot writes its answer from: a buffered body must fit in it; a stream is
    /// continued each time it has drained.
    const OUT_BUF: usize = 16 * 1024;

    /// The answer to `GET path` (its query included); a buffered body goes into `buf`.
    fn answer(&mut self, path: &str, buf: &mut Vec<u8>) -> Answer;

    /// Appends the next piece of stream `cursor` to `buf` (at most `room` bytes); `true` when
    /// the stream is done.
    fn more(&mut self, _cursor: &mut u64, _buf: &mut Vec<u8>, _room: usize) -> bool {
        true
    }

    /// The handler's own work; called at least by the instant it returns.
    fn due(&mut self, now: Instant) -> Instant {
        now + Duration::from_secs(3600)
    }
}

/// One client's slot: its connection, what it sent, and the answer going out.
struct Slot {
    stream: Option<TcpStream>,
    head: Vec<u8>,
    out: Vec<u8>,
    sent: usize,
    /// The static page sent after `out`, and how far.
    page: &'static [u8],
    page_sent: usize,
    stream_cursor: Option<u64>,
    chunked: bool,
    /// Close once the answer is out.
    closing: bool,
    deadline: Instant,
}

impl Slot {
    /// Its buffers are written once now, so their pages are resident before any baseline is
    /// taken and no client later makes the process grow.
    fn new(now: Instant, out_buf: usize) -> Slot {
        Slot {
            stream: None,
            head: touched(HEAD_MAX),
            out: touched(out_buf),
            sent: 0,
            page: &[],
            page_sent: 0,
            stream_cursor: None,
            chunked: false,
            closing: false,
            deadline: now,
        }
    }

    fn reset_answer(&mut self) {
        self.out.clear();
        self.sent = 0;
        self.page = &[];
        self.page_sent = 0;
        self.stream_cursor = None;
        self.chunked = false;
    }
}

/// An empty buffer of `cap` bytes whose pages are resident.
pub(crate) fn touched(cap: usize) -> Vec<u8> {
    let mut v = vec![0xA5; cap];
    v.clear();
    v
}

/// A bound listener, not yet served: bound before the binary forks or connects, so a bad
/// address is an error before anything else happens; served by [`serve`] after.
pub struct Bound {
    listener: std::net::TcpListener,
    pub addr: SocketAddr,
}

impl Bound {
    pub fn bind(addr: SocketAddr) -> io::Result<Bound> {
        let listener = std::net::TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        Ok(Bound { listener, addr })
    }
}

/// Starts the thread `name` serving `handler` on `listener` to at most `clients` clients at
/// once; without a listener the thread only does the handler's own work.
pub fn serve<H: Handler>(
    listener: Option<Bound>,
    name: &str,
    clients: usize,
    handler: H,
) -> io::Result<Server> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let addr = listener.as_ref().map(|b| b.addr);
    let mut listener = listener.map(|b| TcpListener::from_std(b.listener));
    if let Some(l) = listener.as_mut() {
        poll.registry().register(l, LISTENER, Interest::READABLE)?;
    }
    let now = Instant::now();
    let slots = match listener {
        Some(_) => (0..clients.max(1))
            .map(|_| Slot::new(now, H::OUT_BUF))
            .collect(),
        None => Vec::new(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let mut core = Core {
        poll,
        listener,
        accept_retry: None,
        slots,
        handler,
        stop: Arc::clone(&stop),
    };
    let thread = std::thread::Builder::new()
        .name(name.into())
        .spawn(move || core.run())?;
    Ok(Server {
        waker,
        stop,
        thread: Some(thread),
        addr,
    })
}

/// A running server; dropping it stops the thread.
pub struct Server {
    waker: Arc<Waker>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
    pub addr: Option<SocketAddr>,
}

impl Server {
    /// Wakes the thread now: the handler has news.
    pub fn wake(&self) {
        let _ = self.waker.wake();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.waker.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Why no request could be read.
enum NoRequest {
    /// Not a whole head yet.
    Wait,
    /// The client hung up, or its connection failed.
    Gone,
    /// A request that is refused with this status.
    Refused(u16),
}

struct Core<H> {
    poll: Poll,
    listener: Option<TcpListener>,
    /// While accepting is paused: when it is tried again.
    accept_retry: Option<Instant>,
    slots: Vec<Slot>,
    handler: H,
    stop: Arc<AtomicBool>,
}

impl<H: Handler> Core<H> {
    fn run(&mut self) {
        let mut events = Events::with_capacity(256);
        while !self.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            let wake = self
                .slots
                .iter()
                .filter(|s| s.stream.is_some())
                .map(|s| s.deadline)
                .chain(self.accept_retry)
                .fold(self.handler.due(now), Instant::min);
            let timeout = wake.saturating_duration_since(now);
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!("HTTP server: epoll failed: {e}; the page stops answering");
                    return;
                }
            }
            for ev in events.iter() {
                match ev.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    Token(i) => self.serve(i),
                }
            }
            let now = Instant::now();
            for i in 0..self.slots.len() {
                if self.slots[i].stream.is_some() && self.slots[i].deadline <= now {
                    self.close(i);
                }
            }
            if self.accept_retry.is_some_and(|t| t <= now) {
                self.accept_retry = None;
                self.accept();
            }
        }
    }

    fn close(&mut self, i: usize) {
        let s = &mut self.slots[i];
        if let Some(mut stream) = s.stream.take() {
            let _ = self.poll.registry().deregister(&mut stream);
        }
        s.reset_answer();
    }

    /// Writes what is pending, then reads and answers whole requests, as far as the socket goes.
    fn serve(&mut self, i: usize) {
        if self.slots[i].stream.is_none() {
            return;
        }
        loop {
            match self.write_pending(i) {
                Ok(true) => {}
                Ok(false) => return,
                Err(_) => return self.close(i),
            }
            if self.slots[i].closing {
                return self.close(i);
            }
            match self.next_request(i) {
                Ok(req) => self.start_answer(i, &req),
                Err(NoRequest::Wait) => return,
                Err(NoRequest::Gone) => return self.close(i),
                Err(NoRequest::Refused(status)) => self.refuse(i, status),
            }
        }
    }

    /// Writes the buffer, the page and the stream as far as the socket takes them; `Ok(true)`
    /// once everything is out.
    fn write_pending(&mut self, i: usize) -> io::Result<bool> {
        loop {
            let s = &mut self.slots[i];
            let Some(stream) = s.stream.as_mut() else {
                return Err(io::ErrorKind::NotConnected.into());
            };
            let from_buf = s.sent < s.out.len();
            let pending: &[u8] = if from_buf {
                &s.out[s.sent..]
            } else if s.page_sent < s.page.len() {
                &s.page[s.page_sent..]
            } else if let Some(mut cursor) = s.stream_cursor {
                s.out.clear();
                s.sent = 0;
                let room = H::OUT_BUF - CHUNK_FRAME;
                let done = if s.chunked {
                    s.out.extend_from_slice(b"0000000\r\n");
                    let done = self.handler.more(&mut cursor, &mut s.out, room);
                    let size = hex7(s.out.len() - 9);
                    s.out[..7].copy_from_slice(&size);
                    s.out.extend_from_slice(b"\r\n");
                    if done {
                        s.out.extend_from_slice(b"0\r\n\r\n");
                    }
                    done
                } else {
                    self.handler.more(&mut cursor, &mut s.out, room)
                };
                s.stream_cursor = (!done).then_some(cursor);
                continue;
            } else {
                return Ok(true);
            };
            match stream.write(pending) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    if from_buf {
                        s.sent += n;
                    } else {
                        s.page_sent += n;
                    }
                    s.deadline = Instant::now() + TIMEOUT;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// The next whole request head this client sent.
    fn next_request(&mut self, i: usize) -> Result<Request, NoRequest> {
        let s = &mut self.slots[i];
        loop {
            if let Some(end) = s.head.windows(4).position(|w| w == b"\r\n\r\n") {
                let req = parse(&s.head[..end]).map_err(NoRequest::Refused);
                s.head.drain(..end + 4);
                return req;
            }
            if s.head.len() >= HEAD_MAX {
                return Err(NoRequest::Refused(431));
            }
            let Some(stream) = s.stream.as_mut() else {
                return Err(NoRequest::Gone);
            };
            let mut chunk = [0u8; 2048];
            let room = (HEAD_MAX - s.head.len()).min(chunk.len());
            match stream.read(&mut chunk[..room]) {
                Ok(0) => return Err(NoRequest::Gone),
                Ok(n) => s.head.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Err(NoRequest::Wait),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(NoRequest::Gone),
            }
        }
    }

    fn start_answer(&mut self, i: usize, req: &Request) {
        let s = &mut self.slots[i];
        s.reset_answer();
        // The body goes after room for the head, which is written last, right before it.
        s.out.resize(HEAD_ROOM, b' ');
        let answer = self.handler.answer(&req.path, &mut s.out);
        let body_len = match answer.body {
            Body::Buffered => Some(s.out.len() - HEAD_ROOM),
            Body::Static(p) => Some(p.len()),
            Body::Stream(_) => None,
        };
        let mut keep_alive = req.keep_alive;
        s.chunked = body_len.is_none() && req.http11;
        if body_len.is_none() && !req.http11 {
            keep_alive = false;
        }
        let mut head = [0u8; HEAD_ROOM];
        let n = write_head(&mut head, &answer, body_len, s.chunked, keep_alive);
        s.out[HEAD_ROOM - n..HEAD_ROOM].copy_from_slice(&head[..n]);
        s.sent = HEAD_ROOM - n;
        if req.head_only {
            s.out.truncate(HEAD_ROOM);
        } else {
            match answer.body {
                Body::Static(p) => s.page = p,
                Body::Stream(c) => s.stream_cursor = Some(c),
                Body::Buffered => {}
            }
        }
        s.closing = !keep_alive;
        s.deadline = Instant::now() + TIMEOUT;
    }

    fn refuse(&mut self, i: usize, status: u16) {
        let s = &mut self.slots[i];
        s.reset_answer();
        s.closing = true;
        let allow = if status == 405 {
            "Allow: GET, HEAD\r\n"
        } else {
            ""
        };
        let _ = write!(
            s.out,
            "HTTP/1.1 {status} {}\r\n{allow}Content-Length: 0\r\nConnection: close\r\n\r\n",
            reason(status)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Echo;

    impl Handler for Echo {
        fn answer(&mut self, path: &str, buf: &mut Vec<u8>) -> Answer {
            match path {
                "/static" => Answer {
                    status: 200,
                    content_type: "text/plain",
                    body: Body::Static(b"a page"),
                },
                "/stream" => Answer {
                    status: 200,
                    content_type: "text/plain",
                    body: Body::Stream(0),
                },
                "/endless" => Answer {
                    status: 200,
                    content_type: "text/plain",
                    body: Body::Stream(u64::MAX),
                },
                _ => {
                    buf.extend_from_slice(path.as_bytes());
                    Answer::buffered("text/plain")
                }
            }
        }

        fn more(&mut self, cursor: &mut u64, buf: &mut Vec<u8>, room: usize) -> bool {
            buf.extend(std::iter::repeat_n(b'x', room.min(50_000)));
            if *cursor == u64::MAX {
                return false;
            }
            *cursor += 1;
            *cursor == 3
        }
    }

    fn get(addr: SocketAddr, raw: &str) -> String {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn answers_keeps_alive_streams_and_refuses() {
        let b = Bound::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let server = serve(Some(b), "test-http", 2, Echo).unwrap();
        let a = server.addr.unwrap();
        let two = get(
            a,
            "GET /one HTTP/1.1\r\n\r\nGET /two HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        assert!(
            two.contains("Content-Length: 4\r\nConnection: keep-alive\r\n\r\n/one"),
            "{two}"
        );
        assert!(two.ends_with("Connection: close\r\n\r\n/two"), "{two}");
        let page = get(a, "GET /static HTTP/1.0\r\n\r\n");
        assert!(page.ends_with("\r\n\r\na page"), "{page}");
        let head = get(a, "HEAD /static HTTP/1.0\r\n\r\n");
        assert!(
            head.contains("Content-Length: 6") && head.ends_with("\r\n\r\n"),
            "{head}"
        );
        let stream = get(a, "GET /stream HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(stream.contains("Transfer-Encoding: chunked"), "{stream}");
        let body = &stream[stream.find("\r\n\r\n").unwrap() + 4..];
        assert_eq!(body.matches('x').count(), 3 * (Echo::OUT_BUF - CHUNK_FRAME));
        assert!(body.ends_with("\r\n0\r\n\r\n"));
        let post = get(a, "POST /x HTTP/1.1\r\nContent-Length: 1\r\n\r\nx");
        assert!(
            post.starts_with("HTTP/1.1 405") && post.contains("Allow: GET, HEAD"),
            "{post}"
        );
        let long = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(HEAD_MAX));
        assert!(get(a, &long).starts_with("HTTP/1.1 431"));
    }

    #[test]
    fn past_its_clients_the_longest_idle_gives_way() {
        let b = Bound::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let server = serve(Some(b), "test-http", 2, Echo).unwrap();
        let a = server.addr.unwrap();
        let idle: Vec<_> = (0..2)
            .map(|_| std::net::TcpStream::connect(a).unwrap())
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        // Two slots held by connections that never send a request: a third client is served.
        let third = get(a, "GET /x HTTP/1.0\r\n\r\n");
        assert!(third.ends_with("/x"), "{third}");
        // Both slots busy answering a stream nobody reads: the next one hears 503.
        let slow: Vec<_> = (0..2)
            .map(|_| {
                let mut s = std::net::TcpStream::connect(a).unwrap();
                s.write_all(b"GET /endless HTTP/1.1\r\n\r\n").unwrap();
                s
            })
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        let busy = get(a, "GET /x HTTP/1.0\r\n\r\n");
        assert!(busy.starts_with("HTTP/1.1 503"), "{busy}");
        drop((idle, slow));
    }

    /// Set in the process [`at_the_fd_limit_a_queued_client_is_served_once_descriptors_free`]
    /// runs itself in.
    const AT_LIMIT_CHILD: &str = "C10M_HTTP_TEST_AT_FD_LIMIT";

    /// A client that connects while the process has no descriptor left is accepted once some are
    /// free again, though no other connection comes to make the listener readable again. It
    /// lowers RLIMIT_NOFILE and takes every descriptor, so it runs in a process of its own: this
    /// test binary again, running this test alone.
    #[test]
    fn at_the_fd_limit_a_queued_client_is_served_once_descriptors_free() {
        if std::env::var_os(AT_LIMIT_CHILD).is_some() {
            return at_the_fd_limit_alone();
        }
        let name = "http::tests::at_the_fd_limit_a_queued_client_is_served_once_descriptors_free";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([name, "--exact", "--nocapture", "--test-threads=1"])
            .env(AT_LIMIT_CHILD, "1")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(said.contains("1 passed"), "{said}");
    }

    fn at_the_fd_limit_alone() {
        let b = Bound::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let server = serve(Some(b), "test-http", 2, Echo).unwrap();
        let a = server.addr.unwrap();
        let (_, hard) = c10m_sys::nofile::get().unwrap();
        c10m_sys::nofile::set(256.min(hard), hard).unwrap();
        let mut held = Vec::new();
        while let Ok(f) = std::fs::File::open("/dev/null") {
            held.push(f);
        }
        assert!(held.len() > 8, "{} descriptors were free", held.len());
        held.pop();
        // The last descriptor: the server's accept() meets EMFILE.
        let mut client = std::net::TcpStream::connect(a).unwrap();
        client.write_all(b"GET /x HTTP/1.0\r\n\r\n").unwrap();
        std::thread::sleep(accept::ACCEPT_BACKOFF * 3);
        held.truncate(held.len() - 8);
        client
            .set_read_timeout(Some(accept::ACCEPT_BACKOFF * 30))
            .unwrap();
        let mut answer = Vec::new();
        let _ = client.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.ends_with("\r\n\r\n/x"), "{answer:?}");
        drop((held, server));
    }
}

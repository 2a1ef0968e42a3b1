//! One connection to a Redis server over TCP (optionally TLS) or a unix socket: connecting,
//! deadlines, pipelining, and replies owed for commands sent without waiting. The bytes are
//! `resp`'s business.
//!
//! Written for the session hot path: commands are encoded into one reusable buffer and sent with
//! one write; replies are parsed from one reusable read buffer. Every read and write is bounded by
//! the configured timeout, measured across the whole reply (a server that dribbles bytes cannot
//! stretch a call past its deadline).
use super::resp::{self, Parsed, Reply};
use crate::config::{RedisAddr, RedisConfig};
use crate::store::error::ServerError;
use crate::store::StoreError;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Stream {
    fn set_read_timeout(&self, d: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(Some(d)),
            Stream::Unix(s) => s.set_read_timeout(Some(d)),
            Stream::Tls(s) => s.sock.set_read_timeout(Some(d)),
        }
    }
    fn set_write_timeout(&self, d: Duration) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_write_timeout(Some(d)),
            Stream::Unix(s) => s.set_write_timeout(Some(d)),
            Stream::Tls(s) => s.sock.set_write_timeout(Some(d)),
        }
    }
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.write_all(buf),
            Stream::Unix(s) => s.write_all(buf),
            Stream::Tls(s) => s.write_all(buf).and_then(|_| s.flush()),
        }
    }
}

/// The read buffer's size; a larger reply grows it, and one above `KEEP_RBUF` is given back
/// after the reply (a PHP process should not hold a large session's worth for good).
const RBUF: usize = 16 * 1024;
const KEEP_RBUF: usize = 1024 * 1024;

pub struct Conn {
    stream: Stream,
    timeout: Duration,
    /// The read timeout currently set on the socket, to skip needless setsockopt calls.
    socket_timeout: Duration,
    rbuf: Vec<u8>,
    rpos: usize,
    rend: usize,
    wbuf: Vec<u8>,
    /// Commands (AUTH, SELECT) queued at connect and sent together with the first real command,
    /// so a fresh connection costs no extra round trip.
    pending_setup: usize,
    /// Replies to commands sent without waiting (`send_unacked`): read, and checked, before the
    /// replies of the next command, so the connection stays in step.
    unacked: usize,
    /// One of those replies was an error (the store then treats what it sent as not done).
    pub unacked_failed: bool,
    /// How many commands this connection has completed (0 = fresh).
    pub used: u64,
    /// Round trips made on this connection; read by tests and benchmarks.
    pub round_trips: u64,
    /// `wait=N`: while set (`(replicas, timeout_ms)`, by the store around a write), every
    /// flush appends `WAIT replicas timeout_ms` to what it sends and puts its reply in
    /// `acked`: the acknowledgement travels in the write's own round trip.
    pub wait: Option<(u32, u64)>,
    pub acked: Option<Reply>,
    /// Set by the store for a Sentinel master: then a `READONLY` error reply among a call's
    /// replies (the node is a replica now) sets `read_only`, for the store to notice a failover
    /// whatever the caller makes of the reply. Reset by the store.
    pub watch_read_only: bool,
    pub read_only: bool,
    /// The server refused AUTH or SELECT at connect: the replies of what was sent with them are
    /// still unread (and ran without the set-up). The store drops such a connection.
    pub out_of_step: bool,
    /// Set by the store for a cluster node: then the first MOVED/ASK/TRYAGAIN/CLUSTERDOWN
    /// reply among a call's replies is kept in `redirect` (with whether every reply was one),
    /// for the store to resend the call where it belongs. Reset by the store.
    pub watch_redirect: bool,
    pub redirect: Option<(ServerError, bool)>,
    /// Cluster ASK: every command encoded is preceded by `ASKING` (its reply dropped).
    pub asking: bool,
    asking_sent: usize,
}

fn io_err(what: &str, e: io::Error) -> StoreError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => StoreError::Timeout(what.to_string()),
        _ => StoreError::Connection(format!("{what}: {e}")),
    }
}

impl Conn {
    /// Opens a connection to the configured address. `tls` is the client configuration for
    /// `rediss://` (built once by the store); the handshake is bounded by `timeout`.
    pub fn connect(
        cfg: &RedisConfig,
        tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Conn, StoreError> {
        Conn::connect_to(&cfg.addr, cfg, tls, connect_timeout, timeout)
    }

    /// Opens a connection to `addr` with `cfg`'s credentials, database and TLS settings (a node
    /// other than the configured one: a cluster node or a sentinel-named master).
    pub fn connect_to(
        addr: &RedisAddr,
        cfg: &RedisConfig,
        tls: Option<&std::sync::Arc<rustls::ClientConfig>>,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Conn, StoreError> {
        let stream = match addr {
            RedisAddr::Tcp { host, port } => {
                let addrs = (host.as_str(), *port)
                    .to_socket_addrs()
                    .map_err(|e| StoreError::Connection(format!("cannot resolve {host}: {e}")))?;
                let mut last = None;
                let mut found = None;
                for a in addrs {
                    match TcpStream::connect_timeout(&a, connect_timeout) {
                        Ok(s) => {
                            found = Some(s);
                            break;
                        }
                        Err(e) => last = Some(e),
                    }
                }
                let s = match (found, last) {
                    (Some(s), _) => s,
                    (None, Some(e)) => return Err(io_err(&format!("connect to {host}:{port}"), e)),
                    (None, None) => return Err(StoreError::Connection(format!("no address for {host}"))),
                };
                let _ = s.set_nodelay(true);
                match (tls, &cfg.tls) {
                    (Some(client), Some(t)) => {
                        s.set_read_timeout(Some(timeout)).map_err(|e| io_err("set timeout", e))?;
                        s.set_write_timeout(Some(timeout)).map_err(|e| io_err("set timeout", e))?;
                        let name = super::tls::server_name(t, host)?;
                        let mut conn = rustls::ClientConnection::new(client.clone(), name)
                            .map_err(|e| StoreError::Connection(format!("TLS set-up: {e}")))?;
                        let mut sock = s;
                        while conn.is_handshaking() {
                            conn.complete_io(&mut sock).map_err(|e| io_err(&format!("TLS handshake with {host}:{port}"), e))?;
                        }
                        Stream::Tls(Box::new(rustls::StreamOwned::new(conn, sock)))
                    }
                    _ => Stream::Tcp(s),
                }
            }
            RedisAddr::Unix(path) => {
                // connect(2) on a unix socket does not block on a listening server.
                let s = UnixStream::connect(path)
                    .map_err(|e| io_err(&format!("connect to {}", path.display()), e))?;
                Stream::Unix(s)
            }
        };
        stream.set_read_timeout(timeout).map_err(|e| io_err("set timeout", e))?;
        stream.set_write_timeout(timeout).map_err(|e| io_err("set timeout", e))?;
        let mut conn = Conn {
            stream,
            timeout,
            socket_timeout: timeout,
            rbuf: vec![0; RBUF],
            rpos: 0,
            rend: 0,
            wbuf: Vec::with_capacity(4096),
            pending_setup: 0,
            unacked: 0,
            unacked_failed: false,
            used: 0,
            round_trips: 0,
            wait: None,
            acked: None,
            watch_read_only: false,
            read_only: false,
            out_of_step: false,
            watch_redirect: false,
            redirect: None,
            asking: false,
            asking_sent: 0,
        };
        if let Some(pw) = &cfg.password {
            match &cfg.username {
                Some(u) => conn.encode(&[b"AUTH", u.as_bytes(), pw.expose().as_bytes()]),
                None => conn.encode(&[b"AUTH", pw.expose().as_bytes()]),
            }
            conn.pending_setup += 1;
        }
        if cfg.db != 0 {
            let db = cfg.db.to_string();
            conn.encode(&[b"SELECT", db.as_bytes()]);
            conn.pending_setup += 1;
        }
        Ok(conn)
    }

    /// Appends one command to the write buffer.
    pub fn encode(&mut self, args: &[&[u8]]) {
        if self.asking {
            self.encode_asking();
        }
        resp::encode(args, &mut self.wbuf);
    }

    /// Sends one command and reads its reply (one round trip).
    pub fn cmd(&mut self, args: &[&[u8]]) -> Result<Reply, StoreError> {
        self.encode(args);
        let mut r = self.flush_and_read(1)?;
        Ok(r.pop().unwrap_or(Reply::Nil))
    }

    /// Sends `cmds` as one pipeline and reads their replies (errors among them as they are).
    pub fn pipeline(&mut self, cmds: &[&[&[u8]]]) -> Result<Vec<Reply>, StoreError> {
        for cmd in cmds {
            self.encode(cmd);
        }
        self.flush_and_read(cmds.len())
    }

    /// Sends everything encoded so far and reads `n` replies (plus those of queued set-up
    /// commands, which are checked and dropped). One round trip.
    pub fn flush_and_read(&mut self, n: usize) -> Result<Vec<Reply>, StoreError> {
        if self.wait.is_some() {
            self.encode_wait();
        }
        let deadline = Instant::now() + self.timeout;
        let res = self.stream.write_all(&self.wbuf);
        self.wbuf.clear();
        res.map_err(|e| io_err("write to redis", e))?;
        self.round_trips += 1;
        let setup = std::mem::take(&mut self.pending_setup);
        for _ in 0..setup {
            if let Reply::Error(mut e) = self.read_reply(deadline)? {
                // AUTH/SELECT refused: the message never holds the password (Redis does not echo it).
                e.message = format!("connection set-up refused: {}", e.message);
                self.out_of_step = true;
                return Err(StoreError::Server(*e));
            }
        }
        self.read_unacked(deadline)?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            if self.asking_sent > 0 {
                // ASKING's own +OK.
                self.asking_sent -= 1;
                self.read_reply(deadline)?;
            }
            out.push(self.read_reply(deadline)?);
        }
        if self.wait.is_some() || self.watch_read_only || self.watch_redirect {
            self.after_replies(&out, deadline)?;
        }
        self.used += 1;
        Ok(out)
    }

    /// Cluster ASK: on, every command encoded until it is turned off goes with `ASKING`.
    pub fn set_asking(&mut self, on: bool) {
        self.asking = on;
        self.asking_sent = 0;
    }

    /// Cluster ASK (out of the hot path).
    #[inline(never)]
    fn encode_asking(&mut self) {
        resp::encode(&[b"ASKING"], &mut self.wbuf);
        self.asking_sent += 1;
    }

    /// `wait`: the WAIT command after the call's own (kept out of the single node's hot path).
    #[inline(never)]
    fn encode_wait(&mut self) {
        if let Some((replicas, ms)) = self.wait {
            let (replicas, ms) = (resp::Decimal::new(u64::from(replicas)), resp::Decimal::new(ms));
            resp::encode(&[b"WAIT", replicas.as_bytes(), ms.as_bytes()], &mut self.wbuf);
        }
    }

    /// `wait`: reads WAIT's reply into `acked`; `watch_read_only`: notes a READONLY reply.
    #[inline(never)]
    fn after_replies(&mut self, out: &[Reply], deadline: Instant) -> Result<(), StoreError> {
        if self.watch_read_only {
            let read_only = |r: &Reply| matches!(r, Reply::Error(e) if e.kind == crate::store::error::ServerErrorKind::ReadOnly);
            self.read_only |= out.iter().any(read_only);
        }
        if self.watch_redirect && self.redirect.is_none() {
            use crate::store::error::ServerErrorKind as K;
            let redirected = |r: &Reply| matches!(r, Reply::Error(e) if matches!(e.kind, K::Moved | K::Ask | K::TryAgain | K::ClusterDown));
            if let Some(Reply::Error(e)) = out.iter().find(|r| redirected(r)) {
                self.redirect = Some(((**e).clone(), out.iter().all(redirected)));
            }
        }
        if self.wait.is_some() {
            self.acked = Some(self.read_reply(deadline)?);
        }
        Ok(())
    }

    /// Sends everything encoded so far, `n` commands, without waiting for their replies: they
    /// are read before the next command's (see `unacked`). No round trip is spent here; the
    /// server runs the commands at once, in order with everything else on this connection.
    pub fn send_unacked(&mut self, n: usize) -> Result<(), StoreError> {
        let res = self.stream.write_all(&self.wbuf);
        self.wbuf.clear();
        res.map_err(|e| io_err("write to redis", e))?;
        // ASKING's replies come among them: read as owed replies (all +OK).
        self.unacked += n + std::mem::take(&mut self.asking_sent);
        Ok(())
    }

    /// Replies still owed for commands sent by `send_unacked`.
    pub fn unacked(&self) -> usize {
        self.unacked
    }

    /// Reads the replies owed for `send_unacked` commands (waiting for them if need be, up to
    /// the timeout): before the connection is closed, so what was sent is known to be done.
    pub fn settle(&mut self) -> Result<(), StoreError> {
        if self.unacked > 0 {
            let deadline = Instant::now() + self.timeout;
            self.read_unacked(deadline)?;
        }
        Ok(())
    }

    fn read_unacked(&mut self, deadline: Instant) -> Result<(), StoreError> {
        while self.unacked > 0 {
            if let Reply::Error(_) = self.read_reply(deadline)? {
                self.unacked_failed = true;
            }
            self.unacked -= 1;
        }
        Ok(())
    }

    /// Reads one reply: parsed from the read buffer, read into it until the parser has what it
    /// asked for.
    fn read_reply(&mut self, deadline: Instant) -> Result<Reply, StoreError> {
        let r = self.next_reply(deadline);
        self.reset_timeout();
        if self.rpos == self.rend && self.rbuf.len() > KEEP_RBUF {
            (self.rpos, self.rend) = (0, 0);
            self.rbuf.truncate(RBUF);
            self.rbuf.shrink_to_fit();
        }
        r
    }

    fn next_reply(&mut self, deadline: Instant) -> Result<Reply, StoreError> {
        loop {
            match resp::parse(&self.rbuf[self.rpos..self.rend])? {
                Parsed::Reply(r, used) => {
                    self.rpos += used;
                    return Ok(r);
                }
                Parsed::Incomplete { need } => self.fill(need, deadline)?,
            }
        }
    }

    /// Reads until the buffer holds `need` bytes from `rpos` (the parser's lower bound for the
    /// reply, so never more than the server sends), making room for them first.
    fn fill(&mut self, need: usize, deadline: Instant) -> Result<(), StoreError> {
        if self.rpos == self.rend {
            self.rpos = 0;
            self.rend = 0;
        } else if self.rpos + need > self.rbuf.len() {
            self.rbuf.copy_within(self.rpos..self.rend, 0);
            self.rend -= self.rpos;
            self.rpos = 0;
        }
        if need > self.rbuf.len() {
            // Exactly a large value's size at once; doubling for a long line.
            let new_len = need.max(self.rbuf.len() * 2);
            self.rbuf.resize(new_len, 0);
        }
        // At least one read, whatever `need` says: the caller only asks when it lacks bytes.
        loop {
            self.bound_by(deadline)?;
            let got = match self.stream.read(&mut self.rbuf[self.rend..]) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_err("read from redis", e)),
            };
            if got == 0 {
                return Err(StoreError::Connection("redis closed the connection".into()));
            }
            self.rend += got;
            if self.rend - self.rpos >= need {
                return Ok(());
            }
        }
    }

    /// Before a blocking read: fails once the call's deadline has passed, and narrows the socket
    /// timeout to what is left (only when a reply spans several reads, to save the syscall).
    fn bound_by(&mut self, deadline: Instant) -> Result<(), StoreError> {
        let now = Instant::now();
        if now >= deadline {
            return Err(StoreError::Timeout(format!("read from redis after {:?}", self.timeout)));
        }
        let remaining = deadline - now;
        if remaining + Duration::from_millis(5) < self.socket_timeout {
            self.stream.set_read_timeout(remaining).map_err(|e| io_err("set timeout", e))?;
            self.socket_timeout = remaining;
        }
        Ok(())
    }

    /// Restores the full timeout after a call that narrowed it.
    fn reset_timeout(&mut self) {
        if self.socket_timeout != self.timeout && self.stream.set_read_timeout(self.timeout).is_ok() {
            self.socket_timeout = self.timeout;
        }
    }
}

#[cfg(test)]
#[path = "conn_tests.rs"]
mod tests;

//! The connection against fake servers that send replies in pieces: replies are read whole
//! whatever the split, and the timeout bounds the whole reply, not each read.
use super::*;
use crate::config::{parse_dsn, Backend};
use std::net::TcpListener;

/// A server that reads one command, then sends `reply` in `chunk`-byte pieces, `pause` apart.
fn dribbling_server(reply: Vec<u8>, chunk: usize, pause: Duration) -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let t = std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf);
        for piece in reply.chunks(chunk) {
            if s.write_all(piece).is_err() {
                return;
            }
            std::thread::sleep(pause);
        }
        let _ = s.read(&mut buf); // until the client hangs up
    });
    (port, t)
}

fn connect(port: u16, timeout: Duration) -> Conn {
    let cfg = parse_dsn(&format!("redis://127.0.0.1:{port}")).unwrap();
    let Backend::Redis(r) = &cfg.backend else { panic!() };
    Conn::connect(r, None, Duration::from_secs(1), timeout).unwrap()
}

#[test]
fn a_pipeline_sent_byte_by_byte_is_read_whole() {
    let replies = b"$-1\r\n*2\r\n:1\r\n$5\r\nhello\r\n-NOSCRIPT x\r\n".to_vec();
    let (port, server) = dribbling_server(replies, 1, Duration::from_micros(200));
    let mut c = connect(port, Duration::from_secs(2));
    c.encode(&[b"PING"]);
    let r = c.flush_and_read(3).unwrap();
    assert_eq!(r[0], Reply::Nil);
    assert_eq!(r[1], Reply::Array(vec![Reply::Int(1), Reply::Bulk(b"hello".to_vec())]));
    assert!(matches!(&r[2], Reply::Error(e) if e.kind == crate::store::error::ServerErrorKind::NoScript));
    assert_eq!(c.round_trips, 1);
    drop(c);
    server.join().unwrap();
}

#[test]
fn a_large_value_grows_the_read_buffer_and_gives_it_back() {
    let value: Vec<u8> = (0..3 * KEEP_RBUF).map(|i| (i % 251) as u8).collect();
    let mut reply = format!("${}\r\n", value.len()).into_bytes();
    reply.extend_from_slice(&value);
    reply.extend_from_slice(b"\r\n");
    let (port, server) = dribbling_server(reply, 64 * 1024, Duration::ZERO);
    let mut c = connect(port, Duration::from_secs(2));
    assert_eq!(c.cmd(&[b"GET", b"k"]).unwrap(), Reply::Bulk(value));
    assert_eq!(c.rbuf.len(), RBUF);
    drop(c);
    server.join().unwrap();
}

#[test]
fn a_dribbling_server_cannot_stretch_a_call_past_its_timeout() {
    // Each piece comes well within the timeout, the whole reply does not.
    let (port, server) = dribbling_server(b"$20\r\n01234567890123456789\r\n".to_vec(), 1, Duration::from_millis(40));
    let mut c = connect(port, Duration::from_millis(300));
    let t = Instant::now();
    let e = c.cmd(&[b"GET", b"k"]).unwrap_err();
    assert!(matches!(e, StoreError::Timeout(_)), "{e}");
    assert!(t.elapsed() < Duration::from_millis(450), "{:?}", t.elapsed());
    drop(c);
    server.join().unwrap();
}

#[test]
fn bytes_that_are_not_resp_break_the_connection() {
    let (port, server) = dribbling_server(b"HTTP/1.1 400 Bad Request\r\n".to_vec(), 64, Duration::ZERO);
    let mut c = connect(port, Duration::from_secs(2));
    let e = c.cmd(&[b"GET", b"k"]).unwrap_err();
    assert!(matches!(&e, StoreError::Connection(m) if m.contains("malformed reply")), "{e}");
    drop(c);
    server.join().unwrap();
}

//! Helpers for tests that run real servers: free ports, a throwaway CA and certificates.
use std::path::{Path, PathBuf};

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cannon-{tag}-{}-{}", std::process::id(), crate::id::generate(22).unwrap()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn sh(dir: &Path, cmd: &str) {
    let out = std::process::Command::new("sh").arg("-c").arg(cmd).current_dir(dir).output().unwrap();
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn have(cmd: &str) -> bool {
    std::process::Command::new("sh").arg("-c").arg(format!("command -v {cmd}")).output().is_ok_and(|o| o.status.success())
}

/// Writes into `dir`: `ca.pem`/`ca.key` (a test CA), `server.pem`/`server.key` (for localhost and
/// 127.0.0.1), `client.pem`/`client.key`, and `other-ca.pem` (a CA that signed nothing).
pub fn make_certs(dir: &Path) {
    sh(dir, "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=cannon-test-ca 2>/dev/null");
    sh(dir, "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null");
    std::fs::write(dir.join("san.ext"), "subjectAltName=DNS:localhost,IP:127.0.0.1\n").unwrap();
    sh(dir, "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile san.ext 2>/dev/null");
    sh(dir, "openssl req -newkey rsa:2048 -nodes -keyout client.key -out client.csr -subj /CN=client 2>/dev/null");
    std::fs::write(dir.join("client.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    sh(dir, "openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 2 -extfile client.ext 2>/dev/null");
    sh(dir, "openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -out other-ca.pem -days 2 -subj /CN=other 2>/dev/null");
}

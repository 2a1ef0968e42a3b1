//! TLS (`ssl_mode`) against a private MariaDB started with a CA made by the test.
use super::MysqlStore;
use crate::config::parse_dsn;
use crate::store::SessionStore;
use crate::testutil::{free_port, have, make_certs, sh, temp_dir};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct PrivateMariadb {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for PrivateMariadb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start() -> Option<PrivateMariadb> {
    if !have("mariadbd") || !have("mariadb-install-db") || !have("openssl") {
        eprintln!("mariadbd/openssl missing: TLS test skipped");
        return None;
    }
    let dir = temp_dir("tls-mariadb");
    make_certs(&dir);
    sh(&dir, &format!(
        "mariadb-install-db --no-defaults --datadir={}/data --auth-root-authentication-method=normal --skip-test-db --user=root >install.log 2>&1",
        dir.display()
    ));
    let port = free_port();
    let child = Command::new("mariadbd")
        .args(["--no-defaults", "--user=root", "--bind-address=127.0.0.1"])
        .arg(format!("--datadir={}/data", dir.display()))
        .arg(format!("--port={port}"))
        .arg(format!("--socket={}/sock", dir.display()))
        .arg(format!("--pid-file={}/pid", dir.display()))
        // mariadbd changes into its datadir: every path must be absolute.
        .arg(format!("--ssl-ca={}/ca.pem", dir.display()))
        .arg(format!("--ssl-cert={}/server.pem", dir.display()))
        .arg(format!("--ssl-key={}/server.key", dir.display()))
        .args(["--skip-log-bin", "--innodb-buffer-pool-size=16M"])
        .current_dir(&dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let db = PrivateMariadb { child, port, dir };
    let sql = "CREATE USER 'tls'@'127.0.0.1' IDENTIFIED BY 'tlspw' REQUIRE SSL; CREATE DATABASE s; GRANT ALL ON s.* TO 'tls'@'127.0.0.1';";
    for _ in 0..150 {
        let ok = Command::new("mariadb")
            .args(["--no-defaults", "-uroot"])
            .arg(format!("--socket={}/sock", db.dir.display()))
            .args(["-e", sql])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(db);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("private mariadbd did not start");
}

fn store(dsn: &str) -> MysqlStore {
    MysqlStore::new(&parse_dsn(dsn).unwrap()).unwrap()
}

#[test]
fn tls_modes_against_a_server_that_requires_ssl() {
    let Some(db) = start() else { return };
    let d = db.dir.display();
    let base = format!("mysql://tls:tlspw@127.0.0.1:{}/s?auto_create=1&connect_timeout=2&timeout=3", db.port);

    let mut s = store(&format!("{base}&ssl_mode=verify_identity&ssl_ca={d}/ca.pem"));
    s.write("tlsid", b"over tls", 60).unwrap();
    assert_eq!(s.read("tlsid", true).unwrap().as_deref(), Some(&b"over tls"[..]));
    s.unlock("tlsid").unwrap();

    let mut required = store(&format!("{base}&ssl_mode=required"));
    assert_eq!(required.read("tlsid", false).unwrap().as_deref(), Some(&b"over tls"[..]));

    // The user REQUIREs SSL: a plain connection is refused, with no password in the message.
    let e = store(&base).read("tlsid", false).unwrap_err().to_string();
    assert!(!e.contains("tlspw"), "{e}");

    // A CA that did not sign the server's certificate.
    let e = store(&format!("{base}&ssl_mode=verify_ca&ssl_ca={d}/other-ca.pem")).read("tlsid", false).unwrap_err();
    assert!(e.to_string().contains("TLS") || e.to_string().contains("connect"), "{e}");
}

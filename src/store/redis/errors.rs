//! Redis error replies, parsed once (by the reply parser, `resp::parse`) into kinds and, for
//! cluster redirections, their slot and node: the driver decides by kind, never by searching the
//! message.
use crate::store::error::{Redirect, ServerError, ServerErrorKind};

/// An error reply's text (without the leading `-`) as a `ServerError`.
pub fn parse(line: &[u8]) -> ServerError {
    let message = String::from_utf8_lossy(line).into_owned();
    let (kind, redirect) = kind_of(&message);
    ServerError { kind, message, redirect }
}

/// The kind from the first word (the error code Redis puts there); for `ERR`, the generic code,
/// from the words after it. A `MOVED`/`ASK` whose slot or address does not parse is `Other`, so
/// that those two kinds always come with their `Redirect`.
fn kind_of(msg: &str) -> (ServerErrorKind, Option<Redirect>) {
    let mut words = msg.split(' ');
    let kind = match words.next().unwrap_or("") {
        code @ ("MOVED" | "ASK") => {
            return match redirect(words.next(), words.next(), words.next()) {
                Some(r) if code == "MOVED" => (ServerErrorKind::Moved, Some(r)),
                Some(r) => (ServerErrorKind::Ask, Some(r)),
                None => (ServerErrorKind::Other, None),
            };
        }
        "READONLY" => ServerErrorKind::ReadOnly,
        "LOADING" => ServerErrorKind::Loading,
        "BUSY" => ServerErrorKind::Busy,
        "MASTERDOWN" => ServerErrorKind::MasterDown,
        "CLUSTERDOWN" => ServerErrorKind::ClusterDown,
        "TRYAGAIN" => ServerErrorKind::TryAgain,
        "NOSCRIPT" => ServerErrorKind::NoScript,
        "OOM" => ServerErrorKind::OutOfMemory,
        "WRONGTYPE" => ServerErrorKind::WrongType,
        "NOAUTH" | "WRONGPASS" | "NOPERM" => ServerErrorKind::Auth,
        "ERR" => match (words.next(), words.next()) {
            (Some("unknown"), Some("command" | "subcommand")) => ServerErrorKind::UnknownCommand,
            (Some("syntax"), Some("error")) => ServerErrorKind::Syntax,
            _ => ServerErrorKind::Other,
        },
        _ => ServerErrorKind::Other,
    };
    (kind, None)
}

/// `slot host:port` with nothing after it; the slot below 16384, the port a number.
fn redirect(slot: Option<&str>, addr: Option<&str>, rest: Option<&str>) -> Option<Redirect> {
    let (slot, addr) = (slot?, addr?);
    if rest.is_some() || !slot.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let slot: u16 = slot.parse().ok().filter(|s| *s < 16384)?;
    let (_host, port) = addr.rsplit_once(':')?;
    // An empty host is legal: Redis sends `:port` when the node does not know its own address.
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) || port.parse::<u16>().is_err() {
        return None;
    }
    Some(Redirect { slot, addr: addr.to_string() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(msg: &str) -> ServerErrorKind {
        parse(msg.as_bytes()).kind
    }

    #[test]
    fn kinds_come_from_the_first_word() {
        assert_eq!(classify("MOVED 3999 127.0.0.1:6381"), ServerErrorKind::Moved);
        assert_eq!(classify("ASK 3999 127.0.0.1:6381"), ServerErrorKind::Ask);
        assert_eq!(classify("READONLY You can't write against a read only replica."), ServerErrorKind::ReadOnly);
        assert_eq!(classify("LOADING Redis is loading the dataset in memory"), ServerErrorKind::Loading);
        assert_eq!(classify("NOSCRIPT No matching script."), ServerErrorKind::NoScript);
        assert_eq!(classify("OOM command not allowed when used memory > 'maxmemory'."), ServerErrorKind::OutOfMemory);
        assert_eq!(classify("WRONGTYPE Operation against a key holding the wrong kind of value"), ServerErrorKind::WrongType);
        assert_eq!(classify("NOAUTH Authentication required."), ServerErrorKind::Auth);
        assert_eq!(classify("WRONGPASS invalid username-password pair or user is disabled."), ServerErrorKind::Auth);
        assert_eq!(classify("ERR unknown command 'GETEX', with args beginning with: "), ServerErrorKind::UnknownCommand);
        assert_eq!(classify("ERR syntax error"), ServerErrorKind::Syntax);
        assert_eq!(classify("ERR value is not an integer or out of range"), ServerErrorKind::Other);
        assert_eq!(classify("MOVEDX"), ServerErrorKind::Other);
        assert_eq!(classify(""), ServerErrorKind::Other);
        assert_eq!(classify("ERR"), ServerErrorKind::Other);
    }

    #[test]
    fn redirections_carry_slot_and_node() {
        let e = parse(b"MOVED 3999 127.0.0.1:6381");
        assert_eq!(e.redirect, Some(Redirect { slot: 3999, addr: "127.0.0.1:6381".into() }));
        assert_eq!(e.message, "MOVED 3999 127.0.0.1:6381");
        let e = parse(b"ASK 16383 ::1:7002");
        assert_eq!((e.kind, e.redirect), (ServerErrorKind::Ask, Some(Redirect { slot: 16383, addr: "::1:7002".into() })));
        assert_eq!(parse(b"MOVED 0 :7000").redirect, Some(Redirect { slot: 0, addr: ":7000".into() }));
        // Anything off: not a redirection at all (never a Moved without its Redirect).
        for bad in [
            "MOVED", "MOVED 3999", "MOVED 16384 h:1", "MOVED -1 h:1", "MOVED +1 h:1", "MOVED 3999 h", "MOVED 3999 h:",
            "MOVED 3999 h:70000", "MOVED 3999 h:1 extra", "MOVED x h:1", "ASK 99999999999999999999 h:1", "MOVED  3999 h:1",
        ] {
            let e = parse(bad.as_bytes());
            assert_eq!((e.kind, e.redirect), (ServerErrorKind::Other, None), "{bad}");
        }
        // Other kinds never carry one.
        assert_eq!(parse(b"ERR unknown subcommand 'x'").redirect, None);
        assert_eq!(parse(b"ERR unknown subcommand 'x'").kind, ServerErrorKind::UnknownCommand);
        // Not UTF-8: kept, lossily, as the message.
        assert_eq!(parse(b"ERR \xff").message, "ERR \u{fffd}");
    }
}

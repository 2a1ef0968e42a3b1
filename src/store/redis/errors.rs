//! Redis error replies, parsed once into kinds (`ServerErrorKind`): the driver decides by kind,
//! never by searching the message.
use crate::store::error::{ServerError, ServerErrorKind};
use crate::store::StoreError;

/// The kind of a Redis error reply, from its first word (the error code Redis puts there).
pub fn classify(msg: &str) -> ServerErrorKind {
    let code = msg.split(' ').next().unwrap_or("");
    match code {
        "MOVED" => ServerErrorKind::Moved,
        "ASK" => ServerErrorKind::Ask,
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
        "ERR" => {
            let rest = &msg[3..];
            if rest.starts_with(" unknown command") || rest.starts_with(" unknown subcommand") {
                ServerErrorKind::UnknownCommand
            } else if rest.starts_with(" syntax error") {
                ServerErrorKind::Syntax
            } else {
                ServerErrorKind::Other
            }
        }
        _ => ServerErrorKind::Other,
    }
}

/// A Redis error reply as a `StoreError`.
pub fn server_error(msg: String) -> StoreError {
    StoreError::Server(ServerError { kind: classify(&msg), message: msg })
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

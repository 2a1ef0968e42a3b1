//! Array <-> bytes for the Session/Adapter API.
//!
//! The default format, PHP's own `serialize()`, is produced by calling PHP itself (see
//! `src/php`); this module holds what needs no PHP: a plain-Rust model of a session's
//! value ([`Value`], [`Key`]) and the optional JSON format ([`json`]), used when the
//! configuration says `config::Serializer::Json`.

pub mod json;
pub mod value;

pub use value::{Key, Value};

use std::fmt;

/// How deeply arrays may nest, in both directions and in the zval conversion: PHP's own
/// default for `json_encode()`/`json_decode()`. An array is one level; `[[1]]` is two.
/// Also bounds recursion, so hostile input cannot overflow the stack.
pub const MAX_DEPTH: usize = 512;

/// Why a value could not be encoded, decoded or converted. The message is meant for the
/// PHP user (it ends up in an exception) and says what to do where there is something to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(pub String);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

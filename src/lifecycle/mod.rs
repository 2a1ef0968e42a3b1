//! A session's life in plain Rust, for all three PHP APIs. `crate::handler::Handler` holds one
//! request's state over an injected store (strict-mode prefetch, the read-only fallback, the
//! create_sid outage memo, request setup); this module decides the rest and returns decisions
//! for `src/php` to carry out:
//! - `save`: the one lazy-write decision (write, touch, or only unlock);
//! - `session`: the Session API's start (id choice, fixation guard), close, regenerate,
//!   destroy and gc;
//! - `cookie`: whether to send, refresh or expire the cookie, and its attributes;
//! - `settings`: a CannonPHP config mapped to a `Config` and the Session API's settings.
pub mod cookie;
pub mod save;
pub mod session;
pub mod settings;

pub use save::Save;
pub use session::{SessionError, SessionState, Started};

#[cfg(test)]
mod tests;

//! cannon-session: PHP sessions in Redis or MySQL/MariaDB, as a PHP extension.
//!
//! Everything but `php` is plain Rust and tested with `cargo test --no-default-features`.
#![cfg_attr(windows, feature(abi_vectorcall))]
#![deny(unsafe_op_in_unsafe_fn)]

pub mod codec;
pub mod config;
pub mod fnv;
pub mod handler;
pub mod id;
pub mod lifecycle;
pub mod registry;
pub mod store;
#[cfg(test)]
#[path = "test_support_tests.rs"]
pub(crate) mod testutil;

#[cfg(feature = "php")]
pub mod php;

//! `Cannon\Session\SessionException` (a RuntimeException) and its subclasses, registered with
//! ClassBuilder so PHP code can also `new`, extend and catch them.
use super::ce;
use crate::config::ConfigError;
use crate::handler::HandlerError;
use crate::store::StoreError;
use ext_php_rs::builders::ClassBuilder;
use ext_php_rs::exception::PhpException;
use ext_php_rs::zend::ClassEntry;
use std::sync::atomic::{AtomicPtr, Ordering};

#[derive(Clone, Copy)]
pub enum Kind {
    Session = 0,
    Config = 1,
    Connection = 2,
    LockTimeout = 3,
    CorruptData = 4,
}

const NAMES: [&str; 5] = [
    "Cannon\\Session\\SessionException",
    "Cannon\\Session\\ConfigException",
    "Cannon\\Session\\ConnectionException",
    "Cannon\\Session\\LockTimeoutException",
    "Cannon\\Session\\CorruptDataException",
];

static ENTRIES: [AtomicPtr<ClassEntry>; 5] = [
    AtomicPtr::new(std::ptr::null_mut()),
    AtomicPtr::new(std::ptr::null_mut()),
    AtomicPtr::new(std::ptr::null_mut()),
    AtomicPtr::new(std::ptr::null_mut()),
    AtomicPtr::new(std::ptr::null_mut()),
];

fn runtime_exception() -> &'static ClassEntry {
    ce::find("runtimeexception").unwrap_or_else(ext_php_rs::zend::ce::exception)
}

fn session_exception() -> &'static ClassEntry {
    entry(Kind::Session)
}

/// ClassBuilder wants a registration callback; the entries are looked up by name afterwards.
fn registered(_ce: &'static mut ClassEntry, tables: ext_php_rs::args::ArgInfoTables) {
    // The engine keeps pointing into the arginfo tables (none for these classes): never free them.
    std::mem::forget(tables);
}

/// Registers the exception classes; called from module start-up.
pub fn register() -> ext_php_rs::error::Result<()> {
    for (i, name) in NAMES.iter().enumerate() {
        let builder = ClassBuilder::new(*name).registration(registered);
        let builder = if i == 0 {
            builder.extends((runtime_exception, "\\RuntimeException"))
        } else {
            builder.extends((session_exception, "\\Cannon\\Session\\SessionException"))
        };
        builder.register()?;
        // Remember the entry before the next class names it as its parent.
        if let Some(ce) = ce::find(&name.to_ascii_lowercase()) {
            ENTRIES[i].store(ce as *const ClassEntry as *mut ClassEntry, Ordering::Relaxed);
        }
    }
    Ok(())
}

pub fn entry(kind: Kind) -> &'static ClassEntry {
    let p = ENTRIES[kind as usize].load(Ordering::Relaxed);
    // SAFETY: null or set once at start-up from the class table; internal classes live for the
    // process.
    unsafe { p.as_ref() }.unwrap_or_else(runtime_exception)
}

pub fn exception(kind: Kind, msg: impl Into<String>) -> PhpException {
    PhpException::new(format!("cannon_session: {}", msg.into()), 0, entry(kind))
}

/// The exception class for a store error, by kind: every kind is named, so a new one needs a
/// decision here.
fn store_kind(e: &StoreError) -> Kind {
    match e {
        StoreError::Connection(_) | StoreError::Timeout(_) => Kind::Connection,
        // The replicas (or the link to them) could not confirm the write: an infrastructure
        // problem, like an unreachable server.
        StoreError::NotReplicated { .. } => Kind::Connection,
        // Transient: the server is up but not serving yet (Redis loading its data set).
        StoreError::Server(s) if s.kind.is_transient() => Kind::Connection,
        StoreError::LockTimeout { .. } => Kind::LockTimeout,
        StoreError::Server(_)
        | StoreError::LockLost
        | StoreError::Schema(_)
        | StoreError::TooLarge { .. }
        | StoreError::Busy
        | StoreError::Random(_) => Kind::Session,
    }
}

pub fn from_store(e: &StoreError) -> PhpException {
    exception(store_kind(e), e.to_string())
}

pub fn from_handler(e: &HandlerError) -> PhpException {
    match e {
        HandlerError::Store(s) => from_store(s),
        HandlerError::InvalidId | HandlerError::Random(_) | HandlerError::IdsTaken => exception(Kind::Session, e.to_string()),
    }
}

pub fn from_config(e: &ConfigError) -> PhpException {
    exception(Kind::Config, e.to_string())
}

//! `Cannon\Session\Adapter`: CannonPHP's storage adapter, arrays in and out by session id.
// PHP parameter names are the Rust parameter names, and PHP callers pass them by name
// (`regenerate(deleteOld: false)`): they are camelCase like the rest of the PHP API.
#![allow(non_snake_case)]
use super::calls::id_of;
use super::exceptions::{from_config, from_handler};
use super::options;
use super::serializer;
use crate::config::Serializer;
use crate::handler::Handler;
use ext_php_rs::binary_slice::BinarySlice;
use ext_php_rs::exception::PhpResult;
use ext_php_rs::prelude::*;
use ext_php_rs::boxed::ZBox;
use ext_php_rs::types::{ZendHashTable, Zval};
use std::cell::RefCell;
use std::rc::Rc;

/// What a Session and its Adapter share: the backend and how arrays are encoded.
pub struct Store {
    pub handler: Handler,
    pub serializer: Serializer,
    /// Session lifetime in seconds (`session_expire`).
    pub ttl: u64,
}

pub type Shared = Rc<RefCell<Store>>;

pub use crate::lifecycle::settings::SESSION_PREFIX;

impl Store {
    pub fn read_array(&mut self, id: &str) -> PhpResult<ZBox<ZendHashTable>> {
        let bytes = self.handler.peek(id).map_err(|e| from_handler(&e))?;
        serializer::decode(bytes.as_deref().unwrap_or_default(), self.serializer)
    }

    pub fn write_array(&mut self, id: &str, data: &Zval) -> PhpResult<()> {
        let bytes = serializer::encode(data, self.serializer)?;
        let ttl = self.ttl;
        // Keeps the lock a Session may hold on this id: its close() releases it, so no other
        // request slips in between this save and the end of the request.
        self.handler.save(id, &bytes, ttl).map_err(|e| from_handler(&e))
    }
}

#[php_class]
#[php(name = "Cannon\\Session\\Adapter")]
pub struct Adapter {
    pub(crate) shared: Shared,
}

#[php_impl]
impl Adapter {
    /// A DSN string, or nothing for `cannon_session.default_dsn`.
    pub fn __construct(dsn: Option<&Zval>) -> PhpResult<Self> {
        let cfg = options::from_zval(dsn, "redis").map_err(|e| from_config(&e))?;
        let serializer = serializer::of(&cfg)?;
        let handler = Handler::registered(cfg, SESSION_PREFIX, false);
        let ttl = super::ini::gc_maxlifetime();
        Ok(Adapter { shared: Rc::new(RefCell::new(Store { handler, serializer, ttl })) })
    }

    /// The stored array; `[]` when the session is missing or expired.
    pub fn read(&self, id: BinarySlice<u8>) -> PhpResult<ZBox<ZendHashTable>> {
        let mut s = self.shared.try_borrow_mut().map_err(|_| "session adapter is busy")?;
        s.read_array(id_of(&id))
    }

    pub fn write(&self, id: BinarySlice<u8>, data: &ZendHashTable) -> PhpResult<bool> {
        let mut s = self.shared.try_borrow_mut().map_err(|_| "session adapter is busy")?;
        let mut z = Zval::new();
        z.set_hashtable(data.to_owned());
        s.write_array(id_of(&id), &z).map(|_| true)
    }

    pub fn destroy(&self, id: BinarySlice<u8>) -> PhpResult<bool> {
        let mut s = self.shared.try_borrow_mut().map_err(|_| "session adapter is busy")?;
        s.handler.destroy(id_of(&id)).map_err(|e| from_handler(&e)).map(|_| true)
    }

    pub fn gc(&self, maxLifetime: i64) -> PhpResult<i64> {
        let mut s = self.shared.try_borrow_mut().map_err(|_| "session adapter is busy")?;
        s.handler.gc(maxLifetime).map_err(|e| from_handler(&e))
    }
}

//! `Cannon\Session\RedisHandler` and `Cannon\Session\DatabaseHandler`: PHP's session handler
//! interfaces over `crate::handler::Handler`. Failures throw `SessionException` subclasses.
use super::calls::id_of;
use super::exceptions::{from_config, from_handler};
use super::native::NATIVE_PREFIX;
use super::{ce, ffi, ini, options};
use crate::config::options::expect_backend;
use crate::handler::{Handler, HandlerError};
use ext_php_rs::binary::Binary;
use ext_php_rs::binary_slice::BinarySlice;
use ext_php_rs::exception::PhpResult;
use ext_php_rs::prelude::*;
use ext_php_rs::types::Zval;

/// Shared body of both handler classes.
pub struct HandlerCore {
    h: Handler,
}

impl HandlerCore {
    pub fn new(options: Option<&Zval>, redis: bool, class: &str) -> PhpResult<HandlerCore> {
        let scheme = if redis { "redis" } else { "mysql" };
        let cfg = options::from_zval(options, scheme).map_err(|e| from_config(&e))?;
        expect_backend(&cfg, redis, class).map_err(|e| from_config(&e))?;
        Ok(HandlerCore { h: Handler::registered(cfg, NATIVE_PREFIX, ini::locking()) })
    }

    fn done<T>(&mut self, r: Result<T, HandlerError>) -> PhpResult<T> {
        ffi::raise_notices(&mut self.h);
        r.map_err(|e| from_handler(&e))
    }

    pub fn open(&mut self) -> bool {
        self.h.begin_request(super::request::read_and_close(), ini::gc_maxlifetime());
        true
    }
    pub fn close(&mut self) -> PhpResult<bool> {
        let r = self.h.close();
        self.done(r).map(|_| true)
    }
    pub fn read(&mut self, id: &[u8]) -> PhpResult<Binary<u8>> {
        let r = self.h.read(id_of(id));
        self.done(r).map(Binary::from)
    }
    pub fn write(&mut self, id: &[u8], data: &[u8]) -> PhpResult<bool> {
        let r = self.h.write(id_of(id), data, ini::gc_maxlifetime());
        self.done(r).map(|_| true)
    }
    pub fn destroy(&mut self, id: &[u8]) -> PhpResult<bool> {
        let r = self.h.destroy(id_of(id));
        self.done(r).map(|_| true)
    }
    pub fn gc(&mut self, max_lifetime: i64) -> PhpResult<i64> {
        let r = self.h.gc(max_lifetime);
        self.done(r)
    }
    pub fn create_sid(&mut self) -> PhpResult<String> {
        // An unreachable store still gives an id, and read() then throws ConnectionException
        // (PHP replaces an exception thrown from create_sid() by Error "Session id must be a
        // string"); see Handler::create_sid.
        let r = self.h.create_sid(ini::sid_length());
        self.done(r)
    }
    pub fn validate_id(&mut self, id: &[u8]) -> PhpResult<bool> {
        let r = self.h.validate_id(id_of(id));
        self.done(r)
    }
    pub fn update_timestamp(&mut self, id: &[u8]) -> PhpResult<bool> {
        let r = self.h.update_timestamp(id_of(id), ini::gc_maxlifetime());
        self.done(r).map(|_| true)
    }
    pub fn round_trips(&self) -> i64 {
        self.h.stats().round_trips as i64
    }
}

macro_rules! handler_class {
    ($ty:ident, $php_name:literal, $redis:expr, { $($extra:item)* }) => {
        #[php_class]
        #[php(name = $php_name)]
        #[php(implements(ce = ce::session_handler_interface, stub = "\\SessionHandlerInterface"))]
        #[php(implements(ce = ce::session_id_interface, stub = "\\SessionIdInterface"))]
        #[php(implements(ce = ce::session_update_timestamp_interface, stub = "\\SessionUpdateTimestampHandlerInterface"))]
        pub struct $ty {
            core: HandlerCore,
        }

        #[php_impl]
        impl $ty {
            /// A DSN string, an options array, or nothing for `cannon_session.default_dsn`.
            pub fn __construct(options: Option<&Zval>) -> PhpResult<Self> {
                Ok($ty { core: HandlerCore::new(options, $redis, $php_name)? })
            }
            /// The backend comes from the constructor; PHP's save path is ignored.
            #[allow(unused_variables)]
            pub fn open(&mut self, path: String, name: String) -> bool {
                self.core.open()
            }
            pub fn close(&mut self) -> PhpResult<bool> {
                self.core.close()
            }
            pub fn read(&mut self, id: BinarySlice<u8>) -> PhpResult<Binary<u8>> {
                self.core.read(&id)
            }
            pub fn write(&mut self, id: BinarySlice<u8>, data: BinarySlice<u8>) -> PhpResult<bool> {
                self.core.write(&id, &data)
            }
            pub fn destroy(&mut self, id: BinarySlice<u8>) -> PhpResult<bool> {
                self.core.destroy(&id)
            }
            pub fn gc(&mut self, max_lifetime: i64) -> PhpResult<i64> {
                self.core.gc(max_lifetime)
            }
            #[php(name = "create_sid")]
            pub fn create_sid(&mut self) -> PhpResult<String> {
                self.core.create_sid()
            }
            pub fn validate_id(&mut self, id: BinarySlice<u8>) -> PhpResult<bool> {
                self.core.validate_id(&id)
            }
            #[allow(unused_variables)]
            pub fn update_timestamp(&mut self, id: BinarySlice<u8>, data: BinarySlice<u8>) -> PhpResult<bool> {
                self.core.update_timestamp(&id)
            }
            /// Round trips this process has made to the backend (for tests and benchmarks).
            pub fn round_trips(&self) -> i64 {
                self.core.round_trips()
            }
            $($extra)*
        }
    };
}

handler_class!(RedisHandler, "Cannon\\Session\\RedisHandler", true, {});
handler_class!(DatabaseHandler, "Cannon\\Session\\DatabaseHandler", false, {
    /// Creates the session table (if missing) for a mysql:// DSN or options array.
    pub fn create_table(options: &Zval) -> PhpResult<bool> {
        let cfg = options::from_zval(Some(options), "mysql").map_err(|e| from_config(&e))?;
        expect_backend(&cfg, false, "DatabaseHandler").map_err(|e| from_config(&e))?;
        let mut store = crate::store::mysql::MysqlStore::new(&cfg).map_err(|e| super::exceptions::from_store(&e))?;
        store.create_table().map_err(|e| super::exceptions::from_store(&e))?;
        Ok(true)
    }

    /// The CREATE TABLE statement for a table name (default `cannon_session`).
    pub fn create_table_sql(table: Option<String>) -> PhpResult<String> {
        let table = table.unwrap_or_else(|| crate::config::DEFAULT_TABLE.into());
        crate::config::validate_identifier("table", &table).map_err(|e| from_config(&e))?;
        Ok(crate::store::mysql::create_table_sql(&table))
    }
});


//! `Cannon\Session\Session`: the CannonPHP session object.
//!
//! `data` is a real PHP property (declared by `declare_data`), so `$s->data['a']['b'] = 1` and
//! `$s->data[] = 1` work; it is read back from the object's property table on close.
// PHP parameter names are the Rust parameter names, and PHP callers pass them by name
// (`regenerate(deleteOld: false)`): they are camelCase like the rest of the PHP API.
#![allow(non_snake_case)]
use super::adapter::{Adapter, Shared, Store, SESSION_PREFIX};
use super::calls::call;
use super::cookie;
use super::exceptions::{exception, from_config, from_handler, Kind};
use super::{ffi, ini, options, serializer};
use crate::handler::Handler;
use crate::lifecycle::cookie::CookieSettings;
use crate::lifecycle::settings::{self, Settings, SESSION_KEYS};
use crate::lifecycle::{SessionError, SessionState, Started};
use ext_php_rs::binary_slice::BinarySlice;
use ext_php_rs::builders::{ClassBuilder, ClassProperty};
use ext_php_rs::exception::PhpResult;
use ext_php_rs::flags::PropertyFlags;
use ext_php_rs::prelude::*;
use ext_php_rs::boxed::ZBox;
use ext_php_rs::types::{ZendClassObject, ZendHashTable, Zval};
use std::cell::RefCell;
use std::rc::Rc;

extern "C" {
    static zend_empty_array: ext_php_rs::ffi::HashTable;
}

/// `[]` as an immutable, non-refcounted zval: internal classes may only declare such defaults.
fn empty_array() -> Zval {
    let mut z = Zval::new();
    // SAFETY: this is ZVAL_EMPTY_ARRAY: type IS_ARRAY without the refcounted flag, pointing at
    // the engine's shared immutable empty array.
    z.u1.type_info = 7; // IS_ARRAY
    z.value.arr = std::ptr::addr_of!(zend_empty_array).cast_mut();
    z
}

fn declare_data(builder: ClassBuilder) -> ClassBuilder {
    builder.property(ClassProperty {
        name: "data".into(),
        flags: PropertyFlags::Public,
        default: Some(Box::new(|| Ok(empty_array()))),
        docs: &["/** The session's data; saved by close() or at the end of the request. */"],
        ty: None,
        nullable: false,
        readonly: false,
        default_stub: Some("[]".into()),
    })
}

/// The config as (key, text) pairs of the keys the Session API knows: from an array, a DSN
/// string, or nothing (`cannon_session.default_dsn`).
fn settings_from(config: Option<&Zval>) -> PhpResult<Settings> {
    let values = match config {
        None => vec![("session_dsn", ini::default_dsn())],
        Some(z) if z.is_null() => vec![("session_dsn", ini::default_dsn())],
        Some(z) => match (z.array(), z.zend_str()) {
            (Some(arr), _) => options::known(arr, SESSION_KEYS).map_err(|e| from_config(&e))?,
            (None, Some(dsn)) => vec![("session_dsn", String::from_utf8_lossy(dsn.as_bytes()).into_owned())],
            (None, None) => return Err(exception(Kind::Config, "expected a config array, a DSN string or null")),
        },
    };
    settings::from_values(&values, ini::gc_maxlifetime()).map_err(|e| from_config(&e))
}

/// The store a Session shares with its Adapter; refused, not a panic, while in use (a PHP
/// callback such as __wakeup() re-entering the object).
fn borrow(shared: &Shared) -> PhpResult<std::cell::RefMut<'_, Store>> {
    shared.try_borrow_mut().map_err(|_| exception(Kind::Session, "session store is busy"))
}

/// A SessionError as the exception to throw: the store's by kind, the codec's as it came.
fn thrown(e: SessionError<ext_php_rs::exception::PhpException>) -> ext_php_rs::exception::PhpException {
    match e {
        SessionError::Handler(e) => from_handler(&e),
        SessionError::Data(e) => e,
    }
}

#[php_class]
#[php(name = "Cannon\\Session\\Session")]
#[php(modifier = declare_data)]
pub struct Session {
    shared: Shared,
    name: String,
    cookie: CookieSettings,
    state: SessionState,
}

fn data_of(self_: &ZendClassObject<Session>) -> Zval {
    match self_.std.get_property::<&Zval>("data") {
        Ok(z) if z.is_array() => z.shallow_clone(),
        _ => {
            let mut z = Zval::new();
            z.set_hashtable(ZendHashTable::new());
            z
        }
    }
}

fn set_data(self_: &mut ZendClassObject<Session>, data: ZBox<ZendHashTable>) -> PhpResult<()> {
    let mut z = Zval::new();
    z.set_hashtable(data);
    self_.get_mut_zend_obj().set_property("data", z).map_err(|e| exception(Kind::Session, e.to_string()))
}

impl Session {
    fn new_from(s: Settings) -> PhpResult<Session> {
        let serializer = serializer::of(&s.config)?;
        let mut handler = Handler::registered(s.config, SESSION_PREFIX, ini::locking());
        handler.begin_request(false, s.expire);
        Ok(Session {
            shared: Rc::new(RefCell::new(Store { handler, serializer, ttl: s.expire })),
            name: s.name,
            cookie: s.cookie,
            state: SessionState::new(),
        })
    }

    fn store(&self) -> PhpResult<std::cell::RefMut<'_, Store>> {
        borrow(&self.shared)
    }

    /// Has close() run at the end of the request.
    fn register_shutdown(self_: &mut ZendClassObject<Session>) -> PhpResult<()> {
        let mut cb = ZendHashTable::new();
        let mut obj = Zval::new();
        obj.set_object(self_.get_mut_zend_obj());
        cb.push(obj).map_err(|e| exception(Kind::Session, e.to_string()))?;
        cb.push("close").map_err(|e| exception(Kind::Session, e.to_string()))?;
        let mut cb_z = Zval::new();
        cb_z.set_hashtable(cb);
        call("register_shutdown_function", vec![&cb_z])?;
        Ok(())
    }
}

#[php_impl]
impl Session {
    /// A CannonPHP config array, a DSN string, or nothing for `cannon_session.default_dsn`.
    /// Call start() next (fromConfig() starts by itself when `session_autostart` is true).
    pub fn __construct(config: Option<&Zval>) -> PhpResult<Self> {
        Session::new_from(settings_from(config)?)
    }

    /// Builds a session from a CannonPHP `App\Config` class's constants.
    pub fn from_config(class: Option<String>) -> PhpResult<ZBox<ZendClassObject<Session>>> {
        let class = class.unwrap_or_else(|| "App\\Config".into());
        if !call("class_exists", vec![&class.as_str()])?.bool().unwrap_or(false) {
            return Err(exception(Kind::Config, format!("config class {class:?} not found")));
        }
        let mut values = Vec::new();
        for key in SESSION_KEYS {
            let name = format!("{class}::{key}");
            if call("defined", vec![&name.as_str()])?.bool().unwrap_or(false) {
                let v = call("constant", vec![&name.as_str()])?;
                if let Some(text) = options::scalar(&v, key).map_err(|e| from_config(&e))? {
                    values.push((*key, text));
                }
            }
        }
        let settings = settings::from_values(&values, ini::gc_maxlifetime()).map_err(|e| from_config(&e))?;
        let autostart = settings.autostart;
        let mut obj = ZendClassObject::new(Session::new_from(settings)?);
        if autostart {
            Session::start(&mut obj, None, None)?;
        }
        Ok(obj)
    }

    /// The adapter CannonPHP controllers use: read/write/destroy/gc by id.
    #[php(getter)]
    pub fn get_adapter(&self) -> ZBox<ZendClassObject<Adapter>> {
        ZendClassObject::new(Adapter { shared: Rc::clone(&self.shared) })
    }

    pub fn get_id(&self) -> Option<String> {
        self.state.id.clone()
    }

    pub fn get_name(&self) -> String {
        self.name.clone()
    }

    pub fn is_started(&self) -> bool {
        self.state.started
    }

    /// Starts (or resumes) the session and returns its id. Without `$id`, the id comes from the
    /// cookie. A missing, malformed or unknown id starts a new session with a fresh id. With
    /// `$readOnly`, no lock is taken (nor waited for) and close() saves nothing.
    pub fn start(self_: &mut ZendClassObject<Session>, id: Option<BinarySlice<u8>>, readOnly: Option<bool>) -> PhpResult<String> {
        let this: &mut Session = self_;
        let started = {
            let mut store = borrow(&this.shared)?;
            let ser = store.serializer;
            // Bytes, not a String: an id that is not UTF-8 is malformed, not a TypeError.
            let argument: Option<&[u8]> = id.as_ref().map(|i| &i[..]);
            let name = &this.name;
            let r = this.state.start(
                &mut store.handler,
                argument,
                || cookie::incoming(name),
                readOnly.unwrap_or(false),
                ini::sid_length(),
                |b| serializer::decode(b, ser),
            );
            ffi::raise_notices(&mut store.handler);
            r.map_err(thrown)?
        };
        let (id, data, send_cookie, auto_close) = match started {
            Started::Already(id) => return Ok(id),
            Started::Began { id, data, send_cookie, auto_close } => (id, data, send_cookie, auto_close),
        };
        set_data(self_, data)?;
        if send_cookie {
            cookie::send(&self_.cookie, &self_.name, Some(&id))?;
        }
        if auto_close {
            Session::register_shutdown(self_)?;
        }
        Ok(id)
    }

    /// Saves `data` if it changed since start (otherwise only refreshes the expiry) and releases
    /// the lock. Safe to call twice; called by itself at the end of the request.
    pub fn close(self_: &mut ZendClassObject<Session>) -> PhpResult<bool> {
        let data = data_of(self_);
        let this: &mut Session = self_;
        let mut store = borrow(&this.shared)?;
        let (ser, ttl) = (store.serializer, store.ttl);
        let r = this.state.close(&mut store.handler, ttl, || serializer::encode(&data, ser));
        ffi::raise_notices(&mut store.handler);
        r.map_err(thrown).map(|_| true)
    }

    /// Deletes the session from the store, empties `data` and expires the cookie.
    pub fn destroy(self_: &mut ZendClassObject<Session>) -> PhpResult<bool> {
        let this: &mut Session = self_;
        let destroyed = {
            let mut store = borrow(&this.shared)?;
            this.state.destroy(&mut store.handler).map_err(|e| from_handler(&e))?
        };
        if destroyed {
            set_data(self_, ZendHashTable::new())?;
            cookie::send(&self_.cookie, &self_.name, None)?;
        }
        Ok(true)
    }

    /// Moves the session to a fresh id (after login, to defeat fixation) and returns it. With
    /// `$deleteOld`, the old session is deleted; otherwise it keeps its data as of start.
    /// (The parameter is camelCase because PHP code passes it by name: `regenerate(deleteOld: false)`.)
    #[php(defaults(deleteOld = true))]
    pub fn regenerate(self_: &mut ZendClassObject<Session>, deleteOld: Option<bool>) -> PhpResult<String> {
        let this: &mut Session = self_;
        let new_id = {
            let mut store = borrow(&this.shared)?;
            this.state.regenerate(&mut store.handler, deleteOld.unwrap_or(true), ini::sid_length()).map_err(|e| from_handler(&e))?
        };
        cookie::send(&self_.cookie, &self_.name, Some(&new_id))?;
        Ok(new_id)
    }

    /// How the last lock wait went, for the application's own metrics: `lock_wait_ms` (the
    /// last locked read's wait), `lock_failures` (waits that timed out in this process) and
    /// `round_trips` (to the backend, in this process).
    pub fn lock_stats(&self) -> PhpResult<ZBox<ZendHashTable>> {
        let st = self.store()?;
        let stats = st.handler.stats();
        let mut out = ZendHashTable::new();
        let err = |e: ext_php_rs::error::Error| exception(Kind::Session, e.to_string());
        out.insert("lock_wait_ms", stats.last_lock_wait.as_secs_f64() * 1000.0).map_err(err)?;
        out.insert("lock_failures", stats.lock_failures as i64).map_err(err)?;
        out.insert("round_trips", stats.round_trips as i64).map_err(err)?;
        Ok(out)
    }

    /// Deletes expired sessions; returns how many (Redis expires keys itself: 0).
    pub fn gc(&self, maxLifetime: Option<i64>) -> PhpResult<i64> {
        let mut st = self.store()?;
        let ttl = st.ttl;
        SessionState::gc(&mut st.handler, maxLifetime, ttl).map_err(|e| from_handler(&e))
    }
}


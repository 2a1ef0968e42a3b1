//! `Cannon\Session\Session`: the CannonPHP session object.
//!
//! `data` is a real PHP property (declared by `declare_data`), so `$s->data['a']['b'] = 1` and
//! `$s->data[] = 1` work; it is read back from the object's property table on close.
// PHP parameter names are the Rust parameter names, and PHP callers pass them by name
// (`regenerate(deleteOld: false)`): they are camelCase like the rest of the PHP API.
#![allow(non_snake_case)]
use super::adapter::{Adapter, Shared, Store, SESSION_PREFIX};
use super::cookie::{self, CookieSettings};
use super::calls::call;
use super::exceptions::{exception, from_config, from_handler, Kind};
use super::{ini, options, serializer};
use crate::config::{parse_dsn, Config, ConfigError};
use crate::handler::Handler;
use crate::id;
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

/// CannonPHP config names this object understands (besides those that become DSN parts).
const SESSION_KEYS: &[&str] = &[
    "session_driver", "session_engine", "session_dsn", "session_redis_host", "session_redis_port",
    "session_redis_password", "session_redis_database", "session_expire", "session_name",
    "session_prefix", "session_autostart", "session_db_table", "host", "port", "username", "password",
    "dbname", "session_path", "session_domain", "session_http_only", "session_samesite", "session_secure",
    "session_cookie", "session_cookie_lifetime", "session_serializer", "session_locking",
    "session_lock_wait_timeout", "session_timeout", "session_connect_timeout",
];

struct Settings {
    config: Config,
    name: String,
    expire: u64,
    cookie: CookieSettings,
    autostart: bool,
}

fn text(arr: &ZendHashTable, key: &str) -> Result<Option<String>, ConfigError> {
    match arr.get(key) {
        Some(z) => options::scalar(z, key),
        None => Ok(None),
    }
}

fn flag(arr: &ZendHashTable, key: &str, default: bool) -> Result<bool, ConfigError> {
    Ok(match text(arr, key)?.as_deref() {
        None => default,
        Some("") | Some("0") | Some("false") | Some("off") | Some("no") => false,
        Some(_) => true,
    })
}

fn settings_from_array(arr: &ZendHashTable) -> Result<Settings, ConfigError> {
    let driver = text(arr, "session_driver")?.or(text(arr, "session_engine")?).unwrap_or_else(|| "redis".into());
    let mut query: Vec<(String, String)> = Vec::new();
    for (key, opt) in [
        ("session_serializer", "serializer"),
        ("session_locking", "lock"),
        ("session_lock_wait_timeout", "lock_wait_timeout"),
        ("session_timeout", "timeout"),
        ("session_connect_timeout", "connect_timeout"),
    ] {
        if let Some(v) = text(arr, key)? {
            query.push((opt.into(), v));
        }
    }
    let nonempty = |v: Option<String>| v.filter(|s| !s.is_empty());
    let config = if let Some(dsn) = text(arr, "session_dsn")? {
        parse_dsn(&dsn)?
    } else {
        let parts = match driver.to_ascii_lowercase().as_str() {
            "redis" => {
                query.push(("prefix".into(), text(arr, "session_prefix")?.unwrap_or_else(|| SESSION_PREFIX.into())));
                options::DsnParts {
                    scheme: "redis".into(),
                    user: None,
                    password: nonempty(text(arr, "session_redis_password")?),
                    host: nonempty(text(arr, "session_redis_host")?),
                    port: nonempty(text(arr, "session_redis_port")?),
                    path: nonempty(text(arr, "session_redis_database")?),
                    query,
                }
            }
            "database" | "mysql" | "db" => {
                if let Some(t) = text(arr, "session_db_table")? {
                    query.push(("table".into(), t));
                }
                options::DsnParts {
                    scheme: "mysql".into(),
                    user: nonempty(text(arr, "username")?),
                    password: nonempty(text(arr, "password")?),
                    host: nonempty(text(arr, "host")?),
                    port: nonempty(text(arr, "port")?),
                    path: Some(text(arr, "dbname")?.unwrap_or_default()),
                    query,
                }
            }
            other => {
                return Err(ConfigError(format!(
                    "invalid session_driver {:?}: expected redis or database",
                    other.chars().take(32).collect::<String>()
                )))
            }
        };
        parse_dsn(&parts.to_dsn())?
    };
    let expire = match text(arr, "session_expire")? {
        None => ini::gc_maxlifetime(),
        Some(v) => match v.parse::<u64>() {
            Ok(n) if n > 0 => n,
            _ => return Err(ConfigError(format!("invalid session_expire {v:?}: expected seconds > 0"))),
        },
    };
    let name = text(arr, "session_name")?.filter(|s| !s.is_empty()).unwrap_or_else(|| "cannon_session".into());
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.') {
        return Err(ConfigError(format!("invalid session_name {name:?}: use letters, digits, '_', '-', '.'")));
    }
    let defaults = CookieSettings::default();
    let cookie = CookieSettings {
        enabled: flag(arr, "session_cookie", true)?,
        path: text(arr, "session_path")?.unwrap_or(defaults.path),
        domain: text(arr, "session_domain")?.unwrap_or(defaults.domain),
        http_only: flag(arr, "session_http_only", true)?,
        same_site: text(arr, "session_samesite")?.unwrap_or(defaults.same_site),
        secure: match text(arr, "session_secure")? {
            None => None,
            Some(_) => Some(flag(arr, "session_secure", false)?),
        },
        lifetime: text(arr, "session_cookie_lifetime")?.and_then(|v| v.parse().ok()).unwrap_or(0),
    };
    Ok(Settings { config, name, expire, cookie, autostart: flag(arr, "session_autostart", false)? })
}

fn settings_from(config: Option<&Zval>) -> PhpResult<Settings> {
    let arr = match config {
        None => None,
        Some(z) if z.is_null() => None,
        Some(z) => match z.array() {
            Some(a) => Some(a.to_owned()),
            None => {
                let dsn = z.zend_str().map(|s| String::from_utf8_lossy(s.as_bytes()).into_owned());
                let dsn = dsn.ok_or_else(|| exception(Kind::Config, "expected a config array, a DSN string or null"))?;
                let mut a = ZendHashTable::new();
                a.insert("session_dsn", dsn.as_str()).map_err(|e| exception(Kind::Config, e.to_string()))?;
                Some(a)
            }
        },
    };
    let arr = match arr {
        Some(a) => a,
        None => {
            let mut a = ZendHashTable::new();
            a.insert("session_dsn", ini::default_dsn().as_str()).map_err(|e| exception(Kind::Config, e.to_string()))?;
            a
        }
    };
    settings_from_array(&arr).map_err(|e| from_config(&e))
}

#[php_class]
#[php(name = "Cannon\\Session\\Session")]
#[php(modifier = declare_data)]
pub struct Session {
    shared: Shared,
    name: String,
    cookie: CookieSettings,
    id: Option<String>,
    started: bool,
    /// The encoded data as read at start, to tell whether `data` changed.
    original: Option<Vec<u8>>,
    /// Started read-only: no lock taken, close() writes nothing.
    read_only: bool,
    shutdown_registered: bool,
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
        let serializer = match s.config.serializer {
            Some(x) => x,
            None => serializer::default()?,
        };
        let mut handler = Handler::new(s.config, SESSION_PREFIX, ini::locking());
        handler.refresh_ttl = Some(s.expire);
        Ok(Session {
            shared: Rc::new(RefCell::new(Store { handler, serializer, ttl: s.expire })),
            name: s.name,
            cookie: s.cookie,
            id: None,
            started: false,
            original: None,
            read_only: false,
            shutdown_registered: false,
        })
    }

    fn store(&self) -> PhpResult<std::cell::RefMut<'_, Store>> {
        self.shared.try_borrow_mut().map_err(|_| exception(Kind::Session, "session store is busy"))
    }

    fn new_id(&self) -> PhpResult<String> {
        let mut st = self.store()?;
        st.handler.create_id(ini::sid_length()).map_err(|e| from_handler(&e))
    }

    /// Saves at the end of the request if the app never calls close().
    fn register_shutdown(self_: &mut ZendClassObject<Session>) -> PhpResult<()> {
        if self_.shutdown_registered {
            return Ok(());
        }
        let mut cb = ZendHashTable::new();
        let mut obj = Zval::new();
        obj.set_object(self_.get_mut_zend_obj());
        cb.push(obj).map_err(|e| exception(Kind::Session, e.to_string()))?;
        cb.push("close").map_err(|e| exception(Kind::Session, e.to_string()))?;
        let mut cb_z = Zval::new();
        cb_z.set_hashtable(cb);
        call("register_shutdown_function", vec![&cb_z])?;
        self_.shutdown_registered = true;
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
        let mut arr = ZendHashTable::new();
        for key in SESSION_KEYS {
            let name = format!("{class}::{key}");
            if call("defined", vec![&name.as_str()])?.bool().unwrap_or(false) {
                let v = call("constant", vec![&name.as_str()])?;
                arr.insert(*key, v).map_err(|e| exception(Kind::Config, e.to_string()))?;
            }
        }
        let settings = settings_from_array(&arr).map_err(|e| from_config(&e))?;
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
        self.id.clone()
    }

    pub fn get_name(&self) -> String {
        self.name.clone()
    }

    pub fn is_started(&self) -> bool {
        self.started
    }

    /// Starts (or resumes) the session and returns its id. Without `$id`, the id comes from the
    /// cookie. A missing, malformed or unknown id starts a new session with a fresh id. With
    /// `$readOnly`, no lock is taken (nor waited for) and close() saves nothing.
    pub fn start(self_: &mut ZendClassObject<Session>, id: Option<BinarySlice<u8>>, readOnly: Option<bool>) -> PhpResult<String> {
        if self_.started {
            return Ok(self_.id.clone().unwrap_or_default());
        }
        let read_only = readOnly.unwrap_or(false);
        self_.read_only = read_only;
        self_.store()?.handler.read_only_request = read_only;
        let wanted: Option<Vec<u8>> = match id {
            // Bytes, not a String: an id that is not UTF-8 is malformed, not a TypeError.
            Some(i) => Some(i.to_vec()),
            None => cookie::incoming(&self_.name),
        };
        let from_cookie = wanted.clone();
        let mut resumed: Option<(String, Vec<u8>)> = None;
        if let Some(w) = wanted.filter(|w| id::is_well_formed(w)) {
            let w = String::from_utf8_lossy(&w).into_owned();
            let mut st = self_.store()?;
            match st.handler.fetch(&w).map_err(|e| from_handler(&e))? {
                Some(bytes) => resumed = Some((w, bytes)),
                // Unknown id: never adopt it (session fixation); drop its lock.
                None => {
                    let _ = st.handler.close();
                }
            }
        }
        let (id, bytes) = match resumed {
            Some(r) => r,
            None => (self_.new_id()?, Vec::new()),
        };
        let data = {
            let st = self_.store()?;
            serializer::decode(&bytes, st.serializer)
        };
        let data = match data {
            Ok(d) => d,
            Err(e) => {
                let mut st = self_.store()?;
                let _ = st.handler.close();
                return Err(e);
            }
        };
        set_data(self_, data)?;
        self_.original = Some(bytes);
        self_.id = Some(id.clone());
        self_.started = true;
        if from_cookie.as_deref() != Some(id.as_bytes()) {
            self_.cookie.send(&self_.name, Some(&id))?;
        }
        Session::register_shutdown(self_)?;
        Ok(id)
    }

    /// Saves `data` if it changed since start (otherwise only refreshes the expiry) and releases
    /// the lock. Safe to call twice; called by itself at the end of the request.
    pub fn close(self_: &mut ZendClassObject<Session>) -> PhpResult<bool> {
        if !self_.started {
            return Ok(true);
        }
        self_.started = false;
        if self_.read_only {
            self_.original = None;
            return Ok(true);
        }
        let Some(id) = self_.id.clone() else { return Ok(true) };
        let data = data_of(self_);
        let original = self_.original.take();
        let mut st = self_.store()?;
        let bytes = serializer::encode(&data, st.serializer)?;
        let ttl = st.ttl;
        let r = if original.as_deref() == Some(&bytes[..]) && !bytes.is_empty() {
            st.handler.update_timestamp(&id, ttl)
        } else {
            st.handler.write(&id, &bytes, ttl)
        };
        // Releases a lock the write could not, and closes the connection with persistent=0.
        let closed = st.handler.close();
        for n in st.handler.notices.drain(..) {
            super::ffi::notice(&n);
        }
        r.and(closed).map_err(|e| from_handler(&e)).map(|_| true)
    }

    /// Deletes the session from the store, empties `data` and expires the cookie.
    pub fn destroy(self_: &mut ZendClassObject<Session>) -> PhpResult<bool> {
        let Some(id) = self_.id.take() else { return Ok(true) };
        self_.started = false;
        self_.original = None;
        {
            let mut st = self_.store()?;
            st.handler.destroy(&id).map_err(|e| from_handler(&e))?;
        }
        set_data(self_, ZendHashTable::new())?;
        self_.cookie.send(&self_.name, None)?;
        Ok(true)
    }

    /// Moves the session to a fresh id (after login, to defeat fixation) and returns it. With
    /// `$deleteOld`, the old session is deleted; otherwise it keeps its data as of start.
    /// (The parameter is camelCase because PHP code passes it by name: `regenerate(deleteOld: false)`.)
    #[php(defaults(deleteOld = true))]
    pub fn regenerate(self_: &mut ZendClassObject<Session>, deleteOld: Option<bool>) -> PhpResult<String> {
        let delete_old = deleteOld.unwrap_or(true);
        let new_id = self_.new_id()?;
        if let Some(old) = self_.id.clone() {
            let mut st = self_.store()?;
            if delete_old {
                st.handler.destroy(&old).map_err(|e| from_handler(&e))?;
            } else {
                st.handler.close().map_err(|e| from_handler(&e))?;
            }
        }
        if self_.started {
            // Hold the lock on the new id, as on the old one.
            let mut st = self_.store()?;
            st.handler.fetch(&new_id).map_err(|e| from_handler(&e))?;
        }
        self_.id = Some(new_id.clone());
        // Nothing is stored under the new id yet: close() must write.
        self_.original = None;
        self_.cookie.send(&self_.name, Some(&new_id))?;
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
        let max = maxLifetime.map(|m| m.max(0) as u64).unwrap_or(st.ttl);
        st.handler.gc(max).map_err(|e| from_handler(&e)).map(|n| n.min(i64::MAX as u64) as i64)
    }
}


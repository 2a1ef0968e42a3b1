//! The Session API's cookie: whether to send, refresh or expire it, and with which attributes.
//! `src/php` asks the request what the decision needs (`CookieEnv`) and carries the decision out
//! with PHP's setcookie().

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieSettings {
    pub enabled: bool,
    pub path: String,
    pub domain: String,
    pub http_only: bool,
    pub same_site: String,
    /// None: secure exactly when the request came over HTTPS.
    pub secure: Option<bool>,
    /// 0: until the browser closes.
    pub lifetime: i64,
}

impl Default for CookieSettings {
    fn default() -> Self {
        CookieSettings {
            enabled: true,
            path: "/".into(),
            domain: String::new(),
            http_only: true,
            same_site: "Lax".into(),
            secure: None,
            lifetime: 0,
        }
    }
}

/// What the decision needs to know about the request. Asked lazily and in this order (CLI,
/// output started, HTTPS, time), each only when the answer matters.
pub trait CookieEnv {
    fn is_cli(&self) -> bool;
    fn headers_sent(&self) -> bool;
    fn is_https(&self) -> bool;
    /// Unix seconds.
    fn now(&self) -> i64;
}

/// A `Set-Cookie` to send, as setcookie()'s arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCookie {
    pub name: String,
    pub value: String,
    /// Unix seconds; 0: a browser-session cookie; 1: expire it now.
    pub expires: i64,
    pub path: String,
    /// Empty: none.
    pub domain: String,
    pub secure: bool,
    pub http_only: bool,
    /// Empty: none.
    pub same_site: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CookieAction {
    /// Cookies are off, or this is the CLI.
    None,
    /// Output has started: no header can be sent any more. Say why the next request will not
    /// find this session, as PHP's own session_start() does.
    Warn(&'static str),
    Set(SetCookie),
}

pub const HEADERS_SENT: &str = "cannot send the session cookie: output has already started (call start() before any output)";

impl CookieSettings {
    /// Sends `name=id`, or expires the cookie when `id` is None (a destroyed session).
    pub fn decide(&self, name: &str, id: Option<&str>, env: &dyn CookieEnv) -> CookieAction {
        if !self.enabled || env.is_cli() {
            return CookieAction::None;
        }
        if env.headers_sent() {
            return CookieAction::Warn(HEADERS_SENT);
        }
        let secure = self.secure.unwrap_or_else(|| env.is_https());
        let expires = match id {
            None => 1,
            Some(_) if self.lifetime > 0 => env.now().saturating_add(self.lifetime),
            Some(_) => 0,
        };
        CookieAction::Set(SetCookie {
            name: name.to_string(),
            value: id.unwrap_or("").to_string(),
            expires,
            path: self.path.clone(),
            domain: self.domain.clone(),
            secure,
            http_only: self.http_only,
            same_site: self.same_site.clone(),
        })
    }
}

/// The keys to look the incoming cookie up by in `$_COOKIE`: its name and, when it differs,
/// the name as PHP stores it (PHP turns `.` in a request variable's name into `_`; `.` is the
/// only such character a session name may contain).
pub fn incoming_keys(name: &str) -> (&str, Option<String>) {
    (name, name.contains('.').then(|| name.replace('.', "_")))
}

/// Whether PHP runs in a SAPI that sends no headers (`php_sapi_name()`).
pub fn is_cli_sapi(name: &str) -> bool {
    name == "cli" || name == "phpdbg"
}

/// Whether a request's `HTTPS` and `REQUEST_SCHEME` server variables say HTTPS (as PHP's own
/// session module reads `HTTPS`: set and not "off").
pub fn https_from(https: Option<&str>, request_scheme: Option<&str>) -> bool {
    let https = https.unwrap_or_default();
    (!https.is_empty() && !https.eq_ignore_ascii_case("off")) || request_scheme.is_some_and(|s| s.eq_ignore_ascii_case("https"))
}

//! The PHP boundary: classes, the native save handler, INI entries, phpinfo(). Thin: convert,
//! call the plain-Rust core, convert back.
mod adapter;
mod calls;
mod ce;
mod convert;
mod cookie;
mod exceptions;
mod ffi;
mod handlers;
mod info;
mod ini;
mod native;
mod options;
mod request;
mod sensitive;
mod serializer;
mod session;
mod stats;

use ext_php_rs::prelude::*;

/// Module start-up: INI entries, exception classes, the `cannon` save handler. Never connects:
/// php-fpm forks after this, and a connection made here would be shared by every worker.
pub extern "C" fn startup(_ty: i32, module_number: i32) -> i32 {
    let r = std::panic::catch_unwind(|| {
        ini::register(module_number);
        sensitive::install();
        if let Err(e) = exceptions::register() {
            ffi::core_warning(&format!("cannot register exception classes: {e}"));
            return -1;
        }
        if !native::register() {
            ffi::warning("ext/session is not loaded before cannon_session: session.save_handler=cannon is unavailable");
        }
        0
    });
    r.unwrap_or(-1)
}

/// After every module's request shutdown (ext/session's included, which writes and closes the
/// session): release any lock a request left behind, however it ended.
pub extern "C" fn post_deactivate() -> i32 {
    let _ = std::panic::catch_unwind(crate::registry::release_all_locks);
    0
}

/// This process's counters: connections, round trips, lock failures, the last lock wait.
#[php_function]
#[php(name = "Cannon\\Session\\stats")]
pub fn stats() -> ext_php_rs::exception::PhpResult<ext_php_rs::boxed::ZBox<ext_php_rs::types::ZendHashTable>> {
    stats::process_stats()
}

#[php_module]
#[php(startup = "startup")]
pub fn get_module(module: ModuleBuilder) -> ModuleBuilder {
    // A panic inside a method already becomes a PHP Error; keep it off stderr.
    std::panic::set_hook(Box::new(|_| {}));
    module
        .class::<handlers::RedisHandler>()
        .class::<handlers::DatabaseHandler>()
        .class::<adapter::Adapter>()
        .class::<session::Session>()
        .function(wrap_function!(stats))
        .info_function(info::php_info)
        .post_deactivate_function(post_deactivate)
}

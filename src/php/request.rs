//! What the running PHP code asked for that ext/session does not pass to save handlers.
use ext_php_rs::zend::ExecutorGlobals;

/// Whether the current `session_start()` call was given `['read_and_close' => true]`.
///
/// ext/session reads the session and closes it at once, but tells the handler nothing: without
/// this the handler would take the lock (and maybe wait for it) only to drop it. We look up the
/// `session_start` frame on the call stack (a few frames up when a PHP handler object sits in
/// between) and read its first argument.
pub fn read_and_close() -> bool {
    let eg = ExecutorGlobals::get();
    // SAFETY: the executor's frames are valid while PHP code runs; we only read them.
    let mut frame = unsafe { eg.current_execute_data.as_ref() };
    for _ in 0..8 {
        let Some(ex) = frame else { return false };
        let name = ex
            .function()
            // SAFETY: `common` is the header every zend_function variant shares; the name is a
            // zend_string (or null for pseudo-functions) owned by the function.
            .and_then(|f| unsafe { f.common.function_name.as_ref() })
            .map(|n| n.as_bytes());
        if name == Some(&b"session_start"[..]) {
            // SAFETY: for a call frame, `This.u2` holds the number of arguments passed.
            let nargs = unsafe { ex.This.u2.num_args };
            if nargs < 1 {
                return false;
            }
            // SAFETY: argument 0 exists (checked above) and lives in the frame's slots.
            let Some(arg) = (unsafe { ex.zend_call_arg(0) }) else { return false };
            let arg = if arg.is_reference() { arg.dereference() } else { &*arg };
            let Some(opts) = arg.array() else { return false };
            return opts.get("read_and_close").is_some_and(|v| {
                v.is_true() || v.long().is_some_and(|n| n != 0) || v.string().is_some_and(|s| !s.is_empty() && s != "0")
            });
        }
        frame = ex.previous();
    }
    false
}

//! Lock tokens (the lock protocol itself is tested against Redis in `tests.rs`).
use super::*;

#[test]
fn lock_tokens_are_unique_and_change_after_fork() {
    let a = new_token(crate::registry::generation()).unwrap();
    let b = new_token(crate::registry::generation()).unwrap();
    assert_eq!(a.len(), 32);
    assert_ne!(a, b);
    assert_eq!(a[..16], b[..16], "one random prefix per process");
    // A forked child draws a new prefix: it never repeats its parent's tokens.
    let mut fds = [0i32; 2];
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let t = new_token(crate::registry::generation()).unwrap_or_default();
        unsafe {
            libc::write(fds[1], t.as_ptr().cast(), t.len());
            libc::_exit(0);
        }
    }
    let mut child = vec![0u8; 32];
    let n = unsafe { libc::read(fds[0], child.as_mut_ptr().cast(), 32) };
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    assert_eq!(n, 32);
    let next = new_token(crate::registry::generation()).unwrap();
    assert_ne!(child[..16], next[..16], "the child drew its own prefix");
    assert_ne!(child, next);
}

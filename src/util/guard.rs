// SPDX-License-Identifier: GPL-2.0-or-later
//! Containment for third-party parsers.
//!
//! `nt-hive` is our independent verifier, and it is fed damaged hives on
//! purpose. Some damage (for example a zero-size cell) makes it panic on an
//! arithmetic overflow. [`contain`] turns such a panic into an error, so a
//! broken hive is reported as unreadable rather than crashing the tool; the
//! release profile keeps overflow checks on so such bugs panic instead of
//! wrapping silently.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// Whether a panic on this thread is being contained (not printed).
    static CONTAINED: Cell<bool> = const { Cell::new(false) };
}

/// Installs, once per process, a panic hook that stays quiet for panics
/// inside [`contain`] on the panicking thread and hands every other panic
/// to the hook that was there before. Contained calls on several threads
/// at once therefore never swap the process-wide hook under each other.
fn install_hook() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        let prev = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !CONTAINED.with(Cell::get) {
                prev(info);
            }
        }));
    });
}

/// Runs `f`; a panic inside it becomes `Err` with the panic message. The
/// panic message is not printed (the error carries it).
pub fn contain<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    install_hook();
    let outer = CONTAINED.with(|c| c.replace(true));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    CONTAINED.with(|c| c.set(outer));
    r.map_err(|p| {
        let msg = p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        format!("{what} failed on damaged data ({msg})")
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn panics_become_errors() {
        let r: Result<(), String> = super::contain("parser", || panic!("boom"));
        assert!(r.unwrap_err().contains("boom"));
        assert_eq!(super::contain("parser", || 5), Ok(5));
    }

    /// Contained panics on several threads at once all become errors.
    #[test]
    fn contained_on_many_threads_at_once() {
        let errs: Vec<String> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..8)
                .map(|i| {
                    s.spawn(move || {
                        super::contain("parser", || -> () { panic!("boom {i}") }).unwrap_err()
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (i, e) in errs.iter().enumerate() {
            assert!(e.contains(&format!("boom {i}")), "{e}");
        }
    }
}

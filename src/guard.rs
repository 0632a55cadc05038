// SPDX-License-Identifier: GPL-2.0-or-later
//! Containment for third-party parsers.
//!
//! `nt-hive` is our independent verifier, and it is fed damaged hives on
//! purpose. Some damage (for example a zero-size cell) makes it panic on an
//! arithmetic overflow. [`contain`] turns such a panic into an error, so a
//! broken hive is reported as unreadable rather than crashing the tool; the
//! release profile keeps overflow checks on so such bugs panic instead of
//! wrapping silently.

use std::panic::{self, AssertUnwindSafe};

/// Runs `f`; a panic inside it becomes `Err` with the panic message. The
/// panic message is not printed (the error carries it).
pub fn contain<T>(what: &str, f: impl FnOnce() -> T) -> Result<T, String> {
    let prev = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let r = panic::catch_unwind(AssertUnwindSafe(f));
    panic::set_hook(prev);
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
}

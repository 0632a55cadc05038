// SPDX-License-Identifier: GPL-2.0-or-later
//! The NLA rule, in one place: what a set of `RDP-Tcp` values means for
//! NLA, and how the Group Policy copies override them. `inspect`'s verdicts
//! (per control set and effective), `diagnose` row 6 and the fixes' "Group
//! Policy would override this" check all call these two functions, so they
//! cannot disagree.

use crate::hive::reader::{NamedValue, ValueState};

use super::Nla;

/// The value whose 0 means the RDP security layer (no TLS, no NLA).
pub const SECURITY_LAYER: &str = "SecurityLayer";
/// The value whose non-zero means NLA is required.
pub const USER_AUTHENTICATION: &str = "UserAuthentication";
/// The third value Microsoft's NLA workaround sets.
pub const SEC_PROTOCOL_NEGOTIATION: &str = "fAllowSecProtocolNegotiation";

/// NLA from the listener's values (`get` returns a value's state, `None`
/// when it was not read): off when `UserAuthentication` is 0 or absent
/// (Windows' default) or `SecurityLayer` is 0 (the RDP security layer
/// cannot carry NLA); required when `UserAuthentication` is non-zero and
/// `SecurityLayer` is not 0. An unreadable or non-DWORD value of the three
/// makes it unknown, with the reason.
pub fn nla_of<'a>(get: impl Fn(&str) -> Option<&'a ValueState>) -> (Nla, Option<String>) {
    let names = [
        SECURITY_LAYER,
        USER_AUTHENTICATION,
        SEC_PROTOCOL_NEGOTIATION,
    ];
    let bad = names.iter().find_map(|n| match get(n) {
        Some(ValueState::Unreadable { error }) => Some(format!("{n} unreadable: {error}")),
        Some(s @ ValueState::Present { type_name, .. }) if s.dword().is_none() => {
            Some(format!("{n} is {type_name}, not REG_DWORD"))
        }
        _ => None,
    });
    let sl = get(SECURITY_LAYER).and_then(ValueState::dword);
    let ua_state = get(USER_AUTHENTICATION);
    let ua = ua_state.and_then(ValueState::dword);
    if let Some(why) = bad {
        (Nla::Unknown, Some(why))
    } else if sl == Some(0) || ua == Some(0) || matches!(ua_state, Some(ValueState::Missing)) {
        (Nla::Off, None)
    } else if ua.is_some() {
        (Nla::Required, None)
    } else {
        (Nla::Unknown, Some("UserAuthentication was not read".into()))
    }
}

/// The values that take effect: each local value replaced by its Group
/// Policy copy when that copy is present, or unreadable (it may hold an
/// override, so what it governs is unknown, never taken for "no policy").
pub fn with_policy(local: &[NamedValue], policy: &[NamedValue]) -> Vec<NamedValue> {
    let mut vals = local.to_vec();
    for p in policy.iter().filter(|p| {
        matches!(
            p.state,
            ValueState::Present { .. } | ValueState::Unreadable { .. }
        )
    }) {
        match vals.iter_mut().find(|v| v.name == p.name) {
            Some(v) => v.state = p.state.clone(),
            None => vals.push(p.clone()),
        }
    }
    vals
}

/// A present REG_DWORD value, as a fix would leave it (no file offset).
pub fn planned_dword(name: &str, data: u32) -> NamedValue {
    NamedValue {
        name: name.to_string(),
        state: ValueState::Present {
            type_name: "REG_DWORD".into(),
            type_code: crate::format::regf::key::reg_type::DWORD,
            data: data.into(),
            offset: 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get<'a>(vals: &'a [NamedValue]) -> impl Fn(&str) -> Option<&'a ValueState> {
        move |n| vals.iter().find(|v| v.name == n).map(|v| &v.state)
    }

    fn sz(name: &str) -> NamedValue {
        NamedValue {
            name: name.into(),
            state: ValueState::Present {
                type_name: "REG_SZ".into(),
                type_code: crate::format::regf::key::reg_type::SZ,
                data: "1".into(),
                offset: 0,
            },
        }
    }

    #[test]
    fn the_rule_and_the_policy_overlay() {
        let off = [
            planned_dword(SECURITY_LAYER, 0),
            planned_dword(USER_AUTHENTICATION, 0),
        ];
        assert_eq!(nla_of(get(&off)).0, Nla::Off);
        let on = [
            planned_dword(SECURITY_LAYER, 2),
            planned_dword(USER_AUTHENTICATION, 1),
        ];
        assert_eq!(nla_of(get(&on)).0, Nla::Required);
        // SecurityLayer 0 alone turns NLA off; a missing UserAuthentication too.
        let policy = [planned_dword(SECURITY_LAYER, 0)];
        assert_eq!(nla_of(get(&with_policy(&on, &policy))).0, Nla::Off);
        let missing = [NamedValue {
            name: USER_AUTHENTICATION.into(),
            state: ValueState::Missing,
        }];
        // A missing policy value does not override.
        assert_eq!(nla_of(get(&with_policy(&on, &missing))).0, Nla::Required);
        // A policy copy of the wrong type makes the verdict unknown, and so
        // does an unreadable one.
        let (n, why) = nla_of(get(&with_policy(&off, &[sz(USER_AUTHENTICATION)])));
        assert_eq!(n, Nla::Unknown);
        assert!(why.unwrap().contains("REG_SZ"));
        let bad = [NamedValue {
            name: SECURITY_LAYER.into(),
            state: ValueState::Unreadable { error: "x".into() },
        }];
        assert_eq!(nla_of(get(&with_policy(&off, &bad))).0, Nla::Unknown);
    }
}

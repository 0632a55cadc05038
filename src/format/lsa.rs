// SPDX-License-Identifier: GPL-2.0-or-later
//! SECURITY hive: the logon-right bits of `Policy\Accounts\<SID>\ActSysAc`.
//!
//! Source: Windows SDK `ntlsa.h` (`SECURITY_ACCESS_*_LOGON`), checked
//! against the real SECURITY hives of the corpus (Administrators 0x407,
//! Remote Desktop Users 0x400, Guest 0xC1). 0x400 *grants* the RDP logon
//! right; 0x800 *denies* it (a widely used parser has these backwards).

/// Key holding one subkey per SID that has rights or privileges.
pub const ACCOUNTS_KEY: &str = r"Policy\Accounts";
/// Subkey of a SID key whose default value holds the right bits.
pub const ACT_SYS_AC: &str = "ActSysAc";

/// Subkey of a SID key whose default value holds the binary SID.
pub const SID: &str = "Sid";
/// Subkey of a SID key whose default value holds the account object's
/// security descriptor (the same one in every account key of the corpus
/// hives, Windows XP to 11).
pub const SEC_DESC: &str = "SecDesc";

/// What the account keys of one SECURITY hive hold alike (measured on the
/// corpus: the SID key's default value is type 3 with no data; `Sid`,
/// `SecDesc` and `ActSysAc` are REG_NONE; one `SecDesc` for all).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountKeyLayout {
    /// Type of the SID key's default value.
    pub key_type: u32,
    /// Its data.
    pub key_data: Vec<u8>,
    /// Type of `Sid`'s default value.
    pub sid_type: u32,
    /// Type of `ActSysAc`'s default value, where a key has one.
    pub act_type: Option<u32>,
    /// `SecDesc`'s default value: type and data.
    pub sec_desc: (u32, Vec<u8>),
}

impl AccountKeyLayout {
    /// The layout every one of `seen` shares (`ActSysAc`'s type among the
    /// keys that have one); `None` when they differ or there are none.
    pub fn common(seen: &[AccountKeyLayout]) -> Option<AccountKeyLayout> {
        let first = seen.first()?;
        let mut act: Option<u32> = None;
        for l in seen {
            let same = l.key_type == first.key_type
                && l.key_data == first.key_data
                && l.sid_type == first.sid_type
                && l.sec_desc == first.sec_desc;
            if !same {
                return None;
            }
            match (act, l.act_type) {
                (Some(a), Some(b)) if a != b => return None,
                (None, b) => act = b,
                _ => {}
            }
        }
        Some(AccountKeyLayout {
            act_type: act,
            ..first.clone()
        })
    }
}

/// SeInteractiveLogonRight.
pub const INTERACTIVE: u32 = 0x0001;
/// SeNetworkLogonRight.
pub const NETWORK: u32 = 0x0002;
/// SeBatchLogonRight.
pub const BATCH: u32 = 0x0004;
/// SeServiceLogonRight.
pub const SERVICE: u32 = 0x0010;
/// SeDenyInteractiveLogonRight.
pub const DENY_INTERACTIVE: u32 = 0x0040;
/// SeDenyNetworkLogonRight.
pub const DENY_NETWORK: u32 = 0x0080;
/// SeDenyBatchLogonRight.
pub const DENY_BATCH: u32 = 0x0100;
/// SeDenyServiceLogonRight.
pub const DENY_SERVICE: u32 = 0x0200;
/// SeRemoteInteractiveLogonRight (log on through Remote Desktop Services).
pub const REMOTE_INTERACTIVE: u32 = 0x0400;
/// SeDenyRemoteInteractiveLogonRight.
pub const DENY_REMOTE_INTERACTIVE: u32 = 0x0800;

/// Every right bit with its SDK name, in bit order.
pub const RIGHTS: [(u32, &str); 10] = [
    (INTERACTIVE, "SeInteractiveLogonRight"),
    (NETWORK, "SeNetworkLogonRight"),
    (BATCH, "SeBatchLogonRight"),
    (SERVICE, "SeServiceLogonRight"),
    (DENY_INTERACTIVE, "SeDenyInteractiveLogonRight"),
    (DENY_NETWORK, "SeDenyNetworkLogonRight"),
    (DENY_BATCH, "SeDenyBatchLogonRight"),
    (DENY_SERVICE, "SeDenyServiceLogonRight"),
    (REMOTE_INTERACTIVE, "SeRemoteInteractiveLogonRight"),
    (DENY_REMOTE_INTERACTIVE, "SeDenyRemoteInteractiveLogonRight"),
];

/// The names of the rights set in `bits` (unknown bits as hex).
pub fn right_names(bits: u32) -> Vec<String> {
    let mut out: Vec<String> = RIGHTS
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    let known = RIGHTS.iter().fold(0, |a, (b, _)| a | b);
    if bits & !known != 0 {
        out.push(format!("{:#x}", bits & !known));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rdp_bits_are_grant_0x400_and_deny_0x800() {
        assert_eq!(
            right_names(0x407),
            [
                "SeInteractiveLogonRight",
                "SeNetworkLogonRight",
                "SeBatchLogonRight",
                "SeRemoteInteractiveLogonRight"
            ]
        );
        assert_eq!(right_names(0x800), ["SeDenyRemoteInteractiveLogonRight"]);
        assert_eq!(right_names(0x1_0000), ["0x10000"]);
    }
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! Account rescue: enable, unlock, password expiry, a new password, and the
//! RDP logon rights. Each is a same-layout edit of existing values through
//! the write engine (backup, verification, dry run, JSON).
//!
//! - `F` edits (enable, unlock, never-expires, reset-expiry) change bytes
//!   inside the 0x50-byte value (rdp-causes.md rows 19-22).
//! - A new password re-encrypts the NT hash in the account's own format
//!   with its own salt at its own place in `V`; an LM hash, if one is
//!   stored, is cleared to the header-only form Windows writes when it has
//!   none (rows 21, 23).
//! - Logon rights set 0x400 / clear 0x800 in `ActSysAc` of a SID that
//!   already has a key under `Policy\Accounts` (row 17).

use crate::error::{Code, Error, Result, Warning};
use crate::format::lsa;
use crate::format::sam::{
    acb, with_u16, with_u64, HashBlob, UserV, F_ACB, F_BAD_COUNT, F_PASSWORD_LAST_SET,
};
use crate::format::secrets;
use crate::hive::accounts::{
    hashed_boot_key, now_filetime, raw_value, read_model, sid_name, Account, AccountsModel,
    WELL_KNOWN,
};
use crate::hive::name::HiveName;
use crate::hive::reader::Reader;
use crate::storage::source::{HivePaths, Located};
use crate::write::engine;
use crate::write::outcome::EditReport;
use crate::write::plan::{Action, EditOptions, Op, Unit, Views};

/// What to change on an account.
pub enum AccountEdit {
    /// Clear ACB 0x0001.
    Enable,
    /// Clear ACB 0x0400 and the bad-password count.
    Unlock,
    /// Set ACB 0x0200.
    NeverExpires,
    /// PasswordLastSet = now.
    ResetExpiry,
    /// A new password (never printed, logged or stored in clear).
    Password(String),
}

impl AccountEdit {
    fn command(&self) -> &'static str {
        match self {
            AccountEdit::Enable => "account enable",
            AccountEdit::Unlock => "account unlock",
            AccountEdit::NeverExpires => "account password --never-expires",
            AccountEdit::ResetExpiry => "account password --reset-expiry",
            AccountEdit::Password(_) => "account password",
        }
    }
}

/// The hives an account edit reads: the one it edits, and the others read
/// only (SYSTEM for the boot key and the domain-controller test).
pub struct EditHives<'a> {
    /// Where the source was found.
    pub located: &'a Located,
    /// SAM.
    pub sam: &'a HivePaths,
    /// SECURITY, if present.
    pub security: Option<&'a HivePaths>,
    /// SYSTEM, if present.
    pub system: Option<&'a HivePaths>,
}

fn model(v: &Views<'_>) -> Result<AccountsModel> {
    let sam = v.sam.ok_or_else(|| Error::NotFound("no SAM hive".into()))?;
    read_model(sam, v.security, v.system)
}

/// The account called `name` (case-insensitive), refused on a domain
/// controller and when it is not a local account.
fn find_account<'m>(m: &'m AccountsModel, name: &str) -> Result<&'m Account> {
    if m.domain_controller {
        return Err(Error::Refused(
            "this machine is a domain controller: its accounts live in Active Directory, not in the SAM; \
             no SAM account is changed (reset domain accounts on another domain controller)"
                .into(),
        ));
    }
    m.accounts
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .ok_or_else(|| {
            Error::Refused(format!(
                "'{name}' is not a local account of this SAM (local accounts: {}); a domain account is \
                 managed on its domain controller",
                m.accounts
                    .iter()
                    .map(|a| a.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

fn sam_value(v: &Views<'_>, key: &str, name: &str) -> Result<(u32, Vec<u8>, u64)> {
    let sam = v.sam.expect("SAM is loaded");
    raw_value(sam, key, name)?.ok_or_else(|| Error::Invalid {
        what: "SAM value",
        offset: 0,
        detail: format!("{key}\\{name} is missing"),
    })
}

fn set(hive: HiveName, key: &str, value: &str, ty: u32, data: Vec<u8>) -> Op {
    Op {
        hive,
        key: key.to_string(),
        value: value.to_string(),
        action: Action::Set { ty, data },
        create: false,
    }
}

/// The new `V` of an account with `password`: the NT blob re-encrypted in
/// place (same format, salt, length); a stored LM hash cleared to its
/// header, the entries after it moved up.
fn new_v(v: &[u8], base: u64, rid: u32, hbk: &[u8; 16], password: &str) -> Result<Vec<u8>> {
    let uv = UserV::parse(v, base)?;
    let nt_bytes = &v[uv.nt.clone()];
    let nt = HashBlob::parse(nt_bytes, base + uv.nt.start as u64)?;
    let hash = secrets::nt_hash(password);
    let new_nt = secrets::encrypt_hash_like(nt_bytes, &nt, rid, hbk, secrets::NTPASSWORD, &hash)
        .ok_or_else(|| {
            Error::Refused(
                "the account has a blank password: its hash blob holds no hash, so a new one cannot be \
                 written in place. Log on with the blank password at the console (or the cloud serial \
                 console) and set a password there; never turn LimitBlankPasswordUse off"
                    .into(),
            )
        })?;
    let mut out = v.to_vec();
    out[uv.nt.clone()].copy_from_slice(&new_nt);
    let lm_bytes = &v[uv.lm.clone()];
    let lm = HashBlob::parse(lm_bytes, base + uv.lm.start as u64)?;
    if let (false, Some(fmt)) = (lm.is_blank(), lm.format()) {
        let header = secrets::header_only(lm_bytes, fmt);
        out = crate::format::sam::replace_entry(&out, crate::format::sam::V_LM_HASH, &header)?;
    }
    Ok(out)
}

/// The operations of one account edit.
fn account_ops(v: &Views<'_>, a: &Account, edit: &AccountEdit) -> Result<Vec<Op>> {
    let (fty, f, _) = sam_value(v, &a.key, "F")?;
    let uf = a.f.expect("read with its F");
    let f_op = |data: Vec<u8>| set(HiveName::Sam, &a.key, "F", fty, data);
    Ok(match edit {
        AccountEdit::Enable => vec![f_op(with_u16(&f, F_ACB, uf.acb & !acb::DISABLED)?)],
        AccountEdit::Unlock => {
            let f = with_u16(&f, F_ACB, uf.acb & !acb::AUTO_LOCKED)?;
            vec![f_op(with_u16(&f, F_BAD_COUNT, 0)?)]
        }
        AccountEdit::NeverExpires => vec![f_op(with_u16(
            &f,
            F_ACB,
            uf.acb | acb::DONT_EXPIRE_PASSWORD,
        )?)],
        AccountEdit::ResetExpiry => vec![f_op(with_u64(&f, F_PASSWORD_LAST_SET, now_filetime())?)],
        AccountEdit::Password(pw) => {
            if let Some(ms) = &a.microsoft_account {
                return Err(Error::Refused(format!(
                    "'{}' is linked to the Microsoft account {ms}: its password is the Microsoft account's; \
                     reset it online, or use another local administrator",
                    a.name
                )));
            }
            let system = v.system.ok_or_else(|| {
                Error::NotFound("a new password needs the SYSTEM hive (boot key) beside SAM".into())
            })?;
            let sam = v.sam.expect("SAM is loaded");
            let hbk = hashed_boot_key(sam, system)?;
            let (vty, old_v, v_off) = sam_value(v, &a.key, "V")?;
            let nv = new_v(&old_v, v_off, a.rid, &hbk, pw)?;
            v.redact.borrow_mut().push((a.key.clone(), "V".to_string()));
            v.notes.borrow_mut().push(Warning::new(
                Code::SecretsLost,
                "secrets protected by the old password are lost: DPAPI-protected data (saved browser and \
                 Wi-Fi passwords, Credential Manager), EFS-encrypted files and stored credentials of this \
                 account",
            ));
            vec![
                set(HiveName::Sam, &a.key, "V", vty, nv),
                f_op(with_u64(&f, F_PASSWORD_LAST_SET, now_filetime())?),
            ]
        }
    })
}

fn hive_list(h: &EditHives<'_>, edited: HiveName) -> Vec<(HiveName, HivePaths, bool)> {
    let mut out = vec![(HiveName::Sam, h.sam.clone(), edited != HiveName::Sam)];
    if let Some(s) = h.security {
        out.push((HiveName::Security, s.clone(), edited != HiveName::Security));
    }
    if let Some(s) = h.system {
        out.push((HiveName::System, s.clone(), true));
    }
    out
}

/// `account enable|unlock|password NAME`.
pub fn account_edit(
    h: &EditHives<'_>,
    name: &str,
    edit: &AccountEdit,
    opts: &EditOptions,
) -> Result<EditReport> {
    let command = edit.command();
    let hives = hive_list(h, HiveName::Sam);
    engine::run_hives(h.located, command, &hives, opts, &|v| {
        let m = model(v)?;
        let a = find_account(&m, name)?;
        Ok(vec![Unit {
            label: a.name.clone(),
            ops: account_ops(v, a, edit)?,
        }])
    })
}

/// A logon-rights change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RightsEdit {
    /// Set SeRemoteInteractiveLogonRight (0x400).
    GrantRdp,
    /// Clear SeDenyRemoteInteractiveLogonRight (0x800).
    RemoveDeny,
}

/// The SID `who` names: a SID, or a local account, group or well-known
/// name.
fn resolve_sid(m: &AccountsModel, who: &str) -> Result<String> {
    if let Some(sid) = crate::format::sam::Sid::parse_str(who) {
        return Ok(sid.to_string());
    }
    let hit = m
        .accounts
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(who))
        .and_then(|a| a.sid.clone())
        .or_else(|| {
            m.groups
                .iter()
                .find(|g| g.name.eq_ignore_ascii_case(who))
                .map(|g| g.sid.clone())
        })
        .or_else(|| {
            WELL_KNOWN
                .iter()
                .find(|(_, n)| n.eq_ignore_ascii_case(who))
                .map(|(s, _)| s.to_string())
        });
    hit.ok_or_else(|| {
        Error::Refused(format!(
            "'{who}' is neither a SID nor a local account, group or well-known name"
        ))
    })
}

/// The `ActSysAc` operation of a rights change on `sid`.
fn rights_op(sec: &Reader<'_>, m: &AccountsModel, sid: &str, edit: RightsEdit) -> Result<Op> {
    let key = format!(r"{}\{sid}\{}", lsa::ACCOUNTS_KEY, lsa::ACT_SYS_AC);
    let Some((ty, d, off)) = raw_value(sec, &key, "")? else {
        return Err(Error::Refused(format!(
            "{sid} ({}) has no Policy\\Accounts\\{sid}\\ActSysAc in SECURITY; ntrescue changes rights only \
             where the SID's key exists (grant the right to a group that has one, e.g. Remote Desktop Users, \
             and add the account to it)",
            sid_name(m, sid).unwrap_or_else(|| "unknown".into())
        )));
    };
    let bits = crate::util::bytes::u32_at(&d, off, 0, "ActSysAc")?;
    let new = match edit {
        RightsEdit::GrantRdp => bits | lsa::REMOTE_INTERACTIVE,
        RightsEdit::RemoveDeny => bits & !lsa::DENY_REMOTE_INTERACTIVE,
    };
    let mut data = d.clone();
    data[..4].copy_from_slice(&new.to_le_bytes());
    Ok(set(HiveName::Security, &key, "", ty, data))
}

/// `rights grant-rdp|remove-deny SID|NAME`.
pub fn rights_edit(
    h: &EditHives<'_>,
    who: &str,
    edit: RightsEdit,
    gpo_warning: Option<Warning>,
    opts: &EditOptions,
) -> Result<EditReport> {
    let command = match edit {
        RightsEdit::GrantRdp => "rights grant-rdp",
        RightsEdit::RemoveDeny => "rights remove-deny",
    };
    if h.security.is_none() {
        return Err(Error::NotFound("no SECURITY hive beside SAM".into()));
    }
    let hives = hive_list(h, HiveName::Security);
    engine::run_hives(h.located, command, &hives, opts, &|v| {
        let m = model(v)?;
        let sid = resolve_sid(&m, who)?;
        let sec = v.security.expect("SECURITY is loaded");
        if let Some(w) = &gpo_warning {
            v.notes.borrow_mut().push(w.clone());
        }
        v.notes.borrow_mut().push(Warning::new(
            Code::DomainPolicyReapplies,
            "a domain Group Policy that sets this right re-applies it at the next policy refresh",
        ));
        Ok(vec![Unit {
            label: sid.clone(),
            ops: vec![rights_op(sec, &m, &sid, edit)?],
        }])
    })
}

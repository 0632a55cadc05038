// SPDX-License-Identifier: GPL-2.0-or-later
//! Account rescue: enable, unlock, password expiry, a new password, and the
//! RDP logon rights. Each is a same-layout edit of existing values through
//! the write engine (backup, verification, dry run, JSON).
//!
//! - `F` edits (enable, unlock, never-expires, reset-expiry, account
//!   expiry) change bytes inside the 0x50-byte value (rdp-causes.md rows
//!   19-22).
//! - A new password re-encrypts the NT hash in the account's own format
//!   with its own salt at its own place in `V`; an LM hash, if one is
//!   stored, is cleared to the header-only form Windows writes when it has
//!   none (rows 21, 23).
//! - Logon rights set 0x400 / clear 0x800 in `ActSysAc` of a SID that
//!   already has a key under `Policy\Accounts` (row 17).

use crate::error::{Code, Error, Result, Warning};
use crate::format::lsa;
use crate::format::sam::{
    acb, alias_c_with_member, reverse_map_rids, with_u16, with_u64, AliasC, HashBlob, Sid, UserV,
    FILETIME_NEVER, F_ACB, F_ACCOUNT_EXPIRES, F_BAD_COUNT, F_PASSWORD_LAST_SET,
};
use crate::format::secrets;
use crate::hive::accounts::{
    hashed_boot_key, now_filetime, raw_value, read_model, sid_name, Account, AccountsModel, Group,
    WELL_KNOWN,
};
use crate::hive::name::HiveName;
use crate::hive::reader::{KeyLookup, Reader};
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
    /// AccountExpires = never (0x7FFFFFFFFFFFFFFF, what Windows writes).
    AccountNeverExpires,
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
            AccountEdit::AccountNeverExpires => "account expiry --never",
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
            Error::refused(Code::UnknownAccount, format!(
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
        // 0 means "never" too (`UserF::never_expires`): left as it is.
        AccountEdit::AccountNeverExpires if uf.never_expires() => vec![f_op(f)],
        AccountEdit::AccountNeverExpires => {
            vec![f_op(with_u64(&f, F_ACCOUNT_EXPIRES, FILETIME_NEVER)?)]
        }
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
        Error::refused(
            Code::UnknownAccount,
            format!("'{who}' is neither a SID nor a local account, group or well-known name"),
        )
    })
}

/// The operations of a rights change on `sid`: a same-size edit of its
/// `ActSysAc` where it exists; else, for a grant, the keys Windows keeps
/// for an account object ([`new_account_ops`]); a deny cannot be removed
/// from a SID that holds no rights (nothing to do).
fn rights_ops(
    v: &Views<'_>,
    sec: &Reader<'_>,
    m: &AccountsModel,
    sid: &str,
    edit: RightsEdit,
) -> Result<Vec<Op>> {
    let key = format!(r"{}\{sid}\{}", lsa::ACCOUNTS_KEY, lsa::ACT_SYS_AC);
    let Some((ty, d, off)) = raw_value(sec, &key, "")? else {
        if edit == RightsEdit::RemoveDeny {
            v.notes.borrow_mut().push(Warning::new(
                Code::NoLogonRights,
                format!("{sid} holds no logon rights in SECURITY: there is no deny to remove"),
            ));
            return Ok(Vec::new());
        }
        let name = sid_name(m, sid).unwrap_or_else(|| "unknown".into());
        v.notes.borrow_mut().push(Warning::new(
            Code::AccountKeyCreated,
            format!(
                "{sid} ({name}) had no logon rights: its account key is created as Windows keeps one \
                 (Sid, SecDesc as every other account key holds it, ActSysAc 0x400); no privileges \
                 (Privilgs) are given"
            ),
        ));
        return new_account_ops(sec, sid);
    };
    let bits = crate::util::bytes::u32_at(&d, off, 0, "ActSysAc")?;
    let new = match edit {
        RightsEdit::GrantRdp => bits | lsa::REMOTE_INTERACTIVE,
        RightsEdit::RemoveDeny => bits & !lsa::DENY_REMOTE_INTERACTIVE,
    };
    let mut data = d.clone();
    data[..4].copy_from_slice(&new.to_le_bytes());
    Ok(vec![set(HiveName::Security, &key, "", ty, data)])
}

/// What every existing account key under `Policy\Accounts` holds alike:
/// its default value's type, the types of `Sid` and `ActSysAc`, and the
/// `SecDesc` value. A SECURITY hive whose account keys differ in any of
/// these is refused: ntrescue does not invent an LSA object's layout.
fn account_key_layout(sec: &Reader<'_>) -> Result<lsa::AccountKeyLayout> {
    let KeyLookup::Found(k) = sec.key(lsa::ACCOUNTS_KEY) else {
        return Err(Error::Refused(format!(
            "SECURITY has no readable {}: no account key is created",
            lsa::ACCOUNTS_KEY
        )));
    };
    let mut seen: Vec<lsa::AccountKeyLayout> = Vec::new();
    for s in k.subkeys()? {
        let base = format!(r"{}\{}", lsa::ACCOUNTS_KEY, s.name()?);
        let value = |sub: &str| raw_value(sec, &format!(r"{base}\{sub}"), "");
        let own = raw_value(sec, &base, "")?;
        let (Some(own), Some(sid), Some(sd)) = (own, value(lsa::SID)?, value(lsa::SEC_DESC)?)
        else {
            continue;
        };
        let act = value(lsa::ACT_SYS_AC)?.map(|a| a.0);
        seen.push(lsa::AccountKeyLayout {
            key_type: own.0,
            key_data: own.1,
            sid_type: sid.0,
            act_type: act,
            sec_desc: (sd.0, sd.1),
        });
    }
    lsa::AccountKeyLayout::common(&seen).ok_or_else(|| {
        Error::Refused(format!(
            "the {} account keys of SECURITY do not all hold the same security descriptor and value \
             types: ntrescue does not make up a new one; grant the right to a group that has a key \
             (Remote Desktop Users) and add the account to it",
            seen.len()
        ))
    })
}

/// A new `Policy\Accounts\<SID>` (or the `ActSysAc` of one that has none)
/// holding SeRemoteInteractiveLogonRight.
fn new_account_ops(sec: &Reader<'_>, sid: &str) -> Result<Vec<Op>> {
    let parsed = Sid::parse_str(sid)
        .ok_or_else(|| Error::Refused(format!("'{sid}' is not a SID in text form")))?;
    let layout = account_key_layout(sec)?;
    let key = format!(r"{}\{sid}", lsa::ACCOUNTS_KEY);
    let sub = |s: &str| format!(r"{key}\{s}");
    let mut ops = Vec::new();
    let create = |key: String, ty: u32, data: Vec<u8>| Op {
        create: true,
        ..set(HiveName::Security, &key, "", ty, data)
    };
    if !matches!(sec.key(&key), KeyLookup::Found(_)) {
        ops.push(Op::create_key(HiveName::Security, &key));
        ops.push(create(
            key.clone(),
            layout.key_type,
            layout.key_data.clone(),
        ));
        ops.push(Op::create_key(HiveName::Security, sub(lsa::SID)));
        ops.push(create(sub(lsa::SID), layout.sid_type, parsed.to_bytes()));
        ops.push(Op::create_key(HiveName::Security, sub(lsa::SEC_DESC)));
        let (sd_ty, sd) = layout.sec_desc.clone();
        ops.push(create(sub(lsa::SEC_DESC), sd_ty, sd));
    }
    ops.push(Op::create_key(HiveName::Security, sub(lsa::ACT_SYS_AC)));
    ops.push(create(
        sub(lsa::ACT_SYS_AC),
        layout
            .act_type
            .unwrap_or(crate::format::regf::key::reg_type::NONE),
        lsa::REMOTE_INTERACTIVE.to_le_bytes().to_vec(),
    ));
    Ok(ops)
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
            ops: rights_ops(v, sec, &m, &sid, edit)?,
        }])
    })
}

/// The local group `group` names: its name, SID, or RID (decimal, `0x`
/// hex, or the 8 hex digits of its key).
fn find_group<'m>(m: &'m AccountsModel, group: &str) -> Result<&'m Group> {
    let rid = |g: &Group| {
        g.key
            .rsplit_once('\\')
            .and_then(|(_, r)| u32::from_str_radix(r, 16).ok())
    };
    let wanted = group
        .strip_prefix("0x")
        .or_else(|| group.strip_prefix("0X"))
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .or_else(|| (group.len() == 8).then(|| u32::from_str_radix(group, 16).ok())?)
        .or_else(|| group.parse::<u32>().ok());
    m.groups
        .iter()
        .find(|g| g.name.eq_ignore_ascii_case(group) || g.sid.eq_ignore_ascii_case(group))
        .or_else(|| {
            // A RID names a Builtin alias first (they are the well-known ones).
            let mut hits = m
                .groups
                .iter()
                .filter(|g| wanted.is_some() && rid(g) == wanted);
            hits.next()
        })
        .ok_or_else(|| {
            Error::Refused(format!(
                "'{group}' is not a local group of this SAM (local groups: {})",
                m.groups
                    .iter()
                    .map(|g| g.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

/// The default value of a reverse-map key: `(type, data)`, `None` when
/// the key or value is missing.
fn default_value(sam: &Reader<'_>, key: &str) -> Result<Option<(u32, Vec<u8>)>> {
    Ok(raw_value(sam, key, "")?.map(|(t, d, _)| (t, d)))
}

/// The operations that make account `a` a member of alias `g`: its SID
/// appended to the alias `C`, and the reverse map
/// `<aliases>\Members\<domain SID>\<RID>` (default value: the alias RIDs,
/// their number as its type) with the domain key's default value type
/// counting its RID keys. Missing keys are created.
fn membership_ops(v: &Views<'_>, a: &Account, g: &Group) -> Result<Vec<Op>> {
    let sam = v.sam.expect("SAM is loaded");
    let sid =
        a.sid.as_deref().and_then(Sid::parse_str).ok_or_else(|| {
            Error::Refused("the machine SID is unknown: no member is added".into())
        })?;
    let (dom, rid) = sid
        .split_rid()
        .ok_or_else(|| Error::Refused(format!("{sid} has no RID")))?;
    let (aliases, alias_key) = g
        .key
        .rsplit_once('\\')
        .ok_or_else(|| Error::Refused(format!("{}: not an alias key", g.key)))?;
    let alias_rid = u32::from_str_radix(alias_key, 16)
        .map_err(|_| Error::Refused(format!("{}: not an alias key", g.key)))?;
    let (cty, c, coff) = sam_value(v, &g.key, "C")?;
    let new_c = if AliasC::parse(&c, coff)?.members.contains(&sid) {
        c
    } else {
        alias_c_with_member(&c, coff, &sid)?
    };
    let dom_key = format!(r"{aliases}\Members\{dom}");
    let rid_key = format!(r"{dom_key}\{rid:08X}");
    let inconsistent = |key: &str| {
        Error::Refused(format!(
            "{key}: its default value does not hold the layout Windows writes (the type counts the \
             entries); nothing is changed"
        ))
    };
    let mut ops = Vec::new();
    let rid_keys = match sam.key(&dom_key) {
        KeyLookup::Found(k) => Some(k.subkeys()?.len() as u32),
        KeyLookup::Missing(_) => None,
        KeyLookup::Unreadable(e) => {
            return Err(Error::Refused(format!("{dom_key} is unreadable: {e}")))
        }
    };
    let dom_data = match rid_keys {
        Some(n) => match default_value(sam, &dom_key)? {
            Some((ty, d)) if ty == n => d,
            _ => return Err(inconsistent(&dom_key)),
        },
        None => {
            ops.push(Op::create_key(HiveName::Sam, &dom_key));
            Vec::new()
        }
    };
    let rids = match default_value(sam, &rid_key)? {
        Some((ty, d)) => reverse_map_rids(ty, &d).ok_or_else(|| inconsistent(&rid_key))?,
        None if matches!(sam.key(&rid_key), KeyLookup::Found(_)) => {
            return Err(inconsistent(&rid_key))
        }
        None => {
            ops.push(Op::create_key(HiveName::Sam, &rid_key));
            Vec::new()
        }
    };
    let created_rid = ops.iter().any(|o| o.key == rid_key);
    let n = rid_keys.unwrap_or(0) + u32::from(created_rid);
    let mut new_rids = rids;
    if !new_rids.contains(&alias_rid) {
        new_rids.push(alias_rid);
    }
    let create = |key: &str, ty: u32, data: Vec<u8>| Op {
        create: true,
        ..set(HiveName::Sam, key, "", ty, data)
    };
    ops.push(create(&dom_key, n, dom_data));
    ops.push(create(
        &rid_key,
        new_rids.len() as u32,
        new_rids.iter().flat_map(|r| r.to_le_bytes()).collect(),
    ));
    ops.push(set(HiveName::Sam, &g.key, "C", cty, new_c));
    Ok(ops)
}

/// `account add-to-group NAME GROUP`.
pub fn add_to_group(
    h: &EditHives<'_>,
    name: &str,
    group: &str,
    opts: &EditOptions,
) -> Result<EditReport> {
    let hives = hive_list(h, HiveName::Sam);
    engine::run_hives(h.located, "account add-to-group", &hives, opts, &|v| {
        let m = model(v)?;
        let a = find_account(&m, name)?;
        let g = find_group(&m, group)?;
        Ok(vec![Unit {
            label: g.name.clone(),
            ops: membership_ops(v, a, g)?,
        }])
    })
}

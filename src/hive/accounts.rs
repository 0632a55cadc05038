// SPDX-License-Identifier: GPL-2.0-or-later
//! The local accounts of a Windows machine as the SAM, SECURITY and SYSTEM
//! hives show them, and whether each may log on over RDP (rdp-causes.md
//! rows 17-23 and 28).
//!
//! Every value is read by both readers ([`Reader`]); a value they do not
//! agree on is an error, never "absent". The model is plain data: the
//! `account list` report and `diagnose` both build on [`AccountsModel`]
//! and its per-account [`RdpAnswer`].

use serde::Serialize;

use crate::error::{Error, Result};
use crate::format::lsa;
use crate::format::regf::cell::HiveView;
use crate::format::regf::key::Key;
use crate::format::sam::{
    acb, domain_sid, AliasC, DomainF, HashBlob, HashFormat, Sid, UserF, UserV,
};
use crate::format::secrets;
use crate::hive::path::current_control_set;
use crate::hive::reader::{KeyLookup, Reader, ValueState};
use crate::util::time::filetime_iso;

/// The account domain key.
pub const ACCOUNT_DOMAIN: &str = r"SAM\Domains\Account";
/// The users key.
pub const USERS: &str = r"SAM\Domains\Account\Users";
/// The built-in domain's aliases (Administrators, Remote Desktop Users...).
pub const BUILTIN_ALIASES: &str = r"SAM\Domains\Builtin\Aliases";
/// The account domain's aliases.
pub const ACCOUNT_ALIASES: &str = r"SAM\Domains\Account\Aliases";
/// Builtin SID S-1-5-32.
pub const BUILTIN_SID: &str = "S-1-5-32";
/// Administrators.
pub const ADMINISTRATORS: &str = "S-1-5-32-544";
/// Remote Desktop Users.
pub const REMOTE_DESKTOP_USERS: &str = "S-1-5-32-555";
/// RID of the alias Remote Desktop Users.
pub const RDU_RID: u32 = 0x22B;
/// User value naming the Microsoft account a local account is linked to.
pub const INTERNET_USER_NAME: &str = "InternetUserName";
/// SYSTEM: the value that makes a machine a domain controller.
pub const NTDS_PARAMETERS: &str = r"Services\NTDS\Parameters";
/// SYSTEM: `DSA Database file` under [`NTDS_PARAMETERS`].
pub const NTDS_DATABASE: &str = "DSA Database file";
/// SYSTEM: the LSA key (boot key classes, blank-password policy).
pub const LSA: &str = r"Control\Lsa";
/// SYSTEM: refuse blank passwords over the network (default 1).
pub const LIMIT_BLANK: &str = "LimitBlankPasswordUse";
/// SYSTEM: the NTLM package's key under [`LSA`] (rdp-causes.md row 24).
pub const MSV1_0: &str = r"Control\Lsa\MSV1_0";
/// `RestrictReceivingNTLMTraffic` 2: every incoming NTLM logon is denied.
pub const NTLM_INCOMING_DENY_ALL: u32 = 2;
/// `LmCompatibilityLevel` 5: only NTLMv2 responses are accepted.
pub const LM_NTLMV2_ONLY: u32 = 5;
/// `NtlmMinServerSec` bit: NTLMv2 session security required.
pub const NTLM_REQUIRE_V2_SESSION: u32 = 0x0008_0000;
/// A relative NT time meaning "never" (the most negative interval).
const NEVER_INTERVAL: u64 = 1 << 63;
/// 100-ns intervals between 1601-01-01 and 1970-01-01.
const FILETIME_UNIX_EPOCH: u64 = 116_444_736_000_000_000;

/// Well-known SIDs that may hold logon rights, and the ones every
/// interactive RDP logon token carries.
pub const WELL_KNOWN: [(&str, &str); 16] = [
    ("S-1-1-0", "Everyone"),
    ("S-1-2-0", "LOCAL"),
    ("S-1-5-4", "INTERACTIVE"),
    ("S-1-5-6", "SERVICE"),
    ("S-1-5-11", "Authenticated Users"),
    ("S-1-5-14", "REMOTE INTERACTIVE LOGON"),
    ("S-1-5-19", "LOCAL SERVICE"),
    ("S-1-5-20", "NETWORK SERVICE"),
    ("S-1-5-80-0", "ALL SERVICES"),
    ("S-1-5-90-0", "Window Manager Group"),
    ("S-1-5-113", "Local account"),
    (
        "S-1-5-114",
        "Local account and member of Administrators group",
    ),
    ("S-1-5-32-544", "Administrators"),
    ("S-1-5-32-545", "Users"),
    ("S-1-5-32-546", "Guests"),
    ("S-1-5-32-555", "Remote Desktop Users"),
];
/// SIDs in every RDP logon token of a local account.
const RDP_TOKEN: [&str; 6] = [
    "S-1-1-0",
    "S-1-2-0",
    "S-1-5-4",
    "S-1-5-11",
    "S-1-5-14",
    "S-1-5-113",
];

/// A FILETIME as ISO-8601, `None` for 0.
fn time(ft: u64) -> Option<String> {
    filetime_iso(ft)
}

/// Now as a FILETIME.
pub fn now_filetime() -> u64 {
    (crate::util::time::now_unix().max(0) as u64) * 10_000_000 + FILETIME_UNIX_EPOCH
}

/// A value's raw bytes and type, read by both readers (they must agree);
/// `None` when missing.
pub fn raw_value(r: &Reader<'_>, key: &str, name: &str) -> Result<Option<(u32, Vec<u8>, u64)>> {
    let k = r.key(key);
    match r.value(&k, key, name) {
        ValueState::Missing => Ok(None),
        ValueState::Unreadable { error } => Err(Error::Invalid {
            what: "value",
            offset: 0,
            detail: format!("{key}\\{name}: {error}"),
        }),
        ValueState::Present { offset, .. } => {
            let KeyLookup::Found(key_node) = k else {
                unreachable!("a present value has a found key")
            };
            let v = key_node.value(name)?.ok_or_else(|| Error::Invalid {
                what: "value",
                offset,
                detail: format!("{key}\\{name} vanished"),
            })?;
            Ok(Some((v.data_type()?, v.data()?, offset)))
        }
    }
}

fn required(r: &Reader<'_>, key: &str, name: &str) -> Result<(u32, Vec<u8>, u64)> {
    raw_value(r, key, name)?.ok_or_else(|| {
        Error::NotFound(format!(
            "{key}\\{} is missing: not a SAM hive of a Windows machine",
            if name.is_empty() { "(default)" } else { name }
        ))
    })
}

/// Subkey names of `path` (both readers must find the key).
fn subkey_names(r: &Reader<'_>, path: &str) -> Result<Vec<String>> {
    match r.key(path) {
        KeyLookup::Found(k) => k.subkeys()?.iter().map(|s| s.name()).collect(),
        KeyLookup::Missing(_) => Ok(Vec::new()),
        KeyLookup::Unreadable(e) => Err(Error::Invalid {
            what: "key",
            offset: 0,
            detail: format!("{path}: {e}"),
        }),
    }
}

/// The class name of a key (UTF-16), read from its nk record.
pub fn class_name(view: HiveView<'_>, key: &Key<'_>) -> Result<String> {
    /// nk: class-name cell offset / length (regf spec, "Key node").
    const NK_CLASS: usize = 48;
    const NK_CLASS_LEN: usize = 74;
    let nk = view.cell(key.offset(), "key node")?;
    let base = nk.abs_of(0);
    let off = crate::util::bytes::u32_at(nk.data, base, NK_CLASS, "class name offset")?;
    let len = crate::util::bytes::u16_at(nk.data, base, NK_CLASS_LEN, "class name length")?;
    if len == 0 {
        return Ok(String::new());
    }
    let cell = view.cell(off, "class name")?;
    let b = crate::util::bytes::slice(cell.data, cell.abs_of(0), 0, len as usize, "class name")?;
    Ok(String::from_utf16_lossy(
        &b.chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect::<Vec<u16>>(),
    ))
}

/// The boot key of a SYSTEM hive (from the set `Select` boots).
pub fn boot_key(system: &Reader<'_>) -> Result<[u8; 16]> {
    let (set, _) = current_control_set(system)?;
    let mut classes: [String; 4] = Default::default();
    for (i, part) in secrets::BOOT_KEY_PARTS.iter().enumerate() {
        let path = format!(r"{set}\{LSA}\{part}");
        let KeyLookup::Found(k) = system.key(&path) else {
            return Err(Error::NotFound(format!(
                "SYSTEM has no {path} key: the boot key cannot be read"
            )));
        };
        classes[i] = class_name(system.view(), &k)?;
    }
    secrets::boot_key(&classes)
}

/// The account domain's password-encryption key, verified against the
/// SYSTEM's boot key (a pair from two machines is refused).
pub fn hashed_boot_key(sam: &Reader<'_>, system: &Reader<'_>) -> Result<[u8; 16]> {
    let boot = boot_key(system)?;
    let (_, f, off) = required(sam, ACCOUNT_DOMAIN, "F")?;
    let df = DomainF::parse(&f, off)?;
    secrets::hashed_boot_key(&df.key0, df.key0_offset, &boot)
}

/// The effective answer to "may this account log on over RDP?".
#[derive(Clone, Debug, Serialize, PartialEq, Eq, schemars::JsonSchema)]
pub struct RdpAnswer {
    /// Yes or no.
    pub may_log_on: bool,
    /// Why not (each blocker, with its rdp-causes.md row), or why yes.
    pub because: Vec<String>,
    /// Things that may still stop it (logon hours, workstations...).
    pub caveats: Vec<String>,
}

/// One local account.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Account {
    /// User name.
    pub name: String,
    /// RID.
    pub rid: u32,
    /// Full SID, when the machine SID is known.
    pub sid: Option<String>,
    /// Full name.
    pub full_name: String,
    /// Comment.
    pub comment: String,
    /// Account-control bits (raw).
    pub acb: u16,
    /// Disabled (ACB 0x0001).
    pub disabled: bool,
    /// Lock bit set (ACB 0x0400).
    pub locked: bool,
    /// Password never expires (ACB 0x0200).
    pub password_never_expires: bool,
    /// No password required (ACB 0x0004).
    pub password_not_required: bool,
    /// Last logon (ISO-8601), null = never.
    pub last_logon: Option<String>,
    /// Password last set, null = 0 (must change at next logon).
    pub password_last_set: Option<String>,
    /// Account expiry, null = never.
    pub account_expires: Option<String>,
    /// Last bad password, null = never.
    pub last_bad_password: Option<String>,
    /// Bad-password count.
    pub bad_password_count: u16,
    /// Logon count.
    pub logon_count: u16,
    /// The NT hash blob holds no hash.
    pub password_blank: bool,
    /// The hash format of this account's NT blob (null: no header at all).
    pub hash_format: Option<HashFormat>,
    /// An LM hash is stored.
    pub lm_hash_present: bool,
    /// Linked Microsoft account (InternetUserName), if any.
    pub microsoft_account: Option<String>,
    /// Workstations restriction (empty = any).
    pub workstations: String,
    /// Logon hours restrict the account.
    pub logon_hours_restricted: bool,
    /// Local groups (aliases) the account is a member of.
    pub groups: Vec<String>,
    /// The logon-right bits that apply to it (own SID and groups).
    pub rights: u32,
    /// Their names.
    pub right_names: Vec<String>,
    /// Whether it may log on over RDP, and why.
    pub rdp: RdpAnswer,
    /// Key of the account.
    #[serde(skip)]
    pub key: String,
    /// The SIDs of its RDP logon token (its own, the well-known ones,
    /// its groups): the SIDs whose `ActSysAc` bits apply to it.
    #[serde(skip)]
    pub token: Vec<String>,
    /// Parsed F.
    #[serde(skip)]
    pub f: Option<UserF>,
}

/// A SID with logon rights in SECURITY.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct RightHolder {
    /// The SID.
    pub sid: String,
    /// Its name, where SAM or the well-known list knows it.
    pub name: Option<String>,
    /// The ActSysAc bits.
    pub bits: u32,
    /// Their names.
    pub rights: Vec<String>,
}

/// A local group.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Group {
    /// Its SID.
    pub sid: String,
    /// Its name.
    pub name: String,
    /// Member SIDs with names where known.
    pub members: Vec<(String, Option<String>)>,
    /// Key of the alias.
    #[serde(skip)]
    pub key: String,
}

/// Account policy from the account domain's `F`.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct Policy {
    /// Maximum password age in days (null = never expires).
    pub max_password_age_days: Option<u64>,
    /// Bad passwords before lockout (0 = never).
    pub lockout_threshold: u16,
    /// Lockout duration in minutes (null = until an administrator unlocks).
    pub lockout_duration_minutes: Option<u64>,
    /// SYSTEM `Control\Lsa\LimitBlankPasswordUse` (null = absent, default 1).
    pub limit_blank_password_use: Option<u32>,
    /// SYSTEM `Control\Lsa\LmCompatibilityLevel` (row 24; null = absent).
    pub lm_compatibility_level: Option<u32>,
    /// SYSTEM `Control\Lsa\MSV1_0\RestrictReceivingNTLMTraffic` (row 24;
    /// 2 denies every incoming NTLM logon).
    pub restrict_receiving_ntlm_traffic: Option<u32>,
    /// SYSTEM `Control\Lsa\MSV1_0\NtlmMinServerSec` (row 24).
    pub ntlm_min_server_sec: Option<u32>,
}

/// Everything `account list` reports.
#[derive(Clone, Debug, Serialize, schemars::JsonSchema)]
pub struct AccountsModel {
    /// The machine SID.
    pub machine_sid: Option<String>,
    /// A domain controller (no local SAM accounts; rdp-causes.md row 28).
    pub domain_controller: bool,
    /// Whether SECURITY was read (rights known).
    pub rights_known: bool,
    /// Account policy.
    pub policy: Policy,
    /// The local accounts, by RID.
    pub accounts: Vec<Account>,
    /// Local groups.
    pub groups: Vec<Group>,
    /// SIDs holding logon rights.
    pub rights: Vec<RightHolder>,
    /// Things the operator should know.
    pub notes: Vec<String>,
}

fn relative_100ns(v: u64) -> Option<u64> {
    (v != 0 && v != NEVER_INTERVAL).then_some(v)
}

/// Reads the local groups (Builtin and Account aliases).
fn read_groups(sam: &Reader<'_>, machine: Option<&Sid>) -> Result<Vec<Group>> {
    let mut out = Vec::new();
    let builtin = Sid::parse_str(BUILTIN_SID).expect("constant SID");
    for (path, dom) in [
        (BUILTIN_ALIASES, Some(&builtin)),
        (ACCOUNT_ALIASES, machine),
    ] {
        let Some(dom) = dom else { continue };
        for name in subkey_names(sam, path)? {
            let Ok(rid) = u32::from_str_radix(&name, 16) else {
                continue; // Members, Names
            };
            let key = format!(r"{path}\{name}");
            let Some((_, c, off)) = raw_value(sam, &key, "C")? else {
                continue;
            };
            let alias = AliasC::parse(&c, off)?;
            out.push(Group {
                sid: dom.child(rid).to_string(),
                name: alias.name,
                members: alias
                    .members
                    .iter()
                    .map(|m| (m.to_string(), None))
                    .collect(),
                key,
            });
        }
    }
    Ok(out)
}

/// One user key's account (rights and the RDP answer filled in later).
fn read_user(sam: &Reader<'_>, key: &str, rid: u32, machine: Option<&Sid>) -> Result<Account> {
    let (_, f, f_off) = required(sam, key, "F")?;
    let (_, v, v_off) = required(sam, key, "V")?;
    let uf = UserF::parse(&f, f_off)?;
    let uv = UserV::parse(&v, v_off)?;
    let nt = HashBlob::parse(&v[uv.nt.clone()], v_off + uv.nt.start as u64)?;
    let lm = HashBlob::parse(&v[uv.lm.clone()], v_off + uv.lm.start as u64)?;
    let ms = match raw_value(sam, key, INTERNET_USER_NAME)? {
        Some((_, d, _)) => Some(crate::hive::reader::data_json(
            crate::format::regf::key::reg_type::SZ,
            &d,
        ))
        .and_then(|j| j.as_str().map(String::from)),
        None => None,
    };
    Ok(Account {
        name: uv.name.clone(),
        rid,
        sid: machine.map(|m| m.child(rid).to_string()),
        full_name: uv.full_name.clone(),
        comment: uv.comment.clone(),
        acb: uf.acb,
        disabled: uf.acb & acb::DISABLED != 0,
        locked: uf.acb & acb::AUTO_LOCKED != 0,
        password_never_expires: uf.acb & acb::DONT_EXPIRE_PASSWORD != 0,
        password_not_required: uf.acb & acb::PASSWORD_NOT_REQUIRED != 0,
        last_logon: time(uf.last_logon),
        password_last_set: time(uf.password_last_set),
        account_expires: if uf.never_expires() {
            None
        } else {
            time(uf.account_expires)
        },
        last_bad_password: time(uf.last_bad_password),
        bad_password_count: uf.bad_count,
        logon_count: uf.logon_count,
        password_blank: nt.is_blank(),
        hash_format: nt.format(),
        lm_hash_present: !lm.is_blank(),
        microsoft_account: ms,
        workstations: uv.workstations.clone(),
        logon_hours_restricted: uv.hours_restricted(),
        groups: Vec::new(),
        rights: 0,
        right_names: Vec::new(),
        rdp: RdpAnswer {
            may_log_on: false,
            because: Vec::new(),
            caveats: Vec::new(),
        },
        key: key.to_string(),
        token: Vec::new(),
        f: Some(uf),
    })
}

/// SIDs with logon rights (`Policy\Accounts\<SID>\ActSysAc`).
fn read_rights(security: &Reader<'_>) -> Result<Vec<RightHolder>> {
    let mut out = Vec::new();
    for sid in subkey_names(security, lsa::ACCOUNTS_KEY)? {
        let key = format!(r"{}\{sid}\{}", lsa::ACCOUNTS_KEY, lsa::ACT_SYS_AC);
        let Some((_, d, off)) = raw_value(security, &key, "")? else {
            continue;
        };
        let bits = crate::util::bytes::u32_at(&d, off, 0, "ActSysAc")?;
        out.push(RightHolder {
            sid,
            name: None,
            bits,
            rights: lsa::right_names(bits),
        });
    }
    Ok(out)
}

/// Whether SYSTEM says this is a domain controller.
fn is_domain_controller(system: &Reader<'_>) -> Result<bool> {
    let (set, _) = current_control_set(system)?;
    Ok(raw_value(system, &format!(r"{set}\{NTDS_PARAMETERS}"), NTDS_DATABASE)?.is_some())
}

/// The LSA values of the current control set the RDP answer weighs:
/// `LimitBlankPasswordUse` (row 23) and the NTLM restrictions (row 24).
#[derive(Default)]
struct LsaValues {
    limit_blank: Option<u32>,
    lm_level: Option<u32>,
    ntlm_incoming: Option<u32>,
    ntlm_min_server_sec: Option<u32>,
}

fn lsa_values(system: &Reader<'_>) -> Result<LsaValues> {
    let (set, _) = current_control_set(system)?;
    let dword = |key: &str, name: &'static str| -> Result<Option<u32>> {
        let Some((_, d, off)) = raw_value(system, &format!(r"{set}\{key}"), name)? else {
            return Ok(None);
        };
        Ok(Some(crate::util::bytes::u32_at(&d, off, 0, name)?))
    };
    Ok(LsaValues {
        limit_blank: dword(LSA, LIMIT_BLANK)?,
        lm_level: dword(LSA, "LmCompatibilityLevel")?,
        ntlm_incoming: dword(MSV1_0, "RestrictReceivingNTLMTraffic")?,
        ntlm_min_server_sec: dword(MSV1_0, "NtlmMinServerSec")?,
    })
}

fn read_policy(sam: &Reader<'_>) -> Result<(DomainF, Option<Sid>)> {
    let (_, f, off) = required(sam, ACCOUNT_DOMAIN, "F")?;
    let df = DomainF::parse(&f, off)?;
    let machine = match raw_value(sam, ACCOUNT_DOMAIN, "V")? {
        Some((_, v, off)) => Some(domain_sid(&v, off)?),
        None => None,
    };
    Ok((df, machine))
}

/// What SYSTEM tells the model: whether the machine is a domain controller
/// and its LSA values; the notes say what is unknown without SYSTEM.
fn system_facts(system: Option<&Reader<'_>>, notes: &mut Vec<String>) -> Result<(bool, LsaValues)> {
    let Some(s) = system else {
        notes.push(
            "SYSTEM was not found: the domain-controller test, LimitBlankPasswordUse and the \
             NTLM restrictions are unknown"
                .into(),
        );
        return Ok((false, LsaValues::default()));
    };
    let dc = is_domain_controller(s)?;
    if dc {
        notes.push(
            "this machine is a domain controller: its accounts live in Active Directory (NTDS), not in \
             the SAM; only domain accounts (Domain Admins by default) may log on over RDP"
                .into(),
        );
    }
    Ok((dc, lsa_values(s)?))
}

/// Reads the model. SECURITY and SYSTEM are optional: without them the
/// rights, the domain-controller test and the blank-password policy are
/// unknown and the notes say so.
pub fn read_model(
    sam: &Reader<'_>,
    security: Option<&Reader<'_>>,
    system: Option<&Reader<'_>>,
) -> Result<AccountsModel> {
    let (df, machine) = read_policy(sam)?;
    let mut notes = Vec::new();
    let mut accounts = Vec::new();
    for name in subkey_names(sam, USERS)? {
        let Ok(rid) = u32::from_str_radix(&name, 16) else {
            continue;
        };
        accounts.push(read_user(
            sam,
            &format!(r"{USERS}\{name}"),
            rid,
            machine.as_ref(),
        )?);
    }
    accounts.sort_by_key(|a| a.rid);
    let groups = read_groups(sam, machine.as_ref())?;
    let rights = match security {
        Some(s) => read_rights(s)?,
        None => {
            notes.push("SECURITY was not found: logon rights are unknown".into());
            Vec::new()
        }
    };
    let (dc, lsa) = system_facts(system, &mut notes)?;
    let mut model = AccountsModel {
        machine_sid: machine.as_ref().map(|m| m.to_string()),
        domain_controller: dc,
        rights_known: security.is_some(),
        policy: Policy {
            max_password_age_days: relative_100ns(df.max_password_age)
                .map(|v| v / 10_000_000 / 86_400),
            lockout_threshold: df.lockout_threshold,
            lockout_duration_minutes: relative_100ns(df.lockout_duration)
                .map(|v| v / 10_000_000 / 60),
            limit_blank_password_use: lsa.limit_blank,
            lm_compatibility_level: lsa.lm_level,
            restrict_receiving_ntlm_traffic: lsa.ntlm_incoming,
            ntlm_min_server_sec: lsa.ntlm_min_server_sec,
        },
        accounts,
        groups,
        rights,
        notes,
    };
    resolve_names(&mut model);
    let now = now_filetime();
    let (max_age, duration) = (df.max_password_age, df.lockout_duration);
    for i in 0..model.accounts.len() {
        let (groups, token, bits) = effective(&model, &model.accounts[i]);
        let a = &mut model.accounts[i];
        a.groups = groups;
        a.token = token;
        a.rights = bits;
        a.right_names = lsa::right_names(bits);
    }
    let rdp: Vec<RdpAnswer> = model
        .accounts
        .iter()
        .map(|a| rdp_answer(&model, a, now, max_age, duration))
        .collect();
    for (a, r) in model.accounts.iter_mut().zip(rdp) {
        a.rdp = r;
    }
    let domain = domain_rdp_members(&model);
    if !dc && !domain.is_empty() {
        model.notes.push(format!(
            "domain members may log on over RDP through local groups (the domain decides their state): {}",
            domain
                .iter()
                .map(|d| format!(
                    "{} in {}",
                    d.name
                        .as_ref()
                        .map_or(d.sid.clone(), |n| format!("{n} ({})", d.sid)),
                    d.group
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(model)
}

/// The name of a SID: an account, a group, or a well-known SID.
pub fn sid_name(model: &AccountsModel, sid: &str) -> Option<String> {
    model
        .accounts
        .iter()
        .find(|a| a.sid.as_deref() == Some(sid))
        .map(|a| a.name.clone())
        .or_else(|| {
            model
                .groups
                .iter()
                .find(|g| g.sid == sid)
                .map(|g| g.name.clone())
        })
        .or_else(|| {
            WELL_KNOWN
                .iter()
                .find(|(s, _)| *s == sid)
                .map(|(_, n)| n.to_string())
        })
}

fn resolve_names(model: &mut AccountsModel) {
    let names: Vec<Option<String>> = model
        .rights
        .iter()
        .map(|r| sid_name(model, &r.sid))
        .collect();
    for (r, n) in model.rights.iter_mut().zip(names) {
        r.name = n;
    }
    let members: Vec<Vec<Option<String>>> = model
        .groups
        .iter()
        .map(|g| g.members.iter().map(|(s, _)| sid_name(model, s)).collect())
        .collect();
    for (g, names) in model.groups.iter_mut().zip(members) {
        for (m, n) in g.members.iter_mut().zip(names) {
            m.1 = n;
        }
    }
}

/// The groups an account is in (names), the SIDs of its RDP logon token
/// and the right bits they hold together.
fn effective(model: &AccountsModel, a: &Account) -> (Vec<String>, Vec<String>, u32) {
    let mut token: Vec<String> = RDP_TOKEN.iter().map(|s| s.to_string()).collect();
    if let Some(s) = &a.sid {
        token.push(s.clone());
        if let Some((dom, _)) = Sid::parse_str(s).and_then(|x| x.split_rid()) {
            // Domain Users ("None" on a workgroup machine): every local user.
            token.push(dom.child(513).to_string());
        }
    }
    let mut groups = Vec::new();
    // Aliases hold users and well-known SIDs, not other aliases: one pass.
    for g in &model.groups {
        if g.members.iter().any(|(m, _)| token.contains(m)) {
            groups.push(g.name.clone());
            token.push(g.sid.clone());
        }
    }
    if token.iter().any(|t| t == ADMINISTRATORS) {
        token.push("S-1-5-114".into());
    }
    let bits = model
        .rights
        .iter()
        .filter(|r| token.contains(&r.sid))
        .fold(0, |acc, r| acc | r.bits);
    (groups, token, bits)
}

/// Names of the well-known RIDs of a domain (MS-DTYP 2.4.2.4).
const DOMAIN_RIDS: [(u32, &str); 7] = [
    (512, "Domain Admins"),
    (513, "Domain Users"),
    (514, "Domain Guests"),
    (515, "Domain Computers"),
    (516, "Domain Controllers"),
    (518, "Schema Admins"),
    (519, "Enterprise Admins"),
];

/// A domain account or group in a local group that may log on over RDP.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DomainMember {
    /// Its SID.
    pub sid: String,
    /// A well-known domain group's name (Domain Admins...), if it is one.
    pub name: Option<String>,
    /// The local group it is a member of.
    pub group: String,
    /// The key of that group's alias.
    pub group_key: String,
}

/// Members of Administrators or Remote Desktop Users from another domain
/// than this machine's (`S-1-5-21-…` SIDs that are no local account) whose
/// logon token would hold SeRemoteInteractiveLogonRight and no deny: on a
/// domain member these may log on over RDP; the domain, not this SAM,
/// decides their state. With rights unknown, every such member.
pub fn domain_rdp_members(model: &AccountsModel) -> Vec<DomainMember> {
    let machine = model.machine_sid.as_deref().and_then(Sid::parse_str);
    let mut out = Vec::new();
    for g in model
        .groups
        .iter()
        .filter(|g| g.sid == ADMINISTRATORS || g.sid == REMOTE_DESKTOP_USERS)
    {
        for (m, _) in &g.members {
            let Some((dom, rid)) = Sid::parse_str(m).and_then(|s| s.split_rid()) else {
                continue;
            };
            if !m.starts_with("S-1-5-21-") || Some(&dom) == machine.as_ref() {
                continue;
            }
            // Its token: itself, the well-known SIDs of a remote logon
            // (not "Local account"), and the local groups holding it.
            let mut token: Vec<String> = RDP_TOKEN
                .iter()
                .filter(|s| **s != "S-1-5-113")
                .map(|s| s.to_string())
                .collect();
            token.push(m.clone());
            token.extend(
                model
                    .groups
                    .iter()
                    .filter(|x| x.members.iter().any(|(y, _)| y == m))
                    .map(|x| x.sid.clone()),
            );
            let bits = model
                .rights
                .iter()
                .filter(|r| token.contains(&r.sid))
                .fold(0, |acc, r| acc | r.bits);
            let may = !model.rights_known
                || (bits & lsa::REMOTE_INTERACTIVE != 0
                    && bits & lsa::DENY_REMOTE_INTERACTIVE == 0);
            if may && !out.iter().any(|d: &DomainMember| d.sid == *m) {
                out.push(DomainMember {
                    sid: m.clone(),
                    name: DOMAIN_RIDS
                        .iter()
                        .find(|(r, _)| *r == rid)
                        .map(|(_, n)| n.to_string()),
                    group: g.name.clone(),
                    group_key: g.key.clone(),
                });
            }
        }
    }
    out
}

/// The holders of logon rights in `a`'s token whose bits include `bit`.
pub fn holders<'m>(model: &'m AccountsModel, a: &Account, bit: u32) -> Vec<&'m RightHolder> {
    model
        .rights
        .iter()
        .filter(|r| r.bits & bit != 0 && a.token.contains(&r.sid))
        .collect()
}

/// The RDP answer for one account (rows 17-23, 28).
fn rdp_answer(
    model: &AccountsModel,
    a: &Account,
    now: u64,
    max_age: u64,
    lockout_duration: u64,
) -> RdpAnswer {
    let mut no = Vec::new();
    let mut caveats = Vec::new();
    let in_group = |sid: &str| {
        model
            .groups
            .iter()
            .any(|g| g.sid == sid && a.groups.contains(&g.name))
    };
    if model.domain_controller {
        no.push("row 28: domain controller: local SAM accounts do not log on".into());
    }
    if a.disabled {
        no.push("row 19: the account is disabled".into());
    }
    if let Some(f) = &a.f {
        if a.locked {
            let expired = relative_100ns(lockout_duration)
                .is_some_and(|d| f.last_bad_password.saturating_add(d) < now);
            if expired {
                caveats.push("the lock bit is set but the lockout duration has passed".into());
            } else {
                no.push(format!(
                    "row 20: the account is locked out ({} bad passwords)",
                    a.bad_password_count
                ));
            }
        }
        // "Password never expires" overrides both (the local-users UI
        // does not allow it together with "must change").
        let expired = relative_100ns(max_age)
            .is_some_and(|age| f.password_last_set.saturating_add(age) < now);
        if a.password_never_expires {
            // Neither applies.
        } else if f.password_last_set == 0 {
            no.push("row 21: the password must be changed at next logon (with NLA this fails as 'LSA cannot be contacted')".into());
        } else if expired {
            no.push(
                "row 21: the password has expired (older than the maximum password age)".into(),
            );
        }
        if !f.never_expires() && f.account_expires < now {
            no.push("row 22: the account has expired".into());
        }
    }
    if a.password_blank && model.policy.limit_blank_password_use != Some(0) {
        no.push("row 23: the password is blank and LimitBlankPasswordUse refuses blank passwords over the network".into());
    }
    if model.rights_known {
        if a.rights & lsa::DENY_REMOTE_INTERACTIVE != 0 {
            no.push("row 17: SeDenyRemoteInteractiveLogonRight applies to it".into());
        } else if a.rights & lsa::REMOTE_INTERACTIVE == 0 {
            no.push("row 17: no SID of its token holds SeRemoteInteractiveLogonRight".into());
        }
    } else {
        caveats.push("logon rights unknown (no SECURITY hive)".into());
    }
    if !in_group(ADMINISTRATORS) && !in_group(REMOTE_DESKTOP_USERS) {
        no.push("row 18: not a member of Administrators or Remote Desktop Users (not authorized for remote login)".into());
    }
    if a.logon_hours_restricted {
        caveats.push("row 22: logon hours restrict it".into());
    }
    caveats.extend(ntlm_caveats(&model.policy));
    if !a.workstations.is_empty() {
        caveats.push(format!("row 22: may log on only from {}", a.workstations));
    }
    let may = no.is_empty();
    let because = if may {
        let mut why = vec!["enabled, not locked, password valid".to_string()];
        if model.rights_known {
            why.push("holds SeRemoteInteractiveLogonRight through its groups".into());
        }
        why.push(format!("member of {}", a.groups.join(", ")));
        why
    } else {
        no
    };
    RdpAnswer {
        may_log_on: may,
        because,
        caveats,
    }
}

/// Row 24, for every local account: a local account authenticates by NTLM
/// (never Kerberos), which NLA runs before the session starts; what the
/// machine's NTLM settings refuse.
fn ntlm_caveats(p: &Policy) -> Vec<String> {
    let mut out = Vec::new();
    if p.restrict_receiving_ntlm_traffic == Some(NTLM_INCOMING_DENY_ALL) {
        out.push(
            "row 24: incoming NTLM is denied (RestrictReceivingNTLMTraffic 2): with NLA a local \
             account, which only NTLM can authenticate, cannot log on"
                .into(),
        );
    }
    if p.lm_compatibility_level == Some(LM_NTLMV2_ONLY) {
        out.push(
            "row 24: only NTLMv2 is accepted (LmCompatibilityLevel 5): a client that sends LM or \
             NTLMv1 fails"
                .into(),
        );
    }
    if p.ntlm_min_server_sec
        .is_some_and(|v| v & NTLM_REQUIRE_V2_SESSION != 0)
    {
        out.push(
            "row 24: NTLMv2 session security is required (NtlmMinServerSec): an older client fails"
                .into(),
        );
    }
    out
}

/// Test helpers shared with other modules' unit tests.
#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// Boot key and Key0 of the real same-machine Windows XP pair.
    pub fn xp_pair() -> ([u8; 16], Vec<u8>, u64) {
        let sys = crate::testing::corpus("system/winxpsp3-x86__bitcurator__SYSTEM");
        let sam = crate::testing::corpus("other/real/winxpsp3__bitcurator__SAM");
        let (sr, mr) = (Reader::new(&sys).unwrap(), Reader::new(&sam).unwrap());
        let boot = boot_key(&sr).unwrap();
        let (_, f, off) = required(&mr, ACCOUNT_DOMAIN, "F").unwrap();
        let df = DomainF::parse(&f, off).unwrap();
        (boot, df.key0, df.key0_offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::corpus;

    /// The real same-machine XP pair: the RC4-era checksum verifies, the
    /// blank accounts decrypt to nothing and the others to 16 bytes, and a
    /// SAM with another boot key is refused.
    #[test]
    fn xp_pair_verifies_and_a_wrong_boot_key_is_refused() {
        let (boot, key0, base) = tests_support::xp_pair();
        let hbk = secrets::hashed_boot_key(&key0, base, &boot).unwrap();
        let mut other = boot;
        other[0] ^= 1;
        let e = secrets::hashed_boot_key(&key0, base, &other).unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::Refused);
        let sam = corpus("other/real/winxpsp3__bitcurator__SAM");
        let r = Reader::new(&sam).unwrap();
        let m = read_model(&r, None, None).unwrap();
        let guest = m.accounts.iter().find(|a| a.rid == 501).unwrap();
        let (_, v, off) = raw_value(&r, &guest.key, "V").unwrap().unwrap();
        let uv = UserV::parse(&v, off).unwrap();
        let blob = HashBlob::parse(&v[uv.nt.clone()], 0).unwrap();
        // Guest's blob is a 4-byte header: blank.
        assert!(guest.password_blank);
        assert_eq!(
            secrets::decrypt_hash(&blob, 501, &hbk, secrets::NTPASSWORD, 0).unwrap(),
            None
        );
        let admin = m.accounts.iter().find(|a| a.rid == 500).unwrap();
        let (_, v, off) = raw_value(&r, &admin.key, "V").unwrap().unwrap();
        let uv = UserV::parse(&v, off).unwrap();
        let blob = HashBlob::parse(&v[uv.nt.clone()], 0).unwrap();
        assert_eq!(blob.format(), Some(HashFormat::Rc4));
        let h = secrets::decrypt_hash(&blob, 500, &hbk, secrets::NTPASSWORD, 0).unwrap();
        assert!(h.is_some_and(|h| h != secrets::nt_hash("")));
    }

    /// The Windows 10 hives: names, RIDs, AES era, Administrators 0x407 and
    /// Remote Desktop Users 0x400 as SECURITY holds them.
    #[test]
    fn win10_model_reads_accounts_and_rights() {
        let sam = corpus("accounts/win10__rathbunvm/SAM");
        let sec = corpus("accounts/win10__rathbunvm/SECURITY");
        let (r, s) = (Reader::new(&sam).unwrap(), Reader::new(&sec).unwrap());
        let m = read_model(&r, Some(&s), None).unwrap();
        let names: Vec<(&str, u32)> = m
            .accounts
            .iter()
            .map(|a| (a.name.as_str(), a.rid))
            .collect();
        assert!(names.contains(&("Administrator", 500)));
        assert!(names.contains(&("AndrewRathbun", 1001)));
        let bits = |sid: &str| m.rights.iter().find(|r| r.sid == sid).map(|r| r.bits);
        assert_eq!(bits(ADMINISTRATORS), Some(0x407));
        assert_eq!(bits(REMOTE_DESKTOP_USERS), Some(0x400));
        let admin_rights = m.rights.iter().find(|r| r.sid == ADMINISTRATORS).unwrap();
        assert_eq!(admin_rights.name.as_deref(), Some("Administrators"));
        let wdag = m.accounts.iter().find(|a| a.rid == 504).unwrap();
        assert_eq!(wdag.hash_format, Some(HashFormat::Aes));
        let admin = m.accounts.iter().find(|a| a.rid == 500).unwrap();
        assert!(admin.disabled && !admin.rdp.may_log_on);
        assert!(admin.rdp.because.iter().any(|b| b.contains("row 19")));
        let user = m.accounts.iter().find(|a| a.rid == 1001).unwrap();
        assert!(
            user.groups.contains(&"Administrators".to_string()),
            "{user:?}"
        );
        assert!(user.rights & lsa::REMOTE_INTERACTIVE != 0);
    }
}

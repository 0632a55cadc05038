// SPDX-License-Identifier: GPL-2.0-or-later
//! Rows 5, 15 and 16 of rdp-causes.md: the listener port, static
//! addresses, and the Windows Firewall (profiles, the RDP rule and whether
//! its `LPort` matches the port, Group Policy, the MDM store).

use crate::recipes::paths::RDP_TCP_PATH;
use crate::report::diagnose::{Finding, RepairAction, RepairOp, Risk, Severity};

use super::probe::{fix, manual, op_dword, unreadable_value, Ctx, KeyRead, New};

/// The RDP listener's default TCP port.
const DEFAULT_PORT: u32 = 3389;
/// Firewall policy key inside a control set.
const FW_PATH: &str = r"Services\SharedAccess\Parameters\FirewallPolicy";
/// Firewall profiles: the local (and MDM) key name, the name rules use in
/// their `Profile=` field, and the Group Policy key names (the Private
/// profile is `StandardProfile` locally; Group Policy writes
/// `PrivateProfile`, or `StandardProfile` from the pre-Vista template).
const PROFILES: [(&str, &str, &[&str]); 3] = [
    ("DomainProfile", "Domain", &["DomainProfile"]),
    (
        "StandardProfile",
        "Private",
        &["PrivateProfile", "StandardProfile"],
    ),
    ("PublicProfile", "Public", &["PublicProfile"]),
];
/// The MDM (Intune, Firewall CSP `MdmStore`) copy of the firewall policy
/// below [`FW_PATH`]: the same profile keys and values, and its own
/// `FirewallRules`.
const MDM: &str = "Mdm";
/// Group Policy firewall key in SOFTWARE.
const FW_POLICY_PATH: &str = r"Policies\Microsoft\WindowsFirewall";
/// Interfaces of the TCP/IP stack inside a control set.
const INTERFACES_PATH: &str = r"Services\Tcpip\Parameters\Interfaces";

/// Runs the checks of this group.
pub fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    let gp = GroupPolicy::read(ctx);
    firewall_policy(&gp, out);
    for set in &ctx.sets {
        let rdp = ctx.in_set(set, RDP_TCP_PATH);
        let port = if rdp.exists() {
            out.extend(unreadable_value(&rdp, "PortNumber", 5));
            let port = rdp.dword("PortNumber").unwrap_or(DEFAULT_PORT);
            if port != DEFAULT_PORT {
                out.push(rdp.finding(New {
                    code: "port-nondefault",
                    row: 5,
                    severity: Severity::Warning,
                    value: Some("PortNumber"),
                    healthy: "3389",
                    explanation: format!("RDP listens on TCP {port}: clients, security groups and the firewall must use it (may be intended)"),
                    fix: fix(
                        ctx.command(&["rdp", "port", "SOURCE", "--reset"]),
                        Risk::Medium,
                        Some("--reset-port"),
                        vec![op_dword(&rdp, "PortNumber", DEFAULT_PORT)],
                    ),
                }));
            }
            Some(port)
        } else {
            None
        };
        if let Some(port) = port {
            firewall(ctx, set, port, &gp, out);
        }
        static_ip(ctx, set, out);
    }
}

/// What a rule's `Action=` field says.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Action {
    Allow,
    Block,
    Other,
}

/// An inbound firewall rule (`v2.x|Action=Allow|Active=TRUE|Dir=In|...|`;
/// every check here is about inbound connections), its fields read in one
/// pass over the stored UTF-16 when the rule is loaded (a machine has
/// hundreds of rules, and each is asked a few fields once per profile and
/// store). Field names are matched ignoring ASCII case; for a field given
/// more than once the first wins, except `LPort` and `Profile`, whose
/// values add up.
struct Rule {
    name: String,
    /// The rule string (decoded only for the rules kept).
    data: String,
    action: Action,
    /// `Active=TRUE`.
    active: bool,
    /// `Protocol=`: `None` when absent (any protocol), else whether it is
    /// 6 (TCP).
    tcp: Option<bool>,
    /// The local port ranges of every `LPort=` field; `None` when the rule
    /// has no `LPort`.
    lports: Option<Vec<(u32, u32)>>,
    /// The profiles of every `Profile=` field (bits of [`PROFILE_BITS`]);
    /// `None` when it has none (every profile).
    profiles: Option<u8>,
}

/// The bit of each profile name a rule's `Profile=` field uses.
const PROFILE_BITS: [(&str, u8); 3] = [("Domain", 1), ("Private", 2), ("Public", 4)];

/// UTF-16 units.
type Units<'s> = &'s [u16];

/// Whether `units` are `word`, ignoring ASCII case.
fn units_are(units: Units<'_>, word: &str) -> bool {
    units.len() == word.len()
        && units
            .iter()
            .zip(word.bytes())
            .all(|(&u, b)| u8::try_from(u).is_ok_and(|c| c.eq_ignore_ascii_case(&b)))
}

/// `units` without ASCII blanks at either end.
fn trim_units(units: Units<'_>) -> Units<'_> {
    let blank = |u: &u16| u8::try_from(*u).is_ok_and(|c| c.is_ascii_whitespace());
    let start = units.iter().position(|u| !blank(u)).unwrap_or(units.len());
    let end = units
        .iter()
        .rposition(|u| !blank(u))
        .map_or(start, |e| e + 1);
    &units[start..end]
}

/// A port number of an `LPort` list (surrounding blanks allowed).
fn port_number(units: Units<'_>) -> Option<u32> {
    // As `str::parse::<u32>`: one optional `+`, then decimal digits.
    let digits = trim_units(units);
    let digits = digits.strip_prefix(&[u16::from(b'+')]).unwrap_or(digits);
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u32, |n, &u| {
        let d = u.checked_sub(u16::from(b'0')).filter(|d| *d < 10)?;
        n.checked_mul(10)?.checked_add(u32::from(d))
    })
}

impl Rule {
    /// The rule in `units` (a stored REG_SZ, trailing NULs dropped), when
    /// it is a rule string (its first field starts with `v`) and inbound
    /// (the first `Dir` field is `In`; reading stops at an outbound one).
    /// Its text is left empty: [`rules`] decodes it for the rules kept.
    fn parse(name: String, units: Units<'_>) -> Option<Rule> {
        let (bar, eq) = (u16::from(b'|'), u16::from(b'='));
        let mut fields = units.split(|&u| u == bar);
        if fields.next()?.first() != Some(&u16::from(b'v')) {
            return None;
        }
        let (mut action, mut active, mut inbound, mut tcp) = (None, None, None, None);
        let (mut lports, mut profiles): (Option<Vec<(u32, u32)>>, Option<u8>) = (None, None);
        for field in fields {
            let Some(at) = field.iter().position(|&u| u == eq) else {
                continue;
            };
            let (f, v) = (&field[..at], &field[at + 1..]);
            if units_are(f, "Action") {
                action.get_or_insert(if units_are(v, "Allow") {
                    Action::Allow
                } else if units_are(v, "Block") {
                    Action::Block
                } else {
                    Action::Other
                });
            } else if units_are(f, "Active") {
                active.get_or_insert(units_are(v, "TRUE"));
            } else if units_are(f, "Dir") {
                if !*inbound.get_or_insert(units_are(v, "In")) {
                    return None;
                }
            } else if units_are(f, "Protocol") {
                tcp.get_or_insert(v == [u16::from(b'6')]);
            } else if units_are(f, "LPort") {
                let ranges = lports.get_or_insert_with(Vec::new);
                ranges.extend(v.split(|&u| u == u16::from(b',')).filter_map(|p| {
                    match p.iter().position(|&u| u == u16::from(b'-')) {
                        Some(d) => Some((port_number(&p[..d])?, port_number(&p[d + 1..])?)),
                        None => port_number(p).map(|n| (n, n)),
                    }
                }));
            } else if units_are(f, "Profile") {
                let bits = profiles.get_or_insert(0);
                for p in v.split(|&u| u == u16::from(b',')) {
                    let p = trim_units(p);
                    if let Some((_, b)) = PROFILE_BITS.iter().find(|(n, _)| units_are(p, n)) {
                        *bits |= b;
                    }
                }
            }
        }
        inbound.filter(|&i| i)?;
        Some(Rule {
            name,
            data: String::new(),
            action: action.unwrap_or(Action::Other),
            active: active.unwrap_or(false),
            tcp,
            lports,
            profiles,
        })
    }

    /// The first `LPort` field as written (for explanations).
    fn lport_text(&self) -> Option<&str> {
        self.data
            .split('|')
            .skip(1)
            .filter_map(|p| p.split_once('='))
            .find(|(f, _)| f.eq_ignore_ascii_case("LPort"))
            .map(|(_, v)| v)
    }

    /// TCP, or any protocol.
    fn tcp_or_any(&self) -> bool {
        self.tcp != Some(false)
    }

    /// Inbound TCP allow rule.
    fn inbound_tcp_allow(&self) -> bool {
        self.action == Action::Allow && self.tcp == Some(true)
    }

    /// Whether the rule's local ports include `port` (a list of numbers
    /// and ranges; a rule without `LPort` is app-scoped, not the RDP rule).
    fn covers(&self, port: u32) -> bool {
        self.lports
            .as_ref()
            .is_some_and(|r| r.iter().any(|&(a, b)| a <= port && port <= b))
    }

    /// Whether the rule applies in profile `scope` (`Domain`, `Private`,
    /// `Public`): its `Profile=` fields, none meaning every profile.
    fn in_profile(&self, scope: &str) -> bool {
        let Some(bits) = self.profiles else {
            return true;
        };
        PROFILE_BITS
            .iter()
            .any(|(n, b)| bits & b != 0 && n.eq_ignore_ascii_case(scope))
    }

    /// One of Windows' own Remote Desktop TCP rules (not shadow, not the
    /// WebSocket ones).
    fn is_rdp_rule(&self) -> bool {
        let n = self.name.to_ascii_lowercase();
        n.starts_with("remotedesktop-")
            && n.contains("-in-tcp")
            && !n.contains("shadow")
            && !n.ends_with("-ws")
            && !n.ends_with("-wss")
    }
}

/// Active inbound rules of a store that cover `port`.
fn covering<'r>(rules: &'r [Rule], port: u32) -> impl Iterator<Item = &'r Rule> + 'r {
    rules.iter().filter(move |r| r.active && r.covers(port))
}

/// The inbound rules of a rule store that can matter for the RDP `port`
/// (all of them when `None`): those covering it, and Windows' own Remote
/// Desktop rules whatever their port. Only those are decoded.
fn rules(k: &KeyRead<'_>, port: Option<u32>) -> Vec<Rule> {
    let mut out = Vec::new();
    // One buffer for the UTF-16 units of every rule string in turn; the
    // data itself is borrowed from the hive, and a name is decoded only
    // for an inbound rule.
    let mut units: Vec<u16> = Vec::new();
    k.each_value_data(|v, ty, data| {
        if !matches!(ty, 1 | 2) {
            return;
        }
        units.clear();
        units.extend(
            data.chunks_exact(2)
                .map(|c| u16::from_le_bytes([c[0], c[1]])),
        );
        // As the string decoder does.
        while units.last() == Some(&0) {
            units.pop();
        }
        let Some(mut r) = Rule::parse(String::new(), &units) else {
            return;
        };
        let Ok(name) = v.name() else {
            return;
        };
        r.name = name;
        if port.is_none_or(|p| r.covers(p) || r.is_rdp_rule()) {
            r.data = String::from_utf16_lossy(&units);
            out.push(r);
        }
    });
    out
}

/// The Group Policy firewall settings (SOFTWARE `Policies\Microsoft\
/// WindowsFirewall`): per profile its key (the first of the profile's
/// policy keys that exists) and the policy rule store.
struct GroupPolicy<'a> {
    profiles: [Option<KeyRead<'a>>; 3],
    rules_key: Option<KeyRead<'a>>,
    rules: Vec<Rule>,
}

impl<'a> GroupPolicy<'a> {
    fn read(ctx: &Ctx<'a>) -> GroupPolicy<'a> {
        let profiles = PROFILES.map(|(_, _, names)| {
            names.iter().find_map(|n| {
                ctx.software(&format!(r"{FW_POLICY_PATH}\{n}"))
                    .filter(|k| k.exists())
            })
        });
        let rules_key = ctx
            .software(&format!(r"{FW_POLICY_PATH}\FirewallRules"))
            .filter(|k| k.exists());
        let rules = rules_key
            .as_ref()
            .map(|k| rules(k, None))
            .unwrap_or_default();
        GroupPolicy {
            profiles,
            rules_key,
            rules,
        }
    }
}

/// One firewall profile of a control set, as Windows enforces it: a
/// policy store's `EnableFirewall` and `DefaultInboundAction` win over the
/// local ones (the MDM store first, then Group Policy).
struct Profile<'a, 'g> {
    /// The name rules use (`Profile=Public`).
    scope: &'static str,
    /// The local key.
    local: KeyRead<'a>,
    /// The MDM key.
    mdm: KeyRead<'a>,
    /// The Group Policy key, when it exists.
    policy: Option<&'g KeyRead<'a>>,
    /// Whether the local key turns the profile on.
    local_on: bool,
}

impl Profile<'_, '_> {
    /// `EnableFirewall` of the policy key.
    fn policy_enable(&self) -> Option<u32> {
        self.policy.and_then(|k| k.dword("EnableFirewall"))
    }

    /// Whether the profile is on: MDM, else Group Policy, else local.
    fn enabled(&self) -> bool {
        match self.mdm.dword("EnableFirewall").or(self.policy_enable()) {
            Some(e) => e != 0,
            None => self.local_on,
        }
    }

    /// The effective default inbound action (0 allow, 1 block).
    fn inbound(&self) -> Option<u32> {
        self.mdm
            .dword("DefaultInboundAction")
            .or(self.policy.and_then(|k| k.dword("DefaultInboundAction")))
            .or(self.local.dword("DefaultInboundAction"))
    }

    /// What turns it on, for explanations.
    fn by(&self) -> &'static str {
        if self.mdm.dword("EnableFirewall").is_some() {
            "MDM policy"
        } else if self.policy_enable().is_some() {
            "Group Policy"
        } else {
            "the local setting"
        }
    }
}

/// Row 16 (and the port cross-check of row 5) in one control set.
fn firewall(ctx: &Ctx<'_>, set: &str, port: u32, gp: &GroupPolicy<'_>, out: &mut Vec<Finding>) {
    let fw = ctx.in_set(set, FW_PATH);
    if !fw.exists() {
        return;
    }
    let mut on: Vec<Profile<'_, '_>> = Vec::new();
    for (i, (p, scope, _)) in PROFILES.into_iter().enumerate() {
        let k = ctx.in_set(set, &format!(r"{FW_PATH}\{p}"));
        let m = ctx.in_set(set, &format!(r"{FW_PATH}\{MDM}\{p}"));
        out.extend(unreadable_value(&m, "EnableFirewall", 16));
        if k.exists() {
            out.extend(unreadable_value(&k, "EnableFirewall", 16));
        }
        let local_on = k.exists() && k.dword("EnableFirewall") != Some(0);
        let prof = Profile {
            scope,
            local: k,
            mdm: m,
            policy: gp.profiles[i].as_ref(),
            local_on,
        };
        if !prof.enabled() || prof.inbound() == Some(0) {
            continue;
        }
        // Group Policy's DoNotAllowExceptions replaces the local one (it is
        // reported as firewall-policy-no-exceptions).
        let policy_dnae = prof.policy.and_then(|k| k.dword("DoNotAllowExceptions"));
        if policy_dnae.is_none()
            && prof.local.exists()
            && prof
                .local
                .dword("DoNotAllowExceptions")
                .is_some_and(|d| d != 0)
        {
            let k = &prof.local;
            out.push(k.finding(New {
                code: "firewall-no-exceptions",
                row: 16,
                severity: Severity::Blocker,
                value: Some("DoNotAllowExceptions"),
                healthy: "0",
                explanation: format!(
                    "the {p} drops every inbound connection, allow rules included"
                ),
                fix: fix(
                    ctx.set_dword(k, "DoNotAllowExceptions", 0),
                    Risk::Medium,
                    Some("--firewall-profiles-off"),
                    vec![op_dword(k, "DoNotAllowExceptions", 0)],
                ),
            }));
        }
        on.push(prof);
    }
    if on.is_empty() {
        return;
    }
    let rk = ctx.in_set(set, &format!(r"{FW_PATH}\FirewallRules"));
    if !rk.exists() && ctx.build.is_some_and(|b| b < super::probe::BUILD_VISTA) {
        let local: Vec<&KeyRead<'_>> = on.iter().filter(|p| p.local_on).map(|p| &p.local).collect();
        open_ports(ctx, &local, port, out);
        return;
    }
    let mdm_on: Vec<&KeyRead<'_>> = on
        .iter()
        .filter(|p| p.mdm.dword("EnableFirewall").is_some_and(|e| e != 0))
        .map(|p| &p.mdm)
        .collect();
    let local = rules(&rk, Some(port));
    let before = out.len();
    let blocked = block_rules(ctx, &on, &rk, &local, gp, port, out);
    if !blocked && mdm_rules(ctx, set, port, &mdm_on, out) {
        rule_findings(ctx, set, &on, &rk, &local, gp, port, out);
    }
    if out
        .iter()
        .skip(before)
        .any(|f| f.severity == Severity::Blocker)
    {
        profiles_off(ctx, &on, out);
    }
}

/// Active inbound block rules for `port` (TCP or any protocol) in the local
/// and the Group Policy rule stores, scoped to a profile that is on: block
/// rules win over every allow rule. Returns whether one was found.
fn block_rules(
    ctx: &Ctx<'_>,
    on: &[Profile<'_, '_>],
    rk: &KeyRead<'_>,
    local: &[Rule],
    gp: &GroupPolicy<'_>,
    port: u32,
    out: &mut Vec<Finding>,
) -> bool {
    let mut found = false;
    let stores = [
        (Some(rk), local),
        (gp.rules_key.as_ref(), gp.rules.as_slice()),
    ];
    for (key, rules) in stores {
        let Some(key) = key else { continue };
        for r in covering(rules, port).filter(|r| r.action == Action::Block && r.tcp_or_any()) {
            let profiles: Vec<&str> = on
                .iter()
                .map(|p| p.scope)
                .filter(|s| r.in_profile(s))
                .collect();
            if profiles.is_empty() {
                continue;
            }
            found = true;
            // A Group Policy rule is one finding, not one per control set.
            if out.iter().any(|f| {
                f.code == "firewall-block-rule"
                    && f.hive == key.hive
                    && f.key == key.path
                    && f.value.as_deref() == Some(r.name.as_str())
            }) {
                continue;
            }
            let fix = if key.hive == "SYSTEM" {
                let new = r.data.replacen("|Active=TRUE|", "|Active=FALSE|", 1);
                let path = format!(r"{}\{}", key.hive, key.path);
                let mut f = fix(
                    ctx.command(&[
                        "set", "SOURCE", &path, &r.name, "--type", "sz", "--data", &new,
                    ]),
                    Risk::Medium,
                    None,
                    vec![RepairOp {
                        hive: crate::hive::name::HiveName::System,
                        key: key.path.clone(),
                        value: r.name.clone(),
                        action: RepairAction::String(new),
                    }],
                );
                f.manual = Some(
                    "the rule is made inactive, not deleted; find out who added it first".into(),
                );
                f
            } else {
                manual(
                    "change the Group Policy (domain GPO or local policy) that deploys the block rule",
                    Risk::Medium,
                )
            };
            let store = if key.hive == "SYSTEM" {
                "a local firewall rule"
            } else {
                "a Group Policy firewall rule"
            };
            out.push(key.finding(New {
                code: "firewall-block-rule",
                row: 16,
                severity: Severity::Blocker,
                value: Some(&r.name),
                healthy: "no active inbound block rule covering the RDP port",
                explanation: format!(
                    "{store} blocks inbound TCP {port} in the {} profile{}: block rules win over every allow rule",
                    profiles.join(", "),
                    if profiles.len() == 1 { "" } else { "s" }
                ),
                fix,
            }));
        }
    }
    found
}

/// The MDM (Intune) store's rules for `port`: an active inbound block rule
/// is a blocker; an active allow rule settles it. Returns whether the
/// local rules still decide (no MDM rule does, and no enabled MDM profile
/// has `AllowLocalPolicyMerge` 0, which makes Windows ignore them).
fn mdm_rules(
    ctx: &Ctx<'_>,
    set: &str,
    port: u32,
    mdm_on: &[&KeyRead<'_>],
    out: &mut Vec<Finding>,
) -> bool {
    let mk = ctx.in_set(set, &format!(r"{FW_PATH}\{MDM}\FirewallRules"));
    let all = rules(&mk, Some(port));
    let tcp = |r: &&Rule| r.tcp_or_any();
    if let Some(r) = covering(&all, port)
        .filter(tcp)
        .find(|r| r.action == Action::Block)
    {
        out.push(mk.finding(New {
            code: "firewall-mdm-block-rule",
            row: 16,
            severity: Severity::Blocker,
            value: Some(&r.name),
            healthy: "no MDM rule blocking the RDP port",
            explanation: format!("an MDM (Intune) firewall rule blocks inbound TCP {port}; block rules win over every allow rule"),
            fix: manual("change the Intune firewall policy that deploys the rule (the MDM client re-applies it after boot)", Risk::Medium),
        }));
        return false;
    }
    if covering(&all, port)
        .filter(tcp)
        .any(|r| r.action == Action::Allow)
    {
        return false;
    }
    if let Some(m) = mdm_on
        .iter()
        .find(|m| m.dword("AllowLocalPolicyMerge") == Some(0))
    {
        out.push(m.finding(New {
            code: "firewall-mdm-no-local-rules",
            row: 16,
            severity: Severity::Blocker,
            value: Some("AllowLocalPolicyMerge"),
            healthy: "absent or 1, or an MDM rule allowing the RDP port",
            explanation: format!("MDM (Intune) policy ignores local firewall rules and none of its rules allows inbound TCP {port}"),
            fix: manual("allow the RDP port in the Intune firewall policy, or allow local rule merge", Risk::Medium),
        }));
        return false;
    }
    true
}

/// Whether an active inbound TCP allow rule of the local or the Group
/// Policy store allows `port` in profile `scope`.
fn allows(local: &[Rule], gp: &GroupPolicy<'_>, port: u32, scope: &str) -> bool {
    covering(local, port)
        .chain(covering(&gp.rules, port))
        .any(|r| r.inbound_tcp_allow() && r.in_profile(scope))
}

/// The fix that makes local rule `r` of `rk` active (`Active=FALSE` to
/// `TRUE`: 2 bytes shorter, it fits its cell).
fn activate(
    ctx: &Ctx<'_>,
    rk: &KeyRead<'_>,
    r: &Rule,
    how: Option<&'static str>,
) -> crate::report::diagnose::Fix {
    let new = r.data.replacen("|Active=FALSE|", "|Active=TRUE|", 1);
    let path = format!(r"SYSTEM\{}", rk.path);
    fix(
        ctx.command(&[
            "set", "SOURCE", &path, &r.name, "--type", "sz", "--data", &new,
        ]),
        Risk::Low,
        how,
        vec![RepairOp {
            hive: crate::hive::name::HiveName::System,
            key: rk.path.clone(),
            value: r.name.clone(),
            action: RepairAction::String(new),
        }],
    )
}

/// "the Public profile", "the Domain and Public profiles".
fn profile_names(p: &[&str]) -> String {
    match p {
        [one] => format!("the {one} profile"),
        [rest @ .., last] => format!("the {} and {last} profiles", rest.join(", ")),
        [] => "no profile".into(),
    }
}

/// The RDP rule of `FirewallRules` (`rk`, its rules `all`) for `port`, per
/// profile that is on (a rule's `Profile=` fields scope it; none: every
/// profile). Nothing allows the port in any profile that is on: a blocker
/// (the inactive RDP rule, the rule on another port, or no rule). Some
/// profiles allow it and others drop it: a warning naming them.
#[allow(clippy::too_many_arguments)]
fn rule_findings(
    ctx: &Ctx<'_>,
    set: &str,
    on: &[Profile<'_, '_>],
    rk: &KeyRead<'_>,
    all: &[Rule],
    gp: &GroupPolicy<'_>,
    port: u32,
    out: &mut Vec<Finding>,
) {
    let mut left: Vec<&str> = on
        .iter()
        .map(|p| p.scope)
        .filter(|s| !allows(all, gp, port, s))
        .collect();
    if left.is_empty() {
        return;
    }
    let inactive =
        |r: &&Rule| !r.active && r.inbound_tcp_allow() && r.covers(port) && r.is_rdp_rule();
    // The inactive rule that opens the most of those profiles (the first,
    // in the key's value order, of those that open as many).
    let candidate = |left: &[&str]| {
        let mut best: Option<(&Rule, usize)> = None;
        for r in all.iter().filter(inactive) {
            let n = left.iter().filter(|s| r.in_profile(s)).count();
            if n > 0 && best.is_none_or(|(_, b)| n > b) {
                best = Some((r, n));
            }
        }
        best.map(|(r, _)| r)
    };
    if left.len() == on.len() {
        let by: Vec<String> = on
            .iter()
            .map(|p| format!("{} by {}", p.scope, p.by()))
            .collect();
        if let Some(r) = candidate(&left) {
            out.push(rk.finding(New {
                code: "firewall-rule-inactive",
                row: 16,
                severity: Severity::Blocker,
                value: Some(&r.name),
                healthy: "Active=TRUE when RDP is on (client installs ship Active=FALSE)",
                explanation: format!("the firewall is on ({}) and its Remote Desktop rule for TCP {port} is inactive: port {port} is dropped", by.join(", ")),
                fix: activate(ctx, rk, r, Some("applied")),
            }));
            left.retain(|s| !r.in_profile(s));
        } else if let Some(r) = all
            .iter()
            .find(|r| r.is_rdp_rule() && r.inbound_tcp_allow() && !r.covers(port))
        {
            port_mismatch(ctx, set, rk, r, port, out);
            return;
        } else {
            out.push(rk.finding(New {
                code: "firewall-no-rdp-rule",
                row: 16,
                severity: Severity::Blocker,
                value: None,
                healthy: "an inbound TCP allow rule for the RDP port",
                explanation: format!("the firewall is on ({}) and no rule allows inbound TCP {port}", by.join(", ")),
                fix: manual(&format!("after boot, allow inbound TCP {port}; or turn the firewall profiles off with `ntrescue rdp repair --firewall-profiles-off`"), Risk::Medium),
            }));
            return;
        }
        if left.is_empty() {
            return;
        }
    }
    let names = profile_names(&left);
    let (value, fix, healthy) = match candidate(&left) {
        Some(r) => (
            Some(r.name.as_str()),
            activate(ctx, rk, r, None),
            "Active=TRUE for every profile that is on",
        ),
        None => (
            all.iter()
                .find(|r| r.active && r.inbound_tcp_allow() && r.covers(port) && r.is_rdp_rule())
                .map(|r| r.name.as_str()),
            manual(&format!("after boot, allow inbound TCP {port} in {names} (add the profile to the Remote Desktop rule's scope)"), Risk::Medium),
            "a Remote Desktop rule scoped to every profile that is on",
        ),
    };
    out.push(rk.finding(New {
        code: "firewall-rule-scope",
        row: 16,
        severity: Severity::Warning,
        value,
        healthy,
        explanation: format!("the firewall allows inbound TCP {port} only in some profiles: {names} is on and drops it, so RDP fails whenever Windows puts the network in that profile"),
        fix,
    }));
}

/// Row 5 cross-check: the Remote Desktop rule `r` allows another port.
fn port_mismatch(
    ctx: &Ctx<'_>,
    set: &str,
    rk: &KeyRead<'_>,
    r: &Rule,
    port: u32,
    out: &mut Vec<Finding>,
) {
    let resets = port != DEFAULT_PORT && r.covers(DEFAULT_PORT);
    let rdp = ctx.in_set(set, RDP_TCP_PATH);
    let f = if resets {
        let mut f = fix(
            ctx.command(&["rdp", "port", "SOURCE", "--reset"]),
            Risk::Medium,
            Some("--reset-port"),
            vec![op_dword(&rdp, "PortNumber", DEFAULT_PORT)],
        );
        f.manual = Some(format!("or, after boot, allow TCP {port} in the firewall"));
        f
    } else {
        manual(
            &format!("after boot, allow inbound TCP {port} in the firewall"),
            Risk::Medium,
        )
    };
    out.push(rk.finding(New {
        code: "firewall-port-mismatch",
        row: 5,
        severity: Severity::Blocker,
        value: Some(&r.name),
        healthy: "the rule's LPort equals RDP-Tcp PortNumber",
        explanation: format!(
            "RDP listens on TCP {port} but the firewall's Remote Desktop rule allows LPort={}",
            r.lport_text().unwrap_or("?")
        ),
        fix: f,
    }));
}

/// The Windows XP / 2003 firewall: an enabled profile must list the port
/// in `GloballyOpenPorts\List` as `PORT:TCP:scope:Enabled:name`.
fn open_ports(ctx: &Ctx<'_>, on: &[&KeyRead<'_>], port: u32, out: &mut Vec<Finding>) {
    let name = format!("{port}:TCP");
    let before = out.len();
    for p in on {
        let mut list = KeyRead::new(
            ctx.hives.system,
            "SYSTEM",
            format!(r"{}\GloballyOpenPorts\List", p.path),
        );
        list.set = p.set.clone();
        let open = list.value_names().iter().any(|n| {
            list.string(n).is_some_and(|d| {
                let f: Vec<&str> = d.split(':').collect();
                f.len() >= 4
                    && f[0].trim() == port.to_string()
                    && f[1].eq_ignore_ascii_case("TCP")
                    && f[3].eq_ignore_ascii_case("Enabled")
            })
        });
        if open {
            continue;
        }
        let data = format!("{port}:TCP:*:Enabled:Remote Desktop");
        let path = format!(r"SYSTEM\{}", list.path);
        out.push(list.finding(New {
            code: "firewall-no-rdp-rule",
            row: 16,
            severity: Severity::Blocker,
            value: Some(&name),
            healthy: "PORT:TCP:*:Enabled:... in every enabled profile",
            explanation: format!("the firewall profile is on and does not open TCP {port}"),
            fix: fix(
                ctx.command(&[
                    "set", "SOURCE", &path, &name, "--type", "sz", "--data", &data,
                ]),
                Risk::Medium,
                None,
                Vec::new(),
            ),
        }));
    }
    if out.len() > before {
        for k in on {
            out.push(profile_on(ctx, k));
        }
    }
}

/// A profile's `EnableFirewall` turned off: the alternative to the rule
/// fix, only with `rdp repair --firewall-profiles-off`.
fn profile_on(ctx: &Ctx<'_>, k: &KeyRead<'_>) -> Finding {
    k.finding(New {
        code: "firewall-profile-on",
        row: 16,
        severity: Severity::Info,
        value: Some("EnableFirewall"),
        healthy: "1 (on)",
        explanation: "this profile filters the RDP port; turning it off is the last resort".into(),
        fix: fix(
            ctx.set_dword(k, "EnableFirewall", 0),
            Risk::High,
            Some("--firewall-profiles-off"),
            vec![op_dword(k, "EnableFirewall", 0)],
        ),
    })
}

/// The store that turns each profile of `on` on: the local key (when no
/// policy overrides it), the MDM key, the Group Policy key (a domain GPO
/// re-applies it: not part of `--firewall-profiles-off`).
fn profiles_off(ctx: &Ctx<'_>, on: &[Profile<'_, '_>], out: &mut Vec<Finding>) {
    for p in on {
        if p.local_on && p.policy_enable().is_none() {
            out.push(profile_on(ctx, &p.local));
        }
        if p.mdm.dword("EnableFirewall").is_some_and(|e| e != 0) {
            out.push(profile_on(ctx, &p.mdm));
        }
        let policy_on = p.policy.filter(|k| {
            p.policy_enable().is_some_and(|e| e != 0)
                // once, not per control set
                && !out.iter().any(|f| {
                    f.code == "firewall-profile-on" && f.hive == k.hive && f.key == k.path
                })
        });
        if let Some(k) = policy_on {
            let mut f = fix(
                ctx.set_dword(k, "EnableFirewall", 0),
                Risk::High,
                None,
                vec![op_dword(k, "EnableFirewall", 0)],
            );
            f.manual =
                Some("a domain GPO re-applies it at the next refresh: change the GPO too".into());
            out.push(k.finding(New {
                code: "firewall-profile-on",
                row: 16,
                severity: Severity::Info,
                value: Some("EnableFirewall"),
                healthy: "absent (the local setting decides)",
                explanation: format!(
                    "Group Policy turns the {} profile on and it filters the RDP port",
                    p.scope
                ),
                fix: f,
            }));
        }
    }
}

/// Group Policy firewall settings in SOFTWARE.
fn firewall_policy(gp: &GroupPolicy<'_>, out: &mut Vec<Finding>) {
    for ((_, scope, _), k) in PROFILES.iter().zip(&gp.profiles) {
        let Some(k) = k else { continue };
        if k.dword("EnableFirewall") == Some(0) {
            continue;
        }
        let manual_fix = || {
            manual(
                "change the Group Policy (domain GPO or local policy) that sets it",
                Risk::Medium,
            )
        };
        if k.dword("DoNotAllowExceptions").is_some_and(|d| d != 0) {
            out.push(k.finding(New {
                code: "firewall-policy-no-exceptions",
                row: 16,
                severity: Severity::Blocker,
                value: Some("DoNotAllowExceptions"),
                healthy: "absent",
                explanation: format!(
                    "Group Policy makes the {scope} profile drop every inbound connection"
                ),
                fix: manual_fix(),
            }));
        }
        if k.dword("AllowLocalPolicyMerge") == Some(0) {
            out.push(k.finding(New {
                code: "firewall-policy-no-local-rules",
                row: 16,
                severity: Severity::Warning,
                value: Some("AllowLocalPolicyMerge"),
                healthy: "absent or 1",
                explanation: format!("Group Policy ignores local firewall rules in the {scope} profile: only policy rules can allow RDP"),
                fix: manual_fix(),
            }));
        }
    }
}

/// Row 15: interfaces with a static address.
fn static_ip(ctx: &Ctx<'_>, set: &str, out: &mut Vec<Finding>) {
    let ifs = ctx.in_set(set, INTERFACES_PATH);
    for guid in ifs.subkey_names() {
        let k = ctx.in_set(set, &format!(r"{INTERFACES_PATH}\{guid}"));
        if k.dword("EnableDHCP") != Some(0) {
            continue;
        }
        let addr = match k.value("IPAddress") {
            crate::hive::reader::ValueState::Present { data, .. } => match data {
                serde_json::Value::Array(a) => a
                    .iter()
                    .filter_map(|x| x.as_str())
                    .map(str::to_string)
                    .collect::<Vec<_>>(),
                serde_json::Value::String(s) => vec![s],
                _ => Vec::new(),
            },
            _ => Vec::new(),
        };
        let addr: Vec<String> = addr
            .into_iter()
            .filter(|a| !a.is_empty() && a != "0.0.0.0")
            .collect();
        if addr.is_empty() {
            continue;
        }
        out.push(k.finding(New {
            code: "static-ip",
            row: 15,
            severity: Severity::Warning,
            value: Some("EnableDHCP"),
            healthy: "1 on cloud VMs",
            explanation: format!(
                "a static address ({}) that breaks the machine in another network",
                addr.join(", ")
            ),
            fix: fix(
                ctx.set_dword(&k, "EnableDHCP", 1),
                Risk::Medium,
                Some("--dhcp"),
                vec![op_dword(&k, "EnableDHCP", 1)],
            ),
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn units(s: &str) -> Vec<u16> {
        s.encode_utf16().collect()
    }

    fn rule(data: &str) -> Option<Rule> {
        Rule::parse("R".into(), &units(data))
    }

    #[test]
    fn a_rule_string_is_read_field_by_field() {
        let r = rule("v2.10|Action=Allow|Active=TRUE|Dir=In|Protocol=6|Profile=Domain|Profile=Public|LPort=3389|App=System|").unwrap();
        assert!(r.action == Action::Allow && r.active && r.tcp == Some(true));
        assert!(r.inbound_tcp_allow() && r.covers(3389) && !r.covers(3390));
        assert!(r.in_profile("Domain") && r.in_profile("public") && !r.in_profile("Private"));
    }

    #[test]
    fn fields_are_case_insensitive_and_the_first_wins() {
        let r = rule("v2.30|action=BLOCK|active=true|dir=in|Action=Allow|Active=FALSE|Dir=Out|")
            .unwrap();
        assert!(r.action == Action::Block && r.active);
        assert_eq!(r.tcp, None, "no Protocol field: any protocol");
        assert!(r.tcp_or_any() && !r.inbound_tcp_allow());
    }

    #[test]
    fn port_lists_and_ranges_add_up_over_repeated_fields() {
        let r = rule("v2.10|Action=Allow|Dir=In|Protocol=6|LPort=80, 443|LPort=3000-3400|LPort=RPC|LPort=+22|").unwrap();
        assert!(
            r.covers(80) && r.covers(443) && r.covers(3389) && r.covers(3000) && r.covers(3400)
        );
        assert!(r.covers(22) && !r.covers(3401) && !r.covers(23));
        // No LPort: an app-scoped rule, never the RDP rule.
        assert!(!rule("v2.10|Action=Allow|Dir=In|Protocol=6|")
            .unwrap()
            .covers(3389));
        // A range the wrong way round, junk, or a number past u32 covers nothing.
        let junk = rule("v2.10|Dir=In|LPort=3400-3000|LPort=x-3389|LPort=4294967296|LPort=++3389|")
            .unwrap();
        assert!(!junk.covers(3389) && !junk.covers(0));
        assert!(rule("v2.10|Dir=In|LPort=0003389|").unwrap().covers(3389));
    }

    #[test]
    fn profile_scope_none_means_every_profile_and_unknown_names_none() {
        let any = rule("v2.10|Action=Allow|Dir=In|").unwrap();
        assert!(["Domain", "Private", "Public"]
            .iter()
            .all(|s| any.in_profile(s)));
        let odd = rule("v2.10|Dir=In|Profile=Elsewhere|").unwrap();
        assert!(["Domain", "Private", "Public"]
            .iter()
            .all(|s| !odd.in_profile(s)));
        let list = rule("v2.10|Dir=In|Profile= Private ,Domain|").unwrap();
        assert!(
            list.in_profile("Private") && list.in_profile("Domain") && !list.in_profile("Public")
        );
    }

    /// Only inbound rule strings are rules: the first `Dir` field decides.
    #[test]
    fn only_inbound_rule_strings_are_rules() {
        for (s, inbound) in [
            ("v2.10|Action=Allow|Dir=In|", true),
            ("v2.10|dir=IN", true),
            ("v2.10|Dir=In|Dir=Out|", true),
            ("v2.10|Dir=Out|Dir=In|", false),
            ("v2.10|Dir|Dir=In|", true),
            ("v2.10|Dir =In|", false),
            ("v2.10|Dir=In=x|", false),
            ("v2.10|Dir=In\0|", false),
            ("v2.10|Name=Dir=In|", false),
            ("v2.10|Dır=In|", false),
            ("v2.10|Name=Réseau — bureau à distance|Dir=In|", true),
            ("Dir=In|", false),
            ("v2.10", false),
            ("", false),
        ] {
            assert_eq!(rule(s).is_some(), inbound, "{s:?}");
        }
    }

    /// On a real store (both control sets), read with nt-hive's cross-check
    /// and on demand alike: the rules kept for a port are those of every
    /// inbound rule that cover it or are Remote Desktop rules, each with
    /// its text as the string decoder reads it (from a copy of its data).
    #[test]
    fn a_store_keeps_what_can_matter_for_the_port() {
        let bytes = crate::testing::corpus("system/win7sp1-x86__regipy__SYSTEM");
        let whole = crate::hive::reader::Reader::new(&bytes).unwrap();
        let image = crate::storage::lazy::LazyImage::new(
            Box::new(crate::storage::lazy::MemPages(bytes.clone().into())),
            bytes.len(),
            "SYSTEM".into(),
        );
        let paged = crate::hive::reader::Reader::paged(&image).unwrap();
        assert!(whole.cross_checked() && !paged.cross_checked());
        for ctx_reader in [&whole, &paged] {
            for set in ["ControlSet001", "ControlSet002"] {
                let path = format!(r"{set}\{FW_PATH}\FirewallRules");
                let k = KeyRead::new(ctx_reader, "SYSTEM", path.clone());
                let all = rules(&k, None);
                let kept = rules(&k, Some(3389));
                let crate::hive::reader::KeyLookup::Found(key) = ctx_reader.key(&path) else {
                    panic!("{path} is missing");
                };
                let texts: std::collections::HashMap<String, String> = key
                    .values()
                    .unwrap()
                    .iter()
                    .filter(|v| matches!(v.data_type(), Ok(1 | 2)))
                    .map(|v| {
                        let data = v.data().unwrap();
                        (v.name().unwrap(), crate::hive::reader::utf16_string(&data))
                    })
                    .collect();
                assert!(
                    all.len() > 100 && texts.len() > all.len(),
                    "{} of {}",
                    all.len(),
                    texts.len()
                );
                let want: Vec<&str> = all
                    .iter()
                    .filter(|r| r.covers(3389) || r.is_rdp_rule())
                    .map(|r| r.name.as_str())
                    .collect();
                let got: Vec<&str> = kept.iter().map(|r| r.name.as_str()).collect();
                assert_eq!(got, want);
                assert!(got.iter().any(|n| n.starts_with("RemoteDesktop-")));
                for r in &all {
                    assert_eq!(r.data, texts[&r.name]);
                    assert!(r.data.to_ascii_lowercase().contains("|dir=in"));
                }
            }
        }
    }
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! Rows 5, 15 and 16 of rdp-causes.md: the listener port, static
//! addresses, and the Windows Firewall (profiles, the RDP rule and whether
//! its `LPort` matches the port, Group Policy, the MDM store).

use crate::recipes::paths::RDP_TCP_PATH;
use crate::report::diagnose::{Finding, RepairAction, RepairOp, Risk, Severity};

use super::probe::{fix, manual, op_dword, unreadable_value, Ctx, KeyRead, New};
use crate::hive::reader::ValueState;

/// The RDP listener's default TCP port.
const DEFAULT_PORT: u32 = 3389;
/// Firewall policy key inside a control set.
const FW_PATH: &str = r"Services\SharedAccess\Parameters\FirewallPolicy";
/// Firewall profiles (the Private profile is `StandardProfile`).
const PROFILES: [&str; 3] = ["DomainProfile", "StandardProfile", "PublicProfile"];
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
    firewall_policy(ctx, out);
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
            firewall(ctx, set, port, out);
        }
        static_ip(ctx, set, out);
    }
}

/// A firewall rule string (`v2.x|Action=Allow|Active=TRUE|...|`). Its
/// fields are read from the string when asked (a machine has hundreds of
/// rules, each asked a few fields).
struct Rule {
    name: String,
    data: String,
}

impl Rule {
    fn parse(name: String, data: String) -> Option<Rule> {
        if !data.split('|').next()?.starts_with('v') {
            return None;
        }
        Some(Rule { name, data })
    }

    /// The values of every field called `k` (case-insensitive).
    fn all<'s, 'k: 's>(&'s self, k: &'k str) -> impl Iterator<Item = &'s str> + 's {
        self.data
            .split('|')
            .skip(1)
            .filter_map(|p| p.split_once('='))
            .filter(move |(f, _)| f.eq_ignore_ascii_case(k))
            .map(|(_, v)| v)
    }

    fn get<'s>(&'s self, k: &'s str) -> Option<&'s str> {
        self.all(k).next()
    }

    fn is(&self, k: &str, v: &str) -> bool {
        self.get(k).is_some_and(|x| x.eq_ignore_ascii_case(v))
    }

    /// Inbound TCP allow rule.
    fn inbound_tcp_allow(&self) -> bool {
        self.is("Action", "Allow") && self.is("Dir", "In") && self.is("Protocol", "6")
    }

    /// Whether the rule's local ports include `port` (a list of numbers
    /// and ranges; no `LPort` = any port).
    fn covers(&self, port: u32) -> bool {
        let lports: Vec<&str> = self.all("LPort").collect();
        if lports.is_empty() {
            return false; // app-scoped rules without a port are not the RDP rule
        }
        lports.iter().flat_map(|l| l.split(',')).any(|p| match p.split_once('-') {
            Some((a, b)) => matches!((a.trim().parse::<u32>(), b.trim().parse::<u32>()), (Ok(a), Ok(b)) if a <= port && port <= b),
            None => p.trim().parse::<u32>() == Ok(port),
        })
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

/// The value names of Windows' own Remote Desktop TCP rules (rdp-causes.md
/// row 16: Windows 8 and later, then Windows 7).
const WINDOWS_RDP_RULES: [&str; 2] = ["RemoteDesktop-UserMode-In-TCP", "RemoteDesktop-In-TCP"];

fn rules(k: &KeyRead<'_>) -> Vec<Rule> {
    k.all_values()
        .into_iter()
        .filter_map(|(n, state)| match state {
            ValueState::Present {
                data: serde_json::Value::String(data),
                type_code: 1 | 2,
                ..
            } => Rule::parse(n, data),
            _ => None,
        })
        .collect()
}

/// Row 16 (and the port cross-check of row 5) in one control set.
fn firewall(ctx: &Ctx<'_>, set: &str, port: u32, out: &mut Vec<Finding>) {
    let fw = ctx.in_set(set, FW_PATH);
    if !fw.exists() {
        return;
    }
    let mut on: Vec<KeyRead<'_>> = Vec::new();
    let mut mdm_on: Vec<KeyRead<'_>> = Vec::new();
    for p in PROFILES {
        let k = ctx.in_set(set, &format!(r"{FW_PATH}\{p}"));
        let m = ctx.in_set(set, &format!(r"{FW_PATH}\{MDM}\{p}"));
        out.extend(unreadable_value(&m, "EnableFirewall", 16));
        let local_on = k.exists() && k.dword("EnableFirewall") != Some(0);
        if k.exists() {
            out.extend(unreadable_value(&k, "EnableFirewall", 16));
        }
        // The MDM store is a policy store: its EnableFirewall wins over the
        // local one, and its DefaultInboundAction too (0 allow, 1 block).
        let enabled = match m.dword("EnableFirewall") {
            Some(e) => e != 0,
            None => local_on,
        };
        let inbound = m
            .dword("DefaultInboundAction")
            .or(k.dword("DefaultInboundAction"));
        if !enabled || inbound == Some(0) {
            continue;
        }
        if local_on && k.dword("DoNotAllowExceptions").is_some_and(|d| d != 0) {
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
                    ctx.set_dword(&k, "DoNotAllowExceptions", 0),
                    Risk::Medium,
                    Some("--firewall-profiles-off"),
                    vec![op_dword(&k, "DoNotAllowExceptions", 0)],
                ),
            }));
        }
        if local_on {
            on.push(k);
        }
        if m.dword("EnableFirewall").is_some_and(|e| e != 0) {
            mdm_on.push(m);
        }
    }
    if on.is_empty() && mdm_on.is_empty() {
        return;
    }
    let rk = ctx.in_set(set, &format!(r"{FW_PATH}\FirewallRules"));
    if !rk.exists() && ctx.build.is_some_and(|b| b < super::probe::BUILD_VISTA) {
        open_ports(ctx, &on, port, out);
        return;
    }
    let before = out.len();
    if mdm_rules(ctx, set, port, &mdm_on, out) {
        rule_findings(ctx, set, &rk, port, out);
    }
    if out.len() > before {
        on.extend(mdm_on);
        profiles_off(ctx, &on, out);
    }
}

/// The MDM (Intune) store's rules for `port`: an active inbound block rule
/// is a blocker; an active allow rule settles it. Returns whether the
/// local rules still decide (no MDM rule does, and no enabled MDM profile
/// has `AllowLocalPolicyMerge` 0, which makes Windows ignore them).
fn mdm_rules(
    ctx: &Ctx<'_>,
    set: &str,
    port: u32,
    mdm_on: &[KeyRead<'_>],
    out: &mut Vec<Finding>,
) -> bool {
    let mk = ctx.in_set(set, &format!(r"{FW_PATH}\{MDM}\FirewallRules"));
    let all = rules(&mk);
    let inbound = |r: &Rule| {
        r.is("Active", "TRUE")
            && r.is("Dir", "In")
            && r.get("Protocol").is_none_or(|p| p == "6")
            && r.covers(port)
    };
    if let Some(r) = all.iter().find(|r| inbound(r) && r.is("Action", "Block")) {
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
    if all.iter().any(|r| inbound(r) && r.is("Action", "Allow")) {
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

/// The RDP rule of `FirewallRules` (`rk`) for `port`: inactive, on another
/// port, or missing.
fn rule_findings(ctx: &Ctx<'_>, set: &str, rk: &KeyRead<'_>, port: u32, out: &mut Vec<Finding>) {
    let active = |r: &Rule| r.is("Active", "TRUE");
    // Windows' own Remote Desktop rules first: when one of them allows the
    // port, no other rule needs to be read (a firewall holds hundreds).
    if WINDOWS_RDP_RULES.iter().any(|n| {
        rk.string(n)
            .and_then(|d| Rule::parse(n.to_string(), d))
            .is_some_and(|r| active(&r) && r.inbound_tcp_allow() && r.covers(port))
    }) {
        return;
    }
    let all = rules(rk);
    if all
        .iter()
        .any(|r| active(r) && r.inbound_tcp_allow() && r.covers(port))
    {
        return;
    }
    if let Some(r) = all
        .iter()
        .find(|r| !active(r) && r.inbound_tcp_allow() && r.covers(port) && r.is_rdp_rule())
    {
        let new = r.data.replacen("|Active=FALSE|", "|Active=TRUE|", 1);
        let path = format!(r"SYSTEM\{}", rk.path);
        out.push(rk.finding(New {
            code: "firewall-rule-inactive",
            row: 16,
            severity: Severity::Blocker,
            value: Some(&r.name),
            healthy: "Active=TRUE when RDP is on (client installs ship Active=FALSE)",
            explanation: format!("the firewall is on and its Remote Desktop rule for TCP {port} is inactive: port {port} is dropped"),
            fix: fix(
                ctx.command(&["set", "SOURCE", &path, &r.name, "--type", "sz", "--data", &new]),
                Risk::Low,
                Some("applied"),
                vec![RepairOp {
                    hive: crate::hive::name::HiveName::System,
                    key: rk.path.clone(),
                    value: r.name.clone(),
                    action: RepairAction::String(new),
                }],
            ),
        }));
    } else if let Some(r) = all
        .iter()
        .find(|r| r.is_rdp_rule() && r.inbound_tcp_allow() && !r.covers(port))
    {
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
                r.get("LPort").unwrap_or("?")
            ),
            fix: f,
        }));
    } else {
        out.push(rk.finding(New {
            code: "firewall-no-rdp-rule",
            row: 16,
            severity: Severity::Blocker,
            value: None,
            healthy: "an inbound TCP allow rule for the RDP port",
            explanation: format!("the firewall is on and no rule allows inbound TCP {port}"),
            fix: manual(&format!("after boot, allow inbound TCP {port}; or turn the firewall profiles off with `ntrescue rdp repair --firewall-profiles-off`"), Risk::Medium),
        }));
    }
}

/// The Windows XP / 2003 firewall: an enabled profile must list the port
/// in `GloballyOpenPorts\List` as `PORT:TCP:scope:Enabled:name`.
fn open_ports(ctx: &Ctx<'_>, on: &[KeyRead<'_>], port: u32, out: &mut Vec<Finding>) {
    let name = format!("{port}:TCP");
    let before = out.len();
    for p in on {
        let list = KeyRead::new(
            ctx.hives.system,
            "SYSTEM",
            format!(r"{}\GloballyOpenPorts\List", p.path),
        );
        let mut list = list;
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
        profiles_off(ctx, on, out);
    }
}

/// The alternative to the rule fix: the enabled profiles turned off (only
/// with `rdp repair --firewall-profiles-off`).
fn profiles_off(ctx: &Ctx<'_>, on: &[KeyRead<'_>], out: &mut Vec<Finding>) {
    for k in on {
        out.push(k.finding(New {
            code: "firewall-profile-on",
            row: 16,
            severity: Severity::Info,
            value: Some("EnableFirewall"),
            healthy: "1 (on)",
            explanation:
                "this profile filters the RDP port; turning it off is the last resort".into(),
            fix: fix(
                ctx.set_dword(k, "EnableFirewall", 0),
                Risk::High,
                Some("--firewall-profiles-off"),
                vec![op_dword(k, "EnableFirewall", 0)],
            ),
        }));
    }
}

/// Group Policy firewall settings in SOFTWARE.
fn firewall_policy(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    for p in PROFILES {
        let Some(k) = ctx.software(&format!(r"{FW_POLICY_PATH}\{p}")) else {
            return;
        };
        if !k.exists() || k.dword("EnableFirewall") == Some(0) {
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
                explanation: format!("Group Policy makes the {p} drop every inbound connection"),
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
                explanation: format!("Group Policy ignores local firewall rules in the {p}: only policy rules can allow RDP"),
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

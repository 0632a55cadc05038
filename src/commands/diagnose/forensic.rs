// SPDX-License-Identifier: GPL-2.0-or-later
//! What an examiner looks for beside NLA (RegRipper's `termserv` plugin
//! prints these): the program an RDP session starts instead of the shell
//! (`InitialProgram`), what `rdpwd` starts in every session
//! (`StartupPrograms`), Remote Assistance (`fAllowToGetHelp`,
//! `fAllowUnsolicited`), session shadowing (`Shadow`), and the
//! accessibility-tool debugger hijack (a SYSTEM shell at the logon screen,
//! reachable over RDP before any password). Read-only; the unusual ones are
//! warnings with stable codes (docs/diagnose.md, "Forensic checks").

use crate::hive::reader::{NamedValue, ValueState};
use crate::recipes::paths::{POLICY_PATH, RDP_TCP_PATH, TS_PATH};
use crate::report::diagnose::{Finding, Risk, Severity};
use crate::report::forensic::{ForensicKey, ForensicReport};

use super::probe::{fix, op_delete, Ctx, KeyRead, New};

/// Row number of the forensic checks: they are not causes of "cannot RDP"
/// (rdp-causes.md numbers those from 1).
pub const FORENSIC_ROW: u8 = 0;

/// Remote Assistance settings of Vista and later, in a control set.
const REMOTE_ASSISTANCE_PATH: &str = r"Control\Remote Assistance";
/// The RDP protocol driver's key in a control set: `StartupPrograms` runs in
/// every session.
const RDPWD_PATH: &str = r"Control\Terminal Server\Wds\rdpwd";
/// What Windows ships in `StartupPrograms`: the clipboard helper only.
const RDPWD_DEFAULT: &str = "rdpclip";
/// Image File Execution Options in SOFTWARE, native and 32-bit views.
const IFEO_PATHS: [&str; 2] = [
    r"Microsoft\Windows NT\CurrentVersion\Image File Execution Options",
    r"Wow6432Node\Microsoft\Windows NT\CurrentVersion\Image File Execution Options",
];
/// The programs the logon screen starts without a logon (Sticky Keys, the
/// Ease of Access menu, on-screen keyboard, magnifier, narrator, display
/// switch): a `Debugger` on any of them runs instead, as SYSTEM.
pub const LOGON_SCREEN_TOOLS: [&str; 6] = [
    "sethc.exe",
    "utilman.exe",
    "osk.exe",
    "magnify.exe",
    "narrator.exe",
    "displayswitch.exe",
];
/// `Shadow` (RDP-Tcp and policy): 2 = full control and 4 = view, both
/// without the user's consent (0 none, 1 and 3 with consent; absent = 1).
const SHADOW_NO_CONSENT: [u32; 2] = [2, 4];
/// Where SOFTWARE names the installation's edition (`InstallationType`:
/// `Client`, `Server`, `Server Core`), a key diagnose reads anyway.
const CURRENT_VERSION_PATH: &str = r"Microsoft\Windows NT\CurrentVersion";

/// A key of the section, with what it is and the values to read.
struct Spec {
    path: String,
    set: Option<String>,
    about: &'static str,
    values: &'static [&'static str],
}

/// Every key the section reads, in report order.
fn specs(ctx: &Ctx<'_>) -> (Vec<Spec>, Vec<Spec>) {
    let mut system = Vec::new();
    for set in &ctx.sets {
        let at = |path: &str, about, values| Spec {
            path: format!(r"{set}\{path}"),
            set: Some(set.clone()),
            about,
            values,
        };
        system.push(at(
            TS_PATH,
            "Remote Assistance (XP/2003 location)",
            &["fAllowToGetHelp", "fAllowUnsolicited"],
        ));
        system.push(at(
            REMOTE_ASSISTANCE_PATH,
            "Remote Assistance",
            &["fAllowToGetHelp", "fAllowFullControl"],
        ));
        system.push(at(
            RDP_TCP_PATH,
            "RDP listener: program started instead of the shell, shadowing",
            &[
                "InitialProgram",
                "WorkDirectory",
                "fInheritInitialProgram",
                "Shadow",
            ],
        ));
        system.push(at(
            RDPWD_PATH,
            "programs started in every RDP session",
            &["StartupPrograms"],
        ));
    }
    let mut software = vec![Spec {
        path: POLICY_PATH.to_string(),
        set: None,
        about: "Group Policy copies (they override SYSTEM)",
        values: &[
            "fAllowToGetHelp",
            "fAllowUnsolicited",
            "Shadow",
            "InitialProgram",
            "WorkDirectory",
            "fInheritInitialProgram",
        ],
    }];
    for base in IFEO_PATHS {
        for exe in LOGON_SCREEN_TOOLS {
            software.push(Spec {
                path: format!(r"{base}\{exe}"),
                set: None,
                about: "logon-screen tool: a Debugger runs instead of it, as SYSTEM",
                values: &["Debugger"],
            });
        }
    }
    (system, software)
}

fn read(k: &KeyRead<'_>, spec: &Spec) -> ForensicKey {
    ForensicKey {
        hive: k.hive,
        key: k.path.clone(),
        control_set: spec.set.clone(),
        about: spec.about,
        state: k.state(),
        values: spec
            .values
            .iter()
            .map(|n| NamedValue {
                name: n.to_string(),
                state: k.value(n),
            })
            .collect(),
    }
}

/// The keys of the section, read with both readers.
fn keys<'a>(ctx: &Ctx<'a>) -> Vec<(KeyRead<'a>, ForensicKey)> {
    let (system, software) = specs(ctx);
    let mut out = Vec::new();
    for s in &system {
        let mut k = ctx.system(&s.path);
        k.set = s.set.clone();
        let f = read(&k, s);
        out.push((k, f));
    }
    for s in &software {
        if let Some(k) = ctx.software(&s.path) {
            let f = read(&k, s);
            out.push((k, f));
        }
    }
    out
}

/// A non-empty string value.
fn text(v: &ValueState) -> Option<String> {
    match v {
        ValueState::Present {
            data: serde_json::Value::String(s),
            ..
        } if !s.trim().is_empty() => Some(s.clone()),
        _ => None,
    }
}

fn warning(
    k: &KeyRead<'_>,
    code: &'static str,
    value: &str,
    healthy: &str,
    why: String,
) -> Finding {
    k.finding(New {
        code,
        row: FORENSIC_ROW,
        severity: Severity::Warning,
        value: Some(value),
        healthy,
        explanation: why,
        fix: super::probe::manual(
            "preserve the evidence first; then remove the value if it was not set on purpose",
            Risk::Low,
        ),
    })
}

/// The `InstallationType` of a server edition (`Server`, `Server Core`),
/// from SOFTWARE; `None` on a client edition, before Vista (no such
/// value) or without SOFTWARE. SYSTEM's `ProductOptions` would tell too,
/// but costs a read on-demand `inspect` does not otherwise make.
fn server_edition(ctx: &Ctx<'_>) -> Option<String> {
    let kind = ctx
        .software(CURRENT_VERSION_PATH)?
        .string("InstallationType")?;
    kind.trim()
        .to_ascii_lowercase()
        .starts_with("server")
        .then_some(kind)
}

/// `fAllowToGetHelp` 1 on a server edition, which ships Remote
/// Assistance off.
fn remote_assistance_on_server(
    ctx: &Ctx<'_>,
    k: &KeyRead<'_>,
    state: &ValueState,
    where_: &str,
) -> Option<Finding> {
    if state.dword() != Some(1) {
        return None;
    }
    let edition = server_edition(ctx)?;
    Some(warning(
        k,
        "remote-assistance-on-server",
        "fAllowToGetHelp",
        "0 or absent on a server edition",
        format!(
            "{where_}: Remote Assistance is on (fAllowToGetHelp 1) on a server edition \
             (InstallationType {edition}), which ships it off: a helper invited by a user may \
             take the session"
        ),
    ))
}

/// The flags of one key.
fn flags_of(ctx: &Ctx<'_>, k: &KeyRead<'_>, f: &ForensicKey, out: &mut Vec<Finding>) {
    let where_ = format!(r"{}\{}", k.hive, k.path);
    for v in &f.values {
        let found = match v.name.as_str() {
            "Debugger" => text(&v.state).map(|d| {
                let mut w = warning(
                    k,
                    "ifeo-debugger",
                    "Debugger",
                    "absent",
                    format!(
                        "{where_}: '{d}' runs instead of the logon-screen tool, as SYSTEM, before any \
                         logon (over RDP too): the Sticky Keys / Utilman backdoor"
                    ),
                );
                w.fix = fix(
                    ctx.delete_value(k, "Debugger"),
                    Risk::Low,
                    None,
                    vec![op_delete(k, "Debugger")],
                );
                w
            }),
            "InitialProgram" => text(&v.state).map(|p| {
                warning(
                    k,
                    "initial-program-set",
                    "InitialProgram",
                    "absent or empty",
                    format!(
                        "{where_}: RDP sessions start '{p}' instead of the desktop shell (a kiosk \
                         setting, or persistence)"
                    ),
                )
            }),
            "StartupPrograms" => text(&v.state)
                .filter(|s| {
                    s.split(',')
                        .any(|p| !p.trim().eq_ignore_ascii_case(RDPWD_DEFAULT))
                })
                .map(|s| {
                    warning(
                        k,
                        "rdpwd-startup-programs",
                        "StartupPrograms",
                        RDPWD_DEFAULT,
                        format!(
                            "{where_}: every RDP session starts '{s}', not only {RDPWD_DEFAULT} \
                             (a known persistence point)"
                        ),
                    )
                }),
            "fAllowUnsolicited" => (v.state.dword() == Some(1)).then(|| {
                warning(
                    k,
                    "remote-assistance-unsolicited",
                    "fAllowUnsolicited",
                    "0 or absent",
                    format!(
                        "{where_}: helpers may offer Remote Assistance without being asked \
                         (fAllowUnsolicited 1)"
                    ),
                )
            }),
            "fAllowToGetHelp" => remote_assistance_on_server(ctx, k, &v.state, &where_),
            "Shadow" => v
                .state
                .dword()
                .filter(|d| SHADOW_NO_CONSENT.contains(d))
                .map(|d| {
                    warning(
                        k,
                        "shadow-without-consent",
                        "Shadow",
                        "0, 1, 3 or absent",
                        format!(
                            "{where_}: sessions may be {} without the user's consent (Shadow {d})",
                            if d == 2 { "controlled" } else { "watched" }
                        ),
                    )
                }),
            _ => None,
        };
        out.extend(found);
    }
}

/// The section `inspect` prints.
pub fn report(ctx: &Ctx<'_>) -> ForensicReport {
    let mut flags = Vec::new();
    let mut keys = Vec::new();
    for (k, f) in self::keys(ctx) {
        flags_of(ctx, &k, &f, &mut flags);
        keys.push(f);
    }
    ForensicReport { keys, flags }
}

/// Runs the checks of this group (the flags of [`report`]).
pub fn check(ctx: &Ctx<'_>, out: &mut Vec<Finding>) {
    out.extend(report(ctx).flags);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::diagnose::{diagnose_hives, forensic_section, Hives};
    use crate::fixtures::build::{build, Data, KeySpec};
    use crate::fixtures::{software, system, SystemVariant};
    use crate::hive::reader::{KeyState, Reader};

    /// The key at `path` below `root`, created (empty) where missing.
    fn ensure<'a>(root: &'a mut KeySpec, path: &str) -> &'a mut KeySpec {
        let mut k = root;
        for part in path.split('\\') {
            let i = match k
                .subkeys
                .iter()
                .position(|s| s.name.eq_ignore_ascii_case(part))
            {
                Some(i) => i,
                None => {
                    k.subkeys.push(KeySpec::new(part));
                    k.subkeys.len() - 1
                }
            };
            k = &mut k.subkeys[i];
        }
        k
    }

    fn set(root: &mut KeySpec, path: &str, name: &str, data: Data) {
        let k = ensure(root, path);
        k.values.retain(|v| !v.name.eq_ignore_ascii_case(name));
        k.values.push(crate::fixtures::build::ValueSpec {
            name: name.into(),
            data,
        });
    }

    fn codes(findings: &[Finding]) -> Vec<(&'static str, String)> {
        let mut v: Vec<_> = findings.iter().map(|f| (f.code, f.key.clone())).collect();
        v.sort();
        v
    }

    #[test]
    fn clean_fixtures_have_no_flags_and_every_key_is_reported() {
        let (sys, sw) = (build(&system(SystemVariant::Modern)), build(&software()));
        let (s, w) = (Reader::new(&sys).unwrap(), Reader::new(&sw).unwrap());
        let hives = Hives {
            system: &s,
            software: Some(&w),
            sam: None,
            security: None,
        };
        let f = forensic_section(hives, "SRC").unwrap();
        assert!(f.flags.is_empty(), "{:?}", codes(&f.flags));
        // 4 keys per control set, the policy key, 2 x 6 IFEO keys.
        assert_eq!(f.keys.len(), 4 * 2 + 1 + 12);
        let rdp = f
            .keys
            .iter()
            .find(|k| k.key == format!(r"ControlSet001\{RDP_TCP_PATH}"))
            .unwrap();
        let KeyState::Present { last_written, .. } = rdp.state else {
            panic!("{:?}", rdp.state);
        };
        assert_eq!(last_written.0, crate::fixtures::FIXTURE_TIME);
        assert!(
            f.keys
                .iter()
                .any(|k| k.key.ends_with(r"\sethc.exe")
                    && matches!(k.state, KeyState::Missing { .. }))
        );
    }

    /// On a client edition (InstallationType Client) Remote Assistance on
    /// is what Windows ships: reported, not flagged; nor without SOFTWARE
    /// (the edition unknown).
    #[test]
    fn remote_assistance_on_a_client_edition_is_not_flagged() {
        let mut spec = system(SystemVariant::Modern);
        let ra = format!(r"ControlSet001\{REMOTE_ASSISTANCE_PATH}");
        set(&mut spec.root, &ra, "fAllowToGetHelp", Data::Dword(1));
        let mut client = software();
        set(
            &mut client.root,
            CURRENT_VERSION_PATH,
            "InstallationType",
            Data::Sz("Client".into()),
        );
        let (sys, sw) = (build(&spec), build(&client));
        let (s, w) = (Reader::new(&sys).unwrap(), Reader::new(&sw).unwrap());
        for software in [Some(&w), None] {
            let hives = Hives {
                system: &s,
                software,
                sam: None,
                security: None,
            };
            let f = forensic_section(hives, "SRC").unwrap();
            assert!(f.flags.is_empty(), "{:?}", codes(&f.flags));
            let ra_key = f.keys.iter().find(|k| k.key == ra).unwrap();
            assert!(ra_key
                .values
                .iter()
                .any(|v| v.name == "fAllowToGetHelp" && v.state.dword() == Some(1)));
        }
    }

    #[test]
    fn unusual_values_are_flagged_in_inspect_and_diagnose_alike() {
        let mut spec = system(SystemVariant::Modern);
        let rdp = format!(r"ControlSet001\{RDP_TCP_PATH}");
        set(
            &mut spec.root,
            &rdp,
            "InitialProgram",
            Data::Sz(r"C:\x\kiosk.exe".into()),
        );
        set(&mut spec.root, &rdp, "Shadow", Data::Dword(2));
        // Shadow 1 (with consent) and an empty InitialProgram are normal.
        let rdp2 = format!(r"ControlSet002\{RDP_TCP_PATH}");
        set(&mut spec.root, &rdp2, "Shadow", Data::Dword(1));
        set(
            &mut spec.root,
            &rdp2,
            "InitialProgram",
            Data::Sz(String::new()),
        );
        let ts = format!(r"ControlSet001\{TS_PATH}");
        set(&mut spec.root, &ts, "fAllowUnsolicited", Data::Dword(1));
        // Remote Assistance on: flagged on a server edition (the SOFTWARE
        // fixture's InstallationType is Server), the policy copy too.
        let ra = format!(r"ControlSet001\{REMOTE_ASSISTANCE_PATH}");
        set(&mut spec.root, &ra, "fAllowToGetHelp", Data::Dword(1));
        let wds = format!(r"ControlSet001\{RDPWD_PATH}");
        set(
            &mut spec.root,
            &wds,
            "StartupPrograms",
            Data::Sz("rdpclip,evil".into()),
        );
        let wds2 = format!(r"ControlSet002\{RDPWD_PATH}");
        set(
            &mut spec.root,
            &wds2,
            "StartupPrograms",
            Data::Sz("RDPCLIP".into()),
        );
        let mut sw = software();
        let ifeo = format!(r"{}\utilman.exe", IFEO_PATHS[0]);
        set(
            &mut sw.root,
            &ifeo,
            "Debugger",
            Data::Sz(r"C:\Windows\System32\cmd.exe".into()),
        );
        // A key with other values and no Debugger is normal.
        let osk = format!(r"{}\osk.exe", IFEO_PATHS[1]);
        set(&mut sw.root, &osk, "GlobalFlag", Data::Dword(0));
        set(&mut sw.root, POLICY_PATH, "Shadow", Data::Dword(4));
        set(&mut sw.root, POLICY_PATH, "fAllowToGetHelp", Data::Dword(1));
        let (sys, sw) = (build(&spec), build(&sw));
        let (s, w) = (Reader::new(&sys).unwrap(), Reader::new(&sw).unwrap());
        let hives = Hives {
            system: &s,
            software: Some(&w),
            sam: None,
            security: None,
        };
        let f = forensic_section(hives, "SRC").unwrap();
        let want = vec![
            ("ifeo-debugger", ifeo.clone()),
            ("initial-program-set", rdp.clone()),
            ("rdpwd-startup-programs", wds.clone()),
            ("remote-assistance-on-server", ra.clone()),
            ("remote-assistance-on-server", POLICY_PATH.to_string()),
            ("remote-assistance-unsolicited", ts.clone()),
            ("shadow-without-consent", rdp.clone()),
            ("shadow-without-consent", POLICY_PATH.to_string()),
        ];
        assert_eq!(codes(&f.flags), want);
        let d = diagnose_hives(hives, "SRC").unwrap();
        let in_diagnose: Vec<Finding> = d
            .findings
            .into_iter()
            .filter(|x| x.row == FORENSIC_ROW)
            .collect();
        assert_eq!(codes(&in_diagnose), want);
        assert!(in_diagnose.iter().all(|x| x.severity == Severity::Warning
            && x.fix.rdp_repair.is_none()
            && x.last_write_filetime == Some(crate::fixtures::FIXTURE_TIME)));
        let hijack = in_diagnose
            .iter()
            .find(|x| x.code == "ifeo-debugger")
            .unwrap();
        assert_eq!(hijack.found, r"C:\Windows\System32\cmd.exe");
        assert_eq!(
            hijack.fix.command.as_deref(),
            Some(
                r"ntrescue delete-value SRC 'SOFTWARE\Microsoft\Windows NT\CurrentVersion\Image File Execution Options\utilman.exe' Debugger"
            )
        );
    }
}

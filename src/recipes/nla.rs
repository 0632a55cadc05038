// SPDX-License-Identifier: GPL-2.0-or-later
//! `nla disable|enable`.

use std::path::{Path, PathBuf};

use crate::error::{Code, Result, Warning};
use crate::hive::name::HiveName;
use crate::hive::reader::NamedValue;
use crate::hive::release::{self, Release};
use crate::recipes::paths::{NLA_VALUES, POLICY_PATH, RDP_TCP_PATH};
use crate::recipes::policy::{policy_units, with_policy};
use crate::recipes::{control_sets, needs};
use crate::report::nla::{self as rule, planned_dword};
use crate::report::Nla;
use crate::storage::source::LoadedFile;
use crate::storage::source::Located;
use crate::storage::target::TargetInfo;
use crate::write::backup;
use crate::write::engine;
use crate::write::outcome::Change;
use crate::write::outcome::EditReport;
use crate::write::plan::{EditOptions, Needs, Op, Unit, Views};

/// Direction of the NLA fix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NlaMode {
    /// 0/0/0: Microsoft's documented workaround to turn NLA off.
    Disable,
    /// 1/1/1 for [`nla`]; [`nla_full`] restores the values recorded before
    /// the last `nla disable` instead, or the version's defaults, and never
    /// lowers a value.
    Enable,
}

/// First build of Windows 8 / Server 2012, where SecurityLayer 2 (TLS) is
/// the default (rdp-causes.md row 6); before it, 1 (Negotiate).
const BUILD_WIN8: u32 = 9200;

/// What `nla enable` puts back, per control set and value.
#[derive(Clone, Debug, Default)]
pub struct Previous {
    /// The bundle the values come from.
    pub bundle: Option<PathBuf>,
    /// (control set, value, DWORD before the disable; `None` when absent).
    pub values: Vec<(String, String, Option<u32>)>,
}

/// Whether bundle hive file `saved` is the hive at `now`: the same NTFS
/// volume (serial) and file (MFT record and path), or the same file path.
fn same_file(saved: &TargetInfo, now: &TargetInfo) -> bool {
    match (saved, now) {
        (
            TargetInfo::Ntfs {
                volume_serial: a,
                mft_record: ra,
                path: pa,
                ..
            },
            TargetInfo::Ntfs {
                volume_serial: b,
                mft_record: rb,
                path: pb,
                ..
            },
        ) => a == b && ra == rb && pa.eq_ignore_ascii_case(pb),
        (TargetInfo::File { path: a }, TargetInfo::File { path: b }) => a == b,
        _ => false,
    }
}

/// The values recorded before the last `nla disable` of the SYSTEM hive
/// of `located`, from the bundles under `root`. A bundle matches by file
/// identity (volume serial + MFT record on a raw volume, the path for a
/// file) or by hive identity (the hive still holds exactly the bytes that
/// disable wrote). The newest match by file identity wins; only without
/// one, the newest by hive identity (two machines' hives made from one
/// image can hold the same bytes, never the same volume and record).
pub fn previous_values(located: &Located, root: &Path) -> Previous {
    let now = located.system.primary.target();
    let mut current_sha: Option<Option<String>> = None;
    // Newest match by file identity [0] and by hive identity only [1].
    let mut best: [Option<(String, PathBuf, Vec<Change>)>; 2] = [None, None];
    let Ok(dirs) = std::fs::read_dir(root) else {
        return Previous::default();
    };
    for dir in dirs.flatten().map(|d| d.path()) {
        let Ok(m) = backup::load(&dir) else { continue };
        if m.operation != NlaMode::Disable.command() {
            continue;
        }
        let Some(h) = m.hives.iter().find(|h| h.name == HiveName::System) else {
            continue;
        };
        let by_file = h
            .files
            .iter()
            .any(|f| f.role == crate::write::backup::FileRole::Hive && same_file(&f.target, &now));
        let mut by_hive = || {
            let sha = current_sha.get_or_insert_with(|| {
                LoadedFile::read(&located.system.primary)
                    .ok()
                    .map(|f| f.sha256)
            });
            sha.as_deref() == Some(h.expected_after_sha256.as_str())
        };
        let slot = if by_file {
            0
        } else if by_hive() {
            1
        } else {
            continue;
        };
        if best[slot].as_ref().is_none_or(|(c, ..)| m.created > *c) {
            best[slot] = Some((m.created.clone(), dir.clone(), m.changes.clone()));
        }
    }
    let [by_file, by_hive] = best;
    let Some((_, dir, changes)) = by_file.or(by_hive) else {
        return Previous::default();
    };
    Previous {
        bundle: Some(dir),
        values: changes
            .into_iter()
            .filter(|c| c.hive == HiveName::System && NLA_VALUES.contains(&c.value.as_str()))
            .map(|c| {
                let old = c.old.as_ref().and_then(|o| o.as_u64()).map(|o| o as u32);
                (c.control_set, c.value, old)
            })
            .collect(),
    }
}

/// What is known of the Windows version, for the defaults of `nla enable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// SOFTWARE `CurrentBuild`.
    Build(u32),
    /// SOFTWARE gives no build; SYSTEM's markers tell the release.
    System(Release),
    /// Neither tells.
    Unknown,
}

impl Version {
    /// The version of the hives of an edit: SOFTWARE `CurrentBuild`, else
    /// SYSTEM's markers ([`crate::hive::release`]).
    pub fn of(views: &Views<'_>) -> Version {
        let build = views.software.and_then(|sw| {
            let cv = r"Microsoft\Windows NT\CurrentVersion";
            match sw.value(&sw.key(cv), cv, "CurrentBuild") {
                crate::hive::reader::ValueState::Present { data, .. } => {
                    data.as_str().and_then(|s| s.trim().parse().ok())
                }
                _ => None,
            }
        });
        match (build, views.system.and_then(release::from_system)) {
            (Some(b), _) => Version::Build(b),
            (None, Some(r)) => Version::System(r),
            (None, None) => Version::Unknown,
        }
    }

    /// The Windows defaults for SecurityLayer, UserAuthentication and
    /// fAllowSecProtocolNegotiation: 2/1/1 from Windows 8 / Server 2012 on
    /// and when the version is unknown (2, TLS, the stronger value), 1/1/1
    /// before (1, Negotiate, picks TLS whenever the client can).
    fn defaults(self) -> [u32; 3] {
        match self {
            Version::Build(b) if b < BUILD_WIN8 => [1, 1, 1],
            Version::System(Release::BeforeWin8) => [1, 1, 1],
            _ => [2, 1, 1],
        }
    }

    /// Where the defaults come from, for the warning.
    fn describe(self) -> String {
        let sl = self.defaults()[0];
        let what = match self {
            Version::Build(b) => format!("Windows build {b} (SOFTWARE CurrentBuild)"),
            Version::System(Release::Win8OrLater) => "Windows 8 / Server 2012 or later, read from SYSTEM (no build in SOFTWARE; SYSTEM has the DriverDatabase key or the BasicDisplay driver)".into(),
            Version::System(Release::BeforeWin8) => "a release before Windows 8, read from SYSTEM (no build in SOFTWARE; SYSTEM has neither the DriverDatabase key nor the BasicDisplay driver)".into(),
            Version::Unknown => "an unknown Windows version (no build in SOFTWARE, and SYSTEM does not tell): the stronger value is chosen".into(),
        };
        format!("{what}: SecurityLayer {sl}, UserAuthentication 1, fAllowSecProtocolNegotiation 1")
    }
}

/// The values `nla enable` writes in control set `set`: each recorded one
/// that does not leave NLA off (a SecurityLayer or UserAuthentication of 0
/// does), else the version's default — so a SecurityLayer 2 recorded on a
/// machine whose NLA was off comes back as 2, not as Windows 7's default
/// 1; never below what is there (SecurityLayer and UserAuthentication only
/// go up).
fn enable_values(
    set: &str,
    prev: &Previous,
    version: Version,
    current: [Option<u32>; 3],
) -> [u32; 3] {
    let def = version.defaults();
    let recorded: Vec<Option<u32>> = NLA_VALUES
        .iter()
        .map(|v| {
            prev.values
                .iter()
                .find(|(s, n, _)| s == set && n == v)
                .and_then(|(_, _, old)| *old)
        })
        .collect();
    let mut out = [0u32; 3];
    for i in 0..3 {
        // A recorded 0 of SecurityLayer or UserAuthentication is no
        // "enable": the default instead.
        let want = match recorded[i] {
            Some(v) if i == 2 || v != 0 => v,
            _ => def[i],
        };
        out[i] = match (i, current[i]) {
            // SecurityLayer 0..=2 and UserAuthentication: higher is stronger.
            (0, Some(c)) if c <= 2 => want.max(c),
            (1, Some(c)) => want.max(c.min(1)),
            _ => want,
        };
    }
    out
}

/// The `nla enable` units: per control set, the values [`enable_values`]
/// chooses, created when missing; the warning says where the values come
/// from.
fn enable_units(views: &Views<'_>, prev: &Previous) -> Result<Vec<Unit>> {
    let system = views.system.expect("SYSTEM is loaded");
    let version = Version::of(views);
    views.notes.borrow_mut().push(match &prev.bundle {
        Some(b) => Warning::new(Code::ValuesFromBundle, format!(
            "restoring the values recorded before the last `nla disable` (bundle {}), never lowering one; values and sets without a record, and recorded values that would leave NLA off, get the defaults of {}",
            b.display(),
            version.describe()
        )),
        None => Warning::new(Code::ValuesFromDefaults, format!(
            "no bundle of an earlier `nla disable` of this hive: the defaults of {} are written, never lowering a value",
            version.describe()
        )),
    });
    Ok(control_sets(system)?
        .into_iter()
        .map(|set| {
            let key = format!(r"{set}\{RDP_TCP_PATH}");
            let k = system.key(&key);
            let current = NLA_VALUES.map(|v| system.value(&k, &key, v).dword());
            let vals = enable_values(&set, prev, version, current);
            Unit {
                ops: NLA_VALUES
                    .iter()
                    .zip(vals)
                    .map(|(v, d)| Op::dword(HiveName::System, key.clone(), v, d, true))
                    .collect(),
                label: set,
            }
        })
        .collect())
}

impl NlaMode {
    /// The DWORD written to all three values.
    pub fn value(self) -> u32 {
        match self {
            NlaMode::Disable => 0,
            NlaMode::Enable => 1,
        }
    }

    /// "nla disable" / "nla enable".
    pub fn command(self) -> &'static str {
        match self {
            NlaMode::Disable => "nla disable",
            NlaMode::Enable => "nla enable",
        }
    }
}

/// The NLA recipe: in every control set, SecurityLayer,
/// UserAuthentication and fAllowSecProtocolNegotiation under RDP-Tcp set to
/// 0 (disable) or 1 (enable). Values are changed in place; a set missing one
/// is refused as a whole unless `create` allows creating it.
pub fn nla_units(views: &Views<'_>, mode: NlaMode, create: bool) -> Result<Vec<Unit>> {
    let system = views.system.expect("SYSTEM is loaded");
    Ok(control_sets(system)?
        .into_iter()
        .map(|set| Unit {
            ops: NLA_VALUES
                .iter()
                .map(|v| {
                    Op::dword(
                        HiveName::System,
                        format!(r"{set}\{RDP_TCP_PATH}"),
                        v,
                        mode.value(),
                        create,
                    )
                })
                .collect(),
            label: set,
        })
        .collect())
}

/// A warning when SOFTWARE is read but its Group Policy copies of the NLA
/// values cannot be: whether they override the fix is then unknown.
fn policy_unreadable(views: &Views<'_>) {
    let Some(sw) = views.software else {
        return;
    };
    let key = sw.key(POLICY_PATH);
    let error = NLA_VALUES
        .iter()
        .find_map(|n| match sw.value(&key, POLICY_PATH, n) {
            crate::hive::reader::ValueState::Unreadable { error } => Some(error),
            _ => None,
        });
    if let Some(error) = error {
        views.notes.borrow_mut().push(Warning::new(
            Code::PolicyUnreadable,
            format!(
                "the Group Policy values in SOFTWARE\\{POLICY_PATH} could not be read ({error}): \
                 whether Group Policy overrides this fix is unknown"
            ),
        ));
    }
}

/// Whether the Group Policy copies of the NLA values would make the
/// effective NLA state other than what `mode` writes, by the rule
/// `inspect`'s effective verdict uses ([`crate::report::nla`]): the values
/// the fix leaves, overlaid with the present or unreadable policy copies,
/// must give NLA off (disable) or required (enable); an unknown result (an
/// unreadable or non-DWORD policy value) counts as overriding.
pub fn policy_overrides(views: &Views<'_>, mode: NlaMode) -> bool {
    let Some(sw) = views.software else {
        return false;
    };
    let key = sw.key(POLICY_PATH);
    let policy: Vec<NamedValue> = NLA_VALUES
        .iter()
        .map(|n| NamedValue {
            name: n.to_string(),
            state: sw.value(&key, POLICY_PATH, n),
        })
        .collect();
    // What the fix leaves locally: 0/0/0, or NLA on (UserAuthentication 1
    // and a SecurityLayer that is not 0, whatever `enable` restores).
    let local: Vec<NamedValue> = match mode {
        NlaMode::Disable => NLA_VALUES.iter().map(|n| planned_dword(n, 0)).collect(),
        NlaMode::Enable => NLA_VALUES.iter().map(|n| planned_dword(n, 1)).collect(),
    };
    let vals = rule::with_policy(&local, &policy);
    let (nla, _) = rule::nla_of(|n| vals.iter().find(|v| v.name == n).map(|v| &v.state));
    let want = match mode {
        NlaMode::Disable => Nla::Off,
        NlaMode::Enable => Nla::Required,
    };
    nla != want
}

/// Runs `nla disable|enable` on `located`.
pub fn nla(located: &Located, mode: NlaMode, opts: &EditOptions) -> Result<EditReport> {
    let needs = Needs {
        system: true,
        software: false,
        software_required: false,
    };
    engine::run(located, mode.command(), needs, opts, &|v| {
        nla_units(v, mode, false)
    })
}

/// `nla disable|enable` with value creation, optionally removing the Group
/// Policy values that would override it (`include_policy`). `enable`
/// restores what the last `nla disable` of this hive recorded in its
/// bundle under the backup root (`previous_values`), else the Windows
/// version's defaults, and never lowers a value.
pub fn nla_full(
    located: &Located,
    mode: NlaMode,
    include_policy: bool,
    opts: &EditOptions,
) -> Result<EditReport> {
    let prev = match mode {
        NlaMode::Enable => {
            let root = opts
                .backup_root
                .clone()
                .unwrap_or_else(|| PathBuf::from(backup::DEFAULT_ROOT));
            previous_values(located, &root)
        }
        NlaMode::Disable => Previous::default(),
    };
    engine::run(located, mode.command(), needs(include_policy), opts, &|v| {
        let mut units = match mode {
            NlaMode::Disable => nla_units(v, mode, true)?,
            NlaMode::Enable => enable_units(v, &prev)?,
        };
        let want = mode.value();
        policy_unreadable(v);
        let policy = policy_units(v, &NLA_VALUES, &|_, cur| (cur != 0) != (want != 0));
        // Warn only when the policy values really decide the outcome, by the
        // rule inspect's effective verdict uses: NLA is on when
        // UserAuthentication is non-zero and SecurityLayer is not 0.
        let policy = if include_policy || policy_overrides(v, mode) {
            policy
        } else {
            Vec::new()
        };
        with_policy(v, include_policy, &mut units, policy);
        Ok(units)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prev(vals: [Option<u32>; 3]) -> Previous {
        Previous {
            bundle: Some(PathBuf::from("b")),
            values: NLA_VALUES
                .iter()
                .zip(vals)
                .map(|(n, v)| ("ControlSet001".to_string(), n.to_string(), v))
                .collect(),
        }
    }

    #[test]
    fn enable_restores_recorded_values_and_never_lowers() {
        let zero = [Some(0); 3];
        // The demo: 2/1/1 before the disable comes back, not 1/1/1.
        assert_eq!(
            enable_values(
                "ControlSet001",
                &prev([Some(2), Some(1), Some(1)]),
                Version::Unknown,
                zero
            ),
            [2, 1, 1]
        );
        // Another set has no record: defaults by version.
        assert_eq!(
            enable_values(
                "ControlSet002",
                &prev([Some(2), Some(1), Some(1)]),
                Version::Build(20348),
                zero
            ),
            [2, 1, 1]
        );
        assert_eq!(
            enable_values(
                "ControlSet002",
                &Previous::default(),
                Version::Build(7601),
                zero
            ),
            [1, 1, 1]
        );
        // Unknown version: the stronger SecurityLayer 2; SYSTEM's markers
        // decide when SOFTWARE gives no build.
        assert_eq!(
            enable_values(
                "ControlSet002",
                &Previous::default(),
                Version::Unknown,
                zero
            ),
            [2, 1, 1]
        );
        for (r, sl) in [(Release::Win8OrLater, 2), (Release::BeforeWin8, 1)] {
            assert_eq!(
                enable_values(
                    "ControlSet002",
                    &Previous::default(),
                    Version::System(r),
                    zero
                ),
                [sl, 1, 1]
            );
        }
        // A machine whose NLA was off: its SecurityLayer 2 comes back (not
        // Windows 7's default 1), UserAuthentication (0, or not recorded as
        // disable left it) gets the default 1.
        for ua in [None, Some(0)] {
            assert_eq!(
                enable_values(
                    "ControlSet001",
                    &prev([Some(2), ua, Some(1)]),
                    Version::Build(7601),
                    zero
                ),
                [2, 1, 1]
            );
        }
        // Recorded values that leave NLA off are replaced by defaults.
        assert_eq!(
            enable_values(
                "ControlSet001",
                &prev([Some(0), Some(0), Some(1)]),
                Version::Build(20348),
                zero
            ),
            [2, 1, 1]
        );
        // Never lower: SecurityLayer 2 stays 2 on a version whose default is 1.
        let cur = [Some(2), Some(1), Some(1)];
        assert_eq!(
            enable_values(
                "ControlSet001",
                &Previous::default(),
                Version::Build(7601),
                cur
            ),
            [2, 1, 1]
        );
        assert_eq!(
            enable_values(
                "ControlSet001",
                &prev([Some(1), Some(1), Some(1)]),
                Version::Unknown,
                cur
            ),
            [2, 1, 1]
        );
    }
}

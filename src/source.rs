// SPDX-License-Identifier: GPL-2.0-or-later
//! What the operator points ntrescue at, and where the hives are in it.
//!
//! Accepted sources (auto-detected):
//! - a hive file (`.../SYSTEM`): its `.LOG`/`.LOG1`/`.LOG2` are looked up
//!   beside it case-insensitively, and a `SOFTWARE` hive beside it is read too;
//! - a directory: the root of a mounted Windows volume (an ntfs-3g mount or
//!   `D:\`), where `Windows\System32\config\SYSTEM` is resolved
//!   case-insensitively, or a `config` directory itself.
//!
//! Everything here opens files read-only.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::digest::read_hashed;
use crate::error::{Error, Result};

/// The kind of source, as reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    /// A bare hive file.
    HiveFile,
    /// A directory tree (mounted Windows volume or config directory).
    MountedTree,
}

/// A hive and the transaction logs found beside it.
#[derive(Clone, Debug)]
pub struct HivePaths {
    /// The primary hive file.
    pub primary: PathBuf,
    /// `.LOG`, `.LOG1`, `.LOG2` (whichever exist), in that order.
    pub logs: Vec<PathBuf>,
}

/// Where the hives of a source are.
#[derive(Clone, Debug)]
pub struct Located {
    /// Kind of source.
    pub kind: SourceKind,
    /// The path the operator gave.
    pub input: PathBuf,
    /// The SYSTEM hive (or the hive file given).
    pub system: HivePaths,
    /// The SOFTWARE hive, when present.
    pub software: Option<HivePaths>,
}

/// A file read into memory, with its hash.
#[derive(Clone, Debug)]
pub struct LoadedFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// SHA-256 of `bytes`, lower-case hex.
    pub sha256: String,
}

impl LoadedFile {
    /// Reads a file (opened read-only), hashing it while it is read.
    pub fn read(path: &Path) -> Result<Self> {
        let ctx = |e| Error::io(format!("reading {}", path.display()), e);
        let f = fs::File::open(path).map_err(ctx)?;
        let len = f.metadata().map_err(ctx)?.len();
        let (bytes, sha256) = read_hashed(f, len, &path.display().to_string())?;
        Ok(LoadedFile {
            path: path.to_path_buf(),
            bytes,
            sha256,
        })
    }
}

/// A hive and its logs, read into memory.
#[derive(Clone, Debug)]
pub struct LoadedHive {
    /// The primary file.
    pub primary: LoadedFile,
    /// Its logs.
    pub logs: Vec<LoadedFile>,
}

impl LoadedHive {
    /// Reads a hive and its logs.
    pub fn read(paths: &HivePaths) -> Result<Self> {
        Ok(LoadedHive {
            primary: LoadedFile::read(&paths.primary)?,
            logs: paths
                .logs
                .iter()
                .map(|p| LoadedFile::read(p))
                .collect::<Result<_>>()?,
        })
    }
}

/// Finds the entry of `dir` whose name equals `name` ignoring case.
pub fn find_ci(dir: &Path, name: &str) -> Result<Option<PathBuf>> {
    let exact = dir.join(name);
    if exact.exists() {
        return Ok(Some(exact));
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(format!("listing {}", dir.display()), e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("listing {}", dir.display()), e))?;
        if entry
            .file_name()
            .to_string_lossy()
            .eq_ignore_ascii_case(name)
        {
            return Ok(Some(entry.path()));
        }
    }
    Ok(None)
}

/// Log files of `primary`: `<name>.LOG`, `.LOG1`, `.LOG2`, matched
/// case-insensitively (Windows writes upper case, copies and case-sensitive
/// mounts may not).
pub fn find_logs(primary: &Path) -> Result<Vec<PathBuf>> {
    let dir = primary.parent().unwrap_or(Path::new("."));
    let name = primary
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut logs = Vec::new();
    for ext in ["LOG", "LOG1", "LOG2"] {
        if let Some(p) = find_ci(dir, &format!("{name}.{ext}"))? {
            if p.is_file() {
                logs.push(p);
            }
        }
    }
    Ok(logs)
}

fn hive_paths(primary: PathBuf) -> Result<HivePaths> {
    let logs = find_logs(&primary)?;
    Ok(HivePaths { primary, logs })
}

/// Detects what `input` is and where its hives are.
pub fn locate(input: &Path) -> Result<Located> {
    let meta =
        fs::metadata(input).map_err(|e| Error::io(format!("opening {}", input.display()), e))?;
    if meta.is_dir() {
        return locate_tree(input);
    }
    let primary = input.to_path_buf();
    let mut software = None;
    let is_system = primary
        .file_name()
        .is_some_and(|n| n.to_string_lossy().eq_ignore_ascii_case("SYSTEM"));
    if is_system {
        if let Some(dir) = primary.parent() {
            if let Some(sw) = find_ci(dir, "SOFTWARE")?.filter(|p| p.is_file()) {
                software = Some(hive_paths(sw)?);
            }
        }
    }
    Ok(Located {
        kind: SourceKind::HiveFile,
        input: input.to_path_buf(),
        system: hive_paths(primary)?,
        software,
    })
}

fn locate_tree(root: &Path) -> Result<Located> {
    // A config directory given directly, or the root of a Windows volume.
    let config = if find_ci(root, "SYSTEM")?.is_some_and(|p| p.is_file()) {
        Some(root.to_path_buf())
    } else {
        let mut dir = Some(root.to_path_buf());
        for part in ["Windows", "System32", "config"] {
            dir = match dir {
                Some(d) => find_ci(&d, part)?.filter(|p| p.is_dir()),
                None => None,
            };
        }
        dir
    };
    let Some(config) = config else {
        return Err(Error::NotFound(format!(
            "{} has no Windows\\System32\\config directory (is this the Windows volume?)",
            root.display()
        )));
    };
    let Some(system) = find_ci(&config, "SYSTEM")?.filter(|p| p.is_file()) else {
        return Err(Error::NotFound(format!(
            "{} exists but holds no SYSTEM hive",
            config.display()
        )));
    };
    let software = match find_ci(&config, "SOFTWARE")?.filter(|p| p.is_file()) {
        Some(p) => Some(hive_paths(p)?),
        None => None,
    };
    Ok(Located {
        kind: SourceKind::MountedTree,
        input: root.to_path_buf(),
        system: hive_paths(system)?,
        software,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_logs_and_tree_case_insensitively() {
        let t = tempfile::tempdir().unwrap();
        let cfg = t.path().join("WINDOWS/system32/Config");
        fs::create_dir_all(&cfg).unwrap();
        for f in ["system", "system.log1", "SYSTEM.LOG2", "Software"] {
            fs::write(cfg.join(f), b"x").unwrap();
        }
        let l = locate(t.path()).unwrap();
        assert_eq!(l.kind, SourceKind::MountedTree);
        assert!(l.system.primary.ends_with("system"));
        let logs: Vec<_> = l
            .system
            .logs
            .iter()
            .map(|p| p.file_name().unwrap().to_owned())
            .collect();
        assert_eq!(logs, ["system.log1", "SYSTEM.LOG2"]);
        assert!(l.software.is_some());
    }

    #[test]
    fn tree_without_system_is_not_found() {
        let t = tempfile::tempdir().unwrap();
        fs::create_dir_all(t.path().join("Windows/System32/config")).unwrap();
        let e = locate(t.path()).unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::NotFound);
        let e = locate(&t.path().join("Windows")).unwrap_err();
        assert_eq!(e.class(), crate::ErrorClass::NotFound);
    }
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! A fuzz input written to a scratch image file (the tool reads disks and
//! images through file handles), deleted when the run ends: libFuzzer
//! exits between runs when its time is up, so none is left behind.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The scratch image of one run.
pub struct Scratch(PathBuf);

impl Scratch {
    /// Writes `data` to `ntrescue-fuzz-TAG-PID.img` in the temp directory.
    pub fn new(tag: &str, data: &[u8]) -> Self {
        let path =
            std::env::temp_dir().join(format!("ntrescue-fuzz-{tag}-{}.img", std::process::id()));
        let mut f = std::fs::File::create(&path).expect("scratch image");
        f.write_all(data).expect("scratch image");
        Scratch(path)
    }

    /// Its path.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

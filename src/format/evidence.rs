// SPDX-License-Identifier: GPL-2.0-or-later
//! Forensic evidence containers, told by their signature at byte 0. Their
//! sectors are compressed in chunks (EWF) or stored in segments (AFF), so
//! they cannot be read as a raw disk: the operator exposes them raw first,
//! read-only, with the format's own FUSE tool.

/// EWF version 1 (EnCase `.E01`, also written by ewfacquire, FTK Imager and
/// guymager): "EVF" 0x09 0x0d 0x0a 0xff 0x00 (libewf, "Expert Witness
/// Compression Format", section 2.1.1).
pub const EWF1_MAGIC: &[u8] = b"EVF\x09\x0d\x0a\xff\x00";
/// EWF version 2 (EnCase 7 `.Ex01`): "EVF2" 0x0d 0x0a 0x81 0x00 (libewf,
/// "Expert Witness Compression Format 2", section 2.1.1).
pub const EWF2_MAGIC: &[u8] = b"EVF2\x0d\x0a\x81\x00";
/// AFF version 1 (`.aff`, afflib): "AFF10" CR LF (afflib's `AF_HEADER`,
/// written with its terminating NUL, which is not needed to tell it).
pub const AFF1_MAGIC: &[u8] = b"AFF10\r\n";
/// An evidence container found at byte 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Evidence {
    /// What it is, for the error message.
    pub what: &'static str,
    /// The command that exposes it as a raw image, `{}` standing for the
    /// image path.
    pub expose: &'static str,
    /// What to give ntrescue after it, and where the tool comes from.
    pub then: &'static str,
}

const KNOWN: [(&[u8], Evidence); 3] = [
    (
        EWF1_MAGIC,
        Evidence {
            what: "an EWF (EnCase E01) evidence image",
            expose: "ewfmount {} /mnt/ewf",
            then: "then give /mnt/ewf/ewf1 (ewfmount: libewf's tools, Debian package ewf-tools)",
        },
    ),
    (
        EWF2_MAGIC,
        Evidence {
            what: "an EWF2 (EnCase Ex01) evidence image",
            expose: "ewfmount {} /mnt/ewf",
            then: "then give /mnt/ewf/ewf1 (a libewf with EWF2 support is needed)",
        },
    ),
    (
        AFF1_MAGIC,
        Evidence {
            what: "an AFF (Advanced Forensic Format) evidence image",
            expose: "affuse {} /mnt/aff",
            then:
                "then give the .raw file it shows in /mnt/aff (affuse: Debian package afflib-tools)",
        },
    ),
];

/// The evidence container `head` (the first bytes of a file) starts, if any.
pub fn evidence_format(head: &[u8]) -> Option<Evidence> {
    KNOWN
        .iter()
        .find(|(magic, _)| head.starts_with(magic))
        .map(|(_, e)| *e)
}

impl Evidence {
    /// The command line that exposes `path` raw.
    pub fn command_for(&self, path: &str) -> String {
        self.expose.replacen("{}", path, 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_are_told_by_their_magic() {
        let mut e01 = EWF1_MAGIC.to_vec();
        // Segment number 1 and the fields after it (libewf: u8 0x01, u16 1).
        e01.extend_from_slice(&[0x01, 0x01, 0x00, 0x00, 0x00]);
        let e = evidence_format(&e01).unwrap();
        assert!(e.what.contains("E01"));
        assert!(e
            .command_for("/ev/disk.E01")
            .starts_with("ewfmount /ev/disk.E01 /mnt/ewf"));
        let mut aff = AFF1_MAGIC.to_vec();
        aff.extend_from_slice(b"\x00AFF\x00");
        let a = evidence_format(&aff).unwrap();
        assert!(a.command_for("x.aff").starts_with("affuse x.aff /mnt/aff"));
        assert!(evidence_format(EWF2_MAGIC).unwrap().what.contains("Ex01"));
        // A prefix of a magic, a regf hive, an MBR: none of them.
        assert_eq!(evidence_format(&EWF1_MAGIC[..7]), None);
        assert_eq!(evidence_format(b"regf\x01\x00\x00\x00"), None);
        assert_eq!(evidence_format(&[0u8; 512]), None);
        assert_eq!(evidence_format(b"AFF10\r"), None);
    }
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! Partition tables: MBR (with extended partitions) and GPT (protective MBR,
//! header and entry-array CRC32, fallback to the backup header), for 512-
//! and 4096-byte logical sectors.
//!
//! Sources: UEFI Specification 2.10 §5.2 (MBR) and §5.3 (GPT header and
//! entries); the MBR extended-partition (EBR) chain as documented by
//! Microsoft and in util-linux `fdisk`.

use crate::error::{Error, Result};
use crate::util::bytes::{slice, u32_at, u64_at};

/// MBR boot signature at offset 510.
const MBR_SIGNATURE: [u8; 2] = [0x55, 0xAA];
/// First MBR partition entry.
const MBR_TABLE: usize = 446;
/// MBR type of a GPT protective partition.
const MBR_TYPE_PROTECTIVE: u8 = 0xEE;
/// MBR types of extended partitions (CHS, LBA, Linux).
const MBR_TYPES_EXTENDED: [u8; 3] = [0x05, 0x0F, 0x85];
/// GPT header signature.
const GPT_SIGNATURE: &[u8; 8] = b"EFI PART";
/// Most GPT entries accepted (128 is the usual count; 1024 leaves room).
const GPT_MAX_ENTRIES: u32 = 1024;
/// Most extended partitions followed.
const EBR_MAX: usize = 128;

/// Kind of partition table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    /// GUID partition table.
    Gpt,
    /// Master boot record.
    Mbr,
    /// No table: a bare volume.
    None,
}

impl TableKind {
    /// How the table is named to an operator.
    pub fn label(self) -> &'static str {
        match self {
            TableKind::Gpt => "GPT",
            TableKind::Mbr => "MBR",
            TableKind::None => "no",
        }
    }
}

/// One partition.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct Partition {
    /// 1-based number, as the OS numbers it (MBR logical partitions from 5).
    pub number: u32,
    /// Absolute start, bytes.
    pub start: u64,
    /// Length, bytes.
    pub length: u64,
    /// Type: GUID (GPT) or `0x07`-style hex (MBR).
    pub type_id: String,
    /// Human name of the type.
    pub type_name: &'static str,
    /// GPT partition name.
    pub name: String,
}

/// A parsed partition table.
#[derive(Clone, Debug, serde::Serialize, schemars::JsonSchema)]
pub struct Table {
    /// Kind.
    pub kind: TableKind,
    /// Logical sector size the table was found with.
    pub sector_size: u32,
    /// Partitions (a bare volume yields one covering the whole source).
    pub partitions: Vec<Partition>,
    /// Non-fatal findings (e.g. primary GPT header damaged, backup used).
    pub warnings: Vec<String>,
}

/// The IEEE CRC-32 of each byte value (reflected polynomial 0xEDB88320),
/// built at compile time.
const CRC32_TABLE: [u32; 256] = {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut k = 0;
        while k < 8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
            k += 1;
        }
        t[i] = crc;
        i += 1;
    }
    t
};

/// IEEE CRC-32 (the GPT checksum), a byte at a time through the table.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc = (crc >> 8) ^ CRC32_TABLE[((crc ^ u32::from(b)) & 0xFF) as usize];
    }
    !crc
}

fn guid_text(g: &[u8]) -> String {
    format!(
        "{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{}",
        u32::from_le_bytes([g[0], g[1], g[2], g[3]]),
        u16::from_le_bytes([g[4], g[5]]),
        u16::from_le_bytes([g[6], g[7]]),
        g[8],
        g[9],
        g[10..16]
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<String>()
    )
}

fn gpt_type_name(guid: &str) -> &'static str {
    match guid {
        "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7" => "Microsoft basic data",
        "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" => "EFI system",
        "E3C9E316-0B5C-4DB8-817D-F92DF00215AE" => "Microsoft reserved",
        "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC" => "Windows recovery",
        "5808C8AA-7E8F-42E0-85D2-E1E90434CFB3" => "Windows LDM metadata",
        "AF9B60A0-1431-4F62-BC68-3311714A69AD" => "Windows LDM data",
        "0FC63DAF-8483-4772-8E79-3D69D8477DE4" => "Linux filesystem",
        _ => "unknown",
    }
}

fn mbr_type_name(t: u8) -> &'static str {
    match t {
        0x07 => "NTFS/exFAT",
        0x0B | 0x0C => "FAT32",
        0x27 => "Windows recovery",
        0x83 => "Linux",
        0x05 | 0x0F | 0x85 => "extended",
        0xEE => "GPT protective",
        _ => "unknown",
    }
}

/// Reads `len` bytes at `off` through `read`.
pub type ReadAt<'a> = dyn FnMut(u64, usize) -> Result<Vec<u8>> + 'a;

fn gpt_at(
    read: &mut ReadAt<'_>,
    lba: u64,
    sector: u64,
    disk_len: u64,
) -> Result<(Vec<Partition>, u64)> {
    let off = lba * sector;
    let hdr = read(off, sector as usize)?;
    if &hdr[..8] != GPT_SIGNATURE {
        return Err(Error::BadSignature {
            what: "GPT header",
            offset: off,
            expected: "EFI PART",
            found: hdr[..8].to_vec(),
        });
    }
    let size = u32_at(&hdr, off, 12, "GPT header size")? as usize;
    if !(92..=sector as usize).contains(&size) {
        return Err(Error::Invalid {
            what: "GPT header size",
            offset: off + 12,
            detail: format!("{size}"),
        });
    }
    let mut h = hdr[..size].to_vec();
    let stored = u32_at(&h, off, 16, "GPT header CRC")?;
    h[16..20].fill(0);
    if crc32(&h) != stored {
        return Err(Error::Invalid {
            what: "GPT header CRC32",
            offset: off + 16,
            detail: format!("stored {stored:#010x}, computed {:#010x}", crc32(&h)),
        });
    }
    let backup_lba = u64_at(&hdr, off, 32, "GPT backup LBA")?;
    let entries_lba = u64_at(&hdr, off, 72, "GPT entries LBA")?;
    let count = u32_at(&hdr, off, 80, "GPT entry count")?;
    let esize = u32_at(&hdr, off, 84, "GPT entry size")? as usize;
    let ecrc = u32_at(&hdr, off, 88, "GPT entries CRC")?;
    if count > GPT_MAX_ENTRIES || !(128..=4096).contains(&esize) || !esize.is_multiple_of(8) {
        return Err(Error::Invalid {
            what: "GPT entry array",
            offset: off + 80,
            detail: format!("{count} entries of {esize} bytes"),
        });
    }
    let arr_off = entries_lba
        .checked_mul(sector)
        .filter(|o| {
            o.checked_add(count as u64 * esize as u64)
                .is_some_and(|e| e <= disk_len)
        })
        .ok_or_else(|| Error::Invalid {
            what: "GPT entry array",
            offset: off + 72,
            detail: "outside the disk".into(),
        })?;
    let arr = read(arr_off, count as usize * esize)?;
    if crc32(&arr) != ecrc {
        return Err(Error::Invalid {
            what: "GPT entry array CRC32",
            offset: off + 88,
            detail: format!("stored {ecrc:#010x}, computed {:#010x}", crc32(&arr)),
        });
    }
    let parts = gpt_entries(&arr, arr_off, count as usize, esize, sector, disk_len)?;
    Ok((parts, backup_lba))
}

/// The used entries of a GPT entry array read from `arr_off`.
fn gpt_entries(
    arr: &[u8],
    arr_off: u64,
    count: usize,
    esize: usize,
    sector: u64,
    disk_len: u64,
) -> Result<Vec<Partition>> {
    let mut parts = Vec::new();
    for i in 0..count {
        let e = slice(arr, arr_off, i * esize, esize, "GPT entry")?;
        if e[..16].iter().all(|&b| b == 0) {
            continue;
        }
        let first = u64_at(e, 0, 32, "first LBA")?;
        let last = u64_at(e, 0, 40, "last LBA")?;
        let start = first.checked_mul(sector);
        let end = last.checked_add(1).and_then(|l| l.checked_mul(sector));
        let (Some(start), Some(end)) = (start, end) else {
            continue;
        };
        if last < first || end > disk_len {
            return Err(Error::Invalid {
                what: "GPT partition entry",
                offset: arr_off + (i * esize) as u64 + 32,
                detail: format!("LBA {first}..={last} lies outside the disk"),
            });
        }
        let ty = guid_text(&e[..16]);
        let name: Vec<u16> = e[56..128.min(esize)]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&c| c != 0)
            .collect();
        parts.push(Partition {
            number: i as u32 + 1,
            start,
            length: end - start,
            type_name: gpt_type_name(&ty),
            type_id: ty,
            name: String::from_utf16_lossy(&name),
        });
    }
    Ok(parts)
}

fn mbr_entries(sector0: &[u8]) -> Vec<(u8, u32, u32)> {
    (0..4)
        .map(|i| {
            let e = &sector0[MBR_TABLE + i * 16..MBR_TABLE + (i + 1) * 16];
            (
                e[4],
                u32::from_le_bytes([e[8], e[9], e[10], e[11]]),
                u32::from_le_bytes([e[12], e[13], e[14], e[15]]),
            )
        })
        .collect()
}

/// A GPT behind a protective MBR: LBA 1 at `logical` bytes first, then at
/// the other common sector size; the backup header in the last sector when
/// the primary is damaged.
fn parse_gpt(read: &mut ReadAt<'_>, logical: u64, disk_len: u64) -> Result<Table> {
    let mut warnings = Vec::new();
    let mut sizes = vec![logical];
    sizes.extend([512u64, 4096].into_iter().filter(|&s| s != logical));
    for sector in sizes {
        if disk_len < 2 * sector {
            continue;
        }
        match gpt_at(read, 1, sector, disk_len) {
            Ok((partitions, _)) => {
                return Ok(Table {
                    kind: TableKind::Gpt,
                    sector_size: sector as u32,
                    partitions,
                    warnings,
                })
            }
            Err(Error::BadSignature { .. }) => continue,
            Err(e) => {
                // Primary damaged: try the backup header in the last sector.
                let last = disk_len / sector - 1;
                match gpt_at(read, last, sector, disk_len) {
                    Ok((partitions, _)) => {
                        warnings.push(format!(
                            "primary GPT header damaged ({e}); the backup header was used"
                        ));
                        return Ok(Table {
                            kind: TableKind::Gpt,
                            sector_size: sector as u32,
                            partitions,
                            warnings,
                        });
                    }
                    Err(_) => return Err(e),
                }
            }
        }
    }
    Err(Error::NotFound(
        "a protective MBR but no GPT header (checked 512- and 4096-byte sectors)".into(),
    ))
}

/// Parses the partition table of a disk of `disk_len` bytes whose logical
/// sector size is `sector` (512 for an image file). `read(off, len)` reads
/// bytes. MBR LBAs count logical sectors; a GPT is looked for at LBA 1 with
/// `sector` first, then with the other common size (an image file does not
/// say which it was made with). `exact` says `sector` is the device's own
/// (a block device); when it is only assumed (an image file) and no MBR
/// partition holds a volume at 512-byte LBAs, 4096-byte LBAs are tried. A
/// source with an NTFS (or BitLocker) boot sector at offset 0 and no table
/// is a bare volume.
pub fn parse(read: &mut ReadAt<'_>, disk_len: u64, sector: u32, exact: bool) -> Result<Table> {
    if !(512..=65536).contains(&sector) || !sector.is_power_of_two() {
        return Err(Error::Invalid {
            what: "logical sector size",
            offset: 0,
            detail: format!("{sector} bytes"),
        });
    }
    let logical = u64::from(sector);
    let s0 = read(0, 512)?;
    let oem = &s0[3..11];
    if oem == b"NTFS    " || oem == b"-FVE-FS-" {
        return Ok(Table {
            kind: TableKind::None,
            sector_size: u32::from(u16::from_le_bytes([s0[11], s0[12]])).max(512),
            partitions: vec![Partition {
                number: 1,
                start: 0,
                length: disk_len,
                type_id: "volume".into(),
                type_name: "bare volume",
                name: String::new(),
            }],
            warnings: Vec::new(),
        });
    }
    if s0[510..512] != MBR_SIGNATURE {
        return Err(Error::BadSignature {
            what: "partition table (MBR)",
            offset: 510,
            expected: "55 AA",
            found: s0[510..512].to_vec(),
        });
    }
    let entries = mbr_entries(&s0);
    if entries.iter().any(|e| e.0 == MBR_TYPE_PROTECTIVE) {
        return parse_gpt(read, logical, disk_len);
    }
    let partitions = mbr_partitions(read, &entries, logical, disk_len);
    if !exact && logical == 512 {
        // An image file has no sector size of its own. A 4Kn disk's MBR
        // counts 4096-byte sectors: when no partition starts with a volume
        // at 512-byte LBAs but one does at 4096-byte LBAs, the image is of
        // such a disk.
        let at_512 = match &partitions {
            Ok(parts) => holds_volume(read, parts),
            Err(_) => false,
        };
        if !at_512 {
            if let Ok(parts) = mbr_partitions(read, &entries, 4096, disk_len) {
                if holds_volume(read, &parts) {
                    return Ok(Table {
                        kind: TableKind::Mbr,
                        sector_size: 4096,
                        partitions: parts,
                        warnings: vec![
                            "MBR LBAs read as 4096-byte sectors: no partition holds a volume at 512-byte LBAs \
                             (an image of a 4Kn disk)"
                                .into(),
                        ],
                    });
                }
            }
        }
    }
    Ok(Table {
        kind: TableKind::Mbr,
        sector_size: logical as u32,
        partitions: partitions?,
        warnings: Vec::new(),
    })
}

/// Whether any of `parts` starts with an NTFS or BitLocker boot sector.
fn holds_volume(read: &mut ReadAt<'_>, parts: &[Partition]) -> bool {
    parts.iter().any(|p| {
        read(p.start, 512).is_ok_and(|b| &b[3..11] == b"NTFS    " || &b[3..11] == b"-FVE-FS-")
    })
}

/// The primary and logical partitions of an MBR whose LBAs count `sector`
/// bytes.
fn mbr_partitions(
    read: &mut ReadAt<'_>,
    entries: &[(u8, u32, u32)],
    sector: u64,
    disk_len: u64,
) -> Result<Vec<Partition>> {
    let mut partitions = Vec::new();
    let mut ext = None;
    for (i, &(ty, lba, count)) in entries.iter().enumerate() {
        if ty == 0 || count == 0 {
            continue;
        }
        if MBR_TYPES_EXTENDED.contains(&ty) {
            ext = Some(u64::from(lba));
            continue;
        }
        partitions.push(mbr_partition(
            i as u32 + 1,
            ty,
            u64::from(lba),
            u64::from(count),
            sector,
            disk_len,
            (MBR_TABLE + i * 16) as u64,
        )?);
    }
    // Logical partitions: the EBR chain, each link relative to the extended start.
    if let Some(ext_start) = ext {
        let mut ebr = ext_start;
        for n in 0..EBR_MAX {
            let at = ebr.checked_mul(sector).ok_or_else(|| Error::Invalid {
                what: "extended partition link",
                offset: 0,
                detail: format!("LBA {ebr} overflows"),
            })?;
            if at.checked_add(512).is_none_or(|e| e > disk_len) {
                return Err(Error::Invalid {
                    what: "extended partition link",
                    offset: at,
                    detail: format!("LBA {ebr} lies outside the disk ({disk_len} bytes)"),
                });
            }
            let s = read(at, 512)?;
            if s[510..512] != MBR_SIGNATURE {
                break;
            }
            let e = mbr_entries(&s);
            let (ty, lba, count) = e[0];
            if ty != 0 && count != 0 {
                partitions.push(mbr_partition(
                    5 + n as u32,
                    ty,
                    ebr + u64::from(lba),
                    u64::from(count),
                    sector,
                    disk_len,
                    at + MBR_TABLE as u64,
                )?);
            }
            let (nty, nlba, _) = e[1];
            if nty == 0 || nlba == 0 {
                break;
            }
            ebr = ext_start + u64::from(nlba);
        }
    }
    Ok(partitions)
}

fn mbr_partition(
    number: u32,
    ty: u8,
    lba: u64,
    count: u64,
    sector: u64,
    disk_len: u64,
    at: u64,
) -> Result<Partition> {
    let (Some(start), Some(length)) = (lba.checked_mul(sector), count.checked_mul(sector)) else {
        return Err(Error::Invalid {
            what: "MBR partition entry",
            offset: at,
            detail: format!("sectors {lba} + {count} of {sector} bytes overflow"),
        });
    };
    if start.checked_add(length).is_none_or(|e| e > disk_len) {
        return Err(Error::Invalid {
            what: "MBR partition entry",
            offset: at,
            detail: format!(
                "sectors {lba}..{} of {sector} bytes lie outside the disk ({disk_len} bytes)",
                lba.saturating_add(count)
            ),
        });
    }
    Ok(Partition {
        number,
        start,
        length,
        type_id: format!("{ty:#04x}"),
        type_name: mbr_type_name(ty),
        name: String::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(img: &[u8]) -> impl FnMut(u64, usize) -> Result<Vec<u8>> + '_ {
        move |off, len| {
            img.get(off as usize..off as usize + len)
                .map(|s| s.to_vec())
                .ok_or(Error::Truncated {
                    what: "disk",
                    offset: off,
                    needed: len as u64,
                    len: img.len() as u64,
                })
        }
    }

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        // The table gives what the bit-at-a-time definition gives.
        let bitwise = |data: &[u8]| {
            let mut crc = 0xFFFF_FFFFu32;
            for &b in data {
                crc ^= u32::from(b);
                for _ in 0..8 {
                    let mask = (crc & 1).wrapping_neg();
                    crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
                }
            }
            !crc
        };
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + i / 256) as u8).collect();
        assert_eq!(crc32(&data), bitwise(&data));
    }

    fn mbr_disk() -> Vec<u8> {
        let mut d = vec![0u8; 4 << 20];
        d[510] = 0x55;
        d[511] = 0xAA;
        let e = &mut d[MBR_TABLE..MBR_TABLE + 16];
        e[4] = 0x07;
        e[8..12].copy_from_slice(&2048u32.to_le_bytes());
        e[12..16].copy_from_slice(&4096u32.to_le_bytes());
        d
    }

    #[test]
    fn mbr_partitions_and_bounds() {
        let d = mbr_disk();
        let t = parse(&mut reader(&d), d.len() as u64, 512, true).unwrap();
        assert_eq!(t.kind, TableKind::Mbr);
        assert_eq!(t.partitions[0].start, 1 << 20);
        assert_eq!(t.partitions[0].length, 2 << 20);
        let mut bad = d.clone();
        bad[MBR_TABLE + 12..MBR_TABLE + 16].copy_from_slice(&100_000u32.to_le_bytes());
        let e = parse(&mut reader(&bad), bad.len() as u64, 512, true)
            .unwrap_err()
            .to_string();
        assert!(e.contains("0x1be"), "{e}");
        let mut none = d.clone();
        none[510] = 0;
        assert!(parse(&mut reader(&none), none.len() as u64, 512, true).is_err());
    }

    /// An 8 MiB MBR disk with one NTFS-type partition at LBA 256, 1024
    /// sectors long.
    fn mbr_lba_256_count_1024() -> Vec<u8> {
        let mut d = vec![0u8; 8 << 20];
        d[510] = 0x55;
        d[511] = 0xAA;
        let e = &mut d[MBR_TABLE..MBR_TABLE + 16];
        e[4] = 0x07;
        e[8..12].copy_from_slice(&256u32.to_le_bytes());
        e[12..16].copy_from_slice(&1024u32.to_le_bytes());
        d
    }

    /// An image file has no sector size: when no MBR partition holds a
    /// volume at 512-byte LBAs but one does at 4096-byte LBAs (a 4Kn disk's
    /// image), the table is read with 4096 and says so; a volume at the
    /// 512-byte place, or a device that reports 512, keeps 512.
    #[test]
    fn image_of_a_4kn_mbr_disk_is_detected_by_its_volume() {
        let d = mbr_lba_256_count_1024();
        let mut img = d.clone();
        img[(1 << 20) + 3..(1 << 20) + 11].copy_from_slice(b"NTFS    ");
        let t = parse(&mut reader(&img), img.len() as u64, 512, false).unwrap();
        assert_eq!((t.sector_size, t.partitions[0].start), (4096, 1 << 20));
        assert_eq!(t.partitions[0].length, 4 << 20);
        assert!(
            t.warnings[0].contains("4096-byte sectors"),
            "{:?}",
            t.warnings
        );
        let t = parse(&mut reader(&img), img.len() as u64, 512, true).unwrap();
        assert_eq!((t.sector_size, t.partitions[0].start), (512, 256 * 512));
        let mut img = d.clone();
        img[256 * 512 + 3..256 * 512 + 11].copy_from_slice(b"NTFS    ");
        let t = parse(&mut reader(&img), img.len() as u64, 512, false).unwrap();
        assert_eq!((t.sector_size, t.partitions[0].start), (512, 256 * 512));
        assert!(t.warnings.is_empty());
    }

    /// MBR LBAs count the disk's logical sectors: on a 4096-byte-sector disk
    /// LBA 256 is byte 1 MiB, and the table reports the size it used.
    #[test]
    fn mbr_lbas_use_the_logical_sector_size() {
        let mut d = mbr_lba_256_count_1024();
        let t = parse(&mut reader(&d), d.len() as u64, 4096, true).unwrap();
        assert_eq!(t.sector_size, 4096);
        assert_eq!(t.partitions[0].start, 1 << 20);
        assert_eq!(t.partitions[0].length, 4 << 20);
        let t = parse(&mut reader(&d), d.len() as u64, 512, true).unwrap();
        assert_eq!((t.sector_size, t.partitions[0].start), (512, 256 * 512));
        // Past the end with 4096-byte sectors.
        d[MBR_TABLE + 12..MBR_TABLE + 16].copy_from_slice(&2000u32.to_le_bytes());
        assert!(parse(&mut reader(&d), d.len() as u64, 4096, true).is_err());
        assert!(parse(&mut reader(&d), d.len() as u64, 1000, true).is_err());
    }
}

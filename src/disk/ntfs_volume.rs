// SPDX-License-Identifier: GPL-2.0-or-later
//! An NTFS volume read without mounting it, through the `ntfs` crate: path
//! lookup through the directory indexes (case-insensitive, NTFS's own
//! upcase table), a file's data runs as absolute device extents (including
//! `$DATA` split across extension records behind `$ATTRIBUTE_LIST`), the
//! volume's identity and dirty flag, and the hibernation-file header.
//!
//! Cost is proportional to what is read: the boot sector, a few MFT records
//! and index blocks, then the file's clusters, one positioned read per run
//! (perf-notes.md: a small buffer for metadata, big positioned reads for
//! data).

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use ntfs::indexes::NtfsFileNameIndex;
use ntfs::structured_values::{NtfsAttributeList, NtfsVolumeFlags};
use ntfs::{Ntfs, NtfsAttributeFlags, NtfsAttributeType, NtfsFile};

use crate::error::{Error, Result};
use crate::extent_store::Extent;

/// Buffer for metadata reads (a large buffer is refilled on every seek).
const META_BUFFER: usize = 4096;

fn nerr(e: ntfs::NtfsError) -> Error {
    Error::Ntfs(e.to_string())
}

/// A byte range of a device or image, read through `Read + Seek`, never
/// past its end.
pub struct Region {
    file: File,
    start: u64,
    len: u64,
    pos: u64,
}

impl Region {
    /// The range `start .. start + len` of `file`.
    pub fn new(file: File, start: u64, len: u64) -> Self {
        Region {
            file,
            start,
            len,
            pos: 0,
        }
    }
}

impl Read for Region {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let n = (buf.len() as u64).min(left) as usize;
        if n == 0 {
            return Ok(0);
        }
        let got = crate::disk::os::read_at(&self.file, &mut buf[..n], self.start + self.pos)?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl Seek for Region {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let new = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
        };
        self.pos = new.ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "seek out of range")
        })?;
        Ok(self.pos)
    }
}

/// Facts about an NTFS volume.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VolumeFacts {
    /// Volume serial number (boot sector), as Windows shows it: `XXXX-XXXX`
    /// is its low 32 bits.
    pub serial: u64,
    /// Label.
    pub label: Option<String>,
    /// NTFS version "3.1".
    pub version: String,
    /// `$Volume` dirty flag: an unclean shutdown that chkdsk must repair.
    pub dirty: bool,
    /// Cluster size, bytes.
    pub cluster_size: u32,
    /// Sector size, bytes.
    pub sector_size: u16,
    /// Volume size, bytes.
    pub size: u64,
}

/// Where a file's data lives.
#[derive(Clone, Debug, serde::Serialize)]
pub struct FileLocation {
    /// Path as given (`Windows\System32\config\SYSTEM`).
    pub path: String,
    /// MFT record number.
    pub mft_record: u64,
    /// Data size, bytes.
    pub size: u64,
    /// Allocated extents in absolute device bytes (sparse holes have none).
    pub extents: Vec<Extent>,
    /// `$DATA` is resident in the MFT record.
    pub resident: bool,
    /// NTFS-compressed.
    pub compressed: bool,
    /// EFS-encrypted.
    pub encrypted: bool,
    /// Sparse (holes read as zeros and cannot be written in place).
    pub sparse: bool,
    /// Valid data length (NTFS "initialized size"): bytes past it read as
    /// zeros and cannot be written in place.
    pub valid_length: u64,
}

impl FileLocation {
    /// Why this file cannot be written in place through its data runs, if so.
    pub fn unwritable_reason(&self) -> Option<String> {
        let why = if self.resident {
            "its data is resident in the MFT record"
        } else if self.compressed {
            "it is NTFS-compressed"
        } else if self.encrypted {
            "it is EFS-encrypted"
        } else {
            return None;
        };
        Some(format!(
            "{} cannot be written in place because {why}; use a mounted path instead",
            self.path
        ))
    }
}

/// An opened NTFS volume.
pub struct Volume {
    ntfs: Ntfs,
    fs: BufReader<Region>,
    /// Absolute byte offset of the volume on the device.
    pub offset: u64,
}

impl Volume {
    /// Opens the NTFS volume at `offset .. offset + len` of `file`.
    pub fn open(file: File, offset: u64, len: u64) -> Result<Self> {
        let mut fs = BufReader::with_capacity(META_BUFFER, Region::new(file, offset, len));
        let mut ntfs = Ntfs::new(&mut fs).map_err(nerr)?;
        ntfs.read_upcase_table(&mut fs).map_err(nerr)?;
        Ok(Volume { ntfs, fs, offset })
    }

    /// Identity and state.
    pub fn facts(&mut self) -> Result<VolumeFacts> {
        let info = self.ntfs.volume_info(&mut self.fs).map_err(nerr)?;
        let label = match self.ntfs.volume_name(&mut self.fs) {
            Some(Ok(n)) => Some(n.name().to_string_lossy()),
            _ => None,
        };
        Ok(VolumeFacts {
            serial: self.ntfs.serial_number(),
            label,
            version: format!("{}.{}", info.major_version(), info.minor_version()),
            dirty: info.flags().contains(NtfsVolumeFlags::IS_DIRTY),
            cluster_size: self.ntfs.cluster_size(),
            sector_size: self.ntfs.sector_size(),
            size: self.ntfs.size(),
        })
    }

    /// Finds `path` (backslash- or slash-separated, case-insensitive).
    pub fn find(&mut self, path: &str) -> Result<Option<u64>> {
        let mut dir = self.ntfs.root_directory(&mut self.fs).map_err(nerr)?;
        let parts: Vec<&str> = path.split(['\\', '/']).filter(|p| !p.is_empty()).collect();
        for (i, part) in parts.iter().enumerate() {
            let index = dir.directory_index(&mut self.fs).map_err(nerr)?;
            let mut finder = index.finder();
            let Some(entry) = NtfsFileNameIndex::find(&mut finder, &self.ntfs, &mut self.fs, part)
            else {
                return Ok(None);
            };
            let entry = entry.map_err(nerr)?;
            let file = entry.to_file(&self.ntfs, &mut self.fs).map_err(nerr)?;
            if i + 1 == parts.len() {
                return Ok(Some(file.file_record_number()));
            }
            if !file.is_directory() {
                return Ok(None);
            }
            dir = file;
        }
        Ok(Some(dir.file_record_number()))
    }

    /// Names in the directory at `path` (for log discovery).
    pub fn list(&mut self, path: &str) -> Result<Vec<String>> {
        let Some(rec) = self.find(path)? else {
            return Ok(Vec::new());
        };
        let dir = self.ntfs.file(&mut self.fs, rec).map_err(nerr)?;
        let index = dir.directory_index(&mut self.fs).map_err(nerr)?;
        let mut entries = index.entries();
        let mut names = Vec::new();
        while let Some(e) = entries.next(&mut self.fs) {
            let e = e.map_err(nerr)?;
            if let Some(Ok(key)) = e.key() {
                // Skip DOS (8.3) names; keep Win32 and POSIX names.
                if key.namespace() != ntfs::structured_values::NtfsFileNamespace::Dos {
                    names.push(key.name().to_string_lossy());
                }
            }
        }
        names.dedup();
        Ok(names)
    }

    /// Where the unnamed `$DATA` stream of MFT record `rec` lives.
    pub fn locate(&mut self, rec: u64, path: &str) -> Result<FileLocation> {
        let file = self.ntfs.file(&mut self.fs, rec).map_err(nerr)?;
        let mut loc = FileLocation {
            path: path.to_string(),
            mft_record: rec,
            size: 0,
            extents: Vec::new(),
            resident: false,
            compressed: false,
            encrypted: false,
            sparse: false,
            valid_length: 0,
        };
        let cluster = u64::from(self.ntfs.cluster_size());
        // The attribute list, if any, names every piece of $DATA.
        let mut list = None;
        for a in file.attributes_raw() {
            let a = a.map_err(nerr)?;
            if a.ty().map_err(nerr)? == NtfsAttributeType::AttributeList {
                list = Some(
                    a.structured_value::<_, NtfsAttributeList>(&mut self.fs)
                        .map_err(nerr)?,
                );
            }
        }
        let mut pieces: Vec<(u64 /*vcn*/, NtfsFile<'_>)> = Vec::new();
        if let Some(list) = &list {
            let mut entries = list.entries();
            while let Some(e) = entries.next(&mut self.fs) {
                let e = e.map_err(nerr)?;
                if e.ty().map_err(nerr)? == NtfsAttributeType::Data && e.name_length() == 0 {
                    let f = e.to_file(&self.ntfs, &mut self.fs).map_err(nerr)?;
                    let vcn = u64::try_from(e.lowest_vcn().value()).map_err(|_| {
                        Error::Ntfs(format!("{path}: negative VCN in the attribute list"))
                    })?;
                    pieces.push((vcn, f));
                }
            }
        }
        if pieces.is_empty() {
            pieces.push((0, file));
        }
        pieces.sort_by_key(|p| p.0);
        let mut first = true;
        for (vcn, piece_file) in &pieces {
            let mut found = false;
            for a in piece_file.attributes_raw() {
                let a = a.map_err(nerr)?;
                if a.ty().map_err(nerr)? != NtfsAttributeType::Data || a.name_length() != 0 {
                    continue;
                }
                found = true;
                let flags = a.flags();
                loc.compressed |= flags.contains(NtfsAttributeFlags::COMPRESSED);
                loc.encrypted |= flags.contains(NtfsAttributeFlags::ENCRYPTED);
                loc.sparse |= flags.contains(NtfsAttributeFlags::SPARSE);
                if first {
                    loc.size = a.value_length();
                    loc.valid_length = if a.is_resident() {
                        loc.size
                    } else {
                        initialized_size(&mut self.fs, a.position().value().map(|p| p.get()))?
                    };
                    first = false;
                }
                if a.is_resident() {
                    loc.resident = true;
                    break;
                }
                let value = a.value(&mut self.fs).map_err(nerr)?;
                let ntfs::attribute_value::NtfsAttributeValue::NonResident(nr) = value else {
                    return Err(Error::Ntfs(format!("{path}: unexpected $DATA value kind")));
                };
                let mut pos = vcn
                    .checked_mul(cluster)
                    .ok_or_else(|| Error::Ntfs("VCN overflows".into()))?;
                for run in nr.data_runs() {
                    let run = run.map_err(nerr)?;
                    let len = run.allocated_size();
                    if let Some(p) = run.data_position().value() {
                        loc.extents.push(Extent {
                            file_offset: pos,
                            length: len,
                            device_offset: self.offset + p.get(),
                        });
                    } else {
                        loc.sparse = true;
                    }
                    pos += len;
                }
                break;
            }
            if !found {
                return Err(Error::Ntfs(format!(
                    "{path}: an attribute-list entry names a $DATA piece that is not there"
                )));
            }
        }
        // Clip the extents to the valid data length; merge adjacent ones.
        let end = loc.size.min(loc.valid_length);
        let mut merged: Vec<Extent> = Vec::new();
        for e in loc.extents.drain(..) {
            if e.file_offset >= end {
                break;
            }
            let e = Extent {
                length: e.length.min(end - e.file_offset),
                ..e
            };
            match merged.last_mut() {
                Some(m)
                    if m.file_offset + m.length == e.file_offset
                        && m.device_offset + m.length == e.device_offset =>
                {
                    m.length += e.length
                }
                _ => merged.push(e),
            }
        }
        loc.extents = merged;
        Ok(loc)
    }
}

/// The initialized size of a non-resident attribute whose header is at
/// `pos` (volume-relative): bytes 0x38..0x40 of the header (NTFS
/// non-resident attribute header). A field that straddles a sector's
/// last two bytes would hold the update-sequence number on disk, not the
/// value; it is then taken as 0, which makes any write refused.
fn initialized_size(fs: &mut BufReader<Region>, pos: Option<u64>) -> Result<u64> {
    {
        const OFF_INITIALIZED: u64 = 0x38;
        let Some(at) = pos.and_then(|p| p.checked_add(OFF_INITIALIZED)) else {
            return Ok(0);
        };
        if at % 512 > 502 {
            return Ok(0);
        }
        let mut b = [0u8; 8];
        fs.seek(SeekFrom::Start(at))
            .map_err(|e| Error::io("reading an MFT record", e))?;
        fs.read_exact(&mut b)
            .map_err(|e| Error::io("reading an MFT record", e))?;
        Ok(u64::from_le_bytes(b))
    }
}

impl Volume {
    /// Reads a resident or small file whole through the crate.
    pub fn read_via_crate(&mut self, rec: u64) -> Result<Vec<u8>> {
        let file = self.ntfs.file(&mut self.fs, rec).map_err(nerr)?;
        let item = file
            .data(&mut self.fs, "")
            .ok_or_else(|| Error::Ntfs("no $DATA".into()))?
            .map_err(nerr)?;
        let attr = item.to_attribute().map_err(nerr)?;
        let mut value = attr.value(&mut self.fs).map_err(nerr)?.attach(&mut self.fs);
        let mut out = Vec::new();
        value
            .read_to_end(&mut out)
            .map_err(|e| Error::io("reading through the NTFS driver", e))?;
        Ok(out)
    }
}

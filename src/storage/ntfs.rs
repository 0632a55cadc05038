// SPDX-License-Identifier: GPL-2.0-or-later
//! An NTFS volume read without mounting it, through the `ntfs` crate: path
//! lookup through the directory indexes (case-insensitive, NTFS's own
//! upcase table), a file's data runs as absolute device extents (including
//! `$DATA` split across extension records behind `$ATTRIBUTE_LIST`), the
//! volume's identity and dirty flag, and the hibernation-file header.
//!
//! Cost is proportional to what is read: the boot sector, a few MFT records
//! and index blocks, then the file's clusters, one positioned read per run
//! (perf-notes.md: small reads for metadata, big positioned reads for
//! data). Metadata is read in whole sectors, each once ([`MetaCache`]).

use std::io::{Read, Seek, SeekFrom};

use ntfs::indexes::NtfsFileNameIndex;
use ntfs::structured_values::{NtfsAttributeList, NtfsVolumeFlags};
use ntfs::{Ntfs, NtfsAttribute, NtfsAttributeFlags, NtfsAttributeType, NtfsFile};

use crate::error::{Error, Result};
use crate::storage::device::Device;
use crate::storage::extent::Extent;
use crate::util::time::Stamp;

fn nerr(e: ntfs::NtfsError) -> Error {
    match e {
        // The crate shows an I/O error with its debug form; ours (the read
        // budget, a failing read) carry their own message.
        ntfs::NtfsError::Io(io) => Error::Ntfs(format!("reading the volume: {io}")),
        e => Error::Ntfs(e.to_string()),
    }
}

/// What a [`MetaCache`] has read from its device.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct MetaStats {
    /// Distinct sectors read.
    pub sectors: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Device reads issued (one per run of missing sectors).
    pub reads: u64,
}

/// Cached sectors by (region start, sector number within the region).
type Sectors = std::collections::HashMap<(u64, u64), std::sync::Arc<[u8]>>;

/// NTFS metadata (boot sector, MFT records, directory indexes, the upcase
/// table, attribute lists) read in whole sectors of the device, each on
/// first touch and never twice, shared by every volume opened on one disk:
/// a path lookup, the location of a file's runs and a second volume open
/// re-read nothing (perf-notes.md: a buffered reader re-reads on every
/// seek). The `ntfs` crate reads whole structures (a 512-byte boot sector,
/// a 1 KiB MFT record, a 4 KiB index block, the 128 KiB upcase table), so a
/// structure costs one read of its own sectors: a 4 KiB page per MFT record
/// would read three records nobody asked for. Units are volume-relative
/// (`start` of the region + a multiple of the sector size), clipped to the
/// region, so nothing outside a volume is read through it.
#[derive(Default)]
pub struct MetaCache {
    sectors: std::sync::Mutex<Sectors>,
    stats: std::sync::Mutex<MetaStats>,
}

impl MetaCache {
    /// An empty cache.
    pub fn new() -> std::sync::Arc<Self> {
        std::sync::Arc::default()
    }

    /// The first `n` bytes of the region `start .. start + len` of `file`,
    /// read through this cache (a boot sector looked at before its volume
    /// is opened, so that the open does not read it again).
    pub fn head(
        self: &std::sync::Arc<Self>,
        file: Device,
        (start, len): (u64, u64),
        n: usize,
    ) -> std::io::Result<Vec<u8>> {
        let mut r = Region::cached(file, start, len, self.clone());
        let mut buf = vec![0u8; n];
        r.read_exact(&mut buf)?;
        Ok(buf)
    }

    /// Counts one device read of `got` bytes.
    fn count(&self, got: u64, unit: u64) {
        let mut s = self.stats.lock().unwrap_or_else(|e| e.into_inner());
        s.reads += 1;
        s.bytes += got;
        s.sectors += got.div_ceil(unit);
    }

    /// What has been read through this cache.
    pub fn stats(&self) -> MetaStats {
        *self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sector `first` of the region at `start .. start + len` of `file`,
    /// reading it and the missing sectors after it up to `last` (one
    /// device read for the run) when it is not cached.
    fn sector(
        &self,
        file: &Device,
        (start, len): (u64, u64),
        first: u64,
        last: u64,
    ) -> std::io::Result<std::sync::Arc<[u8]>> {
        let unit = u64::from(file.sector());
        let mut map = self.sectors.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = map.get(&(start, first)) {
            return Ok(p.clone());
        }
        let mut end = first + 1;
        while end <= last && !map.contains_key(&(start, end)) {
            end += 1;
        }
        let overflow =
            || std::io::Error::new(std::io::ErrorKind::InvalidInput, "read offset overflows");
        let from = first.checked_mul(unit).ok_or_else(overflow)?;
        let to = end.checked_mul(unit).ok_or_else(overflow)?.min(len);
        let n = usize::try_from(to.saturating_sub(from)).map_err(|_| overflow())?;
        // Aligned to the sector, so that the device reads straight into it.
        let mut aligned = crate::storage::device::AlignedBuf::new(n, unit as usize)?;
        let at = start.checked_add(from).ok_or_else(overflow)?;
        let mut got = 0usize;
        while got < n {
            match file.read_at(
                &mut aligned.bytes_mut()[got..],
                at.saturating_add(got as u64),
            )? {
                0 => break,
                k => got += k,
            }
        }
        let buf = &aligned.bytes()[..got];
        self.count(got as u64, unit);
        let mut head = None;
        for (i, chunk) in buf.chunks(unit as usize).enumerate() {
            let p: std::sync::Arc<[u8]> = chunk.into();
            head.get_or_insert_with(|| p.clone());
            map.insert((start, first + i as u64), p);
        }
        // Nothing read: past the device's end.
        Ok(head.unwrap_or_else(|| std::sync::Arc::from(Vec::new())))
    }
}

/// A byte range of a device or image, read through `Read + Seek`, never
/// past its end, through a [`MetaCache`].
pub struct Region {
    file: Device,
    start: u64,
    len: u64,
    pos: u64,
    cache: std::sync::Arc<MetaCache>,
    /// The sector last used, to serve the crate's small reads without a
    /// lookup.
    last: Option<(u64, std::sync::Arc<[u8]>)>,
    /// Bytes the crate may still read in the current operation
    /// ([`Region::rearm`]): a loop in damaged metadata (an index node
    /// naming itself as its own subnode) reads the same cached sectors
    /// forever without a system call; past the budget it is an error.
    budget: u64,
}

/// Reads at least this large bypass the sector cache ([`Region`]).
const DIRECT_READ: usize = 64 << 10;

/// The most the `ntfs` crate may read for one operation (opening a volume,
/// one lookup, one listing, locating one file). A lookup reads a handful
/// of MFT records and index records (KiB); opening reads the upcase table
/// (128 KiB); locating a fragmented file its attribute list's records. 64
/// MiB is orders of magnitude above any of them, and a loop exhausts it in
/// well under a second from the cache.
const READ_BUDGET: u64 = 64 << 20;

impl Region {
    /// The range `start .. start + len` of `file`, with a cache of its own.
    pub fn new(file: Device, start: u64, len: u64) -> Self {
        Self::cached(file, start, len, MetaCache::new())
    }

    /// The range `start .. start + len` of `file`, read through `cache`.
    pub fn cached(file: Device, start: u64, len: u64, cache: std::sync::Arc<MetaCache>) -> Self {
        Region {
            file,
            start,
            len,
            pos: 0,
            cache,
            last: None,
            budget: READ_BUDGET,
        }
    }

    /// A fresh read budget for the next operation.
    fn rearm(&mut self) {
        self.budget = READ_BUDGET;
    }
}

impl Read for Region {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.budget = self
            .budget
            .checked_sub(buf.len() as u64)
            .ok_or_else(|| {
                std::io::Error::other(format!(
                    "the NTFS metadata asked for more than {} MiB in one lookup (at volume byte {:#x}): \
                     a loop in damaged index or attribute structures",
                    READ_BUDGET >> 20,
                    self.pos
                ))
            })?;
        let unit = u64::from(self.file.sector());
        let mut done = 0usize;
        // A large read (the upcase table, 128 KiB, read once when the
        // volume is opened) goes straight into the caller's buffer: the
        // cache would copy it twice, a sector at a time, for nothing.
        if buf.len() >= DIRECT_READ && self.pos.is_multiple_of(unit) {
            let want = usize::try_from(self.len.saturating_sub(self.pos))
                .map_or(buf.len(), |left| left.min(buf.len()));
            let at = self
                .start
                .checked_add(self.pos)
                .ok_or_else(|| std::io::Error::other("read offset overflows"))?;
            let got = self.file.read_at(&mut buf[..want], at)?;
            self.cache.count(got as u64, unit);
            self.pos += got as u64;
            return Ok(got);
        }
        while done < buf.len() && self.pos < self.len {
            let first = self.pos / unit;
            let data = match &self.last {
                Some((p, d)) if *p == first => d.clone(),
                _ => {
                    // The sectors the rest of this request needs, in one read.
                    let want = (buf.len() - done) as u64;
                    let end = self.pos.saturating_add(want).min(self.len);
                    let last = end.saturating_sub(1) / unit;
                    let d = self.cache.sector(
                        &self.file,
                        (self.start, self.len),
                        first,
                        last.max(first),
                    )?;
                    self.last = Some((first, d.clone()));
                    d
                }
            };
            let within = (self.pos % unit) as usize;
            let take = data.len().saturating_sub(within).min(buf.len() - done);
            if take == 0 {
                break; // the device ended early
            }
            buf[done..done + take].copy_from_slice(&data[within..within + take]);
            done += take;
            self.pos += take as u64;
        }
        Ok(done)
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
#[derive(Clone, Debug, serde::Serialize, schemars::JsonSchema)]
pub struct VolumeFacts {
    /// Volume serial number (boot sector), as Windows shows it: `XXXX-XXXX`
    /// is its low 32 bits. In JSON a hex string (`0x` and 16 digits).
    #[serde(with = "crate::util::hex64")]
    #[schemars(with = "crate::util::hex64::Hex64")]
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
#[derive(Clone, Debug, serde::Serialize, schemars::JsonSchema)]
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
    /// The bytes of a resident `$DATA` (at most one MFT record), copied when
    /// the file was located; `None` for non-resident data.
    #[serde(skip)]
    pub resident_data: Option<Vec<u8>>,
    /// The file's NTFS timestamps, as stored in its MFT record.
    pub times: FileTimes,
}

/// The four timestamps of one NTFS attribute (`$STANDARD_INFORMATION` or
/// `$FILE_NAME`), in the order `istat` prints them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct TimeSet {
    /// Creation time.
    pub created: Stamp,
    /// Last data modification.
    pub modified: Stamp,
    /// Last change of the MFT record (metadata).
    pub mft_changed: Stamp,
    /// Last access (Windows updates it lazily, or not at all).
    pub accessed: Stamp,
}

/// A file's timestamps from its MFT record. `$STANDARD_INFORMATION` is
/// what Windows shows and what tools can set; `$FILE_NAME` is updated only
/// by the file system (on create, rename, move), so a difference between
/// the two is worth an examiner's look.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, schemars::JsonSchema)]
pub struct FileTimes {
    /// `$STANDARD_INFORMATION` (attribute 0x10); `None` when absent or
    /// unreadable.
    pub standard_information: Option<TimeSet>,
    /// The file's `$FILE_NAME` (attribute 0x30) of its long name (Win32 or
    /// POSIX; a short 8.3 name's copy only when it has no other); `None`
    /// when absent or unreadable.
    pub file_name: Option<TimeSet>,
    /// The long name that `file_name` belongs to.
    pub file_name_of: Option<String>,
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
    fs: Region,
    /// Absolute byte offset of the volume on the device.
    pub offset: u64,
    /// Length of the volume's region of the device (its partition).
    pub len: u64,
}

/// Runs a call into the `ntfs` crate: a panic on damaged metadata (an
/// index entry shorter than its header, found by fuzzing) becomes an
/// error, as for nt-hive ([`crate::util::guard::contain`]), naming what
/// was being read (`doing`) and the volume's byte offset on the device.
fn guarded<T>(doing: &str, volume: u64, f: impl FnOnce() -> Result<T>) -> Result<T> {
    crate::util::guard::contain("the NTFS reader", f).map_err(|panic| Error::Invalid {
        what: "NTFS metadata",
        offset: volume,
        detail: format!("{panic}, {doing} in the NTFS volume at byte offset {volume:#x}"),
    })?
}

impl Volume {
    /// Opens the NTFS volume at `offset .. offset + len` of `file`.
    pub fn open(file: Device, offset: u64, len: u64) -> Result<Self> {
        Self::open_cached(file, offset, len, MetaCache::new())
    }

    /// [`Volume::open`], its metadata read through `cache` (shared by the
    /// volumes opened on one disk, so that a second open re-reads nothing).
    pub fn open_cached(
        file: Device,
        offset: u64,
        len: u64,
        cache: std::sync::Arc<MetaCache>,
    ) -> Result<Self> {
        guarded("opening the volume", offset, || {
            Self::open_inner(Region::cached(file, offset, len, cache))
        })
    }

    /// Identity and state.
    pub fn facts(&mut self) -> Result<VolumeFacts> {
        self.fs.rearm();
        guarded("reading its identity", self.offset, || self.facts_inner())
    }

    /// Finds `path` (backslash- or slash-separated, case-insensitive).
    pub fn find(&mut self, path: &str) -> Result<Option<u64>> {
        self.fs.rearm();
        guarded(&format!("looking up {path}"), self.offset, || {
            self.find_inner(path)
        })
    }

    /// Names in the directory at `path` (for log discovery).
    pub fn list(&mut self, path: &str) -> Result<Vec<String>> {
        self.fs.rearm();
        guarded(&format!("listing {path}"), self.offset, || {
            self.list_inner(path)
        })
    }

    /// Where the unnamed `$DATA` stream of MFT record `rec` lives.
    pub fn locate(&mut self, rec: u64, path: &str) -> Result<FileLocation> {
        self.fs.rearm();
        guarded(
            &format!("locating the data of {path} (MFT record {rec})"),
            self.offset,
            || self.locate_inner(rec, path),
        )
    }

    /// Opens the NTFS volume in `fs`.
    fn open_inner(mut fs: Region) -> Result<Self> {
        let (offset, len) = (fs.start, fs.len);
        let mut ntfs = Ntfs::new(&mut fs).map_err(nerr)?;
        ntfs.read_upcase_table(&mut fs).map_err(nerr)?;
        Ok(Volume {
            ntfs,
            fs,
            offset,
            len,
        })
    }

    /// Identity and state.
    fn facts_inner(&mut self) -> Result<VolumeFacts> {
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
    fn find_inner(&mut self, path: &str) -> Result<Option<u64>> {
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
    fn list_inner(&mut self, path: &str) -> Result<Vec<String>> {
        let Some(rec) = self.find_inner(path)? else {
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
    fn locate_inner(&mut self, rec: u64, path: &str) -> Result<FileLocation> {
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
            resident_data: None,
            times: file_times(&file, &mut self.fs),
        };
        let cluster = u64::from(self.ntfs.cluster_size());
        // The attribute list, if any, names every piece of $DATA.
        let mut pieces = data_pieces(&self.ntfs, &mut self.fs, file, path)?;
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
                        valid_length(&self.ntfs, &mut self.fs, self.offset, piece_file, &a, path)?
                    };
                    first = false;
                }
                if a.is_resident() {
                    loc.resident = true;
                    let value = a.value(&mut self.fs).map_err(nerr)?;
                    let ntfs::attribute_value::NtfsAttributeValue::Resident(r) = value else {
                        return Err(Error::Ntfs(format!(
                            "{path}: a resident $DATA without a resident value"
                        )));
                    };
                    loc.resident_data = Some(r.data().to_vec());
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
                        let e = Extent {
                            file_offset: pos,
                            length: len,
                            device_offset: self.offset.checked_add(p.get()).ok_or_else(|| {
                                Error::Ntfs(format!("{path}: a data run's position overflows"))
                            })?,
                        };
                        // Inside the partition and inside the volume the
                        // boot sector describes, before anything reads or
                        // writes through it.
                        let room = self.len.min(self.ntfs.size());
                        crate::storage::extent::check_within(&e, self.offset, room, path)?;
                        loc.extents.push(e);
                    } else {
                        loc.sparse = true;
                    }
                    pos = pos.checked_add(len).ok_or_else(|| {
                        Error::Ntfs(format!("{path}: the data runs' length overflows"))
                    })?;
                }
                break;
            }
            if !found {
                return Err(Error::Ntfs(format!(
                    "{path}: an attribute-list entry names a $DATA piece that is not there"
                )));
            }
        }
        fits_volume(loc.size, self.len.min(self.ntfs.size()), self.offset, path)?;
        // Clip the extents to the valid data length; merge adjacent ones.
        let end = loc.size.min(loc.valid_length);
        loc.extents = clip_and_merge(std::mem::take(&mut loc.extents), end);
        Ok(loc)
    }
}

/// The timestamps in `file`'s record. Times are evidence, not something a
/// read depends on: an attribute that cannot be read leaves its set `None`.
fn file_times(file: &NtfsFile<'_>, fs: &mut Region) -> FileTimes {
    use ntfs::structured_values::NtfsFileNamespace as Ns;
    let standard_information = file.info().ok().map(|si| TimeSet {
        created: Stamp(si.creation_time().nt_timestamp()),
        modified: Stamp(si.modification_time().nt_timestamp()),
        mft_changed: Stamp(si.mft_record_modification_time().nt_timestamp()),
        accessed: Stamp(si.access_time().nt_timestamp()),
    });
    // The long name first: Win32+DOS (one attribute for both), Win32,
    // POSIX; a DOS-only name last.
    let name = [Ns::Win32AndDos, Ns::Win32, Ns::Posix, Ns::Dos]
        .into_iter()
        .find_map(|ns| file.name(fs, Some(ns), None).and_then(|r| r.ok()));
    FileTimes {
        standard_information,
        file_name: name.as_ref().map(|n| TimeSet {
            created: Stamp(n.creation_time().nt_timestamp()),
            modified: Stamp(n.modification_time().nt_timestamp()),
            mft_changed: Stamp(n.mft_record_modification_time().nt_timestamp()),
            accessed: Stamp(n.access_time().nt_timestamp()),
        }),
        file_name_of: name.map(|n| n.name().to_string_lossy()),
    }
}

/// The whole file is read into memory: a data size larger than the volume
/// (`room` bytes at device offset `offset`; possible only for a sparse
/// file, and never for a hive) is refused rather than allocated.
fn fits_volume(size: u64, room: u64, offset: u64, path: &str) -> Result<()> {
    if size > room {
        return Err(Error::Invalid {
            what: "$DATA size",
            offset,
            detail: format!("{path}: {size} bytes, more than the {room}-byte volume holds"),
        });
    }
    Ok(())
}

/// The valid data length of a non-resident attribute `a` of `file`, read
/// from the attribute header (the `ntfs` crate keeps it private).
fn valid_length(
    ntfs: &Ntfs,
    fs: &mut Region,
    offset: u64,
    file: &NtfsFile<'_>,
    a: &NtfsAttribute<'_, '_>,
    path: &str,
) -> Result<u64> {
    let record = file.position().value().map(|p| p.get());
    let attr = a.position().value().map(|p| p.get());
    let (Some(record), Some(attr)) = (record, attr) else {
        return Err(Error::Ntfs(format!(
            "{path}: the MFT record or its $DATA attribute has no position"
        )));
    };
    let size = ntfs.file_record_size() as usize;
    let raw = read_record(fs, record, size)?;
    // Offsets in messages are absolute device bytes.
    let abs = |p: u64| {
        offset
            .checked_add(p)
            .ok_or_else(|| Error::Ntfs(format!("{path}: MFT record offset overflows")))
    };
    initialized_size(raw, abs(record)?, abs(attr)?).map_err(|e| e.in_file(path))
}

/// The pieces of a file's unnamed `$DATA`, each with its lowest VCN: from
/// the attribute list when there is one (the pieces may sit in extension
/// records), else the base record alone.
fn data_pieces<'n>(
    ntfs: &'n Ntfs,
    fs: &mut Region,
    file: NtfsFile<'n>,
    path: &str,
) -> Result<Vec<(u64, NtfsFile<'n>)>> {
    let mut list = None;
    for a in file.attributes_raw() {
        let a = a.map_err(nerr)?;
        if a.ty().map_err(nerr)? == NtfsAttributeType::AttributeList {
            list = Some(
                a.structured_value::<_, NtfsAttributeList>(fs)
                    .map_err(nerr)?,
            );
        }
    }
    let mut pieces: Vec<(u64 /*vcn*/, NtfsFile<'_>)> = Vec::new();
    if let Some(list) = &list {
        let mut entries = list.entries();
        while let Some(e) = entries.next(fs) {
            let e = e.map_err(nerr)?;
            if e.ty().map_err(nerr)? == NtfsAttributeType::Data && e.name_length() == 0 {
                let f = e.to_file(ntfs, fs).map_err(nerr)?;
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
    Ok(pieces)
}

/// `extents` (in file order) clipped to the first `end` bytes, adjacent
/// ones merged.
fn clip_and_merge(extents: Vec<Extent>, end: u64) -> Vec<Extent> {
    let mut merged: Vec<Extent> = Vec::new();
    for e in extents {
        if e.file_offset >= end {
            break;
        }
        let e = Extent {
            length: e.length.min(end - e.file_offset),
            ..e
        };
        // Every extent was checked to lie inside the volume, so these sums
        // do not overflow; checked all the same.
        let joins = merged.last().is_some_and(|m| {
            m.file_offset.checked_add(m.length) == Some(e.file_offset)
                && m.device_offset.checked_add(m.length) == Some(e.device_offset)
        });
        match merged.last_mut() {
            Some(m) if joins => m.length = m.length.saturating_add(e.length),
            _ => merged.push(e),
        }
    }
    merged
}

/// NTFS update-sequence stride: the fix-up protects the last two bytes of
/// every 512-byte block of a record, whatever the sector size.
const USA_BLOCK: usize = 512;
/// Offset of the initialized size in a non-resident attribute header.
const OFF_INITIALIZED: usize = 0x38;

/// Applies the update-sequence fix-up to a raw MFT record read at absolute
/// (volume-relative) byte offset `at`: the last two bytes of each 512-byte
/// block must hold the update sequence number and are replaced by the
/// array's saved bytes. Any inconsistency is an error, never a guess.
pub fn fix_up_record(mut rec: Vec<u8>, at: u64) -> Result<Vec<u8>> {
    use crate::util::bytes::u16_at;
    let bad = |off: usize, detail: String| Error::Invalid {
        what: "MFT record update sequence",
        offset: at.saturating_add(off as u64),
        detail,
    };
    if rec.get(..4) != Some(b"FILE".as_slice()) {
        return Err(Error::BadSignature {
            what: "MFT record",
            offset: at,
            expected: "FILE",
            found: rec.get(..4).unwrap_or(&rec).to_vec(),
        });
    }
    let usa = usize::from(u16_at(&rec, at, 4, "update sequence offset")?);
    let count = usize::from(u16_at(&rec, at, 6, "update sequence count")?);
    // The count includes the sequence number itself.
    let blocks = count
        .checked_sub(1)
        .ok_or_else(|| bad(6, "update sequence count is 0".into()))?;
    let usa_end = count
        .checked_mul(2)
        .and_then(|n| n.checked_add(usa))
        .filter(|&e| e <= rec.len())
        .ok_or_else(|| {
            bad(
                4,
                format!("array of {count} entries at {usa:#x} exceeds the record"),
            )
        })?;
    if blocks.checked_mul(USA_BLOCK).is_none_or(|n| n > rec.len()) {
        return Err(bad(
            6,
            format!(
                "{blocks} fix-up blocks exceed the {}-byte record",
                rec.len()
            ),
        ));
    }
    let usn = [rec[usa], rec[usa + 1]];
    for i in 0..blocks {
        let fix = usa + 2 + 2 * i;
        debug_assert!(fix + 2 <= usa_end);
        let tail = (i + 1) * USA_BLOCK - 2;
        if rec[tail..tail + 2] != usn {
            return Err(bad(
                tail,
                format!(
                    "block {i} ends in {:02x?}, not the update sequence number {usn:02x?} (torn write)",
                    &rec[tail..tail + 2]
                ),
            ));
        }
        let saved = [rec[fix], rec[fix + 1]];
        rec[tail..tail + 2].copy_from_slice(&saved);
    }
    Ok(rec)
}

/// The initialized size (valid data length) of the non-resident attribute
/// whose header is at byte `attr`, inside the MFT record read raw at byte
/// `record` (both absolute device offsets, or both volume-relative): bytes 0x38..0x40 of the header, read from the
/// fixed-up record (the field may cross a 512-byte block end, where the raw
/// record holds the update sequence number instead).
fn initialized_size(raw: Vec<u8>, record: u64, attr: u64) -> Result<u64> {
    let rec = fix_up_record(raw, record)?;
    let off = attr
        .checked_sub(record)
        .and_then(|o| usize::try_from(o).ok())
        .and_then(|o| o.checked_add(OFF_INITIALIZED))
        .ok_or_else(|| Error::Invalid {
            what: "attribute header",
            offset: attr,
            detail: format!("lies before its MFT record at {record:#x}"),
        })?;
    crate::util::bytes::u64_at(&rec, record, off, "attribute initialized size")
}

/// The raw bytes of the `size`-byte MFT record at volume byte `at` (as the
/// crate reads it: one record's worth of contiguous bytes).
fn read_record(fs: &mut Region, at: u64, size: usize) -> Result<Vec<u8>> {
    let mut rec = vec![0u8; size];
    fs.seek(SeekFrom::Start(at))
        .and_then(|_| fs.read_exact(&mut rec))
        .map_err(|e| Error::io(format!("reading the MFT record at byte offset {at:#x}"), e))?;
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;

    const USN: [u8; 2] = [0x12, 0x34];
    const AT: u64 = 0x10_0000;

    /// A 1024-byte MFT record (update sequence at 0x30, 2 blocks) whose
    /// attribute header at 0x1C2 has its initialized size at 0x1FA..0x202,
    /// across the first block's last two bytes, written as on disk.
    fn record(value: u64) -> Vec<u8> {
        let mut r = vec![0u8; 1024];
        r[..4].copy_from_slice(b"FILE");
        r[4..6].copy_from_slice(&0x30u16.to_le_bytes());
        r[6..8].copy_from_slice(&3u16.to_le_bytes());
        r[0x30..0x32].copy_from_slice(&USN);
        r[0x1C2 + OFF_INITIALIZED..0x1C2 + OFF_INITIALIZED + 8]
            .copy_from_slice(&value.to_le_bytes());
        for (i, tail) in [0x1FEusize, 0x3FE].into_iter().enumerate() {
            let saved = [r[tail], r[tail + 1]];
            r[0x32 + 2 * i..0x34 + 2 * i].copy_from_slice(&saved);
            r[tail..tail + 2].copy_from_slice(&USN);
        }
        r
    }

    /// A disk in memory that records every read made of it.
    struct Counted {
        bytes: Vec<u8>,
        reads: std::sync::Mutex<Vec<(u64, usize)>>,
    }

    impl crate::storage::device::BlockIo for Counted {
        fn read_at(&self, buf: &mut [u8], at: u64) -> std::io::Result<usize> {
            let from = (at as usize).min(self.bytes.len());
            let n = buf.len().min(self.bytes.len() - from);
            buf[..n].copy_from_slice(&self.bytes[from..from + n]);
            self.reads.lock().unwrap().push((at, n));
            Ok(n)
        }
        fn write_at(&self, _: &[u8], _: u64) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::Unsupported.into())
        }
        fn sync(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn counted(len: usize) -> (Device, std::sync::Arc<Counted>, Vec<u8>) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 13 % 251) as u8).collect();
        let io = std::sync::Arc::new(Counted {
            bytes: bytes.clone(),
            reads: Default::default(),
        });
        let dev = Device::new(io.clone(), 512, Some(len as u64)).unwrap();
        (dev, io, bytes)
    }

    fn read_at(r: &mut Region, at: u64, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        r.seek(SeekFrom::Start(at)).unwrap();
        r.read_exact(&mut buf).unwrap();
        buf
    }

    /// A reader that loops over the same cached sectors (an index node
    /// naming itself as its subnode) is stopped with an error once it has
    /// asked for the budget, and the next operation gets a fresh budget.
    #[test]
    fn a_looping_reader_runs_out_of_its_budget() {
        let (dev, io, _) = counted(64 << 10);
        let mut r = Region::new(dev, 0, 64 << 10);
        let mut buf = vec![0u8; 4096];
        let mut asked = 0u64;
        let err = loop {
            r.seek(SeekFrom::Start(0)).unwrap();
            match r.read(&mut buf) {
                Ok(n) => asked += n as u64,
                Err(e) => break e,
            }
            assert!(asked <= READ_BUDGET, "read past the budget");
        };
        assert_eq!(asked, READ_BUDGET);
        assert!(err.to_string().contains("loop"), "{err}");
        // Every request after the first was served from the cache.
        assert_eq!(io.reads.lock().unwrap().len(), 1);
        r.rearm();
        r.seek(SeekFrom::Start(0)).unwrap();
        assert_eq!(r.read(&mut buf).unwrap(), 4096);
    }

    /// A read of `DIRECT_READ` bytes or more (the upcase table) goes to
    /// the device in one read straight into the caller's buffer, counted,
    /// and not cached; it stops at the region's end.
    #[test]
    fn a_large_read_goes_straight_to_the_device() {
        let (dev, io, bytes) = counted(512 << 10);
        let (start, len) = (8 * 512, (200 << 10) + 100);
        let cache = MetaCache::new();
        let mut r = Region::cached(dev, start, len, cache.clone());
        r.seek(SeekFrom::Start(4096)).unwrap();
        let mut big = vec![0u8; 128 << 10];
        assert_eq!(r.read(&mut big).unwrap(), 128 << 10);
        let s = start as usize + 4096;
        assert_eq!(big, bytes[s..s + (128 << 10)]);
        assert_eq!(*io.reads.lock().unwrap(), [(start + 4096, 128 << 10)]);
        let st = cache.stats();
        assert_eq!((st.reads, st.bytes, st.sectors), (1, 128 << 10, 256));
        // Not cached: a small read of the same bytes reads its sector.
        assert_eq!(read_at(&mut r, 4096, 16), bytes[s..s + 16]);
        assert_eq!(io.reads.lock().unwrap().len(), 2);
        // Near the end only what is left of the region.
        r.seek(SeekFrom::Start(len - 612)).unwrap();
        let mut tail = vec![0u8; 96 << 10];
        let e = start as usize + len as usize;
        assert_eq!(r.read(&mut tail).unwrap(), 612);
        assert_eq!(tail[..612], bytes[e - 612..e]);
        // (The device reads whole sectors.)
        assert_eq!(io.reads.lock().unwrap()[2], (start + len - 612, 1024));
        // An unaligned position goes through the cache.
        r.seek(SeekFrom::Start(4097)).unwrap();
        let before = io.reads.lock().unwrap().len();
        assert_eq!(r.read(&mut big).unwrap(), 128 << 10);
        assert_eq!(big, bytes[s + 1..s + 1 + (128 << 10)]);
        assert_eq!(cache.stats().reads, st.reads + 3);
        assert_eq!(io.reads.lock().unwrap().len(), before + 1);
    }

    /// Metadata is read in whole sectors, each once, whatever the pattern
    /// of the reader's requests, and a second region over the same cache
    /// (a second open of the volume) reads nothing again.
    #[test]
    fn metadata_sectors_are_read_once_and_shared() {
        let (dev, io, bytes) = counted(64 * 512);
        let start = 4 * 512; // the volume starts at sector 4
        let len = 40 * 512 + 100; // and ends inside a sector
        let cache = MetaCache::new();
        let mut r = Region::cached(dev.clone(), start, len, cache.clone());
        let at = |o: usize| start as usize + o;
        // A 1 KiB record: its two sectors in one read.
        assert_eq!(read_at(&mut r, 1024, 1024), bytes[at(1024)..at(2048)]);
        assert_eq!(*io.reads.lock().unwrap(), [(start + 1024, 1024)]);
        // Small reads inside it, and a range overlapping it: only the
        // missing sectors after it are read.
        assert_eq!(read_at(&mut r, 1030, 4), bytes[at(1030)..at(1034)]);
        assert_eq!(read_at(&mut r, 1500, 2000), bytes[at(1500)..at(3500)]);
        assert_eq!(io.reads.lock().unwrap()[1..], [(start + 2048, 1536)]);
        // The region's end is not passed: its last sector is read (whole,
        // as the device reads) and only its first 100 bytes are used; a
        // read past the end returns nothing.
        let end = len as usize;
        assert_eq!(read_at(&mut r, len - 50, 50), bytes[at(end - 50)..at(end)]);
        assert_eq!(io.reads.lock().unwrap()[2], (start + 40 * 512, 512));
        r.seek(SeekFrom::Start(len)).unwrap();
        assert_eq!(r.read(&mut [0u8; 8]).unwrap(), 0);
        // Another region over the same cache: nothing is read again.
        let before = io.reads.lock().unwrap().len();
        let mut again = Region::cached(dev, start, len, cache.clone());
        assert_eq!(read_at(&mut again, 1024, 2476), bytes[at(1024)..at(3500)]);
        assert_eq!(io.reads.lock().unwrap().len(), before);
        let s = cache.stats();
        assert_eq!(
            (s.reads, s.bytes, s.sectors),
            (3, 1024 + 1536 + 100, 2 + 3 + 1)
        );
    }

    /// A panic inside the NTFS reader (the `ntfs` crate slicing a damaged
    /// index entry) is an error naming the reader, not a crash.
    #[test]
    fn a_panic_in_the_ntfs_reader_is_an_error() {
        let r: Result<()> = guarded("looking up a", 0x10_0000, || {
            let entry: &[u8] = &[];
            let _ = entry[8..].len();
            Ok(())
        });
        let e = r.unwrap_err().to_string();
        assert!(
            e.contains("the NTFS reader failed on damaged data")
                && e.contains("looking up a in the NTFS volume at byte offset 0x100000"),
            "{e}"
        );
        assert_eq!(guarded("looking up a", 0, || Ok(5)).unwrap(), 5);
    }

    #[test]
    fn initialized_size_across_a_block_end_comes_from_the_fixed_up_record() {
        let v = 0x1122_3344_5566_7788u64;
        let raw = record(v);
        // On disk the field holds the update sequence number in its middle.
        assert_eq!(&raw[0x1FE..0x200], &USN);
        assert_eq!(initialized_size(raw, AT, AT + 0x1C2).unwrap(), v);
        // A field clear of the block end reads the same either way.
        let mut r = record(0);
        r[0x100 + OFF_INITIALIZED..0x100 + OFF_INITIALIZED + 8].copy_from_slice(&v.to_le_bytes());
        assert_eq!(initialized_size(r, AT, AT + 0x100).unwrap(), v);
    }

    #[test]
    fn a_bad_update_sequence_is_an_error_not_zero() {
        // Torn write: the second block does not end in the sequence number.
        let mut r = record(7);
        r[0x3FE] ^= 0xFF;
        let e = initialized_size(r, AT, AT + 0x1C2).unwrap_err().to_string();
        assert!(e.contains("torn") && e.contains("0x1003fe"), "{e}");
        // Count 0, and more blocks than the record holds.
        let mut r = record(7);
        r[6..8].copy_from_slice(&0u16.to_le_bytes());
        assert!(initialized_size(r, AT, AT + 0x1C2).is_err());
        let mut r = record(7);
        r[6..8].copy_from_slice(&4u16.to_le_bytes());
        assert!(initialized_size(r, AT, AT + 0x1C2).is_err());
        // Array past the record's end.
        let mut r = record(7);
        r[4..6].copy_from_slice(&0x3FEu16.to_le_bytes());
        assert!(initialized_size(r, AT, AT + 0x1C2).is_err());
        // Not a FILE record; an attribute outside the record.
        let mut r = record(7);
        r[0] = b'B';
        assert!(initialized_size(r, AT, AT + 0x1C2).is_err());
        assert!(initialized_size(record(7), AT, AT - 8).is_err());
        assert!(initialized_size(record(7), AT, AT + 1020).is_err());
    }
}

// SPDX-License-Identifier: GPL-2.0-or-later
//! A hive read on demand: 4 KiB pages fetched on first touch, cached, never
//! read twice.
//!
//! The read commands resolve a handful of keys; on a cloud volume restored
//! from a snapshot every first read of a block is fetched from object
//! storage, so the bytes and the number of distinct reads are the cost.
//! [`LazyImage`] addresses the primary by file offset and reads a page only
//! when a cell on it is asked for, through `pread` on a file or through the
//! file's extents on a raw volume ([`crate::storage::extent::map`]). A run
//! of missing pages a request needs is fetched with one read per device
//! range. [`Overlaid`] lays a dirty hive's replayed log pages over the lazy
//! primary, so that the view Windows loads is read just as lazily.
//!
//! Both implement [`HiveBytes`], which the cell navigator reads through.

use std::cell::{Cell, OnceCell, RefCell};
use std::collections::BTreeMap;
use std::fs::File;
use std::path::Path;
use std::rc::Rc;

use crate::error::{Error, Result};
use crate::format::regf::cell::HiveBytes;
use crate::format::regf::log::Overlay;
use crate::storage::extent::Extent;

/// Page size of the cache: the hive-bin alignment (regf specification,
/// "Hive bin": bins are multiples of 4096 bytes at 4096-byte offsets), so a
/// 4 KiB bin is exactly one page.
pub const PAGE: usize = 4096;

/// Where the pages come from: positioned reads of a file's bytes.
pub trait PageRead {
    /// Fills `buf` with the file's bytes at `offset` (within the file).
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;
    /// How many device reads filling `len` bytes at `offset` takes.
    fn reads_for(&self, _offset: u64, _len: u64) -> u64 {
        1
    }
}

/// A regular file, read with `pread`.
pub struct FilePages {
    file: File,
    dev: crate::storage::device::Device,
    name: String,
}

impl FilePages {
    /// Opens `path` read-only.
    pub fn open(path: &Path) -> Result<Self> {
        let ctx = |e| Error::io(format!("opening {}", path.display()), e);
        let file = File::open(path).map_err(ctx)?;
        // Reads go through the one sector-aligned device path.
        let dev = crate::storage::device::Device::from_file(
            std::sync::Arc::new(file.try_clone().map_err(ctx)?),
            512,
            None,
        )
        .map_err(ctx)?;
        Ok(FilePages {
            file,
            dev,
            name: path.display().to_string(),
        })
    }

    /// The open file (for its length).
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl PageRead for FilePages {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.dev.read_exact_at(buf, offset).map_err(|e| {
            Error::io(
                format!("reading {} at byte offset {offset:#x}", self.name),
                e,
            )
        })
    }
}

/// A file inside a raw volume, read through its extents on the device.
pub struct ExtentPages {
    device: crate::storage::device::Device,
    extents: Vec<Extent>,
    name: String,
}

impl ExtentPages {
    /// Reads the file mapped by `extents` on `device` (opened read-only).
    pub fn open(device: &Path, extents: Vec<Extent>, name: String) -> Result<Self> {
        let device = crate::storage::disk::Disk::open(device)?.device();
        Ok(ExtentPages {
            device,
            extents,
            name,
        })
    }
}

impl PageRead for ExtentPages {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let mut done = 0usize;
        for (dev, len) in crate::storage::extent::map(&self.extents, offset, buf.len() as u64)? {
            let len = len as usize;
            let piece = &mut buf[done..done + len];
            self.device.read_exact_at(piece, dev).map_err(|e| {
                Error::io(
                    format!(
                        "reading {} (file byte {:#x}) at device byte offset {dev:#x}",
                        self.name,
                        offset + done as u64
                    ),
                    e,
                )
            })?;
            done += len;
        }
        Ok(())
    }

    fn reads_for(&self, offset: u64, len: u64) -> u64 {
        crate::storage::extent::map(&self.extents, offset, len).map_or(1, |m| m.len() as u64)
    }
}

/// A file already in memory (one the extent path cannot read page by
/// page, read whole instead).
pub struct MemPages(pub crate::util::buf::Buf);

impl PageRead for MemPages {
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let at = usize::try_from(offset).unwrap_or(usize::MAX);
        let src = at
            .checked_add(buf.len())
            .and_then(|end| self.0.get(at..end))
            .ok_or(Error::Truncated {
                what: "file data",
                offset,
                needed: buf.len() as u64,
                len: self.0.len() as u64,
            })?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// What a lazy image has read so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ReadStats {
    /// Distinct pages fetched.
    pub pages: u64,
    /// Bytes fetched.
    pub bytes: u64,
    /// Positioned reads issued.
    pub reads: u64,
}

impl std::ops::Add for ReadStats {
    type Output = ReadStats;
    fn add(self, o: ReadStats) -> ReadStats {
        ReadStats {
            pages: self.pages + o.pages,
            bytes: self.bytes + o.bytes,
            reads: self.reads + o.reads,
        }
    }
}

/// Pages per block of a [`PageTable`]: 2 MiB of file per block.
const TABLE_BLOCK: usize = 512;

/// A slot per page, in blocks allocated on first use: a lazy image of a
/// 100 MB hive that reads a few hundred pages allocates (and the OS maps)
/// only the blocks of those pages, not a slot for every page of the file.
struct PageTable<T> {
    blocks: Vec<OnceCell<Box<[OnceCell<T>]>>>,
    pages: usize,
}

impl<T> PageTable<T> {
    fn new(pages: usize) -> Self {
        PageTable {
            blocks: std::iter::repeat_with(OnceCell::new)
                .take(pages.div_ceil(TABLE_BLOCK))
                .collect(),
            pages,
        }
    }

    /// Number of pages.
    fn len(&self) -> usize {
        self.pages
    }

    /// Page `p`'s value, if set (allocates nothing).
    fn get(&self, p: usize) -> Option<&T> {
        self.blocks
            .get(p / TABLE_BLOCK)?
            .get()?
            .get(p % TABLE_BLOCK)?
            .get()
    }

    /// Page `p`'s slot (its block allocated on first use); `None` past the
    /// end.
    fn slot(&self, p: usize) -> Option<&OnceCell<T>> {
        if p >= self.pages {
            return None;
        }
        let block = self.blocks.get(p / TABLE_BLOCK)?.get_or_init(|| {
            std::iter::repeat_with(OnceCell::new)
                .take(TABLE_BLOCK)
                .collect()
        });
        block.get(p % TABLE_BLOCK)
    }
}

/// Ranges that cross a page boundary, copied once into contiguous memory
/// and kept (so that references to them live as long as the cache).
/// Keyed by offset and length; a chain per first page.
struct Spans {
    heads: PageTable<Box<Span>>,
}

struct Span {
    offset: usize,
    bytes: Box<[u8]>,
    next: OnceCell<Box<Span>>,
}

impl Spans {
    fn new(pages: usize) -> Self {
        Spans {
            heads: PageTable::new(pages),
        }
    }

    /// The kept copy of `len` bytes at `offset`, made by `fill` the first
    /// time.
    fn get(
        &self,
        offset: usize,
        len: usize,
        fill: impl FnOnce(&mut [u8]) -> Result<()>,
    ) -> Result<&[u8]> {
        let mut slot = self
            .heads
            .slot(offset / PAGE)
            .ok_or_else(|| Error::Refused(format!("byte offset {offset:#x} is past the file")))?;
        loop {
            match slot.get() {
                Some(s) if s.offset == offset && s.bytes.len() == len => return Ok(&s.bytes),
                Some(s) => slot = &s.next,
                None => break,
            }
        }
        let mut bytes = vec![0u8; len].into_boxed_slice();
        fill(&mut bytes)?;
        let s = slot.get_or_init(|| {
            Box::new(Span {
                offset,
                bytes,
                next: OnceCell::new(),
            })
        });
        Ok(&s.bytes)
    }
}

/// Checks that `len` bytes at `offset` lie inside a `total`-byte file.
fn check_range(name: &str, total: usize, offset: usize, len: usize) -> Result<()> {
    match offset.checked_add(len) {
        Some(end) if end <= total => Ok(()),
        _ => Err(Error::Truncated {
            what: "hive data",
            offset: offset as u64,
            needed: len as u64,
            len: total as u64,
        }
        .in_file(Path::new(name))),
    }
}

/// Pages `first ..= last` as one contiguous copy, taken page by page from
/// `page`.
fn copy_pages<'s>(
    buf: &mut [u8],
    offset: usize,
    page: impl Fn(usize) -> Result<&'s [u8]>,
) -> Result<()> {
    let mut done = 0usize;
    while done < buf.len() {
        let at = offset + done;
        let p = page(at / PAGE)?;
        let within = at % PAGE;
        let take = (p.len().saturating_sub(within)).min(buf.len() - done);
        if take == 0 {
            return Err(Error::Refused(format!(
                "byte offset {at:#x} is past the end of the file"
            )));
        }
        buf[done..done + take].copy_from_slice(&p[within..within + take]);
        done += take;
    }
    Ok(())
}

/// The memory alignment of a buffer of page runs, kept whole (its pages are
/// slices of it): the common logical sector size, so that the
/// sector-aligned device path reads straight into it (each run starts at a
/// whole number of pages into the buffer: no bounce buffer, no copy per
/// page; a device with larger sectors bounces).
const RUN_ALIGN: usize = crate::storage::device::MIN_SECTOR as usize;

/// The buffer one fetch reads its runs of consecutive pages into, one
/// after another.
type Run = crate::storage::device::AlignedBuf;

/// A primary hive read page by page on demand.
pub struct LazyImage {
    src: Box<dyn PageRead>,
    name: String,
    len: usize,
    /// Per page, once fetched: the buffer it was read into and its offset
    /// there.
    pages: PageTable<(Rc<Run>, usize)>,
    spans: Spans,
    stats: Cell<ReadStats>,
    /// Page numbers fetched, in order (for tests and the bench).
    order: RefCell<Vec<usize>>,
}

impl LazyImage {
    /// A `len`-byte file read from `src`; `name` is used in messages.
    pub fn new(src: Box<dyn PageRead>, len: usize, name: String) -> Self {
        let n = len.div_ceil(PAGE);
        LazyImage {
            src,
            name,
            len,
            pages: PageTable::new(n),
            spans: Spans::new(n),
            stats: Cell::new(ReadStats::default()),
            order: RefCell::new(Vec::new()),
        }
    }

    /// What has been read so far.
    pub fn stats(&self) -> ReadStats {
        self.stats.get()
    }

    /// The file offsets of the pages read so far, ascending.
    pub fn pages_read(&self) -> Vec<u64> {
        let mut v: Vec<u64> = self
            .order
            .borrow()
            .iter()
            .map(|p| (p * PAGE) as u64)
            .collect();
        v.sort_unstable();
        v
    }

    /// Name used in messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn page_len(&self, p: usize) -> usize {
        (self.len - p * PAGE).min(PAGE)
    }

    /// Fetches pages `first .. end` that are not cached yet, one read per
    /// run of missing pages.
    fn fetch(&self, first: usize, end: usize) -> Result<()> {
        let mut runs = Vec::new();
        let mut p = first;
        while p < end {
            if self.pages.get(p).is_some() {
                p += 1;
                continue;
            }
            let run_end = (p..end)
                .find(|&q| self.pages.get(q).is_some())
                .unwrap_or(end);
            runs.push((p, run_end));
            p = run_end;
        }
        self.fetch_runs(&runs)
    }

    /// Reads the missing page runs `runs` (`first .. end` each, ascending,
    /// disjoint), one read per run, into one buffer shared by their pages:
    /// one allocation for all of them.
    fn fetch_runs(&self, runs: &[(usize, usize)]) -> Result<()> {
        let span = |&(p, end): &(usize, usize)| (end * PAGE).min(self.len) - p * PAGE;
        let total: usize = runs.iter().map(span).sum();
        if total == 0 {
            return Ok(());
        }
        let mut buf = Run::new(total, RUN_ALIGN)
            .map_err(|e| Error::io(format!("reading {}", self.name), e))?;
        let mut at = 0usize;
        let mut failed = None;
        let mut read = 0usize;
        for run in runs {
            let (start, len) = (run.0 * PAGE, span(run));
            if let Err(e) = self
                .src
                .read_at(start as u64, &mut buf.bytes_mut()[at..at + len])
            {
                failed = Some(e);
                break;
            }
            let mut s = self.stats.get();
            s.reads += self.src.reads_for(start as u64, len as u64);
            s.bytes += len as u64;
            s.pages += (run.1 - run.0) as u64;
            self.stats.set(s);
            at += len;
            read += 1;
        }
        // The runs read before a failed one are kept: no page is read twice.
        let buf = Rc::new(buf);
        let mut at = 0usize;
        for run in &runs[..read] {
            for p in run.0..run.1 {
                if let Some(slot) = self.pages.slot(p) {
                    let _ = slot.set((buf.clone(), at));
                }
                self.order.borrow_mut().push(p);
                at += PAGE;
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Page `p` (the last page may be short).
    pub fn page(&self, p: usize) -> Result<&[u8]> {
        if p >= self.pages.len() {
            return Err(Error::Refused(format!(
                "{}: page at byte offset {:#x} is past the end of the file",
                self.name,
                p.saturating_mul(PAGE)
            )));
        }
        self.fetch(p, p + 1)?;
        let page = self
            .pages
            .get(p)
            .map(|(run, at)| {
                let b = run.bytes();
                &b[*at..(at + PAGE).min(b.len())]
            })
            .unwrap_or_default();
        debug_assert_eq!(page.len(), self.page_len(p));
        Ok(page)
    }
}

impl HiveBytes for LazyImage {
    fn len(&self) -> usize {
        self.len
    }

    fn prefetch(&self, offsets: &mut dyn Iterator<Item = usize>) {
        let n = self.pages.len();
        let mut want: Vec<usize> = offsets
            .map(|o| o / PAGE)
            .filter(|&p| p < n && self.pages.get(p).is_none())
            .collect();
        want.sort_unstable();
        want.dedup();
        // Each run of consecutive pages in one read, all into one buffer;
        // an error is the business of the read that needs the page.
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for p in want {
            match runs.last_mut() {
                Some(last) if last.1 == p => last.1 = p + 1,
                _ => runs.push((p, p + 1)),
            }
        }
        let _ = self.fetch_runs(&runs);
    }

    fn range(&self, offset: usize, len: usize) -> Result<&[u8]> {
        check_range(&self.name, self.len, offset, len)?;
        if len == 0 {
            return Ok(&[]);
        }
        let (first, last) = (offset / PAGE, (offset + len - 1) / PAGE);
        if first == last {
            let within = offset % PAGE;
            return Ok(&self.page(first)?[within..within + len]);
        }
        // One read for every missing page of the range, then one copy.
        self.fetch(first, last + 1)?;
        self.spans
            .get(offset, len, |buf| copy_pages(buf, offset, |p| self.page(p)))
    }
}

/// A zero page: what the image holds where a replay grew it and no log
/// page was written.
static ZERO_PAGE: [u8; PAGE] = [0; PAGE];

/// A dirty primary as Windows loads it: the replayed log pages laid over
/// the lazy primary, the recovered base block over its first page.
pub struct Overlaid {
    base: Rc<LazyImage>,
    len: usize,
    pages: BTreeMap<usize, Box<[u8]>>,
    spans: Spans,
}

impl Overlaid {
    /// Lays `overlay` (from [`crate::format::regf::log::recover_overlay`])
    /// and the recovered `base_block` over `base`. Only pages a log write
    /// covers partly are read from the primary.
    pub fn new(base: Rc<LazyImage>, base_block: &[u8], overlay: &Overlay) -> Result<Self> {
        let len = overlay.len.max(base.len);
        let mut pages: BTreeMap<usize, Box<[u8]>> = BTreeMap::new();
        let writes = std::iter::once((0usize, base_block)).chain(
            overlay
                .writes
                .iter()
                .map(|(at, bytes)| (*at, bytes.as_slice())),
        );
        for (at, bytes) in writes {
            check_range(&base.name, len, at, bytes.len())?;
            let mut done = 0usize;
            while done < bytes.len() {
                let pos = at + done;
                let p = pos / PAGE;
                let within = pos % PAGE;
                let page_len = (len - p * PAGE).min(PAGE);
                let take = (page_len - within).min(bytes.len() - done);
                let page = match pages.entry(p) {
                    std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::btree_map::Entry::Vacant(v) => {
                        let whole = within == 0 && take == page_len;
                        let mut fresh = vec![0u8; page_len];
                        if !whole && p * PAGE < base.len {
                            let old = base.page(p)?;
                            fresh[..old.len()].copy_from_slice(old);
                        }
                        v.insert(fresh.into_boxed_slice())
                    }
                };
                page[within..within + take].copy_from_slice(&bytes[done..done + take]);
                done += take;
            }
        }
        Ok(Overlaid {
            base,
            len,
            pages,
            spans: Spans::new(len.div_ceil(PAGE)),
        })
    }

    /// Pages replaced by log data (the base block included).
    pub fn overlaid_pages(&self) -> usize {
        self.pages.len()
    }

    fn page(&self, p: usize) -> Result<&[u8]> {
        if let Some(page) = self.pages.get(&p) {
            return Ok(page);
        }
        if p * PAGE < self.base.len {
            let page = self.base.page(p)?;
            // The primary's short last page, grown by the replay.
            let want = (self.len - p * PAGE).min(PAGE);
            if page.len() < want {
                return Err(Error::Refused(format!(
                    "{}: page at {:#x} is short after replay",
                    self.base.name,
                    p * PAGE
                )));
            }
            return Ok(page);
        }
        let want = (self.len.saturating_sub(p * PAGE)).min(PAGE);
        Ok(&ZERO_PAGE[..want])
    }
}

impl HiveBytes for Overlaid {
    fn len(&self) -> usize {
        self.len
    }

    fn range(&self, offset: usize, len: usize) -> Result<&[u8]> {
        check_range(&self.base.name, self.len, offset, len)?;
        if len == 0 {
            return Ok(&[]);
        }
        let (first, last) = (offset / PAGE, (offset + len - 1) / PAGE);
        if first == last {
            let within = offset % PAGE;
            return Ok(&self.page(first)?[within..within + len]);
        }
        self.base.fetch(
            first.min(self.base.pages.len()),
            (last + 1).min(self.base.pages.len()),
        )?;
        self.spans
            .get(offset, len, |buf| copy_pages(buf, offset, |p| self.page(p)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file in memory that counts the reads made of it.
    struct Mem {
        bytes: Vec<u8>,
        reads: std::rc::Rc<Cell<usize>>,
    }

    impl PageRead for Mem {
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
            self.reads.set(self.reads.get() + 1);
            let o = offset as usize;
            buf.copy_from_slice(&self.bytes[o..o + buf.len()]);
            Ok(())
        }
    }

    fn image(len: usize) -> (LazyImage, Vec<u8>, std::rc::Rc<Cell<usize>>) {
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        let reads = std::rc::Rc::new(Cell::new(0));
        let src = Mem {
            bytes: bytes.clone(),
            reads: reads.clone(),
        };
        (
            LazyImage::new(Box::new(src), len, "mem".into()),
            bytes,
            reads,
        )
    }

    /// A prefetch reads the missing pages holding the offsets, each run of
    /// consecutive pages in one read, nothing else; the pages then serve
    /// the reads without another.
    #[test]
    fn prefetch_reads_runs_of_missing_pages_once() {
        let (img, bytes, reads) = image(10 * PAGE + 100);
        assert_eq!(
            img.range(3 * PAGE, 4).unwrap(),
            &bytes[3 * PAGE..3 * PAGE + 4]
        );
        assert_eq!(reads.get(), 1);
        // Pages 1, 2 (twice), 3 (held), 4, 7 and the short last page; an
        // offset past the end is ignored.
        let offs = [
            PAGE + 5,
            2 * PAGE,
            2 * PAGE + 9,
            3 * PAGE,
            4 * PAGE + 1,
            7 * PAGE,
            10 * PAGE + 50,
            99 * PAGE,
        ];
        img.prefetch(&mut offs.into_iter());
        // Runs 1-2, 4, 7, 10.
        assert_eq!(reads.get(), 5);
        let s = img.stats();
        assert_eq!((s.pages, s.reads), (6, 5));
        for o in offs.into_iter().filter(|&o| o < 10 * PAGE + 100) {
            assert_eq!(img.range(o, 1).unwrap(), &bytes[o..o + 1]);
        }
        assert_eq!(reads.get(), 5);
        assert_eq!(img.pages_read().len(), 6);
        // The runs of one prefetch share one buffer, each page at its place.
        let run = |p: usize| img.pages.get(p).unwrap().clone();
        for p in [2, 4, 7, 10] {
            assert!(Rc::ptr_eq(&run(1).0, &run(p).0), "page {p}");
        }
        assert_eq!(
            [1, 2, 4, 7, 10].map(|p| run(p).1),
            [0, PAGE, 2 * PAGE, 3 * PAGE, 4 * PAGE]
        );
        assert_eq!(run(1).0.bytes().len(), 4 * PAGE + 100);
        assert!(!Rc::ptr_eq(&run(1).0, &run(3).0));
    }

    /// A file whose page 4 cannot be read (a bad sector).
    struct BadPage4(Mem);

    impl PageRead for BadPage4 {
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
            let end = offset + buf.len() as u64;
            if offset < 5 * PAGE as u64 && end > 4 * PAGE as u64 {
                return Err(Error::Refused("bad sector".into()));
            }
            self.0.read_at(offset, buf)
        }
    }

    /// A read that fails in a prefetch keeps the runs read before it (no
    /// page is read twice) and leaves its own and later runs unread.
    #[test]
    fn a_failed_run_keeps_the_runs_read_before_it() {
        let bytes: Vec<u8> = (0..8 * PAGE).map(|i| (i % 253) as u8).collect();
        let reads = std::rc::Rc::new(Cell::new(0));
        let src = BadPage4(Mem {
            bytes: bytes.clone(),
            reads: reads.clone(),
        });
        let img = LazyImage::new(Box::new(src), bytes.len(), "bad".into());
        img.prefetch(&mut [PAGE, 4 * PAGE, 6 * PAGE].into_iter());
        assert_eq!(reads.get(), 1);
        assert_eq!(img.pages_read(), [PAGE as u64]);
        assert_eq!(img.stats().pages, 1);
        assert_eq!(img.range(PAGE + 1, 2).unwrap(), &bytes[PAGE + 1..PAGE + 3]);
        assert_eq!(reads.get(), 1);
        assert!(img.range(4 * PAGE, 1).is_err());
        assert_eq!(
            img.range(6 * PAGE, 3).unwrap(),
            &bytes[6 * PAGE..6 * PAGE + 3]
        );
        assert_eq!(reads.get(), 2);
    }

    /// The page table allocates a block only for pages asked for.
    #[test]
    fn page_table_allocates_blocks_on_first_use() {
        let t: PageTable<u32> = PageTable::new(3 * TABLE_BLOCK + 1);
        assert_eq!((t.len(), t.blocks.len()), (3 * TABLE_BLOCK + 1, 4));
        assert!(t.get(TABLE_BLOCK + 3).is_none());
        assert!(t.blocks.iter().all(|b| b.get().is_none()));
        t.slot(TABLE_BLOCK + 3).unwrap().set(7).unwrap();
        assert_eq!(t.get(TABLE_BLOCK + 3), Some(&7));
        assert_eq!(t.get(TABLE_BLOCK + 4), None);
        let used: Vec<bool> = t.blocks.iter().map(|b| b.get().is_some()).collect();
        assert_eq!(used, [false, true, false, false]);
        // The last page is the short block's only slot; past it, nothing.
        assert!(t.slot(3 * TABLE_BLOCK).is_some());
        assert!(t.slot(3 * TABLE_BLOCK + 1).is_none());
        assert!(t.get(usize::MAX).is_none());
    }

    #[test]
    fn pages_are_read_once_and_ranges_match_the_file() {
        let (img, bytes, reads) = image(5 * PAGE + 100);
        assert_eq!(img.range(10, 20).unwrap(), &bytes[10..30]);
        assert_eq!(img.range(100, 8).unwrap(), &bytes[100..108]);
        assert_eq!(reads.get(), 1);
        // Across pages 0..=2: pages 1 and 2 in one read.
        let r = img.range(PAGE - 4, PAGE + 8).unwrap();
        assert_eq!(r, &bytes[PAGE - 4..2 * PAGE + 4]);
        assert_eq!(reads.get(), 2);
        assert_eq!(img.range(PAGE - 4, PAGE + 8).unwrap(), r);
        // The short last page.
        assert_eq!(
            img.range(5 * PAGE, 100).unwrap(),
            &bytes[5 * PAGE..5 * PAGE + 100]
        );
        assert_eq!(reads.get(), 3);
        let s = img.stats();
        assert_eq!((s.pages, s.bytes, s.reads), (4, 3 * PAGE as u64 + 100, 3));
        assert_eq!(
            img.pages_read(),
            [0, PAGE as u64, 2 * PAGE as u64, 5 * PAGE as u64]
        );
    }

    #[test]
    fn ranges_past_the_end_are_errors() {
        let (img, _, reads) = image(2 * PAGE);
        assert!(img.range(2 * PAGE - 2, 4).is_err());
        assert!(img.range(usize::MAX, 2).is_err());
        assert!(img.page(2).is_err());
        assert_eq!(reads.get(), 0);
    }

    #[test]
    fn overlay_lays_log_pages_over_the_primary() {
        let (img, bytes, reads) = image(4 * PAGE);
        let head = vec![0xAA; PAGE];
        let overlay = Overlay {
            len: 6 * PAGE,
            writes: vec![
                (2 * PAGE, vec![0xBB; PAGE]),
                (3 * PAGE + 512, vec![0xCC; 512]),
                (5 * PAGE, vec![0xDD; PAGE]),
            ],
        };
        let img = Rc::new(img);
        let o = Overlaid::new(img.clone(), &head, &overlay).unwrap();
        // Only the partly written page 3 was read from the primary.
        assert_eq!(reads.get(), 1);
        assert_eq!(o.len(), 6 * PAGE);
        assert_eq!(o.range(0, 4).unwrap(), [0xAA; 4]);
        assert_eq!(o.range(PAGE, 4).unwrap(), &bytes[PAGE..PAGE + 4]);
        assert_eq!(o.range(2 * PAGE, 4).unwrap(), [0xBB; 4]);
        assert_eq!(
            o.range(3 * PAGE, 4).unwrap(),
            &bytes[3 * PAGE..3 * PAGE + 4]
        );
        assert_eq!(o.range(3 * PAGE + 512, 4).unwrap(), [0xCC; 4]);
        assert_eq!(o.range(4 * PAGE, 4).unwrap(), [0; 4]);
        let across = o.range(2 * PAGE - 2, 4).unwrap();
        assert_eq!(
            across,
            [bytes[2 * PAGE - 2], bytes[2 * PAGE - 1], 0xBB, 0xBB]
        );
        assert!(o.range(6 * PAGE - 2, 4).is_err());
    }

    /// The overlay of the dirty SYSTEM_B's logs over its lazy primary is,
    /// byte for byte, the image the whole-file replay makes.
    #[test]
    fn overlay_of_a_real_dirty_hive_equals_the_whole_replay() {
        use crate::format::regf::log::{recover, recover_overlay, LogInput};
        let name = "system/win10-1709-x64-dirty-with-logs__regipy__SYSTEM_B";
        let primary = crate::testing::corpus(name);
        let logs: Vec<(String, Vec<u8>)> = ["LOG1", "LOG2"]
            .iter()
            .map(|e| {
                (
                    format!("SYSTEM.{e}"),
                    crate::testing::corpus(&format!("{name}.{e}")),
                )
            })
            .collect();
        let inputs: Vec<LogInput> = logs
            .iter()
            .map(|(n, b)| LogInput {
                name: n.clone(),
                bytes: b,
            })
            .collect();
        let whole = recover(&primary, &inputs).unwrap();
        assert!(whole.replayed());
        let (rec, overlay) = recover_overlay(&primary[..PAGE], primary.len(), &inputs).unwrap();
        assert_eq!(rec.applied, whole.applied);
        let img = Rc::new(LazyImage::new(
            Box::new(MemPages(primary.clone().into())),
            primary.len(),
            "SYSTEM_B".into(),
        ));
        let o = Overlaid::new(img.clone(), &rec.hive, &overlay).unwrap();
        assert_eq!(o.len(), whole.hive.len());
        // Full-page log writes never read the primary page under them.
        assert_eq!(img.stats().pages, 0);
        for (p, want) in whole.hive.chunks(PAGE).enumerate() {
            assert_eq!(o.range(p * PAGE, want.len()).unwrap(), want, "page {p}");
        }
    }
}

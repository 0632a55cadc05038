// SPDX-License-Identifier: GPL-2.0-or-later
//! Transaction-log recovery against real hives and logs from the shared
//! corpus (see `MANIFEST.tsv` there for the origin of every file). The
//! independent reader is nt-hive: a recovered hive must walk completely, and
//! where Windows' own recovered file exists, its key/value tree must match.

use std::collections::BTreeMap;
use std::path::PathBuf;

use ntrescue::format::regf::base_block::{BaseBlock, BASE_BLOCK_SIZE};
use ntrescue::format::regf::log::{recover, sequences_seen, LogFormat, LogInput, Recovery};
use ntrescue::Error;
use sha2::{Digest, Sha256};

/// The shared corpus; a missing corpus fails the test (never a skip).
fn corpus_dir() -> PathBuf {
    let dir = crate::util::corpus();
    assert!(
        dir.is_dir(),
        "corpus directory {} not found: ../shared must sit beside the repo",
        dir.display()
    );
    dir
}

/// Reads a corpus file; panics if the corpus exists but the file does not.
fn read(dir: &std::path::Path, rel: &str) -> Vec<u8> {
    let p = dir.join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// A hive and its logs, loaded from the corpus.
struct Set {
    primary: Vec<u8>,
    logs: Vec<(String, Vec<u8>)>,
}

impl Set {
    fn load(dir: &std::path::Path, primary: &str, logs: &[&str]) -> Set {
        Set {
            primary: read(dir, primary),
            logs: logs
                .iter()
                .map(|l| {
                    let name = l.rsplit('/').next().unwrap().to_string();
                    (name, read(dir, l))
                })
                .collect(),
        }
    }

    fn inputs(&self) -> Vec<LogInput<'_>> {
        self.logs
            .iter()
            .map(|(name, bytes)| LogInput {
                name: name.clone(),
                bytes,
            })
            .collect()
    }

    fn recover(&self) -> ntrescue::Result<Recovery> {
        recover(&self.primary, &self.inputs())
    }
}

fn sequences(r: &Recovery) -> Vec<u32> {
    r.applied.iter().map(|a| a.sequence).collect()
}

/// One value: name, raw type, raw data.
type Value = (String, u32, Vec<u8>);
/// Every key path (names joined with `\`) with its values, in list order.
type Tree = BTreeMap<String, Vec<Value>>;

/// Walks every key and every value with nt-hive, reading all data. Any error
/// fails the walk, naming the key.
fn walk(hive: &[u8]) -> Result<Tree, String> {
    /// nt-hive expects a `db` record for any value over 16344 bytes, but
    /// hives of format 1.3 (no `db` records yet) keep such data in one cell
    /// (regf spec, "Big data": used as of 1.4). nt-hive's error names the
    /// offset of the expected `db` signature, which is the start of that
    /// cell's data; read it directly when the cell is large enough.
    fn single_cell_data(
        hive: &[u8],
        v: &nt_hive::KeyValue<'_, &[u8]>,
        e: &nt_hive::NtHiveError,
    ) -> Option<Vec<u8>> {
        let nt_hive::NtHiveError::InvalidTwoByteSignature { offset, .. } = *e else {
            return None;
        };
        if u32::from_le_bytes(hive[24..28].try_into().ok()?) > 3 {
            return None;
        }
        let cell = offset.checked_sub(4)?;
        let size = i32::from_le_bytes(hive.get(cell..offset)?.try_into().ok()?);
        let len = v.data_size() as usize;
        if size >= 0 || (size.unsigned_abs() as usize) < len + 4 {
            return None;
        }
        hive.get(offset..offset + len).map(<[u8]>::to_vec)
    }
    fn visit(
        hive: &[u8],
        key: &nt_hive::KeyNode<'_, &[u8]>,
        path: String,
        tree: &mut Tree,
    ) -> Result<(), String> {
        let ctx = |e: nt_hive::NtHiveError| format!("{path}: {e}");
        let mut values = Vec::new();
        if let Some(list) = key.values() {
            for v in list.map_err(ctx)? {
                let v = v.map_err(ctx)?;
                let name = v.name().map_err(ctx)?.to_string_lossy();
                let ty = match v.data_type() {
                    Ok(t) => t as u32,
                    Err(nt_hive::NtHiveError::UnsupportedKeyValueDataType { actual, .. }) => actual,
                    Err(e) => return Err(ctx(e)),
                };
                let data = match v.data().and_then(|d| d.into_vec()) {
                    Ok(data) => data,
                    Err(e) => single_cell_data(hive, &v, &e)
                        .ok_or_else(|| format!("{path}\\{name}: {e}"))?,
                };
                values.push((name, ty, data));
            }
        }
        tree.insert(path.clone(), values);
        if let Some(subkeys) = key.subkeys() {
            for sk in subkeys.map_err(ctx)? {
                let sk = sk.map_err(ctx)?;
                let name = sk.name().map_err(ctx)?.to_string_lossy();
                visit(hive, &sk, format!("{path}\\{name}"), tree)?;
            }
        }
        Ok(())
    }
    let bytes = hive;
    let hive = nt_hive::Hive::without_validation(bytes).map_err(|e| e.to_string())?;
    let root = hive.root_key_node().map_err(|e| e.to_string())?;
    let mut tree = Tree::new();
    visit(bytes, &root, String::new(), &mut tree)?;
    Ok(tree)
}

fn value_count(t: &Tree) -> usize {
    t.values().map(Vec::len).sum()
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Windows 10 recovered yarp's `NewDirtyHive1` itself; its file is the
/// reference. LOG1 holds entry 2, LOG2 entries 3..5.
#[test]
fn new_dirty_hive1_matches_what_windows_10_recovered() {
    let dir = corpus_dir();
    let d = "other/yarp-logsets/NewDirtyHive1";
    let set = Set::load(
        &dir,
        &format!("{d}/NewDirtyHive"),
        &[
            &format!("{d}/NewDirtyHive.LOG1"),
            &format!("{d}/NewDirtyHive.LOG2"),
        ],
    );
    let windows = read(&dir, &format!("{d}/RecoveredHive_Windows10"));
    let r = set.recover().unwrap();

    assert!(r.primary_dirty);
    assert_eq!(sequences(&r), [2, 3, 4, 5]);
    assert_eq!(r.applied[0].log, "NewDirtyHive.LOG1");
    assert!(r.applied[1..].iter().all(|a| a.log == "NewDirtyHive.LOG2"));
    assert_eq!(r.stopped, None);
    assert_eq!(r.last_sequence, Some(5));
    assert_eq!(r.sequences_seen.highest, 5);

    // Everything after the base block, hive bins and slack alike, is
    // byte-identical to Windows' own result (the check yarp's test suite makes).
    assert_eq!(r.hive.len(), windows.len());
    assert!(r.hive[BASE_BLOCK_SIZE..] == windows[BASE_BLOCK_SIZE..]);

    // The base block differs only in the sequence numbers (Windows wrote
    // last + 1 = 6 when it reconciled, we leave last = 5) and the checksum.
    let ours = BaseBlock::parse(&r.hive).unwrap();
    let theirs = BaseBlock::parse(&windows).unwrap();
    assert_eq!((ours.seq1, ours.seq2), (5, 5));
    assert_eq!((theirs.seq1, theirs.seq2), (6, 6));
    assert!(ours.checksum_valid() && !ours.is_dirty());
    let differing: Vec<usize> = (0..BASE_BLOCK_SIZE)
        .filter(|&i| r.hive[i] != windows[i])
        .collect();
    assert!(
        differing
            .iter()
            .all(|&i| (4..12).contains(&i) || (508..512).contains(&i)),
        "{differing:?}"
    );

    let tree = walk(&r.hive).unwrap();
    assert_eq!(tree, walk(&windows).unwrap());
    assert!(tree.contains_key("\\Key3\\Key3_1") && !tree.contains_key("\\Key1"));
}

/// yarp's `test_dirty_new2`: the primary's secondary sequence number is 3,
/// so LOG1 (entry 2) is stale and only LOG2 (3..5) applies.
#[test]
fn new_dirty_hive2_applies_only_log2() {
    let dir = corpus_dir();
    let d = "other/yarp-logsets/NewDirtyHive2";
    let set = Set::load(
        &dir,
        &format!("{d}/NewDirtyHive"),
        &[
            &format!("{d}/NewDirtyHive.LOG1"),
            &format!("{d}/NewDirtyHive.LOG2"),
        ],
    );
    let r = set.recover().unwrap();
    assert_eq!(sequences(&r), [3, 4, 5]);
    assert!(r.applied.iter().all(|a| a.log == "NewDirtyHive.LOG2"));
    assert_eq!(r.last_sequence, Some(5));
    assert_eq!(r.stopped, None);
    walk(&r.hive).unwrap();
}

/// Windows 7 recovered yarp's `OldDirtyHive` (old-format `DIRT` log).
#[test]
fn old_dirty_hive_matches_what_windows_7_recovered() {
    let dir = corpus_dir();
    let d = "other/yarp-logsets/OldDirtyHive";
    let set = Set::load(
        &dir,
        &format!("{d}/OldDirtyHive"),
        &[
            &format!("{d}/OldDirtyHive.LOG1"),
            &format!("{d}/OldDirtyHive.LOG2"),
        ],
    );
    let windows = read(&dir, &format!("{d}/RecoveredHive_Windows7"));
    let r = set.recover().unwrap();

    assert_eq!(r.applied.len(), 1);
    let a = &r.applied[0];
    assert_eq!(
        (a.log.as_str(), a.format),
        ("OldDirtyHive.LOG1", LogFormat::Old)
    );
    assert_eq!((a.sequence, a.pages, a.hive_bins_size), (5, 64, 0x77000));
    assert_eq!(r.last_sequence, Some(5));
    assert_eq!(r.stopped, None);
    let ours = BaseBlock::parse(&r.hive).unwrap();
    assert_eq!((ours.seq1, ours.seq2), (5, 5));
    assert!(!ours.is_dirty());

    // Windows wrote this hive twice more after recovering it (seq 7/7), so
    // a few bytes differ: the base block (sequence numbers, timestamp,
    // file name, checksum), the timestamp in the first bin's header, and
    // one key node's largest-value-name-length field (0x6bd88 + 4 + 60),
    // which Windows lowered when it later rewrote that key. Every other
    // byte of the hive bins and slack is identical.
    assert_eq!(r.hive.len(), windows.len());
    let differing: Vec<usize> = (BASE_BLOCK_SIZE..r.hive.len())
        .filter(|&i| r.hive[i] != windows[i])
        .collect();
    assert!(
        differing
            .iter()
            .all(|&i| (0x1014..0x101c).contains(&i) || (0x6bdc8..0x6bdcc).contains(&i)),
        "{differing:x?}"
    );

    let tree = walk(&r.hive).unwrap();
    assert_eq!(tree, walk(&windows).unwrap());
    assert!(tree.contains_key("\\key_with_many_subkeys\\5000\\find_me_in_log"));
    assert!(!tree.contains_key("\\key_with_many_subkeys\\1"));
}

/// yarp's `test_bad_log1..3` expect recovery to fail: in each set no log
/// is usable (old log with a bad base-block checksum; old log whose dirty
/// vector signature is `INVL`; two new logs with bad base-block checksums).
/// Nothing is replayed and the primary comes back unchanged.
#[test]
fn bad_logs_replay_nothing() {
    let dir = corpus_dir();
    for (set_dir, why) in [
        ("BadLogHive1", "checksum mismatch"),
        ("BadLogHive2", "dirty vector signature"),
        ("BadLogHive3", "checksum mismatch"),
    ] {
        let d = format!("other/yarp-logsets/{set_dir}");
        let set = Set::load(
            &dir,
            &format!("{d}/BadLogHive"),
            &[
                &format!("{d}/BadLogHive.LOG1"),
                &format!("{d}/BadLogHive.LOG2"),
            ],
        );
        let r = set.recover().unwrap();
        assert!(r.primary_dirty, "{set_dir}");
        assert_eq!(sequences(&r), [] as [u32; 0], "{set_dir}");
        assert_eq!(r.last_sequence, None, "{set_dir}");
        assert!(r.hive == set.primary, "{set_dir}");
        assert!(r.logs.iter().all(|l| !l.usable), "{set_dir}");
        let stopped = r.stopped.as_deref().unwrap();
        assert!(
            stopped.contains("no transaction log is usable"),
            "{stopped}"
        );
        assert!(
            r.logs[0].note.contains(why),
            "{set_dir}: {}",
            r.logs[0].note
        );
    }
}

/// The LOG2 files of BadLogHive3 have a broken base block, yet their entries
/// are intact: they are not replayed, but they count as sequence numbers seen.
#[test]
fn entries_in_unusable_logs_still_count_as_seen() {
    let dir = corpus_dir();
    let d = "other/yarp-logsets/BadLogHive3";
    let set = Set::load(
        &dir,
        &format!("{d}/BadLogHive"),
        &[
            &format!("{d}/BadLogHive.LOG1"),
            &format!("{d}/BadLogHive.LOG2"),
        ],
    );
    let r = set.recover().unwrap();
    assert_eq!(
        r.logs[1].remnants.iter().map(|e| e.0).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    assert_eq!(r.sequences_seen.highest, 5);
}

/// yarp's `BadBaseBlockHive`: the primary's base-block checksum is wrong.
/// Windows would rebuild the base block from LOG1; we refuse.
#[test]
fn bad_primary_base_block_is_refused() {
    let dir = corpus_dir();
    let d = "other/yarp-logsets/BadBaseBlockHive";
    let set = Set::load(
        &dir,
        &format!("{d}/BadBaseBlockHive"),
        &[
            &format!("{d}/BadBaseBlockHive.LOG1"),
            &format!("{d}/BadBaseBlockHive.LOG2"),
        ],
    );
    match set.recover() {
        Err(Error::Refused(msg)) => assert!(msg.contains("checksum"), "{msg}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

const SYSTEM_B: &str = "system/win10-1709-x64-dirty-with-logs__regipy__SYSTEM_B";

fn system_b(dir: &std::path::Path) -> Set {
    Set::load(
        dir,
        SYSTEM_B,
        &[&format!("{SYSTEM_B}.LOG1"), &format!("{SYSTEM_B}.LOG2")],
    )
}

/// A real Windows 10 1709 SYSTEM hive, dirty (1622/1621), with LOG1 holding
/// entries 2107..2110 and LOG2 2111..2130.
#[test]
fn system_b_replays_24_entries() {
    let dir = corpus_dir();
    let set = system_b(&dir);
    let r = set.recover().unwrap();

    assert_eq!(sequences(&r), (2107..=2130).collect::<Vec<_>>());
    let name = |a: &ntrescue::format::regf::log::AppliedEntry| a.log.ends_with(".LOG1");
    assert!(r.applied[..4].iter().all(name));
    assert!(!r.applied[4..].iter().any(name));
    assert_eq!(r.stopped, None);
    assert_eq!(r.last_sequence, Some(2130));
    assert_eq!(r.sequences_seen.highest, 2130);
    assert_eq!(r.applied.first().unwrap().hive_bins_size, 0xBD3000);
    assert_eq!(r.applied.last().unwrap().hive_bins_size, 0xC02000);

    let bb = BaseBlock::parse(&r.hive).unwrap();
    assert_eq!(
        (bb.seq1, bb.seq2, bb.hive_bins_size),
        (2130, 2130, 0xC02000)
    );
    assert!(!bb.is_dirty());
    assert_eq!(bb.flags, 1);

    // yarp's `save_recovered_hive` writes the whole in-memory file (the
    // primary's length, 0xC40000 here, since the bins grow into its slack)
    // with the same base-block changes, so the bytes must be identical.
    assert_eq!(r.hive.len(), set.primary.len());
    assert_eq!(
        sha256_hex(&r.hive),
        "734095bf043ea72300feb8bc380a585d8a9c925cdd5ffc190ca5ff6bc5a7c231"
    );

    // The logs add keys and values; the whole tree reads back.
    let before = walk(&set.primary).unwrap();
    let after = walk(&r.hive).unwrap();
    assert!(after.len() > before.len());
    assert!(value_count(&after) > value_count(&before));
}

#[test]
fn system_b_max_sequence_seen() {
    let dir = corpus_dir();
    let set = system_b(&dir);
    assert_eq!(
        sequences_seen(&set.primary, &set.inputs()).unwrap().highest,
        2130
    );
    // Without logs only the primary counts.
    assert_eq!(sequences_seen(&set.primary, &[]).unwrap().highest, 1622);
}

fn le32(b: &[u8], off: usize) -> usize {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap()) as usize
}

/// SYSTEM_B's logs with one entry damaged (regf spec, new format, notes 7
/// and 8; hive-write-safety.md §3.3): a bad hash ends a log's entries, the
/// entries before it stay applied, and the other log is used only if its
/// first entry is last applied + 1. Either way the report keeps what
/// stopped LOG1.
#[test]
fn bad_entry_in_log1_then_log2() {
    let dir = corpus_dir();
    let clean = system_b(&dir).recover().unwrap();
    let (last_seq, last_off) = *clean.logs[0].entries.last().unwrap();
    assert_eq!(last_seq, 2110);
    let last_off = last_off as usize;
    // Hash-2 sits at bytes 32..40 of an entry header.
    const HASH2: usize = 32;

    // LOG1 ends with a torn copy of entry 2111 (LOG2's first entry, one
    // byte of its Hash-2 flipped) right after its last good entry, as if
    // Windows had failed writing 2111 there and written it to LOG2 instead.
    // LOG1 stops at it; LOG2 starts at 2110 + 1, so it resumes the replay
    // and the result is the undamaged replay's.
    let mut set = system_b(&dir);
    let end = last_off + le32(&set.logs[0].1, last_off + 4);
    let log2 = &set.logs[1].1;
    let mut torn = log2[512..512 + le32(log2, 512 + 4)].to_vec();
    torn[HASH2] ^= 0x01;
    set.logs[0].1[end..end + torn.len()].copy_from_slice(&torn);
    let r = set.recover().unwrap();
    assert_eq!(sequences(&r), (2107..=2130).collect::<Vec<_>>());
    assert!(r.applied[4..].iter().all(|a| a.log.ends_with(".LOG2")));
    assert!(r.hive == clean.hive, "LOG2 resumed over a different image");
    assert_eq!(r.logs[0].entries, clean.logs[0].entries);
    let stopped = r.stopped.unwrap();
    let log1_stop = format!(
        "entry 2111 in {} at byte offset {end:#x}: Hash-2",
        set.logs[0].0
    );
    assert!(stopped.contains(&log1_stop), "{stopped}");
    assert!(stopped.contains("continued the sequence"), "{stopped}");

    // Entry 2110 itself damaged: LOG1 stops after 2109, LOG2 (2111..) cannot
    // follow, so nothing of it is replayed; the report names both reasons.
    let mut set = system_b(&dir);
    set.logs[0].1[last_off + HASH2] ^= 0x01;
    let r = set.recover().unwrap();
    assert_eq!(sequences(&r), (2107..=2109).collect::<Vec<_>>());
    assert_eq!(r.last_sequence, Some(2109));
    let stopped = r.stopped.unwrap();
    let log1_stop = format!(
        "entry 2110 in {} at byte offset {last_off:#x}: Hash-2",
        set.logs[0].0
    );
    assert!(stopped.contains(&log1_stop), "{stopped}");
    assert!(
        stopped.contains("entries 2110..2110 are missing"),
        "{stopped}"
    );
    // LOG2's entries were not replayed but are still sequence numbers seen.
    assert_eq!(r.sequences_seen.highest, 2130);
}

/// Other real dirty hives with new-format logs: the replay runs to the end
/// and the result walks completely.
#[test]
fn user_hives_replay_and_walk() {
    let dir = corpus_dir();
    let d = "other/dirty-with-logs";
    // UsrClass.dat: 256/255, LOG1 287..290, LOG2 291..300.
    let usrclass = format!("{d}/regipy__UsrClass.dat");
    let set = Set::load(
        &dir,
        &usrclass,
        &[&format!("{usrclass}.LOG1"), &format!("{usrclass}.LOG2")],
    );
    let r = set.recover().unwrap();
    assert_eq!(sequences(&r), (287..=300).collect::<Vec<_>>());
    assert_eq!(r.stopped, None);
    walk(&r.hive).unwrap();

    // NTUSER.DAT: 567/566; LOG2 (base 562) is older than the primary's
    // secondary sequence number, so only LOG1 (566..588) applies.
    let ntuser = format!("{d}/win10__regipy__transactions_NTUSER.DAT");
    let set = Set::load(
        &dir,
        &ntuser,
        &[&format!("{ntuser}.LOG1"), &format!("{ntuser}.LOG2")],
    );
    let r = set.recover().unwrap();
    assert_eq!(sequences(&r), (566..=588).collect::<Vec<_>>());
    assert!(r.applied.iter().all(|a| a.log.ends_with(".LOG1")));
    assert_eq!(r.stopped, None);
    assert_eq!(r.sequences_seen.highest, 588);
    let bb = BaseBlock::parse(&r.hive).unwrap();
    assert_eq!(bb.hive_bins_size, 0xE2000);
    walk(&r.hive).unwrap();
}

/// A dirty SYSTEM hive whose logs were not kept: nothing can be replayed,
/// and the report says so (the caller refuses by default).
#[test]
fn dirty_hive_without_logs_reports_nothing_applied() {
    let dir = corpus_dir();
    let primary = read(
        &dir,
        "system/win10-1903-x64-dirty-nologs__regipy__SYSTEM_WIN_10_1709",
    );
    let r = recover(&primary, &[]).unwrap();
    assert!(r.primary_dirty);
    assert!(!r.replayed());
    assert_eq!(r.last_sequence, None);
    assert!(r.stopped.as_deref().unwrap().contains("no transaction log"));
    assert!(r.hive == primary);
    assert_eq!(r.sequences_seen.highest, 4317);
}

/// A clean hive is returned unchanged even when logs are supplied.
#[test]
fn clean_hive_is_not_replayed() {
    let dir = corpus_dir();
    let d = "other/yarp-logsets/NewDirtyHive1";
    let clean = read(&dir, &format!("{d}/RecoveredHive_Windows10"));
    let log2 = read(&dir, &format!("{d}/NewDirtyHive.LOG2"));
    let logs = [LogInput {
        name: "RecoveredHive_Windows10.LOG2".into(),
        bytes: &log2,
    }];
    let r = recover(&clean, &logs).unwrap();
    assert!(!r.primary_dirty && !r.replayed() && r.stopped.is_none());
    assert!(r.hive == clean);
    assert_eq!(r.logs[0].entries.len(), 3);
    assert_eq!(r.sequences_seen.highest, 6);
}

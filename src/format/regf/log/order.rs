// SPDX-License-Identifier: GPL-2.0-or-later
//! Which logs are replayed in which order (sequence numbers with
//! wrap-around), and the numbers a later clean write must stay above.

use super::parse::*;
use super::*;

pub(super) fn base_list(logs: &[&ParsedLog]) -> String {
    let starts: Vec<String> = logs
        .iter()
        .map(|l| format!("{} starts at {:#x}", l.name, l.base_sequence().unwrap_or(0)))
        .collect();
    starts.join(", ")
}

/// Sorts usable logs by base sequence number in wrap-around order, or
/// refuses when that order is not defined (module docs, "Sequence numbers
/// and wrap-around"): the earliest start must have every other one less
/// than 2^31 after it, and no two logs holding entries may start at the
/// same number.
pub(super) fn order_by_sequence(logs: &mut [&ParsedLog]) -> Result<()> {
    let starts: Vec<u32> = logs.iter().filter_map(|l| l.base_sequence()).collect();
    let earliest = starts
        .iter()
        .copied()
        .find(|&m| starts.iter().all(|&s| s.wrapping_sub(m) <= 0x7FFF_FFFF));
    let Some(earliest) = earliest else {
        return Err(Error::Refused(format!(
            "the transaction logs start at sequence numbers too far apart to be ordered across \
             the wrap past 0xffffffff ({}); which one Windows replays first is not known, \
             ntrescue does not guess",
            base_list(logs)
        )));
    };
    // Among logs that start at the same number, one without entries adds
    // nothing (a log Windows reset but has not written to yet): the one
    // holding entries goes first. Two that both hold entries are refused.
    logs.sort_by_key(|l| {
        (
            l.base_sequence().unwrap_or(0).wrapping_sub(earliest),
            l.chain.is_empty(),
        )
    });
    if let Some(w) = logs.windows(2).find(|w| {
        w[0].base_sequence() == w[1].base_sequence()
            && !w[0].chain.is_empty()
            && !w[1].chain.is_empty()
    }) {
        return Err(Error::Refused(format!(
            "{} and {} both start at sequence number {}: which one holds the earlier entries is \
             not known, ntrescue does not guess",
            w[0].name,
            w[1].name,
            w[0].base_sequence().unwrap_or(0)
        )));
    }
    Ok(())
}

/// Whether `log` starts at or after the primary's secondary sequence number
/// (spec note 5). Refuses when that depends on whether the numbers are
/// compared as plain integers or with wrap-around (module docs).
pub(super) fn at_or_after(log: &ParsedLog, secondary: u32) -> Result<bool> {
    let Some(start) = log.base_sequence() else {
        return Ok(false);
    };
    let plain = start >= secondary;
    let wrapped = start == secondary || seq_precedes(secondary, start);
    if plain != wrapped {
        return Err(Error::Refused(format!(
            "{} starts at sequence number {start:#x} and the primary's secondary sequence number is \
             {secondary:#x}: whether Windows replays it depends on how it compares numbers across \
             the wrap past 0xffffffff, which is not known; ntrescue does not guess",
            log.name
        )));
    }
    Ok(plain)
}

/// The lowest and the highest sequence number (as plain 32-bit integers)
/// found in the primary's base block (both fields), in any valid log base
/// block, or in any valid log entry, wherever it sits in a log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SequencesSeen {
    /// Lowest number seen.
    pub lowest: u32,
    /// Highest number seen (what reports call "max sequence seen").
    pub highest: u32,
}

impl SequencesSeen {
    /// The sequence number a writer puts in both fields of a hive it writes
    /// clean: 1 + the highest number seen, so that no entry left in a log
    /// can ever be taken for a newer one (hive-write-safety.md §5.5, §6 step
    /// 8).
    ///
    /// That guarantee needs the new number to be above every number seen
    /// however Windows compares them: as plain integers (as yarp checks a
    /// log's eligibility) and in wrap-around order (as logs are ordered).
    /// It is only then returned. The spec says nothing about sequence
    /// numbers that wrap past 0xFFFFFFFF, so when the highest is 0xFFFFFFFF
    /// (one more wraps to 0) or the numbers seen span 2^31 - 1 or more (they
    /// straddle the wrap, or a log holds a stray entry), this refuses
    /// instead of picking a number: Windows itself can reconcile such a hive.
    pub fn next_clean(&self) -> Result<u32> {
        let advice = "ntrescue will not pick one: boot the VM once and shut it down cleanly, or \
                      load and unload the hive on a Windows helper, so that Windows reconciles it";
        let Some(next) = self.highest.checked_add(1) else {
            return Err(Error::Refused(format!(
                "the highest sequence number in the hive and its logs is {:#x}: one more wraps to \
                 0, and the spec does not say how Windows compares a wrapped number with the \
                 entries left in the logs; {advice}",
                self.highest
            )));
        };
        if !seq_precedes(self.lowest, next) {
            return Err(Error::Refused(format!(
                "the sequence numbers in the hive and its logs run from {:#x} to {:#x}: so far \
                 apart that they wrap past 0xffffffff, and no new number is above all of them both \
                 as a plain number and in wrap-around order; {advice}",
                self.lowest, self.highest
            )));
        }
        Ok(next)
    }
}

/// The sequence numbers of `primary` and `logs` (see [`SequencesSeen`]).
/// Works on clean and dirty hives; the primary only needs a `regf`
/// signature.
pub fn sequences_seen(primary: &[u8], logs: &[LogInput]) -> Result<SequencesSeen> {
    let base = BaseBlock::parse(primary)?;
    let parsed: Vec<ParsedLog> = logs.iter().map(parse_log).collect();
    Ok(seen(&base, &parsed))
}

pub(super) fn seen(base: &BaseBlock, logs: &[ParsedLog]) -> SequencesSeen {
    let all = logs.iter().flat_map(ParsedLog::sequences);
    all.fold(
        SequencesSeen {
            lowest: base.seq1.min(base.seq2),
            highest: base.seq1.max(base.seq2),
        },
        |s, n| SequencesSeen {
            lowest: s.lowest.min(n),
            highest: s.highest.max(n),
        },
    )
}

#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Loads DIR/SYSTEM with its logs the way Windows would, using other
people's replayers, and prints the SHA-256 of what it loads as: the root
cell offset, the hive bins size and the hive bins data (the bookkeeping
fields of the base block -- sequence numbers, checksum, timestamp -- left
out).

A clean primary (seq1 == seq2, good checksum) loads as it is. A dirty one
is replayed:
- new-format logs (HvLE, Windows 8.1+) by python-registry's RegistryLog,
  which applies a log only when it is eligible, in dual-log order, and
  only entries with consecutive sequence numbers and good hashes;
- old-format logs (DIRT, up to Windows 8) by a dirty-vector replay written
  here from the format specification (no maintained Python package replays
  them correctly for hives over 2 MiB), checked against the hive Windows 7
  itself recovered (crash::peer_replayers_load_as_windows_did).

Usage: peer_replay.py DIR [OUT]  (OUT: where to write the loaded hive)
"""
import hashlib
import io
import os
import struct
import sys

from Registry import RegistryLog

BASE = 512
BINS = 4096


def checksum(block):
    x = 0
    for (w,) in struct.iter_unpack("<I", block[:508]):
        x ^= w
    if x == 0xFFFFFFFF:
        x = 0xFFFFFFFE
    elif x == 0:
        x = 1
    return x


def valid(block):
    seq1, seq2 = struct.unpack_from("<II", block, 4)
    return seq1 == seq2 and struct.unpack_from("<I", block, 508)[0] == checksum(block)


def digest(hive):
    root, size = struct.unpack_from("<II", hive, 0x24)
    return hashlib.sha256(hive[0x24:0x2C] + hive[BINS:BINS + size]).hexdigest()


def logs(d):
    out = []
    for n in ("SYSTEM.LOG1", "SYSTEM.LOG2"):
        p = os.path.join(d, n)
        if os.path.exists(p):
            with open(p, "rb") as f:
                b = f.read()
            if len(b) >= BASE and b[:4] == b"regf":
                out.append((p, b))
    return out


def replay_new(primary, new_logs):
    """python-registry: the eligible logs, the starting one first."""
    buf = io.BytesIO(primary)
    parsed = []
    for p, _ in new_logs:
        buf.seek(0)
        try:
            parsed.append(RegistryLog.RegistryLog(buf, p))
        except Exception as e:  # a log it will not use
            print(f"{p}: skipped by python-registry: {e}", file=sys.stderr)
    eligible = [l for l in parsed if l.is_eligible_log()]
    if len(eligible) == 2 and not eligible[0].is_starting_log(eligible[1]):
        eligible.reverse()
    if eligible:
        seq = eligible[0].recover_hive()
        if len(eligible) == 2 and seq is not None:
            eligible[1].reload_primary_regf()
            eligible[1].recover_hive_continue(seq + 1)
    return buf.getvalue()


def replay_old(primary, old_logs):
    """The dirty-vector replay, written here from the format specification
    (regipy's assumes the pages start at byte 1024, which holds only for
    hives under 2 MiB): the first valid log whose timestamp equals the
    primary's; its bitmap has one bit per 512-byte page of the hive bins,
    and the set pages follow, packed, from the first sector boundary after
    the bitmap. The hive then has the log's bins size."""
    for _, b in old_logs:
        if not valid(b) or b[12:20] != primary[12:20] or b[BASE:BASE + 4] != b"DIRT":
            continue
        size = struct.unpack_from("<I", b, 0x28)[0]
        bitmap = b[BASE + 4:BASE + 4 + size // 4096]
        src = -(-(BASE + 4 + len(bitmap)) // BASE) * BASE
        hive = bytearray(primary)
        if len(hive) < BINS + size:
            hive.extend(bytes(BINS + size - len(hive)))
        for page in range(len(bitmap) * 8):
            if bitmap[page // 8] >> (page % 8) & 1:
                at = BINS + page * BASE
                hive[at:at + BASE] = b[src:src + BASE]
                src += BASE
        hive[0x24:0x2C] = b[0x24:0x2C]
        return bytes(hive)
    return primary


def main(d, out=None):
    primary_path = os.path.join(d, "SYSTEM")
    with open(primary_path, "rb") as f:
        primary = f.read()
    hive = primary if valid(primary) else replay(d, primary)
    if out:
        with open(out, "wb") as f:
            f.write(hive)
    print(digest(hive))


def replay(d, primary):
    found = logs(d)
    new = [(p, b) for p, b in found if struct.unpack_from("<I", b, 28)[0] == 6]
    old = [(p, b) for p, b in found if struct.unpack_from("<I", b, 28)[0] in (1, 2)]
    if new:
        return replay_new(primary, new)
    return replay_old(primary, old)


if __name__ == "__main__":
    main(*sys.argv[1:3])

#!/usr/bin/python3
# Helpers for tests/test-merge-hostile.sh: byte surgery on ext4 images,
# and checking the structural promises of oneway-merge's JSON output.
#
#   poke IMG OFFSET FMT VALUE... struct.pack(FMT, VALUES) at OFFSET ("<I", "<H" ...);
#                                a VALUE "s:TEXT" is bytes
#   peek IMG OFFSET FMT          print struct.unpack(FMT) at OFFSET
#   random IMG OFFSET LENGTH     random bytes over [OFFSET, OFFSET+LENGTH)
#   extent-index IMG BLOCK TARGET DEPTH N   block BLOCK (of 4096 bytes) becomes
#                                an extent index node at DEPTH with N entries that
#                                all point at block TARGET
#   rename-entry IMG BLOCK OLD NEW   in directory block BLOCK (4096 bytes), the
#                                entry named OLD gets the name NEW (same length;
#                                backslash escapes allowed, e.g. "a\\x00b")
#   check-audit AUDIT.json BLOCKS.json   classes add up, every written block in
#                                exactly one range; prints the classes
#   check-diff DIFF.json         valid, summary counts match the list
import json
import os
import struct
import sys


def parse_value(v):
    if v.startswith("s:"):
        return v[2:].encode("latin-1")
    return int(v, 0)


def poke(img, off, fmt, values):
    data = struct.pack(fmt, *[parse_value(v) for v in values])
    with open(img, "r+b") as f:
        f.seek(off)
        f.write(data)


def peek(img, off, fmt):
    with open(img, "rb") as f:
        f.seek(off)
        print(*struct.unpack(fmt, f.read(struct.calcsize(fmt))))


def rand(img, off, length):
    with open(img, "r+b") as f:
        f.seek(off)
        f.write(os.urandom(length))


def extent_index(img, block, target, depth, n):
    bs = 4096
    # ext4 extent header: magic, entries, max, depth, generation; then
    # index entries: ei_block, ei_leaf_lo, ei_leaf_hi, unused.
    maxe = (bs - 12) // 12
    n = min(n, maxe)
    buf = struct.pack("<HHHHI", 0xF30A, n, maxe, depth, 0)
    for i in range(n):
        buf += struct.pack("<IIHH", i, target & 0xFFFFFFFF, target >> 32, 0)
    buf += b"\0" * (bs - len(buf))
    with open(img, "r+b") as f:
        f.seek(block * bs)
        f.write(buf)


def rename_entry(img, block, old, new):
    old = old.encode()
    new = new.encode().decode("unicode_escape").encode("latin-1")
    assert len(old) == len(new)
    with open(img, "r+b") as f:
        f.seek(block * 4096)
        buf = bytearray(f.read(4096))
        off = 0
        while off + 8 <= len(buf):
            rec_len, name_len = struct.unpack_from("<HB", buf, off + 4)
            if rec_len < 8:
                break
            if buf[off + 8:off + 8 + name_len] == old:
                buf[off + 8:off + 8 + name_len] = new
                f.seek(block * 4096)
                f.write(buf)
                return
            off += rec_len
    fail("no entry %r in block %d" % (old, block))


def fail(msg):
    print("check: " + msg, file=sys.stderr)
    sys.exit(1)


def check_audit(audit_path, blocks_path):
    a = json.load(open(audit_path))
    blk = json.load(open(blocks_path))
    cls = a["classes"]
    if sum(cls.values()) != a["written_blocks"]:
        fail("classes add up to %d, written_blocks is %d" % (sum(cls.values()), a["written_blocks"]))
    if a.get("filesystem") is None:
        # Not understood: the written set itself, all "unknown".
        if set(k for k, v in cls.items() if v) - {"unknown"}:
            fail("content not understood, yet classes other than unknown: %s" % cls)
        got = [(r["start"], r["count"]) for r in a["ranges"]]
        want = [tuple(r) for r in blk["written"]]
        if got != want:
            fail("unknown ranges %s differ from the written set %s" % (got[:10], want[:10]))
        if any(r["class"] != "unknown" for r in a["ranges"]):
            fail("a range of not-understood content is not class unknown")
    else:
        # Filesystem blocks: each at most once; their count plus the
        # outside bytes (rounded to blocks) is written_blocks.
        seen = set()
        counts = {}
        for r in a["ranges"]:
            if r["class"] == "outside":
                continue
            for b in range(r["start"], r["start"] + r["count"]):
                if b in seen:
                    fail("block %d is in two ranges" % b)
                seen.add(b)
            counts[r["class"]] = counts.get(r["class"], 0) + r["count"]
        for k, v in counts.items():
            if cls.get(k) != v:
                fail("class %s: %d blocks in ranges, %s in classes" % (k, v, cls.get(k)))
        if len(seen) + cls.get("outside", 0) != a["written_blocks"]:
            fail("%d blocks in ranges + %d outside != written_blocks %d"
                 % (len(seen), cls.get("outside", 0), a["written_blocks"]))
        # The written set (in overlay blocks) covers the ranges, and
        # vice versa, when the filesystem starts at 0 with the same
        # block size.
        if a.get("fs_offset", 0) == 0 and a["block_size"] == blk["block_size"]:
            want = set()
            for s, c in blk["written"]:
                want.update(range(s, s + c))
            if want != seen:
                fail("the ranges' blocks differ from the written set: only in ranges %s, "
                     "only written %s" % (sorted(seen - want)[:10], sorted(want - seen)[:10]))
    print(" ".join("%s=%d" % (k, v) for k, v in sorted(cls.items()) if v))


def check_diff(path):
    d = json.load(open(path))
    s = {"added": 0, "modified": 0, "deleted": 0, "renamed": 0}
    for c in d["changes"]:
        if c["change"] not in s:
            fail("unknown change %r" % c["change"])
        s[c["change"]] += 1
        if not c["path"].startswith("/"):
            fail("path %r is not absolute" % c["path"])
    if s != d["summary"]:
        fail("summary %s, list %s" % (d["summary"], s))
    for c in d["changes"]:
        print(c["change"], c["path"], ",".join(c.get("what", [])))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "poke":
        poke(args[0], int(args[1], 0), args[2], args[3:])
    elif cmd == "peek":
        peek(args[0], int(args[1], 0), args[2])
    elif cmd == "random":
        rand(args[0], int(args[1], 0), int(args[2], 0))
    elif cmd == "extent-index":
        extent_index(args[0], *map(int, args[1:5]))
    elif cmd == "rename-entry":
        rename_entry(args[0], int(args[1]), args[2], args[3])
    elif cmd == "check-audit":
        check_audit(*args)
    elif cmd == "check-diff":
        check_diff(*args)
    else:
        sys.exit("unknown command " + cmd)


main()

#!/usr/bin/python3
# oneway: the independent truth for `oneway-merge diff` and `audit`.
# Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
#
# Standard library only; it knows nothing of the merge tool's code.  It
# reads the two views from mounted filesystems (os.lstat, never
# following a symlink) and from debugfs on the images, and applies the
# rules of DESIGN.md ("diff --json", "audit --json"):
#
#   merge-truth.py truth BASE_MNT VIEW_MNT BASE_IMG VIEW_IMG OUT.json
#                  [--expect EXPECT.json]
#       compute the expected change list; print it; check it against
#       hand-written expectations (so that the truth is checked too)
#   merge-truth.py check-diff TRUTH.json DIFF.json [HUMAN.txt]
#       compare `oneway-merge diff --json` (and its human output)
#   merge-truth.py check-audit VIEW_MNT VIEW_IMG AUDIT.json BLOCKS.json
#       check `oneway-merge audit --json` against debugfs and dumpe2fs
#   merge-truth.py escape PATH...
#       print the escaped form of each (byte) path
#
# Exit status: 0 all good, 1 a mismatch (explained on stderr), 2 error.

import collections
import fcntl
import json
import os
import re
import stat
import struct
import subprocess
import sys
import tempfile

FS_IOC_GETVERSION = 0x80087601          # _IOR('v', 1, long)
ASPECT_ORDER = ["type", "content", "size", "mode", "owner", "mtime",
                "xattrs", "target", "links"]


def die(msg):
    print("merge-truth: " + msg, file=sys.stderr)
    sys.exit(2)


# ------------------------------------------------------------ escaping
# The rule of lib/escape.c, written again from its description.

def _printable_len(b, i):
    """Length of the valid, printable UTF-8 sequence at b[i:], or 0."""
    c0 = b[i]
    if c0 < 0x80:
        return 1 if 0x20 <= c0 != 0x7f else 0
    if 0xc2 <= c0 <= 0xdf:
        n = 2
    elif 0xe0 <= c0 <= 0xef:
        n = 3
    elif 0xf0 <= c0 <= 0xf4:
        n = 4
    else:
        return 0
    if i + n > len(b):
        return 0
    try:
        ch = b[i:i + n].decode("utf-8")     # rejects overlongs, surrogates
    except UnicodeDecodeError:
        return 0
    cp = ord(ch)
    if 0x80 <= cp < 0xa0 or 0x202a <= cp <= 0x202e or 0x2066 <= cp <= 0x2069:
        return 0
    return n


def escape(b):
    out = []
    i = 0
    while i < len(b):
        if b[i] == 0x5c:
            out.append("\\\\")
            i += 1
            continue
        n = _printable_len(b, i)
        if n:
            out.append(b[i:i + n].decode("utf-8"))
            i += n
        else:
            out.append("\\x%02x" % b[i])
            i += 1
    return "".join(out)


# ------------------------------------------------------------ debugfs

def debugfs(img, cmds):
    """Run debugfs commands in one batch; return the output of each."""
    with tempfile.NamedTemporaryFile("w", suffix=".cmds", delete=False) as f:
        for c in cmds:
            f.write(c + "\n")
        name = f.name
    try:
        # Messages go to stderr, unsynchronised with stdout: left out.
        r = subprocess.run(["debugfs", "-f", name, img], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE)
    finally:
        os.unlink(name)
    if r.returncode != 0:
        die("debugfs %s failed: %s" % (img, r.stderr[-500:]))
    # debugfs echoes each command as "debugfs: CMD".
    outs = []
    cur = None
    for line in r.stdout.split(b"\n"):
        if line.startswith(b"debugfs: "):
            cur = []
            outs.append(cur)
        elif cur is not None:
            cur.append(line)
    if len(outs) != len(cmds):
        die("debugfs %s: %d answers to %d commands" % (img, len(outs), len(cmds)))
    return outs


def generations_from_debugfs(img, inos):
    inos = sorted(set(inos))
    if not inos:
        return {}
    res = {}
    for ino, out in zip(inos, debugfs(img, ["stat <%d>" % i for i in inos])):
        m = re.search(rb"Generation: (\d+)", b"\n".join(out))
        if not m:
            die("debugfs stat <%d> on %s: no generation: %r" % (ino, img, out[:3]))
        res[ino] = int(m.group(1))
    return res


# ------------------------------------------------------------ a view

def ftype(mode):
    for test, name in ((stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"),
                       (stat.S_ISLNK, "symlink"), (stat.S_ISCHR, "char"),
                       (stat.S_ISBLK, "block"), (stat.S_ISFIFO, "fifo"),
                       (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "unknown"


class Obj:
    def __init__(self, full, st):
        self.full = full                   # a path on the mount, for reading
        self.st = st
        self.type = ftype(st.st_mode)
        self.paths = set()
        self.names = {}                    # (parent inode, name) -> path
        self.gen = None
        self.target = os.readlink(full) if self.type == "symlink" else None
        self.xattrs = frozenset(
            (n, os.getxattr(full, n, follow_symlinks=False))
            for n in os.listxattr(full, follow_symlinks=False))
        self.entries = None
        if self.type == "dir":
            with os.scandir(full) as it:
                self.entries = frozenset((e.name, e.inode()) for e in it)


def walk(mnt, img):
    """{(ino, generation): Obj} for the filesystem mounted at mnt."""
    mnt = os.fsencode(mnt)
    objs = {}                              # ino -> Obj
    stack = [(b"/", None, b"")]
    while stack:
        rel, parent, name = stack.pop()
        full = mnt + (rel if rel != b"/" else b"")
        st = os.lstat(full or b"/")
        if st.st_ino < 11 and st.st_ino != 2:
            continue
        o = objs.get(st.st_ino)
        if o is None:
            o = objs[st.st_ino] = Obj(full or b"/", st)
        o.paths.add(rel)
        o.names[(parent, name)] = rel
        if stat.S_ISDIR(st.st_mode):
            if st.st_dev != os.lstat(mnt).st_dev:
                die("%r is another filesystem" % full)
            with os.scandir(full) as it:
                for e in it:
                    stack.append(((rel if rel != b"/" else b"") + b"/" + e.name,
                                  st.st_ino, e.name))
    others = []
    for ino, o in objs.items():
        if o.type in ("file", "dir"):
            fd = os.open(o.full, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
            try:
                buf = bytearray(8)
                fcntl.ioctl(fd, FS_IOC_GETVERSION, buf)
                # ext4 puts an int there.
                o.gen = struct.unpack("<I", bytes(buf[:4]))[0]
            finally:
                os.close(fd)
        else:
            others.append(ino)
    for ino, g in generations_from_debugfs(img, others).items():
        objs[ino].gen = g
    # The same check the other way for a few files and dirs: the ioctl
    # and debugfs agree.
    sample = sorted(i for i, o in objs.items() if o.type in ("file", "dir"))[:20]
    for ino, g in generations_from_debugfs(img, sample).items():
        if objs[ino].gen != g:
            die("inode %d: generation %d by ioctl, %d by debugfs on %s"
                % (ino, objs[ino].gen, g, img))
    return {(ino, o.gen): o for ino, o in objs.items()}


# ------------------------------------------------------------ content

def _data_ranges(fd, size):
    """The data ranges of an open file (SEEK_DATA/SEEK_HOLE)."""
    res = []
    off = 0
    while off < size:
        try:
            d = os.lseek(fd, off, os.SEEK_DATA)
        except OSError:
            break
        h = os.lseek(fd, d, os.SEEK_HOLE)
        res.append((d, h))
        off = h
    return res


def same_content(a, b):
    if a.st.st_size != b.st.st_size:
        return False
    size = a.st.st_size
    fa = os.open(a.full, os.O_RDONLY | os.O_NOFOLLOW)
    fb = os.open(b.full, os.O_RDONLY | os.O_NOFOLLOW)
    try:
        ranges = sorted(_data_ranges(fa, size) + _data_ranges(fb, size))
        # Outside the union of both files' data ranges both read zeroes.
        merged = []
        for s, e in ranges:
            if merged and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e])
        for s, e in merged:
            off = s
            while off < e:
                n = min(1 << 20, e - off)
                if os.pread(fa, n, off) != os.pread(fb, n, off):
                    return False
                off += n
        return True
    finally:
        os.close(fa)
        os.close(fb)


# ------------------------------------------------------------ the rules

def aspects(a, b):
    what = set()
    both_dirs = a.type == "dir" and b.type == "dir"
    if a.type != b.type:
        what.add("type")
    else:
        if a.type == "file":
            if not same_content(a, b):
                what.add("content")
            if a.st.st_size != b.st.st_size:
                what.add("size")
        elif a.type in ("char", "block"):
            if a.st.st_rdev != b.st.st_rdev:
                what.add("content")
        elif a.type == "symlink":
            if a.target != b.target:
                what.add("target")
    if stat.S_IMODE(a.st.st_mode) != stat.S_IMODE(b.st.st_mode):
        what.add("mode")
    if (a.st.st_uid, a.st.st_gid) != (b.st.st_uid, b.st.st_gid):
        what.add("owner")
    if a.st.st_mtime_ns != b.st.st_mtime_ns:
        # A directory whose entries changed: the entries explain it.
        if not both_dirs or a.entries == b.entries:
            what.add("mtime")
    if a.xattrs != b.xattrs:
        what.add("xattrs")
    # Link counts are for non-directories (resolution: when either side
    # is a directory, links are not compared).
    if a.type != "dir" and b.type != "dir" and a.st.st_nlink != b.st.st_nlink:
        what.add("links")
    return [w for w in ASPECT_ORDER if w in what]


def compute(objs0, objs1):
    # An object's names are its directory entries (parent, name): a
    # renamed directory renames itself, not everything below it.
    changes = []
    for key in objs0.keys() & objs1.keys():
        x0, x1 = objs0[key], objs1[key]
        e0, e1 = x0.names.keys(), x1.names.keys()
        removed = sorted(x0.names[e] for e in e0 - e1)
        added = sorted(x1.names[e] for e in e1 - e0)
        common = {x1.names[e] for e in e0 & e1}
        p0 = set(x0.names.values())
        what = aspects(x0, x1)
        for old, new in zip(removed, added):
            changes.append({"change": "renamed", "path": new, "from": old,
                            "type": x1.type, "what": what})
        for new in added[len(removed):]:
            changes.append({"change": "added", "path": new, "type": x1.type,
                            "link_of": min(common) if common else min(p0)})
        for old in removed[len(added):]:
            changes.append({"change": "deleted", "path": old, "type": x0.type,
                            "_obj": x0})
        if what and common:
            changes.append({"change": "modified", "path": min(common),
                            "type": x1.type, "what": what})
    for key in objs1.keys() - objs0.keys():
        x1 = objs1[key]
        ps = sorted(x1.paths)
        changes.append({"change": "added", "path": ps[0], "type": x1.type,
                        "_obj": x1, "_new": True})
        for p in ps[1:]:
            changes.append({"change": "added", "path": p, "type": x1.type,
                            "link_of": ps[0]})
    for key in objs0.keys() - objs1.keys():
        x0 = objs0[key]
        for p in sorted(x0.paths):
            changes.append({"change": "deleted", "path": p, "type": x0.type,
                            "_obj": x0})
    # A path deleted and added again as a new object: one "modified".
    dels = collections.defaultdict(list)
    adds = collections.defaultdict(list)
    for c in changes:
        if c["change"] == "deleted":
            dels[c["path"]].append(c)
        elif c["change"] == "added" and c.get("_new"):
            adds[c["path"]].append(c)
    drop = set()
    for p in dels.keys() & adds.keys():
        d, a = dels[p][0], adds[p][0]
        drop.add(id(d))
        drop.add(id(a))
        changes.append({"change": "modified", "path": p, "type": a["type"],
                        "what": aspects(d["_obj"], a["_obj"])})
    out = []
    for c in changes:
        if id(c) in drop:
            continue
        c = {k: v for k, v in c.items() if not k.startswith("_")}
        for k in ("path", "from", "link_of"):
            if k in c:
                c[k] = escape(c[k])
        out.append(c)
    out.sort(key=lambda c: (c["path"], c["change"]))
    return out


def canon(c):
    return (c["change"], c["path"], c.get("type"), c.get("from"),
            tuple(sorted(c["what"])) if "what" in c else None,
            c.get("link_of"))


def show(c):
    s = "%-8s %s" % (c["change"], c["path"])
    if c.get("from") is not None:
        s += "  (from %s)" % c["from"]
    s += "  [%s]" % c.get("type")
    if c.get("what") is not None:
        s += "  what=%s" % ",".join(sorted(c["what"]) if isinstance(c["what"], (list, tuple)) else c["what"])
    if c.get("link_of") is not None:
        s += "  link_of=%s" % c["link_of"]
    return s


# ------------------------------------------------------------ commands

def cmd_truth(args):
    expect = None
    if "--expect" in args:
        i = args.index("--expect")
        expect = args[i + 1]
        del args[i:i + 2]
    if len(args) != 5:
        die("usage: truth BASE_MNT VIEW_MNT BASE_IMG VIEW_IMG OUT.json [--expect FILE]")
    m0, m1, i0, i1, out = args
    objs0 = walk(m0, i0)
    objs1 = walk(m1, i1)
    changes = compute(objs0, objs1)
    with open(out, "w") as f:
        json.dump({"changes": changes}, f, indent=1)
    print("truth: %d objects in the base view, %d in the SEE view, %d changes:"
          % (len(objs0), len(objs1), len(changes)))
    for c in changes:
        print("  " + show(c))
    if expect:
        check_expectations(changes, json.load(open(expect)), objs0, objs1)
    return 0


def check_expectations(changes, exp, objs0, objs1):
    """The truth itself against what the test meant to do."""
    bad = []
    for e in exp:
        if "absent" in e:
            hits = [c for c in changes if e["absent"] in (c["path"], c.get("from"))]
            if hits:
                bad.append("expected no change at %s, the truth has: %s"
                           % (e["absent"], "; ".join(show(c) for c in hits)))
            continue
        hits = []
        for c in changes:
            ok = True
            for k, v in e.items():
                if k == "what":
                    ok &= sorted(c.get("what") or []) == sorted(v)
                elif k == "what_has":
                    ok &= set(v) <= set(c.get("what") or [])
                else:
                    ok &= c.get(k) == v
            if ok:
                hits.append(c)
        if len(hits) != 1:
            near = [show(c) for c in changes if c["path"] == e.get("path")]
            bad.append("expected %s once, found %d; at that path: %s"
                       % (json.dumps(e, ensure_ascii=False), len(hits), near or "nothing"))
    if bad:
        print("TRUTH DOES NOT MATCH THE SCENARIO:", file=sys.stderr)
        for b in bad:
            print("  " + b, file=sys.stderr)
        sys.exit(1)
    print("truth: all %d expectations of the scenario hold" % len(exp))


HUMAN_LETTER = {"added": "A", "modified": "M", "deleted": "D", "renamed": "R"}


def human_line(c):
    k = c["change"]
    if k == "renamed":
        return "R %s -> %s" % (c["from"], c["path"])
    if k == "modified":
        return "M %s (%s)" % (c["path"], ",".join(c["what"]))
    return "%s %s" % (HUMAN_LETTER[k], c["path"])


def cmd_check_diff(args):
    if len(args) not in (2, 3):
        die("usage: check-diff TRUTH.json DIFF.json [HUMAN.txt]")
    truth = json.load(open(args[0]))["changes"]
    raw = open(args[1], "rb").read()
    try:
        d = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        print("diff --json is not valid UTF-8 JSON: %s" % e, file=sys.stderr)
        return 1
    errors = []
    if not isinstance(d, dict) or not isinstance(d.get("changes"), list):
        print("diff --json has no \"changes\" list: %r" % raw[:300], file=sys.stderr)
        return 1
    if d.get("filesystem") != "ext4":
        errors.append("filesystem is %r, expected \"ext4\"" % d.get("filesystem"))
    actual = d["changes"]
    for c in actual:
        k = c.get("change")
        if k not in HUMAN_LETTER:
            errors.append("unknown change kind: %r" % c)
            continue
        if ("what" in c) != (k in ("modified", "renamed")):
            errors.append("\"what\" must be present exactly for modified and renamed: %r" % c)
        if ("from" in c) != (k == "renamed"):
            errors.append("\"from\" must be present exactly for renamed: %r" % c)
        if "link_of" in c and k != "added":
            errors.append("\"link_of\" on a change that is not added: %r" % c)
        if "what" in c:
            if len(set(c["what"])) != len(c["what"]) or not set(c["what"]) <= set(ASPECT_ORDER):
                errors.append("bad \"what\": %r" % c)
            elif c["what"] != [w for w in ASPECT_ORDER if w in c["what"]]:
                # The order is part of the contract, but a mere order
                # difference is reported, not counted against the set.
                print("note: aspects not in the documented order: %s" % show(c))
    want = collections.Counter(canon(c) for c in truth)
    got = collections.Counter(canon(c) for c in actual)
    missing = want - got
    extra = got - want
    if missing or extra:
        # Pair up same-path entries so that the difference reads well.
        byp_m = collections.defaultdict(list)
        for t in missing.elements():
            byp_m[t[1]].append(t)
        byp_e = collections.defaultdict(list)
        for t in extra.elements():
            byp_e[t[1]].append(t)
        for p in sorted(set(byp_m) | set(byp_e)):
            for t in byp_m.get(p, []):
                errors.append("expected, not reported: " + show(dict(zip(
                    ("change", "path", "type", "from", "what", "link_of"), t))))
            for t in byp_e.get(p, []):
                errors.append("reported, not expected: " + show(dict(zip(
                    ("change", "path", "type", "from", "what", "link_of"), t))))
    summ = d.get("summary")
    counts = collections.Counter(c.get("change") for c in actual)
    want_summ = {k: counts.get(k, 0) for k in HUMAN_LETTER}
    if not isinstance(summ, dict) or {k: summ.get(k, 0) for k in HUMAN_LETTER} != want_summ \
            or set(summ) - set(HUMAN_LETTER):
        errors.append("summary %r does not count the list %r" % (summ, want_summ))
    if len(args) == 3:
        errors += check_human(open(args[2], "rb").read(), actual)
    if errors:
        print("oneway-merge diff differs from the truth (%d expected, %d reported):"
              % (len(truth), len(actual)), file=sys.stderr)
        for e in errors:
            print("  " + e, file=sys.stderr)
        return 1
    print("diff: all %d changes match the truth; summary %s" % (len(truth), want_summ))
    return 0


def check_human(raw, actual):
    errors = []
    for i, byte in enumerate(raw):
        if (byte < 0x20 and byte != 0x0a) or byte == 0x7f:
            errors.append("human output: control byte 0x%02x at offset %d: %r"
                          % (byte, i, raw[max(0, i - 30):i + 10]))
            break
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return errors + ["human output is not valid UTF-8: %s" % e]
    for ch in text:
        cp = ord(ch)
        if 0x80 <= cp < 0xa0 or 0x202a <= cp <= 0x202e or 0x2066 <= cp <= 0x2069:
            errors.append("human output: unsafe code point U+%04X" % cp)
            break
    lines = [l for l in text.split("\n") if l != ""]
    # One line per change; a summary line may follow the list, and an
    # added hard link or a renamed object may carry a note in brackets.
    want = collections.Counter()
    for c in actual:
        if c.get("change") in HUMAN_LETTER:
            want[human_line(c)] += 1
    got = collections.Counter()
    other = []
    for l in lines:
        if not re.match(r"^[AMDR] /", l):
            other.append(l)
            continue
        key = l
        if l not in want:
            m = re.match(r"^(M .*) \(([a-z,]*)\)$", l)
            if m:
                # Aspects in any order.
                for w in want:
                    mw = re.match(r"^(M .*) \(([a-z,]*)\)$", w)
                    if mw and mw.group(1) == m.group(1) and \
                            sorted(mw.group(2).split(",")) == sorted(m.group(2).split(",")):
                        key = w
                        break
            else:
                for w in want:
                    if w[0] in "AR" and l.startswith(w + " (") and l.endswith(")"):
                        key = w
                        break
        got[key] += 1
    if len(other) > 2:
        errors.append("human output: %d lines that are no change: %s"
                      % (len(other), [escape(o.encode()) for o in other[:5]]))
    for l, n in (want - got).items():
        errors.append("human output lacks: %s" % escape(l.encode("utf-8", "surrogateescape")))
    for l, n in (got - want).items():
        errors.append("human output has, but the JSON does not: %s"
                      % escape(l.encode("utf-8", "surrogateescape")))
    return errors


# ------------------------------------------------------------ audit

def dumpe2fs_layout(img):
    """{block: class} for the fixed metadata of each group."""
    r = subprocess.run(["dumpe2fs", img], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL)
    if r.returncode != 0:
        die("dumpe2fs %s failed" % img)
    lay = {}

    def put(rng, cls):
        rng = rng.strip()
        a, _, b = rng.partition("-")
        for blk in range(int(a), int(b or a) + 1):
            lay[blk] = cls
    for line in r.stdout.decode("utf-8", "replace").split("\n"):
        m = re.search(r"(Primary|Backup) superblock at (\d+)", line)
        if m:
            put(m.group(2), "superblock")
        m = re.search(r"Group descriptors at ([\d-]+)", line)
        if m:
            put(m.group(1), "group-descriptors")
        m = re.search(r"Reserved GDT blocks at ([\d-]+)", line)
        if m:
            put(m.group(1), "group-descriptors")
        m = re.search(r"Block bitmap at (\d+)", line)
        if m:
            put(m.group(1), "block-bitmap")
        m = re.search(r"Inode bitmap at (\d+)", line)
        if m:
            put(m.group(1), "inode-bitmap")
        m = re.search(r"Inode table at ([\d-]+)", line)
        if m:
            put(m.group(1), "inode-table")
    return lay


def cmd_check_audit(args):
    if len(args) != 4:
        die("usage: check-audit VIEW_MNT VIEW_IMG AUDIT.json BLOCKS.json")
    mnt, img, af, bf = args
    a = json.load(open(af))
    b = json.load(open(bf))
    errors = []
    bs = a.get("block_size")
    if bs != b.get("block_size") or bs != 4096:
        die("block sizes: audit %r, blocks %r; this check wants 4096 = the fs block"
            % (bs, b.get("block_size")))
    if a.get("filesystem") != "ext4":
        errors.append("filesystem is %r" % a.get("filesystem"))
    written = set()
    for s, c in b["written"]:
        written.update(range(s, s + c))
    classes = a.get("classes", {})
    known = {"superblock", "group-descriptors", "block-bitmap", "inode-bitmap",
             "inode-table", "journal", "directory", "extent-tree", "xattr",
             "file-data", "free", "unattributed", "outside"}
    if set(classes) != known:
        errors.append("classes: %s, expected %s" % (sorted(classes), sorted(known)))
    if classes.get("outside"):
        errors.append("%d blocks outside a filesystem that fills its disk" % classes["outside"])
    if a.get("written_blocks") != len(written):
        errors.append("written_blocks %r, blocks --json has %d" % (a.get("written_blocks"), len(written)))
    if sum(classes.values()) != a.get("written_blocks"):
        errors.append("classes add up to %d, written_blocks is %r"
                      % (sum(classes.values()), a.get("written_blocks")))
    owner = {}                              # block -> range
    per_class = collections.Counter()
    for r in a.get("ranges", []):
        if r.get("class") not in known:
            errors.append("range with unknown class: %r" % r)
        per_class[r.get("class")] += r["count"]
        for blk in range(r["start"], r["start"] + r["count"]):
            if blk in owner:
                errors.append("block %d is in two ranges: %r and %r" % (blk, owner[blk], r))
            owner[blk] = r
    if dict(per_class) != {k: v for k, v in classes.items() if v}:
        errors.append("ranges per class %s differ from classes %s" % (dict(per_class), classes))
    cover = set(owner)
    if cover != written:
        errors.append("ranges cover %d blocks, written set %d; in ranges only: %s; written only: %s"
                      % (len(cover), len(written), sorted(cover - written)[:10],
                         sorted(written - cover)[:10]))
    blocks = sorted(written)

    # Who owns each written block in the SEE view (icheck), whether it is
    # in use (testb), and the inodes' types and paths.
    cmds = []
    for i in range(0, len(blocks), 500):
        cmds.append("icheck " + " ".join(map(str, blocks[i:i + 500])))
    runs = []
    for blk in blocks:
        if blk == 0:
            continue
        if runs and runs[-1][0] + runs[-1][1] == blk:
            runs[-1][1] += 1
        else:
            runs.append([blk, 1])
    for s, c in runs:
        cmds.append("testb %d %d" % (s, c))
    outs = debugfs(img, cmds)
    icheck = {}
    n_ic = (len(blocks) + 499) // 500
    for out in outs[:n_ic]:
        for line in out:
            m = re.match(rb"^(\d+)\t(\d+)$", line)
            if m:
                icheck[int(m.group(1))] = int(m.group(2))
    in_use = {0: True}        # debugfs refuses to test block 0, the superblock's
    for out in outs[n_ic:]:
        for line in out:
            m = re.match(rb"^Block (\d+) (marked in use|not in use)$", line)
            if m:
                in_use[int(m.group(1))] = m.group(2) == b"marked in use"
    for blk in blocks:
        if blk not in in_use:
            die("debugfs testb said nothing about block %d" % blk)
    # Paths and types from the mounted SEE view.
    paths = collections.defaultdict(set)
    types = {}
    m = os.fsencode(mnt)
    for dp, dns, fns in os.walk(m):
        for n in dns + fns:
            full = os.path.join(dp, n)
            st = os.lstat(full)
            paths[st.st_ino].add(escape(full[len(m):]))
            types[st.st_ino] = ftype(st.st_mode)
    types[2] = "dir"
    paths[2].add("/")
    inos = sorted(set(icheck.values()) | {r["inode"] for r in owner.values() if "inode" in r})
    ncheck = collections.defaultdict(set)
    if inos:
        for out in debugfs(img, ["ncheck " + " ".join(map(str, inos))]):
            last = None
            for line in out:
                mm = re.match(rb"^(\d+)\t(.*)$", line)
                if mm:
                    last = int(mm.group(1))
                    ncheck[last].add(mm.group(2))
                elif last is not None and line and not line.startswith(b"Inode\t"):
                    # A name with a newline in it.
                    p = ncheck[last].pop() if ncheck[last] else b""
                    ncheck[last].add(p + b"\n" + line)
    # Logical block numbers of file-data ranges.
    bmap_q = []
    for r in {id(r): r for r in owner.values()}.values():
        if r.get("class") == "file-data" and "inode" in r and "file_block" in r:
            for k in range(r["count"]):
                bmap_q.append((r["inode"], r["file_block"] + k, r["start"] + k))
    if bmap_q:
        for (ino, fb, phys), out in zip(bmap_q, debugfs(img, ["bmap <%d> %d" % (i, f) for i, f, _ in bmap_q])):
            t = b"".join(out).strip()
            if t != str(phys).encode():
                errors.append("file-data: inode %d file block %d: audit says block %d, debugfs bmap %r"
                              % (ino, fb, phys, t.decode("utf-8", "replace")))
                if len(errors) > 40:
                    break
    lay = dumpe2fs_layout(img)
    seen_ranges = set()
    for blk in blocks:
        r = owner.get(blk)
        if r is None:
            continue
        cls = r.get("class")
        ino = icheck.get(blk)
        if not in_use[blk]:
            if cls != "free":
                errors.append("block %d: free in the SEE view (testb), audit says %s" % (blk, cls))
            continue
        if cls == "free":
            errors.append("block %d: audit says free, testb says in use (icheck: inode %s)" % (blk, ino))
            continue
        if ino is not None:
            t = types.get(ino)
            if ino == 8:
                ok = cls == "journal"
            elif ino == 7:
                ok = cls == "group-descriptors"
            elif t in ("file", "symlink"):
                ok = cls in ("file-data", "extent-tree", "xattr")
                if cls in ("file-data", "extent-tree") and r.get("inode") != ino:
                    ok = False
            elif t == "dir":
                ok = cls in ("directory", "extent-tree", "xattr")
                if cls in ("directory", "extent-tree") and r.get("inode") != ino:
                    ok = False
            else:
                # Special inodes not in the tree (orphan file, quota …):
                # owned, so anything but free and unattributed.
                ok = cls not in ("unattributed",)
            if not ok:
                errors.append("block %d: debugfs icheck says inode %d (%s, %s), audit says %s inode %s"
                              % (blk, ino, t, sorted(paths.get(ino, ())), cls, r.get("inode")))
        elif blk in lay:
            if cls != lay[blk]:
                errors.append("block %d: dumpe2fs says %s, audit says %s" % (blk, lay[blk], cls))
        else:
            if cls in ("file-data", "directory"):
                errors.append("block %d: audit says %s of inode %s, debugfs icheck finds no owner"
                              % (blk, cls, r.get("inode")))
        if id(r) in seen_ranges:
            continue
        seen_ranges.add(id(r))
        if "inode" in r and "path" in r and cls != "xattr":
            ino = r["inode"]
            ok_paths = paths.get(ino, set()) | {escape(p) for p in ncheck.get(ino, ())}
            if r["path"] not in ok_paths:
                errors.append("range %r: inode %d has paths %s (walk and ncheck), not %r"
                              % ({k: r[k] for k in ("start", "count", "class")}, ino,
                                 sorted(ok_paths), r["path"]))
        if cls == "file-data" and not ("inode" in r and "path" in r and "file_block" in r):
            errors.append("file-data range without inode, path and file_block: %r" % r)
    if errors:
        print("oneway-merge audit differs from debugfs (%d written blocks):" % len(written),
              file=sys.stderr)
        for e in errors[:60]:
            print("  " + e, file=sys.stderr)
        if len(errors) > 60:
            print("  ... and %d more" % (len(errors) - 60), file=sys.stderr)
        return 1
    print("audit: %d written blocks, %d ranges, classes %s: all agree with debugfs"
          % (len(written), len(seen_ranges), {k: v for k, v in classes.items() if v}))
    if classes.get("unattributed"):
        print("note: %d unattributed blocks" % classes["unattributed"])
    return 0


def main():
    if len(sys.argv) < 2:
        die("usage: truth | check-diff | check-audit | escape")
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "truth":
        return cmd_truth(args)
    if cmd == "check-diff":
        return cmd_check_diff(args)
    if cmd == "check-audit":
        return cmd_check_audit(args)
    if cmd == "escape":
        for p in args:
            print(escape(os.fsencode(p)))
        return 0
    die("unknown command " + cmd)


if __name__ == "__main__":
    sys.exit(main())

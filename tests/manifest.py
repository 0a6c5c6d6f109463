#!/usr/bin/env python3
# oneway: a tree's manifest, and comparisons of manifests.
# Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
#
#   manifest.py ROOT                     the manifest of the tree ROOT
#   manifest.py noise A B                what differs between manifests A
#                                        and B: one "path<TAB>field" a line,
#                                        then the two values
#   manifest.py compare WANT GOT [NOISE] the differences between manifests
#                                        WANT and GOT that NOISE (the output
#                                        of noise) does not excuse; exit 1
#                                        if there are any
#
# One line per object, sorted, tab-separated: the path relative to ROOT
# (bytes, repr), then field=value pairs (no value holds a tab: text is
# repr'd):
#   type    file dir symlink char block fifo socket
#   mode    the 07777 bits, octal
#   uid gid
#   size    files and symlinks (a directory's size is how its filesystem
#           lays out entries, not something a tree's content decides)
#   sha256  files: of the content
#   alloc   files: "holes" when st_blocks*512 < size (holes kept), else
#           "full", so that filling a sparse file's holes shows
#   target  symlinks
#   rdev    character and block devices: major:minor
#   xattrs  sorted name=hex-value list (POSIX ACLs are the
#           system.posix_acl_* xattrs), not followed through symlinks
#   links   objects with more than one name: the sorted list of the paths
#           of that inode, so that inode numbers do not matter
#   mtime   in nanoseconds
# Left out: atime (reads change it), ctime (cannot be set), inode
# numbers; and lost+found at the root (mke2fs makes it).
# Standard library only.

import hashlib
import os
import stat
import sys

TYPES = [(stat.S_ISREG, "file"), (stat.S_ISDIR, "dir"), (stat.S_ISLNK, "symlink"),
         (stat.S_ISCHR, "char"), (stat.S_ISBLK, "block"), (stat.S_ISFIFO, "fifo"),
         (stat.S_ISSOCK, "socket")]


def kind(mode):
    for test, name in TYPES:
        if test(mode):
            return name
    return "unknown"


def sha256(path):
    h = hashlib.sha256()
    # O_NOFOLLOW: the tree is only lstat'ed, never followed.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def xattrs(path):
    names = sorted(os.listxattr(path, follow_symlinks=False))
    return "[%s]" % ",".join(
        "%s=%s" % (n, os.getxattr(path, n, follow_symlinks=False).hex()) for n in names)


def walk(root):
    """(relative path bytes, lstat) of every object under root, root included."""
    root = os.fsencode(root)
    out = [(b".", os.lstat(root))]
    stack = [b""]
    while stack:
        rel = stack.pop()
        with os.scandir(os.path.join(root, rel) if rel else root) as it:
            for e in it:
                p = os.path.join(rel, e.name) if rel else e.name
                if p == b"lost+found":
                    continue
                st = e.stat(follow_symlinks=False)
                out.append((p, st))
                if stat.S_ISDIR(st.st_mode):
                    stack.append(p)
    return out


def manifest(root):
    objs = walk(root)
    names = {}
    for p, st in objs:
        if not stat.S_ISDIR(st.st_mode):
            names.setdefault((st.st_dev, st.st_ino), []).append(p)
    lines = []
    for p, st in objs:
        full = os.path.join(os.fsencode(root), p)
        t = kind(st.st_mode)
        f = [("type", t), ("mode", "%04o" % stat.S_IMODE(st.st_mode)),
             ("uid", st.st_uid), ("gid", st.st_gid)]
        if t == "file":
            f += [("size", st.st_size), ("sha256", sha256(full)),
                  ("alloc", "holes" if st.st_blocks * 512 < st.st_size else "full")]
        elif t == "symlink":
            f += [("size", st.st_size), ("target", repr(os.readlink(full)))]
        elif t in ("char", "block"):
            f += [("rdev", "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)))]
        f.append(("xattrs", xattrs(full)))
        group = names.get((st.st_dev, st.st_ino), [])
        if len(group) > 1:
            f.append(("links", repr(sorted(group))))
        f.append(("mtime", st.st_mtime_ns))
        lines.append("\t".join([repr(p)] + ["%s=%s" % kv for kv in f]))
    lines.sort()
    return lines


def parse(path):
    """{path: {field: value}} of a manifest file, and {path: line}."""
    objs, lines = {}, {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            parts = line.split("\t")
            objs[parts[0]] = dict(kv.split("=", 1) for kv in parts[1:])
            lines[parts[0]] = line
    return objs, lines


def differences(a, b):
    """(path, field) pairs in which manifests a and b differ; the field
    "exists" when the path is in one only."""
    out = []
    for p in sorted(set(a) | set(b)):
        if p not in a or p not in b:
            out.append((p, "exists"))
            continue
        for k in sorted(set(a[p]) | set(b[p])):
            if a[p].get(k) != b[p].get(k):
                out.append((p, k))
    return out


def cmd_noise(fa, fb):
    a, _ = parse(fa)
    b, _ = parse(fb)
    def value(m, p, k):
        if k == "exists":
            return "yes" if p in m else "no"
        return m.get(p, {}).get(k, "(none)")
    for p, k in differences(a, b):
        print("%s\t%s\t%s\t%s" % (p, k, value(a, p, k), value(b, p, k)))
    return 0


def cmd_compare(fwant, fgot, fnoise=None):
    want, wlines = parse(fwant)
    got, glines = parse(fgot)
    noise = set()
    if fnoise:
        with open(fnoise, encoding="utf-8") as f:
            noise = {tuple(l.rstrip("\n").split("\t")[:2]) for l in f if l.strip()}
    bad = excused = 0
    for p, k in differences(want, got):
        if (p, k) in noise:
            excused += 1
            continue
        bad += 1
        print("differs: %s %s" % (p, k))
        print("  want: %s" % wlines.get(p, "(absent)"))
        print("  got:  %s" % glines.get(p, "(absent)"))
    print("%d objects, %d differences, %d of them excused as noise" % (
        len(want), bad + excused, excused))
    return 1 if bad else 0


def main(argv):
    if len(argv) == 2 and argv[1] not in ("noise", "compare"):
        sys.stdout.write("".join(l + "\n" for l in manifest(argv[1])))
        return 0
    if len(argv) == 4 and argv[1] == "noise":
        return cmd_noise(argv[2], argv[3])
    if len(argv) in (4, 5) and argv[1] == "compare":
        return cmd_compare(*argv[2:])
    sys.stderr.write("usage: manifest.py ROOT | noise A B | compare WANT GOT [NOISE]\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))

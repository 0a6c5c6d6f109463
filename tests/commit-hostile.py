#!/usr/bin/python3
# oneway: helpers for tests/test-merge-commit-hostile.sh.
# Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
#
#   manifest [--times] ROOT     ROOT's manifest in tests/manifest.py's format
#                               (so that `manifest.py compare` compares two),
#                               walked by directory fds, so that paths longer
#                               than PATH_MAX are no trouble, and with the
#                               content as a digest that holes and zero blocks
#                               (of 512 bytes) do not change (a 64 GiB sparse file costs its
#                               data, not its size); files are read with
#                               O_NOATIME.  --times adds atime and ctime: the
#                               state of canaries that nothing may touch, not
#                               even read
#   names DIR                   make the hostile names in DIR; print them, one
#                               repr a line
#   deep DIR DEPTH              a chain of DEPTH directories (200-byte names) in
#                               DIR with a file at the bottom; print the length
#                               of the bottom file's path from DIR
#   deep-check DIR DEPTH        that chain is there, the file holds "bottom"
#   sparse-write FILE SIZE OFF...  FILE of SIZE bytes, a marker at each OFF
#   sparse-check FILE SIZE OFF...  the markers are there, the rest reads zero
#                               where the file has data, and it is sparse
#   clean FILE                  FILE (bytes) is valid UTF-8 without control
#                               characters other than newline and tab, and
#                               without C1 controls or bidi overrides
#   json-paths FILE KEY         FILE is valid JSON; print the paths in the
#                               objects of the list KEY (the "path" and
#                               "from" of each), unescaped (ow_escape's
#                               \\xNN and \\\\), one repr a line
# Standard library only.

import errno
import hashlib
import json
import os
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from manifest import kind  # noqa: E402

# The digest's granularity: the smallest block a filesystem has, so that
# a hole never splits one.
BLOCK = 512


def content_digest(fd, size):
    """sha256 over (offset, block) of every block that is not all zeroes:
    the same for the same bytes, whatever is a hole."""
    h = hashlib.sha256()
    h.update(b"size %d\n" % size)
    zero = bytes(BLOCK)
    pos = 0
    while pos < size:
        try:
            data = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError as e:
            if e.errno == errno.ENXIO:
                break
            raise
        try:
            hole = os.lseek(fd, data, os.SEEK_HOLE)
        except OSError:
            hole = size
        off = data - data % BLOCK
        while off < hole:
            n = min(1 << 20, hole - off)
            buf = os.pread(fd, n, off)
            if not buf:
                break
            for k in range(0, len(buf), BLOCK):
                b = buf[k:k + BLOCK]
                if b != zero[:len(b)]:
                    h.update(b"%d:" % (off + k))
                    h.update(b)
            off += len(buf)
        pos = max(hole, off)
    return h.hexdigest()


def proc(dfd, name):
    return b"/proc/self/fd/%d/%s" % (dfd, name)


def xattrs(dfd, name):
    p = proc(dfd, name)
    names = sorted(os.listxattr(p, follow_symlinks=False))
    return "[%s]" % ",".join(
        "%s=%s" % (n, os.getxattr(p, n, follow_symlinks=False).hex()) for n in names)


def walk(root):
    """(relative path bytes, lstat, parent fd, name) of every object under
    root, root included; directory fds stay open until the end."""
    # O_NOATIME: listing a directory does not touch it either.
    rfd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOATIME)
    out = [(b".", os.fstat(rfd), None, None)]
    fds = [rfd]
    stack = [(b"", rfd)]
    while stack:
        rel, dfd = stack.pop()
        for name in sorted(os.listdir(dfd)):
            name = os.fsencode(name)
            p = rel + b"/" + name if rel else name
            if p == b"lost+found":
                continue
            st = os.lstat(name, dir_fd=dfd)
            out.append((p, st, dfd, name))
            if stat.S_ISDIR(st.st_mode):
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_NOATIME,
                              dir_fd=dfd)
                fds.append(sub)
                stack.append((p, sub))
    return out, fds


def manifest(root, times):
    objs, fds = walk(root)
    names = {}
    for p, st, _, _ in objs:
        if not stat.S_ISDIR(st.st_mode):
            names.setdefault((st.st_dev, st.st_ino), []).append(p)
    lines = []
    for p, st, dfd, name in objs:
        if dfd is None:
            dfd, name = fds[0], b"."
        t = kind(st.st_mode)
        f = [("type", t), ("mode", "%04o" % stat.S_IMODE(st.st_mode)),
             ("uid", st.st_uid), ("gid", st.st_gid)]
        if t == "file":
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOATIME,
                         dir_fd=dfd)
            try:
                f += [("size", st.st_size), ("content", content_digest(fd, st.st_size)),
                      ("alloc", "holes" if st.st_blocks * 512 < st.st_size else "full")]
            finally:
                os.close(fd)
        elif t == "symlink":
            f += [("size", st.st_size), ("target", repr(os.readlink(name, dir_fd=dfd)))]
        elif t in ("char", "block"):
            f += [("rdev", "%d:%d" % (os.major(st.st_rdev), os.minor(st.st_rdev)))]
        f.append(("xattrs", xattrs(dfd, name)))
        group = names.get((st.st_dev, st.st_ino), [])
        if len(group) > 1:
            f.append(("links", repr(sorted(group))))
        f.append(("mtime", st.st_mtime_ns))
        if times:
            f += [("atime", st.st_atime_ns), ("ctime", st.st_ctime_ns)]
        lines.append("\t".join([repr(p)] + ["%s=%s" % kv for kv in f]))
    for fd in fds:
        os.close(fd)
    lines.sort()
    return lines


# The hostile names: a newline, terminal escape sequences (colour, clear
# screen, a title set with OSC, a cursor move), bytes that are not
# UTF-8, a C1 control and a bidi override in UTF-8, a backslash that
# looks like an escape, and 255 bytes (the longest name).
NAMES = [
    b"new\nline",
    b"esc\x1b[31mred\x1b[0m",
    b"clear\x1b[2J\x1b[H",
    b"title\x1b]0;pwned\x07",
    b"bad\xff\xfename",
    b"half\xc3",
    b"c1\xc2\x9bcsi",
    b"bidi\xe2\x80\xaeevil",
    b"back\\x41slash",
    b"tab\there",
    b"n" * 255,
    b"\xe6\x97\xa5\xe6\x9c\xac" * 42 + b"xyz",   # 255 bytes of valid UTF-8
]


def cmd_names(d):
    for i, n in enumerate(NAMES):
        assert len(n) <= 255
        with open(os.path.join(os.fsencode(d), n), "wb") as f:
            f.write(b"name %d\n" % i)
        print(repr(n))


def deep_name(i):
    return b"%03d" % i + b"d" * 197


def cmd_deep(d, depth):
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    length = 0
    for i in range(depth):
        os.mkdir(deep_name(i), dir_fd=fd)
        nfd = os.open(deep_name(i), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        os.close(fd)
        fd = nfd
        length += len(deep_name(i)) + 1
    wfd = os.open(b"bottom", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644, dir_fd=fd)
    os.write(wfd, b"bottom\n")
    os.close(wfd)
    os.close(fd)
    print(length + len(b"bottom"))


def cmd_deep_check(d, depth):
    fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    for i in range(depth):
        nfd = os.open(deep_name(i), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
        os.close(fd)
        fd = nfd
    names = os.listdir(fd)
    rfd = os.open(b"bottom", os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
    data = os.read(rfd, 100)
    os.close(rfd)
    os.close(fd)
    if names != ["bottom"] or data != b"bottom\n":
        print("the bottom of the deep chain holds %r, %r" % (names, data))
        return 1
    return 0


def marker(off):
    return b"<data at %d>" % off


def cmd_sparse_write(path, size, offs):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    os.ftruncate(fd, size)
    for off in offs:
        os.pwrite(fd, marker(off), off)
    os.close(fd)


def cmd_sparse_check(path, size, offs):
    st = os.lstat(path)
    bad = []
    if not stat.S_ISREG(st.st_mode) or st.st_size != size:
        bad.append("size %d, not %d" % (st.st_size, size))
    if st.st_blocks * 512 > 64 * 1024 * 1024:
        bad.append("%d bytes allocated: not sparse" % (st.st_blocks * 512))
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    for off in offs:
        got = os.pread(fd, len(marker(off)), off)
        if got != marker(off):
            bad.append("at %d: %r" % (off, got))
    # Every data extent: zeroes but for the markers.
    want = bytearray()
    pos = 0
    while not bad:
        try:
            data = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:
            break
        hole = os.lseek(fd, data, os.SEEK_HOLE)
        if hole - data > 64 * 1024 * 1024:
            bad.append("a data extent of %d bytes at %d" % (hole - data, data))
            break
        buf = bytearray(os.pread(fd, hole - data, data))
        want = bytearray(len(buf))
        for off in offs:
            m = marker(off)
            for k in range(len(m)):
                if data <= off + k < hole:
                    want[off + k - data] = m[k]
        if buf != want:
            bad.append("unexpected bytes in the data extent at %d" % data)
        pos = hole
    os.close(fd)
    for b in bad:
        print(b)
    return 1 if bad else 0


def cmd_clean(path):
    with open(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        print("not UTF-8: %s" % e)
        return 1
    for i, c in enumerate(text):
        o = ord(c)
        if (o < 0x20 and c not in "\n\t") or 0x7f <= o < 0xa0 or 0x202a <= o <= 0x202e \
           or 0x2066 <= o <= 0x2069:
            print("a control character U+%04X at %d: %r" % (o, i, text[max(0, i - 30):i + 10]))
            return 1
    return 0


def unescape(s):
    out = bytearray()
    b = s.encode("utf-8")
    i = 0
    while i < len(b):
        if b[i:i + 2] == b"\\\\":
            out += b"\\"
            i += 2
        elif b[i:i + 2] == b"\\x":
            out.append(int(b[i + 2:i + 4], 16))
            i += 4
        else:
            out.append(b[i])
            i += 1
    return bytes(out)


def cmd_json_paths(path, key):
    with open(path, "rb") as f:
        d = json.loads(f.read().decode("utf-8"))
    for o in d[key]:
        for k in ("path", "from"):
            if k in o:
                print(repr(unescape(o[k])))
    return 0


def main(a):
    if len(a) >= 2 and a[0] == "manifest":
        times = a[1] == "--times"
        root = a[2] if times else a[1]
        sys.stdout.write("".join(l + "\n" for l in manifest(root, times)))
        return 0
    if len(a) == 2 and a[0] == "names":
        return cmd_names(a[1])
    if len(a) == 3 and a[0] == "deep":
        return cmd_deep(a[1], int(a[2]))
    if len(a) == 3 and a[0] == "deep-check":
        return cmd_deep_check(a[1], int(a[2]))
    if len(a) >= 3 and a[0] == "sparse-write":
        return cmd_sparse_write(a[1], int(a[2]), [int(x) for x in a[3:]])
    if len(a) >= 3 and a[0] == "sparse-check":
        return cmd_sparse_check(a[1], int(a[2]), [int(x) for x in a[3:]])
    if len(a) == 2 and a[0] == "clean":
        return cmd_clean(a[1])
    if len(a) == 3 and a[0] == "json-paths":
        return cmd_json_paths(a[1], a[2])
    sys.stderr.write("usage: see the top of %s\n" % sys.argv[0])
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]) or 0)

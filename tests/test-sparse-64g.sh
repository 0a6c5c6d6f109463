#!/usr/bin/env bash
# A 64 GiB sparse base: a few writes at the start, middle and end, and
# 8 GiB zeroed and trimmed, read back right before and after a restart;
# the zeroed range shows as a hole in the map; nbdkit's peak memory
# stays small (promise 8: it grows with the written set, not with the
# base); so does the work it does: the map takes a handful of requests
# and reads nothing, a start or a recovery reads a few MiB; the overlay
# stays small; the base stays sparse and unchanged.  (How long the map
# takes is measured by bench/map-bench, not here.)
#
# The base is checked without hashing 64 GiB (sha256sum reads ~160 MB/s
# here: 7 minutes): its apparent size, its allocated size (du), its
# modification time, and a hash of its data extents (found with
# SEEK_DATA/SEEK_HOLE) and their offsets.  Holes read as zeroes, so this
# covers the whole content; the plugin opens the base read-only anyway.
. tests/functions.sh
require nbdkit nbdinfo du

require_nbd_python

G=$((1024 * 1024 * 1024))
size=$((64 * G))
base=$tmp/base.img
ov=$tmp/box.ow
truncate -s 64G "$base" || skip "cannot make a 64 GiB sparse file in $tmp"
# Some real data in the base, so that base and overlay are told apart:
# at the start, the middle, inside the range that gets zeroed, the end.
for at in 0 $((32 * G)) $((20 * G)) $((size - 1024 * 1024)); do
    head -c 1M /dev/urandom | dd of="$base" bs=1M seek=$((at / 1024 / 1024)) conv=notrunc status=none
done

# A fingerprint of a sparse file: size, data extents and their content.
cat > "$tmp/sparse-sum.py" <<'EOF'
import hashlib, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
h = hashlib.sha256(b"%d\n" % size)
off = 0
while off < size:
    try:
        data = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break                     # only a hole up to the end
    hole = os.lseek(fd, data, os.SEEK_HOLE)
    h.update(b"%d %d\n" % (data, hole))
    pos = data
    while pos < hole:
        n = min(hole - pos, 1 << 20)
        h.update(os.pread(fd, n, pos))
        pos += n
    off = hole
print(h.hexdigest())
EOF
base_state ()
{
    echo "$(du --apparent-size -B1 "$base" | cut -f1) $(du -B1 "$base" | cut -f1)" \
         "$(stat -c %Y.%y "$base") $("$nbdpy" "$tmp/sparse-sum.py" "$base")"
}
base_before=$(base_state)
allocated_before=$(du -B1 "$base" | cut -f1)
[ "$allocated_before" -lt $((64 * 1024 * 1024)) ] ||
    skip "$tmp does not keep files sparse ($allocated_before bytes allocated)"

# The I/O and its checks against a model of the touched regions.
cat > "$tmp/io.py" <<'EOF'
import os, random, sys
import nbd

mode, uri, base = sys.argv[1], sys.argv[2], sys.argv[3]
G = 1 << 30
size = 64 * G
rnd = random.Random(64)
bfd = os.open(base, os.O_RDONLY)

# The regions checked: (offset, length), around everything touched.
regions = [(0, 128 << 10), (16 * G - 8192, 16384), (18 * G - 4096, 16384),
           (20 * G - 4096, (1 << 20) + 8192), (24 * G - 8192, 16384),
           (32 * G - 4096, 64 << 10), (size - (1 << 20), 1 << 20)]
model = {r: bytearray(os.pread(bfd, r[1], r[0])) for r in regions}

def apply(off, data):
    for (ro, rl), buf in model.items():
        a, b = max(ro, off), min(ro + rl, off + len(data))
        if a < b:
            buf[a - ro:b - ro] = data[a - off:b - off]

ops = []                          # (offset, data) in order
def w(off, n):
    ops.append((off, bytes(rnd.getrandbits(8) for _ in range(n))))
w(0, 4096)                        # the first block
w(5000, 3000)                     # unaligned, across a boundary
w(32 * G + 4096, 8192)            # the middle
w(size - 3 * 4096, 4096)          # near the end
w(size - 10, 10)                  # the last bytes
Z = [(16 * G, 2 * G, "zero"), (18 * G, 2 * G, "zero"),
     (20 * G, 2 * G, "trim"), (22 * G, 2 * G, "trim")]
after_zero = (18 * G, 4096)       # written again after the zeroing

h = nbd.NBD()
h.connect_uri(uri)
assert h.get_size() == size, "size %d" % h.get_size()

if mode == "write":
    for off, data in ops:
        h.pwrite(data, off)
    for off, n, how in Z:
        if how == "zero":
            h.zero(n, off)
        else:
            h.trim(n, off)
    w(*after_zero)
    h.pwrite(ops[-1][1], ops[-1][0])
    h.flush()
else:
    w(*after_zero)

# The model: base, then the writes, then the zeroes, then the last write.
for off, data in ops[:-1]:
    apply(off, data)
for off, n, how in Z:
    for (ro, rl), buf in model.items():
        a, b = max(ro, off), min(ro + rl, off + n)
        if a < b:
            buf[a - ro:b - ro] = bytes(b - a)
apply(*ops[-1])

bad = 0
for (ro, rl), buf in sorted(model.items()):
    got = h.pread(rl, ro)
    if got != bytes(buf):
        first = next(i for i in range(rl) if got[i] != buf[i])
        print("FAIL: region %d+%d differs at %d" % (ro, rl, ro + first), file=sys.stderr)
        bad += 1
# Reads inside the zeroed range, far from anything written: zeroes.
for off in (17 * G, 21 * G + 12345, 24 * G - 4096):
    if h.pread(4096, off) != bytes(4096):
        print("FAIL: %d not zero" % off, file=sys.stderr)
        bad += 1
h.shutdown()
sys.exit(1 if bad else 0)
EOF

# rchar PID: the bytes nbdkit has read so far (files, the base, the
# overlay, sockets), from /proc/PID/io.
rchar ()
{
    awk '/^rchar:/ { print $2 }' /proc/$1/io
}

# check_start PID WHEN: opening the overlay reads its header and log or
# checkpoint and a few samples of the base: a few MiB (6 here, and as
# many for a 16 MiB base), not a part of the 64 GiB.
check_start ()
{
    local r
    r=$(rchar $1)
    echo "nbdkit read $r bytes to start $2"
    [ "$r" -lt $((16 * 1024 * 1024)) ] ||
        fail "nbdkit read $r bytes to start $2 (limit 16 MiB): the cost grows with the base"
}

# check_map NAME PID WHEN: the zeroed range reads as a hole/zero in the
# map, except the block written after it; the written blocks are data.
# And the map costs nothing per block of the base: nbdinfo asks in
# pieces of up to 4 GiB (17 for 64 GiB), the plugin answers each one
# whole, so that nbdinfo needs ask no more, with a handful of extents
# in all (the disk has seven stretches), and reads nothing but the
# requests.  nbdkit's log filter ($tmp/NAME-requests.log) shows the
# requests and the replies.
check_map ()
{
    local log=$tmp/$1-requests.log lines r0 r1
    lines=$(wc -l < "$log")
    r0=$(rchar $2)
    nbdinfo --map --json "$(uri $1)" > "$tmp/map.json"
    r1=$(rchar $2)
    echo "nbdinfo --map $3: nbdkit read $((r1 - r0)) bytes"
    [ $((r1 - r0)) -lt $((64 * 1024)) ] ||
        fail "$3: nbdkit read $((r1 - r0)) bytes to make the map (limit 64 KiB)"
    tail -n +$((lines + 1)) "$log" | "$nbdpy" "$tmp/count-extents.py" "$3" ||
        fail "$3: the map is not a handful of requests"
    "$nbdpy" - "$tmp/map.json" <<'EOF' || fail "$3: the map is wrong"
import json, sys
G = 1 << 30
m = json.load(open(sys.argv[1]))
def kinds(off, n):
    out = set()
    for e in m:
        if e["offset"] < off + n and off < e["offset"] + e["length"]:
            out.add(e["type"] & 2)      # 2: reads as zeroes
    return out
assert sum(e["length"] for e in m) == 64 * G, "the map does not cover the disk"
errs = []
for off, n in [(16 * G, 2 * G), (18 * G + 4096, 2 * G - 4096), (20 * G, 4 * G)]:
    if kinds(off, n) != {2}:
        errs.append("zeroed range %d+%d is not all zero/hole" % (off, n))
for off, n in [(0, 4096), (18 * G, 4096), (32 * G + 4096, 8192), (64 * G - 4096, 4096)]:
    if kinds(off, n) != {0}:
        errs.append("written range %d+%d is not data" % (off, n))
for e in errs:
    print("FAIL:", e, file=sys.stderr)
sys.exit(1 if errs else 0)
EOF
}
# The extents requests and replies in the log filter's lines on stdin:
# each reply covers its whole request, and there are few extents.
cat > "$tmp/count-extents.py" <<'EOF'
import re, sys
when = sys.argv[1]
asked = {}
reqs = exts = 0
errs = []
for l in sys.stdin:
    m = re.search(r"connection=(\d+) Extents id=(\d+) offset=(0x[0-9a-f]+) count=(0x[0-9a-f]+)", l)
    if m:
        asked[m.group(1, 2)] = (int(m.group(3), 16), int(m.group(4), 16))
        reqs += 1
    m = re.search(r"connection=(\d+) \.\.\.Extents id=(\d+) extents=\((.*)\) return=0", l)
    if m:
        off, count = asked.pop(m.group(1, 2))
        t = re.findall(r'(0x[0-9a-f]+) (0x[0-9a-f]+) "[^"]*"', m.group(3))
        exts += len(t)
        start = int(t[0][0], 16) if t else None
        end = start + sum(int(n, 16) for _, n in t) if t else None
        if start != off or end < off + count:
            errs.append("the reply to %d+%d covers only %s..%s" % (off, count, start, end))
print("nbdinfo --map %s: %d requests, %d extents in the replies" % (when, reqs, exts))
if not reqs or asked:
    errs.append("%d requests, %d without a reply" % (reqs, len(asked)))
if exts > 64:
    errs.append("%d extents in the replies (limit 64)" % exts)
for e in errs[:5]:
    print("FAIL: %s: %s" % (when, e), file=sys.stderr)
sys.exit(1 if errs else 0)
EOF

# check_memory PID WHEN: peak RSS below 64 MiB (not measurable under
# the sanitizers, whose shadow memory is counted).
check_memory ()
{
    local hwm
    hwm=$(awk '/^VmHWM:/ { print $2 }' /proc/$1/status)
    echo "nbdkit peak RSS $2: $hwm KiB"
    if [ -n "$sanitizer_preload" ]; then
        echo "(not checked: built with sanitizers)"
        return 0
    fi
    [ "$hwm" -lt $((64 * 1024)) ] || fail "nbdkit's peak RSS $2 is $hwm KiB (limit 64 MiB)"
}

# serve_box: the plugin, behind nbdkit's log filter.
serve_box ()
{
    start_server box --filter=log "$plugin" logfile="$tmp/box-requests.log" \
        base="$base" overlay="$ov"
    pid=$server_pid
}

serve_box
check_start $pid "on a new overlay"
[ "$(nbdinfo --size "$(uri box)")" = "$size" ] || fail "wrong size"
"$nbdpy" "$tmp/io.py" write "$(uri box)" "$base" || fail "wrong data after the writes"
check_map box $pid "before the restart"
check_memory $pid "after the I/O"
ovsize=$(stat -c %s "$ov")
[ "$ovsize" -lt $((1024 * 1024)) ] || fail "the overlay is $ovsize bytes after writing 36 KiB and zeroing 8 GiB"
stop_server $pid

serve_box
check_start $pid "on the overlay"
"$nbdpy" "$tmp/io.py" check "$(uri box)" "$base" || fail "wrong data after the restart"
check_map box $pid "after the restart"
check_memory $pid "after the restart"
stop_server $pid

# The same after a crash: the index is rebuilt from the log.
serve_box
"$nbdpy" "$tmp/io.py" check "$(uri box)" "$base" || fail "wrong data before the crash"
kill9_server $pid
serve_box
check_start $pid "with a recovery from the log"
"$nbdpy" "$tmp/io.py" check "$(uri box)" "$base" || fail "wrong data after kill -9 and restart"
check_map box $pid "after recovery"
check_memory $pid "after recovery"
stop_server $pid

base_after=$(base_state)
[ "$base_after" = "$base_before" ] ||
    fail "the base changed: before '$base_before', after '$base_after'"

#!/usr/bin/env bash
# A 64 GiB sparse base: a few writes at the start, middle and end, and
# 8 GiB zeroed and trimmed, read back right before and after a restart;
# the zeroed range shows as a hole in the map; nbdkit's peak memory
# stays small (promise 8: it grows with the written set, not with the
# base); the overlay stays small; the base stays sparse and unchanged.
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

# check_map: the zeroed range reads as a hole/zero in the map, except
# the block written after it; the written blocks are data.  The map of
# a disk with a handful of extents is a handful of requests: it must
# not cost time in proportion to the 64 GiB (5 s is 100 times what it
# takes when it does not; a per-block walk takes 10 s here).
check_map ()
{
    local t0 ms
    t0=$(date +%s%N)
    nbdinfo --map --json "$(uri $1)" > "$tmp/map.json"
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    echo "nbdinfo --map $2: $ms ms"
    "$nbdpy" - "$tmp/map.json" <<'EOF' || fail "$2: the map is wrong"
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
    # Reported at the end, so that the other checks still run.
    [ $ms -lt 5000 ] ||
        slow_map+="$2: nbdinfo --map of the 64 GiB disk took $ms ms; "
}
slow_map=

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

start_plugin box base="$base" overlay="$ov"
pid=$server_pid
[ "$(nbdinfo --size "$(uri box)")" = "$size" ] || fail "wrong size"
SECONDS=0
"$nbdpy" "$tmp/io.py" write "$(uri box)" "$base" || fail "wrong data after the writes"
echo "I/O and check: ${SECONDS}s"
check_map box "before the restart"
check_memory $pid "after the I/O"
ovsize=$(stat -c %s "$ov")
[ "$ovsize" -lt $((1024 * 1024)) ] || fail "the overlay is $ovsize bytes after writing 36 KiB and zeroing 8 GiB"
stop_server $pid

start_plugin box base="$base" overlay="$ov"
pid=$server_pid
"$nbdpy" "$tmp/io.py" check "$(uri box)" "$base" || fail "wrong data after the restart"
check_map box "after the restart"
check_memory $pid "after the restart"
stop_server $pid

# The same after a crash: the index is rebuilt from the log.
start_plugin box base="$base" overlay="$ov"
pid=$server_pid
"$nbdpy" "$tmp/io.py" check "$(uri box)" "$base" || fail "wrong data before the crash"
kill9_server $pid
start_plugin box base="$base" overlay="$ov"
pid=$server_pid
"$nbdpy" "$tmp/io.py" check "$(uri box)" "$base" || fail "wrong data after kill -9 and restart"
check_memory $pid "after recovery"
stop_server $pid

base_after=$(base_state)
[ "$base_after" = "$base_before" ] ||
    fail "the base changed: before '$base_before', after '$base_after'"
[ -z "$slow_map" ] ||
    fail "${slow_map}the extents walk costs time per block of the base"

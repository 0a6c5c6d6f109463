#!/usr/bin/env bash
# Bases whose size is not a multiple of the block size (5000 bytes, with
# 4096- and 512-byte blocks) and a 1-byte base: the exported size is
# exact; writes, zeroes and trims of the last partial block, unaligned
# requests across block boundaries, all read back as a model of the
# disk says, and again after a restart; requests past the end fail and
# change nothing.
. tests/functions.sh
require nbdkit nbdinfo nbdcopy

require_nbd_python

# The I/O, against a model kept in memory; writes the model to argv[3].
cat > "$tmp/io.py" <<'EOF'
import errno, random, sys
import nbd

uri, bs, model_out, base_path = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
model = bytearray(open(base_path, 'rb').read())
n = len(model)
rnd = random.Random(n * 7 + bs)
h = nbd.NBD()
h.connect_uri(uri)
assert h.get_size() == n, "size %d, expected %d" % (h.get_size(), n)

def fail(msg):
    sys.exit("FAIL: size %d, block size %d: %s" % (n, bs, msg))

def check(what):
    got = h.pread(n, 0)
    if got != bytes(model):
        bad = [i for i in range(n) if got[i] != model[i]]
        fail("%s: %d bytes differ from the model, first at %d (got %#x, want %#x)"
             % (what, len(bad), bad[0], got[bad[0]], model[bad[0]]))

def write(off, length):
    data = bytes(rnd.randrange(1, 256) for _ in range(length))
    h.pwrite(data, off)
    model[off:off + length] = data
    check("write %d+%d" % (off, length))

def zero(off, length, trim=False):
    if trim:
        h.trim(length, off)
    else:
        h.zero(length, off)
    model[off:off + length] = bytes(length)
    check("%s %d+%d" % ("trim" if trim else "zero", off, length))

last = (n - 1) // bs * bs            # start of the last (partial) block
write(last, n - last)                # all the visible bytes of the last block
write(max(0, n - 10), min(10, n))    # the end, read-modify-write
if n >= bs + 100:
    write(bs - 100, 200)             # across the first block boundary
if n >= 3 * bs:
    write(bs // 2, 2 * bs)           # across two boundaries, unaligned both ends
zero(max(0, n - 500), min(500, n))   # the tail
write(n - 1, 1)                      # the very last byte
if n >= 300:
    zero(n - 300, 100, trim=True)    # a trim inside the tail
    write(n - 250, 40)
if n >= 7:
    write(3, 4)                      # inside the first block
if n >= bs + 2:
    zero(bs - 2, 4)                  # a zero across a boundary
zero(n - 1, 1, trim=True)            # trim the last byte
write(n - 1, 1)
zero(0, n)                           # everything
write(max(0, n - bs - 3), min(n, bs + 3))
h.flush()
check("after flush")

# Past the end: sent to the server as they are (no client-side check),
# each must fail and change nothing.
h.set_strict_mode(0)
def must_fail(what, fn):
    try:
        fn()
    except nbd.Error as e:
        return e.errnum
    fail("%s past the end succeeded" % what)
must_fail("write 1 byte at the end", lambda: h.pwrite(b'\xee', n))
must_fail("write across the end", lambda: h.pwrite(b'\xee' * 20, max(0, n - 10)))
must_fail("write far past the end", lambda: h.pwrite(b'\xee' * 512, n + 4096))
must_fail("zero across the end", lambda: h.zero(20, max(0, n - 10)))
must_fail("trim across the end", lambda: h.trim(20, max(0, n - 10)))
must_fail("read past the end", lambda: h.pread(1, n))
check("after the requests past the end")
h.flush()
h.shutdown()
open(model_out, 'wb').write(model)
EOF

run=0
for cfg in "5000 4096 lz4" "5000 512 none" "1 4096 lz4" "1 512 none"; do
    set -- $cfg
    size=$1 bs=$2 compress=$3
    run=$((run + 1))
    name=t$run
    base=$tmp/base-$name.img
    ov=$tmp/$name.ow
    head -c "$size" /dev/urandom > "$base"
    remember_base "$base"

    start_plugin $name base="$base" overlay="$ov" block-size=$bs compress=$compress ||
        fail "$size-byte base, block size $bs: the plugin did not start"
    pid=$server_pid
    got=$(nbdinfo --size "$(uri $name)")
    [ "$got" = "$size" ] || fail "$size-byte base: nbdinfo --size says $got"
    "$nbdpy" "$tmp/io.py" "$(uri $name)" $bs "$tmp/model-$name.img" "$base" ||
        fail "$size-byte base, block size $bs: wrong view (see above)"
    [ "$(stat -c %s "$tmp/model-$name.img")" = "$size" ] || fail "model has the wrong size"
    nbdcopy "$(uri $name)" "$tmp/view-$name.img"
    cmp "$tmp/model-$name.img" "$tmp/view-$name.img" ||
        fail "$size-byte base, block size $bs: nbdcopy's view differs from the model"
    # The map covers exactly the disk.
    total=$(nbdinfo --map --json "$(uri $name)" |
                "$nbdpy" -c 'import json,sys; print(sum(e["length"] for e in json.load(sys.stdin)))')
    [ "$total" = "$size" ] || fail "$size-byte base: the map covers $total bytes"
    stop_server $pid

    # Restarted: the same size and the same view.
    start_plugin $name base="$base" overlay="$ov"
    pid=$server_pid
    got=$(nbdinfo --size "$(uri $name)")
    [ "$got" = "$size" ] || fail "$size-byte base after restart: nbdinfo --size says $got"
    rm -f "$tmp/view-$name.img"
    nbdcopy "$(uri $name)" "$tmp/view-$name.img"
    cmp "$tmp/model-$name.img" "$tmp/view-$name.img" ||
        fail "$size-byte base, block size $bs: the view changed across a restart"
    stop_server $pid
done

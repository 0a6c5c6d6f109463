#!/usr/bin/env bash
# max-overlay-size=2M: 4 KiB blocks of distinct, incompressible data
# are written one after another until a write fails with ENOSPC; the
# overlay file never grows past 2 MiB; every write before the failure
# reads back intact, the failed one left the block as it was, flush
# still works (the read set has room), and all of it holds after a
# restart with the limit (writes still fail) and without it (writes
# work again).
. tests/functions.sh
require nbdkit

require_nbd_python

limit=$((2 * 1024 * 1024))
base=$tmp/base.img
ov=$tmp/box.ow
head -c 8M /dev/urandom > "$base"
remember_base "$base"

cat > "$tmp/quota.py" <<'EOF'
import errno, os, sys
import nbd

mode, uri, ov, base, state = sys.argv[1:6]
limit = 2 * 1024 * 1024
BS = 4096
h = nbd.NBD()
h.connect_uri(uri)
bfd = os.open(base, os.O_RDONLY)

def fail(msg):
    sys.exit("FAIL: %s: %s" % (mode, msg))

def check_size(when):
    sz = os.stat(ov).st_size
    if sz > limit:
        fail("the overlay is %d bytes %s, more than max-overlay-size=%d" % (sz, when, limit))

def expect_enospc(what, fn):
    try:
        fn()
    except nbd.Error as e:
        if e.errnum != errno.ENOSPC:
            fail("%s failed with errno %s (%s), not ENOSPC" % (what, e.errnum, e))
        return
    fail("%s succeeded on a full overlay" % what)

if mode == "fill":
    blocks = []
    nblocks = h.get_size() // BS
    while True:
        if len(blocks) == nblocks:
            fail("the whole disk was written without reaching the limit")
        data = os.urandom(BS)
        try:
            h.pwrite(data, len(blocks) * BS)
        except nbd.Error as e:
            if e.errnum != errno.ENOSPC:
                fail("write %d failed with errno %s (%s), not ENOSPC"
                     % (len(blocks), e.errnum, e))
            break
        blocks.append(data)
        check_size("after write %d" % len(blocks))
    n = len(blocks)
    if n < 100:
        fail("only %d blocks fitted in 2 MiB" % n)
    print("%d blocks written before ENOSPC" % n)
    open(state, "wb").write(b"".join(blocks))
    # Still full: the same block again, an unaligned write, a write elsewhere.
    expect_enospc("writing the block again", lambda: h.pwrite(os.urandom(BS), n * BS))
    expect_enospc("an unaligned write", lambda: h.pwrite(os.urandom(100), n * BS + 10))
    expect_enospc("a write further on", lambda: h.pwrite(os.urandom(BS), (n + 10) * BS))
    check_size("after the failed writes")

# Every block written before the failure, then the failed one, which
# must still read as the base (this read puts it in the read set, which
# the flush then has to record within the limit).
data = open(state, "rb").read()
n = len(data) // BS
got = h.pread(n * BS, 0)
if got != data:
    first = next(i for i in range(n) if got[i*BS:(i+1)*BS] != data[i*BS:(i+1)*BS])
    fail("block %d of the %d written does not read back" % (first, n))
if h.pread(BS, n * BS) != os.pread(bfd, BS, n * BS):
    fail("the block whose write failed (%d) does not read as the base" % n)
if h.pread(BS, (n + 10) * BS) != os.pread(bfd, BS, (n + 10) * BS):
    fail("block %d, whose write failed, does not read as the base" % (n + 10))
h.flush()
check_size("after the flush")

if mode == "limited":
    expect_enospc("a write after the restart", lambda: h.pwrite(os.urandom(BS), n * BS))
    h.flush()
    check_size("after the restart")
elif mode == "unlimited":
    more = os.urandom(BS)
    h.pwrite(more, n * BS)
    h.flush()
    if h.pread(BS, n * BS) != more:
        fail("a write without the limit does not read back")
h.shutdown()
EOF

size_ok ()
{
    local sz
    sz=$(stat -c %s "$ov")
    [ "$sz" -le $limit ] || fail "$1: the overlay is $sz bytes, more than $limit"
}

start_plugin box base="$base" overlay="$ov" max-overlay-size=2M
pid=$server_pid
"$nbdpy" "$tmp/quota.py" fill "$(uri box)" "$ov" "$base" "$tmp/state" ||
    fail "filling the overlay"
size_ok "while running"
stop_server $pid
size_ok "after a clean stop"

# Restarted with the limit: the data is there, writes still fail.
start_plugin box base="$base" overlay="$ov" max-overlay-size=2M
pid=$server_pid
"$nbdpy" "$tmp/quota.py" limited "$(uri box)" "$ov" "$base" "$tmp/state" ||
    fail "after a restart with the limit"
stop_server $pid
size_ok "after the second run"

# After a crash too (the index rebuilt from the log, not a checkpoint).
start_plugin box base="$base" overlay="$ov" max-overlay-size=2M
pid=$server_pid
"$nbdpy" "$tmp/quota.py" limited "$(uri box)" "$ov" "$base" "$tmp/state" ||
    fail "a third run with the limit"
kill9_server $pid
size_ok "after kill -9"
start_plugin box base="$base" overlay="$ov" max-overlay-size=2M
pid=$server_pid
"$nbdpy" "$tmp/quota.py" limited "$(uri box)" "$ov" "$base" "$tmp/state" ||
    fail "after kill -9 and a restart with the limit"
stop_server $pid
size_ok "after recovery"

# Without the limit: the data is there and writes work again.
start_plugin box base="$base" overlay="$ov"
pid=$server_pid
"$nbdpy" "$tmp/quota.py" unlimited "$(uri box)" "$ov" "$base" "$tmp/state" ||
    fail "after a restart without the limit"
stop_server $pid

"$merge" info "$ov" >/dev/null || fail "oneway-merge info fails on the overlay"

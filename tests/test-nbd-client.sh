#!/usr/bin/env bash
# The export through the kernel's NBD client: attach with nbd-client,
# write and read through /dev/nbdX with O_DIRECT, detach; the writes
# are in the overlay (seen again through a fresh plugin), the base is
# untouched.  Skipped where the kernel has no NBD devices.
. tests/functions.sh

dev=
for d in /dev/nbd0 /dev/nbd1 /dev/nbd2 /dev/nbd3; do
    [ -b "$d" ] || continue
    # Free: no size and no pid (nbd-client -c exits 0 when connected).
    if [ "$(cat /sys/block/${d#/dev/}/size 2>/dev/null || echo 0)" = 0 ] &&
       ! nbd-client -c "$d" >/dev/null 2>&1; then
        dev=$d; break
    fi
done
[ -b /dev/nbd0 ] || skip "/dev/nbd0 does not exist (no nbd kernel module; try modprobe nbd)"
[ -n "$dev" ] || skip "every /dev/nbd0..3 is in use"
require_root
require nbdkit nbd-client nbdcopy dd

base=$tmp/base.img
ov=$tmp/box.ow
head -c 16M /dev/urandom > "$base"
remember_base "$base"

start_plugin box base="$base" overlay="$ov"
pid=$server_pid

# Detach on any exit, before the servers are stopped.
attached=
detach_nbd ()
{
    if [ -n "$attached" ]; then
        nbd-client -d "$dev" >/dev/null 2>&1
        attached=
    fi
}
on_exit detach_nbd

nbd-client -unix "$tmp/box.sock" "$dev" -b 4096 >"$tmp/nbd-client.log" 2>&1 ||
    { cat "$tmp/nbd-client.log"; fail "nbd-client could not attach $dev"; }
attached=1
for (( i=0; i<100; i++ )); do
    [ "$(blockdev --getsize64 "$dev" 2>/dev/null || echo 0)" = $((16 * 1024 * 1024)) ] && break
    sleep 0.05
done
[ "$(blockdev --getsize64 "$dev")" = $((16 * 1024 * 1024)) ] ||
    fail "$dev has size $(blockdev --getsize64 "$dev"), expected 16 MiB"

# Unchanged so far: the device reads as the base.
cmp <(dd if="$dev" bs=1M iflag=direct status=none) "$base" ||
    fail "$dev does not read as the base before any write"

head -c 1M /dev/urandom > "$tmp/data"
dd if="$tmp/data" of="$dev" bs=1M seek=3 oflag=direct conv=fsync status=none ||
    fail "writing $dev"
blockdev --flushbufs "$dev"
cmp <(dd if="$dev" bs=1M skip=3 count=1 iflag=direct status=none) "$tmp/data" ||
    fail "$dev does not read back what was written"

# The model: the base with the 1 MiB at 3 MiB.
cp "$base" "$tmp/model.img"
dd if="$tmp/data" of="$tmp/model.img" bs=1M seek=3 conv=notrunc status=none
cmp <(dd if="$dev" bs=1M iflag=direct status=none) "$tmp/model.img" ||
    fail "$dev: the view differs from the model"

nbd-client -d "$dev" >"$tmp/nbd-client.log" 2>&1 ||
    { cat "$tmp/nbd-client.log"; fail "nbd-client -d $dev failed"; }
attached=
stop_server $pid

# A fresh plugin on the same overlay shows the write.
start_plugin box base="$base" overlay="$ov"
pid=$server_pid
nbdcopy "$(uri box)" "$tmp/view.img"
cmp "$tmp/view.img" "$tmp/model.img" || fail "the write through $dev did not persist"
stop_server $pid

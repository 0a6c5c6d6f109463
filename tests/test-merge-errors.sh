#!/usr/bin/env bash
# oneway-merge info and blocks on bad input: each exits exactly 2,
# prints nothing to stdout, and says on stderr what is wrong and with
# which file.  The plugin refuses the same files and leaves them as
# they were.  Cases: an empty file; random bytes; both header copies
# damaged; a truncated overlay (below its header, and below the flushed
# part of its log, clean and unclean); a flushed record corrupted; an
# unknown format version; an unknown incompatible feature; a header
# with an impossible block size.
. tests/functions.sh
require nbdkit qemu-io

base=$tmp/base.img
head -c 8M /dev/urandom > "$base"
remember_base "$base"

# Byte surgery and CRC-32C (lib/crc32c.c: standard Castagnoli; header
# layout: lib/format.c; the CRC of bytes 0..4091 of a 4096-byte slot is
# stored little-endian at 4092).
cat > "$tmp/hdr.py" <<'EOF'
import struct, sys

def make_table():
    t = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        t.append(c)
    return t
T = make_table()

def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc = T[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF

assert crc32c(b"123456789") == 0xE3069283
SLOT = 4096
cmd, path = sys.argv[1], sys.argv[2]
with open(path, "r+b") as f:
    if cmd == "flip":                     # flip OFFSET...
        for off in map(int, sys.argv[3:]):
            f.seek(off)
            b = f.read(1)
            f.seek(off)
            f.write(bytes([b[0] ^ 0xFF]))
    elif cmd == "set":                    # set FIELD-OFFSET SIZE VALUE, in both slots
        off, size, value = map(int, sys.argv[3:6])
        for s in range(2):
            f.seek(s * SLOT)
            slot = bytearray(f.read(SLOT))
            assert slot[:8] == b"ONEWAYOV", "slot %d has no magic" % s
            # The CRC as we compute it must match the one stored: else
            # our idea of the layout is wrong and the test proves nothing.
            assert struct.unpack_from("<I", slot, SLOT - 4)[0] == crc32c(slot[:SLOT - 4]), \
                "slot %d: stored CRC differs from the computed one" % s
            slot[off:off + size] = value.to_bytes(size, "little")
            struct.pack_into("<I", slot, SLOT - 4, crc32c(slot[:SLOT - 4]))
            f.seek(s * SLOT)
            f.write(slot)
EOF
py=
for p in /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null; then py=$p; break; fi
done
[ -n "$py" ] || skip "python3 is not installed"
hdr () { "$py" "$tmp/hdr.py" "$@"; }

# Two overlays to damage copies of, each with a small write and 2 MiB
# of random data (so that its log is mostly block data), flushed:
# clean.ow closed properly, crash.ow left unclean by kill -9 after the
# flush.
head -c 2M /dev/urandom > "$tmp/data"
for how in clean crash; do
    start_plugin mk-$how base="$base" overlay="$tmp/$how.ow"
    pid=$server_pid
    qemu-io -f raw "$(uri mk-$how)" -c 'write -P 0x6b 6M 4k' -c flush >/dev/null
    nbdcopy "$tmp/data" "$(uri mk-$how)"
    qemu-io -f raw "$(uri mk-$how)" -c flush >/dev/null
    if [ $how = clean ]; then stop_server $pid; else kill9_server $pid; fi
    # The undamaged overlay is fine (so that the damage is what fails).
    "$merge" info "$tmp/$how.ow" > "$tmp/$how.info" 2>&1 ||
        { cat "$tmp/$how.info"; fail "the undamaged $how overlay is refused"; }
    [ "$(stat -c %s "$tmp/$how.ow")" -gt $((2 * 1024 * 1024)) ] ||
        fail "the $how overlay is smaller than the data written"
done
grep -q "state: *clean" "$tmp/clean.info" || { cat "$tmp/clean.info"; fail "clean.ow is not clean"; }
grep -q "state: *not closed cleanly" "$tmp/crash.info" || { cat "$tmp/crash.info"; fail "crash.ow is not unclean"; }

# make_overlay NAME HOW: a copy of the clean or the crash overlay.
make_overlay ()
{
    cp "$tmp/$2.ow" "$tmp/$1.ow"
}

# expect_error FILE WHAT PATTERN...: info and blocks, human and JSON,
# exit 2, nothing on stdout, stderr names the file and matches every
# PATTERN (extended regex, case-insensitive).  Then the plugin refuses
# it too and does not change it.
expect_error ()
{
    local file=$1 what=$2 st sum; shift 2
    sum=$(checksum "$file")
    expect_merge_refusal "$file" "$what" "$@"
    echo "$what: $(head -n 3 "$tmp/m.err" | tr '\n' ' ')"
    [ "$(checksum "$file")" = "$sum" ] || fail "$what: oneway-merge changed the file"
    # The plugin: it must not start on it, nor touch it.
    if [ -s "$file" ]; then
        st=0
        env $(_nbdkit_env) nbdkit -U - "$plugin" base="$base" overlay="$file" --run 'exit 0' \
            >"$tmp/p.log" 2>&1 || st=$?
        [ $st -eq 1 ] || { cat "$tmp/p.log"; fail "$what: the plugin exited $st, expected 1 (refused)"; }
        grep -qF "$file" "$tmp/p.log" || { cat "$tmp/p.log"; fail "$what: the plugin's error does not name $file"; }
        [ "$(checksum "$file")" = "$sum" ] || fail "$what: the plugin changed the file it refused"
    fi
}

# An empty file.
: > "$tmp/empty.ow"
expect_error "$tmp/empty.ow" "an empty file" "empty"

# Not an overlay.
head -c 64k /dev/urandom > "$tmp/random.ow"
expect_error "$tmp/random.ow" "random bytes" "not a oneway overlay"
head -c 100 /dev/urandom > "$tmp/short-random.ow"
expect_error "$tmp/short-random.ow" "100 random bytes" "not a oneway overlay|truncated|shorter"

# Both header copies damaged (one byte in each, inside the checksummed part).
make_overlay headers clean
hdr flip "$tmp/headers.ow" 300 $((4096 + 77))
expect_error "$tmp/headers.ow" "both headers damaged" "header" "checksum|corrupt"

# One damaged copy is not an error: the other one is used.
make_overlay onehdr clean
hdr flip "$tmp/onehdr.ow" 300
"$merge" info "$tmp/onehdr.ow" >/dev/null 2>"$tmp/m.err" ||
    { cat "$tmp/m.err"; fail "one damaged header copy: refused, but the other copy is good"; }

# Truncated below the header.
make_overlay tiny clean
truncate -s 5000 "$tmp/tiny.ow"
expect_error "$tmp/tiny.ow" "truncated below the header" "truncated|shorter"

# Truncated to half: below the flushed part of the log (clean: its
# checkpoint is gone too; unclean: the log must be replayed).
make_overlay half-clean clean
truncate -s $(( $(stat -c %s "$tmp/half-clean.ow") / 2 )) "$tmp/half-clean.ow"
expect_error "$tmp/half-clean.ow" "clean overlay truncated to half" "truncated"
make_overlay half-crash crash
truncate -s $(( $(stat -c %s "$tmp/half-crash.ow") / 2 )) "$tmp/half-crash.ow"
expect_error "$tmp/half-crash.ow" "unclean overlay truncated to half" "truncated"

# A flushed record corrupted.  In a clean overlay the checkpoint holds
# the index and the log is not read by info/blocks, so this needs an
# overlay left unclean (kill -9 after the flush): the log is replayed,
# every record checked, and a bad one below the flushed point is
# corruption, not a torn tail.  The byte flipped is inside a block
# that a current record holds: found by its content (the file's middle
# may be a slot no record uses, which nothing reads).
make_overlay rec crash
at=$("$py" -c '
import sys
chunk = open(sys.argv[1], "rb").read()[1 << 20:(1 << 20) + 4096]
at = open(sys.argv[2], "rb").read().find(chunk)
print(at + 100 if at >= 0 else -1)' "$tmp/data" "$tmp/rec.ow")
[ "$at" -gt 8192 ] || fail "cannot find a block of the data written in the overlay"
hdr flip "$tmp/rec.ow" "$at"
expect_error "$tmp/rec.ow" "a flushed record corrupted" "corrupt" "flushed"
# ... and a record header.
make_overlay rechdr crash
hdr flip "$tmp/rechdr.ow" $((8192 + 4))
expect_error "$tmp/rechdr.ow" "a flushed record header corrupted" "corrupt" "flushed"

# An unknown format version (both slots, with good CRCs).
make_overlay v2 clean
hdr set "$tmp/v2.ow" 8 4 2
expect_error "$tmp/v2.ow" "format version 2" "version 2" "newer"

# An unknown incompatible feature bit.
make_overlay feat clean
hdr set "$tmp/feat.ow" 16 8 $((1 << 40))
expect_error "$tmp/feat.ow" "an unknown incompat feature" "feature" "newer"

# Impossible header values: block size 1000.
make_overlay bs clean
hdr set "$tmp/bs.ow" 64 4 1000
expect_error "$tmp/bs.ow" "block size 1000" "corrupt|impossible|invalid" "1000"

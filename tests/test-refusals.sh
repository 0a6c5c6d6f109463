#!/usr/bin/env bash
# Promises 6 and 7, and the merge tool's "offline" rule:
#  (a) an overlay opened against another base (same size, other
#      content; or another size) is refused, the error names both
#      bases, and the overlay is left as it was;
#  (b) a second writer on an overlay in use is refused with an error
#      naming the overlay and the PID that holds it;
#  (c) oneway-merge info/blocks exit 2 while the plugin holds the
#      overlay, and 0 once it has stopped;
#  (d) block-size= other than the one the overlay was made with is
#      refused.
# Every refusal must leave the overlay byte-identical and its data
# readable afterwards.
. tests/functions.sh
require nbdkit qemu-io

a=$tmp/base-a.img
b=$tmp/base-b.img
c=$tmp/base-c.img
head -c 4M /dev/urandom > "$a"
head -c 4M /dev/urandom > "$b"          # same size, other content
head -c 6M /dev/urandom > "$c"          # another size
cp "$a" "$tmp/base-a1.img"              # A with one byte changed
# (flip every bit of one byte: a fixed value could be the one already there)
byte=$(od -An -tu1 -j $((3*1024*1024+17)) -N1 "$a" | tr -d ' ')
printf "\\$(printf %03o $((255 - byte)))" |
    dd of="$tmp/base-a1.img" bs=1 seek=$((3*1024*1024+17)) conv=notrunc status=none
cmp -s "$a" "$tmp/base-a1.img" && fail "could not make a changed copy of A"
for f in "$a" "$b" "$c" "$tmp/base-a1.img"; do remember_base "$f"; done

ov=$tmp/box.ow

# try_plugin NAME ARGS...: run the plugin captive; it exits 0 only if it
# started serving.  The status is in $status, the log in $tmp/NAME.log.
try_plugin ()
{
    local name=$1; shift
    status=0
    env $(_nbdkit_env) nbdkit -U - "$plugin" "$@" --run 'exit 0' \
        >"$tmp/$name.log" 2>&1 || status=$?
}

# expect_refused NAME WHAT ARGS...: the plugin must not start.
expect_refused ()
{
    local name=$1 what=$2; shift 2
    try_plugin "$name" "$@"
    [ $status -eq 1 ] || {
        cat "$tmp/$name.log" >&2
        fail "$what: nbdkit exited with $status, expected 1 (refused)"
    }
}

# log_has NAME TEXT WHAT: the log of NAME mentions TEXT.
log_has ()
{
    grep -qF -- "$2" "$tmp/$1.log" || {
        cat "$tmp/$1.log" >&2
        fail "$3: the error does not mention '$2'"
    }
}

# log_has_word NAME WORD WHAT: the same, as a whole word (for numbers).
log_has_word ()
{
    grep -qwF -- "$2" "$tmp/$1.log" || {
        cat "$tmp/$1.log" >&2
        fail "$3: the error does not mention '$2'"
    }
}

# Make the overlay against A, with known content.
start_plugin box base="$a" overlay="$ov"
pid=$server_pid
qemu-io -f raw "$(uri box)" -c 'write -P 0x3c 1M 64k' -c flush >/dev/null
stop_server $pid
[ -s "$ov" ] || fail "the overlay was not created"
ov_sum=$(checksum "$ov")

check_overlay_untouched ()
{
    [ "$(checksum "$ov")" = "$ov_sum" ] || fail "$1: the refused open changed the overlay"
}

# (a) Another base of the same size.
expect_refused other-same-size "base B (same size)" base="$b" overlay="$ov"
log_has other-same-size "$a" "base B (same size)"
log_has other-same-size "$b" "base B (same size)"
log_has other-same-size "$ov" "base B (same size)"
check_overlay_untouched "base B"

# A itself, changed by one byte (small enough to be fingerprinted whole).
expect_refused changed-base "base A changed by one byte" base="$tmp/base-a1.img" overlay="$ov"
log_has changed-base "$a" "base A changed"
log_has changed-base "$tmp/base-a1.img" "base A changed"
check_overlay_untouched "changed base A"

# Another size: both sizes are shown too.
expect_refused other-size "base C (other size)" base="$c" overlay="$ov"
log_has other-size "$a" "base C (other size)"
log_has other-size "$c" "base C (other size)"
log_has_word other-size "$(stat -c %s "$a")" "base C (other size)"
log_has_word other-size "$(stat -c %s "$c")" "base C (other size)"
check_overlay_untouched "base C"

# (d) Another block size: refused, naming both sizes; the same one is fine.
expect_refused bs8192 "block-size=8192" base="$a" overlay="$ov" block-size=8192
log_has bs8192 "$ov" "block-size=8192"
log_has_word bs8192 4096 "block-size=8192"
log_has_word bs8192 8192 "block-size=8192"
check_overlay_untouched "block-size=8192"
try_plugin bs4096 base="$a" overlay="$ov" block-size=4096
[ $status -eq 0 ] || { cat "$tmp/bs4096.log" >&2; fail "block-size=4096 (the overlay's own) was refused"; }

# The right base still works and the data is there.
start_plugin box base="$a" overlay="$ov"
pid=$server_pid
qemu-io -f raw "$(uri box)" -c 'read -P 0x3c 1M 64k' > "$tmp/out" ||
    { cat "$tmp/out"; fail "data lost after the refusals"; }
grep -qi "verification failed" "$tmp/out" && { cat "$tmp/out"; fail "data changed after the refusals"; }

# (b) A second writer while the first one holds the overlay.
expect_refused second "a second writer" base="$a" overlay="$ov"
log_has second "$ov" "a second writer"
log_has_word second "$pid" "a second writer (holding PID)"
# ... also through another name for the same file.
ln -s "$ov" "$tmp/alias.ow"
expect_refused second-alias "a second writer through a symlink" base="$a" overlay="$tmp/alias.ow"
log_has_word second-alias "$pid" "a second writer through a symlink (holding PID)"
# The first server is unharmed: it still reads and writes.
qemu-io -f raw "$(uri box)" -c 'read -P 0x3c 1M 64k' -c 'write -P 0x4d 2M 4k' -c flush > "$tmp/out" ||
    { cat "$tmp/out"; fail "the first server broke after the second writer was refused"; }
grep -qi "verification failed" "$tmp/out" && { cat "$tmp/out"; fail "the first server's data changed"; }

# (c) The merge tool refuses an overlay that the plugin holds.
expect_merge_refusal "$ov" "a held overlay" "\\b$pid\\b"
stop_server $pid

# ... and accepts it once the plugin has stopped.
for cmd in info blocks; do
    st=0
    "$merge" $cmd "$ov" >"$tmp/m.out" 2>"$tmp/m.err" || st=$?
    [ $st -eq 0 ] || { cat "$tmp/m.err"; fail "merge $cmd after the plugin stopped: exit $st, expected 0"; }
    [ -s "$tmp/m.out" ] || fail "merge $cmd printed nothing"
done
"$merge" blocks --json "$ov" > "$tmp/blocks.json"
# 1M..1M+64k and 2M..2M+4k in 4 KiB blocks.
[ "$(json_get "$tmp/blocks.json" 'd["written"]')" = "[[256, 16], [512, 1]]" ] ||
    { cat "$tmp/blocks.json"; fail "merge blocks: unexpected written set"; }

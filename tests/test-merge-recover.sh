#!/usr/bin/env bash
# oneway-merge recover: an SEE filesystem left with committed journal
# transactions (written with debugfs' journal commands, as a crash
# would leave them) is refused by diff and audit until its journal is
# replayed into the overlay.  The replayed view must equal what
# e2fsck's own journal replay makes of the same image, and the base
# stays as it was.
. tests/functions.sh
require mke2fs debugfs e2fsck nbdkit cmp

base=$tmp/base.img
tree=$tmp/tree
mkdir -p "$tree/etc"
echo "the base's motd" > "$tree/etc/motd"
head -c 20000 /dev/urandom > "$tree/etc/blob"
mke2fs -q -t ext4 -b 4096 -d "$tree" -E lazy_itable_init=0,lazy_journal_init=0 "$base" 32M
remember_base "$base"

# The SEE's state: two committed transactions that put new bytes into
# /etc/motd's data block, the later one winning.  debugfs writes them
# to the journal and leaves the filesystem marked as needing recovery.
motd_block=$(debugfs -R "bmap /etc/motd 0" "$base" 2>/dev/null)
[ "$motd_block" -gt 0 ] || fail "no data block for /etc/motd in the base"
printf 'the SEE wrote this\n' > "$tmp/first"
truncate -s 4096 "$tmp/first"
printf 'the SEE wrote this, then this\n' > "$tmp/second"
truncate -s 4096 "$tmp/second"
see=$tmp/see.img
cp "$base" "$see"
debugfs -w -f - "$see" > "$tmp/debugfs.out" 2>&1 <<CMDS
jo
jw -b $motd_block $tmp/first
jc
jo
jw -b $motd_block $tmp/second
jc
CMDS
dumpe2fs -h "$see" 2>/dev/null | grep -q needs_recovery ||
    fail "debugfs did not leave $see needing recovery: $(cat "$tmp/debugfs.out")"
# What e2fsck makes of it: the reference replay.
cp "$see" "$tmp/reference.img"
e2fsck -fy -E journal_only "$tmp/reference.img" > "$tmp/e2fsck.out" 2>&1 || [ $? -le 1 ] ||
    fail "e2fsck cannot replay the journal: $(cat "$tmp/e2fsck.out")"

ov=$tmp/see.ow
overlay_of_image "$base" "$see" "$ov"

# Unclean: diff and audit refuse and say what to do.
for cmd in diff audit; do
    st=0
    oneway-merge $cmd "$ov" > "$tmp/out" 2> "$tmp/err" || st=$?
    [ $st -eq 2 ] || fail "$cmd of an unclean SEE filesystem exited $st, not 2"
    grep -q "oneway-merge recover" "$tmp/err" || fail "$cmd does not point at recover: $(cat "$tmp/err")"
done
# ... unless told to read it as it is: the journal's blocks are not in place.
oneway-merge diff "$ov" --ignore-journal > "$tmp/out" || fail "diff --ignore-journal failed"
[ ! -s "$tmp/out" ] || fail "diff --ignore-journal shows changes that are only in the journal: $(cat "$tmp/out")"

# A dry run counts and writes nothing.
oneway-merge blocks "$ov" --json > "$tmp/blocks-before.json"
oneway-merge recover "$ov" --dry-run --json > "$tmp/dry.json" || fail "recover --dry-run failed"
[ "$(json_get "$tmp/dry.json" 'd["transactions"]')" = 2 ] || fail "recover --dry-run: $(cat "$tmp/dry.json")"
oneway-merge blocks "$ov" --json | cmp -s - "$tmp/blocks-before.json" ||
    fail "recover --dry-run changed the overlay"

oneway-merge recover "$ov" > "$tmp/recover.out" || fail "recover failed: $(cat "$tmp/recover.out")"
grep -q '^replayed 2 transactions' "$tmp/recover.out" || fail "recover said: $(cat "$tmp/recover.out")"
oneway-merge recover "$ov" --json > "$tmp/again.json" || fail "a second recover failed"
[ "$(json_get "$tmp/again.json" 'd["needed"]')" = False ] || fail "a second recover found work: $(cat "$tmp/again.json")"

# Now the view reads as e2fsck's replay, and diff can tell.
oneway-merge diff "$ov" > "$tmp/diff.out" || fail "diff after recover failed"
grep -qx 'M /etc/motd (content)' "$tmp/diff.out" || fail "diff after recover: $(cat "$tmp/diff.out")"
oneway-merge cat "$ov" /etc/motd > "$tmp/motd"
debugfs -R "cat /etc/motd" "$tmp/reference.img" 2>/dev/null | cmp -s - "$tmp/motd" ||
    fail "after recover, /etc/motd is not what e2fsck's replay makes of it"
env $(_nbdkit_env) nbdkit -U - -r "$plugin" base="$base" overlay="$ov" --run 'nbdcopy "$uri" '"$tmp/view.img" ||
    fail "cannot copy out the SEE view"
e2fsck -fn "$tmp/view.img" > "$tmp/e2fsck-view.out" 2>&1 ||
    fail "e2fsck finds the recovered SEE view damaged: $(cat "$tmp/e2fsck-view.out")"
# Outside the journal, the view is e2fsck's replay, block for block.
journal=$(debugfs -R "blocks <8>" "$base" 2>/dev/null)
/usr/bin/python3 - "$tmp/view.img" "$tmp/reference.img" $journal <<'PY' || fail "the recovered view differs from e2fsck's replay"
import sys
a, b = open(sys.argv[1], "rb"), open(sys.argv[2], "rb")
journal = {int(x) for x in sys.argv[3:]}
n = 0
while True:
    x, y = a.read(4096), b.read(4096)
    if not x and not y:
        break
    # The superblock records the last write and mount times; journal
    # blocks are the journal's own business.
    if n not in journal and n != 0 and x != y:
        sys.exit("block %d differs" % n)
    n += 1
PY

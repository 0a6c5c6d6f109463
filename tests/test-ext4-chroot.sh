#!/usr/bin/env bash
# A real SEE: an ext4 image made from a static busybox tree is served by
# the plugin, attached (nbdfuse + loop) and mounted; a workload runs
# chrooted in its own namespaces: a tree of files, a large file,
# appends, in-place changes, renames, deletions, symlinks, a hard
# link, chmod, a directory with many entries, sync.  The SEE records
# checksums and metadata of what it wrote.  Then, with the plugin
# restarted: the copied-out SEE view passes e2fsck -fn, debugfs reads
# back every file with the recorded checksums; mounted again, the view
# shows the same files and metadata.  The base is unchanged, passes
# e2fsck, and still has the old files; oneway-merge sees the writes.
. tests/functions.sh
require_root
require nbdkit nbdfuse nbdcopy nbdinfo losetup mke2fs e2fsck debugfs unshare chroot busybox

# The root tree: static busybox, its applets, a few devices, and files
# that the SEE will change, rename, delete or leave alone.
tree=$tmp/tree
mkdir -p "$tree"/{bin,dev,proc,tmp,etc,data,w}
cp "$(command -v busybox)" "$tree/bin/busybox"
for a in $(busybox --list); do
    [ "$a" = busybox ] || ln -s busybox "$tree/bin/$a"
done
chroot "$tree" /bin/busybox true 2>/dev/null || skip "busybox is not statically linked"
unshare --mount --pid --fork --ipc --uts --net true 2>/dev/null ||
    skip "unshare cannot make the namespaces here"
mknod "$tree/dev/null" c 1 3
mknod "$tree/dev/zero" c 1 5
mknod "$tree/dev/urandom" c 1 9
echo "welcome to the base" > "$tree/etc/motd"
echo "keep me as I am" > "$tree/data/keep.txt"
echo "delete me" > "$tree/data/old-deleted.txt"
echo "rename me" > "$tree/data/to-rename.txt"
head -c 2M /dev/urandom > "$tree/data/to-append.bin"
head -c 64K /dev/urandom > "$tree/data/to-modify.bin"
(cd "$tree" && sha256sum data/* etc/motd) > "$tmp/base-sums.txt"

base=$tmp/base.img
mke2fs -q -t ext4 -b 4096 -d "$tree" -E lazy_itable_init=0,lazy_journal_init=0 "$base" 64M >/dev/null
e2fsck -fn "$base" >"$tmp/e2fsck-base0.out" 2>&1 ||
    { cat "$tmp/e2fsck-base0.out"; fail "mke2fs made an image that e2fsck does not accept"; }
remember_base "$base"

# The SEE's workload.  It prints the checksums of every file under /w
# and /data, then a line per object with its metadata.
workload='
set -e
mkdir -p /w/tree/a/b/c /w/tree/d /w/many
i=1
while [ $i -le 30 ]; do
    head -c $((i * 1000 + 7)) /dev/urandom > /w/tree/a/b/c/f$i
    echo "small file $i" > /w/tree/d/small$i
    i=$((i + 1))
done
dd if=/dev/urandom of=/w/big bs=64k count=160 2>/dev/null
head -c 123457 /dev/urandom >> /w/big
head -c 100001 /dev/urandom >> /data/to-append.bin
dd if=/dev/urandom of=/data/to-modify.bin bs=4096 seek=3 count=2 conv=notrunc 2>/dev/null
echo "and a new line" >> /etc/motd
mv /data/to-rename.txt /w/renamed.txt
mv /w/tree/d/small1 /w/tree/d/small1.moved
rm /data/old-deleted.txt /w/tree/a/b/c/f5
ln -s ../data/keep.txt /w/link-to-keep
ln -s /no/such/target /w/dangling
ln /w/big /w/big.hardlink
chmod 0751 /w/tree/a/b/c/f1
chmod 0600 /data/keep.txt
i=0
while [ $i -lt 1500 ]; do
    echo "entry $i" > /w/many/entry-$i
    i=$((i + 1))
done
rm /w/many/entry-1[0-9][0-9]
sync
cd /
echo "#sums"
find w data etc/motd -type f | sort | xargs sha256sum
echo "#meta"
find w data etc/motd | sort | while read -r p; do
    if [ -L "$p" ]; then
        echo "$p link $(readlink "$p")"
    else
        stat -c "%n %F %a %h %s" "$p"
    fi
done
'
# The same listing, for the check from the mounted view later.
listing='
cd /
echo "#sums"
find w data etc/motd -type f | sort | xargs sha256sum
echo "#meta"
find w data etc/motd | sort | while read -r p; do
    if [ -L "$p" ]; then
        echo "$p link $(readlink "$p")"
    else
        stat -c "%n %F %a %h %s" "$p"
    fi
done
'
# detach, and check that nothing is left mounted.
detach_checked ()
{
    detach "$1"
    ! mountpoint -q "$mnt" || fail "$mnt is still mounted after detach"
    ! mountpoint -q "$tmp/fuse-$1" || fail "$tmp/fuse-$1 is still mounted after detach"
}

in_see ()
{
    unshare --mount --pid --fork --ipc --uts --net chroot "$mnt" /bin/sh -c "$1"
}

ov=$tmp/see.ow
mnt=$tmp/mnt
serve see base="$base" overlay="$ov"
pid=$server_pid
attach see "$mnt"
in_see "$workload" > "$tmp/see.txt" || fail "the workload failed in the SEE"
detach_checked see
stop_server $pid

sed -n '/^#sums$/,/^#meta$/p' "$tmp/see.txt" | grep -v '^#' > "$tmp/sums.txt"
sed -n '/^#meta$/,$p' "$tmp/see.txt" | grep -v '^#' > "$tmp/meta.txt"
nsums=$(wc -l < "$tmp/sums.txt")
[ "$nsums" -gt 1400 ] || fail "the SEE recorded only $nsums checksums"
grep -q '^w/big regular file 644 2 10609217$' "$tmp/meta.txt" ||
    fail "the SEE's own view of /w/big is wrong: $(grep '^w/big ' "$tmp/meta.txt")"

# The SEE view, copied out through a restarted plugin.
serve see base="$base" overlay="$ov"
pid=$server_pid
nbdcopy "$(uri see)" "$tmp/view.img"
stop_server $pid
e2fsck -fn "$tmp/view.img" > "$tmp/e2fsck-view.out" 2>&1 ||
    { cat "$tmp/e2fsck-view.out"; fail "e2fsck finds the SEE view damaged"; }

# Every file, read by debugfs, has the checksum the SEE recorded.
debugfs -R "cat /w/big" "$tmp/view.img" 2>/dev/null > "$tmp/big.out"
[ "$(checksum "$tmp/big.out")" = "$(grep '  w/big$' "$tmp/sums.txt" | cut -d' ' -f1)" ] ||
    fail "debugfs: /w/big differs from what the SEE wrote"
mkdir "$tmp/out" "$tmp/out/etc"
debugfs -R "rdump /w /data $tmp/out" "$tmp/view.img" > "$tmp/rdump.out" 2>&1
debugfs -R "dump /etc/motd $tmp/out/etc/motd" "$tmp/view.img" >> "$tmp/rdump.out" 2>&1
(cd "$tmp/out" && sha256sum --quiet -c "$tmp/sums.txt") ||
    fail "debugfs: files in the SEE view differ from what the SEE wrote"
# ... and nothing else is there (deleted files are gone).
(cd "$tmp/out" && find w data etc/motd -type f | sort) > "$tmp/files.txt"
cut -d' ' -f3- "$tmp/sums.txt" | cmp - "$tmp/files.txt" ||
    fail "debugfs: the SEE view has other files than the SEE left"
# Metadata, as debugfs sees it.
debugfs -R "stat /w/big" "$tmp/view.img" 2>/dev/null | grep -q 'Links: 2 ' ||
    fail "debugfs: /w/big does not have two links"
debugfs -R "stat /w/tree/a/b/c/f1" "$tmp/view.img" 2>/dev/null | grep -q 'Mode:  0751' ||
    fail "debugfs: chmod of /w/tree/a/b/c/f1 is lost"
debugfs -R "stat /w/link-to-keep" "$tmp/view.img" 2>/dev/null | grep -q 'Fast link dest: "../data/keep.txt"' ||
    fail "debugfs: the symlink /w/link-to-keep is wrong"
debugfs -R "stat /data/old-deleted.txt" "$tmp/view.img" 2>&1 | grep -q 'File not found' ||
    fail "debugfs: /data/old-deleted.txt is still there"
rm -rf "$tmp/out" "$tmp/view.img"

# Mounted again (read-only), the view shows the same, to the SEE.
serve see base="$base" overlay="$ov"
pid=$server_pid
attach see "$mnt" ro
in_see "$listing" > "$tmp/again.txt" || fail "the listing failed in the SEE"
detach_checked see
stop_server $pid
cmp "$tmp/see.txt" "$tmp/again.txt" || {
    diff "$tmp/see.txt" "$tmp/again.txt" | head -n 20
    fail "mounted again, the SEE view differs from what the SEE left"
}

# The overlay knows what was written, and what was read.
oneway-merge blocks "$ov" --json > "$tmp/blocks.json" || fail "oneway-merge blocks failed"
python3 - "$tmp/blocks.json" <<'PY' || fail "oneway-merge blocks --json: $(head -c 300 "$tmp/blocks.json")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["block_size"] == 4096
w = sum(c for s, c in d["written"])
r = sum(c for s, c in d["read"])
# 10 MiB of /w/big alone is 2560 blocks; the image has 16384.
assert 2560 < w < 16384, "written %d blocks" % w
assert r > 0, "nothing read"
for key in ("written", "read"):
    rs = d[key]
    assert all(rs[i][0] + rs[i][1] < rs[i + 1][0] for i in range(len(rs) - 1)), key + " not sorted and merged"
PY

# The base: clean, and still the base.
e2fsck -fn "$base" > "$tmp/e2fsck-base.out" 2>&1 ||
    { cat "$tmp/e2fsck-base.out"; fail "e2fsck finds the base damaged"; }
mkdir "$tmp/bout" "$tmp/bout/etc"
debugfs -R "rdump /data $tmp/bout" "$base" > /dev/null 2>&1
debugfs -R "dump /etc/motd $tmp/bout/etc/motd" "$base" > /dev/null 2>&1
(cd "$tmp/bout" && sha256sum --quiet -c "$tmp/base-sums.txt") ||
    fail "the base view does not have the base's files"

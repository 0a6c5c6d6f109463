#!/usr/bin/env bash
# oneway-merge diff, cat and audit against an independent truth.
#
# Two ext4 images are served by the plugin, attached and mounted, and
# changed by the kernel: every kind of change diff knows (added, deleted,
# modified in each aspect, renamed, hard links, type changes, odd bytes
# in names, a file past 4 GiB, xattrs, a deep tree, atime-only reads
# that must not show), the first from a chrooted busybox SEE, the
# second (inline_data) from the host side on the mounted SEE view.
# Then tests/merge-truth.py computes the expected change list from the
# two views mounted read-only (os.lstat, the FS_IOC_GETVERSION ioctl and
# debugfs for generations), checks it against what the scenario meant,
# and compares `oneway-merge diff --json` and its human output with it;
# `cat` is compared with the mounted views; `audit --json` with debugfs
# (icheck, ncheck, testb, bmap) and dumpe2fs on the copied-out view.
#
# MERGE_TRUTH_ONLY=1 stops after the truth (for looking at it while
# the merge tool's commands are not there yet).
. tests/functions.sh
require_root
require nbdkit nbdfuse nbdcopy nbdinfo losetup mke2fs e2fsck debugfs dumpe2fs \
        unshare chroot busybox sha256sum
[ -x /usr/bin/python3 ] || skip "/usr/bin/python3 is not installed"
truth=(/usr/bin/python3 "$abs_top_srcdir/tests/merge-truth.py")
merge=${ONEWAY_MERGE:-$merge}
truth_only=${MERGE_TRUTH_ONLY:-0}

# How `cat` is asked for the base view's version of a file (S0).  The
# contract's --base BASE names the base file; this is the flag that
# selects the view.
cat_base_view=(--base-view)

# ro_mount IMG DIR: a read-only loop mount that replays nothing.
ro_mount ()
{
    mkdir -p "$2"
    mount -o ro,noload,loop "$1" "$2" || fail "cannot mount $1 read-only"
    on_exit "_umount '$2'"
}

in_see ()
{
    unshare --mount --pid --fork --ipc --uts --net chroot "$1" /bin/sh -c "$2"
}

# setx FILE NAME VALUE / rmx FILE NAME: xattrs from the host side.
setx () { /usr/bin/python3 -c 'import os,sys; os.setxattr(sys.argv[1], sys.argv[2], sys.argv[3].encode(), follow_symlinks=False)' "$@"; }
rmx () { /usr/bin/python3 -c 'import os,sys; os.removexattr(sys.argv[1], sys.argv[2], follow_symlinks=False)' "$@"; }

unshare --mount --pid --fork --ipc --uts --net true 2>/dev/null ||
    skip "unshare cannot make the namespaces here"

# ================================================================ scenario 1
# A busybox root and objects of every type to change.
tree=$tmp/tree
mkdir -p "$tree"/{bin,dev,proc,tmp,etc,data,links,del/dir,dev-change,add,ren/dir/sub,ren2,hl,big,odd}
cp "$(command -v busybox)" "$tree/bin/busybox"
for a in $(busybox --list); do
    [ "$a" = busybox ] || ln -s busybox "$tree/bin/$a"
done
chroot "$tree" /bin/busybox true 2>/dev/null || skip "busybox is not statically linked"
mknod "$tree/dev/null" c 1 3
mknod "$tree/dev/zero" c 1 5
mknod "$tree/dev/urandom" c 1 9
echo "welcome to the base" > "$tree/etc/motd"
d=$tree/data
echo "keep me as I am" > "$d/keep.txt"
head -c 65536 /dev/urandom > "$d/modify.bin"
echo "append to me" > "$d/append.txt"
head -c 40000 /dev/urandom > "$d/truncate.bin"
echo "chmod me" > "$d/chmod.txt"
echo "chown me" > "$d/chown.txt"
echo "touch me" > "$d/touch.txt"
echo "only read me" > "$d/read.txt"
echo "the old version" > "$d/replaced.txt"
echo "I become a directory" > "$d/to-dir"
echo "I become a symlink" > "$d/to-link"
echo "no xattrs yet" > "$d/xa-add.txt"
echo "one xattr to change" > "$d/xa-change.txt"
setx "$d/xa-change.txt" user.a one
echo "xattrs to remove" > "$d/xa-remove.txt"
setx "$d/xa-remove.txt" user.gone x
setx "$d/xa-remove.txt" user.stay y
mkdir "$d/xa-dir"
setx "$d/xa-dir" trusted.t 1
# Too big for the inode: kept in an xattr block.
echo "a big xattr" > "$d/xa-block.txt"
setx "$d/xa-block.txt" user.big "$(head -c 1500 /dev/zero | tr '\0' A)"
long=/$(printf 'long-target-component-%02d/' 1 2 3 4 5 6)end
ln -s old-target "$tree/links/fast-retarget"
ln -s "$long" "$tree/links/slow-retarget"
echo "delete me" > "$tree/del/file"
echo a > "$tree/del/dir/a"
echo b > "$tree/del/dir/b"
ln -s fast "$tree/del/fast-link"
ln -s "$long" "$tree/del/slow-link"
mknod "$tree/del/chr" c 1 7
mknod "$tree/del/blk" b 7 200
mkfifo "$tree/del/fifo"
mknod "$tree/dev-change/chr" c 1 3
echo "rename me" > "$tree/ren/a.txt"
echo x > "$tree/ren/dir/x"
echo y > "$tree/ren/dir/sub/y"
echo h > "$tree/ren/dir/h1"
ln "$tree/ren/dir/h1" "$tree/ren/dir/h2"
echo one > "$tree/hl/one"
echo two > "$tree/hl/two-a"
ln "$tree/hl/two-a" "$tree/hl/two-b"
deep=$tree/deep
for i in $(seq 1 40); do deep=$deep/d$i; done
mkdir -p "$deep"
echo "at the bottom" > "$deep/file"
deep_rel=${deep#"$tree"}
# Past 4 GiB: sparse, with data at the start and near the end.
truncate -s 5G "$tree/big/huge"
dd if=/dev/urandom of="$tree/big/huge" bs=4096 count=2 conv=notrunc status=none
dd if=/dev/urandom of="$tree/big/huge" bs=4096 seek=$((5 * 262144 - 16)) count=8 conv=notrunc status=none
# Odd bytes in names.
for n in $'new\nline' $'tab\there' 'back\slash' $'\x01ctl' $'bad\xffutf8' 'quo"te' \
         'ünïcödé ✓' $'bidi\u202eevil' $'c1\xc2\x85x'; do
    printf 'odd %q\n' "$n" > "$tree/odd/$n"
done
# Timestamps of the tree well in the past, so that every change shows.
find "$tree" -exec touch -h -d '2020-01-02 03:04:05' {} +

base=$tmp/base.img
mke2fs -q -t ext4 -b 4096 -d "$tree" -E lazy_itable_init=0,lazy_journal_init=0 "$base" 128M >/dev/null
e2fsck -fn "$base" >"$tmp/e2fsck-base.out" 2>&1 ||
    { cat "$tmp/e2fsck-base.out"; fail "mke2fs made an image that e2fsck does not accept"; }
debugfs -R "ea_list /data/xa-change.txt" "$base" 2>/dev/null | grep -q 'user.a' ||
    skip "mke2fs -d did not copy xattrs (does $TMPDIR support user xattrs?)"
rm -rf "$tree"
remember_base "$base"

# The SEE's changes, inside the chroot.  Odd names come from printf.
changes='
set -e
cd /data
dd if=/dev/urandom of=modify.bin bs=4096 seek=3 count=2 conv=notrunc 2>/dev/null
echo "and a new line" >> append.txt
truncate -s 10000 truncate.bin
chmod 0600 chmod.txt
chown 1234:5678 chown.txt
touch -m -d "2021-03-04 05:06:07" touch.txt
cat read.txt > /dev/null
echo "the new, longer version" > replaced.tmp
mv replaced.tmp replaced.txt
rm to-dir; mkdir to-dir
rm to-link; ln -s keep.txt to-link
cd /links
rm fast-retarget; ln -s new-target fast-retarget
rm slow-retarget; ln -s "/$(printf "another-long-target-%02d/" 1 2 3 4 5)end" slow-retarget
cd /del
rm -r file dir fast-link slow-link chr blk fifo
rm /dev-change/chr; mknod /dev-change/chr c 1 5
cd /add
echo "a new file" > file
mkdir dir; echo inner > dir/inner
ln -s file fast-link
ln -s "/$(printf "a-new-long-target-%02d/" 1 2 3 4 5)end" slow-link
mknod chr c 1 8
mknod blk b 7 201
mkfifo fifo
mv /ren/a.txt /ren/b.txt
mv /ren/dir /ren2/dir-moved
ln /hl/one /hl/one-link
rm /hl/two-b
echo "and more at the bottom" >> "'"$deep_rel"'/file"
echo "new at the bottom" > "'"$deep_rel"'/new"
dd if=/dev/urandom of=/big/huge bs=4096 seek=$((5 * 262144 - 12)) count=2 conv=notrunc 2>/dev/null
cd /odd
echo "appended" >> "$(printf "bad\377utf8")"
mv "$(printf "tab\there")" "$(printf "tab\there2")"
rm "$(printf "\001ctl")"
echo "new" > "$(printf "esc\033[31mred")"
chmod 0640 "back\\slash"
touch -m -d "2022-01-01 00:00:00" "quo\"te"
sync
'

ov=$tmp/see.ow
mnt=$tmp/mnt
serve see base="$base" overlay="$ov"
pid=$server_pid
attach see "$mnt" strictatime
in_see "$mnt" "$changes" || fail "the changes failed in the SEE"
# xattrs, by the kernel on the SEE view, from the host side.
setx "$mnt/data/xa-add.txt" user.new added
setx "$mnt/data/xa-change.txt" user.a two
rmx "$mnt/data/xa-remove.txt" user.gone
setx "$mnt/data/xa-dir" trusted.t 2
setx "$mnt/data/xa-block.txt" user.big "$(head -c 1500 /dev/zero | tr '\0' B)"
sync -f "$mnt"
detach see
stop_server $pid

# The SEE view, copied out.
serve see base="$base" overlay="$ov"
pid=$server_pid
nbdcopy "$(uri see)" "$tmp/view.img"
stop_server $pid
e2fsck -fn "$tmp/view.img" >"$tmp/e2fsck-view.out" 2>&1 ||
    { cat "$tmp/e2fsck-view.out"; fail "e2fsck finds the SEE view damaged"; }
ro_mount "$base" "$tmp/m0"
ro_mount "$tmp/view.img" "$tmp/m1"
[ "$(stat -c %X "$tmp/m0/data/read.txt")" != "$(stat -c %X "$tmp/m1/data/read.txt")" ] ||
    fail "reading /data/read.txt did not change its atime: the atime case tests nothing"

# What the scenario meant, for checking the truth itself.
cat > "$tmp/expect1.json" <<EOF
[
 {"absent": "/data/keep.txt"},
 {"absent": "/data/read.txt"},
 {"absent": "/bin/busybox"},
 {"absent": "/etc/motd"},
 {"change": "modified", "path": "/data/modify.bin", "type": "file", "what": ["content", "mtime"]},
 {"change": "modified", "path": "/data/append.txt", "what": ["content", "size", "mtime"]},
 {"change": "modified", "path": "/data/truncate.bin", "what": ["content", "size", "mtime"]},
 {"change": "modified", "path": "/data/chmod.txt", "what": ["mode"]},
 {"change": "modified", "path": "/data/chown.txt", "what": ["owner"]},
 {"change": "modified", "path": "/data/touch.txt", "what": ["mtime"]},
 {"change": "modified", "path": "/data/replaced.txt", "type": "file", "what_has": ["content", "size", "mtime"]},
 {"change": "modified", "path": "/data/to-dir", "type": "dir", "what_has": ["type", "mode"]},
 {"change": "modified", "path": "/data/to-link", "type": "symlink", "what_has": ["type"]},
 {"change": "modified", "path": "/data/xa-add.txt", "what": ["xattrs"]},
 {"change": "modified", "path": "/data/xa-block.txt", "what": ["xattrs"]},
 {"change": "modified", "path": "/data/xa-change.txt", "what": ["xattrs"]},
 {"change": "modified", "path": "/data/xa-remove.txt", "what": ["xattrs"]},
 {"change": "modified", "path": "/data/xa-dir", "type": "dir", "what": ["xattrs"]},
 {"change": "modified", "path": "/links/fast-retarget", "type": "symlink", "what_has": ["target"]},
 {"change": "modified", "path": "/links/slow-retarget", "type": "symlink", "what_has": ["target"]},
 {"change": "deleted", "path": "/del/file", "type": "file"},
 {"change": "deleted", "path": "/del/dir", "type": "dir"},
 {"change": "deleted", "path": "/del/dir/a", "type": "file"},
 {"change": "deleted", "path": "/del/fast-link", "type": "symlink"},
 {"change": "deleted", "path": "/del/slow-link", "type": "symlink"},
 {"change": "deleted", "path": "/del/chr", "type": "char"},
 {"change": "deleted", "path": "/del/blk", "type": "block"},
 {"change": "deleted", "path": "/del/fifo", "type": "fifo"},
 {"change": "modified", "path": "/dev-change/chr", "type": "char", "what_has": ["content"]},
 {"change": "added", "path": "/add/file", "type": "file"},
 {"change": "added", "path": "/add/dir", "type": "dir"},
 {"change": "added", "path": "/add/dir/inner", "type": "file"},
 {"change": "added", "path": "/add/fast-link", "type": "symlink"},
 {"change": "added", "path": "/add/slow-link", "type": "symlink"},
 {"change": "added", "path": "/add/chr", "type": "char"},
 {"change": "added", "path": "/add/blk", "type": "block"},
 {"change": "added", "path": "/add/fifo", "type": "fifo"},
 {"absent": "/add"},
 {"change": "renamed", "path": "/ren/b.txt", "from": "/ren/a.txt", "type": "file", "what": []},
 {"change": "renamed", "path": "/ren2/dir-moved", "from": "/ren/dir", "type": "dir"},
 {"absent": "/ren2/dir-moved/sub/y"},
 {"absent": "/ren2/dir-moved/h1"},
 {"absent": "/ren2/dir-moved/h2"},
 {"change": "modified", "path": "/hl/one", "what": ["links"]},
 {"change": "added", "path": "/hl/one-link", "type": "file", "link_of": "/hl/one"},
 {"change": "modified", "path": "/hl/two-a", "what": ["links"]},
 {"change": "deleted", "path": "/hl/two-b", "type": "file"},
 {"change": "modified", "path": "$deep_rel/file", "what": ["content", "size", "mtime"]},
 {"change": "added", "path": "$deep_rel/new", "type": "file"},
 {"change": "modified", "path": "/big/huge", "what": ["content", "mtime"]},
 {"change": "modified", "path": "/odd/bad\\\\xffutf8", "what": ["content", "size", "mtime"]},
 {"change": "renamed", "path": "/odd/tab\\\\x09here2", "from": "/odd/tab\\\\x09here", "what": []},
 {"change": "deleted", "path": "/odd/\\\\x01ctl"},
 {"change": "added", "path": "/odd/esc\\\\x1b[31mred"},
 {"change": "modified", "path": "/odd/back\\\\\\\\slash", "what": ["mode"]},
 {"change": "modified", "path": "/odd/quo\"te", "what": ["mtime"]},
 {"absent": "/odd/new\\\\x0aline"},
 {"absent": "/odd/ünïcödé ✓"},
 {"absent": "/odd/bidi\\\\xe2\\\\x80\\\\xaeevil"},
 {"absent": "/odd/c1\\\\xc2\\\\x85x"}
]
EOF

# check_scenario NAME OVERLAY BASE-MNT VIEW-MNT BASE-IMG VIEW-IMG EXPECT:
# the truth, then diff and audit against it.
check_scenario ()
{
    local name=$1 ov=$2 m0=$3 m1=$4 i0=$5 i1=$6 exp=$7 st
    "${truth[@]}" truth "$m0" "$m1" "$i0" "$i1" "$tmp/$name-truth.json" --expect "$exp" \
        > "$tmp/$name-truth.txt" || { cat "$tmp/$name-truth.txt"; fail "$name: the truth is not what the scenario did"; }
    head -n 100 "$tmp/$name-truth.txt"
    [ "$(wc -l < "$tmp/$name-truth.txt")" -le 101 ] || echo "  ... (all in $name-truth.txt)"
    [ "$truth_only" = 1 ] && return 0

    st=0
    "$merge" diff "$ov" --json > "$tmp/$name-diff.json" 2> "$tmp/$name-diff.err" || st=$?
    [ $st -eq 0 ] || fail "$name: oneway-merge diff --json exited $st: $(head -c 500 "$tmp/$name-diff.err")"
    st=0
    "$merge" diff "$ov" > "$tmp/$name-diff.txt" 2> "$tmp/$name-diff-h.err" || st=$?
    [ $st -eq 0 ] || fail "$name: oneway-merge diff exited $st: $(head -c 500 "$tmp/$name-diff-h.err")"
    "${truth[@]}" check-diff "$tmp/$name-truth.json" "$tmp/$name-diff.json" "$tmp/$name-diff.txt" ||
        fail "$name: oneway-merge diff differs from the truth (above)"

    "$merge" blocks "$ov" --json > "$tmp/$name-blocks.json" || fail "$name: oneway-merge blocks failed"
    st=0
    "$merge" audit "$ov" --json > "$tmp/$name-audit.json" 2> "$tmp/$name-audit.err" || st=$?
    [ $st -eq 0 ] || fail "$name: oneway-merge audit --json exited $st: $(head -c 500 "$tmp/$name-audit.err")"
    "${truth[@]}" check-audit "$m1" "$i1" "$tmp/$name-audit.json" "$tmp/$name-blocks.json" ||
        fail "$name: oneway-merge audit differs from debugfs (above)"
    # The audit and the diff agree: a file whose data the SEE wrote is
    # in the change list, and an honest run needs no scan of every inode.
    /usr/bin/python3 - "$tmp/$name-audit.json" "$tmp/$name-diff.json" <<'PY' ||
import json, sys
audit, diff = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
named = set()
for c in diff["changes"]:
    named.update(c.get(k) for k in ("path", "from"))
missing = sorted({r["path"] for r in audit["ranges"]
                  if r["class"] == "file-data" and r.get("path") and r["path"] not in named})
if missing:
    sys.exit("files whose data the audit shows written, not in the diff: %s" % missing[:10])
if audit["inode_scan"]:
    sys.exit("an honest run needed the scan of every inode")
PY
        fail "$name: audit and diff disagree (above)"
    "$merge" audit "$ov" > "$tmp/$name-audit.txt" || fail "$name: oneway-merge audit (human) failed"
    ! LC_ALL=C grep -q '[[:cntrl:]]' <(tr -d '\n' < "$tmp/$name-audit.txt") ||
        fail "$name: oneway-merge audit's human output has control bytes"
}

check_scenario s1 "$ov" "$tmp/m0" "$tmp/m1" "$base" "$tmp/view.img" "$tmp/expect1.json"

# cat: the SEE view's version, the base's, a file past 4 GiB, a missing path.
if [ "$truth_only" != 1 ]; then
    for p in /data/append.txt /data/modify.bin /data/truncate.bin /data/replaced.txt \
             /data/keep.txt "$deep_rel/file" /add/file; do
        "$merge" cat "$ov" "$p" > "$tmp/cat.out" || fail "oneway-merge cat $p failed"
        cmp "$tmp/cat.out" "$tmp/m1$p" || fail "oneway-merge cat $p differs from the SEE view's file"
        "$merge" cat "$ov" "$p" --base "$base" > "$tmp/cat.out" || fail "oneway-merge cat $p --base BASE failed"
        cmp "$tmp/cat.out" "$tmp/m1$p" || fail "oneway-merge cat $p --base BASE differs from the SEE view's file"
    done
    for p in /data/append.txt /data/modify.bin /data/truncate.bin /data/replaced.txt /data/keep.txt; do
        "$merge" cat "$ov" "$p" "${cat_base_view[@]}" > "$tmp/cat.out" ||
            fail "oneway-merge cat $p ${cat_base_view[*]} failed"
        cmp "$tmp/cat.out" "$tmp/m0$p" || fail "oneway-merge cat $p ${cat_base_view[*]} differs from the base's file"
    done
    # A name with odd bytes (cat takes the raw bytes).
    p=/odd/$'bad\xffutf8'
    "$merge" cat "$ov" "$p" > "$tmp/cat.out" || fail "oneway-merge cat of a name with a 0xff byte failed"
    cmp "$tmp/cat.out" "$tmp/m1$p" || fail "oneway-merge cat of a name with a 0xff byte differs from the SEE view"
    # 5 GiB, streamed, compared as it comes (cmp: sha256sum takes half
    # a minute for this here).
    st=0
    "$merge" cat "$ov" /big/huge 2> "$tmp/cat.err" | cmp - "$tmp/m1/big/huge" > "$tmp/cmp.out" 2>&1 || st=$?
    [ $st -eq 0 ] || fail "oneway-merge cat /big/huge (5 GiB) differs from the SEE view's: $(cat "$tmp/cmp.out" "$tmp/cat.err")"
    st=0
    "$merge" cat "$ov" /no/such/file > "$tmp/cat.out" 2> "$tmp/cat.err" || st=$?
    [ $st -eq 2 ] || fail "oneway-merge cat of a missing path exited $st, expected 2"
    [ ! -s "$tmp/cat.out" ] || fail "oneway-merge cat of a missing path printed to stdout"
    grep -q '/no/such/file' "$tmp/cat.err" && grep -qiE 'no such|not found|does not exist|missing' "$tmp/cat.err" ||
        fail "oneway-merge cat of a missing path: unclear message: $(cat "$tmp/cat.err")"
    st=0
    "$merge" cat "$ov" /data/keep.txt/x > /dev/null 2> "$tmp/cat.err" || st=$?
    [ $st -eq 2 ] || fail "oneway-merge cat of a path through a file exited $st, expected 2"
fi
_umount "$tmp/m0"
_umount "$tmp/m1"
rm -f "$tmp/view.img"

# ================================================================ scenario 2
# inline_data: small files and directories live in the inode; changes
# move them out of it, in place, and back.  Done from the host side.
tree=$tmp/tree2
mkdir -p "$tree"/{s,s/dir,s/bigdir}
echo hi > "$tree/s/tiny.txt"
echo "grow me out of the inode" > "$tree/s/grow.txt"
echo "same size, new bytes" > "$tree/s/same.txt"
echo "shrink me back into the inode, please: $(head -c 6000 /dev/zero | tr '\0' x)" > "$tree/s/shrink.txt"
echo "delete me" > "$tree/s/del.txt"
echo "xattr with inline data" > "$tree/s/xa.txt"
setx "$tree/s/xa.txt" user.x before
echo keep > "$tree/s/keep.txt"
for i in 1 2 3; do echo "$i" > "$tree/s/dir/e$i"; done
for i in $(seq 1 300); do echo "$i" > "$tree/s/bigdir/entry-with-a-long-name-$i"; done
ln -s short "$tree/s/fast"
ln -s "$long" "$tree/s/slow"
find "$tree" -exec touch -h -d '2020-01-02 03:04:05' {} +
base2=$tmp/base2.img
mke2fs -q -t ext4 -b 4096 -O inline_data -d "$tree" -E lazy_itable_init=0,lazy_journal_init=0 "$base2" 16M >/dev/null
rm -rf "$tree"
debugfs -R "stat /s/grow.txt" "$base2" 2>/dev/null | grep -q 'Size of inline data' ||
    skip "mke2fs did not store small files inline"
remember_base "$base2"

ov2=$tmp/see2.ow
serve see2 base="$base2" overlay="$ov2"
pid=$server_pid
attach see2 "$mnt" strictatime
s=$mnt/s
head -c 9000 /dev/urandom >> "$s/grow.txt"
printf 'SAME SIZE, NEW BYTES\n' | dd of="$s/same.txt" conv=notrunc status=none
truncate -s 20 "$s/shrink.txt"
rm "$s/del.txt"
setx "$s/xa.txt" user.x after
echo "a new tiny one" > "$s/new.txt"
for i in $(seq 4 120); do echo "$i" > "$s/dir/e$i"; done
for i in $(seq 1 290); do rm "$s/bigdir/entry-with-a-long-name-$i"; done
cat "$s/keep.txt" "$s/tiny.txt" > /dev/null
rm "$s/fast"; ln -s "$long" "$s/fast"
rm "$s/slow"; ln -s short "$s/slow"
sync -f "$mnt"
detach see2
stop_server $pid

serve see2 base="$base2" overlay="$ov2"
pid=$server_pid
nbdcopy "$(uri see2)" "$tmp/view2.img"
stop_server $pid
e2fsck -fn "$tmp/view2.img" >"$tmp/e2fsck-view2.out" 2>&1 ||
    { cat "$tmp/e2fsck-view2.out"; fail "e2fsck finds the inline_data SEE view damaged"; }
ro_mount "$base2" "$tmp/m0"
ro_mount "$tmp/view2.img" "$tmp/m1"

cat > "$tmp/expect2.json" <<'EOF'
[
 {"absent": "/s/keep.txt"},
 {"absent": "/s/tiny.txt"},
 {"change": "modified", "path": "/s/grow.txt", "what": ["content", "size", "mtime"]},
 {"change": "modified", "path": "/s/same.txt", "what": ["content", "mtime"]},
 {"change": "modified", "path": "/s/shrink.txt", "what": ["content", "size", "mtime"]},
 {"change": "deleted", "path": "/s/del.txt", "type": "file"},
 {"change": "modified", "path": "/s/xa.txt", "what": ["xattrs"]},
 {"change": "added", "path": "/s/new.txt", "type": "file"},
 {"change": "added", "path": "/s/dir/e120", "type": "file"},
 {"change": "deleted", "path": "/s/bigdir/entry-with-a-long-name-1", "type": "file"},
 {"absent": "/s/dir"},
 {"absent": "/s/bigdir"},
 {"change": "modified", "path": "/s/fast", "type": "symlink", "what_has": ["target"]},
 {"change": "modified", "path": "/s/slow", "type": "symlink", "what_has": ["target"]}
]
EOF
check_scenario s2 "$ov2" "$tmp/m0" "$tmp/m1" "$base2" "$tmp/view2.img" "$tmp/expect2.json"
if [ "$truth_only" != 1 ]; then
    for p in /s/grow.txt /s/same.txt /s/shrink.txt /s/new.txt /s/tiny.txt; do
        "$merge" cat "$ov2" "$p" > "$tmp/cat.out" || fail "inline_data: oneway-merge cat $p failed"
        cmp "$tmp/cat.out" "$tmp/m1$p" || fail "inline_data: oneway-merge cat $p differs from the SEE view's file"
    done
    "$merge" cat "$ov2" /s/grow.txt "${cat_base_view[@]}" > "$tmp/cat.out" ||
        fail "inline_data: oneway-merge cat /s/grow.txt ${cat_base_view[*]} failed"
    cmp "$tmp/cat.out" "$tmp/m0/s/grow.txt" || fail "inline_data: oneway-merge cat ${cat_base_view[*]} of an inline file differs from the base's"
fi
_umount "$tmp/m0"
_umount "$tmp/m1"

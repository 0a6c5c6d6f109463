#!/usr/bin/env bash
# oneway-merge commit is faithful: a workload run natively on one copy
# of a tree, and in the SEE on an image of another copy then committed
# into it, leaves the same tree.
#
# A starting tree T (tests/commit-workload.sh --tree: a small root with
# the files useradd and dpkg need, hard links, symlinks, xattrs, ACLs, a
# sparse file, a fifo; every time whole seconds) is copied twice and the
# workload (tests/commit-workload.sh: useradd, dpkg -i of a local .deb,
# files added, appended, truncated, deleted, renamed, hard links,
# symlinks, xattrs, ACLs, sparse files, a fifo, set-uid, owners, modes,
# times) runs natively on both copies, a little more than a second
# apart: what differs between the two (tests/manifest.py: type, mode,
# owner, size, content, allocation, target, xattrs, hard-link groups,
# mtime) is the noise, measured, printed, never guessed.  Then T becomes
# a base image (mke2fs -d), served by the plugin and attached, and the
# same workload runs on the mounted SEE view; a third copy of T, H, is
# the host.  `check` must find no conflict there, only policy findings
# (the set-uid files, and useradd's files, which the default policy
# protects); `commit` without --allow protected must change nothing;
# `commit --allow setuid --allow protected` must apply it all, and H
# must then equal the native run's tree apart from the noise, and the
# SEE view exactly (ctime and atime aside: they cannot be set, or reads
# change them).  A second commit finds nothing left (exit 1); `diff`
# still lists the changes; the base is unchanged.
#
# FAITHFUL_BEFORE_COMMIT=1 stops before the commit (for running the
# rest where oneway-merge has no commit yet).
. tests/functions.sh
require_root
require nbdkit nbdfuse nbdinfo losetup blockdev mountpoint mke2fs unshare useradd dpkg \
        dpkg-deb setfacl setfattr mkfifo truncate sha256sum jq
[ -x /usr/bin/python3 ] || skip "/usr/bin/python3 is not installed"
useradd --help | grep -q -- --prefix || skip "this useradd has no --prefix"
unshare --mount true 2>/dev/null || skip "unshare cannot make a mount namespace here"
# The native runs are in $tmp: its filesystem must keep what the
# workload makes (tmpfs before Linux 6.6 has no user xattrs).
touch "$tmp/probe"
setfattr -n user.probe -v 1 "$tmp/probe" 2>/dev/null ||
    skip "the filesystem of $tmp has no user xattrs (set TMPDIR elsewhere)"
setfacl -m u:1:r "$tmp/probe" 2>/dev/null ||
    skip "the filesystem of $tmp has no POSIX ACLs (set TMPDIR elsewhere)"
rm "$tmp/probe"
before_commit=${FAITHFUL_BEFORE_COMMIT:-0}

workload=(bash "$abs_top_srcdir/tests/commit-workload.sh")
manifest ()
{
    /usr/bin/python3 "$abs_top_srcdir/tests/manifest.py" "$@"
}

# noroot MANIFEST: without the root directory's line.
noroot ()
{
    grep -v "^b'\.'"$'\t' "$1"
}

# same WANT GOT WHAT [NOISE]: manifests WANT and GOT are the same,
# apart from NOISE; else show what differs and fail.
same ()
{
    local want=$1 got=$2 what=$3 noise=${4:-}
    manifest compare "$want" "$got" $noise > "$tmp/compare.out" ||
        { cat "$tmp/compare.out"; fail "$what"; }
    echo "$what: $(tail -n 1 "$tmp/compare.out")"
}

# ================================================================ the tree, the package
T=$tmp/T
"${workload[@]}" --tree "$T" || fail "cannot make the starting tree"
manifest "$T" > "$tmp/T.manifest"
deb=$tmp/oneway-faithful.deb
"${workload[@]}" --deb "$deb" || fail "cannot build the package"

# ================================================================ natively, twice: the noise
for n in 1 2; do
    cp -a --preserve=all "$T" "$tmp/native-$n"
    manifest "$tmp/native-$n" > "$tmp/native-$n.before"
    same "$tmp/T.manifest" "$tmp/native-$n.before" "cp -a copies T whole (native copy $n)"
done
"${workload[@]}" "$tmp/native-1" "$deb" || fail "the workload failed natively (run 1)"
sleep 1.1                       # so that what depends on the time differs
"${workload[@]}" "$tmp/native-2" "$deb" || fail "the workload failed natively (run 2)"
manifest "$tmp/native-1" > "$tmp/native-1.manifest"
manifest "$tmp/native-2" > "$tmp/native-2.manifest"
manifest noise "$tmp/native-1.manifest" "$tmp/native-2.manifest" > "$tmp/noise"
# The workload must have done something, and not everything be noise.
[ "$(manifest noise "$tmp/T.manifest" "$tmp/native-1.manifest" | wc -l)" -gt 100 ] ||
    fail "the workload changed little in the tree: it did not run"
echo "noise: $(wc -l < "$tmp/noise") (path, field) pairs differ between two native runs:"
sed 's/^/  /' "$tmp/noise"
echo "noise by field: $(cut -f2 "$tmp/noise" | sort | uniq -c | awk '{print $2, $1}' | paste -sd, | sed 's/,/, /g')"
[ "$(cut -f2 "$tmp/noise" | grep -vc mtime)" -le 5 ] ||
    fail "more than the time differs between two native runs: the workload is not deterministic"

# ================================================================ in the SEE
base=$tmp/base.img
mke2fs -q -t ext4 -b 4096 -I 256 -d "$T" -E lazy_itable_init=0,lazy_journal_init=0 "$base" 64M \
    > /dev/null || fail "mke2fs -d failed"
remember_base "$base"
base_sum=$(checksum "$base")
# The SEE starts from T: mke2fs -d copied it whole (the root directory
# is mke2fs's own).  Looked at read-only, beside the SEE, whose read set
# must hold only what the workload read.
mkdir "$tmp/s0"
mount -o ro,noload,loop "$base" "$tmp/s0" || fail "cannot mount the base read-only"
on_exit "_umount '$tmp/s0'"
manifest "$tmp/s0" > "$tmp/S0.manifest"
_umount "$tmp/s0"
noroot "$tmp/T.manifest" > "$tmp/T-noroot.manifest"
noroot "$tmp/S0.manifest" > "$tmp/S0-noroot.manifest"
same "$tmp/T-noroot.manifest" "$tmp/S0-noroot.manifest" "mke2fs -d copies T whole"

ov=$tmp/see.ow
serve see base="$base" overlay="$ov"
pid=$server_pid
mnt=$tmp/mnt
attach see "$mnt"
# No read-ahead, in FUSE and in the loop device, which bypasses the
# FUSE file's page cache: the read set is what the SEE read.
bdi=$(mountpoint -d "$tmp/fuse-see") || fail "no FUSE mount for the SEE"
echo 0 > "/sys/class/bdi/$bdi/read_ahead_kb" || fail "cannot turn read-ahead off in FUSE"
blockdev --setra 0 "$loopdev" || fail "cannot turn read-ahead off in $loopdev"
losetup --direct-io=on "$loopdev" || fail "cannot make $loopdev bypass the page cache"
"${workload[@]}" "$mnt" "$deb" || fail "the workload failed in the SEE"
sync -f "$mnt"
detach see
stop_server $pid

# The SEE view S1, through a copy of the overlay (the manifest reads
# every file, which would be in the overlay's read set), mounted
# read-only.
cp "$ov" "$tmp/view.ow"
serve view base="$base" overlay="$tmp/view.ow"
pid=$server_pid
attach view "$tmp/view" ro,noload
manifest "$tmp/view" > "$tmp/S1.manifest"
detach view
stop_server $pid
# The workload does in the SEE what it does natively (else what follows
# would blame the commit for it).
noroot "$tmp/S1.manifest" > "$tmp/S1-noroot.manifest"
noroot "$tmp/native-1.manifest" > "$tmp/native-1-noroot.manifest"
same "$tmp/native-1-noroot.manifest" "$tmp/S1-noroot.manifest" \
    "the SEE's run is the native run's, apart from the noise" "$tmp/noise"

"$merge" diff --json "$ov" > "$tmp/diff-before.json" || fail "oneway-merge diff failed"
jq -e '.summary.added > 20 and .summary.deleted > 0 and .summary.modified > 10
       and .summary.renamed > 5' "$tmp/diff-before.json" > /dev/null ||
    { jq .summary "$tmp/diff-before.json"; fail "diff does not list the workload's changes"; }
echo "diff: $(jq -c .summary "$tmp/diff-before.json")"

# The host: T as it was when the SEE's image was made of it.
H=$tmp/H
cp -a --preserve=all "$T" "$H"
manifest "$H" > "$tmp/H.before"
same "$tmp/T.manifest" "$tmp/H.before" "cp -a copies T whole (the host)"

# What the commit will meet: no conflict (H is the snapshot's state),
# and policy findings: the set-uid files, and the files useradd changes,
# which the default policy protects (/etc/passwd, /etc/shadow,
# /etc/group, /etc/gshadow).
allow=(--allow setuid --allow protected)
st=0
"$merge" check "$ov" --host "$H" --json > "$tmp/check.json" 2> "$tmp/check.err" || st=$?
[ $st -eq 1 ] || { cat "$tmp/check.json" "$tmp/check.err"; fail "check without overrides exited $st, expected 1"; }
echo "check: $(jq -c '[.conflicts[], .policy[] | "\(.kind) \(.path)"]' "$tmp/check.json")"
jq -e '.conflicts == []' "$tmp/check.json" > /dev/null ||
    { jq .conflicts "$tmp/check.json"
      fail "check finds conflicts (above), yet the host is as the snapshot was (H is a copy of T)"; }
jq -e '[.policy[].kind] | unique == ["protected", "setuid"]' "$tmp/check.json" > /dev/null ||
    { jq .policy "$tmp/check.json"; fail "check's policy findings are not the set-uid files and useradd's"; }
st=0
"$merge" check "$ov" --host "$H" "${allow[@]}" > "$tmp/check.out" 2>&1 || st=$?
[ $st -eq 0 ] || { cat "$tmp/check.out"; fail "check ${allow[*]} exited $st, expected 0"; }

if [ "$before_commit" = 1 ]; then
    echo "FAITHFUL_BEFORE_COMMIT=1: stopping before the commit"
    exit 0
fi

# ================================================================ commit
# Refused without --allow protected: nothing is applied.
st=0
"$merge" commit "$ov" --host "$H" --allow setuid > "$tmp/refused.out" 2>&1 || st=$?
[ $st -eq 1 ] || { cat "$tmp/refused.out"; fail "commit without --allow protected exited $st, expected 1"; }
manifest "$H" > "$tmp/H.refused"
same "$tmp/H.before" "$tmp/H.refused" "a refused commit leaves the host as it was"
st=0
"$merge" commit "$ov" --host "$H" "${allow[@]}" --json > "$tmp/commit.json" 2> "$tmp/commit.err" ||
    st=$?
[ $st -eq 0 ] || { cat "$tmp/commit.json" "$tmp/commit.err"; fail "commit ${allow[*]} exited $st, expected 0"; }
jq -e . "$tmp/commit.json" > /dev/null || { cat "$tmp/commit.json"; fail "commit --json is not JSON"; }
echo "commit: $(jq -c 'if has("summary") then .summary else . end' "$tmp/commit.json" | head -c 400)"
manifest "$H" > "$tmp/H.manifest"
# Natively, apart from the noise.
same "$tmp/native-1.manifest" "$tmp/H.manifest" \
    "the committed host tree is the native run's, apart from the noise" "$tmp/noise"
# And the SEE's tree exactly, the times too.  The root directory is
# left out: the workload changes none of its entries, so the commit
# leaves it as T has it, and the SEE's is mke2fs's (compared above with
# the native run's, which is T's).
noroot "$tmp/H.manifest" > "$tmp/H-noroot.manifest"
same "$tmp/S1-noroot.manifest" "$tmp/H-noroot.manifest" "the committed host tree is the SEE's"

# ================================================================ again: nothing left
st=0
"$merge" commit "$ov" --host "$H" "${allow[@]}" > "$tmp/again.out" 2>&1 || st=$?
[ $st -eq 1 ] || { cat "$tmp/again.out"; fail "a second commit exited $st, expected 1"; }
grep -qi "nothing" "$tmp/again.out" || { cat "$tmp/again.out"; fail "a second commit does not say that nothing is left"; }
echo "a second commit: $(head -n 3 "$tmp/again.out")"
manifest "$H" > "$tmp/H.again"
same "$tmp/H.manifest" "$tmp/H.again" "a second commit leaves the host as it was"

"$merge" diff --json "$ov" > "$tmp/diff-after.json" || fail "oneway-merge diff failed after the commit"
jq -e --slurpfile b "$tmp/diff-before.json" '. == $b[0]' "$tmp/diff-after.json" > /dev/null ||
    { diff <(jq -S . "$tmp/diff-before.json") <(jq -S . "$tmp/diff-after.json") | head -40
      fail "diff lists other changes after the commit"; }

[ "$(checksum "$base")" = "$base_sum" ] || fail "the base changed"
echo "ok: the commit is faithful"

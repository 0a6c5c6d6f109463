#!/usr/bin/env bash
# oneway-merge commit against a hostile SEE and a host that moves under
# it (DESIGN.md, "Threat model" and "Commit rules"), counted as attempts
# and escapes: an escape is a change outside the host tree (a canary
# read, written, chowned or given an xattr, a new file beside it), a
# symlink followed, a set-uid file, capability or device node landing
# without --allow, or a commit that says it succeeded and whose result
# differs from the SEE view.  There must be none.
#
# A tree T becomes the base image; copies of T are the host trees, in a
# box beside a directory "outside" of canaries that the SEE's symlinks
# point at.  One SEE session, partly chrooted into the view (so that
# what it writes "through" a symlink stays in its own view, as a
# confined SEE's would), makes:
#  - symlinks, absolute and relative, with ".." in their targets,
#    pointing at the canaries, dangling, looping; each with its own
#    owner, xattr and times (set on the link, which a commit that
#    followed it would set on the canary);
#  - host directories replaced by symlinks outside the tree, absolute
#    and relative, with writes "through" them; the host's own symlink
#    that leads outside, written through and chowned;
#  - set-uid and set-gid files (new, and an existing file chmod'ed),
#    file capabilities (new and existing), character and block devices;
#  - names with a newline, escape sequences, bytes that are not UTF-8,
#    C1 controls, a bidi override, 255 bytes;
#  - a directory chain deeper than PATH_MAX;
#  - a 64 GiB sparse file with data at a few offsets;
#  - a directory replaced by a file, a file by a directory;
#  - changes under /mnt, which one host has as a tmpfs mount point;
#  - changes in /sw, /sw2 and /hd, which the host moves between check
#    and commit, and between a crash and --resume.
# Expected: without --allow, commit refuses (1) and the host is as it
# was; with --allow setuid, capability and device, the host's manifest
# is the SEE view's (tests/manifest.py compare), symlinks are links with
# the SEE's target bytes, the sparse file is sparse; the human output of
# check and commit has no control bytes and --json parses, naming the
# paths byte for byte; the mount point is refused (other-filesystem)
# and nothing under it changes; a directory the host swapped for a
# symlink or a mount between check and commit, or between a crash
# (the crash-point build, killed after its journal is written) and
# --resume, is refused, and --abort puts back the rest.  The canaries
# (content, mode, owner, xattrs, atime, mtime, ctime) and the box's
# listing are compared after every attempt.  The base is unchanged.
. tests/functions.sh
require_root
require nbdkit nbdfuse losetup mke2fs busybox unshare chroot setcap getcap setfattr getfattr \
        mknod
[ -x /usr/bin/python3 ] || skip "/usr/bin/python3 is not installed"
unshare --mount --pid --fork --ipc --uts --net true 2>/dev/null ||
    skip "unshare cannot make the namespaces here"
crashable="$abs_top_builddir/tests/oneway-merge-crash"
[ -x "$crashable" ] || fail "$crashable is not built (make check builds it)"
hx=(/usr/bin/python3 "$abs_top_srcdir/tests/commit-hostile.py")
mf=(/usr/bin/python3 "$abs_top_srcdir/tests/manifest.py")
export LC_ALL=C
started=$SECONDS

# ---------------------------------------------------------------- counting
attempts=0 escapes=0 wrongs=0 current=
attempt () { attempts=$((attempts + 1)); current=$*; }
# escape WHAT: the commit reached outside, or planted what it may not.
escape ()
{
    escapes=$((escapes + 1))
    echo "ESCAPE: $current: $*" >&2
}
# wrong WHAT: not an escape, but not the promised behaviour either.
wrong ()
{
    wrongs=$((wrongs + 1))
    echo "WRONG: $current: $*" >&2
}

manifest () { "${hx[@]}" manifest "$1"; }

# same WANT GOT WHAT [wrong]: the manifests are the same; else an
# escape (the result differs from what was promised), or with "wrong"
# a failure of another kind, with the differences.
same ()
{
    if ! "${mf[@]}" compare "$1" "$2" > "$tmp/compare.out"; then
        head -30 "$tmp/compare.out" >&2
        ${4:-escape} "$3"
    fi
    return 0
}

# ms_since T0: milliseconds since T0 (date +%s%N).
ms_since () { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# Without the root's and directories' times: the host's own swaps after
# the crash change them.
no_dir_times () { sed -E '/\ttype=dir/s/\tmtime=[0-9]+//' "$1"; }

# ---------------------------------------------------------------- the box
# $box holds the host trees and, beside them, the canaries: a host tree
# is $box/H-NAME, so "../outside" from its root is the canaries.
box=$tmp/box
outside=$box/outside
mkdir -p "$outside"/{dir,sw,victim/sub,victim-rel/sub}
echo "canary" > "$outside/canary"
echo "secret outside the host tree" > "$outside/secret"
echo "the f of the host's /hostlink" > "$outside/dir/f"
echo "f of /sw, outside" > "$outside/sw/f"
echo "a of /victim, outside" > "$outside/victim/a"
echo "b of /victim, outside" > "$outside/victim/sub/b"
echo "a of /victim-rel, outside" > "$outside/victim-rel/a"
echo "b of /victim-rel, outside" > "$outside/victim-rel/sub/b"
setfattr -n user.canary -v 1 "$outside/canary"
# Old times, so that a read shows in atime (relatime).
find "$outside" -exec touch -h -d '2020-01-01 00:00:00' {} +

# The state of everything outside the host trees: the canaries with
# their times (read without touching atime), and the box's names but
# the host trees'.
outside_state ()
{
    "${hx[@]}" manifest --times "$outside"
    ls -A "$box" | grep -v '^H-' || true
}
outside_state > "$tmp/outside.want"

# guard: after an attempt, nothing outside changed.
guard ()
{
    outside_state > "$tmp/outside.now"
    if ! diff -u "$tmp/outside.want" "$tmp/outside.now" > "$tmp/outside.diff"; then
        head -30 "$tmp/outside.diff" >&2
        escape "something outside the host tree changed"
        cp "$tmp/outside.now" "$tmp/outside.want"
    fi
}

# ---------------------------------------------------------------- T
T=$tmp/T
mkdir -p "$T"/{bin,etc,links,victim/sub,victim-rel/sub,d2f/sub,mnt,sw,sw2,hd,odd,priv,deep}
echo hello > "$T/etc/motd"
echo "a of /victim" > "$T/victim/a"
echo "b of /victim" > "$T/victim/sub/b"
echo "a of /victim-rel" > "$T/victim-rel/a"
echo "b of /victim-rel" > "$T/victim-rel/sub/b"
echo x > "$T/d2f/x"; echo y > "$T/d2f/sub/y"
echo "a file that becomes a directory" > "$T/f2d"
echo "x of /mnt" > "$T/mnt/x"
echo "f of /sw" > "$T/sw/f"
echo "x of /sw2" > "$T/sw2/x"
echo "r of /sw2" > "$T/sw2/r"
echo "g of /hd" > "$T/hd/g"
echo "a tool" > "$T/priv/tool"; chmod 0755 "$T/priv/tool"
echo "another tool" > "$T/priv/tool2"; chmod 0755 "$T/priv/tool2"
# The host's own symlink that leads outside the tree.
ln -s "$outside/dir" "$T/hostlink"
# busybox, for the chrooted part of the SEE.
cp "$(command -v busybox)" "$T/bin/busybox"
chmod 0755 "$T/bin/busybox"
for a in sh mkdir ln rm cat sync; do ln -s busybox "$T/bin/$a"; done
chroot "$T" /bin/sh -c true 2>/dev/null || skip "busybox is not statically linked"
find "$T" -exec touch -h -d '2020-01-01 00:00:00' {} +
base=$tmp/base.img
mke2fs -q -t ext4 -b 4096 -d "$T" -E lazy_itable_init=0,lazy_journal_init=0 -I 256 "$base" 64M
remember_base "$base"

# ---------------------------------------------------------------- the SEE
size64=$((64 << 30))
offsets="0 $((1 << 30)) $((32 << 30)) $(((64 << 30) - 64))"
depth=25                        # of 201 bytes each: past PATH_MAX
ov=$tmp/see.ow
serve see base="$base" overlay="$ov"
attach see "$tmp/mnt"
mnt=$tmp/mnt
(
    cd "$mnt"
    # Symlinks at the canaries, each with an owner, an xattr and times
    # of its own.
    ln -s "$outside/canary" links/abs
    ln -s ../../outside/canary links/rel
    ln -s ../../outside/../outside/dir/f links/dotdot
    ln -s "../../../../../../../../../../../..$outside/secret" links/updots
    ln -s "$outside/../outside/./dir" links/absdots
    ln -s "$outside/not-there" links/dangling
    ln -s ../../outside/not-there-either links/dangling-rel
    ln -s loop2 links/loop1; ln -s loop1 links/loop2
    for l in links/*; do
        chown -h 4321:4321 "$l"
        setfattr -h -n trusted.evil -v "$l" "$l"
        touch -h -d '2001-02-03 04:05:06' "$l"
    done
    # The host's symlink to outside: a new owner (written through, below).
    chown -h 555:555 hostlink
    # Set-uid, set-gid, capabilities, devices (one with a hostile name).
    echo "suid" > priv/suid; chmod 4755 priv/suid
    echo "sgid" > priv/sgid; chmod 2755 priv/sgid
    echo "capable" > priv/cap; setcap cap_net_raw+ep priv/cap
    chmod 4755 priv/tool
    setcap cap_sys_admin+ep priv/tool2
    mknod priv/null c 1 3
    mknod priv/blk b 8 9
    mknod priv/$'dev\e[31m\nx' c 1 5
    echo "suid" > priv/$'suid\n\e]0;owned\a'; chmod 4755 priv/$'suid\n\e]0;owned\a'
    # Hostile names.
    "${hx[@]}" names odd > "$tmp/names"
    # Deeper than PATH_MAX.
    "${hx[@]}" deep deep $depth > "$tmp/deeplen"
    # 64 GiB, sparse.
    "${hx[@]}" sparse-write sparse $size64 $offsets
    # A directory replaced by a file, a file by a directory.
    rm -r d2f; echo "was a directory" > d2f
    rm f2d; mkdir f2d; echo inner > f2d/inner
    # Under what one host has as a mount point.
    echo "changed by the SEE" >> mnt/x
    echo "new under /mnt" > mnt/new
    # What the host will move.
    echo "the SEE's" >> sw/f
    echo new > sw/new
    rm sw2/x
    mv sw2/r sw2/r2
    echo new > hd/new
)
# Chrooted: directories the host has, replaced by symlinks leading out
# of the tree, and writes through them and through the host's own
# symlink, which land in the SEE's own view.
unshare --mount --pid --fork --ipc --uts --net chroot "$mnt" /bin/sh -c "
set -e
rm -r /victim
ln -s '$outside/victim' /victim
mkdir -p '$outside/victim'
echo pwned > /victim/pwned
echo overwritten > /victim/a
rm -r /victim-rel
ln -s ../outside/victim-rel /victim-rel
mkdir -p /outside/victim-rel
echo pwned > /victim-rel/pwned
echo overwritten > /victim-rel/a
mkdir -p '$outside/dir'
echo 'written through the host symlink' > /hostlink/f
echo pwned > /hostlink/pwned
sync
" || fail "the chrooted SEE's run failed"
deeplen=$(cat "$tmp/deeplen")
[ "$deeplen" -gt 4096 ] || fail "the deep chain is only $deeplen bytes"
sync -f "$mnt"
detach see
stop_server "$(cat "$tmp/see.pid")"
guard

# The SEE view as a tree: what a commit must make of a host tree (read
# through a copy of the overlay, so that the SEE's read set stays its own).
cp "$ov" "$tmp/view.ow"
serve view base="$base" overlay="$tmp/view.ow"
attach view "$tmp/view" ro
manifest "$tmp/view" > "$tmp/want"
"${hx[@]}" deep-check "$tmp/view/deep" $depth || fail "the SEE view has no deep chain"
detach view
stop_server "$(cat "$tmp/view.pid")"
manifest "$T" > "$tmp/T.manifest"
grep -q "sparse'.*alloc=holes" "$tmp/want" || fail "the SEE's 64 GiB file is not sparse in its view"
echo "the SEE: done in $((SECONDS - started)) s"

# ---------------------------------------------------------------- helpers
# host NAME: a fresh host tree $box/H-NAME (a copy of T), in $H.
host ()
{
    H=$box/H-$1
    rm -rf "$H"
    cp -a "$T" "$H"
}

# merge_run OUT CMD...: run oneway-merge, stdout to OUT.out, stderr to
# OUT.err; sets st.
merge_run ()
{
    local out=$tmp/$1; shift
    st=0
    "$merge" "$@" > "$out.out" 2> "$out.err" || st=$?
    if grep -qiE 'sanitizer|segmentation|assert' "$out.err"; then
        cat "$out.err" >&2
        fail "$current: oneway-merge $*: a crash report"
    fi
}

# clean FILE...: no control bytes in human output.
clean ()
{
    local f
    for f in "$@"; do
        "${hx[@]}" clean "$f" > "$tmp/clean.out" ||
            wrong "$(basename "$f"): $(cat "$tmp/clean.out")"
    done
}

# no_leftovers OVERLAY: no staging directory in $H, no journal.
no_leftovers ()
{
    ls -a "$H" | grep -q '^\.oneway-commit' && wrong "a staging directory is left in the host tree"
    [ ! -e "$1.commit" ] || wrong "the journal $1.commit is left"
}

# refused WHAT PATTERN OVERLAY ARGS...: commit exits 1, says PATTERN,
# and the host tree is as it was.
refused ()
{
    local what=$1 pat=$2 o=$3; shift 3
    manifest "$H" > "$tmp/r.before"
    merge_run r commit "$o" --host "$H" "$@"
    [ $st -eq 1 ] || { head -20 "$tmp/r.err" >&2; wrong "$what: commit exited $st, expected 1"; }
    grep -qE -- "$pat" "$tmp/r.out" "$tmp/r.err" ||
        { head -20 "$tmp/r.out" "$tmp/r.err" >&2; wrong "$what: the refusal does not say /$pat/"; }
    manifest "$H" > "$tmp/r.after"
    same "$tmp/r.before" "$tmp/r.after" "$what: a refused commit changed the host tree"
    clean "$tmp/r.out" "$tmp/r.err"
    no_leftovers "$o"
    guard
}

allow=(--allow setuid --allow capability --allow device)

# ================================================================ 1. policy
# Without --allow, each kind alone blocks the commit.
host policy
cp "$ov" "$tmp/p.ow"
attempt "check, human"
merge_run chk check "$tmp/p.ow" --host "$H"
[ $st -eq 1 ] || wrong "check exited $st, expected 1 (policy findings)"
clean "$tmp/chk.out" "$tmp/chk.err"
for k in setuid capability device; do
    grep -q "^$k " "$tmp/chk.out" || wrong "check does not list a $k finding"
done
grep -qF 'suid\x0a\x1b]0;owned\x07' "$tmp/chk.out" || wrong "check does not show the escaped name"
guard
attempt "check --json"
merge_run chkj check "$tmp/p.ow" --host "$H" --json
"${hx[@]}" json-paths "$tmp/chkj.out" policy > "$tmp/chkj.paths" ||
    wrong "check --json is not valid JSON"
grep -qF "b'/priv/suid\\n\\x1b]0;owned\\x07'" "$tmp/chkj.paths" ||
    wrong "check --json does not name the set-uid file byte for byte"
guard
attempt "commit, no --allow"
refused "no --allow" 'setuid' "$tmp/p.ow"
attempt "commit --json, no --allow"
refused "no --allow, --json" '"setuid"' "$tmp/p.ow" --json
"${hx[@]}" json-paths "$tmp/r.out" policy > /dev/null || wrong "the refusal's --json is not JSON"
for k in setuid capability device; do
    attempt "commit allowing all but $k"
    others=()
    for o in setuid capability device; do [ $o = $k ] || others+=(--allow $o); done
    refused "all but $k allowed" "^$k " "$tmp/p.ow" "${others[@]}"
done
attempt "commit --allow setuid=/priv/suid, others needed too"
refused "allowed at one path" '^setuid ' "$tmp/p.ow" --allow setuid=/priv/suid \
    --allow capability --allow device

# ================================================================ 2. all of it
# With the three --allow, the whole commit: the manifest is the SEE
# view's.  A dry run first, in JSON: the names byte for byte.
attempt "commit --dry-run --json"
merge_run dry commit "$tmp/p.ow" --host "$H" "${allow[@]}" --dry-run --json
[ $st -eq 0 ] || { cat "$tmp/dry.err" >&2; fail "commit --dry-run exited $st"; }
"${hx[@]}" json-paths "$tmp/dry.out" applied > "$tmp/dry.paths" ||
    wrong "commit --dry-run --json is not valid JSON"
while read -r n; do
    grep -qxF "b'/odd/${n:2:${#n}-3}'" "$tmp/dry.paths" ||
        wrong "commit --json does not name $n byte for byte"
done < "$tmp/names"
manifest "$H" > "$tmp/h.now"
same "$tmp/T.manifest" "$tmp/h.now" "a dry run changed the host tree"
guard
attempt "the whole commit"
t0=$(date +%s%N)
merge_run all commit "$tmp/p.ow" --host "$H" "${allow[@]}"
echo "the whole commit (a 64 GiB sparse file in it): $(ms_since $t0) ms"
[ $st -eq 0 ] || { cat "$tmp/all.err" >&2; fail "the whole commit exited $st"; }
clean "$tmp/all.out" "$tmp/all.err"
manifest "$H" > "$tmp/got"
same "$tmp/want" "$tmp/got" "the committed tree is not the SEE view"
no_leftovers "$tmp/p.ow"
guard
# What the manifest already says, each looked at on its own.
for l in abs rel dotdot updots absdots dangling dangling-rel loop1 loop2; do
    attempt "SEE symlink links/$l"
    if [ ! -L "$H/links/$l" ]; then
        escape "links/$l is not a symlink"
    else
        [ "$(stat -c %u:%g "$H/links/$l")" = 4321:4321 ] || wrong "links/$l has not its owner"
        [ "$(getfattr -h --only-values -n trusted.evil "$H/links/$l" 2>/dev/null)" = "links/$l" ] ||
            wrong "links/$l has not its xattr"
    fi
done
attempt "SEE replaced /victim by an absolute symlink out, and wrote through it"
[ "$(readlink "$H/victim")" = "$outside/victim" ] || escape "/victim is not the SEE's symlink"
[ "$(cat "$H/$outside/victim/pwned")" = pwned ] || wrong "what the SEE wrote through /victim is not where its view has it"
attempt "SEE replaced /victim-rel by a relative symlink out, and wrote through it"
[ "$(readlink "$H/victim-rel")" = ../outside/victim-rel ] || escape "/victim-rel is not the SEE's symlink"
[ "$(cat "$H/outside/victim-rel/pwned")" = pwned ] || wrong "what the SEE wrote through /victim-rel is not where its view has it"
attempt "SEE wrote through the host's symlink out, and chowned it"
[ "$(readlink "$H/hostlink")" = "$outside/dir" ] && [ "$(stat -c %u "$H/hostlink")" = 555 ] ||
    escape "/hostlink is not the SEE's symlink"
attempt "set-uid and set-gid files, --allow setuid"
[ "$(stat -c %a "$H/priv/suid")" = 4755 ] && [ "$(stat -c %a "$H/priv/sgid")" = 2755 ] &&
    [ "$(stat -c %a "$H/priv/tool")" = 4755 ] || wrong "the set-uid bits did not land"
attempt "capabilities, --allow capability"
getcap "$H/priv/cap" | grep -q cap_net_raw || wrong "the capability of /priv/cap did not land"
getcap "$H/priv/tool2" | grep -q cap_sys_admin || wrong "the capability of /priv/tool2 did not land"
attempt "devices, --allow device"
[ -c "$H/priv/null" ] && [ "$(stat -c %t:%T "$H/priv/null")" = 1:3 ] &&
    [ -b "$H/priv/blk" ] && [ "$(stat -c %t:%T "$H/priv/blk")" = 8:9 ] || wrong "the devices did not land"
attempt "hostile names"
while read -r n; do
    /usr/bin/python3 -c 'import os,sys; sys.exit(not os.path.lexists(os.fsencode(sys.argv[1]) + eval(sys.argv[2])))' \
        "$H/odd/" "$n" || escape "the name $n is not in /odd byte for byte"
done < "$tmp/names"
grep -qF 'odd/clear\x1b[2J\x1b[H' "$tmp/all.out" || wrong "commit's report does not show the escaped name"
attempt "a path deeper than PATH_MAX ($deeplen bytes)"
"${hx[@]}" deep-check "$H/deep" $depth || escape "the deep chain is not committed"
attempt "a 64 GiB sparse file"
"${hx[@]}" sparse-check "$H/sparse" $size64 $offsets || escape "the sparse file is not committed faithfully"
echo "the sparse file in the host: $(du -k "$H/sparse" | cut -f1) KiB allocated"
attempt "a directory replaced by a file, a file by a directory"
[ -f "$H/d2f" ] && [ -d "$H/f2d" ] && [ "$(cat "$H/f2d/inner")" = inner ] || escape "d2f/f2d"
attempt "nothing left to commit"
merge_run again commit "$tmp/p.ow" --host "$H" "${allow[@]}"
[ $st -eq 1 ] || wrong "a second commit exited $st, expected 1"
guard
rm -rf "$H"

# The sparse file alone, timed.
attempt "the 64 GiB sparse file alone"
host sparse
cp "$ov" "$tmp/s.ow"
t0=$(date +%s%N)
merge_run sparse commit "$tmp/s.ow" --host "$H" --only /sparse --json
ms=$(ms_since $t0)
echo "commit of the 64 GiB sparse file: $ms ms, $(du -k "$H/sparse" | cut -f1) KiB allocated"
[ $st -eq 0 ] || { cat "$tmp/sparse.err" >&2; wrong "commit --only /sparse exited $st"; }
[ "$("${hx[@]}" json-paths "$tmp/sparse.out" applied)" = "b'/sparse'" ] ||
    wrong "commit --json is not valid JSON, or does not say it applied /sparse"
"${hx[@]}" sparse-check "$H/sparse" $size64 $offsets || escape "the sparse file is not committed faithfully"
[ $ms -lt 60000 ] || wrong "committing the sparse file took $ms ms"
guard
rm -rf "$H"

# ================================================================ 3. a mount point
# The host has a tmpfs at /mnt: every change there is refused
# (other-filesystem, which no override lifts); excluded, the rest goes
# through and the tmpfs is untouched.
host mnt
mount -t tmpfs -o size=16M oneway-hostile "$H/mnt"
on_exit "_umount '$H/mnt'"
cp -a "$T/mnt/." "$H/mnt/"
echo "the host's mount" > "$H/mnt/host-only"
manifest "$H/mnt" > "$tmp/mnt.before"
cp "$ov" "$tmp/m.ow"
attempt "the SEE changed files under a mount point"
refused "under a mount point" 'other-filesystem' "$tmp/m.ow" "${allow[@]}"
attempt "the SEE changed files under a mount point, --only /mnt"
refused "under a mount point, --only" 'other-filesystem' "$tmp/m.ow" --only /mnt
attempt "the SEE changed files under a mount point, --accept /"
refused "under a mount point, --accept /" 'other-filesystem' "$tmp/m.ow" "${allow[@]}" --accept /
# (The SEE read /mnt/x, appending to it: a read the host cannot answer
# for, which only --accept lifts.)
attempt "the rest, with /mnt excluded"
merge_run mx commit "$tmp/m.ow" --host "$H" "${allow[@]}" --exclude /mnt --accept /mnt/x
manifest "$H/mnt" > "$tmp/mnt.after"
same "$tmp/mnt.before" "$tmp/mnt.after" "the tmpfs at /mnt changed"
if [ $st -eq 0 ]; then
    manifest "$H" | grep -v "^b'mnt" > "$tmp/got"
    grep -v "^b'mnt" "$tmp/want" > "$tmp/want-nomnt"
    same "$tmp/want-nomnt" "$tmp/got" "with /mnt excluded, the tree is not the SEE view"
else
    cat "$tmp/mx.out" "$tmp/mx.err" >&2
    wrong "commit --exclude /mnt exited $st"
fi
guard
_umount "$H/mnt"
rm -rf "$H"

# ================================================================ 4. the host moves between check and commit
sel=(--only /sw --only /sw2 --only /hd)
# swap HOW TREE DIR: the host puts, at TREE/DIR, a symlink (absolute or
# relative) to the canaries' directory of that name, or mounts a tmpfs
# there.
swap ()
{
    local how=$1 t=$2 d=$3
    case $how in
        abs|rel)
            mv "$t/$d" "$t/$d.moved"
            if [ $how = abs ]; then ln -s "$outside/$d" "$t/$d"; else ln -s "../outside/$d" "$t/$d"; fi
            touch -h -d '2021-01-01 00:00:00' "$t/$d"
            ;;
        mount)
            mount -t tmpfs -o size=1M oneway-hostile "$t/$d"
            on_exit "_umount '$t/$d'"
            ;;
    esac
}
unswap () { [ "$1" != mount ] || _umount "$2/$3"; }

for how in abs rel mount; do
    for d in sw hd; do
        host "swap-$how-$d"
        cp "$ov" "$tmp/w.ow"
        merge_run w check "$tmp/w.ow" --host "$H" "${sel[@]}"
        [ $st -eq 0 ] || { cat "$tmp/w.out" "$tmp/w.err" >&2; fail "check of the selection exited $st"; }
        swap $how "$H" $d
        attempt "host swapped /$d for a $how between check and commit"
        refused "/$d swapped ($how)" 'gone|other-filesystem|symlink|changed|mount' "$tmp/w.ow" "${sel[@]}"
        attempt "host swapped /$d for a $how between check and commit, --accept /"
        manifest "$H" > "$tmp/w.before"
        merge_run w commit "$tmp/w.ow" --host "$H" "${sel[@]}" --accept /
        if [ $st -eq 0 ]; then
            escape "commit --accept / into a tree whose /$d is a $how says it succeeded"
        else
            [ $st -eq 1 ] || { cat "$tmp/w.err" >&2; wrong "commit --accept / exited $st"; }
            # Refused in the switch, after some steps: undone, the
            # directories' times too.
            manifest "$H" > "$tmp/w.after"
            same "$tmp/w.before" "$tmp/w.after" "a refused commit changed the host tree"
        fi
        no_leftovers "$tmp/w.ow"
        clean "$tmp/w.out" "$tmp/w.err"
        guard
        unswap $how "$H" $d
        rm -rf "$H"
    done
done

# ================================================================ 5. ... and between a crash and --resume
# The crash-point build, killed at its Nth step: N=2 is just after the
# journal is written (nothing made yet); $nw is the first point at which
# the write phase is done (the journal says "written"; nothing switched
# yet); $nw+1 is after the first switch step.
crash_at ()
{
    host crash
    cp "$ov" "$tmp/k.ow"
    rm -f "$tmp/k.ow.commit"
    # (In a subshell of its own, which says "Killed" to /dev/null.)
    st=0
    ( ONEWAY_CRASH_AT=$1 "$crashable" commit "$tmp/k.ow" --host "$H" "${sel[@]}"; exit $? ) \
        > /dev/null 2>&1 || st=$?
}
written () { [ $st -eq 137 ] && grep -q '^written' "$tmp/k.ow.commit"; }
lo=2 hi=16
while crash_at $hi; ! written; do
    [ $st -eq 137 ] || fail "crash point $hi: exit $st, before the write phase was done"
    lo=$hi hi=$((hi * 2))
done
while [ $((hi - lo)) -gt 1 ]; do
    mid=$(((lo + hi) / 2))
    crash_at $mid
    [ $st -eq 137 ] || fail "crash point $mid: exit $st"
    if written; then hi=$mid; else lo=$mid; fi
done
nw=$hi
echo "crash points: the write phase is done at $nw"

# The host tree as it was, with the host's swap: what --abort must give back.
H_ref=$box/H-ref
for n in 2 $nw $((nw + 1)); do
    for how in abs rel mount; do
        rm -rf "$H_ref"; cp -a "$T" "$H_ref"
        swap $how "$H_ref" sw
        manifest "$H_ref" > "$tmp/k.ref"; no_dir_times "$tmp/k.ref" > "$tmp/k.want"
        unswap $how "$H_ref" sw
        rm -rf "$H_ref"
        crash_at $n
        [ $st -eq 137 ] && [ -e "$tmp/k.ow.commit" ] || fail "crash point $n: exit $st, or no journal"
        swap $how "$H" sw
        attempt "crash at $n, host swapped /sw for a $how, --resume"
        merge_run k commit "$tmp/k.ow" --resume
        clean "$tmp/k.out" "$tmp/k.err"
        if [ $st -eq 0 ]; then
            escape "--resume says it finished, though /sw is a $how"
        else
            [ $st -eq 1 ] || { cat "$tmp/k.err" >&2; wrong "--resume exited $st, expected 1"; }
            grep -q '/sw' "$tmp/k.err" || { cat "$tmp/k.err" >&2; wrong "--resume does not name /sw"; }
        fi
        guard
        attempt "crash at $n, host swapped /sw for a $how, --abort"
        merge_run k commit "$tmp/k.ow" --abort
        clean "$tmp/k.out" "$tmp/k.err"
        [ $st -eq 0 ] || { cat "$tmp/k.err" >&2; wrong "--abort exited $st"; }
        manifest "$H" > "$tmp/k.got"; no_dir_times "$tmp/k.got" > "$tmp/k.after"
        same "$tmp/k.want" "$tmp/k.after" "--abort did not put the host tree back" wrong
        no_leftovers "$tmp/k.ow"
        guard
        unswap $how "$H" sw
        rm -rf "$H"
    done
    # What the SEE deleted (/sw2/x) or renamed (/sw2/r, now /sw2/r2),
    # replaced by the host with a symlink out, before the commit moved
    # it: --resume must not take it for moved already.  (The symlink is
    # made beside it and renamed over it: another inode than the file's.)
    for v in x r; do
        crash_at $n
        [ $st -eq 137 ] && [ -e "$tmp/k.ow.commit" ] || fail "crash point $n: exit $st, or no journal"
        if [ ! -f "$H/sw2/$v" ]; then
            rm -rf "$H"; continue       # moved before the crash
        fi
        ln -s "$outside/canary" "$H/sw2/$v.host"
        mv -T "$H/sw2/$v.host" "$H/sw2/$v"
        attempt "crash at $n, host replaced /sw2/$v (which the SEE $([ $v = x ] && echo deleted || echo renamed)) with a symlink out, --resume"
        merge_run k commit "$tmp/k.ow" --resume
        clean "$tmp/k.out" "$tmp/k.err"
        if [ $st -eq 0 ]; then
            # Finished: then /sw2 must be the SEE's.
            manifest "$H" | grep "^b'sw2" > "$tmp/k.got"
            grep "^b'sw2" "$tmp/want" > "$tmp/k.want"
            same "$tmp/k.want" "$tmp/k.got" "--resume says it finished, but /sw2 is not the SEE's"
        else
            [ $st -eq 1 ] || { cat "$tmp/k.err" >&2; wrong "--resume exited $st, expected 1"; }
            grep -q "/sw2/$v" "$tmp/k.err" || { cat "$tmp/k.err" >&2; wrong "--resume does not name /sw2/$v"; }
            merge_run k commit "$tmp/k.ow" --abort
            [ $st -eq 0 ] || { cat "$tmp/k.err" >&2; wrong "--abort exited $st"; }
            [ -L "$H/sw2/$v" ] && [ -f "$H/sw2/x" -o $v = x ] && [ ! -e "$H/sw2/r2" ] ||
                wrong "--abort did not put /sw2 back"
        fi
        no_leftovers "$tmp/k.ow"
        guard
        rm -rf "$H"
    done
done

# ================================================================ the end
echo "hostile commit: $attempts attempts, $escapes escapes ($wrongs other failures) in $((SECONDS - started)) s"
[ $escapes -eq 0 ] || fail "$escapes escapes"
[ $wrongs -eq 0 ] || fail "$wrongs attempts did not end as promised"

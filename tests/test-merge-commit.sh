#!/usr/bin/env bash
# oneway-merge commit: into a host tree, refused on conflicts, and
# finished or undone after a crash at any of its steps.
#
# A tree T becomes the base image; copies of T are host trees.  A
# chrooted-free SEE (the test's own shell on the mounted view) makes
# every kind of change: additions (a new directory tree, a fifo, a
# symlink, a hard-link pair, a 64 MiB sparse file), modifications (bytes,
# a truncation, a mode, an xattr of a hard-linked file, the bytes of
# another, which keeps its second name), deletions (a
# directory tree), renames (a swap of two names, a directory renamed
# with a new file inside).
#  1. --dry-run changes nothing; a commit makes the host's manifest the
#     SEE view's (tests/manifest.py), staging and journal gone; the
#     sparse file stays sparse; a second commit has nothing left (1).
#  2. Partial commits: --only, then the rest; never a change twice.
#  3. Conflicts made by the host (write-write, name, gone): refused with
#     exit 1 and the host tree exactly as before; --accept applies.
#  4. Crash points: the tool built with commit's crash points
#     (tests/oneway-merge-crash) killed at each of its steps in turn;
#     then --resume gives the uninterrupted commit's manifest, and on
#     another copy --abort gives back the host tree as it was.
# The base is unchanged throughout.
. tests/functions.sh
require_root
require nbdkit nbdfuse losetup mke2fs setfattr mkfifo
[ -x /usr/bin/python3 ] || skip "/usr/bin/python3 is not installed"
crashable="$abs_top_builddir/tests/oneway-merge-crash"
[ -x "$crashable" ] || fail "$crashable is not built (make check builds it)"

manifest ()
{
    /usr/bin/python3 "$abs_top_srcdir/tests/manifest.py" "$1"
}

same_manifest ()
{
    local what=$1 want=$2 got=$3
    if ! diff -u "$want" "$got" > "$tmp/manifest.diff"; then
        head -40 "$tmp/manifest.diff"
        fail "$what: the host tree's manifest is not the expected one"
    fi
}

# ================================================================ the SEE
T=$tmp/T
mkdir -p "$T/etc" "$T/d/sub" "$T/gone/deep" "$T/ren" "$T/keepdir"
echo hello > "$T/etc/motd"
echo keep > "$T/keep"
ln "$T/keep" "$T/keeplink"
echo linked > "$T/hl"
ln "$T/hl" "$T/d/sub/hl2"
seq 1 20000 > "$T/d/big"
echo a > "$T/a"; echo b > "$T/b"
echo x > "$T/ren/x"
echo y > "$T/gone/deep/y"
echo z > "$T/keepdir/z"
echo "read by the SEE" > "$T/d/sub/conf"
find "$T" -exec touch -h -d '2020-01-01 00:00:00' {} +
base=$tmp/base.img
mke2fs -q -t ext4 -b 4096 -d "$T" -E lazy_itable_init=0,lazy_journal_init=0 -I 256 "$base" 64M
remember_base "$base"
ov=$tmp/see.ow
serve see base="$base" overlay="$ov"
attach see "$tmp/mnt"
no_readahead see
(
    cd "$tmp/mnt"
    echo new > newfile
    ln newfile newfile2
    echo more >> etc/motd
    truncate -s 100 d/big
    chmod 700 d
    setfattr -n user.color -v blue keep
    echo more >> hl
    cat d/sub/conf > /dev/null
    rm -r gone
    mv a tmpx; mv b a; mv tmpx b
    mv ren ren2; echo inside > ren2/new
    mkdir -p newdir/inner; echo deep > newdir/inner/f
    ln -s ../etc/motd newdir/link
    truncate -s 64M sparse; echo end >> sparse
    mkfifo fifo
)
sync
detach see
stop_server "$(cat "$tmp/see.pid")"
# What the SEE view holds, as a tree: the expected result of a commit;
# read through a copy of the overlay, so that the SEE's read set stays
# what the SEE read.
cp "$ov" "$tmp/view.ow"
serve view base="$base" overlay="$tmp/view.ow"
attach view "$tmp/view" ro
manifest "$tmp/view" > "$tmp/want"
detach view
stop_server "$(cat "$tmp/view.pid")"

fresh_host ()
{
    rm -rf "$1"
    cp -a "$T" "$1"
}

# ================================================================ 1. whole
fresh_host "$tmp/H"
manifest "$tmp/H" > "$tmp/before"
cp "$ov" "$tmp/o1.ow"
"$merge" commit "$tmp/o1.ow" --host "$tmp/H" --dry-run > "$tmp/dry.out" ||
    fail "commit --dry-run failed"
grep -q '^would commit' "$tmp/dry.out" || fail "commit --dry-run does not say what it would do"
manifest "$tmp/H" > "$tmp/after-dry"
same_manifest "--dry-run" "$tmp/before" "$tmp/after-dry"
"$merge" commit "$tmp/o1.ow" --host "$tmp/H" --json > "$tmp/c1.json" || fail "commit failed"
[ "$(json_get "$tmp/c1.json" 'd["summary"]["changes"]')" -ge 15 ] || fail "the report lists too few changes"
manifest "$tmp/H" > "$tmp/got"
same_manifest "commit" "$tmp/want" "$tmp/got"
ls -a "$tmp/H" | grep -q oneway-commit && fail "the staging directory was left in the host tree"
[ -e "$tmp/o1.ow.commit" ] && fail "the journal was left"
[ "$(du -k "$tmp/H/sparse" | cut -f1)" -lt 256 ] || fail "the sparse file was not committed sparse"
st=0; "$merge" commit "$tmp/o1.ow" --host "$tmp/H" 2> "$tmp/again.err" || st=$?
[ $st -eq 1 ] || fail "a second commit exited $st, expected 1 (nothing left)"
grep -q 'nothing left' "$tmp/again.err" || { cat "$tmp/again.err"; fail "a second commit does not say nothing is left"; }
"$merge" info "$tmp/o1.ow" | grep -qi 'commit' || fail "info does not show the commit"

# ================================================================ 2. partial
fresh_host "$tmp/P"
cp "$ov" "$tmp/o2.ow"
"$merge" commit "$tmp/o2.ow" --host "$tmp/P" --only /newdir --json > "$tmp/p1.json" ||
    fail "a commit of --only /newdir failed"
[ "$(json_get "$tmp/p1.json" 'len(d["applied"])')" -eq 4 ] || fail "--only /newdir applied other changes"
[ -f "$tmp/P/newdir/inner/f" ] && [ ! -e "$tmp/P/newfile" ] || fail "--only /newdir did the wrong thing"
"$merge" commit "$tmp/o2.ow" --host "$tmp/P" --json > "$tmp/p2.json" || fail "the rest's commit failed"
python3 - "$tmp/p2.json" <<'PY' || fail "the second commit applied a change of the first again"
import json, sys
d = json.load(open(sys.argv[1]))
sys.exit(any(a["path"].startswith("/newdir") for a in d["applied"]))
PY
manifest "$tmp/P" > "$tmp/got"
same_manifest "two partial commits" "$tmp/want" "$tmp/got"

# ================================================================ 3. conflicts
# conflict KIND CHANGE ACCEPT: the host makes CHANGE in its tree; check
# and commit name a KIND conflict, commit refuses with the host tree as
# it was, and with --accept ACCEPT (if given) goes through.
conflict ()
{
    local what=$1 change=$2 accept=$3 st=0
    fresh_host "$tmp/C"
    (cd "$tmp/C" && eval "$change")
    manifest "$tmp/C" > "$tmp/c.before"
    cp "$ov" "$tmp/c.ow"
    "$merge" commit "$tmp/c.ow" --host "$tmp/C" > "$tmp/c.out" 2> "$tmp/c.err" || st=$?
    [ $st -eq 1 ] || { cat "$tmp/c.err"; fail "$what: commit exited $st, expected 1"; }
    grep -q "refused" "$tmp/c.err" || fail "$what: commit does not say it refused"
    grep -q "^$what " "$tmp/c.out" || { cat "$tmp/c.out"; fail "$what: the refusal does not name the conflict"; }
    manifest "$tmp/C" > "$tmp/c.after"
    same_manifest "$what: a refused commit" "$tmp/c.before" "$tmp/c.after"
    ls -a "$tmp/C" | grep -q oneway-commit && fail "$what: staging left behind"
    [ -n "$accept" ] || return 0
    "$merge" commit "$tmp/c.ow" --host "$tmp/C" --accept "$accept" > /dev/null 2> "$tmp/c.err" ||
        { cat "$tmp/c.err"; fail "$what: commit --accept $accept failed"; }
}
conflict "read-write" 'echo host >> d/sub/conf' /d/sub/conf
grep -q host "$tmp/C/d/sub/conf" || fail "read-write: the commit changed what only the SEE read"
conflict "write-write" 'echo host >> etc/motd' /etc/motd
grep -q more "$tmp/C/etc/motd" || fail "write-write: --accept did not apply the SEE's version"
conflict "name" 'echo host > newfile' /newfile
[ "$(cat "$tmp/C/newfile")" = new ] || fail "name: --accept did not apply the SEE's file"
[ "$(stat -c %i "$tmp/C/newfile")" = "$(stat -c %i "$tmp/C/newfile2")" ] ||
    fail "name: the hard-link pair was split"
# What the SEE renamed is gone: nothing to rename, so no --accept helps.
conflict "gone" 'rm -r ren' ""
grep -q 'gone .*/ren' "$tmp/c.out" "$tmp/c.err" || fail "gone: the refusal does not name /ren"
# Accepted, a name whose parent the host removed is refused when the
# commit gets there, and undone: the host tree as it was.
fresh_host "$tmp/C"
rm -r "$tmp/C/keepdir"
manifest "$tmp/C" > "$tmp/c.before"
cp "$ov" "$tmp/c.ow"
st=0; "$merge" commit "$tmp/c.ow" --host "$tmp/C" > "$tmp/c.out" 2> "$tmp/c.err" || st=$?
[ $st -eq 0 ] || { cat "$tmp/c.out" "$tmp/c.err"; fail "a commit that does not touch the removed /keepdir exited $st"; }

# ================================================================ 4. interrupted
# While a commit's journal is there, nothing may change the SEE view
# under it: the plugin, discard and recover refuse, naming the way out.
fresh_host "$tmp/I"
cp "$ov" "$tmp/i.ow"
st=0
ONEWAY_CRASH_AT=40 "$crashable" commit "$tmp/i.ow" --host "$tmp/I" > /dev/null 2>&1 || st=$?
[ $st -eq 137 ] && [ -e "$tmp/i.ow.commit" ] || fail "the commit killed at its 40th step left no journal (exit $st)"
if start_plugin interrupted base="$base" overlay="$tmp/i.ow" 2> "$tmp/i.err"; then
    fail "the plugin serves an overlay whose commit was interrupted"
fi
grep -q -- '--resume' "$tmp/nbdkit-interrupted.log" ||
    { cat "$tmp/nbdkit-interrupted.log"; fail "the plugin's refusal does not say what to do"; }
for cmd in "discard --yes" recover; do
    st=0; "$merge" $cmd "$tmp/i.ow" 2> "$tmp/i.err" || st=$?
    [ $st -eq 2 ] && grep -q 'commit --resume' "$tmp/i.err" ||
        { cat "$tmp/i.err"; fail "$cmd during an interrupted commit exited $st, or did not say why"; }
done
st=0; "$merge" commit "$tmp/i.ow" --host "$tmp/I" 2> "$tmp/i.err" || st=$?
[ $st -eq 2 ] && grep -q -- '--resume' "$tmp/i.err" || fail "a second commit during an interrupted one exited $st"
"$merge" commit "$tmp/i.ow" --resume > /dev/null || fail "--resume (the host from the journal) failed"
manifest "$tmp/I" > "$tmp/got"
same_manifest "resumed from the journal's host" "$tmp/want" "$tmp/got"

# ================================================================ 5. crash points
# On a tmpfs of the test's own: the hundreds of commits here sync the
# host tree's filesystem twice each, which a disk makes slow.
fast=$tmp/fast
mkdir "$fast"
mount -t tmpfs -o size=256M,mode=0700 oneway-test "$fast"
on_exit "_umount '$fast'"
fresh_host "$tmp/R"
cp "$ov" "$tmp/r.ow"
"$crashable" commit "$tmp/r.ow" --host "$tmp/R" > /dev/null || fail "the crashable build's commit failed"
manifest "$tmp/R" > "$tmp/ref"
same_manifest "crashable build" "$tmp/want" "$tmp/ref"
manifest "$T" > "$tmp/orig"
points=0
for (( n=1; ; n++ )); do
    for how in resume abort; do
        fresh_host "$fast/K"
        cp "$ov" "$fast/k.ow"
        rm -f "$fast/k.ow.commit"
        st=0
        ONEWAY_CRASH_AT=$n "$crashable" commit "$fast/k.ow" --host "$fast/K" > /dev/null 2>&1 || st=$?
        if [ $st -eq 0 ]; then
            break 2            # past the last point: it finished
        fi
        [ $st -eq 137 ] || fail "crash point $n: the commit exited $st, not killed"
        st=0
        "$merge" commit "$fast/k.ow" --host "$fast/K" --$how > /dev/null 2> "$tmp/k.err" || st=$?
        if [ $how = resume ]; then
            # Before the journal is whole there is nothing to resume: commit again.
            if [ $st -eq 1 ] && grep -q 'nothing to resume\|no commit of' "$tmp/k.err"; then
                st=0
                "$merge" commit "$fast/k.ow" --host "$fast/K" > /dev/null 2> "$tmp/k.err" || st=$?
                [ $st -eq 0 ] || { cat "$tmp/k.err"; fail "crash point $n: commit after an empty journal exited $st"; }
            fi
            [ $st -eq 0 ] || { cat "$tmp/k.err"; fail "crash point $n: --resume exited $st"; }
            manifest "$fast/K" > "$tmp/got"
            same_manifest "crash point $n, resumed" "$tmp/ref" "$tmp/got"
        else
            # After every path was switched, abort refuses: resume then.
            if [ $st -eq 1 ] && grep -q 'cannot be undone now' "$tmp/k.err"; then
                "$merge" commit "$fast/k.ow" --host "$fast/K" --resume > /dev/null ||
                    fail "crash point $n: --resume after a refused --abort failed"
                manifest "$fast/K" > "$tmp/got"
                same_manifest "crash point $n, resumed after abort refused" "$tmp/ref" "$tmp/got"
            else
                [ $st -eq 0 ] || [ $st -eq 1 ] || { cat "$tmp/k.err"; fail "crash point $n: --abort exited $st"; }
                manifest "$fast/K" > "$tmp/got"
                same_manifest "crash point $n, aborted" "$tmp/orig" "$tmp/got"
            fi
        fi
        [ -e "$fast/k.ow.commit" ] && fail "crash point $n ($how): the journal was left"
        ls -a "$fast/K" | grep -q oneway-commit && fail "crash point $n ($how): staging left behind"
        points=$((points + 1))
    done
done
echo "crash points: $((n - 1)), each resumed and aborted ($points recoveries)"
[ $n -gt 20 ] || fail "only $((n - 1)) crash points: the crash points are not reached"

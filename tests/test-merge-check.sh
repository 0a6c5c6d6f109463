#!/usr/bin/env bash
# oneway-merge check and discard, against a live host tree.
#
# A host tree H0 becomes the base image (mke2fs -d); a copy of it, H, is
# the host.  A chrooted busybox SEE on the served base reads and writes;
# meanwhile the host changes H so that each kind of conflict and policy
# finding arises, with hostile names and symlinks on both sides, a
# symlink in H that leads outside it, and a mount point inside it.
# `check --json` must name each with its kind; the exit status must be
# 1 with conflicts, 0 once the selection and overrides leave none, 2 on
# bad arguments; the human output must put the riskiest first and carry
# no control bytes.  check writes nothing: the base, H and a canary
# outside H are byte-for-byte the same afterwards, and the canary was
# not even read.  Then discard: refused without --yes off a terminal,
# on a "no" at a terminal, and while a plugin holds the overlay; done,
# it leaves a fresh overlay for the same base that a plugin serves.
. tests/functions.sh
require_root
require nbdkit nbdfuse nbdinfo losetup mke2fs debugfs unshare chroot busybox setcap jq script \
        sha256sum
[ -x /usr/bin/python3 ] || skip "/usr/bin/python3 is not installed"
unshare --mount --pid --fork --ipc --uts --net true 2>/dev/null ||
    skip "unshare cannot make the namespaces here"

in_see ()
{
    unshare --mount --pid --fork --ipc --uts --net chroot "$1" /bin/sh -c "$2"
}

# tree_state DIR: every object of DIR with its metadata and content, in
# one line each (sorted), so two states compare as text.
tree_state ()
{
    /usr/bin/python3 - "$1" <<'PY'
import hashlib, os, stat, sys
root = sys.argv[1]
out = []
for d, dirs, files in os.walk(root):
    for n in sorted(dirs + files):
        p = os.path.join(d, n)
        st = os.lstat(p)
        extra = ""
        if stat.S_ISREG(st.st_mode):
            with open(p, "rb") as f:
                extra = hashlib.sha256(f.read()).hexdigest()
        elif stat.S_ISLNK(st.st_mode):
            extra = os.readlink(p)
        try:
            xa = sorted((k, os.getxattr(p, k, follow_symlinks=False))
                        for k in os.listxattr(p, follow_symlinks=False))
        except OSError:
            xa = "?"
        out.append("%r %o %d %d %d %d %d %s %r" % (
            os.path.relpath(p, root).encode("utf-8", "surrogateescape"), st.st_mode,
            st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ctime_ns, extra, xa))
print("\n".join(sorted(out)))
PY
}

# ================================================================ the trees
# Outside the host tree: a canary that a lookup led out of H would reach
# (the host's /srv/dir becomes a symlink to it), with the same content
# there as the base has, so that following the link would hide the
# conflict.  Its atime is old, so that a read of it would show (relatime).
outside=$tmp/outside
mkdir -p "$outside/dir"
echo "the f of /srv/dir" > "$outside/dir/f"
echo "secret outside the host tree" > "$outside/secret"
touch -a -d '2020-01-01 00:00:00' "$outside/dir/f" "$outside/secret"

h0=$tmp/h0
mkdir -p "$h0"/{dev,proc,tmp,etc,data,data/shared,d-del,opt/old,opt/old2,srv/dir,www,odd,mnt/data,usr/local/bin,hl}
mknod "$h0/dev/null" c 1 3
echo "welcome" > "$h0/etc/motd"
echo "root:x:0:0:root:/root:/bin/sh" > "$h0/etc/passwd"
echo "root:*:19000:0:99999:7:::" > "$h0/etc/shadow"
chmod 0640 "$h0/etc/shadow"
d=$h0/data
for f in rw rw-same rw-mode rw-ns ww-blind ww-read ww-del both-del r-src; do
    printf '%s: the base version of this file, long enough to be a block\n' "$f" > "$d/$f.txt"
done
echo "x" > "$d/shared/base.txt"
echo "in a directory the SEE deletes" > "$h0/d-del/a"
echo "old x" > "$h0/opt/old/x"
echo "old2" > "$h0/opt/old2/y"
echo "the f of /srv/dir" > "$h0/srv/dir/f"
echo "<html>" > "$h0/www/index.html"
echo "on the host's mount" > "$h0/mnt/data/.keep"
rm "$h0/mnt/data/.keep"
# Timestamps in the past, so that a change shows in mtime.
find "$h0" -exec touch -h -d '2020-01-02 03:04:05' {} +
# One with nanoseconds, which the base (mke2fs -d) drops: its mtime
# cannot settle it (see below).
touch -d '2020-01-02 03:04:05.123456789' "$d/rw-ns.txt"

base=$tmp/base.img
mke2fs -q -t ext4 -b 4096 -d "$h0" -E lazy_itable_init=0,lazy_journal_init=0 "$base" 64M >/dev/null
# busybox goes in last, after every file of the tree: running it, the
# kernel reads a little past its end (a large folio of its page cache),
# and that must not be another file's data, or the test could not tell
# which files the SEE read.
bb=$(command -v busybox)
mkdir "$h0/bin"
cp "$bb" "$h0/bin/busybox"
chmod 0755 "$h0/bin/busybox"
chroot "$h0" /bin/busybox true 2>/dev/null || skip "busybox is not statically linked"
{
    echo "mkdir /bin"
    echo "write $h0/bin/busybox /bin/busybox"
    echo "sif /bin/busybox mode 0100755"
    for a in $(busybox --list); do
        [ "$a" = busybox ] || { echo "symlink /bin/$a busybox"; ln -s busybox "$h0/bin/$a"; }
    done
} > "$tmp/add-bin.debugfs"
debugfs -w -f "$tmp/add-bin.debugfs" "$base" >/dev/null 2>"$tmp/debugfs.err" ||
    fail "debugfs could not add /bin: $(cat "$tmp/debugfs.err")"
remember_base "$base"

# The host: a copy of H0 (as the live tree that the base is a snapshot of).
H=$tmp/host
cp -a "$h0" "$H"
ov=$tmp/see.ow

# ================================================================ the SEE
see_run='
set -e
cd /data
cat rw.txt rw-same.txt rw-mode.txt rw-ns.txt > /dev/null
cat ww-read.txt > /dev/null; echo "appended by the SEE" >> ww-read.txt
echo "the SEE wrote this without reading" > ww-blind.txt
rm ww-del.txt both-del.txt
echo "the SEE config" > new.conf
echo "made by both, the same" > same-new.txt
mv r-src.txt r-dst.txt
ls shared > /dev/null; echo s > shared/see.txt
rm /d-del/a; rmdir /d-del
echo "new x" > /opt/old/x
echo new > /opt/old2/new
echo "into the dir" > /srv/dir/g
ls /etc > /dev/null
echo "evil:x:0:0::/:/bin/sh" >> /etc/shadow
echo "an suid binary" > /usr/local/bin/suid; chmod 4755 /usr/local/bin/suid
echo "a capable binary" > /usr/local/bin/capped
mknod /data/sda9 b 8 9
echo "on the mount" > /mnt/data/file
rm /www/index.html; rmdir /www; ln -s /../../../etc /www
ln -s /etc/shadow /data/evil-abs
ln -s ../../../../../etc/passwd /data/evil-rel
echo a > /hl/one; ln /hl/one /hl/two
mkdir /newdir; echo f > /newdir/file
cd /odd
echo nl > "$(printf "new\nline")"
echo esc > "$(printf "esc\033[31mred")"
echo ff > "$(printf "bad\377name")"
echo long > "'"$(printf 'n%.0s' $(seq 1 255))"'"
sync
'
serve see base="$base" overlay="$ov"
pid=$server_pid
mnt=$tmp/mnt
attach see "$mnt"
no_readahead see
in_see "$mnt" "$see_run" || fail "the SEE's run failed"
setcap cap_net_raw+ep "$mnt/usr/local/bin/capped" || fail "setcap on the SEE view failed"
sync -f "$mnt"
detach see
stop_server $pid

# ================================================================ the host meanwhile
# (States are compared, not logs: when the host changed them during the
# run does not matter.)
echo "the host changed this" >> "$H/data/rw.txt"
chmod 0600 "$H/data/rw-mode.txt"
# Rewritten with its size and its mtime (nanoseconds too) kept: the
# base has the mtime to the second only, and the host's ctime is past
# the base's copy, so the bytes are compared and tell.
touch -r "$H/data/rw-ns.txt" "$tmp/ns.ref"
printf 'RW-NS' | dd of="$H/data/rw-ns.txt" conv=notrunc status=none
touch -r "$tmp/ns.ref" "$H/data/rw-ns.txt"
echo "the host too" >> "$H/data/ww-blind.txt"
echo "the host too" >> "$H/data/ww-read.txt"
echo "the host too" >> "$H/data/ww-del.txt"
rm "$H/data/both-del.txt"
echo "the host config" > "$H/data/new.conf"
echo "made by both, the same" > "$H/data/same-new.txt"
echo "made by the host" > "$H/data/r-dst.txt"
ln -s /etc/motd "$H/data/evil-abs"
echo h > "$H/data/shared/host.txt"
echo "the host's" > "$H/d-del/host-new"
echo "the host's page" > "$H/www/host.html"
rm -r "$H/opt/old" "$H/opt/old2"
rm -r "$H/srv/dir"
ln -s "$outside/dir" "$H/srv/dir"
echo "the host's" > "$H/etc/host-added"
echo "the host's" > "$H/odd/"$'new\nline'
mount -t tmpfs oneway-check-test "$H/mnt/data"
on_exit "_umount '$H/mnt/data'"

host_before=$(tree_state "$H")
outside_state () { find "$outside" -type f -exec stat -c '%n %s %Y %Z %X' {} + | sort; }
outside_before=$(outside_state)

# ================================================================ check
# run_check NAME ARGS...: oneway-merge check OVERLAY --host H ARGS; the
# exit status in $st, the outputs in $tmp/NAME.out and $tmp/NAME.err.
run_check ()
{
    local name=$1; shift
    st=0
    "$merge" check "$ov" --host "$H" "$@" > "$tmp/$name.out" 2> "$tmp/$name.err" || st=$?
}

# expect_status WANT WHAT: $st is WANT, or fail showing the outputs.
expect_status ()
{
    [ "$st" -eq "$1" ] || {
        head -c 3000 "$tmp/$name.out" "$tmp/$name.err"
        fail "$2: exit status $st, expected $1"
    }
}

name=all
run_check $name --json
expect_status 1 "check with conflicts"
/usr/bin/python3 - "$tmp/all.out" <<'PY' || fail "check --json does not report what the run made (above)"
import json, sys
d = json.load(open(sys.argv[1]))
issues = [(cls, i) for cls in ("conflicts", "policy", "notes") for i in d[cls]]
def find(kind, path):
    return [i for cls, i in issues if i["kind"] == kind and i["path"] == path]
bad = []
def want(kind, path, **fields):
    got = find(kind, path)
    if len(got) != 1:
        bad.append("%s %s: %d entries, not 1" % (kind, path, len(got)))
        return
    for k, v in fields.items():
        have = got[0].get(k)
        ok = v(have) if callable(v) else have == v
        if not ok:
            bad.append("%s %s: %s is %r" % (kind, path, k, have))
has = lambda *words: lambda x: x is not None and all(w in x for w in words)
want("read-write", "/data/rw.txt", host=has("content", "size"))
want("read-write", "/data/rw-mode.txt", host=["mode"])
want("read-write", "/data/rw-ns.txt", host=["content"])
want("read-write", "/data/ww-read.txt", host=has("content"))
want("write-write", "/data/ww-blind.txt", blind=True, host=has("content"), see=has("content"))
want("write-write", "/data/ww-read.txt", blind=False, host=has("content"))
want("write-write", "/data/ww-del.txt", blind=True, host=has("content"), see=[])
want("write-write", "/d-del", blind=False, host=["content"])
# The SEE put a symlink out of the tree where the host's directory is,
# and the host added a name in it meanwhile.
want("write-write", "/www", blind=False, host=["content"], see=has("type"))
want("name", "/data/new.conf", detail=has("added by both", "content"))
want("name", "/data/r-dst.txt", detail=has("/data/r-src.txt"))
want("name", "/data/evil-abs", detail=has("target"))
want("name", "/odd/new\\x0aline")
want("gone", "/opt/old/x", detail="the host removed /opt/old")
want("gone", "/opt/old2/new", detail="the host removed /opt/old2")
want("gone", "/srv/dir/g", detail=has("/srv/dir", "symlink"))
want("setuid", "/usr/local/bin/suid")
want("capability", "/usr/local/bin/capped")
want("device", "/data/sda9")
want("protected", "/etc/shadow", rule="/etc/shadow")
want("other-filesystem", "/mnt/data/file", detail=has("/mnt/data", "mount point"))
for p in ("/etc", "/data/shared", "/d-del", "/opt"):
    want("stale-listing", p)
# What neither side made a conflict of, or what a host change that is
# no conflict (both deleted, both made the same, different names in one
# directory) must not make one of; and the SEE's hostile symlinks and
# names are changes like any other.
quiet = ["/data/rw-same.txt", "/data/same-new.txt", "/data/both-del.txt", "/data/shared/see.txt",
         "/data/shared/host.txt", "/www/index.html", "/www/host.html", "/data/evil-rel", "/hl/one", "/hl/two",
         "/srv/dir/f", "/odd/esc\\x1b[31mred", "/odd/bad\\xffname", "/odd/" + "n" * 255,
         "/newdir", "/newdir/file", "/"]
for cls, i in issues:
    if cls != "notes" and i["path"] in quiet:
        bad.append("unexpected: %r" % i)
if d["ok"] is not False:
    bad.append("ok is %r" % d["ok"])
s = d["summary"]
if (s["conflicts"], s["policy"]) != (len(d["conflicts"]), len(d["policy"])) or s["conflicts"] != 16 \
   or s["policy"] != 5 or s["blocking"] != 21 or s["selected"] != s["changes"]:
    bad.append("summary %r" % s)
if any(i.get("accepted") or i.get("allowed") for cls, i in issues):
    bad.append("overridden without being asked")
if bad:
    print(json.dumps(d, indent=1))
    sys.exit("\n".join(bad))
PY
jq -e --arg h "$H" '.host == $h and .ok == false' "$tmp/all.out" > /dev/null ||
    fail "check --json: host or ok wrong"

# People: the same, riskiest first, no control bytes from the SEE.
name=human
run_check $name
expect_status 1 "check (human output) with conflicts"
! LC_ALL=C grep -q '[[:cntrl:]]' <(tr -d '\n' < "$tmp/human.out") ||
    fail "check's human output has control bytes"
grep -qF '/odd/new\x0aline' "$tmp/human.out" || fail "check's human output does not escape a newline in a name"
/usr/bin/python3 - "$tmp/human.out" <<'PY' || fail "check's human output is not riskiest first (above)"
import sys
order = ["setuid", "capability", "device", "protected", "other-filesystem", "read-write",
         "write-write", "gone", "name", "selection", "stale-listing"]
lines = open(sys.argv[1], encoding="utf-8").read().splitlines()
kinds = [l.split()[0] for l in lines[1:] if l.split() and l.split()[0] in order]
ranks = [order.index(k) for k in kinds]
if len(kinds) != 16 + 5 + len([k for k in kinds if k == "stale-listing"]) or ranks != sorted(ranks) \
   or kinds[0] != "setuid" or not lines[-1].startswith("not ok"):
    print("\n".join(lines))
    sys.exit("kinds in this order: %s" % kinds)
# Among the write-write ones, those the SEE read first.
ww = [l for l in lines if l.startswith("write-write")]
if [("blind" in l) for l in ww] != sorted("blind" in l for l in ww):
    sys.exit("blind write-write conflicts before the others: %s" % ww)
PY

# ---------------------------------------------------------------- overrides
# Everything accepted and allowed, the mount point left out: ok.
name=overridden
run_check $name --json --accept / --allow setuid --allow capability --allow device \
    --allow protected --exclude /mnt/data
expect_status 0 "check with every conflict accepted and every finding allowed"
jq -e '.ok == true and .summary.blocking == 0 and .summary.conflicts == 16
       and .summary.policy == 4 and ([.conflicts[] | .accepted] | all)
       and ([.policy[] | .allowed] | all)
       and ([.policy[] | select(.kind == "other-filesystem")] | length == 0)' \
    "$tmp/$name.out" > /dev/null || { cat "$tmp/$name.out"; fail "overrides: not all taken"; }
grep -q '^ok: ' <("$merge" check "$ov" --host "$H" --accept / --allow setuid --allow capability \
    --allow device --allow protected --exclude /mnt/data) || fail "overrides: the human output does not say ok"
# A mount point cannot be allowed; an accept elsewhere leaves the rest.
name=other-fs
run_check $name --json --accept / --allow setuid --allow capability --allow device --allow protected
expect_status 1 "check with a change under a mount point"
jq -e '.summary.blocking == 1 and (.policy[] | select(.kind == "other-filesystem") | .allowed | not)' \
    "$tmp/$name.out" > /dev/null || { cat "$tmp/$name.out"; fail "other-filesystem was overridden"; }
name=narrow-allow
run_check $name --json --allow setuid=/usr/local/bin/suid --allow device=/opt
jq -e '(.policy[] | select(.kind == "setuid") | .allowed) and
       (.policy[] | select(.kind == "device") | .allowed | not)' "$tmp/$name.out" > /dev/null ||
    { cat "$tmp/$name.out"; fail "--allow KIND=PATH allows at PATH, and only there"; }

# ---------------------------------------------------------------- selection
# One change, and the conflicts of what the SEE read (accepted: they do
# not depend on the selection).
name=only
run_check $name --json --only /data/same-new.txt --accept /data
expect_status 0 "check --only a change without conflicts"
jq -e '.ok and .summary.selected == 1 and .summary.policy == 0
       and ([.conflicts[] | select(.kind != "read-write")] | length == 0)
       and ([.conflicts[] | select(.kind == "read-write")] | length == 4)' "$tmp/$name.out" > /dev/null ||
    { cat "$tmp/$name.out"; fail "--only: not just that change"; }
# What a change needs comes with it: the new directory it is in.
name=needs
run_check $name --json --only /newdir/file --accept /data
expect_status 0 "check --only a file in a new directory"
jq -e '.summary.selected == 2' "$tmp/$name.out" > /dev/null ||
    { cat "$tmp/$name.out"; fail "--only /newdir/file did not take /newdir with it"; }
name=needs-excluded
run_check $name --json --only /newdir/file --exclude /newdir --accept /
jq -e '.summary.selected == 0' "$tmp/$name.out" > /dev/null ||
    { cat "$tmp/$name.out"; fail "--exclude of a directory does not leave out what is in it"; }
# One name of a new file with two: cannot go alone, whatever is accepted.
name=link
run_check $name --json --only /hl/two --accept /
expect_status 1 "check --only one name of a new hard-linked file"
jq -e '.conflicts | map(select(.kind == "selection" and .path == "/hl/two"
       and (.detail | contains("/hl/one")) and (has("accepted") | not))) | length == 1' \
    "$tmp/$name.out" > /dev/null || { cat "$tmp/$name.out"; fail "a hard-link pair split by --only is not refused"; }
# --from: a list, by lines and by NUL (for a name with a newline).
printf '/data/new.conf\n\n/usr/local/bin/suid\n' > "$tmp/list"
name=from
run_check $name --json --from "$tmp/list"
expect_status 1 "check --from"
jq -e '.summary.selected == 2 and ([.conflicts[] | select(.kind == "name")] | length == 1)
       and ([.policy[] | select(.kind == "setuid")] | length == 1)' "$tmp/$name.out" > /dev/null ||
    { cat "$tmp/$name.out"; fail "--from did not take its two paths"; }
printf '/odd/new\nline\0' > "$tmp/list0"
name=from0
run_check $name --json --from "$tmp/list0" -z
jq -e '.summary.selected == 1 and (.conflicts | map(select(.kind == "name")) | .[0].path == "/odd/new\\x0aline")' \
    "$tmp/$name.out" > /dev/null || { cat "$tmp/$name.out"; fail "--from -z did not take the name with a newline"; }

# ---------------------------------------------------------------- policy
cat > "$tmp/policy" <<'POL'
# a policy of one's own
protect /data
allow device /data
POL
name=policy
run_check $name --json --policy "$tmp/policy" --protect /opt/old
jq -e '(.policy | map(select(.kind == "protected")) | map(.path) | index("/data/new.conf") != null)
       and (.policy | map(select(.kind == "protected" and .path == "/opt/old/x" and .rule == "/opt/old")) | length == 1)
       and (.policy | map(select(.kind == "protected" and .path == "/etc/shadow")) | length == 0)
       and (.policy[] | select(.kind == "device") | .allowed)' "$tmp/$name.out" > /dev/null ||
    { cat "$tmp/$name.out"; fail "--policy FILE and --protect are not what protects"; }

# ---------------------------------------------------------------- bad arguments
bad_args ()
{
    local what=$1 pattern=$2; shift 2
    st=0
    "$merge" "$@" > "$tmp/bad.out" 2> "$tmp/bad.err" || st=$?
    [ $st -eq 2 ] || { cat "$tmp/bad.out" "$tmp/bad.err"; fail "$what: exit status $st, expected 2"; }
    [ ! -s "$tmp/bad.out" ] || { cat "$tmp/bad.out"; fail "$what: printed an answer"; }
    grep -qiE -e "$pattern" "$tmp/bad.err" || { cat "$tmp/bad.err"; fail "$what: the message does not say /$pattern/"; }
}
bad_args "no --host" "needs --host" check "$ov"
bad_args "a missing host tree" "$tmp/no-such" check "$ov" --host "$tmp/no-such"
bad_args "a file as host tree" "Not a directory" check "$ov" --host "$base"
bad_args "--allow other-filesystem" "cannot be allowed" check "$ov" --host "$H" --allow other-filesystem
bad_args "--allow of an unknown kind" "not a kind" check "$ov" --host "$H" --allow everything
bad_args "a relative --only" "not absolute" check "$ov" --host "$H" --only data/rw.txt
bad_args "--exclude with .." '"\.\."' check "$ov" --host "$H" --exclude /data/../etc
bad_args "a missing --from" "$tmp/no-list" check "$ov" --host "$H" --from "$tmp/no-list"
printf '\n' > "$tmp/empty-list"
bad_args "an empty --from" "names no path" check "$ov" --host "$H" --from "$tmp/empty-list"
printf 'protect /etc\nprotekt /boot\n' > "$tmp/bad-policy"
bad_args "a policy with a typo" "line 2.*protekt" check "$ov" --host "$H" --policy "$tmp/bad-policy"
bad_args "-z without --from" "-z" check "$ov" --host "$H" -z
bad_args "--host for diff" "not an option of diff" diff "$ov" --host "$H"

# ---------------------------------------------------------------- nothing touched
[ "$(tree_state "$H")" = "$host_before" ] ||
    { diff <(echo "$host_before") <(tree_state "$H") | head -20; fail "check changed the host tree"; }
# Outside: not changed, not even read (atime, from 2020 and so updated
# by any read under relatime); its content is read only now.
[ "$(outside_state)" = "$outside_before" ] ||
    { diff <(echo "$outside_before") <(outside_state); fail "check changed or read what is outside the host tree"; }
[ "$(stat -c %X "$outside/dir/f")" = "$(date -d '2020-01-01 00:00:00' +%s)" ] ||
    fail "the canary's atime is not from 2020: the test of reads outside tests nothing"
[ "$(cat "$outside/dir/f")" = "the f of /srv/dir" ] || fail "the canary outside changed"

# ================================================================ discard
dov=$tmp/discard.ow
cp "$ov" "$dov"
sum=$(checksum "$dov")
discard_refused ()
{
    local what=$1 want=$2 pattern=$3; shift 3
    st=0
    "$@" > "$tmp/discard.out" 2> "$tmp/discard.err" || st=$?
    [ $st -eq "$want" ] || { cat "$tmp/discard.out" "$tmp/discard.err"; fail "discard $what: exit status $st, expected $want"; }
    grep -qiE -e "$pattern" "$tmp/discard.err" "$tmp/discard.out" ||
        { cat "$tmp/discard.out" "$tmp/discard.err"; fail "discard $what: the message does not say /$pattern/"; }
    [ -z "$sum" ] || [ "$(checksum "$dov")" = "$sum" ] || fail "discard $what changed the overlay"
}
discard_refused "off a terminal, without --yes" 2 "--yes" "$merge" discard "$dov" < /dev/null
discard_refused "answered no on a terminal" 1 "nothing discarded" \
    script -eqc "'$merge' discard '$dov'" /dev/null <<< "n"
old_id=$("$merge" info --json "$dov" | jq -r .id)
written=$("$merge" info --json "$dov" | jq -r .written_blocks)
serve held base="$base" overlay="$dov"
pid=$server_pid
sum=                            # the plugin itself rewrites the header
discard_refused "while a plugin holds the overlay" 2 "process $pid" "$merge" discard --yes "$dov"
stop_server $pid
[ "$("$merge" info --json "$dov" | jq -r '"\(.id) \(.written_blocks)"')" = "$old_id $written" ] ||
    fail "discard while a plugin held the overlay changed it"

# Through a symlink, which stays one; answered yes on a terminal.
ln -s discard.ow "$tmp/link.ow"
st=0
script -eqc "'$merge' discard '$tmp/link.ow'" /dev/null <<< "y" > "$tmp/discard.out" 2>&1 || st=$?
[ $st -eq 0 ] || { cat "$tmp/discard.out"; fail "discard answered yes on a terminal: exit status $st"; }
[ -L "$tmp/link.ow" ] || fail "discard through a symlink replaced the symlink"
ls -a "$tmp" | grep -q 'discard-' && fail "discard left its temporary file behind"
"$merge" info --json "$dov" > "$tmp/info.json" || fail "the discarded overlay cannot be read"
"$merge" info --json "$ov" > "$tmp/info-old.json"
/usr/bin/python3 - "$tmp/info.json" "$tmp/info-old.json" "$old_id" <<'PY' || fail "discard did not leave a fresh overlay for the same base (above)"
import json, sys
new, old, old_id = json.load(open(sys.argv[1])), json.load(open(sys.argv[2])), sys.argv[3]
bad = [k for k in ("block_size", "compression", "track_reads") if new[k] != old[k]]
bad += [k for k in ("name", "size", "fingerprint") if new["base"][k] != old["base"][k]]
if new["written_blocks"] or new["read_blocks"] or new["state"] != "clean" or new["id"] == old_id \
   or new["base"]["status"] != "matches":
    bad.append("written %d, read %d, %s, id %s" % (new["written_blocks"], new["read_blocks"],
                                                   new["state"], new["id"]))
if bad:
    sys.exit("after discard: %s" % bad)
PY
"$merge" diff --json "$dov" | jq -e '.changes == []' > /dev/null || fail "the discarded overlay still has changes"
# A fresh SEE: the plugin serves it, and it shows the base.
serve again base="$base" overlay="$dov"
pid=$server_pid
attach again "$tmp/mnt2"
[ "$(cat "$tmp/mnt2/etc/shadow")" = "root:*:19000:0:99999:7:::" ] || fail "the fresh SEE view is not the base"
[ -e "$tmp/mnt2/data/ww-del.txt" ] && [ ! -e "$tmp/mnt2/data/new.conf" ] || fail "the fresh SEE view has the old changes"
detach again
stop_server $pid
st=0
"$merge" discard --yes --json "$dov" > "$tmp/discard.json" || st=$?
[ $st -eq 0 ] && jq -e '.discarded == true and (.id | length == 36)' "$tmp/discard.json" > /dev/null ||
    { cat "$tmp/discard.json"; fail "discard --yes --json"; }

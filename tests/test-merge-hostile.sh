#!/usr/bin/env bash
# oneway-merge on crafted SEE views (DESIGN.md, "Threat model"): corrupt
# metadata gets a clear error (exit 2) or findings with the answer
# (exit 0), never a crash, a hang, or unbounded memory.
#
# Each case copies a small ext4 base image, crafts the copy with
# debugfs or raw byte patches (tests/merge-hostile.py), and writes the
# blocks that differ into a fresh overlay through the plugin, as a
# hostile SEE would.  Then audit, diff (human and --json) and sometimes
# cat run under a time limit (60 s) and a memory limit (1 GiB); their
# JSON must keep its structural promises (classes add up to
# written_blocks, every written block in exactly one range).
#
# Cases: extent trees that loop, share subtrees exponentially (in one
# file, and in 150 files: diff must then refuse rather than list with
# holes), or run past the end; a directory linked into its own subtree
# and a ".." chain that loops; names with '/' and NUL; a block count
# and an inode table past the end of the disk; a block claimed by two
# inodes; a file's block rewritten behind its inode and an unowned block
# marked in use (nothing hides); random bytes over the inode table, the
# group descriptors, a directory block; a journal that needs recovery;
# swap and random bytes instead of ext; MBR and GPT disks with the
# filesystem in partition 2, and two ext partitions (--partition N).
. tests/functions.sh
require nbdkit mke2fs debugfs dumpe2fs mkswap timeout
require_nbd_python
hx=("$nbdpy" "$abs_top_srcdir/tests/merge-hostile.py")
export LC_ALL=C

# ---------------------------------------------------------------- helpers
# dbg IMG REQUEST...: debugfs -w, one run for all the requests; fails
# when debugfs complains.
dbg ()
{
    local img=$1; shift
    printf '%s\n' "$@" > "$tmp/dbg.cmds"
    debugfs -w -f "$tmp/dbg.cmds" "$img" >"$tmp/dbg.out" 2>&1 ||
        { cat "$tmp/dbg.out"; fail "debugfs $* failed"; }
    if grep -v '^debugfs' "$tmp/dbg.out" | grep -qiE 'not found|invalid|error|usage|bad |couldn'; then
        cat "$tmp/dbg.out"; fail "debugfs complained about: $*"
    fi
}
# ino IMG PATH: an inode number.  blk IMG PATH N: physical block of
# logical block N.  itab IMG INO: byte offset of the inode in IMG.
ino () { debugfs -R "stat $2" "$1" 2>/dev/null | sed -n 's/^Inode: \([0-9]*\).*/\1/p'; }
blk () { debugfs -R "bmap $2 $3" "$1" 2>/dev/null; }
itab ()
{
    local b o
    read -r b o < <(debugfs -R "imap <$2>" "$1" 2>/dev/null |
                    sed -n 's/.*located at block \([0-9]*\), offset \(0x[0-9a-f]*\).*/\1 \2/p')
    [ -n "$b" ] || fail "imap <$2> found nothing"
    echo $(( b * 4096 + o ))
}
hxr () { "${hx[@]}" "$@" || fail "merge-hostile.py $* failed"; }

# new_see NAME [IMG]: $tmp/NAME.img, a copy of the base (or IMG) to craft.
new_see () { see=$tmp/$1.img; cp "${2:-$base}" "$see"; }

# push NAME [BASE]: the overlay $tmp/NAME.ow holds what differs between
# BASE and $tmp/NAME.img, written through the plugin.
push ()
{
    local name=$1
    rm -f "$tmp/$name.ow"
    overlay_of_image "${2:-$base}" "$tmp/$name.img" "$tmp/$name.ow"
    rm -f "$tmp/$name.img"
}

# m NAME CMD [ARGS...]: oneway-merge CMD $tmp/NAME.ow ARGS, bounded in
# time and memory.  Sets $out, $err, $st.  Anything but exit 0 or 2 fails.
m ()
{
    local name=$1 cmd=$2 tag; shift 2
    tag=$name-$cmd
    [ $# = 0 ] || tag=${tag}_$(printf '%s' "$*" | tr -cd 'a-zA-Z0-9')
    out=$tmp/$tag.out err=$tmp/$tag.err st=0
    (
        # The sanitizers reserve terabytes of address space.
        [ -n "$sanitizer_preload" ] || ulimit -v $((1024 * 1024))
        exec timeout -k 5 60 "$merge" "$cmd" "$tmp/$name.ow" "$@"
    ) > "$out" 2> "$err" || st=$?
    case $st in
        0|2) ;;
        124|137) fail "$name: oneway-merge $cmd $* did not finish in 60 s" ;;
        *) cat "$err" | head -20; fail "$name: oneway-merge $cmd $* exited $st (a crash?)" ;;
    esac
    if [ $st = 2 ]; then
        [ -s "$err" ] || fail "$name: oneway-merge $cmd $* exited 2 without a message"
    fi
    ! grep -qiE 'sanitizer|segmentation|assert' "$err" ||
        { cat "$err"; fail "$name: oneway-merge $cmd $*: a crash report"; }
    ! tr -d '\n' < "$out" | grep -q '[[:cntrl:]]' ||
        fail "$name: oneway-merge $cmd $* printed control bytes"
}

# review NAME: audit and diff, human and --json, with the structural
# checks.  Sets audit_st, diff_st; the outputs are in
# $tmp/NAME-{audit,diff}{,_json}.{out,err}.
review ()
{
    local name=$1
    m "$name" blocks --json
    [ $st = 0 ] || fail "$name: blocks failed: $(cat "$err")"
    cp "$out" "$tmp/$name-blocks.json"
    m "$name" audit --json
    audit_st=$st
    if [ $st = 0 ]; then
        "${hx[@]}" check-audit "$out" "$tmp/$name-blocks.json" > "$tmp/$name-classes" ||
            fail "$name: audit --json breaks its promises ($out)"
        echo "$name: audit: $(cat "$tmp/$name-classes")"
    fi
    m "$name" audit
    [ $st = $audit_st ] || fail "$name: audit exited $st, audit --json $audit_st"
    m "$name" diff --json
    diff_st=$st
    if [ $st = 0 ]; then
        "${hx[@]}" check-diff "$out" > "$tmp/$name-changes" ||
            fail "$name: diff --json breaks its promises ($out)"
        echo "$name: diff: $(head -c 300 "$tmp/$name-changes" | tr '\n' ';')"
    fi
    m "$name" diff
    [ $st = $diff_st ] || fail "$name: diff exited $st, diff --json $diff_st"
    echo "$name: stderr: $(head -c 400 "$tmp/$name-diff.err" | tr '\n' ' ')"
}

# has FILE PATTERN WHAT: FILE matches the extended regex PATTERN.
has ()
{
    grep -qiE -- "$2" "$1" || { echo "--- $1"; head -c 3000 "$1"; fail "$3"; }
}
jget () { "$nbdpy" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# ---------------------------------------------------------------- the base
tree=$tmp/tree
mkdir -p "$tree"/{frag,a/b/c,data,dir,hide,many}
# A fragmented file: 21 extents, too many for the inode, so its tree
# has a leaf block (depth 1).
for i in $(seq 0 2 40); do
    dd if=/dev/urandom of="$tree/frag/file" bs=4096 seek=$i count=1 conv=notrunc status=none
done
echo one > "$tree/data/f1"
head -c 12288 /dev/urandom > "$tree/data/f2"
head -c 8192 /dev/urandom > "$tree/data/victim"
echo keep > "$tree/a/b/c/x"
for i in $(seq 1 20); do echo "$i" > "$tree/dir/entry-$i"; done
for i in $(seq 1 150); do echo "$i" > "$tree/many/$i"; done
# More directories than paths.c first makes room for, in the root: all
# are named before anything below them.
for i in $(seq 1 100); do mkdir "$tree/d$i"; done
base=$tmp/base.img
mke2fs -q -t ext4 -b 4096 -g 2048 -d "$tree" -E lazy_itable_init=0,lazy_journal_init=0 "$base" 32M
rm -rf "$tree"
remember_base "$base"
debugfs -R "stat /frag/file" "$base" 2>/dev/null | grep -q '(ETB0)' ||
    fail "/frag/file has no extent tree block: the extent cases test nothing"

frag_ino=$(ino "$base" /frag/file)
frag_leaf=$(debugfs -R "stat /frag/file" "$base" 2>/dev/null | sed -n 's/.*(ETB0):\([0-9]*\).*/\1/p')
[ -n "$frag_ino" ] && [ -n "$frag_leaf" ] || fail "cannot find /frag/file's extent block"
fs_blocks=$(dumpe2fs -h "$base" 2>/dev/null | sed -n 's/^Block count: *//p')

# ---------------------------------------------------------------- 1. extent trees
# 1a. An index node that points to itself: the root (now depth 2) leads
# to the leaf block, made an index node whose 340 entries all point back
# to itself.
case_extent_selfloop ()
{
    new_see extloop
    hxr extent-index "$see" "$frag_leaf" "$frag_leaf" 1 340
    dbg "$see" "sif <$frag_ino> block[1] 0x20004"
    push extloop
    review extloop
    [ $audit_st = 0 ] || fail "extloop: audit refused: $(cat "$tmp/extloop-audit.err")"
    has "$tmp/extloop-audit.err" "inode $frag_ino" "extloop: audit's warnings do not name inode $frag_ino"
    [ $diff_st = 0 ] || fail "extloop: diff refused: $(cat "$tmp/extloop-diff.err")"
    has "$tmp/extloop-diff_json.out" '"/frag/file"' "extloop: diff does not list /frag/file"
    m extloop cat /frag/file
    echo "extloop: cat exited $st: $(head -c 300 "$err")"
}

# 1b. No loop, but shared subtrees: the root (depth 3) leads to index
# node A, whose 340 entries all lead to index node B, whose 340 entries
# all lead to the file's real leaf: 340 * 340 * 21 extents to visit, a
# count that grows exponentially with the depth.  A and B are free blocks.
case_extent_blowup ()
{
    local a=$((fs_blocks - 100)) b=$((fs_blocks - 99))
    debugfs -R "testb $a 2" "$base" 2>/dev/null | grep -q 'marked in use' &&
        fail "blocks $a and $b are in use in the base"
    new_see extblow
    hxr extent-index "$see" $a $b 2 340
    hxr extent-index "$see" $b "$frag_leaf" 1 340
    dbg "$see" "sif <$frag_ino> block[1] 0x30004" "sif <$frag_ino> block[4] $a"
    push extblow
    review extblow
    [ $audit_st = 0 ] || fail "extblow: audit refused: $(cat "$tmp/extblow-audit.err")"
    has "$tmp/extblow-audit.err" "inode $frag_ino .*shares subtrees or loops" "extblow: audit does not say the extent tree shares or loops"
    [ $diff_st = 0 ] || fail "extblow: diff refused: $(cat "$tmp/extblow-diff.err")"
    has "$tmp/extblow-diff.err" "inode $frag_ino .*shares subtrees or loops" "extblow: diff does not say the extent tree shares or loops"
    m extblow cat /frag/file
    echo "extblow: cat exited $st: $(head -c 300 "$err")"
}

# 1c. The same shared tree under 150 files: their walks together would
# cost without bound, so the global budget ends them; diff must then
# refuse rather than give a change list with holes in it.
case_extent_blowup_many ()
{
    local a=$((fs_blocks - 100)) b=$((fs_blocks - 99)) i reqs=()
    new_see extmany
    hxr extent-index "$see" $a $b 2 340
    hxr extent-index "$see" $b "$frag_leaf" 1 340
    for i in $(seq 1 150); do
        reqs+=("sif /many/$i block[1] 0x30004" "sif /many/$i block[4] $a"
               "sif /many/$i block[5] 0")
    done
    dbg "$see" "${reqs[@]}"
    push extmany
    review extmany
    [ $audit_st = 0 ] || fail "extmany: audit refused: $(cat "$tmp/extmany-audit.err")"
    has "$tmp/extmany-audit.err" "add up to more entries than the filesystem has blocks" \
        "extmany: audit does not say the walks were stopped"
    [ $diff_st = 2 ] || fail "extmany: diff exited $diff_st: with the walks stopped, its list would miss changes"
    has "$tmp/extmany-diff.err" "would miss changes" "extmany: diff does not say why it gives no list"
    [ ! -s "$tmp/extmany-diff_json.out" ] || fail "extmany: diff --json printed a list all the same"
}

# 1d. Extents past the end of the filesystem: one starts far beyond it,
# one starts inside and runs past the end.
case_extent_past_end ()
{
    local e=$((frag_leaf * 4096 + 12))
    new_see extend
    hxr poke "$see" $((e + 12 * 1 + 8)) '<I' 0x7ffffff0
    hxr poke "$see" $((e + 12 * 2 + 4)) '<H' 100
    hxr poke "$see" $((e + 12 * 2 + 8)) '<I' $((fs_blocks - 10))
    push extend
    review extend
    [ $audit_st = 0 ] || fail "extend: audit refused: $(cat "$tmp/extend-audit.err")"
    has "$tmp/extend-audit.err" "past the end of the filesystem" "extend: audit does not say an extent runs past the end"
    has "$tmp/extend-audit.err" "2147483632" "extend: audit does not name the block far past the end"
    [ $diff_st = 0 ] || fail "extend: diff refused: $(cat "$tmp/extend-diff.err")"
    has "$tmp/extend-diff_json.out" '"/frag/file"' "extend: diff does not list /frag/file"
    m extend cat /frag/file
    echo "extend: cat exited $st: $(head -c 300 "$err")"
}

# ---------------------------------------------------------------- 2. directory cycles
# 2a. A link to a directory inside its own subtree: /a/b/c/loop -> /a.
case_dir_link_cycle ()
{
    new_see dirln
    dbg "$see" "ln /a /a/b/c/loop" "write /etc/hostname /a/b/c/new"
    push dirln
    review dirln
    [ $diff_st = 0 ] || fail "dirln: diff refused: $(cat "$tmp/dirln-diff.err")"
    has "$tmp/dirln-diff_json.out" '"/a/b/c/loop"' "dirln: diff does not list the link /a/b/c/loop"
    has "$tmp/dirln-diff_json.out" '"/a/b/c/new"' "dirln: diff does not list /a/b/c/new"
    [ $audit_st = 0 ] || fail "dirln: audit refused: $(cat "$tmp/dirln-audit.err")"
    m dirln cat /a/b/c/loop/b/c/loop/b/c/x
    [ $st = 0 ] || fail "dirln: cat through the loop failed: $(cat "$err")"
}

# 2b. ".." of /a points to its grandchild /a/b/c: the ".." chains of
# /a, /a/b and /a/b/c loop.  A file changes in /a/b/c, to be named.
case_dotdot_cycle ()
{
    local c x
    c=$(ino "$base" /a/b/c)
    new_see dotdot
    hxr poke "$see" $(( $(blk "$base" /a 0) * 4096 + 12 )) '<I' "$c"
    x=$(blk "$base" /a/b/c/x 0)
    printf 'changed behind a looping ..\n' | dd of="$see" bs=4096 seek="$x" conv=notrunc status=none
    push dotdot
    review dotdot
    [ $diff_st = 0 ] || fail "dotdot: diff refused: $(cat "$tmp/dotdot-diff.err")"
    has "$tmp/dotdot-diff_json.out" '"/a/b/c/x"' "dotdot: diff does not list the changed file /a/b/c/x"
    [ $audit_st = 0 ] || fail "dotdot: audit refused: $(cat "$tmp/dotdot-audit.err")"
    # The audit names /a's written block by its ".." chain: it loops.
    has "$tmp/dotdot-audit.err" 'chain loops' "dotdot: audit does not say the \"..\" chain loops"
}

# ---------------------------------------------------------------- 3. odd names
# '/' and NUL inside names of a directory block: findings, entries left out.
case_bad_names ()
{
    local d
    d=$(blk "$base" /dir 0)
    new_see names
    hxr rename-entry "$see" "$d" entry-5 ent/y-5
    hxr rename-entry "$see" "$d" entry-6 'ent\x00y-6'
    push names
    review names
    [ $diff_st = 0 ] || fail "names: diff refused: $(cat "$tmp/names-diff.err")"
    has "$tmp/names-diff.err" 'ent/y-5.*no path can name|no path can name.*ent/y-5' "names: no finding for the name with '/'"
    has "$tmp/names-diff.err" 'ent\\x00y-6' "names: no finding for the name with NUL"
    ! jget "$tmp/names-diff_json.out" "[c['path'] for c in d['changes']]" | grep -qE 'ent/y|ent\\\\x00y' ||
        fail "names: diff lists a path made of a name with '/' or NUL"
    ! grep -qE 'ent/y|ent\\x00y' "$tmp/names-diff.out" ||
        fail "names: diff's human output lists a path made of a name with '/' or NUL"
    [ $audit_st = 0 ] || fail "names: audit refused: $(cat "$tmp/names-audit.err")"
}

# ---------------------------------------------------------------- 4. counts past the end
case_blocks_count ()
{
    new_see bcount
    hxr poke "$see" $((1024 + 4)) '<I' $((fs_blocks * 16))
    push bcount
    review bcount
    [ $audit_st = 2 ] && [ $diff_st = 2 ] || fail "bcount: audit exited $audit_st, diff $diff_st; expected 2"
    has "$tmp/bcount-diff.err" 'past the end' "bcount: diff does not say the filesystem runs past the end of the disk"
    has "$tmp/bcount-audit.err" "$((fs_blocks * 16))" "bcount: audit does not name the block count"
}

# The inode table of group 1 placed far past the end, in the group
# descriptor (64 bytes each with 64bit; bg_inode_table_lo at 8).
case_itable_past_end ()
{
    new_see itable
    hxr poke "$see" $((4096 + 64 + 8)) '<I' 0x7fffff00
    push itable
    review itable
    has "$tmp/itable-audit.err" 'inode table|outside|past the end|2147483392' \
        "itable: audit names no problem with the inode table"
}

# ---------------------------------------------------------------- 5. double claims
# /data/f1's extent is pointed at /data/f2's first block, and that block
# is rewritten: two inodes claim it.
case_double_claim ()
{
    local f1 f2 b2
    f1=$(ino "$base" /data/f1)
    f2=$(ino "$base" /data/f2)
    b2=$(blk "$base" /data/f2 0)
    new_see claim
    dbg "$see" "sif /data/f1 block[5] $b2"
    head -c 4096 /dev/urandom | dd of="$see" bs=4096 seek="$b2" conv=notrunc status=none
    push claim
    review claim
    [ $audit_st = 0 ] || fail "claim: audit refused: $(cat "$tmp/claim-audit.err")"
    has "$tmp/claim-audit.err" "block $b2 is claimed by inode ($f1 and by inode $f2|$f2 and by inode $f1)" \
        "claim: audit does not say block $b2 is claimed by inodes $f1 and $f2"
    [ $diff_st = 0 ] || fail "claim: diff refused: $(cat "$tmp/claim-diff.err")"
    has "$tmp/claim-diff_json.out" '"/data/f1"' "claim: diff does not list /data/f1"
    has "$tmp/claim-diff_json.out" '"/data/f2".*"content"' "claim: diff does not list /data/f2's new content"
}

# ---------------------------------------------------------------- 6. nothing hides
# A file's data block rewritten without touching its inode; a free
# block written and marked in use, owned by nobody.
case_nothing_hides ()
{
    local v b free=$((fs_blocks - 200))
    v=$(ino "$base" /data/victim)
    b=$(blk "$base" /data/victim 1)
    debugfs -R "testb $free" "$base" 2>/dev/null | grep -q 'not in use' || fail "block $free is in use in the base"
    new_see hides
    head -c 4096 /dev/urandom | dd of="$see" bs=4096 seek="$b" conv=notrunc status=none
    head -c 4096 /dev/urandom | dd of="$see" bs=4096 seek="$free" conv=notrunc status=none
    dbg "$see" "setb $free"
    push hides
    review hides
    [ $audit_st = 0 ] && [ $diff_st = 0 ] || fail "hides: audit exited $audit_st, diff $diff_st"
    has "$tmp/hides-diff_json.out" '"change": "modified", "path": "/data/victim", "type": "file", "what": \["content"\]' \
        "hides: diff does not list /data/victim as modified in content (only)"
    [ "$(jget "$tmp/hides-audit_json.out" "[r for r in d['ranges'] if r.get('start') == $b]")" = \
      "[{'start': $b, 'count': 1, 'class': 'file-data', 'inode': $v, 'path': '/data/victim', 'file_block': 1}]" ] ||
        fail "hides: audit does not give block $b to /data/victim: $(cat "$tmp/hides-audit_json.out")"
    [ "$(jget "$tmp/hides-audit_json.out" "d['inode_scan'], d['classes']['unattributed']")" = "(True, 1)" ] ||
        fail "hides: audit did not scan, or does not count one unattributed block"
    [ "$(jget "$tmp/hides-audit_json.out" "[r['class'] for r in d['ranges'] if r.get('start') == $free]")" = "['unattributed']" ] ||
        fail "hides: block $free is not unattributed"
    has "$tmp/hides-audit.out" '^UNATTRIBUTED: 1 ' "hides: audit's human output does not show the unattributed block prominently"
    # The scan and the walk that names the owners, under valgrind (not
    # in the sanitizer build, which valgrind cannot run: the plain
    # build does it).
    if [ -n "$sanitizer_preload" ]; then
        :
    elif ! command -v valgrind >/dev/null; then
        skip_case "valgrind is not installed: case hides under valgrind"
    else
        valgrind -q --error-exitcode=9 "$abs_top_builddir/merge/oneway-merge" audit "$tmp/hides.ow" \
            > "$tmp/vg.out" 2> "$tmp/vg.err" || { head -40 "$tmp/vg.err"; fail "hides: audit under valgrind"; }
    fi
}

# ---------------------------------------------------------------- 7. garbage
# Random bytes over group 0's whole inode table, over the group
# descriptors, over a directory block.
case_garbage_itable ()
{
    local first last
    read -r first last < <(dumpe2fs "$base" 2>/dev/null |
        sed -n 's/^ *Inode table at \([0-9]*\)-\([0-9]*\).*/\1 \2/p' | head -n 1)
    [ -n "$last" ] || fail "no inode table in dumpe2fs's output"
    new_see gitab
    hxr random "$see" $((first * 4096)) $(( (last - first + 1) * 4096 ))
    push gitab
    review gitab
    [ $audit_st = 2 ] || [ -s "$tmp/gitab-audit.err" ] || fail "gitab: audit found nothing wrong"
}

case_garbage_gdt ()
{
    new_see ggdt
    hxr random "$see" 4096 4096
    push ggdt
    review ggdt
    [ $audit_st = 2 ] || [ -s "$tmp/ggdt-audit.err" ] || fail "ggdt: audit found nothing wrong"
}

case_garbage_dir ()
{
    new_see gdir
    hxr random "$see" $(( $(blk "$base" /dir 0) * 4096 )) 4096
    push gdir
    review gdir
    [ $diff_st = 0 ] || fail "gdir: diff refused: $(cat "$tmp/gdir-diff.err")"
    has "$tmp/gdir-diff.err" "directory inode $(ino "$base" /dir)" "gdir: diff has no finding about the directory"
}

# ---------------------------------------------------------------- 8. journal
# The SEE stopped with its journal holding transactions: reading the
# filesystem as it is would show it half-updated.
case_needs_recovery ()
{
    local cmd
    new_see journal
    dbg "$see" "feature needs_recovery" "write /etc/hostname /data/new"
    push journal
    for cmd in diff audit; do
        m journal $cmd
        [ $st = 2 ] || fail "journal: $cmd of a filesystem that needs recovery exited $st, expected 2"
        has "$err" "oneway-merge recover" "journal: $cmd does not point to oneway-merge recover"
        m journal $cmd --ignore-journal --json
        [ $st = 0 ] || fail "journal: $cmd --ignore-journal exited $st: $(cat "$err")"
    done
    has "$tmp/journal-diff_ignorejournaljson.out" '"/data/new"' "journal: diff --ignore-journal does not list /data/new"
    if "$merge" --help | grep -q '^ *recover'; then
        m journal recover
        [ $st = 0 ] || fail "journal: recover exited $st: $(cat "$err")"
        review journal
        [ $diff_st = 0 ] || fail "journal: diff after recover exited $diff_st"
        has "$tmp/journal-diff_json.out" '"/data/new"' "journal: diff after recover does not list /data/new"
    else
        echo "journal: oneway-merge has no recover command yet: not tested"
    fi
}

# ---------------------------------------------------------------- 9. not ext
# not_ext NAME WHAT-PATTERN: audit answers at the block level, diff
# refuses but still lists the written blocks.
not_ext ()
{
    local name=$1 what=$2
    review "$name"
    [ $audit_st = 0 ] || fail "$name: audit exited $audit_st: $(cat "$tmp/$name-audit.err")"
    [ "$(jget "$tmp/$name-audit_json.out" "d['filesystem']")" = None ] || fail "$name: audit's filesystem is not null"
    jget "$tmp/$name-audit_json.out" "d['content']" | grep -qiE -- "$what" ||
        fail "$name: audit's content does not say /$what/: $(jget "$tmp/$name-audit_json.out" "d['content']")"
    has "$tmp/$name-audit.out" "$what" "$name: audit's human output does not say /$what/"
    [ $diff_st = 2 ] || fail "$name: diff exited $diff_st, expected 2"
    has "$tmp/$name-diff.err" "not understood" "$name: diff does not say the content is not understood"
    has "$tmp/$name-diff.err" "$what" "$name: diff does not say what the content is"
    [ "$(jget "$tmp/$name-diff_json.out" "d['written']")" = "$(jget "$tmp/$name-blocks.json" "d['written']")" ] ||
        fail "$name: diff --json does not list the written blocks"
}

case_swap ()
{
    new_see swap
    mkswap "$see" >/dev/null 2>&1 || fail "mkswap failed"
    push swap
    not_ext swap 'swap'
}

case_random ()
{
    new_see rnd
    hxr random "$see" 0 $(( $(stat -c %s "$base") ))
    push rnd
    not_ext rnd 'no filesystem'
}

# A new filesystem in the same place, of another block size: files at
# the same inodes as the base's, their blocks counted otherwise.
case_new_block_size ()
{
    new_see newbs
    mkdir -p "$tmp/newbs-tree/frag" "$tmp/newbs-tree/data"
    head -c 100000 /dev/urandom > "$tmp/newbs-tree/frag/file"
    echo one > "$tmp/newbs-tree/data/f1"
    mke2fs -q -F -t ext4 -b 1024 -d "$tmp/newbs-tree" \
        -E lazy_itable_init=0,lazy_journal_init=0 "$see" 32M || fail "mke2fs -b 1024 failed"
    push newbs
    review newbs
    [ $audit_st = 2 ] && [ $diff_st = 2 ] ||
        fail "newbs: audit exited $audit_st, diff $diff_st; expected 2"
    has "$tmp/newbs-diff.err" "1024-byte blocks.*new filesystem" \
        "newbs: diff does not say the SEE made a new filesystem of other blocks"
}

# ---------------------------------------------------------------- 10. partition tables
# disk LABEL P1-EXT: a 48 MiB disk with partition 1 (1-9 MiB) and
# partition 2 (9-41 MiB, the base's ext4 filesystem); partition 1
# holds another ext4 when P1-EXT is yes.
p2_off=$((9 * 1024 * 1024))
make_disk ()
{
    local img=$tmp/disk-$1-$2.img
    truncate -s 48M "$img"
    printf 'label: %s\nstart=2048, size=16384\nstart=18432, size=65536\n' "$1" |
        sfdisk -q "$img" >/dev/null || fail "sfdisk ($1) failed"
    dd if="$base" of="$img" bs=1M seek=9 conv=notrunc status=none
    if [ "$2" = yes ]; then
        mke2fs -q -t ext4 -E offset=$((1024 * 1024)) "$img" 8M >/dev/null ||
            fail "mke2fs in partition 1 failed"
    fi
    echo "$img"
}

# partitions LABEL: the SEE changes files in partition 2 and the disk
# signature in the partition table.
case_partitions ()
{
    local label=$1 disk name=part-$1 fs=$tmp/p2.img
    disk=$(make_disk "$label" no)
    remember_base "$disk"
    cp "$base" "$fs"
    dbg "$fs" "write /etc/hostname /data/in-partition" "rm /data/f1"
    new_see "$name" "$disk"
    dd if="$fs" of="$see" bs=1M seek=9 conv=notrunc status=none
    rm -f "$fs"
    hxr poke "$see" 440 '<I' 0x12345678
    push "$name" "$disk"
    review "$name"
    [ $diff_st = 0 ] && [ $audit_st = 0 ] || fail "$name: diff exited $diff_st, audit $audit_st"
    has "$tmp/$name-diff_json.out" '"added", "path": "/data/in-partition"' "$name: diff misses /data/in-partition"
    has "$tmp/$name-diff_json.out" '"deleted", "path": "/data/f1"' "$name: diff misses the deletion of /data/f1"
    [ "$(jget "$tmp/$name-audit_json.out" "d['partition'], d['fs_offset']")" = "(2, $p2_off)" ] ||
        fail "$name: audit does not say partition 2 at byte $p2_off"
    [ "$(jget "$tmp/$name-audit_json.out" "[r['disk_offset'] for r in d['ranges'] if r['class'] == 'outside']")" = "[0]" ] ||
        fail "$name: the write to the partition table is not class outside at disk offset 0"
    [ "$(jget "$tmp/$name-audit_json.out" "d['classes']['outside']")" -ge 1 ] || fail "$name: no outside blocks counted"
}
case_mbr () { case_partitions dos; }
case_gpt () { case_partitions gpt; }

# Two ext partitions: which one is meant is the user's to say.
case_two_ext ()
{
    local disk name=twoext
    disk=$(make_disk dos yes)
    remember_base "$disk"
    new_see "$name" "$disk"
    cp "$base" "$tmp/p2.img"
    dbg "$tmp/p2.img" "write /etc/hostname /data/second"
    dd if="$tmp/p2.img" of="$see" bs=1M seek=9 conv=notrunc status=none
    rm -f "$tmp/p2.img"
    push "$name" "$disk"
    for cmd in diff audit; do
        m "$name" $cmd
        [ $st = 2 ] || fail "$name: $cmd with two ext partitions exited $st, expected 2"
        has "$err" "--partition" "$name: $cmd does not ask for --partition N"
    done
    m "$name" diff --partition 2 --json
    [ $st = 0 ] || fail "$name: diff --partition 2 exited $st: $(cat "$err")"
    has "$out" '"/data/second"' "$name: diff --partition 2 misses /data/second"
    m "$name" diff --partition 1 --json
    [ $st = 0 ] || fail "$name: diff --partition 1 exited $st: $(cat "$err")"
    [ "$(jget "$out" "d['changes']")" = "[]" ] || fail "$name: partition 1 shows changes"
    m "$name" diff --partition 3
    [ $st = 2 ] || fail "$name: diff --partition 3 (there is none) exited $st"
}

all_cases="extent_selfloop extent_blowup extent_blowup_many extent_past_end
           dir_link_cycle dotdot_cycle bad_names blocks_count itable_past_end
           double_claim nothing_hides garbage_itable garbage_gdt garbage_dir
           needs_recovery new_block_size swap random mbr gpt two_ext"
if ! command -v sfdisk >/dev/null; then
    skip_case "sfdisk (package fdisk) is not installed: cases mbr gpt two_ext"
    all_cases=${all_cases//mbr gpt two_ext/}
fi
# HOSTILE_CASES="..." runs only those (for working on one).
for c in ${HOSTILE_CASES:-$all_cases}; do
    echo "== $c"
    SECONDS=0
    case_$c
    echo "   ($SECONDS s)"
done

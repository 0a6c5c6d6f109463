#!/usr/bin/env bash
# oneway: the workload of tests/test-merge-commit-faithful.sh.
# Copyright (C) 2026 The oneway authors.  BSD-3-Clause, see COPYING.
#
#   commit-workload.sh --tree DIR    make the starting tree T in DIR (new)
#   commit-workload.sh --deb FILE    build the local package it installs
#   commit-workload.sh ROOT DEB      run the workload on the tree ROOT
#
# The workload does everything relative to ROOT, with the host's tools,
# never chroot-ing into it (ROOT holds no binaries): a user added with
# useradd --prefix, a package installed with dpkg --root, files added,
# appended, rewritten, truncated, deleted, renamed (a chain, a swap, a
# directory, over another file), hard links, symlinks, xattrs, POSIX
# ACLs, sparse files, a fifo, a set-uid file, owners, modes and times.
# Run on two copies of T it gives the same tree save for what depends on
# the time it ran (mtimes, dpkg's log): content is never random.  Only
# the host's /var/log is hidden from useradd (it would reset the new
# user's record in the host's lastlog and faillog).
set -euo pipefail

# Every object of T has this mtime: whole seconds, as mke2fs -d keeps.
t_time='2021-03-04 05:06:07 UTC'

# pattern WORD BYTES: that many bytes of WORD repeated, one a line.
pattern ()
{
    yes "$1" | head -c "$2" || true
}

make_tree ()
{
    local t=$1 i
    [ ! -e "$t" ] || { echo "$0: $t exists" >&2; exit 2; }
    mkdir -p "$t"
    cd "$t"
    mkdir -p etc/default etc/skel etc/app home root tmp usr/bin usr/lib/app usr/share/doc \
             var/lib/dpkg/{info,updates,triggers,alternatives} var/log var/cache/app \
             data/del-dir/sub data/olddir/sub data/acl-dir data/xa data/hl data/links data/sparse \
             srv/www
    chmod 0700 root
    chmod 1777 tmp

    # What useradd reads and writes.
    cat > etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
www-data:x:33:33:www-data:/var/www:/usr/sbin/nologin
olduser:x:1000:1000:An old user:/home/olduser:/bin/sh
EOF
    cat > etc/group <<'EOF'
root:x:0:
daemon:x:1:
www-data:x:33:
users:x:100:olduser
olduser:x:1000:
EOF
    cat > etc/shadow <<'EOF'
root:*:19000:0:99999:7:::
daemon:*:19000:0:99999:7:::
www-data:*:19000:0:99999:7:::
olduser:!:19000:0:99999:7:::
EOF
    cat > etc/gshadow <<'EOF'
root:*::
daemon:*::
www-data:*::
users:*::olduser
olduser:!::
EOF
    chmod 0640 etc/shadow etc/gshadow
    chgrp 42 etc/shadow etc/gshadow
    cat > etc/login.defs <<'EOF'
MAIL_DIR        /var/mail
PASS_MAX_DAYS   99999
PASS_MIN_DAYS   0
PASS_WARN_AGE   7
UID_MIN         1000
UID_MAX         60000
SYS_UID_MIN     100
SYS_UID_MAX     999
GID_MIN         1000
GID_MAX         60000
SYS_GID_MIN     100
SYS_GID_MAX     999
CREATE_HOME     yes
UMASK           022
USERGROUPS_ENAB yes
ENCRYPT_METHOD  SHA512
EOF
    printf 'SHELL=/bin/sh\n' > etc/default/useradd
    printf '# ~/.profile\nexport PATH=/usr/bin:/bin\n' > etc/skel/.profile
    printf 'alias ll="ls -l"\n' > etc/skel/.bashrc
    mkdir -p home/olduser
    echo "olduser's notes" > home/olduser/notes.txt
    chown -R 1000:1000 home/olduser
    chmod 0750 home/olduser

    # dpkg's admin directory, with one package installed already.
    cat > var/lib/dpkg/status <<'EOF'
Package: base-files
Status: install ok installed
Priority: required
Section: admin
Installed-Size: 4
Maintainer: oneway tests <tests@example.invalid>
Architecture: all
Version: 12.4
Description: a package the starting tree has

EOF
    printf '/.\n/etc\n/etc/motd\n' > var/lib/dpkg/info/base-files.list
    : > var/lib/dpkg/available
    : > var/lib/dpkg/diversions
    : > var/lib/dpkg/statoverride
    echo "welcome to T" > etc/motd
    printf '127.0.0.1 localhost\n' > etc/hosts

    # Files of mixed sizes; the big ones random (T is made once).
    echo "a small file" > data/small.txt
    printf 'line %d of a log\n' $(seq 1 200) > data/append.log
    head -c 200000 /dev/urandom > data/truncate.bin
    head -c 50000 /dev/urandom > data/empty-me.bin
    head -c 1048576 /dev/urandom > data/big.bin
    head -c 70000 /dev/urandom > data/grow.bin
    echo "same size, before" > data/rewrite.txt
    echo "delete me" > data/del.txt
    echo "in a deleted directory" > data/del-dir/a
    echo "deeper in it" > data/del-dir/sub/b
    ln -s a data/del-dir/link
    echo "a" > data/chain-a.txt
    echo "b" > data/chain-b.txt
    echo "one" > data/swap-1.txt
    echo "two" > data/swap-2.txt
    echo "I am renamed over" > data/victim.txt
    echo "I rename over the victim" > data/usurper.txt
    echo "in the old directory" > data/olddir/f
    echo "deeper in the old directory" > data/olddir/sub/g
    for i in 1 2 3; do echo "app file $i" > "usr/lib/app/lib$i.so"; done
    printf '#!/bin/sh\necho tool\n' > usr/bin/tool
    chmod 0755 usr/bin/tool
    printf '#!/bin/sh\necho prog\n' > usr/bin/prog
    chmod 0755 usr/bin/prog
    echo "mode me" > data/mode.txt
    echo "own me" > data/owner.txt
    echo "touch me" > data/touch.txt
    echo "<html>T</html>" > srv/www/index.html
    chown -R 33:33 srv/www
    echo "setting=1" > etc/app/app.conf
    pattern cache 30000 > var/cache/app/blob

    # xattrs and ACLs.
    echo "xattrs" > data/xa/keep.txt
    setfattr -n user.color -v blue data/xa/keep.txt
    echo "xattrs to change" > data/xa/change.txt
    setfattr -n user.a -v one data/xa/change.txt
    setfattr -n user.b -v two data/xa/change.txt
    setfattr -n user.bin -v 0x00ff10 data/xa/change.txt
    mkdir data/xa/dir
    setfattr -n user.on-a-dir -v yes data/xa/dir
    echo "an ACL" > data/acl.txt
    setfacl -m u:1000:rw,g:100:r,m::rw data/acl.txt
    setfacl -d -m u:1000:rwx data/acl-dir
    echo "inherits the default ACL" > data/acl-dir/inherited.txt

    # Hard links: a pair, a trio, and a file with one name.
    echo "a pair" > data/hl/pair-1
    ln data/hl/pair-1 data/hl/pair-2
    echo "a trio" > data/hl/trio-1
    ln data/hl/trio-1 data/hl/trio-2
    ln data/hl/trio-1 data/links/trio-3
    echo "one name, then two" > data/hl/single

    # Symlinks, absolute and relative, one dangling.
    ln -s /etc/motd data/links/abs
    ln -s ../small.txt data/links/rel
    ln -s ../small.txt data/links/retarget
    ln -s ../no-such-file data/links/dangling
    ln -s ../olddir data/links/to-dir

    # A sparse file: data, a hole, data, a hole at the end.
    truncate -s 4M data/sparse/t.img
    pattern sparse-head 8192 | dd of=data/sparse/t.img conv=notrunc status=none
    pattern sparse-mid 8192 | dd of=data/sparse/t.img bs=4096 seek=512 conv=notrunc status=none
    mkfifo data/fifo-old

    find . -exec touch -h -d "$t_time" {} +
}

make_deb ()
{
    local out=$1 d
    d=$(mktemp -d "${TMPDIR:-/tmp}/oneway-deb.XXXXXX")
    mkdir -p "$d/DEBIAN" "$d/usr/bin" "$d/usr/share/doc/oneway-faithful" "$d/etc/oneway-faithful"
    cat > "$d/DEBIAN/control" <<'EOF'
Package: oneway-faithful
Version: 1.0-1
Architecture: all
Maintainer: oneway tests <tests@example.invalid>
Installed-Size: 8
Section: misc
Priority: optional
Description: a tiny package for oneway's faithful commit test
 No maintainer scripts: dpkg --root installs it without a chroot.
EOF
    printf '#!/bin/sh\necho hello from the package\n' > "$d/usr/bin/faithful-hello"
    chmod 0755 "$d/usr/bin/faithful-hello"
    echo "conf=1" > "$d/etc/oneway-faithful/faithful.conf"
    echo /etc/oneway-faithful/faithful.conf > "$d/DEBIAN/conffiles"
    echo "the package's documentation" > "$d/usr/share/doc/oneway-faithful/README"
    pattern "package data" 20000 > "$d/usr/share/doc/oneway-faithful/data"
    find "$d" -exec touch -h -d '2022-02-02 02:02:02 UTC' {} +
    SOURCE_DATE_EPOCH=1643767322 dpkg-deb --root-owner-group -Zgzip --build "$d" "$out" >/dev/null
    rm -rf "$d"
}

# hostless CMD...: CMD with an empty /var/log of its own.
hostless ()
{
    unshare --mount sh -c 'mount -t tmpfs -o size=1m oneway-workload /var/log && exec "$@"' sh "$@"
}

workload ()
{
    local root deb
    root=$(realpath "$1")
    deb=$(realpath "$2")
    cd "$root"
    umask 022

    # ---------------------------------------------------------------- packages, users
    hostless useradd --prefix "$root" -m -k "$root/etc/skel" -u 1500 -U -G users \
        -s /bin/sh -c 'Faithful user' faithful
    hostless useradd --prefix "$root" -r -M -d /nonexistent -s /usr/sbin/nologin faithsvc
    dpkg --root="$root" --log="$root/var/log/dpkg.log" --force-script-chrootless \
        -i "$deb" >/dev/null
    echo "a file of the new user" > home/faithful/notes.txt
    chown 1500:1500 home/faithful/notes.txt

    # ---------------------------------------------------------------- content
    echo "added" > data/added.txt
    pattern "a bigger new file" 300000 > data/added-big.bin
    : > data/added-empty
    printf 'appended line\n' >> data/append.log
    printf 'line %d appended\n' $(seq 1 300) >> data/append.log
    truncate -s 12345 data/truncate.bin
    truncate -s 0 data/empty-me.bin
    pattern "middle" 8192 | dd of=data/big.bin bs=4096 seek=100 conv=notrunc status=none
    truncate -s 200000 data/grow.bin           # a hole at the end
    echo "same size, after!" > data/rewrite.txt
    echo "replaced" > etc/app/app.conf.new && mv etc/app/app.conf.new etc/app/app.conf
    pattern cache2 40000 > var/cache/app/blob

    # ---------------------------------------------------------------- deletes
    rm data/del.txt
    rm -r data/del-dir
    rm usr/lib/app/lib2.so

    # ---------------------------------------------------------------- renames
    mv data/small.txt data/small-renamed.txt
    mv data/chain-b.txt data/chain-c.txt        # a chain: b -> c, then a -> b
    mv data/chain-a.txt data/chain-b.txt
    mv data/swap-1.txt data/swap.tmp            # a swap through a temporary
    mv data/swap-2.txt data/swap-1.txt
    mv data/swap.tmp data/swap-2.txt
    mv data/usurper.txt data/victim.txt         # over another file
    mv data/olddir data/newdir                  # a directory, then into it
    echo "new in the renamed directory" > data/newdir/new.txt
    mv data/newdir/sub/g data/newdir/g-moved
    mv usr/lib/app/lib3.so srv/lib3.so          # across directories

    # ---------------------------------------------------------------- links
    ln data/hl/single data/hl/single-2          # a new name of an old file
    rm data/hl/pair-2                           # a pair becomes one
    mv data/hl/trio-2 data/links/trio-2         # a name of a trio moves
    echo "a new pair" > data/hl/new-1
    ln data/hl/new-1 data/hl/new-2
    ln -s /etc/hosts data/links/new-abs
    ln -s ../newdir/new.txt data/links/new-rel
    ln -sfn ../rewrite.txt data/links/retarget
    rm data/links/dangling
    ln -s ../no-such-file-either data/links/dangling

    # ---------------------------------------------------------------- xattrs, ACLs
    setfattr -n user.a -v ONE data/xa/change.txt
    setfattr -x user.b data/xa/change.txt
    setfattr -n user.c -v three data/xa/change.txt
    echo "a new file with xattrs" > data/xa/new.txt
    setfattr -n user.new -v 0x0001020304 data/xa/new.txt
    setfattr -n user.on-a-dir -v no data/xa/dir
    setfacl -m u:1500:r data/acl.txt
    echo "a new file under a default ACL" > data/acl-dir/new.txt
    mkdir data/acl-dir/newsub
    setfacl -m g:1500:rx data/small-renamed.txt

    # ---------------------------------------------------------------- special files
    truncate -s 8M data/sparse/new.img          # a new sparse file
    pattern sparse-new 4096 | dd of=data/sparse/new.img bs=4096 seek=1000 conv=notrunc status=none
    pattern sparse-t 4096 | dd of=data/sparse/t.img bs=4096 seek=700 conv=notrunc status=none
    mkfifo data/fifo-new
    chmod 0600 data/fifo-old
    echo "set-uid" > usr/bin/suid-prog
    chmod 0755 usr/bin/suid-prog
    chown 0:100 usr/bin/suid-prog
    chmod u+s,g+s usr/bin/suid-prog
    chmod 4755 usr/bin/prog                     # an old file becomes set-uid

    # ---------------------------------------------------------------- owners, modes, times
    chmod 0600 data/mode.txt
    chmod 0750 data/xa/dir
    chown 1234:5678 data/owner.txt
    chown -h 1500:1500 data/links/rel
    chown 33:33 srv/www
    touch -d '2019-05-06 07:08:09.123456789 UTC' data/touch.txt
    touch -h -d '2018-01-02 03:04:05.5 UTC' data/links/new-abs
    # Directories whose entries changed, given fixed times last, so that
    # a commit must set them.
    touch -d '2017-07-07 07:07:07.7 UTC' data/newdir data/hl
}

case ${1:-} in
    --tree) [ $# -eq 2 ] || exit 2; make_tree "$2" ;;
    --deb)  [ $# -eq 2 ] || exit 2; make_deb "$2" ;;
    -*|"")  echo "usage: $0 --tree DIR | --deb FILE | ROOT DEB" >&2; exit 2 ;;
    *)      [ $# -eq 2 ] || { echo "usage: $0 ROOT DEB" >&2; exit 2; }; workload "$1" "$2" ;;
esac

#!/usr/bin/env bash
# The plugin's view: writes, unaligned writes, zeroes and trims read
# back right; a restart shows the same view; the base is untouched.
. tests/functions.sh
require nbdkit qemu-io

base=$tmp/base.img
head -c 16M /dev/urandom > "$base"
remember_base "$base"

for compress in lz4 none; do
    ov=$tmp/$compress.ow
    start_plugin $compress base="$base" overlay="$ov" compress=$compress
    pid=$server_pid
    qemu-io -f raw "$(uri $compress)" \
        -c 'write -P 0xa1 0 1M' \
        -c 'write -P 0xb2 4097 10000' \
        -c 'write -z 2M 3M' \
        -c 'discard 6M 4096' \
        -c 'write -P 0xc3 6M 512' \
        -c flush >/dev/null
    stop_server $pid

    # Restarted: the same view.
    start_plugin $compress base="$base" overlay="$ov"
    pid=$server_pid
    qemu-io -f raw "$(uri $compress)" \
        -c 'read -P 0xa1 0 4097' \
        -c 'read -P 0xb2 4097 10000' \
        -c 'read -P 0xa1 14097 1034479' \
        -c 'read -P 0 2M 3M' \
        -c 'read -P 0xc3 6M 512' \
        -c 'read -P 0 6291968 3584' > "$tmp/out" ||
        { cat "$tmp/out"; fail "$compress: wrong data after restart"; }
    grep -q -i "pattern verification failed" "$tmp/out" && { cat "$tmp/out"; fail "$compress: pattern mismatch"; }
    # Untouched parts still read as the base.
    nbdcopy "$(uri $compress)" "$tmp/view.img"
    cmp <(tail -c +$((7*1024*1024+1)) "$base") <(tail -c +$((7*1024*1024+1)) "$tmp/view.img") ||
        fail "$compress: unwritten part differs from the base"
    stop_server $pid
done

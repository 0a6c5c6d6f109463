#!/usr/bin/env bash
# The plugin's view: writes, unaligned writes, zeroes and trims read
# back right; a restart shows the same view, byte for byte the base
# with the same operations done to a plain copy (a trim reads as
# zeroes), so everything untouched still reads as the base; the base
# is untouched.
. tests/functions.sh
require nbdkit qemu-io nbdcopy cmp

base=$tmp/base.img
head -c 16M /dev/urandom > "$base"
remember_base "$base"
# The model: a copy of the base, changed by qemu-io in place.
model=$tmp/model.img
cp "$base" "$model"
qemu-io -f raw "$model" \
    -c 'write -P 0xa1 0 1M' \
    -c 'write -P 0xb2 4097 10000' \
    -c 'write -z 2M 3M' \
    -c 'write -z 6M 4096' \
    -c 'write -P 0xc3 6M 512' >/dev/null
cmp -s "$base" "$model" && fail "qemu-io did not change the model"

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
    # The whole view: what was written, and the base everywhere else.
    rm -f "$tmp/view.img"
    nbdcopy "$(uri $compress)" "$tmp/view.img"
    cmp "$model" "$tmp/view.img" ||
        fail "$compress: the view differs from the base with the writes done to it"
    stop_server $pid
done

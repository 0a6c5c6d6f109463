#!/usr/bin/env bash
# Randomized operations against a plain-file model (tests/random-ops.py):
# a few thousand writes (aligned or not, big and small, with FUA or not),
# zeroes, trims, flushes, reads, block-status queries, clean restarts,
# kill -9 with restarts, and writes from several connections at once,
# on a 32 MiB disk with block size 4096 and on a 16 MiB one with 512
# (sizes that are not a multiple of the block size).  The whole export
# is compared with the model after every restart and at the end.
# Replay a failure with ONEWAY_SEED=N.
. tests/functions.sh
require nbdkit
require_nbd_python
py=$nbdpy

seed=${ONEWAY_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "seed: $seed (replay with ONEWAY_SEED=$seed)"
export NBDKIT_ENV="$(_nbdkit_env)"

# block size, disk size, operations
runs=(
    "4096 $((32 * 1024 * 1024 + 2560)) 2500"
    "512 $((16 * 1024 * 1024 + 1000)) 1200"
)
i=0
for run in "${runs[@]}"; do
    set -- $run
    bs=$1 size=$2 nops=$3
    s=$((seed + i)); i=$((i + 1))
    base=$tmp/base-$bs.img
    $py "$abs_top_srcdir/tests/random-ops.py" make-base $s $size "$base"
    remember_base "$base"
    $py "$abs_top_srcdir/tests/random-ops.py" run --seed $s \
        --plugin "$plugin" --base "$base" --overlay "$tmp/rnd$bs.ow" \
        --tmp "$tmp" --name rnd$bs --block-size $bs --ops $nops ||
        fail "block size $bs: the view differs from the model (ONEWAY_SEED=$seed)"
    oneway-merge info "$tmp/rnd$bs.ow" --json > "$tmp/info.json" ||
        fail "oneway-merge info failed"
    [ "$(json_get "$tmp/info.json" 'd["state"]')" = clean ] ||
        fail "block size $bs: not clean after the final stop"
    [ "$(json_get "$tmp/info.json" 'd["block_size"]')" = $bs ] ||
        fail "block size $bs: info reports block size $(json_get "$tmp/info.json" 'd["block_size"]')"
    rm -f "$tmp/rnd$bs.ow" "$tmp/rnd$bs.model"
done

#!/usr/bin/env bash
# A golden image served read-only by another nbdkit, used as the base
# through an NBD URI: the view is right, survives a restart, the golden
# image is untouched, oneway-merge info shows the URI as the base, and
# an overlay opened against another export is refused naming both.
. tests/functions.sh
require nbdkit nbdcopy qemu-io

golden=$tmp/golden.img
other=$tmp/other.img
head -c 8M /dev/urandom > "$golden"
head -c 8M /dev/urandom > "$other"
remember_base "$golden"
remember_base "$other"
ov=$tmp/box.ow

start_server golden -r file "$golden"
golden_pid=$server_pid
base_uri=$(uri golden)

start_plugin box base="$base_uri" overlay="$ov"
pid=$server_pid
qemu-io -f raw "$(uri box)" \
    -c 'write -P 0xa5 0 64k' \
    -c 'write -P 0x5a 1000000 10000' \
    -c 'write -z 4M 1M' \
    -c 'write -P 0x77 8388000 608' \
    -c flush >/dev/null

# The model of the view: the golden image with the same changes.
cp "$golden" "$tmp/model.img"
put () { head -c "$3" /dev/zero | tr '\0' "\\$(printf %o "$1")" |
             dd of="$tmp/model.img" bs="$3" count=1 iflag=fullblock \
                oflag=seek_bytes seek="$2" conv=notrunc status=none; }
put 0xa5 0 65536
put 0x5a 1000000 10000
put 0 $((4 * 1024 * 1024)) $((1024 * 1024))
put 0x77 8388000 608
[ "$(stat -c %s "$tmp/model.img")" = 8388608 ] || fail "the model has the wrong size"

nbdcopy "$(uri box)" "$tmp/view.img"
cmp "$tmp/model.img" "$tmp/view.img" || fail "the view through an NBD base is wrong"
stop_server $pid

# Restarted: the same view, the golden server still serving.
start_plugin box base="$base_uri" overlay="$ov"
pid=$server_pid
rm -f "$tmp/view.img"
nbdcopy "$(uri box)" "$tmp/view.img"
cmp "$tmp/model.img" "$tmp/view.img" || fail "the view changed across a restart"
# One more write in this run, checked after the next restart.
qemu-io -f raw "$(uri box)" -c 'write -P 0x11 6M 4k' -c flush >/dev/null
put 0x11 $((6 * 1024 * 1024)) 4096
stop_server $pid

# oneway-merge info names the URI as the base.
"$merge" info "$ov" > "$tmp/info.txt" || fail "oneway-merge info failed"
grep -qF "$base_uri" "$tmp/info.txt" || { cat "$tmp/info.txt"; fail "info does not show the base URI"; }
"$merge" info --json "$ov" > "$tmp/info.json" || fail "oneway-merge info --json failed"
[ "$(json_get "$tmp/info.json" 'd["base"]["name"]')" = "$base_uri" ] ||
    { cat "$tmp/info.json"; fail "info --json: base.name is not the URI"; }
[ "$(json_get "$tmp/info.json" 'd["base"]["size"]')" = 8388608 ] ||
    { cat "$tmp/info.json"; fail "info --json: wrong base size"; }

# Another export of the same size is another base: refused, both named.
start_server other -r file "$other"
other_uri=$(uri other)
st=0
env $(_nbdkit_env) nbdkit -U - "$plugin" base="$other_uri" overlay="$ov" --run 'exit 0' \
    > "$tmp/refused.log" 2>&1 || st=$?
[ $st -eq 1 ] || { cat "$tmp/refused.log"; fail "another NBD base: nbdkit exited with $st, expected 1 (refused)"; }
grep -qF "$base_uri" "$tmp/refused.log" || { cat "$tmp/refused.log"; fail "the refusal does not name the overlay's base"; }
grep -qF "$other_uri" "$tmp/refused.log" || { cat "$tmp/refused.log"; fail "the refusal does not name the other base"; }

# After the golden server restarts on the same socket, all is well.
stop_server $golden_pid
start_server golden -r file "$golden"
start_plugin box base="$base_uri" overlay="$ov"
pid=$server_pid
rm -f "$tmp/view.img"
nbdcopy "$(uri box)" "$tmp/view.img"
cmp "$tmp/model.img" "$tmp/view.img" || fail "the view is wrong after the golden server restarted"
stop_server $pid

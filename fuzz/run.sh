#!/bin/sh
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs them.
#   fuzz/run.sh TARGET SECONDS [BUILD_DIR]     (TARGET: json | proto | state)
# Starts from fuzz/corpus/TARGET (read-only: new inputs go to a scratch
# corpus under BUILD_DIR), prints libFuzzer's final stats (executions,
# coverage), and fails on any crash, leak or sanitizer report; a crashing
# input is left in BUILD_DIR and belongs in fuzz/corpus/TARGET afterwards.
# Needs Debian's clang and libclang-rt-14-dev, liblua5.4-dev, libuv1-dev,
# libcjson-dev.
set -eu
target=$1
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out=${3:-$root/build-fuzz}
mkdir -p "$out"
cc=${CLANG:-clang}
flags="-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -I$root/engine -I$root/bindings \
  $(pkg-config --cflags lua5.4 libuv libcjson) -DTUNE_VERSION=\"fuzz\" -DTUNE_INSTALL_BINDIR=\"/nonexistent\" \
  -DTUNE_LUA_SRC_DIR=\"$root/lua\""
libs="$(pkg-config --libs lua5.4 libuv libcjson) -lm -ldl"
engine=$(ls "$root"/engine/*.c)
bin="$out/fuzz_$target"
case $target in
  json|proto) srcs="$here/fuzz_$target.c $root/engine/json.c $root/engine/numfmt.c $root/engine/buf.c $root/engine/proto.c" ;;
  state) srcs="$here/fuzz_state.c $engine $(ls "$root"/bindings/*.c | grep -v -e main.c -e embed_lua.c)" ;;
  *) echo "unknown target $target" >&2; exit 2 ;;
esac
# shellcheck disable=SC2086
$cc $flags -o "$bin" $srcs $libs
work="$out/corpus-$target"
mkdir -p "$work"
cd "$out"
# shellcheck disable=SC2086
"$bin" -max_total_time="$seconds" -print_final_stats=1 -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -artifact_prefix="$out/crash-$target-" "$work" "$here/corpus/$target"

#!/bin/sh
# Runs the peer workloads with Optuna (its scripts, from bench/peer/optuna-side or
# $1) and with tunelua, back to back on this machine, and prints the
# tables. Needs Debian's python3-optuna; not part of CI.
#   bench/peer/run.sh [OPTUNA_BENCH_DIR] [OUT_DIR]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
optuna_dir=${1:-$here/optuna-side}
out=${2:-$root/build/bench-peer}
tunelua=${TUNELUA:-$root/build/tunelua}
mkdir -p "$out"
cd "$root"
if /usr/bin/python3 -c "import optuna" 2>/dev/null && [ -f "$optuna_dir/overhead.py" ]; then
  for i in 1 2 3; do
    (cd "$optuna_dir" && /usr/bin/python3 overhead.py) > "$out/optuna_overhead_$i.json"
    "$tunelua" bench/peer/overhead.lua > "$out/tunelua_overhead_$i.json"
  done
  (cd "$optuna_dir" && /usr/bin/python3 quality.py --seeds 10) > "$out/optuna_quality.json"
  (cd "$optuna_dir" && /usr/bin/python3 pruning.py --seeds 10) > "$out/optuna_pruning.json"
  /usr/bin/python3 "$here/optuna_pruning_curve.py" "$optuna_dir" --seeds 10 > "$out/optuna_pruning_curve.json"
  (cd "$optuna_dir" && /usr/bin/python3 pruning.py --seeds 40 --pruners hyperband) > "$out/optuna_pruning_heldout1.json"
  /usr/bin/python3 "$here/pruning2.py" --first 10 --seeds 30 --pruners hyperband > "$out/optuna_pruning_heldout2.json"
else
  echo "python3-optuna or $optuna_dir/overhead.py missing: tunelua's figures only" >&2
  for i in 1 2 3; do "$tunelua" bench/peer/overhead.lua > "$out/tunelua_overhead_$i.json"; done
fi
"$tunelua" bench/peer/quality.lua > "$out/tunelua_quality.json"
"$tunelua" bench/peer/pruning.lua --seeds 10 > "$out/tunelua_pruning.json"
"$tunelua" bench/peer/pruning.lua --first 10 --seeds 30 --pruners curve_asha > "$out/tunelua_pruning_heldout1.json"
"$tunelua" bench/peer/pruning.lua --first 10 --seeds 30 --pruners curve_asha --workload 2 > "$out/tunelua_pruning_heldout2.json"
"$tunelua" bench/peer/compare.lua "$out"

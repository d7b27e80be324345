#!/bin/sh
# An external program tuned by examples/command.lua: takes --x and --y,
# prints one JSON object per "epoch" on stdout (anything else is just log).
x=0; y=0
while [ $# -gt 0 ]; do
  case "$1" in
    --x) x=$2; shift 2 ;;
    --y) y=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
echo "starting with x=$x y=$y"
for epoch in 1 2 3; do
  loss=$(awk -v x="$x" -v y="$y" -v e="$epoch" 'BEGIN { printf "%.6f", ((x-1)^2 + (y+2)^2) / e }')
  echo "{\"loss\": $loss, \"epoch\": $epoch}"
done

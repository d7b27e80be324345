#!/bin/sh
# Runs a spec inside a Slurm allocation with the Slurm backend:
#   spec/slurm/in_allocation.sh SALLOC_ARGS... -- COMMAND...
# Without a Slurm cluster (SLURM_CONF unset or sinfo failing) it exits 77,
# which ctest reports as skipped; with TUNE_TEST_SLURM_REQUIRED=1 (CI) that
# is a failure.
args=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do args="$args $1"; shift; done
[ "$1" = "--" ] && shift
if [ -z "${SLURM_CONF:-}" ] || ! sinfo -h >/dev/null 2>&1; then
  if [ "${TUNE_TEST_SLURM_REQUIRED:-0}" = 1 ]; then
    echo "no Slurm cluster answers, and TUNE_TEST_SLURM_REQUIRED=1" >&2
    exit 1
  fi
  echo "skipped: no Slurm cluster (SLURM_CONF unset; .ci/run starts one with spec/slurm/start-local-slurm.sh)"
  exit 77
fi
# shellcheck disable=SC2086
exec salloc --quiet --no-kill $args env TUNE_TEST_BACKEND=slurm "$@"

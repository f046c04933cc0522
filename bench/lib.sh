# What every benchmark script starts with (sourced): the environment, where the binaries are,
# where results go, and a scratch folder removed on exit.
#   root      the repository;  bin  the built programs ($VLM_BUILD_DIR/bin, default build/bin)
#   results   bench/results (created)
#   work      a fresh scratch folder under $VLM_BENCH_DIR (default /tmp), removed on exit
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
source "$root/scripts/env.sh"
bin=${VLM_BUILD_DIR:-$root/build}/bin
results=$root/bench/results
mkdir -p "$results"
work=$(mktemp -d "${VLM_BENCH_DIR:-/tmp}/vlm-bench-$(basename "$0" .sh)-XXXXXX")
trap 'rm -rf "$work"' EXIT

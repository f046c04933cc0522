#!/usr/bin/env bash
# Installs every Debian package vlmtrain needs; idempotent (skips what is installed).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-pthread
  libopenmpi-dev openmpi-bin
  libhdf5-openmpi-dev
  libyaml-cpp-dev libspdlog-dev libboost-dev libgtest-dev libcli11-dev
  libsentencepiece-dev libicu-dev libstb-dev libjpeg62-turbo-dev nlohmann-json3-dev
  python3-torch python3-numpy python3-h5py strace
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
echo "install-deps: all packages present"

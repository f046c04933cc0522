#!/usr/bin/env bash
# LibTorch runs on OpenBLAS (not Debian's reference BLAS), with its AVX-512 kernels where the CPU
# has them. The throughput itself is a benchmark figure (bench/matmul.sh); this checks the wiring.
source "$(dirname "$0")/lib.sh"
env -u OPENBLAS_CORETYPE "$bin/vlm-info" --size 512 > "$work/info.txt"
cat "$work/info.txt"
grep -q "^blas: OpenBLAS" "$work/info.txt" || fail "LibTorch is not using OpenBLAS"
if grep -qw avx512f /proc/cpuinfo; then
  grep -q "core=SkylakeX" "$work/info.txt" || fail "OpenBLAS is not on its SkylakeX kernels"
fi
echo "PASS"

# Sourced by the scripts: the environment a vlmtrain run wants on this kind of machine.
# OpenBLAS misdetects AVX-512 CPUs on these VMs and picks slow kernels; the mains also fix this
# themselves (apps/main_support.cc), the export covers python3 reference scripts.
if [ -z "${OPENBLAS_CORETYPE:-}" ] && grep -qw avx512f /proc/cpuinfo 2>/dev/null; then
  export OPENBLAS_CORETYPE=SkylakeX
fi
# Open MPI refuses root without these; past 2 ranks on 2 cores it must oversubscribe.
if [ "$(id -u)" -eq 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
export OMPI_MCA_rmaps_base_oversubscribe=1
# ccache: timestamps must not defeat the cache, and sources built on the precompiled torch header
# (CMakeLists.txt, vlm_torch_pch) are cached only with pch_defines.
export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
# Paths relative to the checkout, so a fresh clone elsewhere (CI) hits the same cache entries.
export CCACHE_BASEDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
# Debian's python3 has torch; the python3 first on PATH may not.
export VLM_PYTHON=/usr/bin/python3

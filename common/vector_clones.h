// VLM_VECTOR_CLONES: a hot loop also built for AVX2, chosen at load time where the CPU has it
// (twice the vector width of the x86-64 baseline the rest is built for). Not FMA: fused
// multiply-adds would round differently from the baseline build, and a run's numbers must not
// depend on the machine's vector unit. The file wants -O3 for the loops to vectorise at all.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define VLM_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define VLM_VECTOR_CLONES
#endif

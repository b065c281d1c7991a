/*
 * cpu.h - what the processor can do, read once with cpuid, and what this
 * build was compiled to use. Kernels choose SIMD paths at compile time; this
 * module exists for reports (bench, --version) and for refusing to run a
 * native build on a CPU that lacks its instructions.
 */
#ifndef QL_CORE_CPU_H
#define QL_CORE_CPU_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    bool sse3, ssse3, avx, f16c, fma, avx2;
    bool avx512f, avx512bw, avx512vl, avx512dq, avx512_vnni, avx512_bf16, avx512_fp16, avx_vnni;
    bool amx_tile, amx_int8;
} ql_cpu_features;

const ql_cpu_features *ql_cpu_get(void);

/* Space-separated list of the features the CPU has, e.g. "avx2 fma f16c avx512f". */
void ql_cpu_describe(char *buf, size_t size);

/* Space-separated list of the SIMD extensions this binary was compiled for. */
const char *ql_cpu_build_features(void);

/* Name of the first extension the build requires but the CPU lacks, or NULL. */
const char *ql_cpu_missing_feature(void);

#endif

/*
 * cpu.c - cpuid-based feature detection (x86-64); other targets report none.
 */
#include "cpu.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define QL_X86 1
#endif

static ql_cpu_features features;
static pthread_once_t cpu_once = PTHREAD_ONCE_INIT;

#ifdef QL_X86
static unsigned long long read_xcr0(void) {
    unsigned int eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}
#endif

static void cpu_detect(void) {
#ifdef QL_X86
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return;
    features.sse3 = ecx & (1u << 0);
    features.ssse3 = ecx & (1u << 9);
    features.fma = ecx & (1u << 12);
    bool osxsave = ecx & (1u << 27);
    features.avx = ecx & (1u << 28);
    features.f16c = ecx & (1u << 29);
    unsigned long long xcr0 = osxsave ? read_xcr0() : 0;
    bool ymm_ok = (xcr0 & 0x6) == 0x6;
    bool zmm_ok = (xcr0 & 0xe6) == 0xe6;
    bool amx_ok = (xcr0 & 0x60000) == 0x60000;
    if (!ymm_ok) features.avx = features.fma = features.f16c = false;
    if (__get_cpuid_count(7, 0, &eax, &ebx, &ecx, &edx)) {
        features.avx2 = ymm_ok && (ebx & (1u << 5));
        features.avx512f = zmm_ok && (ebx & (1u << 16));
        features.avx512dq = zmm_ok && (ebx & (1u << 17));
        features.avx512bw = zmm_ok && (ebx & (1u << 30));
        features.avx512vl = zmm_ok && (ebx & (1u << 31));
        features.avx512_vnni = zmm_ok && (ecx & (1u << 11));
        features.avx512_fp16 = zmm_ok && (edx & (1u << 23));
        features.amx_tile = amx_ok && (edx & (1u << 24));
        features.amx_int8 = amx_ok && (edx & (1u << 25));
    }
    if (__get_cpuid_count(7, 1, &eax, &ebx, &ecx, &edx)) {
        features.avx_vnni = ymm_ok && (eax & (1u << 4));
        features.avx512_bf16 = zmm_ok && (eax & (1u << 5));
    }
#endif
}

const ql_cpu_features *ql_cpu_get(void) {
    pthread_once(&cpu_once, cpu_detect);
    return &features;
}

void ql_cpu_describe(char *buf, size_t size) {
    const ql_cpu_features *f = ql_cpu_get();
    struct {
        bool on;
        const char *name;
    } list[] = {
        {f->sse3, "sse3"},
        {f->ssse3, "ssse3"},
        {f->avx, "avx"},
        {f->f16c, "f16c"},
        {f->fma, "fma"},
        {f->avx2, "avx2"},
        {f->avx_vnni, "avx_vnni"},
        {f->avx512f, "avx512f"},
        {f->avx512bw, "avx512bw"},
        {f->avx512vl, "avx512vl"},
        {f->avx512dq, "avx512dq"},
        {f->avx512_vnni, "avx512_vnni"},
        {f->avx512_bf16, "avx512_bf16"},
        {f->avx512_fp16, "avx512_fp16"},
        {f->amx_tile, "amx_tile"},
        {f->amx_int8, "amx_int8"},
    };
    size_t used = 0;
    if (size) buf[0] = '\0';
    for (size_t i = 0; i < sizeof list / sizeof list[0]; i++) {
        if (!list[i].on) continue;
        int n = snprintf(buf + used, size - used, "%s%s", used ? " " : "", list[i].name);
        if (n < 0 || (size_t)n >= size - used) break;
        used += (size_t)n;
    }
}

const char *ql_cpu_build_features(void) {
    return ""
#if defined(__AVX512VNNI__)
           "avx512_vnni "
#endif
#if defined(__AVX512BW__)
           "avx512bw "
#endif
#if defined(__AVX512F__)
           "avx512f "
#endif
#if defined(__AVX2__)
           "avx2 "
#endif
#if defined(__FMA__)
           "fma "
#endif
#if defined(__F16C__)
           "f16c "
#endif
           "scalar";
}

const char *ql_cpu_missing_feature(void) {
    const ql_cpu_features *f = ql_cpu_get();
    (void)f;
#if defined(__AVX512VNNI__)
    if (!f->avx512_vnni) return "avx512_vnni";
#endif
#if defined(__AVX512BW__)
    if (!f->avx512bw) return "avx512bw";
#endif
#if defined(__AVX512F__)
    if (!f->avx512f) return "avx512f";
#endif
#if defined(__AVX2__)
    if (!f->avx2) return "avx2";
#endif
#if defined(__FMA__)
    if (!f->fma) return "fma";
#endif
#if defined(__F16C__)
    if (!f->f16c) return "f16c";
#endif
    return NULL;
}

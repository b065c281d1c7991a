/*
 * quant.h - the one place that knows block formats.
 *
 * Every tensor element type ggml defines has a row in one traits table: its
 * name, ggml type id, block size and bytes per block. The types qlens can
 * compute with also carry to_float (dequantize), from_float_ref (ggml's
 * reference quantizer, bit-exact, no importance weights), from_float (the
 * quantizer ggml's CPU backend applies at run time to activations and to the
 * KV cache; identical to the reference except where ggml's SIMD path rounds
 * differently) and a scalar vec_dot against the type's vec_dot_type.
 *
 * Nothing outside src/quant switches on a type: callers go through
 * ql_type_traits_get(). Fast SIMD kernels live in src/kernels and are tested
 * against the scalar vec_dot here.
 */
#ifndef QL_QUANT_QUANT_H
#define QL_QUANT_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Values are ggml's type ids, as stored in GGUF files. */
typedef enum {
    QL_TYPE_F32 = 0,
    QL_TYPE_F16 = 1,
    QL_TYPE_Q4_0 = 2,
    QL_TYPE_Q4_1 = 3,
    QL_TYPE_Q5_0 = 6,
    QL_TYPE_Q5_1 = 7,
    QL_TYPE_Q8_0 = 8,
    QL_TYPE_Q8_1 = 9,
    QL_TYPE_Q2_K = 10,
    QL_TYPE_Q3_K = 11,
    QL_TYPE_Q4_K = 12,
    QL_TYPE_Q5_K = 13,
    QL_TYPE_Q6_K = 14,
    QL_TYPE_Q8_K = 15,
    QL_TYPE_IQ2_XXS = 16,
    QL_TYPE_IQ2_XS = 17,
    QL_TYPE_IQ3_XXS = 18,
    QL_TYPE_IQ1_S = 19,
    QL_TYPE_IQ4_NL = 20,
    QL_TYPE_IQ3_S = 21,
    QL_TYPE_IQ2_S = 22,
    QL_TYPE_IQ4_XS = 23,
    QL_TYPE_I8 = 24,
    QL_TYPE_I16 = 25,
    QL_TYPE_I32 = 26,
    QL_TYPE_I64 = 27,
    QL_TYPE_F64 = 28,
    QL_TYPE_IQ1_M = 29,
    QL_TYPE_BF16 = 30,
    QL_TYPE_TQ1_0 = 34,
    QL_TYPE_TQ2_0 = 35,
    QL_TYPE_MXFP4 = 39,
    QL_TYPE_NVFP4 = 40,
    QL_TYPE_Q1_0 = 41,
    QL_TYPE_Q2_0 = 42,
    QL_TYPE_COUNT = 43,
} ql_type;

#define QL_QK_K 256 /* super-block size of the k-quants and iq4_xs */

/* n is a multiple of the type's block size in every function below. */
typedef void (*ql_to_float_fn)(const void *restrict src, float *restrict dst, int64_t n);
typedef void (*ql_from_float_fn)(const float *restrict src, void *restrict dst, int64_t n);
/* *out = sum over n elements of x[i]*y[i]; y is in the type's vec_dot_type. */
typedef void (*ql_vec_dot_fn)(int64_t n, float *restrict out, const void *restrict x,
                              const void *restrict y);

typedef struct {
    const char *name;   /* ggml's name: "f16", "q4_0", "q4_K", "iq4_nl" ... */
    int64_t block_size; /* elements per block; 0 marks an id ggml no longer uses */
    size_t type_size;   /* bytes per block */
    bool is_quantized;
    ql_to_float_fn to_float;
    ql_from_float_fn from_float_ref;
    ql_from_float_fn from_float;
    ql_vec_dot_fn vec_dot;
    ql_type vec_dot_type;
} ql_type_traits;

/* NULL when id is not a type ggml defines. */
const ql_type_traits *ql_type_traits_get(int id);

/* True when id names a type ggml defines (any of them, computable or not). */
bool ql_type_is_known(int id);

/* True when qlens can dequantize, quantize and dot-product the type. */
bool ql_type_is_computable(int id);

const char *ql_type_name(int id); /* "unknown" for an unknown id */

/* Case-insensitive lookup by ggml name ("Q4_0", "q4_k", "bf16"); -1 if none. */
int ql_type_from_name(const char *name);

/* Bytes of a row of n elements (n must be a multiple of the block size). */
size_t ql_row_size(ql_type type, int64_t n);

#endif

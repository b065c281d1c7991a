/*
 * quantize.h - requantizing a GGUF model to a llama.cpp file type, with the
 * tensors llama-quantize would write.
 *
 * Each tensor gets the type quantize_rules.h chooses; its values are read
 * from the input (f32 as stored, f16/bf16 widened, quantized types
 * dequantized - the latter only when requantizing is allowed) and converted
 * with ggml's reference quantizers, so the tensor data is identical to
 * llama-quantize's. The output lists the tensors in llama.cpp's order, copies
 * every key-value of the input in its order, and appends
 * general.quantization_version and general.file_type as llama.cpp does. It
 * is written to a temporary file renamed into place at the end: a failure
 * leaves no output behind.
 *
 * Rows are independent, so the work on each tensor is split across threads
 * by rows and the result does not depend on the number of threads.
 */
#ifndef QL_LAB_QUANTIZE_H
#define QL_LAB_QUANTIZE_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/status.h"
#include "../gguf/gguf.h"
#include "quantize_rules.h"

/* What happened to one tensor, handed to the progress callback after it is written. */
typedef struct {
    int64_t index, n_tensors; /* 0-based position in the output, and the count */
    const char *name;
    uint32_t n_dims;
    int64_t ne[4];
    ql_type from, to;
    bool converted; /* false: the bytes were copied unchanged */
    bool by_rule;   /* a --tensor-type rule chose the type */
    bool fell_back; /* the row length forced `to` instead of `wanted` */
    ql_type wanted;
    uint64_t bytes_in, bytes_out;
} ql_quantize_tensor_report;

typedef void (*ql_quantize_progress_fn)(void *user, const ql_quantize_tensor_report *r);

typedef struct {
    ql_quant_options rules;
    int n_threads;                     /* >= 1 */
    bool allow_requantize;             /* accept already-quantized input tensors */
    ql_quantize_progress_fn on_tensor; /* may be NULL */
    void *user;
} ql_quantize_params;

typedef struct {
    int64_t n_tensors, n_elements;
    uint64_t bytes_in, bytes_out; /* tensor data only */
    int64_t n_converted, n_fallback;
} ql_quantize_summary;

/* Reads the hyperparameters the rules need from a model file. */
ql_status ql_quant_model_info_read(const gguf_file *f, ql_quant_model_info *out, ql_error *err);

/*
 * Quantizes in_path into out_path. Every check that can fail on the input
 * (file type, architecture, requantization, computable types, row lengths)
 * runs before the output is created. summary may be NULL.
 */
ql_status ql_quantize_model(const char *in_path, const char *out_path,
                            const ql_quantize_params *params, ql_quantize_summary *summary,
                            ql_error *err);

#endif

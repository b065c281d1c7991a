/*
 * llama_engine.h - llama.cpp as a second engine: libllama is loaded at run
 * time (dlopen), never linked, so qlens builds and runs without it. The
 * engine evaluates a chunk the way llama-perplexity does and hands the scored
 * rows' logits to qlens's evaluation code (eval.h's ql_eval_engine), so
 * perplexity and KL divergence are computed by the same code for both
 * engines.
 */
#ifndef QL_ENGINE_LLAMA_ENGINE_H
#define QL_ENGINE_LLAMA_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"
#include "../eval/eval.h"

/* The llama.cpp release whose C API the declarations in llama_engine.c follow. */
#define QL_LLAMA_API_VERSION "0.5.0"
#define QL_LLAMA_PY_VERSION  "llama-cpp-python 0.3.36"

typedef struct {
    const char *lib_path; /* NULL: QLENS_LLAMA_LIB, then the pip-installed copy */
    const char *model_path;
    int32_t n_gpu_layers; /* -1: all (llama.cpp's default) */
    bool no_mmap, mlock, no_repack;
    int64_t n_ctx, n_batch, n_ubatch;
    int32_t n_threads;
    int type_k, type_v; /* ggml type ids (qlens's ql_type ids are the same numbers) */
    int flash_attn;     /* -1 auto, 0 off, 1 on (llama_flash_attn_type) */
    bool rotate_off;    /* LLAMA_ATTN_ROT_DISABLE=1 */
} ql_llama_params;

typedef struct ql_llama ql_llama;

/* Finds and checks libllama, loads the model and creates its context. */
ql_status ql_llama_open(const ql_llama_params *p, ql_llama **out, ql_error *err);
void ql_llama_close(ql_llama *l);

/* Only loads and checks the library (no model): the path that was loaded and its version. */
ql_status ql_llama_probe(const char *lib_path, char *path_out, size_t path_size, char *version,
                         size_t version_size, ql_error *err);

/* Tokenizes as llama-perplexity does (add_special, no special-token parsing). */
ql_status ql_llama_tokenize(ql_llama *l, const char *text, size_t len, int32_t **tokens,
                            int64_t *n_tokens, ql_error *err);
bool ql_llama_add_bos(const ql_llama *l);
int32_t ql_llama_bos(const ql_llama *l);
int64_t ql_llama_n_vocab(const ql_llama *l);

/* The engine interface for eval.h: evaluates one chunk per call. */
void ql_llama_engine(ql_llama *l, ql_eval_engine *out);

/* What ran: the library's path and version, backend ("CPU", "CUDA0", ...) and device. */
const char *ql_llama_lib(const ql_llama *l);
const char *ql_llama_version(const ql_llama *l);
const char *ql_llama_backend(const ql_llama *l);
const char *ql_llama_device(const ql_llama *l);
/* llama_print_system_info(): the CPU features and backends the library was built with */
const char *ql_llama_system_info(const ql_llama *l);

#endif

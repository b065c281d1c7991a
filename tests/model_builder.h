/*
 * model_builder.h - small random GGUF models of any shape for tests that
 * need a shape the synthetic golden models do not have (odd head sizes, few
 * layers). The tokenizer is copied from a vocabulary GGUF; weights are F32
 * from a fixed-seed generator.
 */
#ifndef QL_TESTS_MODEL_BUILDER_H
#define QL_TESTS_MODEL_BUILDER_H

#include <stdbool.h>

typedef struct {
    const char *arch; /* "llama", "qwen2", "qwen3", "gemma3" */
    int n_embd, n_head, n_head_kv, head_dim, n_ff, n_layer;
    const char *vocab_gguf; /* path of a GGUF whose tokenizer.* keys are copied */
    int head_dim_v;         /* 0: head_dim */
} ql_test_model_shape;

bool ql_test_build_model(const char *path, const ql_test_model_shape *s);

#endif

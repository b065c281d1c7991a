/*
 * layers.h - what each layer of a model computes and what it keeps between
 * tokens: the one description that context allocation, the KV-bytes
 * report, `info` and `plan` all read, so their memory figures cannot differ.
 *
 * A layer's mixer is full attention (K and V for every position of the
 * context), sliding-window attention (a ring of cells sized as llama.cpp
 * sizes it, see kvcells.h, when that is smaller than the context) or a
 * Gated DeltaNet (no KV cache: a conv window of the last d_conv - 1 inputs
 * and one d_state x d_state f32 state per value head, whatever the
 * context). Only attention layers hold K and V, so -ctk/-ctv and the
 * Hadamard rotation touch only them.
 */
#ifndef QL_MODEL_LAYERS_H
#define QL_MODEL_LAYERS_H

#include <stdint.h>

#include "model.h"

/* The context a memory figure is for. */
typedef struct {
    ql_type type_k, type_v;
    int64_t n_ctx;    /* positions per sequence */
    int64_t n_ubatch; /* tokens per forward step (sizes the sliding-window ring) */
} ql_state_params;

typedef struct {
    ql_mixer_kind mixer;
    ql_ffn_kind ffn;
    int64_t kv_cells;          /* attention: cells of K and V; 0 otherwise */
    uint64_t k_bytes, v_bytes; /* attention: bytes of its K and of its V cache */
    uint64_t conv_bytes;       /* DeltaNet: the conv window (f32) */
    uint64_t ssm_bytes;        /* DeltaNet: the delta-rule states (f32) */
} ql_layer_desc;

typedef struct {
    int64_t n_attention, n_sliding, n_deltanet, n_moe; /* layer counts */
    uint64_t kv_bytes;                                 /* every attention layer's K and V */
    uint64_t recurrent_bytes; /* every DeltaNet layer's conv window and states */
} ql_state_summary;

ql_mixer_kind ql_layer_mixer(const ql_model_config *c, int64_t layer);
ql_ffn_kind ql_layer_ffn(const ql_model_config *c, int64_t layer);
/* "attention", "sliding-window attention", "gated deltanet" */
const char *ql_mixer_name(ql_mixer_kind k);
/* "dense", "moe" */
const char *ql_ffn_name(ql_ffn_kind k);

/* K and V bytes of one cell of an attention layer (all its KV heads). */
uint64_t ql_layer_kv_bytes_per_cell(const ql_model_config *c, ql_type type_k, ql_type type_v);

/* Recurrent state of one DeltaNet layer, in floats: the conv window and the delta-rule states. */
int64_t ql_deltanet_conv_floats(const ql_model_config *c);
int64_t ql_deltanet_state_floats(const ql_model_config *c);

void ql_layer_describe(const ql_model_config *c, int64_t layer, const ql_state_params *p,
                       ql_layer_desc *out);
void ql_state_summarize(const ql_model_config *c, const ql_state_params *p, ql_state_summary *out);

#endif

/*
 * layers.c - per-layer kinds and state sizes (see layers.h).
 */
#include "layers.h"

#include <string.h>

#include "kvcells.h"

ql_mixer_kind ql_layer_mixer(const ql_model_config *c, int64_t l) {
    if (c->hybrid && l >= 0 && l < QL_MAX_LAYERS && (c->recurrent[l / 64] >> (l % 64)) & 1)
        return QL_MIXER_DELTANET;
    if (c->n_swa > 0 && c->swa_pattern > 0 && (l % c->swa_pattern) < c->swa_pattern - 1)
        return QL_MIXER_SLIDING;
    return QL_MIXER_ATTENTION;
}

ql_ffn_kind ql_layer_ffn(const ql_model_config *c, int64_t l) {
    (void)l; /* every layer of the supported MoE architectures routes */
    return c->n_expert > 0 ? QL_FFN_MOE : QL_FFN_DENSE;
}

const char *ql_mixer_name(ql_mixer_kind k) {
    switch (k) {
    case QL_MIXER_ATTENTION:
        return "attention";
    case QL_MIXER_SLIDING:
        return "sliding-window attention";
    case QL_MIXER_DELTANET:
        return "gated deltanet";
    }
    return "?";
}

const char *ql_ffn_name(ql_ffn_kind k) {
    return k == QL_FFN_MOE ? "moe" : "dense";
}

uint64_t ql_layer_kv_bytes_per_cell(const ql_model_config *c, ql_type type_k, ql_type type_v) {
    return (uint64_t)c->n_head_kv *
           (ql_row_size(type_k, c->head_dim_k) + ql_row_size(type_v, c->head_dim_v));
}

int64_t ql_deltanet_conv_floats(const ql_model_config *c) {
    /* the last d_conv - 1 inputs of every conv channel: q and k of each key head, v */
    return (c->ssm_d_conv - 1) * (c->ssm_d_inner + 2 * c->ssm_n_group * c->ssm_d_state);
}

int64_t ql_deltanet_state_floats(const ql_model_config *c) {
    /* one d_state x d_state matrix per value head (value heads are d_state wide) */
    return c->ssm_d_state * c->ssm_d_inner;
}

void ql_layer_describe(const ql_model_config *c, int64_t l, const ql_state_params *p,
                       ql_layer_desc *d) {
    memset(d, 0, sizeof *d);
    d->mixer = ql_layer_mixer(c, l);
    d->ffn = ql_layer_ffn(c, l);
    if (d->mixer == QL_MIXER_DELTANET) {
        d->conv_bytes = (uint64_t)ql_deltanet_conv_floats(c) * sizeof(float);
        d->ssm_bytes = (uint64_t)ql_deltanet_state_floats(c) * sizeof(float);
        return;
    }
    int64_t cells = p->n_ctx;
    if (d->mixer == QL_MIXER_SLIDING) {
        /* the ring llama.cpp keeps, where it is smaller than the context */
        const int64_t ub = p->n_ubatch < 1 ? 512 : p->n_ubatch < p->n_ctx ? p->n_ubatch : p->n_ctx;
        const int64_t ring = ql_kv_cells_size_swa(p->n_ctx, c->n_swa, ub);
        if (ring < cells) cells = ring;
    }
    d->kv_cells = cells;
    d->k_bytes = (uint64_t)cells * (uint64_t)c->n_head_kv * ql_row_size(p->type_k, c->head_dim_k);
    d->v_bytes = (uint64_t)cells * (uint64_t)c->n_head_kv * ql_row_size(p->type_v, c->head_dim_v);
}

void ql_state_summarize(const ql_model_config *c, const ql_state_params *p, ql_state_summary *s) {
    memset(s, 0, sizeof *s);
    for (int64_t l = 0; l < c->n_layer; l++) {
        ql_layer_desc d;
        ql_layer_describe(c, l, p, &d);
        s->n_attention += d.mixer == QL_MIXER_ATTENTION;
        s->n_sliding += d.mixer == QL_MIXER_SLIDING;
        s->n_deltanet += d.mixer == QL_MIXER_DELTANET;
        s->n_moe += d.ffn == QL_FFN_MOE;
        s->kv_bytes += d.k_bytes + d.v_bytes;
        s->recurrent_bytes += d.conv_bytes + d.ssm_bytes;
    }
}

/*
 * weights_info.c - bits per weight and fallbacks of a weights file (see
 * weights_info.h). The fallbacks are the quantization rules run again on the
 * file's names and shapes, so they say what llama-quantize's rules would
 * have done, whoever made the file.
 */
#include "weights_info.h"

#include <stdlib.h>
#include <string.h>

#include "quantize.h"
#include "quantize_rules.h"

typedef struct {
    char *name;
    const gguf_tensor *t;
} named_tensor;

static int by_llama_order(const void *a, const void *b) {
    return ql_quant_tensor_order(((const named_tensor *)a)->name, ((const named_tensor *)b)->name);
}

static ql_status read_fallbacks(const gguf_file *f, ql_ftype ftype, ql_weights_info *out,
                                ql_error *err) {
    ql_quant_model_info model;
    ql_status st = ql_quant_model_info_read(f, &model, err);
    if (st) return st;
    const int64_t n = gguf_n_tensors(f);
    named_tensor *ts = calloc(n > 0 ? (size_t)n : 1, sizeof *ts);
    ql_quant_tensor *descs = calloc(n > 0 ? (size_t)n : 1, sizeof *descs);
    ql_quant_choice *choices = calloc(n > 0 ? (size_t)n : 1, sizeof *choices);
    if (!ts || !descs || !choices) st = ql_fail(err, QL_ERR_NOMEM, "out of memory");
    for (int64_t i = 0; i < n && !st; i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        ts[i].t = t;
        if (!(ts[i].name = malloc(t->name.len + 1))) {
            st = ql_fail(err, QL_ERR_NOMEM, "out of memory");
            break;
        }
        memcpy(ts[i].name, t->name.ptr, t->name.len);
        ts[i].name[t->name.len] = '\0';
    }
    if (!st) {
        /* some rules count tensors as they go: llama.cpp's order */
        qsort(ts, (size_t)n, sizeof *ts, by_llama_order);
        for (int64_t i = 0; i < n; i++) {
            descs[i].name = ts[i].name;
            memcpy(descs[i].ne, ts[i].t->ne, sizeof descs[i].ne);
            descs[i].type = ts[i].t->type;
        }
        const ql_quant_options opts = ql_quant_default_options(ftype);
        st = ql_quant_choose_types(&model, &opts, descs, n, choices, err);
    }
    if (!st) {
        /* the commonest wanted -> fallback pair among the matrices that fell back */
        int64_t pairs[QL_TYPE_COUNT][QL_TYPE_COUNT];
        memset(pairs, 0, sizeof pairs);
        for (int64_t i = 0; i < n; i++) {
            if (!choices[i].quantizable) continue;
            out->n_converted++;
            if (!choices[i].fell_back) continue;
            out->n_fell_back++;
            out->row_length = descs[i].ne[0];
            if ((int)choices[i].wanted < QL_TYPE_COUNT && (int)choices[i].type < QL_TYPE_COUNT)
                pairs[choices[i].wanted][choices[i].type]++;
        }
        int64_t most = 0;
        for (int a = 0; a < QL_TYPE_COUNT; a++)
            for (int b = 0; b < QL_TYPE_COUNT; b++)
                if (pairs[a][b] > most) {
                    most = pairs[a][b];
                    out->wanted = (ql_type)a;
                    out->fallback = (ql_type)b;
                }
        out->rules_known = true;
    }
    for (int64_t i = 0; ts && i < n; i++) free(ts[i].name);
    free(ts);
    free(descs);
    free(choices);
    return st;
}

ql_status ql_weights_info_read(const gguf_file *f, ql_weights_info *out, ql_error *err) {
    memset(out, 0, sizeof *out);
    int64_t by_type[QL_TYPE_COUNT] = {0};
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        const int64_t n = gguf_tensor_nelements(t);
        out->n_params += n;
        out->tensor_bytes += t->n_bytes;
        if ((int)t->type < QL_TYPE_COUNT) by_type[t->type] += n;
    }
    out->bits_per_weight =
        out->n_params > 0 ? 8.0 * (double)out->tensor_bytes / (double)out->n_params : 0;
    for (int ty = 0; ty < QL_TYPE_COUNT; ty++)
        if (by_type[ty] > by_type[out->dominant]) out->dominant = (ql_type)ty;
    out->dominant_share =
        out->n_params > 0 ? (double)by_type[out->dominant] / (double)out->n_params : 0;
    uint64_t ft;
    if (!gguf_get_u64(f, "general.file_type", &ft)) return QL_OK;
    int n_types;
    const ql_ftype_info *list = ql_ftype_list(&n_types);
    for (int i = 0; i < n_types; i++)
        if ((uint64_t)list[i].ftype == ft) return read_fallbacks(f, list[i].ftype, out, err);
    return QL_OK;
}

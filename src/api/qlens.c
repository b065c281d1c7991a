/*
 * qlens.c - the public API (include/qlens.h): thin wrappers over the modules,
 * translating their types and errors. The only file that includes both the
 * public header and the internal ones.
 */
#include "../../include/qlens.h"

#include <stdlib.h>
#include <string.h>

#include "../eval/kldrun.h"
#include "../lab/plan.h"
#include "../lab/quantize.h"
#include "../model/context.h"
#include "../tokenizer/tokenizer.h"

_Static_assert((int)QLENS_ERR_INTERNAL == (int)QL_ERR_INTERNAL, "status codes agree");
_Static_assert(sizeof(((qlens_error *)0)->msg) == QL_ERROR_MSG_MAX, "message sizes agree");

struct qlens_model {
    ql_model *m;
    tok_vocab *vocab;
};

const char *qlens_version(void) {
    return QLENS_VERSION_STRING;
}
void qlens_free(void *p) {
    free(p);
}

static qlens_status out_err(ql_status st, const ql_error *in, qlens_error *err) {
    if (err) {
        err->code = (qlens_status)st;
        memcpy(err->msg, in->msg, sizeof err->msg);
    }
    return (qlens_status)st;
}

qlens_status qlens_model_open(const char *path, qlens_model **out, qlens_error *err) {
    *out = NULL;
    ql_error e = {0};
    qlens_model *h = calloc(1, sizeof *h);
    if (!h) return out_err(ql_fail(&e, QL_ERR_NOMEM, "out of memory"), &e, err);
    ql_status st = ql_model_load(path, &h->m, &e);
    if (!st) st = tok_load(h->m->file, &h->vocab, &e);
    if (st) {
        qlens_model_close(h);
        return out_err(st, &e, err);
    }
    *out = h;
    return QLENS_OK;
}

void qlens_model_close(qlens_model *h) {
    if (!h) return;
    tok_free(h->vocab);
    ql_model_free(h->m);
    free(h);
}

void qlens_model_get_info(const qlens_model *h, qlens_model_info *info) {
    const ql_model_config *c = &h->m->cfg;
    memset(info, 0, sizeof *info);
    memcpy(info->arch, c->arch, sizeof info->arch);
    info->n_vocab = c->n_vocab;
    info->n_embd = c->n_embd;
    info->n_layer = c->n_layer;
    info->n_head = c->n_head;
    info->n_head_kv = c->n_head_kv;
    info->head_dim = c->head_dim_k;
    info->n_ctx_train = c->n_ctx_train;
    info->weight_bytes = h->m->weight_bytes;
}

qlens_status qlens_tokenize(qlens_model *h, const char *text, size_t len, int add_special,
                            int32_t **ids, size_t *n_ids, qlens_error *err) {
    ql_error e = {0};
    ql_status st = tok_encode(h->vocab, text, len, add_special != 0, false, ids, n_ids, &e);
    return st ? out_err(st, &e, err) : QLENS_OK;
}

void qlens_eval_params_default(qlens_eval_params *p) {
    memset(p, 0, sizeof *p);
    p->n_ctx = 512;
    p->n_ubatch = 512;
    p->cache_type_k = "f16";
    p->cache_type_v = "f16";
    p->kv_rotate = "auto";
    p->kv_hadamard = "fwht";
}

static ql_status make_context(qlens_model *h, const qlens_eval_params *p, int64_t n_ctx,
                              ql_context **ctx, ql_error *e) {
    ql_context_params cp = ql_context_default_params();
    cp.n_ctx = n_ctx;
    if (p->n_ubatch > 0) cp.n_ubatch = p->n_ubatch;
    if (p->n_threads > 0) cp.n_threads = p->n_threads;
    const int k = ql_type_from_name(p->cache_type_k ? p->cache_type_k : "f16");
    const int v = ql_type_from_name(p->cache_type_v ? p->cache_type_v : "f16");
    if (k < 0 || v < 0)
        return ql_fail(e, QL_ERR_ARG, "unknown cache type (valid: %s)", ql_kv_cache_type_names());
    cp.type_k = (ql_type)k;
    cp.type_v = (ql_type)v;
    const char *rot = p->kv_rotate ? p->kv_rotate : "auto";
    if (!ql_rotate_mode_from_name(rot, &cp.rotate))
        return ql_fail(e, QL_ERR_ARG, "kv_rotate '%s' is not auto, on or off", rot);
    const char *had = p->kv_hadamard ? p->kv_hadamard : "fwht";
    if (!ql_hadamard_mode_from_name(had, &cp.hadamard))
        return ql_fail(e, QL_ERR_ARG, "kv_hadamard '%s' is not fwht or dense", had);
    return ql_context_create(h->m, &cp, ctx, e);
}

qlens_status qlens_perplexity(qlens_model *h, const qlens_eval_params *p, const int32_t *tokens,
                              size_t n_tokens, const char *save_reference, qlens_ppl *out,
                              qlens_error *err) {
    ql_error e = {0};
    ql_context *ctx = NULL;
    ql_status st = make_context(h, p, p->n_ctx, &ctx, &e);
    ql_eval_params ep = {.n_ctx = p->n_ctx,
                         .n_chunks = p->n_chunks,
                         .replace_bos = tok_add_bos(h->vocab),
                         .bos_id = tok_bos(h->vocab)};
    ql_ppl_result r = {0};
    if (!st)
        st = save_reference ? ql_kld_save_base(ctx, h->m->file, tokens, (int64_t)n_tokens, &ep,
                                               save_reference, QL_REF_QLENS, "", NULL, NULL, &r, &e)
                            : ql_perplexity(ctx, tokens, (int64_t)n_tokens, &ep, NULL, NULL, NULL,
                                            NULL, &r, &e);
    if (!st) {
        out->ppl = r.ppl;
        out->ppl_unc = r.ppl_unc;
        out->n_chunks = r.n_chunks;
        out->n_scored = r.n_scored;
        ql_ppl_result_free(&r);
    }
    ql_context_free(ctx);
    return st ? out_err(st, &e, err) : QLENS_OK;
}

qlens_status qlens_kld_against_file(qlens_model *h, const qlens_eval_params *p,
                                    const char *reference, qlens_kld *out, qlens_error *err) {
    ql_error e = {0};
    ql_ref_file *ref = NULL;
    ql_context *ctx = NULL;
    ql_kld_acc acc = {0};
    ql_kld_stats s;
    ql_status st = ql_ref_open(reference, &ref, &e);
    if (!st) st = make_context(h, p, ql_ref_info_of(ref)->n_ctx, &ctx, &e);
    if (!st) st = ql_kld_acc_init(&acc, 1024, &e);
    if (!st) st = ql_kld_run_file(ctx, h->m->file, ref, p->n_chunks, NULL, NULL, &acc, &e);
    if (!st) st = ql_kld_stats_from(&acc, &s, &e);
    if (!st)
        *out = (qlens_kld){.kld = s.kld.value,
                           .kld_unc = s.kld.unc,
                           .ppl_q = s.ppl_q.value,
                           .ppl_base = s.ppl_base.value,
                           .ln_ratio = s.ln_ratio.value,
                           .ln_ratio_unc = s.ln_ratio.unc,
                           .same_top = s.same_top.value,
                           .same_top_unc = s.same_top.unc,
                           .rms_dp = s.rms_dp.value,
                           .n_scored = s.count};
    ql_kld_acc_free(&acc);
    ql_context_free(ctx);
    ql_ref_close(ref);
    return st ? out_err(st, &e, err) : QLENS_OK;
}

qlens_status qlens_quantize(const char *in, const char *out, const char *file_type, int n_threads,
                            int allow_requantize, qlens_error *err) {
    ql_error e = {0};
    const ql_ftype_info *ft = file_type ? ql_ftype_find(file_type) : NULL;
    if (!ft)
        return out_err(ql_fail(&e, QL_ERR_ARG, "unknown file type '%s' (valid: %s)",
                               file_type ? file_type : "", ql_ftype_names()),
                       &e, err);
    ql_quantize_params qp = {.rules = ql_quant_default_options(ft->ftype),
                             .n_threads = n_threads > 0 ? n_threads : ql_cpu_count(),
                             .allow_requantize = allow_requantize != 0};
    ql_status st = ql_quantize_model(in, out, &qp, NULL, &e);
    return st ? out_err(st, &e, err) : QLENS_OK;
}

uint64_t qlens_kv_cache_bytes(const qlens_model *h, const char *cache_type_k,
                              const char *cache_type_v, int64_t n_ctx) {
    const int k = ql_type_from_name(cache_type_k), v = ql_type_from_name(cache_type_v);
    if (k < 0 || v < 0 || !ql_kv_cache_type_ok((ql_type)k) || !ql_kv_cache_type_ok((ql_type)v) ||
        n_ctx < 0)
        return 0;
    return ql_plan_kv_bytes(&h->m->cfg, (ql_type)k, (ql_type)v, n_ctx);
}

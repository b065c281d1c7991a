/*
 * run_common.c - shared machinery of the commands that run models (see
 * run_common.h). Results go to stdout in llama-perplexity's formats;
 * progress and run descriptions go to stderr.
 */
#include "run_common.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "../../include/qlens.h"

void ql_run_opts_defaults(ql_run_opts *o) {
    memset(o, 0, sizeof *o);
    o->n_batch = 2048;
    o->n_ubatch = 512;
    o->ctk = "f16";
    o->ctv = "f16";
    o->rotate = "auto";
    o->hadamard = "fwht";
    o->numerics = "auto";
    o->engine = "qlens";
}

int64_t ql_run_n_ctx(const ql_run_opts *o) {
    return o->n_ctx > 0 ? o->n_ctx : 512;
}

/* "0", "auto" and "all" as -ngl takes them; an integer is any number of layers */
static bool is_gpu_layers(const char *v) {
    if (strcmp(v, "auto") == 0 || strcmp(v, "all") == 0) return true;
    char *end;
    errno = 0;
    const long long n = strtoll(v, &end, 10);
    return !errno && end != v && !*end && n >= -1;
}

static bool is_integer(const char *v) {
    char *end;
    errno = 0;
    (void)strtoll(v, &end, 10);
    return !errno && end != v && !*end;
}

int ql_run_check_llama_flags(const char *command, ql_run_opts *o) {
    if (o->llama.log_disable) cli_set_quiet(true);
    const char *ngl = o->llama.n_gpu_layers;
    if (ngl && !is_gpu_layers(ngl))
        return cli_usage("%s --n-gpu-layers: '%s' is not a number of layers, auto or all", command,
                         cli_shown(ngl));
    if (o->llama.seed && !is_integer(o->llama.seed))
        return cli_usage("%s --seed: '%s' is not an integer", command, cli_shown(o->llama.seed));
    if (o->llama.ppl_stride > 0)
        return cli_usage("%s --ppl-stride %lld: llama-perplexity's strided perplexity is not "
                         "implemented; qlens computes its default protocol (--ppl-stride 0)",
                         command, (long long)o->llama.ppl_stride);
    if (o->llama.threads_batch > 0) o->threads = o->llama.threads_batch;
    /* with --engine llama.cpp, llama.cpp takes -ngl, -fa, --no-mmap and --mlock itself */
    if (!ql_run_is_llama(o)) {
        /* -ngl 0 asks for the CPU, which is what runs */
        if (ngl && strcmp(ngl, "0") != 0)
            cli_note("-ngl %s has no effect: qlens runs on the CPU", ngl);
        if (o->llama.flash_attn && strcmp(o->llama.flash_attn, "off") == 0)
            cli_note(
                "-fa off has no effect: qlens computes attention as llama.cpp's flash-attention "
                "path does");
        if (o->llama.no_mmap)
            cli_note(
                "--no-mmap has no effect: qlens maps the model read-only and reads it in place");
        if (o->llama.mlock) cli_note("--mlock has no effect: qlens locks nothing in memory");
    }
    if (o->llama.seed)
        cli_note("--seed has no effect: evaluation draws no random numbers, so every run gives "
                 "the same numbers");
    if (o->llama.output_file)
        cli_note("-o %s has no effect: llama-perplexity writes nothing there either; --json FILE "
                 "writes every number",
                 cli_shown(o->llama.output_file));
    return 0;
}

int ql_run_check_flags(const char *command, const char *flag_prefix, const char *ctk,
                       const char *ctv, const char *rotate, const char *hadamard,
                       const char *numerics) {
    const struct {
        const char *flag, *value;
    } types[] = {{"cache-type-k", ctk}, {"cache-type-v", ctv}};
    for (int i = 0; i < 2; i++) {
        const int t = ql_type_from_name(types[i].value);
        if (t < 0 || !ql_kv_cache_type_ok((ql_type)t))
            return cli_usage("%s %s%s: unknown cache type '%s' (valid: %s)", command, flag_prefix,
                             types[i].flag, types[i].value, ql_kv_cache_type_names());
    }
    ql_rotate_mode mode;
    if (!ql_rotate_mode_from_name(rotate, &mode))
        return cli_usage("%s %skv-rotate: '%s' is not auto, on or off", command, flag_prefix,
                         rotate);
    ql_hadamard_mode hmode;
    if (!ql_hadamard_mode_from_name(hadamard, &hmode))
        return cli_usage("%s %skv-hadamard: '%s' is not fwht or dense", command, flag_prefix,
                         hadamard);
    ql_numerics num;
    if (numerics && !ql_numerics_from_name(numerics, &num))
        return cli_usage("%s --numerics: '%s' is not auto, fp16 or f32", command, numerics);
    return 0;
}

ql_status ql_run_context_params(const ql_run_opts *o, ql_context_params *cp, ql_error *err) {
    *cp = ql_context_default_params();
    cp->n_ctx = ql_run_n_ctx(o);
    cp->n_ubatch = o->n_ubatch < o->n_batch ? o->n_ubatch : o->n_batch;
    if (o->threads > 0) cp->n_threads = (int)o->threads;
    int tk, tv;
    ql_status st = cli_kv_cache_type("--cache-type-k", o->ctk, &tk, err);
    if (!st) st = cli_kv_cache_type("--cache-type-v", o->ctv, &tv, err);
    if (st) return st;
    cp->type_k = (ql_type)tk;
    cp->type_v = (ql_type)tv;
    if (!ql_rotate_mode_from_name(o->rotate, &cp->rotate))
        return ql_fail(err, QL_ERR_ARG, "--kv-rotate: '%s' is not auto, on or off", o->rotate);
    if (!ql_hadamard_mode_from_name(o->hadamard, &cp->hadamard))
        return ql_fail(err, QL_ERR_ARG, "--kv-hadamard: '%s' is not fwht or dense", o->hadamard);
    if (!ql_numerics_from_name(o->numerics, &cp->numerics))
        return ql_fail(err, QL_ERR_ARG, "--numerics: '%s' is not auto, fp16 or f32", o->numerics);
    cp->no_repack = o->no_repack;
    return QL_OK;
}

int ql_run_check_engine(const char *command, const ql_run_opts *o) {
    if (strcmp(o->engine, "qlens") != 0 && strcmp(o->engine, "llama.cpp") != 0)
        return cli_usage("%s --engine: '%s' is not qlens or llama.cpp", command,
                         cli_shown(o->engine));
    if (!ql_run_is_llama(o)) {
        if (o->llama_lib)
            return cli_usage("%s --llama-lib: only used with --engine llama.cpp", command);
        return 0;
    }
    /* llama.cpp rotates a quantized cache on its own (auto) and can be told not to (off);
       it has no switch to rotate an f16 cache, nor qlens's older dense transform */
    if (strcmp(o->rotate, "on") == 0)
        return cli_usage("%s --kv-rotate on: llama.cpp's engine has auto (rotating quantized "
                         "caches) and off",
                         command);
    if (strcmp(o->hadamard, "fwht") != 0)
        return cli_usage("%s --kv-hadamard %s: llama.cpp computes its rotation one way (fwht)",
                         command, cli_shown(o->hadamard));
    if (strcmp(o->numerics, "auto") != 0)
        cli_note("--numerics %s has no effect with --engine llama.cpp, which computes with its "
                 "own kernels",
                 o->numerics);
    return 0;
}

static ql_status open_llama(ql_run *r, ql_error *err) {
    const ql_run_opts *o = r->o;
    int32_t ngl = -1; /* llama.cpp's default: every layer on the best device */
    const char *v = o->llama.n_gpu_layers;
    if (v && strcmp(v, "auto") != 0 && strcmp(v, "all") != 0) ngl = (int32_t)strtol(v, NULL, 10);
    int fa = -1;
    if (o->llama.flash_attn && strcmp(o->llama.flash_attn, "on") == 0) fa = 1;
    if (o->llama.flash_attn && strcmp(o->llama.flash_attn, "off") == 0) fa = 0;
    const ql_llama_params lp = {.lib_path = o->llama_lib,
                                .model_path = o->model,
                                .n_gpu_layers = ngl,
                                .no_mmap = o->llama.no_mmap,
                                .mlock = o->llama.mlock,
                                .no_repack = o->no_repack,
                                .n_ctx = r->cp.n_ctx,
                                .n_batch = o->n_batch,
                                .n_ubatch = o->n_ubatch,
                                .n_threads = r->cp.n_threads,
                                .type_k = (int)r->cp.type_k,
                                .type_v = (int)r->cp.type_v,
                                .flash_attn = fa,
                                .rotate_off = strcmp(o->rotate, "off") == 0};
    ql_status st = ql_llama_open(&lp, &r->llama, err);
    if (st) return st;
    if (ql_llama_n_vocab(r->llama) != r->model->cfg.n_vocab)
        return ql_fail(err, QL_ERR_MISMATCH, "%s: llama.cpp reads %lld tokens, qlens %lld",
                       o->model, (long long)ql_llama_n_vocab(r->llama),
                       (long long)r->model->cfg.n_vocab);
    ql_llama_engine(r->llama, &r->engine);
    return QL_OK;
}

ql_status ql_run_open(ql_run *r, const ql_run_opts *o, const char *command, ql_error *err) {
    memset(r, 0, sizeof *r);
    r->o = o;
    r->command = command;
    r->t_start = r->t_eval = cli_now();
    ql_status st = ql_run_context_params(o, &r->cp, err);
    if (!st) st = ql_model_load(o->model, &r->model, err);
    if (!st) st = ql_context_create(r->model, &r->cp, &r->ctx, err);
    if (!st && ql_run_is_llama(o)) st = open_llama(r, err);
    if (st) ql_run_close(r);
    return st;
}

void ql_run_close(ql_run *r) {
    ql_llama_close(r->llama);
    r->llama = NULL;
    ql_context_free(r->ctx);
    tok_free(r->vocab);
    ql_model_free(r->model);
    r->ctx = NULL;
    r->vocab = NULL;
    r->model = NULL;
}

static ql_status load_vocab(ql_run *r, ql_error *err) {
    if (r->vocab) return QL_OK;
    ql_status st = tok_load(r->model->file, &r->vocab, err);
    if (st) ql_error_prefix(err, "%s", r->o->model);
    return st;
}

ql_status ql_run_tokenize(ql_run *r, const char *path, int32_t **tokens, int64_t *n_tokens,
                          ql_error *err) {
    *tokens = NULL;
    *n_tokens = 0;
    ql_status st = load_vocab(r, err);
    if (st) return st;
    char *text;
    size_t len;
    if ((st = cli_read_file(path, &text, &len, err))) return st;
    if (len == 0) {
        free(text);
        return ql_fail(err, QL_ERR_ARG, "%s: the text is empty", path);
    }
    if (r->llama) {
        /* the engine's own tokenizer, as llama-perplexity tokenizes */
        st = ql_llama_tokenize(r->llama, text, len, tokens, n_tokens, err);
        free(text);
        return st;
    }
    size_t n;
    /* llama-perplexity: add_special (BOS when the vocabulary adds it), no special-token parsing */
    st = tok_encode(r->vocab, text, len, true, false, tokens, &n, err);
    free(text);
    if (st) return st;
    *n_tokens = (int64_t)n;
    return QL_OK;
}

ql_status ql_run_eval_params(ql_run *r, int64_t n_tokens, ql_eval_params *ep, ql_error *err) {
    ql_status st = load_vocab(r, err);
    if (st) return st;
    const int64_t n_ctx = ql_run_n_ctx(r->o);
    if ((st = ql_eval_check_tokens(n_tokens, n_ctx, err))) return st;
    int64_t n_chunks = ql_eval_max_chunks(n_tokens, n_ctx);
    if (r->o->chunks > 0 && r->o->chunks < n_chunks) n_chunks = r->o->chunks;
    *ep = (ql_eval_params){.n_ctx = n_ctx,
                           .n_chunks = n_chunks,
                           .replace_bos = tok_add_bos(r->vocab),
                           .bos_id = tok_bos(r->vocab),
                           .engine = r->llama ? &r->engine : NULL};
    if (r->llama) {
        ep->replace_bos = ql_llama_add_bos(r->llama);
        ep->bos_id = ql_llama_bos(r->llama);
    }
    return QL_OK;
}

static const char *weights_name(const ql_run *r, char *buf, size_t size) {
    uint32_t ft;
    if (gguf_get_u32(r->model->file, "general.file_type", &ft)) {
        const char *name = gguf_file_type_name(ft);
        if (name) {
            snprintf(buf, size, "%s", strncmp(name, "MOSTLY_", 7) == 0 ? name + 7 : name);
            return buf;
        }
    }
    /* no file type: the first layer's first projection (a DeltaNet layer has no attn_q) */
    const ql_layer *L0 = &r->model->layers[0];
    snprintf(buf, size, "%s", ql_type_name((int)(L0->wq.data ? L0->wq.type : L0->ssm_qkv.type)));
    return buf;
}

void ql_run_describe(const ql_run *r, char *buf, size_t size) {
    char w[32];
    const bool rotating = ql_context_rotates_k(r->ctx) || ql_context_rotates_v(r->ctx);
    snprintf(buf, size, "weights=%s ctk=%s ctv=%s rot=%s%s%s%s", weights_name(r, w, sizeof w),
             ql_type_name((int)r->cp.type_k), ql_type_name((int)r->cp.type_v), r->o->rotate,
             rotating ? " (rotating, " : "", rotating ? ql_hadamard_mode_name(r->cp.hadamard) : "",
             rotating ? ")" : "");
}

void ql_run_print_header(ql_run *r, int64_t n_tokens, const ql_eval_params *ep) {
    r->t_eval = cli_now();
    if (cli_quiet()) return;
    char d[256];
    ql_run_describe(r, d, sizeof d);
    fprintf(stderr, "%s: %s: %lld tokens, %lld chunks of %lld, %s, %d threads\n", r->command,
            cli_shown(r->o->model), (long long)n_tokens, (long long)ep->n_chunks,
            (long long)ep->n_ctx, d, r->cp.n_threads);
    if (r->llama)
        fprintf(stderr, "%s: engine llama.cpp %s (%s), backend %s, device %s\n", r->command,
                ql_llama_version(r->llama), cli_shown(ql_llama_lib(r->llama)),
                ql_llama_backend(r->llama), ql_llama_device(r->llama));
}

void ql_run_print_speed(ql_run *r, int64_t tokens_evaluated) {
    r->t_done = cli_now();
    r->tokens_evaluated = tokens_evaluated;
    if (cli_quiet()) return;
    const double t = r->t_done, dt = t - r->t_start, de = t - r->t_eval;
    const double n = (double)tokens_evaluated;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(stderr,
            "%s: evaluated %lld tokens in %.2f s (%.1f tokens/s; evaluation alone %.2f s, "
            "%.1f tokens/s), peak RSS %.1f MiB\n",
            r->command, (long long)tokens_evaluated, dt, dt > 0 ? n / dt : 0.0, de,
            de > 0 ? n / de : 0.0, (double)ru.ru_maxrss / 1024.0);
}

ql_status ql_run_json_begin(ql_run *r, const char *kind, ql_outfile **of, ql_error *err) {
    ql_status st = ql_outfile_open(r->o->json, of, err);
    if (st) return st;
    ql_json *j = &r->json;
    ql_json_init(j, ql_outfile_stream(*of), true);
    ql_json_object_begin(j);
    ql_json_key(j, "qlens_version");
    ql_json_str(j, QLENS_VERSION_STRING);
    ql_json_key(j, "kind");
    ql_json_str(j, kind);
    ql_json_key(j, "engine");
    ql_json_str(j, r->llama ? "llama.cpp" : ql_engine_name());
    ql_json_key(j, "backend");
    ql_json_str(j, r->llama ? ql_llama_backend(r->llama) : "CPU");
    ql_json_key(j, "device");
    if (r->llama)
        ql_json_str(j, ql_llama_device(r->llama));
    else
        ql_json_str(j, "CPU");
    if (r->llama) {
        ql_json_key(j, "llama_version");
        ql_json_str(j, ql_llama_version(r->llama));
        ql_json_key(j, "llama_lib");
        ql_json_str(j, ql_llama_lib(r->llama));
        ql_json_key(j, "llama_system_info");
        ql_json_str(j, ql_llama_system_info(r->llama));
    }
    ql_json_key(j, "model");
    ql_json_object_begin(j);
    ql_json_key(j, "path");
    ql_json_str(j, r->o->model);
    gguf_str name;
    ql_json_key(j, "name");
    if (gguf_get_str(r->model->file, "general.name", &name))
        ql_json_str_n(j, name.ptr, (size_t)name.len);
    else
        ql_json_null(j);
    ql_json_key(j, "architecture");
    ql_json_str(j, r->model->cfg.arch);
    char w[32];
    ql_json_key(j, "weights");
    ql_json_str(j, weights_name(r, w, sizeof w));
    ql_json_key(j, "file_bytes");
    ql_json_uint(j, gguf_file_size(r->model->file));
    ql_json_key(j, "n_vocab");
    ql_json_int(j, r->model->cfg.n_vocab);
    ql_json_object_end(j);
    ql_json_key(j, "config");
    ql_json_object_begin(j);
    ql_json_key(j, "n_ctx");
    ql_json_int(j, r->cp.n_ctx);
    ql_json_key(j, "n_ubatch");
    ql_json_int(j, r->cp.n_ubatch);
    ql_json_key(j, "cache_type_k");
    ql_json_str(j, ql_type_name((int)r->cp.type_k));
    ql_json_key(j, "cache_type_v");
    ql_json_str(j, ql_type_name((int)r->cp.type_v));
    ql_json_key(j, "kv_rotate");
    ql_json_str(j, r->o->rotate);
    ql_json_key(j, "kv_hadamard");
    ql_json_str(j, ql_hadamard_mode_name(r->cp.hadamard));
    ql_json_key(j, "numerics");
    ql_json_str(j, ql_numerics_name(r->cp.numerics));
    ql_json_key(j, "repacked_weights");
    ql_json_bool(j, !r->cp.no_repack);
    ql_json_key(j, "rotates_k");
    ql_json_bool(j, ql_context_rotates_k(r->ctx));
    ql_json_key(j, "rotates_v");
    ql_json_bool(j, ql_context_rotates_v(r->ctx));
    ql_json_key(j, "kv_cache_bytes");
    ql_json_uint(j, ql_context_kv_bytes(r->ctx));
    ql_json_key(j, "recurrent_state_bytes");
    ql_json_uint(j, ql_context_recurrent_bytes(r->ctx));
    ql_json_key(j, "n_threads");
    ql_json_int(j, r->cp.n_threads);
    ql_json_object_end(j);
    ql_json_inputs(j, &r->reference, &r->text);
    const double done = r->t_done > 0 ? r->t_done : cli_now();
    const ql_run_timing timing = {.load_s = r->t_eval - r->t_start,
                                  .eval_s = done - r->t_eval,
                                  .tokens = r->tokens_evaluated};
    ql_json_timing(j, &timing);
    return QL_OK;
}

ql_json *ql_run_json(ql_run *r) {
    return &r->json;
}

ql_status ql_run_json_end(ql_run *r, ql_outfile *of, ql_error *err) {
    ql_json_object_end(&r->json);
    /* a write error is the stream's, and commit reports it with its reason */
    if (!ql_json_finish(&r->json) && !ferror(ql_outfile_stream(of))) {
        ql_outfile_abort(of);
        return ql_fail(err, QL_ERR_INTERNAL, "%s: malformed JSON (a bug in qlens)", r->o->json);
    }
    return ql_outfile_commit(of, err);
}

void ql_run_print_kld_ref(ql_run *r, const char *path, const ql_ref_file *ref, int64_t n_chunks) {
    r->t_eval = cli_now();
    if (cli_quiet()) return;
    const ql_ref_info *in = ql_ref_info_of(ref);
    char d[256];
    ql_run_describe(r, d, sizeof d);
    fprintf(stderr, "%s: %s against %s (%s format%s%s%s), %lld chunks of %lld, %s, %d threads\n",
            r->command, cli_shown(r->o->model), cli_shown(path),
            ql_ref_format_of(ref) == QL_REF_QLENS ? "qlens" : "llama.cpp",
            in->model_name[0] ? ", " : "", cli_shown(in->model_name), in->config[0] ? "" : "",
            (long long)n_chunks, (long long)in->n_ctx, d, r->cp.n_threads);
}

void ql_run_print_kld_chunk_header(void) {
    printf("chunk             PPL               ln(PPL(Q)/PPL(base))          KL Divergence       "
           "       Δp RMS            Same top p\n");
}

void ql_run_print_kld_chunk(int64_t chunk, const ql_kld_chunk_row *row) {
    printf("%4lld    %9.4f ± %9.4f    %10.5f ± %10.5f    %10.5f ± %10.5f    %6.3f ± %6.3f %%    "
           "%6.3f ± %6.3f %%\n",
           (long long)chunk + 1, row->ppl.value, row->ppl.unc, row->ln_ratio.value,
           row->ln_ratio.unc, row->kld.value, row->kld.unc, 100 * row->rms_dp.value,
           100 * row->rms_dp.unc, 100 * row->same_top.value, 100 * row->same_top.unc);
    fflush(stdout);
}

bool ql_run_kld_on_chunk(void *user, int64_t chunk, int64_t n_chunks, const ql_kld_chunk_row *row) {
    ql_run_kld_ui *ui = user;
    ui->rows[chunk] = *row;
    cli_progress_end(&ui->bar);
    ql_run_print_kld_chunk(chunk, row);
    char detail[64];
    snprintf(detail, sizeof detail, "chunk %lld/%lld", (long long)chunk + 1, (long long)n_chunks);
    cli_progress_update(&ui->bar, (double)(chunk + 1), (double)n_chunks, detail);
    return true;
}

void ql_run_print_kld_stats(const ql_kld_stats *s) {
    printf("\n====== Perplexity statistics ======\n");
    printf("Mean PPL(Q)                   : %10.6f ± %10.6f\n", s->ppl_q.value, s->ppl_q.unc);
    printf("Mean PPL(base)                : %10.6f ± %10.6f\n", s->ppl_base.value, s->ppl_base.unc);
    printf("Cor(ln(PPL(Q)), ln(PPL(base))): %6.2f%%\n", 100 * s->cor_ln_ppl);
    printf("Mean ln(PPL(Q)/PPL(base))     : %10.6f ± %10.6f\n", s->ln_ratio.value, s->ln_ratio.unc);
    printf("Mean PPL(Q)/PPL(base)         : %10.6f ± %10.6f\n", s->ratio.value, s->ratio.unc);
    printf("Mean PPL(Q)-PPL(base)         : %10.6f ± %10.6f\n", s->diff.value, s->diff.unc);
    printf("\n====== KL divergence statistics ======\n");
    printf("Mean    KLD: %10.6f ± %10.6f\n", s->kld.value, s->kld.unc);
    for (int i = 0; i < 11; i++) {
        char name[16];
        snprintf(name, sizeof name, "%s", ql_kld_pct_names[i]);
        if (strcmp(name, "Maximum") && strcmp(name, "Median") && strcmp(name, "Minimum")) {
            printf("%5s   KLD: %10.6f\n", name, s->kld_pct[i]);
        } else {
            printf("%-7s KLD: %10.6f\n", name, s->kld_pct[i]);
        }
    }
    printf("\n====== Token probability statistics ======\n");
    printf("Mean    Δp: %6.3f ± %5.3f %%\n", 100 * s->dp.value, 100 * s->dp.unc);
    for (int i = 0; i < 13; i++) {
        const char *name = ql_dp_pct_names[i];
        if (strcmp(name, "Maximum") && strcmp(name, "Median") && strcmp(name, "Minimum"))
            printf("%5s   Δp: %6.3f%%\n", name, 100 * s->dp_pct[i]);
        else
            printf("%-7s Δp: %6.3f%%\n", name, 100 * s->dp_pct[i]);
    }
    printf("RMS Δp    : %6.3f ± %5.3f %%\n", 100 * s->rms_dp.value, 100 * s->rms_dp.unc);
    printf("Same top p: %6.3f ± %5.3f %%\n", 100 * s->same_top.value, 100 * s->same_top.unc);
}

void ql_run_print_kld_positions(const ql_kld_bucket *b, int n) {
    printf("\n====== KL divergence by context position ======\n");
    printf("positions             tokens      Mean KLD\n");
    for (int i = 0; i < n; i++)
        printf("%6d - %-6d  %10lld    %10.6f ± %10.6f\n", b[i].pos_begin, b[i].pos_end,
               (long long)b[i].count, b[i].kld.value, b[i].kld.unc);
}

int ql_run_finish_kld(ql_run *r, const ql_kld_acc *acc, const ql_kld_chunk_row *rows,
                      int64_t n_chunks, int64_t n_ctx) {
    ql_error err;
    ql_kld_stats s;
    if (ql_kld_stats_from(acc, &s, &err)) return cli_fail(&err);
    ql_run_print_kld_stats(&s);
    ql_kld_bucket *buckets = NULL;
    const int nb = (int)r->o->positions;
    if (nb > 0) {
        buckets = calloc((size_t)nb, sizeof *buckets);
        if (!buckets) {
            cli_error("out of memory");
            return QL_EXIT_FAILURE;
        }
        if (ql_kld_buckets(acc, (int32_t)(n_ctx / 2), (int32_t)(n_ctx - 2), nb, buckets, &err)) {
            free(buckets);
            return cli_fail(&err);
        }
        ql_run_print_kld_positions(buckets, nb);
    }
    ql_run_print_speed(r, n_chunks * n_ctx);
    int rc = QL_EXIT_OK;
    if (r->o->json) {
        ql_outfile *of;
        if (ql_run_json_begin(r, "kl-divergence", &of, &err)) {
            rc = cli_fail(&err);
        } else {
            ql_json_kld_result(ql_run_json(r), acc, &s, rows, n_chunks, buckets, nb);
            if (ql_run_json_end(r, of, &err)) rc = cli_fail(&err);
        }
    }
    free(buckets);
    return rc;
}

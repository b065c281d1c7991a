/*
 * sweep.c - running a sweep (see sweep.h): weight files, the reference, one
 * KL-divergence run per configuration, each step journaled after its output
 * is renamed into place.
 */
#include "sweep.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../../include/qlens.h"
#include "../core/crc32.h"
#include "../core/json.h"
#include "../core/outfile.h"
#include "../core/sha256.h"
#include "../engine/llama_engine.h"
#include "../eval/kldrun.h"
#include "../eval/results_json.h"
#include "../tokenizer/tokenizer.h"
#include "filesum.h"
#include "journal.h"
#include "plan.h"
#include "quantize.h"
#include "runstore.h"

/* a shard's directory and its runs/ leave room in a path for a run's file name */
enum {
    PATH_MAX_LEN = 2048,
    DIR_MAX_LEN = 1024,
    RUNS_MAX_LEN = DIR_MAX_LEN + 8,
    LINE_MAX_IDENTITY = 1024
};

typedef struct {
    const ql_sweep_params *p;
    /* per --weights entry: the file's SHA-256 when it is given by path, "" when it is made */
    const char (*weight_sums)[QL_SHA256_HEX_SIZE];
    ql_sweep_progress_fn progress;
    ql_sweep_step_fn on_step;
    void *user;
    ql_journal *journal;         /* DIR/journal: weight files and the reference */
    ql_journal *run_journal;     /* the runs': DIR/journal, or a shard's own */
    char runs_dir[RUNS_MAX_LEN]; /* where the runs go: DIR/runs or DIR/shard-K-of-N/runs */
    int64_t n_chunks;            /* the chunks each evaluation runs */
    ql_sweep_progress now;       /* what the progress callback is told */
    int64_t eval_done_before;    /* tokens of the evaluations finished before this step */
} sweep_state;

static void report(sweep_state *s, double step_done) {
    s->now.step_done = step_done;
    if (s->now.phase != QL_SWEEP_QUANTIZE)
        s->now.eval_done = s->eval_done_before + (int64_t)step_done;
    if (s->progress) s->progress(s->user, &s->now);
}

static void begin_step(sweep_state *s, ql_sweep_phase phase, const char *what, double total) {
    s->now.phase = phase;
    s->now.what = what;
    s->now.step++;
    s->now.step_total = total;
    report(s, 0);
}

static void end_step(sweep_state *s) {
    if (s->now.phase != QL_SWEEP_QUANTIZE) s->eval_done_before += (int64_t)s->now.step_total;
}

static int64_t tokens_per_evaluation(const sweep_state *s) {
    return s->n_chunks * s->p->n_ctx;
}

static ql_status make_dir(const char *path, ql_error *err) {
    if (mkdir(path, 0777) == 0 || errno == EEXIST) {
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) return QL_OK;
        return ql_fail(err, QL_ERR_IO, "%s: exists and is not a directory", path);
    }
    return ql_fail(err, QL_ERR_IO, "%s: cannot create the directory: %s", path, strerror(errno));
}

/* Leftovers of a killed run: temporary files that were never renamed into place. */
static void remove_stale_temporaries(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char path[PATH_MAX_LEN];
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp-")) {
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            unlink(path);
        }
    closedir(d);
}

static bool file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

static void sanitize(const char *in, char *out, size_t size) {
    size_t j = 0;
    for (size_t i = 0; in[i] && j + 1 < size; i++) {
        const char c = in[i];
        out[j++] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                           c == '.' || c == '-' || c == '_'
                       ? c
                       : '_';
    }
    out[j] = '\0';
}

static void ref_stem(const char *ref_path, char *out, size_t size) {
    const char *base = strrchr(ref_path, '/');
    base = base ? base + 1 : ref_path;
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", base);
    char *dot = strrchr(tmp, '.');
    if (dot && strcmp(dot, ".gguf") == 0) *dot = '\0';
    sanitize(tmp, out, size);
}

static void weights_file(const ql_sweep_params *p, const ql_sweep_weights *w, char *out,
                         size_t size) {
    if (w->path) {
        snprintf(out, size, "%s", w->path);
        return;
    }
    char stem[256], label[64];
    ref_stem(p->ref_path, stem, sizeof stem);
    sanitize(w->label, label, sizeof label);
    snprintf(out, size, "%s/weights/%s-%s.gguf", p->out_dir, stem, label);
}

static void run_name(const ql_sweep_weights *w, const ql_sweep_cache *c, char *out, size_t size) {
    char label[64];
    sanitize(w->label, label, sizeof label);
    /* qlens's rows keep the names they always had; another engine's are other runs */
    snprintf(out, size, "%s__%s_%s%s", label, ql_type_name((int)c->k), ql_type_name((int)c->v),
             c->llama ? "__llama.cpp" : "");
}

/*
 * The journal step of a run. A run of a file given by path names the file's
 * content: another model under the same name is another run, evaluated anew.
 */
static void run_step(const ql_sweep_weights *w, const ql_sweep_cache *c, const char *sum, char *out,
                     size_t size) {
    char name[256];
    run_name(w, c, name, sizeof name);
    snprintf(out, size, "run %s%s%s", name, sum[0] ? " sha256:" : "", sum);
}

static void run_file(const char *runs_dir, const char *name, const char *ext, char *out,
                     size_t size) {
    snprintf(out, size, "%s/%s.%s", runs_dir, name, ext);
}

/*
 * The assignment of configurations to shards: configuration i, counted in
 * plan order (weights as listed, each with the caches as listed), goes to
 * shard i mod N + 1. Round-robin rather than blocks so that each shard gets
 * every cache type and about the same share of the slow ones.
 */
static bool in_shard(const ql_sweep_params *p, int w, int c, int shard_k) {
    return (w * p->n_caches + c) % p->shard_n == shard_k - 1;
}

static void shard_dir(const ql_sweep_params *p, int shard_k, char *out, size_t size) {
    snprintf(out, size, "%s/shard-%d-of-%d", p->out_dir, shard_k, p->shard_n);
}

/* Where configuration (w, c)'s run files are: DIR/runs, or its shard's runs/. */
static void runs_dir_of(const ql_sweep_params *p, int w, int c, char *out, size_t size) {
    if (p->shard_n <= 0) {
        snprintf(out, size, "%s/runs", p->out_dir);
        return;
    }
    int k = 1;
    while (!in_shard(p, w, c, k)) k++;
    char dir[DIR_MAX_LEN];
    shard_dir(p, k, dir, sizeof dir);
    snprintf(out, size, "%s/runs", dir);
}

void ql_sweep_run_path(const char *out_dir, const char *weights_label, ql_type k, ql_type v,
                       char *out, size_t size) {
    const ql_sweep_weights w = {.label = weights_label};
    const ql_sweep_cache c = {.k = k, .v = v};
    char name[256];
    run_name(&w, &c, name, sizeof name);
    snprintf(out, size, "%s/runs/%s.qlrun", out_dir, name);
}

/* A step as the console shows it: without the checksum that only the journal needs. */
static const char *name_of_step(const char *step) {
    static char shown[400];
    snprintf(shown, sizeof shown, "%s", step);
    char *sum = strstr(shown, " sha256:");
    if (sum) *sum = '\0';
    return shown;
}

/* The whole text file; a directory or a read error is an error, an empty file is not. */
static ql_status read_text(const char *path, char **text, size_t *len, ql_error *err) {
    *text = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ql_fail(err, QL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    ql_input_note(path);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (n == cap) {
            char *g = realloc(buf, 2 * cap + 1);
            if (!g) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = g;
            cap *= 2;
        }
        const size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    const bool failed = buf && ferror(f);
    const int e = errno;
    fclose(f);
    if (!buf) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory reading it", path);
    if (failed) {
        free(buf);
        return ql_fail(err, QL_ERR_IO, "%s: cannot read: %s", path, strerror(e ? e : EIO));
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return QL_OK;
}

/* ---- step 1: weight files ---- */

static void on_tensor(void *user, const ql_quantize_tensor_report *r) {
    sweep_state *s = user;
    s->now.step_total = (double)r->n_tensors;
    report(s, (double)(r->index + 1));
}

static ql_status make_weights(sweep_state *s, const ql_sweep_weights *w, ql_error *err) {
    const ql_sweep_params *p = s->p;
    char path[PATH_MAX_LEN], step[256];
    weights_file(p, w, path, sizeof path);
    snprintf(step, sizeof step, "weights %s", w->label);
    if (ql_journal_has(s->journal, step) && file_exists(path)) {
        if (s->on_step) s->on_step(s->user, step, true);
        return QL_OK;
    }
    const ql_ftype_info *ft = ql_ftype_find(w->label);
    if (!ft)
        return ql_fail(err, QL_ERR_ARG,
                       "--weights: '%s' is neither a file type (%s) nor a .gguf file", w->label,
                       ql_ftype_names());
    begin_step(s, QL_SWEEP_QUANTIZE, w->label, 1);
    ql_quantize_params qp = {.rules = ql_quant_default_options(ft->ftype),
                             .n_threads = p->n_threads,
                             .allow_requantize = true,
                             .on_tensor = on_tensor,
                             .user = s};
    ql_status st = ql_quantize_model(p->ref_path, path, &qp, NULL, err);
    if (st) return st;
    end_step(s);
    if ((st = ql_journal_add(s->journal, step, err))) return st;
    if (s->on_step) s->on_step(s->user, step, false);
    return QL_OK;
}

/* ---- step 2: the reference ---- */

static bool on_ref_chunk(void *user, const ql_ppl_running *running) {
    sweep_state *s = user;
    report(s, (double)((running->chunk + 1) * s->p->n_ctx));
    return true;
}

/* The kernels every context of the sweep follows (the reference's and the runs'). */
static void set_kernels(const ql_sweep_params *p, ql_context_params *cp) {
    cp->numerics = p->numerics;
    cp->no_repack = p->no_repack;
}

static ql_status make_reference(sweep_state *s, ql_error *err) {
    const ql_sweep_params *p = s->p;
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof path, "%s/reference.qlref", p->out_dir);
    if (ql_journal_has(s->journal, "reference") && file_exists(path)) {
        if (s->on_step) s->on_step(s->user, "reference", true);
        return QL_OK;
    }
    begin_step(s, QL_SWEEP_REFERENCE, "reference", (double)tokens_per_evaluation(s));
    ql_model *m = NULL;
    ql_context *ctx = NULL;
    tok_vocab *vocab = NULL;
    int32_t *tokens = NULL;
    char *text = NULL;
    ql_status st = ql_model_load(p->ref_path, &m, err);
    if (!st) st = tok_load(m->file, &vocab, err);
    size_t len = 0, n_tokens = 0;
    if (!st) st = read_text(p->text_path, &text, &len, err);
    if (!st) st = tok_encode(vocab, text, len, true, false, &tokens, &n_tokens, err);
    ql_context_params cp = ql_context_default_params();
    cp.n_ctx = p->n_ctx;
    cp.n_threads = p->n_threads;
    cp.type_k = cp.type_v = QL_TYPE_F16;
    set_kernels(p, &cp);
    if (!st) st = ql_context_create(m, &cp, &ctx, err);
    ql_eval_params ep = {.n_ctx = p->n_ctx, .n_chunks = p->n_chunks};
    if (!st) {
        ep.replace_bos = tok_add_bos(vocab);
        ep.bos_id = tok_bos(vocab);
        ql_ppl_result ppl;
        st = ql_kld_save_base(ctx, m->file, tokens, (int64_t)n_tokens, &ep, path, QL_REF_QLENS,
                              "reference: f16 cache", on_ref_chunk, s, &ppl, err);
        if (!st) ql_ppl_result_free(&ppl);
    }
    free(text);
    free(tokens);
    tok_free(vocab);
    ql_context_free(ctx);
    ql_model_free(m);
    if (st) return st;
    end_step(s);
    if ((st = ql_journal_add(s->journal, "reference", err))) return st;
    if (s->on_step) s->on_step(s->user, "reference", false);
    return QL_OK;
}

/* ---- step 3: the runs ---- */

static bool on_run_chunk(void *user, int64_t chunk, int64_t n_chunks, const ql_kld_chunk_row *row) {
    (void)n_chunks, (void)row;
    sweep_state *s = user;
    report(s, (double)((chunk + 1) * s->p->n_ctx));
    return true;
}

static const char *hadamard_of(const ql_sweep_params *p) {
    return p->hadamard ? p->hadamard : "fwht";
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static ql_status write_run_json(const char *path, const ql_sweep_weights *w,
                                const ql_sweep_cache *c, const ql_sweep_params *p,
                                const ql_kld_acc *acc, int64_t n_chunks,
                                const ql_run_timing *timing, const char *numerics, ql_error *err) {
    const int64_t n_ctx = p->n_ctx;
    const int n_positions = p->n_positions;
    ql_kld_stats stats;
    ql_status st = ql_kld_stats_from(acc, &stats, err);
    if (st) return st;
    ql_kld_bucket *b = calloc((size_t)(n_positions > 0 ? n_positions : 1), sizeof *b);
    if (!b) return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    if (n_positions > 0)
        st = ql_kld_buckets(acc, (int32_t)(n_ctx / 2), (int32_t)(n_ctx - 2), n_positions, b, err);
    ql_outfile *of = NULL;
    if (!st) st = ql_outfile_open(path, &of, err);
    if (!st) {
        ql_json j;
        ql_json_init(&j, ql_outfile_stream(of), true);
        ql_json_object_begin(&j);
        ql_json_key(&j, "qlens_version");
        ql_json_str(&j, QLENS_VERSION_STRING);
        ql_json_key(&j, "kind");
        ql_json_str(&j, "kl-divergence");
        ql_json_key(&j, "engine");
        ql_json_str(&j, c->llama ? "llama.cpp" : ql_engine_name());
        ql_json_key(&j, "weights");
        ql_json_str(&j, w->label);
        char weights[PATH_MAX_LEN], reference[PATH_MAX_LEN];
        weights_file(p, w, weights, sizeof weights);
        ql_json_key(&j, "weights_path");
        ql_json_str(&j, weights);
        ql_json_key(&j, "cache_type_k");
        ql_json_str(&j, ql_type_name((int)c->k));
        ql_json_key(&j, "cache_type_v");
        ql_json_str(&j, ql_type_name((int)c->v));
        ql_json_key(&j, "kv_rotate");
        ql_json_str(&j, p->rotate);
        ql_json_key(&j, "kv_hadamard");
        ql_json_str(&j, hadamard_of(p));
        ql_json_key(&j, "n_ctx");
        ql_json_int(&j, n_ctx);
        ql_json_key(&j, "n_threads");
        ql_json_int(&j, p->n_threads);
        ql_json_key(&j, "numerics");
        ql_json_str(&j, numerics);
        snprintf(reference, sizeof reference, "%s/reference.qlref", p->out_dir);
        const ql_json_input ref_in = {reference, "qlens"}, text_in = {p->text_path, "text"};
        ql_json_inputs(&j, &ref_in, &text_in);
        ql_json_timing(&j, timing);
        /* per-chunk rows are not needed to compare runs; they stay in qlens perplexity's JSON */
        ql_json_kld_result(&j, acc, &stats, NULL, 0, b, n_positions);
        ql_json_object_end(&j);
        /* a write error is the stream's, and commit reports it with its reason */
        if (!ql_json_finish(&j) && !ferror(ql_outfile_stream(of))) {
            ql_outfile_abort(of);
            st = ql_fail(err, QL_ERR_INTERNAL, "%s: malformed JSON (a bug in qlens)", path);
        } else {
            st = ql_outfile_commit(of, err);
        }
    }
    (void)n_chunks;
    free(b);
    return st;
}

static ql_status run_weights(sweep_state *s, const ql_sweep_weights *w, ql_error *err) {
    const ql_sweep_params *p = s->p;
    char path[PATH_MAX_LEN], ref_path[PATH_MAX_LEN];
    weights_file(p, w, path, sizeof path);
    snprintf(ref_path, sizeof ref_path, "%s/reference.qlref", p->out_dir);
    ql_model *m = NULL;
    ql_ref_file *ref = NULL;
    ql_status st = QL_OK;
    for (int ci = 0; ci < p->n_caches && !st; ci++) {
        const ql_sweep_cache *c = &p->caches[ci];
        char name[256], step[400], bin[PATH_MAX_LEN], json[PATH_MAX_LEN];
        run_name(w, c, name, sizeof name);
        if (p->shard_n > 0 && !in_shard(p, (int)(w - p->weights), ci, p->shard_k)) continue;
        run_step(w, c, s->weight_sums[w - p->weights], step, sizeof step);
        run_file(s->runs_dir, name, "qlrun", bin, sizeof bin);
        run_file(s->runs_dir, name, "json", json, sizeof json);
        if (ql_journal_has(s->run_journal, step) && file_exists(bin) && file_exists(json)) {
            if (s->on_step) s->on_step(s->user, name_of_step(step), true);
            continue;
        }
        const double t_load = seconds_now();
        if (!m && (st = ql_model_load(path, &m, err))) break;
        if (!ref && (st = ql_ref_open(ref_path, &ref, err))) break;
        char shown[300];
        snprintf(shown, sizeof shown, "%s %s/%s%s", w->label, ql_type_name((int)c->k),
                 ql_type_name((int)c->v), c->llama ? " (llama.cpp)" : "");
        begin_step(s, QL_SWEEP_RUN, shown, (double)tokens_per_evaluation(s));
        ql_context_params cp = ql_context_default_params();
        cp.n_ctx = p->n_ctx;
        cp.n_threads = p->n_threads;
        cp.type_k = c->k;
        cp.type_v = c->v;
        set_kernels(p, &cp);
        if (!ql_rotate_mode_from_name(p->rotate, &cp.rotate)) {
            st =
                ql_fail(err, QL_ERR_ARG, "sweep: kv_rotate '%s' is not auto, on or off", p->rotate);
            break;
        }
        if (!ql_hadamard_mode_from_name(hadamard_of(p), &cp.hadamard)) {
            st = ql_fail(err, QL_ERR_ARG, "sweep: kv_hadamard '%s' is not fwht or dense",
                         hadamard_of(p));
            break;
        }
        ql_context *ctx = NULL;
        ql_kld_acc acc = {0};
        const int64_t n_chunks = ql_ref_info_of(ref)->n_chunks;
        st = ql_context_create(m, &cp, &ctx, err);
        /* a llama.cpp row: libllama evaluates, qlens's context only bounds the blocks */
        ql_llama *llama = NULL;
        ql_eval_engine engine;
        if (!st && c->llama) {
            const ql_llama_params lp = {.lib_path = p->llama_lib,
                                        .model_path = path,
                                        .n_gpu_layers = -1,
                                        .no_repack = p->no_repack,
                                        .n_ctx = p->n_ctx,
                                        .n_batch = 2048,
                                        .n_ubatch = cp.n_ubatch,
                                        .n_threads = p->n_threads,
                                        .type_k = (int)c->k,
                                        .type_v = (int)c->v,
                                        .flash_attn = -1,
                                        .rotate_off = cp.rotate == QL_ROTATE_OFF};
            st = ql_llama_open(&lp, &llama, err);
            if (!st) ql_llama_engine(llama, &engine);
        }
        if (!st) st = ql_kld_acc_init(&acc, n_chunks * ql_ref_scored_per_chunk(ref), err);
        const double t_eval = seconds_now();
        if (!st)
            st = ql_kld_run_file_engine(ctx, llama ? &engine : NULL, m->file, ref, 0, on_run_chunk,
                                        s, &acc, err);
        ql_llama_close(llama);
        /* the weights load once for all their caches: the first run's load_s holds it */
        const ql_run_timing timing = {.load_s = t_eval - t_load,
                                      .eval_s = seconds_now() - t_eval,
                                      .tokens = n_chunks * p->n_ctx};
        if (!st)
            st = write_run_json(json, w, c, p, &acc, n_chunks, &timing,
                                ql_numerics_name(cp.numerics), err);
        if (!st) st = ql_runstore_write(bin, &acc, p->n_ctx, n_chunks, err);
        ql_kld_acc_free(&acc);
        ql_context_free(ctx);
        if (st) break;
        end_step(s);
        if ((st = ql_journal_add(s->run_journal, step, err))) break;
        if (s->on_step) s->on_step(s->user, name_of_step(step), false);
    }
    ql_ref_close(ref);
    ql_model_free(m);
    return st;
}

/* ---- the whole sweep ---- */

/*
 * Everything that can be checked in seconds is checked before DIR is touched:
 * a mistyped path, an unknown file type or a text too short must fail at once,
 * not after an hour of quantizing, and must not leave a sweep directory whose
 * journal records the mistaken parameters.
 */
static ql_status preflight(const ql_sweep_params *p, int64_t *n_chunks, ql_error *err) {
    for (int c = 0; c < p->n_caches; c++) {
        if (!p->caches[c].llama) continue;
        if (strcmp(p->rotate, "on") == 0 || strcmp(hadamard_of(p), "fwht") != 0)
            return ql_fail(err, QL_ERR_ARG,
                           "--cache ...@llama.cpp: llama.cpp's engine takes --kv-rotate auto or "
                           "off and --kv-hadamard fwht");
        ql_status st = ql_llama_probe(p->llama_lib, NULL, 0, NULL, 0, err);
        if (st) return st;
        break;
    }
    for (int w = 0; w < p->n_weights; w++)
        if (!p->weights[w].path && !ql_ftype_find(p->weights[w].label))
            return ql_fail(err, QL_ERR_ARG,
                           "--weights: '%s' is neither a file type (%s) nor a .gguf file",
                           p->weights[w].label, ql_ftype_names());
    ql_model *ref;
    ql_status st = ql_model_load(p->ref_path, &ref, err);
    if (st) return st;
    for (int w = 0; w < p->n_weights && !st; w++) {
        if (!p->weights[w].path) continue;
        ql_model *m;
        if (!(st = ql_model_load(p->weights[w].path, &m, err))) {
            if ((st = ql_kld_check_models(ref, m, err)))
                ql_error_prefix(err, "%s against %s", p->weights[w].path, p->ref_path);
            ql_model_free(m);
        }
    }
    tok_vocab *vocab = NULL;
    char *text = NULL;
    int32_t *tokens = NULL;
    size_t len = 0, n_tokens = 0;
    if (!st) st = tok_load(ref->file, &vocab, err);
    if (!st) st = read_text(p->text_path, &text, &len, err);
    if (!st && len == 0) st = ql_fail(err, QL_ERR_ARG, "%s: the text is empty", p->text_path);
    if (!st) st = tok_encode(vocab, text, len, true, false, &tokens, &n_tokens, err);
    if (!st) st = ql_eval_check_tokens((int64_t)n_tokens, p->n_ctx, err);
    *n_chunks = ql_eval_max_chunks((int64_t)n_tokens, p->n_ctx);
    if (p->n_chunks > 0 && p->n_chunks < *n_chunks) *n_chunks = p->n_chunks;
    free(tokens);
    free(text);
    tok_free(vocab);
    ql_model_free(ref);
    return st;
}

/*
 * What determines a sweep's results, as the journal's first line records it.
 * The reference is named by its content (SHA-256); the text by its CRC-32.
 * Sweeps made before inputs were known by content recorded the reference's
 * name and size instead (legacy), and still resume.
 */
static ql_status identity_of(const ql_sweep_params *p, const char *ref_sum, char *out, char *legacy,
                             size_t size, ql_error *err) {
    struct stat rs, ts;
    if (stat(p->ref_path, &rs) != 0)
        return ql_fail(err, QL_ERR_IO, "%s: cannot open: %s", p->ref_path, strerror(errno));
    if (stat(p->text_path, &ts) != 0)
        return ql_fail(err, QL_ERR_IO, "%s: cannot open: %s", p->text_path, strerror(errno));
    /* the text's bytes decide the tokens; hash them so an edited text is noticed */
    FILE *f = fopen(p->text_path, "rb");
    if (!f) return ql_fail(err, QL_ERR_IO, "%s: cannot read", p->text_path);
    uint32_t crc = 0;
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) crc = ql_crc32(crc, buf, n);
    fclose(f);
    char stem[256];
    ref_stem(p->ref_path, stem, sizeof stem);
    /*
     * Sweeps made before --kv-hadamard existed rotated the dense way and have
     * no hadamard= field: dense keeps their identity so they resume, and fwht,
     * whose runs would not be comparable with theirs, is another sweep.
     */
    const bool dense = strcmp(hadamard_of(p), "dense") == 0;
    /* the kernels, where they are not the defaults of a CPU without AVX512-FP16 (what sweeps
     * made before they could be chosen ran with) */
    const bool fp16 = ql_numerics_resolve(p->numerics) == QL_NUMERICS_FP16;
    char rest[512];
    snprintf(rest, sizeof rest, "text=%08x:%lld c=%lld chunks=%lld rotate=%s%s%s%s%s", crc,
             (long long)ts.st_size, (long long)p->n_ctx, (long long)p->n_chunks, p->rotate,
             dense ? "" : " hadamard=", dense ? "" : hadamard_of(p), fp16 ? " numerics=fp16" : "",
             p->no_repack ? " repack=off" : "");
    snprintf(out, size, "ref=sha256:%s %s", ref_sum, rest);
    snprintf(legacy, size, "ref=%s:%lld %s", stem, (long long)rs.st_size, rest);
    return QL_OK;
}

/* The value of field key ("c", "ref") in an identity line, into buf ("" when absent). */
static void identity_field(const char *identity, const char *key, char *buf, size_t size) {
    buf[0] = '\0';
    const size_t klen = strlen(key);
    for (const char *p = identity; *p;) {
        const size_t len = strcspn(p, " ");
        if (len > klen && strncmp(p, key, klen) == 0 && p[klen] == '=')
            snprintf(buf, size, "%.*s", (int)(len - klen - 1), p + klen + 1);
        p += len;
        while (*p == ' ') p++;
    }
}

/* Why DIR's journal (made with `recorded`) is not this sweep's (`identity`), in one error. */
static ql_status explain_other_sweep(const ql_sweep_params *p, const char *recorded,
                                     const char *identity, const char *legacy, ql_error *err) {
    char then[128], now[128];
    identity_field(recorded, "ref", then, sizeof then);
    const bool by_content = strncmp(then, "sha256:", 7) == 0;
    const char *compare = by_content ? identity : legacy;
    identity_field(compare, "ref", now, sizeof now);
    if (strcmp(then, now) != 0)
        return ql_fail(err, QL_ERR_MISMATCH,
                       "%s holds a sweep of another reference: %s is not the file it was made with "
                       "(%s; sha256 then %.12s..., now %.12s...); use a new --out directory or "
                       "remove it",
                       p->out_dir, p->ref_path,
                       by_content ? "its content differs" : "its name or size differs",
                       by_content ? then + 7 : then, by_content ? now + 7 : now);
    static const char *const keys[] = {"text",     "c",        "chunks", "rotate",
                                       "hadamard", "numerics", "repack"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        identity_field(recorded, keys[i], then, sizeof then);
        identity_field(compare, keys[i], now, sizeof now);
        if (strcmp(then, now) != 0)
            return ql_fail(err, QL_ERR_MISMATCH,
                           "%s holds a sweep with other parameters (%s=%s then, %s now); use a "
                           "new --out directory or remove it",
                           p->out_dir, keys[i], then[0] ? then : "(none)", now[0] ? now : "(none)");
    }
    return ql_fail(err, QL_ERR_MISMATCH,
                   "%s holds a sweep with other parameters (use a new --out directory or remove "
                   "it)",
                   p->out_dir);
}

/*
 * Two sweeps in one directory would remove each other's temporary files and
 * interleave their journals: the directory is locked (flock on the directory
 * itself, released however the process ends) for as long as a sweep runs.
 * A file system without flock leaves the directory unlocked. Shards of one
 * sweep share DIR: each holds its own DIR/shard-K-of-N for its whole run
 * and DIR itself only while it makes weight files or the reference, waiting
 * for it (wait) when another shard holds it.
 */
static ql_status lock_dir(const char *dir, bool wait, int *fd, ql_error *err) {
    *fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd < 0) return ql_fail(err, QL_ERR_IO, "%s: cannot open: %s", dir, strerror(errno));
    int r;
    while ((r = flock(*fd, wait ? LOCK_EX : LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
    }
    if (r == 0) return QL_OK;
    const int e = errno;
    if (e != EWOULDBLOCK) return QL_OK;
    close(*fd);
    *fd = -1;
    return ql_fail(err, QL_ERR_IO,
                   "%s: another sweep is running in this directory; wait for it to finish or use "
                   "another --out",
                   dir);
}

/* Whether this process makes weight file w: a configuration of its share runs on it. */
static bool weights_wanted(const ql_sweep_params *p, int w) {
    if (p->shard_n <= 0) return true;
    for (int c = 0; c < p->n_caches; c++)
        if (in_shard(p, w, c, p->shard_k)) return true;
    return false;
}

/*
 * The identity DIR/journal goes by, into use: this sweep's, or the legacy one
 * of a sweep made before the reference was known by content (it resumes as it
 * was). Another sweep's journal is an error that says what differs.
 */
static ql_status journal_identity_of(const ql_sweep_params *p, const char *identity,
                                     const char *legacy, char *use, size_t size, ql_error *err) {
    char path[PATH_MAX_LEN], recorded[LINE_MAX_IDENTITY];
    snprintf(path, sizeof path, "%s/journal", p->out_dir);
    ql_status st = ql_journal_identity(path, recorded, sizeof recorded, err);
    if (st) return st;
    snprintf(use, size, "%s", identity);
    if (recorded[0] && strcmp(recorded, identity) != 0) {
        if (strcmp(recorded, legacy) != 0)
            return explain_other_sweep(p, recorded, identity, legacy, err);
        snprintf(use, size, "%s", legacy);
    }
    return QL_OK;
}

/* A shard's journal is the sweep's identity and the split: another split's is refused. */
static void shard_identity(const char *use, int shard_k, int shard_n, char *out, size_t size) {
    snprintf(out, size, "%s shard=%d/%d", use, shard_k, shard_n);
}

static ql_status write_outputs(const ql_sweep_params *p, ql_error *err) {
    ql_sweep_results r;
    ql_status st = ql_sweep_results_load(p, &r, err);
    if (st) return st;
    const struct {
        const char *name;
        ql_status (*write)(const ql_sweep_results *, const char *, ql_error *);
    } outputs[] = {{"results.md", ql_sweep_write_markdown},
                   {"results.csv", ql_sweep_write_csv},
                   {"results.json", ql_sweep_write_json},
                   {"report.html", ql_sweep_write_html}};
    char path[PATH_MAX_LEN];
    for (size_t i = 0; i < sizeof outputs / sizeof outputs[0] && !st; i++) {
        snprintf(path, sizeof path, "%s/%s", p->out_dir, outputs[i].name);
        st = outputs[i].write(&r, path, err);
    }
    ql_sweep_results_free(&r);
    return st;
}

/*
 * The sweep, or a shard of it, with DIR locked (*dir_lock, which a shard
 * releases once the weight files and the reference are in place).
 */
static ql_status run_locked(sweep_state *s, const char *identity, const char *legacy, int *dir_lock,
                            ql_error *err) {
    const ql_sweep_params *p = s->p;
    const bool shard = p->shard_n > 0;
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof path, "%s/weights", p->out_dir);
    ql_status st = make_dir(path, err);
    if (st) return st;
    remove_stale_temporaries(path);
    remove_stale_temporaries(p->out_dir);
    if (shard) {
        char dir[DIR_MAX_LEN];
        shard_dir(p, p->shard_k, dir, sizeof dir);
        snprintf(s->runs_dir, sizeof s->runs_dir, "%s/runs", dir);
    } else {
        snprintf(s->runs_dir, sizeof s->runs_dir, "%s/runs", p->out_dir);
    }
    if ((st = make_dir(s->runs_dir, err))) return st;
    remove_stale_temporaries(s->runs_dir);

    char use[LINE_MAX_IDENTITY];
    if ((st = journal_identity_of(p, identity, legacy, use, sizeof use, err))) return st;
    snprintf(path, sizeof path, "%s/journal", p->out_dir);
    if ((st = ql_journal_open(path, use, &s->journal, err))) return st;
    s->run_journal = s->journal;
    if (shard) {
        char shard_id[LINE_MAX_IDENTITY + 32], dir[DIR_MAX_LEN];
        shard_identity(use, p->shard_k, p->shard_n, shard_id, sizeof shard_id);
        shard_dir(p, p->shard_k, dir, sizeof dir);
        snprintf(path, sizeof path, "%s/journal", dir);
        st = ql_journal_open(path, shard_id, &s->run_journal, err);
    }

    /* total work, in chunk evaluations (a weight file counts as one pass of the text) */
    int pending_runs = 0, pending_weights = 0;
    for (int w = 0; w < p->n_weights && !st; w++) {
        char step[400];
        snprintf(step, sizeof step, "weights %s", p->weights[w].label);
        if (!p->weights[w].path && weights_wanted(p, w) && !ql_journal_has(s->journal, step))
            pending_weights++;
        for (int c = 0; c < p->n_caches; c++) {
            if (shard && !in_shard(p, w, c, p->shard_k)) continue;
            run_step(&p->weights[w], &p->caches[c], s->weight_sums[w], step, sizeof step);
            if (!ql_journal_has(s->run_journal, step)) pending_runs++;
        }
    }
    const int pending_reference = ql_journal_has(s->journal, "reference") ? 0 : 1;
    s->now.n_steps = pending_weights + pending_reference + pending_runs;
    s->now.eval_total = tokens_per_evaluation(s) * (pending_reference + pending_runs);

    for (int w = 0; w < p->n_weights && !st; w++)
        if (!p->weights[w].path && weights_wanted(p, w)) st = make_weights(s, &p->weights[w], err);
    if (!st) st = make_reference(s, err);
    if (shard) {
        /* what the other shards wait for is in place: they may go on while this one runs */
        ql_journal_close(s->journal);
        s->journal = NULL;
        close(*dir_lock);
        *dir_lock = -1;
    }
    for (int w = 0; w < p->n_weights && !st; w++) st = run_weights(s, &p->weights[w], err);
    if (s->run_journal != s->journal) ql_journal_close(s->run_journal);
    ql_journal_close(s->journal);
    s->journal = s->run_journal = NULL;
    if (st || shard) return st;
    return write_outputs(p, err);
}

ql_status ql_sweep_find_shards(const char *out_dir, int *n_shards, ql_error *err) {
    *n_shards = 0;
    DIR *d = opendir(out_dir);
    if (!d) return ql_fail(err, QL_ERR_IO, "%s: cannot open: %s", out_dir, strerror(errno));
    struct dirent *e;
    int other = 0;
    while ((e = readdir(d))) {
        int k, n, end = 0;
        if (sscanf(e->d_name, "shard-%d-of-%d%n", &k, &n, &end) != 2 || e->d_name[end] || k < 1 ||
            k > n)
            continue;
        if (*n_shards == 0)
            *n_shards = n;
        else if (n != *n_shards)
            other = n;
    }
    closedir(d);
    if (*n_shards == 0)
        return ql_fail(err, QL_ERR_ARG,
                       "%s holds no shards (DIR/shard-K-of-N): run qlens sweep --shard K/N first",
                       out_dir);
    if (other)
        return ql_fail(err, QL_ERR_ARG,
                       "%s holds shards of two splits (of %d and of %d), whose configurations "
                       "overlap: remove the shard-*-of-* directories of the split not wanted",
                       out_dir, *n_shards < other ? *n_shards : other,
                       *n_shards < other ? other : *n_shards);
    return QL_OK;
}

/*
 * The tables of a sharded sweep, once every shard of the split has run all
 * of its configurations: the same rows from the same run files, so the same
 * bytes as the sweep run in one process.
 */
static ql_status merge_locked(const ql_sweep_params *p,
                              const char (*weight_sums)[QL_SHA256_HEX_SIZE], const char *identity,
                              const char *legacy, ql_error *err) {
    char path[PATH_MAX_LEN], recorded[LINE_MAX_IDENTITY];
    snprintf(path, sizeof path, "%s/journal", p->out_dir);
    ql_status st = ql_journal_identity(path, recorded, sizeof recorded, err);
    if (st) return st;
    if (!recorded[0])
        return ql_fail(err, QL_ERR_ARG, "%s holds no sweep (no journal): nothing to merge",
                       p->out_dir);
    char use[LINE_MAX_IDENTITY];
    if ((st = journal_identity_of(p, identity, legacy, use, sizeof use, err))) return st;
    for (int k = 1; k <= p->shard_n && !st; k++) {
        char dir[DIR_MAX_LEN], want[LINE_MAX_IDENTITY + 32], got[LINE_MAX_IDENTITY + 32];
        shard_dir(p, k, dir, sizeof dir);
        snprintf(path, sizeof path, "%s/journal", dir);
        shard_identity(use, k, p->shard_n, want, sizeof want);
        if ((st = ql_journal_identity(path, got, sizeof got, err))) break;
        if (!got[0]) {
            st = ql_fail(err, QL_ERR_ARG,
                         "shard %d/%d is missing (%s has no journal): run it with --shard %d/%d", k,
                         p->shard_n, dir, k, p->shard_n);
            break;
        }
        if (strcmp(got, want) != 0) {
            st = ql_fail(err, QL_ERR_MISMATCH,
                         "%s holds a shard of another sweep (its journal's first line differs "
                         "from this sweep's): rerun that shard with this command",
                         dir);
            break;
        }
        ql_journal *j;
        if ((st = ql_journal_open(path, want, &j, err))) break;
        int missing = 0, mine = 0;
        char first[256] = "";
        for (int w = 0; w < p->n_weights; w++)
            for (int c = 0; c < p->n_caches; c++) {
                if (!in_shard(p, w, c, k)) continue;
                char name[256], step[400], bin[PATH_MAX_LEN], runs[RUNS_MAX_LEN];
                mine++;
                run_name(&p->weights[w], &p->caches[c], name, sizeof name);
                run_step(&p->weights[w], &p->caches[c], weight_sums[w], step, sizeof step);
                snprintf(runs, sizeof runs, "%s/runs", dir);
                run_file(runs, name, "qlrun", bin, sizeof bin);
                if (ql_journal_has(j, step) && file_exists(bin)) continue;
                if (!missing++) snprintf(first, sizeof first, "%s", name);
            }
        ql_journal_close(j);
        if (missing)
            st = ql_fail(err, QL_ERR_ARG,
                         "shard %d/%d is unfinished: %d of its %d configurations are not done "
                         "(%s first); rerun it with --shard %d/%d",
                         k, p->shard_n, missing, mine, first, k, p->shard_n);
    }
    if (st) return st;
    return write_outputs(p, err);
}

ql_status ql_sweep_run(const ql_sweep_params *p, ql_sweep_progress_fn progress,
                       ql_sweep_step_fn on_step, void *user, ql_error *err) {
    if (p->shard_n < 0 ||
        (p->shard_n > 0 && (p->shard_k < (p->merge ? 0 : 1) || p->shard_k > p->shard_n)) ||
        (p->merge && p->shard_n == 0))
        return ql_fail(err, QL_ERR_ARG, "sweep: shard %d/%d is not one of 1/%d to %d/%d",
                       p->shard_k, p->shard_n, p->shard_n, p->shard_n, p->shard_n);
    char path[PATH_MAX_LEN], identity[LINE_MAX_IDENTITY], legacy[LINE_MAX_IDENTITY];
    /* every input is known by content; the checksums are remembered in DIR/checksums */
    snprintf(path, sizeof path, "%s/checksums", p->out_dir);
    ql_sum_cache *sums = ql_sum_cache_load(path);
    char ref_sum[QL_SHA256_HEX_SIZE];
    char(*weight_sums)[QL_SHA256_HEX_SIZE] = calloc((size_t)p->n_weights + 1, sizeof *weight_sums);
    ql_status st = sums && weight_sums ? QL_OK : ql_fail(err, QL_ERR_NOMEM, "out of memory");
    ql_input_note(p->ref_path);
    ql_input_note(p->text_path);
    for (int w = 0; w < p->n_weights; w++) ql_input_note(p->weights[w].path);
    /* the checks of seconds first, then the checksums (minutes for a large model, once) */
    int64_t n_chunks = 0;
    if (!st) st = preflight(p, &n_chunks, err);
    if (!st) st = ql_file_sha256(sums, p->ref_path, ref_sum, err);
    for (int w = 0; w < p->n_weights && !st; w++)
        if (p->weights[w].path) st = ql_file_sha256(sums, p->weights[w].path, weight_sums[w], err);
    if (!st) st = identity_of(p, ref_sum, identity, legacy, sizeof identity, err);
    const bool shard = p->shard_n > 0 && !p->merge;
    if (!st && !p->merge) st = make_dir(p->out_dir, err);
    int lock_fd = -1, shard_lock = -1;
    if (!st && shard) {
        /* one copy of a shard at a time; the directory itself only for what the shards share */
        char dir[DIR_MAX_LEN];
        shard_dir(p, p->shard_k, dir, sizeof dir);
        st = make_dir(dir, err);
        if (!st) st = lock_dir(dir, false, &shard_lock, err);
    }
    if (!st) st = lock_dir(p->out_dir, shard, &lock_fd, err);
    if (!st) st = ql_sum_cache_save(sums, path, err);
    if (!st && p->merge) {
        st = merge_locked(p, (const char(*)[QL_SHA256_HEX_SIZE])weight_sums, identity, legacy, err);
    } else if (!st) {
        sweep_state s = {.p = p,
                         .weight_sums = (const char(*)[QL_SHA256_HEX_SIZE])weight_sums,
                         .progress = progress,
                         .on_step = on_step,
                         .user = user,
                         .n_chunks = n_chunks};
        st = run_locked(&s, identity, legacy, &lock_fd, err);
    }
    if (lock_fd >= 0) close(lock_fd);
    if (shard_lock >= 0) close(shard_lock);
    ql_sum_cache_free(sums);
    free(weight_sums);
    return st;
}

/* ---- results ---- */

static int cmp_rows(const void *a, const void *b) {
    const ql_sweep_row *x = a, *y = b;
    if (x->stats.kld.value != y->stats.kld.value)
        return x->stats.kld.value < y->stats.kld.value ? -1 : 1;
    if (x->total_bytes_target != y->total_bytes_target)
        return x->total_bytes_target < y->total_bytes_target ? -1 : 1;
    return strcmp(x->weights, y->weights);
}

static ql_status load_row(const ql_sweep_params *p, const ql_sweep_weights *w,
                          const ql_sweep_cache *c, ql_sweep_row *row, ql_error *err) {
    memset(row, 0, sizeof *row);
    /* the engine of a llama.cpp row is part of its name in every table */
    snprintf(row->weights, sizeof row->weights, "%s%s", w->label, c->llama ? "@llama.cpp" : "");
    weights_file(p, w, row->weights_path, sizeof row->weights_path);
    row->k = c->k;
    row->v = c->v;
    char name[256], bin[PATH_MAX_LEN];
    run_name(w, c, name, sizeof name);
    char runs[RUNS_MAX_LEN];
    runs_dir_of(p, (int)(w - p->weights), (int)(c - p->caches), runs, sizeof runs);
    run_file(runs, name, "qlrun", bin, sizeof bin);
    int64_t n_ctx, n_chunks;
    ql_status st = ql_runstore_read(bin, &row->acc, &n_ctx, &n_chunks, err);
    if (!st) st = ql_kld_stats_from(&row->acc, &row->stats, err);
    if (!st && p->n_positions > 0) {
        row->buckets = calloc((size_t)p->n_positions, sizeof *row->buckets);
        st = row->buckets ? ql_kld_buckets(&row->acc, (int32_t)(n_ctx / 2), (int32_t)(n_ctx - 2),
                                           p->n_positions, row->buckets, err)
                          : ql_fail(err, QL_ERR_NOMEM, "out of memory");
    }
    gguf_file *f = NULL;
    ql_model_config cfg;
    if (!st) st = gguf_open(row->weights_path, &f, err);
    if (!st) st = ql_model_read_config(f, &cfg, err);
    if (!st) st = ql_weights_info_read(f, &row->weights_info, err);
    if (!st) {
        row->weight_bytes = row->weights_info.tensor_bytes;
        const ql_plan_cache pc = {c->k, c->v, 512};
        const int64_t target = p->target_ctx > 0 ? p->target_ctx : cfg.n_ctx_train;
        /* KV bytes per token averaged over the target context (sliding windows included) */
        row->kv_bytes_target = ql_plan_kv_bytes(&cfg, &pc, target);
        row->kv_bytes_per_token = row->kv_bytes_target / (uint64_t)target;
        row->work_bytes = ql_plan_compute_bytes(&cfg, target < 512 ? target : 512);
        row->total_bytes_target = ql_plan_total_bytes(&cfg, row->weight_bytes, &pc, target);
        if (p->budget) {
            /* memory is not the only limit: past its trained context a model is not offered */
            const int64_t by_memory =
                ql_plan_max_ctx(&cfg, row->weight_bytes, &pc, p->budget, 1ll << 32);
            const int64_t trained = cfg.n_ctx_train > 0 ? cfg.n_ctx_train : by_memory;
            row->max_ctx_budget = by_memory < trained ? by_memory : trained;
            row->max_ctx_is_trained = by_memory > trained;
        }
    }
    gguf_close(f);
    return st;
}

ql_status ql_sweep_results_load(const ql_sweep_params *p, ql_sweep_results *r, ql_error *err) {
    memset(r, 0, sizeof *r);
    r->n_rows = p->n_weights * p->n_caches;
    r->n_positions = p->n_positions;
    r->n_ctx = p->n_ctx;
    r->n_chunks = p->n_chunks;
    r->budget = p->budget;
    snprintf(r->ref_path, sizeof r->ref_path, "%s", p->ref_path);
    snprintf(r->text_path, sizeof r->text_path, "%s", p->text_path);
    snprintf(r->rotate, sizeof r->rotate, "%s", p->rotate);
    snprintf(r->hadamard, sizeof r->hadamard, "%s", hadamard_of(p));
    r->rows = calloc((size_t)r->n_rows, sizeof *r->rows);
    if (!r->rows) return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    ql_status st = QL_OK;
    int n = 0;
    for (int w = 0; w < p->n_weights && !st; w++)
        for (int c = 0; c < p->n_caches && !st; c++) {
            st = load_row(p, &p->weights[w], &p->caches[c], &r->rows[n], err);
            n++;
        }
    if (st) {
        r->n_rows = n;
        ql_sweep_results_free(r);
        return st;
    }
    r->target_ctx = p->target_ctx;
    gguf_file *f;
    ql_model_config cfg;
    if (gguf_open(p->ref_path, &f, err) == QL_OK) {
        if (ql_model_read_config(f, &cfg, err) == QL_OK) {
            r->n_ctx_train = cfg.n_ctx_train;
            if (r->target_ctx <= 0) r->target_ctx = cfg.n_ctx_train;
        }
        gguf_close(f);
    }
    qsort(r->rows, (size_t)r->n_rows, sizeof *r->rows, cmp_rows);
    /* each row against the next better one, token by token on the same tokens */
    for (int i = 1; i < r->n_rows; i++) {
        ql_sweep_row *a = &r->rows[i];
        const ql_paired d = ql_paired_kld(&r->rows[i - 1].acc, &a->acc);
        if (!d.valid) continue;
        a->has_prev = true;
        a->d_kld = d.d_kld;
        a->d_kld_se = d.se;
        a->sigma = d.sigma;
    }
    /* the answer: the lowest KLD that reaches target_ctx within the budget */
    ql_rec_candidate *cands = calloc((size_t)(r->n_rows > 0 ? r->n_rows : 1), sizeof *cands);
    if (!cands) {
        ql_sweep_results_free(r);
        return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < r->n_rows; i++)
        cands[i] = (ql_rec_candidate){r->rows[i].stats.kld.value, r->rows[i].total_bytes_target};
    ql_recommend(cands, r->n_rows, r->budget, r->target_ctx, r->n_ctx_train, &r->rec);
    for (int i = 0; i < r->n_rows; i++) {
        r->rows[i].fits = ql_rec_fits(&cands[i], r->budget, r->target_ctx, r->n_ctx_train);
        if (r->rec.pick >= 0)
            r->rows[i].vs_pick = ql_paired_kld(&r->rows[r->rec.pick].acc, &r->rows[i].acc);
    }
    free(cands);
    return QL_OK;
}

void ql_sweep_results_free(ql_sweep_results *r) {
    for (int i = 0; i < r->n_rows; i++) {
        ql_kld_acc_free(&r->rows[i].acc);
        free(r->rows[i].buckets);
    }
    free(r->rows);
    memset(r, 0, sizeof *r);
}

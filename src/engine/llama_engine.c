/*
 * llama_engine.c - llama.cpp's libllama as an engine (llama_engine.h).
 *
 * The library is opened with dlopen and its functions looked up by name, so
 * no llama.cpp header or code is part of qlens. The few types the calls pass
 * by value are declared here from the C API of llama.cpp 0.5.0 as vendored by
 * llama-cpp-python 0.3.36 (include/llama.h): llama_model_params,
 * llama_context_params and llama_batch must have exactly that layout, which
 * is why a library of another version is refused when it is loaded.
 */
#include "llama_engine.h"

#include <dlfcn.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- llama.cpp 0.5.0's C API, the parts qlens calls ---- */

typedef int32_t lc_token;
typedef int32_t lc_pos;
typedef int32_t lc_seq_id;

/* the enums are C enums: int-sized */
typedef struct {
    void *devices; /* ggml_backend_dev_t *, NULL-terminated */
    const void *tensor_buft_overrides;
    int32_t n_gpu_layers; /* negative: all */
    int split_mode;       /* enum llama_split_mode */
    int load_mode;        /* enum llama_load_mode */
    int lazy_mode;        /* enum llama_lazy_mode */
    int32_t main_gpu;
    const float *tensor_split;
    void *progress_callback; /* llama_progress_callback */
    void *progress_callback_user_data;
    const void *kv_overrides;
    bool vocab_only, check_tensors;
    bool use_extra_bufts; /* weight repacking: false is llama.cpp's --no-repack */
    bool no_host, no_alloc, load_mtp;
} lc_model_params;

/* enum llama_load_mode: read the file (--no-mmap), lock it, map and lock it */
enum { LC_LOAD_MODE_NONE = 0, LC_LOAD_MODE_MLOCK = 2, LC_LOAD_MODE_MMAP_MLOCK = 3 };

typedef struct {
    uint32_t n_ctx, n_batch, n_ubatch, n_seq_max, n_rs_seq, n_outputs_max, n_outputs_max_per_seq;
    int32_t n_threads, n_threads_batch;
    int ctx_type, rope_scaling_type, pooling_type, attention_type;
    int flash_attn_type; /* -1 auto, 0 disabled, 1 enabled */
    float rope_freq_base, rope_freq_scale, yarn_ext_factor, yarn_attn_factor, yarn_beta_fast,
        yarn_beta_slow;
    uint32_t yarn_orig_ctx;
    float defrag_thold;
    void *cb_eval, *cb_eval_user_data;
    int type_k, type_v; /* enum ggml_type */
    void *abort_callback, *abort_callback_data;
    bool embeddings, offload_kqv, no_perf, op_offload, swa_full, kv_unified;
    void *samplers;
    size_t n_samplers;
    void *ctx_other;
} lc_context_params;

typedef struct {
    int32_t n_tokens;
    lc_token *token;
    float *embd;
    lc_pos *pos;
    int32_t *n_seq_id;
    lc_seq_id **seq_id;
    int8_t *logits; /* which rows produce output */
} lc_batch;

typedef void (*lc_log_fn)(int level, const char *text, void *user);
enum { LC_LOG_ERROR = 4, LC_LOG_CONT = 5 };
enum { LC_DEV_CPU = 0 };

typedef struct {
    const char *(*version)(void);
    lc_model_params (*model_default_params)(void);
    lc_context_params (*context_default_params)(void);
    void (*backend_init)(void);
    void (*log_set)(lc_log_fn fn, void *user);
    void *(*model_load_from_file)(const char *path, lc_model_params p);
    void (*model_free)(void *model);
    void *(*init_from_model)(void *model, lc_context_params p);
    void (*free_ctx)(void *ctx);
    const void *(*model_get_vocab)(const void *model);
    int32_t (*vocab_n_tokens)(const void *vocab);
    lc_token (*vocab_bos)(const void *vocab);
    bool (*vocab_get_add_bos)(const void *vocab);
    int32_t (*tokenize)(const void *vocab, const char *text, int32_t len, lc_token *tokens,
                        int32_t n_max, bool add_special, bool parse_special);
    void *(*get_memory)(const void *ctx);
    void (*memory_clear)(void *mem, bool data);
    int32_t (*decode)(void *ctx, lc_batch batch);
    float *(*get_logits)(void *ctx);
    const char *(*print_system_info)(void);
    /* ggml's device list (optional: only names the device in the results) */
    size_t (*dev_count)(void);
    void *(*dev_get)(size_t i);
    const char *(*dev_name)(void *dev);
    const char *(*dev_description)(void *dev);
    int (*dev_type)(void *dev);
} lc_api;

struct ql_llama {
    void *dl;
    lc_api api;
    void *model, *ctx;
    const void *vocab;
    int64_t n_vocab, n_batch, n_ubatch;
    char lib[PATH_MAX];
    char version[64];
    char backend[64];
    char device[192];
    bool guarded;            /* this handle installed the crash guard */
    const char *system_info; /* llama_print_system_info(): the library's own string */
    /* one decode call's batch: at most n_ubatch tokens */
    lc_token *tok;
    lc_pos *pos;
    int32_t *n_seq_id;
    lc_seq_id seq0;
    lc_seq_id **seq_id;
    int8_t *out;
};

/* llama.cpp's last error line, for the one-line message when a call fails */
static char last_log_error[256];

static void log_sink(int level, const char *text, void *user) {
    (void)user;
    /* llama.cpp logs every step of loading; qlens prints its own summary and keeps the
       library's last error for its message */
    if (level != LC_LOG_ERROR || !text) return;
    snprintf(last_log_error, sizeof last_log_error, "%s", text);
    size_t n = strlen(last_log_error);
    while (n > 0 && (last_log_error[n - 1] == '\n' || last_log_error[n - 1] == ' '))
        last_log_error[--n] = '\0';
}

/*
 * A crash inside libllama (a fault in one of its kernels) would end qlens
 * with no word; while the library runs, a fatal signal prints one error line
 * naming what llama.cpp was doing and exits. Only async-signal-safe calls.
 */
static const char *volatile llama_phase = "running";
static struct sigaction old_actions[4];
static const int fatal_signals[4] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE};
static int guard_depth;

static void on_fatal_signal(int sig) {
    static const char head[] = "qlens: error: llama.cpp crashed (signal ";
    static const char tail[] = ": a fault inside libllama; where it repacks weights (its AMX path "
                               "is one known cause), --no-repack avoids that\n";
    char num[8];
    int n = 0;
    for (int v = sig; v > 0 && n < 7; v /= 10) num[n++] = (char)('0' + v % 10);
    ssize_t w = write(STDERR_FILENO, head, sizeof head - 1);
    while (n > 0) w = write(STDERR_FILENO, &num[--n], 1);
    w = write(STDERR_FILENO, ") while ", 8);
    const char *ph = llama_phase;
    w = write(STDERR_FILENO, ph, strlen(ph));
    w = write(STDERR_FILENO, tail, sizeof tail - 1);
    (void)w;
    _exit(1);
}

static void guard_on(void) {
    if (guard_depth++ > 0) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_fatal_signal;
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < 4; i++) sigaction(fatal_signals[i], &sa, &old_actions[i]);
}

static void guard_off(void) {
    if (--guard_depth > 0) return;
    for (int i = 0; i < 4; i++) sigaction(fatal_signals[i], &old_actions[i], NULL);
}

static const char *llama_reason(void) {
    return last_log_error[0] ? last_log_error : "no reason given";
}

static bool file_exists(const char *p) {
    return access(p, R_OK) == 0;
}

/* the pip-installed copy: beside the qlens binary (build/llama-cpp-python, as
   scripts/install-llama-engine.sh installs it), or python's own llama_cpp package */
static bool find_installed(char *out, size_t size) {
    char exe[PATH_MAX];
    const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            *slash = '\0';
            /* build/qlens and build/san/qlens, build/qlens-test: the build folder or its parent */
            for (int up = 0; up < 2; up++) {
                const int w =
                    snprintf(out, size, "%s/llama-cpp-python/llama_cpp/lib/libllama.so", exe);
                if (w > 0 && (size_t)w < size && file_exists(out)) return true;
                slash = strrchr(exe, '/');
                if (!slash) break;
                *slash = '\0';
            }
        }
    }
    /* python's package, located without importing it (an import would load the library) */
    FILE *py = popen("python3 -c \"import importlib.util as u; s = u.find_spec('llama_cpp'); "
                     "print(s.submodule_search_locations[0] if s else '')\" 2>/dev/null",
                     "r");
    if (!py) return false;
    char dir[PATH_MAX] = "";
    const bool got = fgets(dir, sizeof dir, py) != NULL;
    pclose(py);
    if (!got) return false;
    dir[strcspn(dir, "\n")] = '\0';
    if (!dir[0]) return false;
    const int w = snprintf(out, size, "%s/lib/libllama.so", dir);
    return w > 0 && (size_t)w < size && file_exists(out);
}

#define LOOKUP(field, name)                                                                        \
    do {                                                                                           \
        *(void **)(&api->field) = dlsym(dl, name);                                                 \
        if (!api->field) {                                                                         \
            missing = name;                                                                        \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)
#define LOOKUP_OPT(field, name) (*(void **)(&api->field) = dlsym(dl, name))

static ql_status load_library(const char *given, void **dl_out, lc_api *api, char *path,
                              size_t path_size, char *version, size_t version_size, ql_error *err) {
    const char *from = "--llama-lib";
    if (given) {
        snprintf(path, path_size, "%s", given);
    } else if (getenv("QLENS_LLAMA_LIB") && *getenv("QLENS_LLAMA_LIB")) {
        snprintf(path, path_size, "%s", getenv("QLENS_LLAMA_LIB"));
        from = "QLENS_LLAMA_LIB";
    } else if (!find_installed(path, path_size)) {
        return ql_fail(err, QL_ERR_UNSUPPORTED,
                       "the llama.cpp engine needs libllama (%s): none found; install it with "
                       "scripts/install-llama-engine.sh, or give --llama-lib PATH",
                       QL_LLAMA_PY_VERSION);
    } else {
        from = "the installed llama-cpp-python";
    }
    /* RTLD_LOCAL: ggml's symbols stay out of the global scope, where qlens's own gguf_*
       names live */
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!dl) {
        const char *why = dlerror();
        return ql_fail(err, QL_ERR_IO, "%s: cannot load libllama (from %s): %s", path, from,
                       why ? why : "dlopen failed");
    }
    const char *missing = NULL;
    memset(api, 0, sizeof *api);
    LOOKUP(version, "llama_version");
    const char *v = api->version();
    /* the struct layouts above are 0.5.0's: any other release may differ */
    if (!v || strncmp(v, QL_LLAMA_API_VERSION, strlen(QL_LLAMA_API_VERSION)) != 0 ||
        (v[strlen(QL_LLAMA_API_VERSION)] != '\0' && v[strlen(QL_LLAMA_API_VERSION)] != '-')) {
        ql_fail(err, QL_ERR_MISMATCH,
                "%s: libllama version %s; qlens's llama.cpp engine needs %s (%s)", path,
                v ? v : "(none)", QL_LLAMA_API_VERSION, QL_LLAMA_PY_VERSION);
        dlclose(dl);
        return QL_ERR_MISMATCH;
    }
    snprintf(version, version_size, "%s", v);
    LOOKUP(model_default_params, "llama_model_default_params");
    LOOKUP(context_default_params, "llama_context_default_params");
    LOOKUP(backend_init, "llama_backend_init");
    LOOKUP(log_set, "llama_log_set");
    LOOKUP(model_load_from_file, "llama_model_load_from_file");
    LOOKUP(model_free, "llama_model_free");
    LOOKUP(init_from_model, "llama_init_from_model");
    LOOKUP(free_ctx, "llama_free");
    LOOKUP(model_get_vocab, "llama_model_get_vocab");
    LOOKUP(vocab_n_tokens, "llama_vocab_n_tokens");
    LOOKUP(vocab_bos, "llama_vocab_bos");
    LOOKUP(vocab_get_add_bos, "llama_vocab_get_add_bos");
    LOOKUP(tokenize, "llama_tokenize");
    LOOKUP(get_memory, "llama_get_memory");
    LOOKUP(memory_clear, "llama_memory_clear");
    LOOKUP(decode, "llama_decode");
    LOOKUP(get_logits, "llama_get_logits");
    LOOKUP(print_system_info, "llama_print_system_info");
    LOOKUP_OPT(dev_count, "ggml_backend_dev_count");
    LOOKUP_OPT(dev_get, "ggml_backend_dev_get");
    LOOKUP_OPT(dev_name, "ggml_backend_dev_name");
    LOOKUP_OPT(dev_description, "ggml_backend_dev_description");
    LOOKUP_OPT(dev_type, "ggml_backend_dev_type");
    *dl_out = dl;
    return QL_OK;
fail:
    dlclose(dl);
    return ql_fail(err, QL_ERR_MISMATCH, "%s: not a usable libllama (no %s)", path, missing);
}

ql_status ql_llama_probe(const char *lib_path, char *path_out, size_t path_size, char *version,
                         size_t version_size, ql_error *err) {
    void *dl;
    lc_api api;
    char path[PATH_MAX], v[64];
    ql_status st = load_library(lib_path, &dl, &api, path, sizeof path, v, sizeof v, err);
    if (st) return st;
    if (path_out) snprintf(path_out, path_size, "%s", path);
    if (version) snprintf(version, version_size, "%s", v);
    dlclose(dl);
    return QL_OK;
}

/* The device that runs the layers: the first GPU-like one when layers are offloaded. */
static void name_device(ql_llama *l, int32_t n_gpu_layers) {
    snprintf(l->backend, sizeof l->backend, "CPU");
    snprintf(l->device, sizeof l->device, "CPU");
    const lc_api *a = &l->api;
    if (!a->dev_count || !a->dev_get || !a->dev_name || !a->dev_description || !a->dev_type) return;
    const size_t n = a->dev_count();
    void *cpu = NULL, *gpu = NULL;
    for (size_t i = 0; i < n; i++) {
        void *d = a->dev_get(i);
        if (!d) continue;
        if (a->dev_type(d) == LC_DEV_CPU) {
            if (!cpu) cpu = d;
        } else if (!gpu) {
            gpu = d;
        }
    }
    void *d = gpu && n_gpu_layers != 0 ? gpu : cpu;
    if (!d) return;
    const char *name = a->dev_name(d), *desc = a->dev_description(d);
    if (name) snprintf(l->backend, sizeof l->backend, "%s", name);
    if (desc) snprintf(l->device, sizeof l->device, "%s", desc);
}

ql_status ql_llama_open(const ql_llama_params *p, ql_llama **out, ql_error *err) {
    *out = NULL;
    ql_llama *l = calloc(1, sizeof *l);
    if (!l) return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    ql_status st = load_library(p->lib_path, &l->dl, &l->api, l->lib, sizeof l->lib, l->version,
                                sizeof l->version, err);
    if (st) {
        free(l);
        return st;
    }
    const lc_api *a = &l->api;
    last_log_error[0] = '\0';
    guard_on();
    l->guarded = true;
    llama_phase = "loading the model";
    a->log_set(log_sink, NULL);
    a->backend_init();

    lc_model_params mp = a->model_default_params();
    mp.n_gpu_layers = p->n_gpu_layers;
    if (p->no_mmap)
        mp.load_mode = p->mlock ? LC_LOAD_MODE_MLOCK : LC_LOAD_MODE_NONE;
    else if (p->mlock)
        mp.load_mode = LC_LOAD_MODE_MMAP_MLOCK;
    mp.use_extra_bufts = !p->no_repack;
    l->model = a->model_load_from_file(p->model_path, mp);
    if (!l->model) {
        st = ql_fail(err, QL_ERR_FORMAT, "%s: llama.cpp cannot load the model: %s", p->model_path,
                     llama_reason());
        ql_llama_close(l);
        return st;
    }
    l->vocab = a->model_get_vocab(l->model);
    l->n_vocab = a->vocab_n_tokens(l->vocab);

    /* llama-perplexity's batch sizes: the logical batch at most the context, the physical
       one at most the logical one */
    l->n_batch = p->n_batch < p->n_ctx ? p->n_batch : p->n_ctx;
    l->n_ubatch = p->n_ubatch < l->n_batch ? p->n_ubatch : l->n_batch;
    llama_phase = "creating the context";
    lc_context_params cp = a->context_default_params();
    cp.n_ctx = (uint32_t)p->n_ctx;
    cp.n_batch = (uint32_t)l->n_batch;
    cp.n_ubatch = (uint32_t)l->n_ubatch;
    cp.n_seq_max = 1;
    cp.n_threads = cp.n_threads_batch = p->n_threads;
    cp.flash_attn_type = p->flash_attn;
    cp.type_k = p->type_k;
    cp.type_v = p->type_v;
    /* llama-perplexity's (common's) choice: the sliding-window cache holds the window only */
    cp.swa_full = false;
    cp.no_perf = true;
    /* llama.cpp reads its rotation switch when the cache is created */
    if (p->rotate_off)
        setenv("LLAMA_ATTN_ROT_DISABLE", "1", 1);
    else
        unsetenv("LLAMA_ATTN_ROT_DISABLE");
    l->ctx = a->init_from_model(l->model, cp);
    if (!l->ctx) {
        st = ql_fail(err, QL_ERR_ARG, "%s: llama.cpp cannot create the context: %s", p->model_path,
                     llama_reason());
        ql_llama_close(l);
        return st;
    }
    const size_t ub = (size_t)l->n_ubatch;
    l->tok = malloc(ub * sizeof *l->tok);
    l->pos = malloc(ub * sizeof *l->pos);
    l->n_seq_id = malloc(ub * sizeof *l->n_seq_id);
    l->seq_id = malloc(ub * sizeof *l->seq_id);
    l->out = malloc(ub * sizeof *l->out);
    if (!l->tok || !l->pos || !l->n_seq_id || !l->seq_id || !l->out) {
        ql_llama_close(l);
        return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < ub; i++) {
        l->n_seq_id[i] = 1;
        l->seq_id[i] = &l->seq0;
    }
    name_device(l, p->n_gpu_layers);
    l->system_info = a->print_system_info();
    llama_phase = "evaluating a chunk (llama_decode)";
    *out = l;
    return QL_OK;
}

void ql_llama_close(ql_llama *l) {
    if (!l) return;
    if (l->ctx) l->api.free_ctx(l->ctx);
    if (l->model) l->api.model_free(l->model);
    if (l->guarded) guard_off();
    /* the library stays loaded: ggml's backends register atexit work and threads that must
       not outlive their code */
    free(l->tok);
    free(l->pos);
    free(l->n_seq_id);
    free(l->seq_id);
    free(l->out);
    free(l);
}

ql_status ql_llama_tokenize(ql_llama *l, const char *text, size_t len, int32_t **tokens,
                            int64_t *n_tokens, ql_error *err) {
    *tokens = NULL;
    *n_tokens = 0;
    if (len > INT32_MAX)
        return ql_fail(err, QL_ERR_UNSUPPORTED, "the text is too long for llama.cpp's tokenizer");
    /* llama_tokenize returns minus the count when the buffer is too small */
    int32_t cap = (int32_t)(len < 1024 ? 1024 : len / 2);
    for (int tries = 0; tries < 2; tries++) {
        int32_t *buf = malloc((size_t)cap * sizeof *buf);
        if (!buf) return ql_fail(err, QL_ERR_NOMEM, "out of memory");
        const int32_t n = l->api.tokenize(l->vocab, text, (int32_t)len, buf, cap, true, false);
        if (n >= 0) {
            *tokens = buf;
            *n_tokens = n;
            return QL_OK;
        }
        free(buf);
        if (n == INT32_MIN) break;
        cap = -n;
    }
    return ql_fail(err, QL_ERR_FORMAT, "llama.cpp cannot tokenize the text");
}

bool ql_llama_add_bos(const ql_llama *l) {
    return l->api.vocab_get_add_bos(l->vocab);
}
int32_t ql_llama_bos(const ql_llama *l) {
    return l->api.vocab_bos(l->vocab);
}
int64_t ql_llama_n_vocab(const ql_llama *l) {
    return l->n_vocab;
}
const char *ql_llama_lib(const ql_llama *l) {
    return l->lib;
}
const char *ql_llama_version(const ql_llama *l) {
    return l->version;
}
const char *ql_llama_backend(const ql_llama *l) {
    return l->backend;
}
const char *ql_llama_device(const ql_llama *l) {
    return l->device;
}
const char *ql_llama_system_info(const ql_llama *l) {
    return l->system_info ? l->system_info : "";
}

/*
 * One chunk as llama-perplexity decodes it: from an empty cache, in logical
 * batches of n_batch tokens that llama.cpp splits into n_ubatch-token steps.
 * qlens submits each step itself, with the same boundaries, so that llama.cpp
 * computes exactly the same steps and the output buffer holds at most
 * n_ubatch rows; only positions from first_out on produce logits.
 */
static ql_status eval_chunk(void *self, const int32_t *tokens, int64_t n, int64_t first_out,
                            ql_logits_fn fn, void *user, ql_error *err) {
    ql_llama *l = self;
    const lc_api *a = &l->api;
    a->memory_clear(a->get_memory(l->ctx), true);
    for (int64_t b0 = 0; b0 < n; b0 += l->n_batch) {
        const int64_t b1 = b0 + l->n_batch < n ? b0 + l->n_batch : n;
        for (int64_t u0 = b0; u0 < b1; u0 += l->n_ubatch) {
            const int64_t u1 = u0 + l->n_ubatch < b1 ? u0 + l->n_ubatch : b1;
            int64_t n_out = 0;
            for (int64_t i = u0; i < u1; i++) {
                l->tok[i - u0] = tokens[i];
                l->pos[i - u0] = (lc_pos)i;
                l->out[i - u0] = i >= first_out;
                n_out += i >= first_out;
            }
            const lc_batch batch = {.n_tokens = (int32_t)(u1 - u0),
                                    .token = l->tok,
                                    .pos = l->pos,
                                    .n_seq_id = l->n_seq_id,
                                    .seq_id = l->seq_id,
                                    .logits = l->out};
            last_log_error[0] = '\0';
            const int32_t rc = a->decode(l->ctx, batch);
            if (rc != 0)
                return ql_fail(err, QL_ERR_INTERNAL,
                               "llama_decode failed (%d) at positions %lld..%lld: %s", (int)rc,
                               (long long)u0, (long long)u1 - 1, llama_reason());
            if (n_out == 0) continue;
            const float *logits = a->get_logits(l->ctx);
            if (!logits) return ql_fail(err, QL_ERR_INTERNAL, "llama.cpp returned no logits");
            const ql_logits_block blk = {.first_pos = u0 > first_out ? u0 : first_out,
                                         .n_rows = n_out,
                                         .n_vocab = l->n_vocab,
                                         .logits = logits};
            if (!fn(user, &blk)) return ql_fail(err, QL_ERR_INTERNAL, "evaluation stopped");
        }
    }
    return QL_OK;
}

void ql_llama_engine(ql_llama *l, ql_eval_engine *out) {
    *out = (ql_eval_engine){.name = "llama.cpp", .self = l, .eval_chunk = eval_chunk};
}

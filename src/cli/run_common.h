/*
 * run_common.h - what the commands that run a model share: their flags
 * (llama-perplexity's names), loading a model and its tokenizer, building a
 * context, the JSON envelope, and the printed KLD tables.
 */
#ifndef QL_CLI_RUN_COMMON_H
#define QL_CLI_RUN_COMMON_H

#include <stdint.h>
#include <string.h>

#include "../core/json.h"
#include "../core/outfile.h"
#include "../engine/llama_engine.h"
#include "../eval/eval.h"
#include "../eval/kld.h"
#include "../eval/refstore.h"
#include "../eval/results_json.h"
#include "../model/context.h"
#include "../tokenizer/tokenizer.h"
#include "cli.h"

typedef struct {
    const char *model;
    int64_t n_ctx; /* 0 until given: 512, or a reference file's */
    int64_t n_batch, n_ubatch, chunks, threads, positions;
    const char *ctk, *ctv, *rotate, *hadamard;
    const char *numerics; /* "auto" (this CPU's), "fp16" or "f32" */
    bool no_repack;
    const char *json;
    const char *engine;    /* "qlens" (default) or "llama.cpp" */
    const char *llama_lib; /* libllama for --engine llama.cpp (NULL: search) */
    /* llama-perplexity's flags that this engine takes without using (see QL_RUN_LLAMA_OPTS) */
    struct {
        const char *n_gpu_layers, *flash_attn, *seed, *output_file;
        bool no_mmap, mlock, log_disable;
        int64_t threads_batch, ppl_stride, ppl_output_type;
    } llama;
} ql_run_opts;

void ql_run_opts_defaults(ql_run_opts *o);
int64_t ql_run_n_ctx(const ql_run_opts *o);

#define QL_RUN_MODEL_OPTS(o)                                                                       \
    {                                                                                              \
        .name = "--model", .alias = "-m", .kind = CLI_STRING, .dest = &(o).model,                  \
        .metavar = "FILE", .help = "the model (GGUF) to evaluate"                                  \
    }

#define QL_RUN_EVAL_OPTS(o)                                                                        \
    {.name = "--ctx-size",                                                                         \
     .alias = "-c",                                                                                \
     .kind = CLI_INT,                                                                              \
     .dest = &(o).n_ctx,                                                                           \
     .metavar = "N",                                                                               \
     .help = "tokens per chunk (default 512)",                                                     \
     .min = 4,                                                                                     \
     .max = 1 << 24},                                                                              \
        {.name = "--batch-size",                                                                   \
         .alias = "-b",                                                                            \
         .kind = CLI_INT,                                                                          \
         .dest = &(o).n_batch,                                                                     \
         .metavar = "N",                                                                           \
         .help = "logical batch size (default 2048)",                                              \
         .min = 1,                                                                                 \
         .max = 1 << 24},                                                                          \
        {.name = "--ubatch-size",                                                                  \
         .alias = "-ub",                                                                           \
         .kind = CLI_INT,                                                                          \
         .dest = &(o).n_ubatch,                                                                    \
         .metavar = "N",                                                                           \
         .help = "tokens per forward step (default 512)",                                          \
         .min = 1,                                                                                 \
         .max = 1 << 24},                                                                          \
        {.name = "--chunks",                                                                       \
         .kind = CLI_INT,                                                                          \
         .dest = &(o).chunks,                                                                      \
         .metavar = "N",                                                                           \
         .help = "evaluate at most N chunks (default: all)",                                       \
         .min = 1,                                                                                 \
         .max = 1 << 30},                                                                          \
        {.name = "--threads",                                                                      \
         .alias = "-t",                                                                            \
         .kind = CLI_INT,                                                                          \
         .dest = &(o).threads,                                                                     \
         .metavar = "N",                                                                           \
         .help = "threads (default: all CPUs)",                                                    \
         .min = 1,                                                                                 \
         .max = 1024},                                                                             \
        {.name = "--cache-type-k",                                                                 \
         .alias = "-ctk",                                                                          \
         .kind = CLI_STRING,                                                                       \
         .dest = &(o).ctk,                                                                         \
         .metavar = "TYPE",                                                                        \
         .help = "K cache type (default f16)"},                                                    \
        {.name = "--cache-type-v",                                                                 \
         .alias = "-ctv",                                                                          \
         .kind = CLI_STRING,                                                                       \
         .dest = &(o).ctv,                                                                         \
         .metavar = "TYPE",                                                                        \
         .help = "V cache type (default f16)"},                                                    \
        {.name = "--kv-rotate",                                                                    \
         .kind = CLI_STRING,                                                                       \
         .dest = &(o).rotate,                                                                      \
         .metavar = "MODE",                                                                        \
         .help = "Hadamard rotation of K/V: auto (when a cache type is quantized), on, off"},      \
        {.name = "--kv-hadamard",                                                                  \
         .kind = CLI_STRING,                                                                       \
         .dest = &(o).hadamard,                                                                    \
         .metavar = "MODE",                                                                        \
         .help = "how a rotation is computed: fwht (default, current llama.cpp) or dense "         \
                 "(the older llama.cpp of the golden data)"},                                      \
        {.name = "--numerics",                                                                     \
         .kind = CLI_STRING,                                                                       \
         .dest = &(o).numerics,                                                                    \
         .metavar = "MODE",                                                                        \
         .help = "f16 arithmetic to reproduce: auto (this CPU's, default), fp16 (a CPU with "      \
                 "AVX512-FP16) or f32 (one without)"},                                             \
    {                                                                                              \
        .name = "--no-repack", .kind = CLI_FLAG, .dest = &(o).no_repack,                           \
        .help = "follow llama.cpp run with --no-repack (weights not repacked)"                     \
    }

#define QL_RUN_ENGINE_OPTS(o)                                                                      \
    {.name = "--engine",                                                                           \
     .kind = CLI_STRING,                                                                           \
     .dest = &(o).engine,                                                                          \
     .metavar = "NAME",                                                                            \
     .help = "qlens (default) or llama.cpp (libllama of llama-cpp-python 0.3.36, loaded at "       \
             "run time)"},                                                                         \
    {                                                                                              \
        .name = "--llama-lib", .kind = CLI_STRING, .dest = &(o).llama_lib, .metavar = "PATH",      \
        .help = "libllama.so for --engine llama.cpp (default: $QLENS_LLAMA_LIB, then the "         \
                "pip-installed copy)"                                                              \
    }

#define QL_RUN_OUTPUT_OPTS(o)                                                                      \
    {.name = "--json",                                                                             \
     .kind = CLI_STRING,                                                                           \
     .dest = &(o).json,                                                                            \
     .metavar = "FILE",                                                                            \
     .help = "also write every number (per chunk and per token) to FILE as JSON"},                 \
    {                                                                                              \
        .name = "--kld-positions", .kind = CLI_INT, .dest = &(o).positions, .metavar = "N",        \
        .help = "mean KLD in N buckets of context position", .min = 1, .max = 1 << 20              \
    }

/*
 * llama-perplexity's flags, so that a pasted llama-perplexity command line
 * runs. -tb sets the threads (llama.cpp evaluates perplexity with its batch
 * threads), --ppl-output-type 1 prints llama-perplexity's per-chunk lines,
 * --log-disable silences stderr but for errors; the others have no effect
 * here and say so in one note each (ql_run_check_llama_flags).
 */
#define QL_RUN_LLAMA_OPTS(o)                                                                       \
    {.name = "--n-gpu-layers",                                                                     \
     .alias = "-ngl",                                                                              \
     .kind = CLI_STRING,                                                                           \
     .dest = &(o).llama.n_gpu_layers,                                                              \
     .metavar = "N",                                                                               \
     .help = "accepted for llama.cpp command lines; qlens runs on the CPU"},                       \
        {.name = "--gpu-layers",                                                                   \
         .kind = CLI_STRING,                                                                       \
         .dest = &(o).llama.n_gpu_layers,                                                          \
         .metavar = "N",                                                                           \
         .help = "the same as -ngl"},                                                              \
        {.name = "--flash-attn",                                                                   \
         .alias = "-fa",                                                                           \
         .kind = CLI_OPTIONAL,                                                                     \
         .dest = &(o).llama.flash_attn,                                                            \
         .choices = "on|off|auto",                                                                 \
         .help = "accepted for llama.cpp command lines; attention is always computed as "          \
                 "llama.cpp's flash-attention path does"},                                         \
        {.name = "--no-mmap",                                                                      \
         .kind = CLI_FLAG,                                                                         \
         .dest = &(o).llama.no_mmap,                                                               \
         .help = "accepted for llama.cpp command lines; the model is always mapped"},              \
        {.name = "--mlock",                                                                        \
         .kind = CLI_FLAG,                                                                         \
         .dest = &(o).llama.mlock,                                                                 \
         .help = "accepted for llama.cpp command lines; nothing is locked in memory"},             \
        {.name = "--seed",                                                                         \
         .alias = "-s",                                                                            \
         .kind = CLI_STRING,                                                                       \
         .dest = &(o).llama.seed,                                                                  \
         .metavar = "N",                                                                           \
         .help = "accepted for llama.cpp command lines; evaluation draws no random numbers"},      \
        {.name = "--output-file",                                                                  \
         .alias = "-o",                                                                            \
         .kind = CLI_STRING,                                                                       \
         .dest = &(o).llama.output_file,                                                           \
         .metavar = "FILE",                                                                        \
         .help = "accepted for llama.cpp command lines (llama-perplexity writes nothing there "    \
                 "either); --json FILE writes the results"},                                       \
        {.name = "--output",                                                                       \
         .kind = CLI_STRING,                                                                       \
         .dest = &(o).llama.output_file,                                                           \
         .metavar = "FILE",                                                                        \
         .help = "the same as -o"},                                                                \
        {.name = "--threads-batch",                                                                \
         .alias = "-tb",                                                                           \
         .kind = CLI_INT,                                                                          \
         .dest = &(o).llama.threads_batch,                                                         \
         .metavar = "N",                                                                           \
         .help = "threads, as llama-perplexity's batch threads (wins over -t)",                    \
         .min = 1,                                                                                 \
         .max = 1024},                                                                             \
        {.name = "--ppl-stride",                                                                   \
         .kind = CLI_INT,                                                                          \
         .dest = &(o).llama.ppl_stride,                                                            \
         .metavar = "N",                                                                           \
         .help = "llama-perplexity's strided perplexity: only 0 (its default) is implemented",     \
         .min = 0,                                                                                 \
         .max = 1 << 24},                                                                          \
        {.name = "--ppl-output-type",                                                              \
         .kind = CLI_INT,                                                                          \
         .dest = &(o).llama.ppl_output_type,                                                       \
         .metavar = "0|1",                                                                         \
         .help = "0: running values as [i]ppl (default); 1: llama-perplexity's line per chunk "    \
                 "(position, PPL, mean NLL, its spread)",                                          \
         .min = 0,                                                                                 \
         .max = 1},                                                                                \
    {                                                                                              \
        .name = "--log-disable", .kind = CLI_FLAG, .dest = &(o).llama.log_disable,                 \
        .help = "print nothing on stderr but errors (no run description, progress or notes)"       \
    }

/*
 * Applies the flags of QL_RUN_LLAMA_OPTS: prints one note per flag that has
 * no effect, refuses what qlens cannot do (--ppl-stride above 0) with a usage
 * error (returned), and sets the threads from -tb. 0 when all is well.
 */
int ql_run_check_llama_flags(const char *command, ql_run_opts *o);

typedef struct {
    const ql_run_opts *o;
    const char *command;
    ql_model *model;
    tok_vocab *vocab;
    ql_context *ctx;
    ql_context_params cp;
    /* --engine llama.cpp: the library's model and context evaluate the chunks (the qlens
       model above still describes the file) */
    ql_llama *llama;
    ql_eval_engine engine;
    double t_start; /* ql_run_open: loading and tokenizing count */
    double t_eval;  /* ql_run_print_header: evaluation alone */
    double t_done;  /* ql_run_print_speed: the evaluation's end */
    int64_t tokens_evaluated;
    /* the files the run read, for the JSON (path NULL: none) */
    ql_json_input reference, text;
    ql_json json;
} ql_run;

/*
 * Checks the cache-type and rotation flags of a command line (prefix names
 * them in the message, e.g. "perplexity" or "kld --ref-"): prints the usage
 * error and returns QL_EXIT_USAGE, or 0 when they are valid.
 */
int ql_run_check_flags(const char *command, const char *flag_prefix, const char *ctk,
                       const char *ctv, const char *rotate, const char *hadamard,
                       const char *numerics);

/* Parses the cache and rotation flags into a context's parameters. */
ql_status ql_run_context_params(const ql_run_opts *o, ql_context_params *cp, ql_error *err);

/* Whether the run evaluates with llama.cpp. */
static inline bool ql_run_is_llama(const ql_run_opts *o) {
    return o->engine && strcmp(o->engine, "llama.cpp") == 0;
}

/* Checks --engine and the flags that depend on it (usage error, or 0). */
int ql_run_check_engine(const char *command, const ql_run_opts *o);

/* Loads o->model and creates its context (and llama.cpp's, with --engine llama.cpp). */
ql_status ql_run_open(ql_run *r, const ql_run_opts *o, const char *command, ql_error *err);
void ql_run_close(ql_run *r);

/* Tokenizes a text file as llama-perplexity does (BOS when the vocabulary adds it). */
ql_status ql_run_tokenize(ql_run *r, const char *path, int32_t **tokens, int64_t *n_tokens,
                          ql_error *err);

/* Evaluation parameters for n_tokens tokens (checks there are enough). */
ql_status ql_run_eval_params(ql_run *r, int64_t n_tokens, ql_eval_params *ep, ql_error *err);

/* "weights=Q4_K_M ctk=q8_0 ctv=q8_0 rot=auto (rotating, fwht)" */
void ql_run_describe(const ql_run *r, char *buf, size_t size);

/* One line on stderr describing the run. */
void ql_run_print_header(ql_run *r, int64_t n_tokens, const ql_eval_params *ep);
/*
 * Marks the evaluation's end (for the JSON's timing) and prints one line on
 * stderr: tokens evaluated and tokens/s since ql_run_open, and since
 * ql_run_print_header (the evaluation alone, what llama-perplexity's
 * "seconds per pass" times).
 */
void ql_run_print_speed(ql_run *r, int64_t tokens_evaluated);

/* JSON envelope: opens FILE atomically and writes version, kind, model and config. */
ql_status ql_run_json_begin(ql_run *r, const char *kind, ql_outfile **of, ql_error *err);
ql_json *ql_run_json(ql_run *r);
ql_status ql_run_json_end(ql_run *r, ql_outfile *of, ql_error *err);

/* llama-perplexity's KLD printout. */
void ql_run_print_kld_ref(ql_run *r, const char *path, const ql_ref_file *ref, int64_t n_chunks);
void ql_run_print_kld_chunk_header(void);
void ql_run_print_kld_chunk(int64_t chunk, const ql_kld_chunk_row *row);

/* A KLD run's chunk callback state: rows kept for the statistics, a progress bar. */
typedef struct {
    cli_progress bar;
    ql_kld_chunk_row *rows;
} ql_run_kld_ui;
/* Keeps the row, prints it and moves the bar (user is a ql_run_kld_ui). */
bool ql_run_kld_on_chunk(void *user, int64_t chunk, int64_t n_chunks, const ql_kld_chunk_row *row);
void ql_run_print_kld_stats(const ql_kld_stats *s);
void ql_run_print_kld_positions(const ql_kld_bucket *b, int n);

/* Statistics, position buckets, printout and JSON at the end of a KLD run. */
int ql_run_finish_kld(ql_run *r, const ql_kld_acc *acc, const ql_kld_chunk_row *rows,
                      int64_t n_chunks, int64_t n_ctx);

#endif

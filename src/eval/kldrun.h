/*
 * kldrun.h - the three ways to measure KL divergence of a model under test
 * against a reference, all with memory O(batch x n_vocab):
 *
 *   save    run the reference once (a perplexity run) and write a reference
 *           file: qlens's exact format or llama.cpp's;
 *   file    run the model under test on a reference file's tokens;
 *   lockstep run reference and model under test chunk by chunk in one
 *           process: per chunk the reference's final hidden states are kept
 *           (n_scored x n_embd), and its logits are recomputed block by block
 *           while the model under test produces its own - the same arithmetic
 *           as the file path, without the file.
 */
#ifndef QL_EVAL_KLDRUN_H
#define QL_EVAL_KLDRUN_H

#include "eval.h"
#include "kld.h"
#include "perplexity.h"
#include "refstore.h"

/* Called after each chunk with the cumulative per-chunk row; false stops the run. */
typedef bool (*ql_kld_chunk_fn)(void *user, int64_t chunk, int64_t n_chunks,
                                const ql_kld_chunk_row *row);

/*
 * Runs a perplexity evaluation of ctx (or of ep->engine) and writes its
 * predictions to path; an engine other than qlens's writes llama.cpp's format
 * only.
 */
ql_status ql_kld_save_base(ql_context *ctx, const gguf_file *model_file, const int32_t *tokens,
                           int64_t n_tokens, const ql_eval_params *ep, const char *path,
                           ql_ref_format fmt, const char *config, ql_ppl_progress_fn progress,
                           void *user, ql_ppl_result *ppl, ql_error *err);

/* Checks that a model under test can be compared with a reference file. */
ql_status ql_kld_check_compatible(const ql_ref_file *ref, const gguf_file *model_file,
                                  const ql_model_config *cfg, ql_error *err);

/*
 * Scores ctx against a reference file over all its chunks (or the first
 * n_chunks if > 0). acc must be initialised by the caller.
 */
ql_status ql_kld_run_file(ql_context *ctx, const gguf_file *model_file, const ql_ref_file *ref,
                          int64_t n_chunks, ql_kld_chunk_fn on_chunk, void *user, ql_kld_acc *acc,
                          ql_error *err);

/* The same with engine (NULL: ctx's) evaluating the model under test. */
ql_status ql_kld_run_file_engine(ql_context *ctx, const ql_eval_engine *engine,
                                 const gguf_file *model_file, const ql_ref_file *ref,
                                 int64_t n_chunks, ql_kld_chunk_fn on_chunk, void *user,
                                 ql_kld_acc *acc, ql_error *err);

/* Whether two models can be compared token by token (same vocabulary); checked by lockstep runs. */
ql_status ql_kld_check_models(const ql_model *ref, const ql_model *cand, ql_error *err);

/*
 * Scores cand against ref_ctx on tokens, chunk by chunk; no file. The
 * reference always runs on qlens's engine (its hidden states are kept);
 * ep->engine, when set, evaluates the model under test instead of cand.
 */
ql_status ql_kld_run_lockstep(ql_context *ref_ctx, ql_context *cand, const int32_t *tokens,
                              int64_t n_tokens, const ql_eval_params *ep, ql_kld_chunk_fn on_chunk,
                              void *user, ql_kld_acc *acc, ql_error *err);

#endif

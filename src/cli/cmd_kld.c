/*
 * cmd_kld.c - `qlens kld`: KL divergence in lockstep. The reference model and
 * the model under test run chunk by chunk in one process and no reference
 * file is written; the statistics are the same as
 * `qlens perplexity --kl-divergence` against a saved reference (bit for bit).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../eval/kldrun.h"
#include "cli.h"
#include "run_common.h"

static ql_run_opts ro;
static const char *opt_ref, *opt_file, *opt_ref_ctk = "f16", *opt_ref_ctv = "f16",
                                       *opt_ref_rotate = "auto", *opt_ref_hadamard = "fwht";

static const cli_opt kld_opts[] = {
    {.name = "--ref",
     .kind = CLI_STRING,
     .dest = &opt_ref,
     .metavar = "FILE",
     .help = "the reference model (GGUF), e.g. the F16 or BF16 original"},
    QL_RUN_MODEL_OPTS(ro),
    {.name = "--file",
     .alias = "-f",
     .kind = CLI_STRING,
     .dest = &opt_file,
     .metavar = "FILE",
     .help = "the text to evaluate"},
    QL_RUN_EVAL_OPTS(ro),
    {.name = "--ref-cache-type-k",
     .kind = CLI_STRING,
     .dest = &opt_ref_ctk,
     .metavar = "TYPE",
     .help = "the reference's K cache type (default f16)"},
    {.name = "--ref-cache-type-v",
     .kind = CLI_STRING,
     .dest = &opt_ref_ctv,
     .metavar = "TYPE",
     .help = "the reference's V cache type (default f16)"},
    {.name = "--ref-kv-rotate",
     .kind = CLI_STRING,
     .dest = &opt_ref_rotate,
     .metavar = "MODE",
     .help = "the reference's rotation mode (default auto)"},
    {.name = "--ref-kv-hadamard",
     .kind = CLI_STRING,
     .dest = &opt_ref_hadamard,
     .metavar = "MODE",
     .help = "how the reference's rotations are computed (default fwht)"},
    QL_RUN_ENGINE_OPTS(ro),
    QL_RUN_OUTPUT_OPTS(ro),
    QL_RUN_LLAMA_OPTS(ro),
};

static int run_kld(int argc, char **argv);

const ql_command ql_cmd_kld = {
    .name = "kld",
    .summary = "KL divergence of a model against a reference model, both run in lockstep",
    .usage = "qlens kld --ref REF.gguf -m MODEL.gguf -f TEXT [options]",
    .details = "Both models see the same chunks (llama-perplexity's protocol). Per chunk the\n"
               "reference's final hidden states are kept and its logits recomputed block by\n"
               "block, so memory stays O(batch x vocabulary) at any context size. -c, -b, -ub,\n"
               "--chunks and -t apply to both; -ctk/-ctv/--kv-rotate/--kv-hadamard to the model\n"
               "under test, --ref-cache-type-k/-v, --ref-kv-rotate and --ref-kv-hadamard to the\n"
               "reference. --engine llama.cpp runs the model under test on llama.cpp (the\n"
               "reference stays on qlens, whose hidden states the comparison keeps): with the\n"
               "same file for both, the KLD is the difference between the two engines.",
    .opts = kld_opts,
    .n_opts = sizeof kld_opts / sizeof kld_opts[0],
    .run = run_kld,
};

static int run_kld(int argc, char **argv) {
    ql_run_opts_defaults(&ro);
    int np = 0;
    int rc = cli_parse(&ql_cmd_kld, argc, argv, NULL, 0, &np);
    if (rc) return rc < 0 ? QL_EXIT_OK : rc;
    if (!opt_ref) return cli_usage("kld: --ref REF.gguf is required");
    if (!ro.model) return cli_usage("kld: -m MODEL.gguf is required");
    if (!opt_file) return cli_usage("kld: give the text with -f FILE");
    if ((rc = ql_run_check_flags("kld", "--", ro.ctk, ro.ctv, ro.rotate, ro.hadamard,
                                 ro.numerics)) ||
        (rc = ql_run_check_flags("kld", "--ref-", opt_ref_ctk, opt_ref_ctv, opt_ref_rotate,
                                 opt_ref_hadamard, NULL)) ||
        (rc = ql_run_check_llama_flags("kld", &ro)) || (rc = ql_run_check_engine("kld", &ro)))
        return rc;
    if (ro.llama.ppl_output_type != 0)
        cli_note("--ppl-output-type has no effect on kld, which prints its KL-divergence table");

    ql_run_opts ref_opts = ro;
    ref_opts.model = opt_ref;
    ref_opts.ctk = opt_ref_ctk;
    ref_opts.ctv = opt_ref_ctv;
    ref_opts.rotate = opt_ref_rotate;
    ref_opts.hadamard = opt_ref_hadamard;
    ref_opts.json = NULL;
    ref_opts.engine = "qlens";
    ref_opts.llama_lib = NULL;

    ql_error err;
    /* an output that cannot be written, or would replace an input, fails now */
    ql_input_note(opt_ref);
    ql_input_note(ro.model);
    ql_input_note(opt_file);
    if (ro.json && ql_outfile_check(ro.json, &err)) return cli_fail(&err);
    ql_run ref, cand;
    if (ql_run_open(&ref, &ref_opts, "kld", &err)) return cli_fail(&err);
    if (ql_run_open(&cand, &ro, "kld", &err) || ql_kld_check_models(ref.model, cand.model, &err)) {
        ql_run_close(&cand);
        ql_run_close(&ref);
        return cli_fail(&err);
    }
    /* the JSON is the model under test's, and its loading time includes the reference's */
    cand.t_start = ref.t_start;
    cand.reference = (ql_json_input){opt_ref, "gguf"};
    cand.text = (ql_json_input){opt_file, "text"};
    int32_t *tokens = NULL;
    int64_t n_tokens = 0;
    ql_eval_params ep;
    ql_kld_acc acc = {0};
    ql_run_kld_ui ui = {0};
    ql_status st = ql_run_tokenize(&ref, opt_file, &tokens, &n_tokens, &err);
    if (!st) st = ql_run_eval_params(&ref, n_tokens, &ep, &err);
    if (!st && cand.llama) ep.engine = &cand.engine;
    if (!st) st = ql_kld_acc_init(&acc, ep.n_chunks * ql_eval_scored_per_chunk(ep.n_ctx), &err);
    if (!st && !(ui.rows = calloc((size_t)ep.n_chunks, sizeof *ui.rows)))
        st = ql_fail(&err, QL_ERR_NOMEM, "out of memory");
    if (st) {
        rc = cli_fail(&err);
    } else {
        char d[256];
        ql_run_describe(&ref, d, sizeof d);
        if (!cli_quiet()) fprintf(stderr, "kld: reference %s (%s)\n", cli_shown(opt_ref), d);
        ql_run_print_header(&cand, n_tokens, &ep);
        ql_run_print_kld_chunk_header();
        cli_progress_begin(&ui.bar, "kld");
        st = ql_kld_run_lockstep(ref.ctx, cand.ctx, tokens, n_tokens, &ep, ql_run_kld_on_chunk, &ui,
                                 &acc, &err);
        cli_progress_end(&ui.bar);
        rc = st ? cli_fail(&err) : ql_run_finish_kld(&cand, &acc, ui.rows, ep.n_chunks, ep.n_ctx);
    }
    free(ui.rows);
    ql_kld_acc_free(&acc);
    free(tokens);
    ql_run_close(&cand);
    ql_run_close(&ref);
    return rc;
}

/*
 * cmd_perplexity.c - `qlens perplexity`: llama-perplexity's job, exactly, and
 * its KL-divergence mode with an exact compact reference.
 *
 *   qlens perplexity -m MODEL -f TEXT                       perplexity
 *   qlens perplexity -m BASE -f TEXT --kl-divergence-base F  perplexity + write reference F
 *   qlens perplexity -m MODEL --kl-divergence-base F --kl-divergence
 *                                                           KLD of MODEL against F (no text)
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../include/qlens.h"
#include "../core/json.h"
#include "../core/outfile.h"
#include "../eval/kldrun.h"
#include "../eval/results_json.h"
#include "../tokenizer/tokenizer.h"
#include "cli.h"
#include "run_common.h"

static ql_run_opts ro;
static const char *opt_file, *opt_base, *opt_base_format = "qlens";
static bool opt_kld;

static const cli_opt perplexity_opts[] = {
    QL_RUN_MODEL_OPTS(ro),
    {.name = "--file",
     .alias = "-f",
     .kind = CLI_STRING,
     .dest = &opt_file,
     .metavar = "FILE",
     .help = "the text to evaluate (not needed with --kl-divergence)"},
    QL_RUN_EVAL_OPTS(ro),
    {.name = "--kl-divergence-base",
     .kind = CLI_STRING,
     .dest = &opt_base,
     .metavar = "FILE",
     .help = "reference file: written by a run without --kl-divergence, read with it"},
    {.name = "--kl-divergence",
     .kind = CLI_FLAG,
     .dest = &opt_kld,
     .help = "compare the model with the reference in --kl-divergence-base"},
    {.name = "--kld-base-format",
     .kind = CLI_STRING,
     .dest = &opt_base_format,
     .metavar = "qlens|llama",
     .help = "format of a reference being written (default qlens: exact and compact)"},
    QL_RUN_ENGINE_OPTS(ro),
    QL_RUN_OUTPUT_OPTS(ro),
    QL_RUN_LLAMA_OPTS(ro),
};

static int run_perplexity(int argc, char **argv);

const ql_command ql_cmd_perplexity = {
    .name = "perplexity",
    .summary =
        "perplexity and KL divergence of a model on a text, as llama-perplexity measures them",
    .usage = "qlens perplexity -m MODEL.gguf (-f TEXT | --kl-divergence-base FILE --kl-divergence) "
             "[options]",
    .details =
        "The text is tokenized whole (BOS first when the vocabulary adds it) and cut into chunks\n"
        "of -c tokens; each chunk is evaluated from an empty cache with its first token set to\n"
        "BOS, and the second half of each chunk is scored - llama-perplexity's protocol, so the\n"
        "numbers are comparable with published ones.\n\n"
        "With --kl-divergence-base FILE alone, the run also saves the model's predictions to\n"
        "FILE. With --kl-divergence too, FILE is read instead: the model is run on its tokens\n"
        "and compared with it (KLD, PPL ratio, same-top, per chunk and in summary). FILE may\n"
        "also be a base file written by llama-perplexity.",
    .opts = perplexity_opts,
    .n_opts = sizeof perplexity_opts / sizeof perplexity_opts[0],
    .run = run_perplexity,
};

typedef struct {
    cli_progress bar;
    int64_t n_ctx;
    int64_t
        chunks_per_batch; /* llama-perplexity evaluates max(1, n_batch / n_ctx) chunks at once */
} ppl_ui;

static bool ppl_progress(void *user, const ql_ppl_running *r) {
    ppl_ui *ui = user;
    if (ro.llama.ppl_output_type == 1) {
        /* llama-perplexity's line: the first position of the batch of chunks this one was in */
        const int64_t first = r->chunk / ui->chunks_per_batch * ui->chunks_per_batch * ui->n_ctx;
        cli_progress_print_line(&ui->bar, "%8lld  %.4f  %4f  %4f\n", (long long)first, r->ppl,
                                r->mean_nll, r->nll_spread);
    } else {
        cli_progress_print_line(&ui->bar, "[%lld]%.4f,", (long long)r->chunk + 1, r->ppl);
    }
    char detail[64];
    snprintf(detail, sizeof detail, "chunk %lld/%lld", (long long)r->chunk + 1,
             (long long)r->n_chunks);
    cli_progress_update(&ui->bar, (double)(r->chunk + 1), (double)r->n_chunks, detail);
    return true;
}

static int run_plain(ql_run *r) {
    int64_t n_tokens;
    int32_t *tokens;
    ql_error err;
    if (ql_run_tokenize(r, opt_file, &tokens, &n_tokens, &err)) return cli_fail(&err);
    ql_eval_params ep;
    if (ql_run_eval_params(r, n_tokens, &ep, &err)) {
        free(tokens);
        return cli_fail(&err);
    }
    ql_run_print_header(r, n_tokens, &ep);
    ppl_ui ui = {.n_ctx = ep.n_ctx,
                 .chunks_per_batch = ro.n_batch / ep.n_ctx > 1 ? ro.n_batch / ep.n_ctx : 1};
    cli_progress_begin(&ui.bar, "perplexity");
    ql_ppl_result res;
    ql_status st;
    if (opt_base) {
        const ql_ref_format fmt =
            strcmp(opt_base_format, "llama") == 0 ? QL_REF_LLAMA : QL_REF_QLENS;
        char config[256];
        ql_run_describe(r, config, sizeof config);
        st = ql_kld_save_base(r->ctx, r->model->file, tokens, n_tokens, &ep, opt_base, fmt, config,
                              ppl_progress, &ui, &res, &err);
    } else {
        st =
            ql_perplexity(r->ctx, tokens, n_tokens, &ep, ppl_progress, &ui, NULL, NULL, &res, &err);
    }
    cli_progress_end(&ui.bar);
    /* the running values' line ends before anything else is written, stderr included: in a
       file that holds both, the timing line must not land at the end of it */
    printf("\n");
    fflush(stdout);
    free(tokens);
    if (st) return cli_fail(&err);
    printf("Final estimate: PPL = %.4f +/- %.5f\n", res.ppl, res.ppl_unc);
    if (opt_base) printf("reference written to %s\n", cli_shown(opt_base));
    fflush(stdout);
    ql_run_print_speed(r, res.n_chunks * ep.n_ctx);
    int rc = QL_EXIT_OK;
    if (ro.json) {
        ql_outfile *of;
        if (ql_run_json_begin(r, "perplexity", &of, &err)) {
            rc = cli_fail(&err);
        } else {
            ql_json *j = ql_run_json(r);
            ql_json_ppl_result(j, &res);
            if (opt_base) {
                ql_json_key(j, "reference_written");
                ql_json_str(j, opt_base);
            }
            if (ql_run_json_end(r, of, &err)) rc = cli_fail(&err);
        }
    }
    ql_ppl_result_free(&res);
    return rc;
}

static int run_kld(ql_run *r, ql_ref_file *ref) {
    ql_error err;
    const ql_ref_info *in = ql_ref_info_of(ref);
    int64_t n_chunks = in->n_chunks;
    if (ro.chunks > 0 && ro.chunks < n_chunks) n_chunks = ro.chunks;
    ql_kld_acc acc;
    if (ql_kld_acc_init(&acc, n_chunks * ql_ref_scored_per_chunk(ref), &err)) return cli_fail(&err);
    ql_run_kld_ui ui = {.rows = calloc((size_t)n_chunks, sizeof *ui.rows)};
    if (!ui.rows) {
        ql_kld_acc_free(&acc);
        cli_error("out of memory");
        return QL_EXIT_FAILURE;
    }
    ql_run_print_kld_ref(r, opt_base, ref, n_chunks);
    ql_run_print_kld_chunk_header();
    cli_progress_begin(&ui.bar, "kl-divergence");
    ql_status st = ql_kld_run_file_engine(r->ctx, r->llama ? &r->engine : NULL, r->model->file, ref,
                                          n_chunks, ql_run_kld_on_chunk, &ui, &acc, &err);
    cli_progress_end(&ui.bar);
    int rc = st ? cli_fail(&err) : ql_run_finish_kld(r, &acc, ui.rows, n_chunks, in->n_ctx);
    free(ui.rows);
    ql_kld_acc_free(&acc);
    return rc;
}

static int run_perplexity(int argc, char **argv) {
    ql_run_opts_defaults(&ro);
    int np = 0;
    int rc = cli_parse(&ql_cmd_perplexity, argc, argv, NULL, 0, &np);
    if (rc) return rc < 0 ? QL_EXIT_OK : rc;
    if (!ro.model) return cli_usage("perplexity: -m MODEL.gguf is required");
    if (strcmp(opt_base_format, "qlens") != 0 && strcmp(opt_base_format, "llama") != 0)
        return cli_usage("perplexity --kld-base-format: '%s' is not qlens or llama",
                         opt_base_format);
    if (opt_kld && !opt_base)
        return cli_usage("perplexity: --kl-divergence needs --kl-divergence-base FILE");
    if (!opt_kld && !opt_file) return cli_usage("perplexity: give the text with -f FILE");
    if (opt_kld && opt_file)
        return cli_usage("perplexity: --kl-divergence takes its tokens from the reference file; "
                         "drop -f");
    if (ro.positions > 0 && !opt_kld)
        return cli_usage("perplexity: --kld-positions needs --kl-divergence");
    if ((rc = ql_run_check_flags("perplexity", "--", ro.ctk, ro.ctv, ro.rotate, ro.hadamard,
                                 ro.numerics)) ||
        (rc = ql_run_check_llama_flags("perplexity", &ro)) ||
        (rc = ql_run_check_engine("perplexity", &ro)))
        return rc;
    if (ql_run_is_llama(&ro) && opt_base && !opt_kld && strcmp(opt_base_format, "llama") != 0)
        return cli_usage("perplexity --engine llama.cpp: a qlens reference holds hidden states, "
                         "which llama.cpp does not give; add --kld-base-format llama");
    if (opt_kld && ro.llama.ppl_output_type != 0)
        cli_note("--ppl-output-type has no effect with --kl-divergence, which prints its table");

    ql_error err;
    /* outputs that cannot be written, or would replace an input, fail now */
    ql_input_note(ro.model);
    ql_input_note(opt_file);
    if (opt_kld) ql_input_note(opt_base);
    if (ro.json && ql_outfile_check(ro.json, &err)) return cli_fail(&err);
    if (!opt_kld && opt_base && ql_outfile_check(opt_base, &err)) return cli_fail(&err);
    ql_ref_file *ref = NULL;
    if (opt_kld) {
        if (ql_ref_open(opt_base, &ref, &err)) return cli_fail(&err);
        const int64_t file_ctx = ql_ref_info_of(ref)->n_ctx;
        if (ro.n_ctx > 0 && ro.n_ctx != file_ctx) {
            ql_ref_close(ref);
            return cli_usage("perplexity: the reference was made with -c %lld; -c %lld given",
                             (long long)file_ctx, (long long)ro.n_ctx);
        }
        ro.n_ctx = file_ctx;
    }
    ql_run r;
    if (ql_run_open(&r, &ro, "perplexity", &err)) {
        ql_ref_close(ref);
        return cli_fail(&err);
    }
    if (ref && ql_kld_check_compatible(ref, r.model->file, &r.model->cfg, &err)) {
        ql_ref_close(ref);
        ql_run_close(&r);
        return cli_fail(&err);
    }
    if (opt_kld)
        r.reference =
            (ql_json_input){opt_base, ql_ref_format_of(ref) == QL_REF_QLENS ? "qlens" : "llama"};
    else
        r.text = (ql_json_input){opt_file, "text"};
    rc = opt_kld ? run_kld(&r, ref) : run_plain(&r);
    ql_ref_close(ref);
    ql_run_close(&r);
    return rc;
}

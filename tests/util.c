/*
 * util.c - helpers shared by tests: where the golden data lives, temporary
 * directories, running the CLI, reading files.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

const char *ql_test_shared_dir(void) {
    const char *env = getenv("QLENS_SHARED");
    if (env && *env) return env;
    return "../shared";
}

const char *ql_test_shared_path(const char *rel) {
    static char bufs[8][1024];
    static int next;
    char *b = bufs[next++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", ql_test_shared_dir(), rel);
    return b;
}

const char *ql_test_tmpdir(ql_test_ctx *t) {
    static char path[1024];
    snprintf(path, sizeof path, "build/test-tmp/%s", t->name);
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", path, path);
    if (system(cmd) != 0) ql_test_failf(t, __FILE__, __LINE__, "cannot create %s", path);
    return path;
}

const char *ql_test_qlens_bin(void) {
    const char *env = getenv("QLENS_BIN");
    return env && *env ? env : "build/qlens";
}

int ql_test_count_lines(const char *path) {
    size_t n;
    char *s = (char *)ql_test_read_file(path, &n);
    if (!s) return 0;
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += s[i] == '\n';
    free(s);
    return lines;
}

unsigned char *ql_test_read_file(const char *path, size_t *size) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long n = ftell(f);
    rewind(f);
    unsigned char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return NULL;
    }
    buf[n] = 0;
    fclose(f);
    if (size) *size = (size_t)n;
    return buf;
}

bool ql_test_write_file(const char *path, const void *data, size_t size) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    bool ok = fwrite(data, 1, size, f) == size;
    return fclose(f) == 0 && ok;
}

static char *slurp_and_remove(const char *path) {
    char *s = (char *)ql_test_read_file(path, NULL);
    unlink(path);
    return s ? s : strdup("");
}

int ql_test_run_qlens(const char *args, char **out, char **err) {
    return ql_test_run_qlens_prefixed(NULL, args, out, err);
}

int ql_test_run_qlens_prefixed(const char *prefix, const char *args, char **out, char **err) {
    char out_path[] = "build/test-tmp/cmd-out-XXXXXX";
    char err_path[] = "build/test-tmp/cmd-err-XXXXXX";
    int fo = mkstemp(out_path), fe = mkstemp(err_path);
    if (fo < 0 || fe < 0) return -1;
    close(fo);
    close(fe);
    if (!prefix) prefix = "";
    size_t len = strlen(prefix) + strlen(args) + 2048;
    char *cmd = malloc(len);
    snprintf(cmd, len, "%s %s %s >'%s' 2>'%s' </dev/null", prefix, ql_test_qlens_bin(), args,
             out_path, err_path);
    int status = system(cmd);
    free(cmd);
    char *o = slurp_and_remove(out_path), *e = slurp_and_remove(err_path);
    if (out)
        *out = o;
    else
        free(o);
    if (err)
        *err = e;
    else
        free(e);
    if (status == -1 || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

bool ql_test_light(void) {
    const char *env = getenv("QLENS_TEST_LIGHT");
    if (env && *env) return strcmp(env, "0") != 0;
#if defined(__SANITIZE_ADDRESS__)
    return true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
    return true;
#endif
#endif
    return false;
}

bool ql_test_pick(int k, int shift) {
    return !ql_test_light() || (k + shift) % QL_TEST_LIGHT_STRIDE == 0;
}

int ql_test_picked(int n, int shift) {
    int picked = 0;
    for (int k = 0; k < n; k++) picked += ql_test_pick(k, shift);
    return picked;
}

int ql_test_arch_index(const char *arch) {
    static const char *archs[] = {"llama",  "qwen2",     "qwen3",   "gemma3",
                                  "qwen35", "qwen35moe", "qwen3moe"};
    for (int i = 0; i < (int)(sizeof archs / sizeof archs[0]); i++)
        if (strcmp(arch, archs[i]) == 0) return i;
    return 0;
}

const char *ql_test_synth_model(const char *arch) {
    static char bufs[4][256];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "build/synth/synth-%s.gguf", arch);
    return b;
}

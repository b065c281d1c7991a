/*
 * test_bad_input_matrix.c - every command against the inputs people get
 * wrong: files missing, empty, a directory, unreadable, truncated, of the
 * wrong kind or with hostile sizes; texts empty or too short; flags with
 * unknown types, zero, negative or huge numbers and conflicting options;
 * outputs into a missing, unwritable or full place.
 *
 * Each case must end the same way: the documented exit status (1 the command
 * failed, 2 the command line is wrong), exactly one line "qlens: error: ..."
 * on stderr and nothing on stdout (the checks run before any work starts),
 * and no output file - neither at the output path nor as a "*.tmp-*"
 * leftover. Running out of space is found only while writing, after the
 * run's own progress lines; there the error line must be the last line and
 * the only error.
 */
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf_bytes.h"
#include "gguf_edit.h"
#include "test.h"

static const char *wiki(void) {
    return ql_test_shared_path("data/wikitext-2-raw/wiki.test.raw");
}

static bool exists(const char *path) {
    struct stat sb;
    return lstat(path, &sb) == 0;
}

/* Whether dir (recursively) holds a file whose name has ".tmp-": an unfinished output. */
static bool has_temporaries(const char *dir, char *found, size_t size) {
    DIR *d = opendir(dir);
    if (!d) return false;
    bool any = false;
    struct dirent *e;
    while (!any && (e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (strstr(e->d_name, ".tmp-")) {
            snprintf(found, size, "%s", path);
            any = true;
        } else if (lstat(path, &sb) == 0 && S_ISDIR(sb.st_mode)) {
            any = has_temporaries(path, found, size);
        }
    }
    closedir(d);
    return any;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

typedef enum {
    BEFORE_WORK,   /* stderr is the error line alone, stdout empty */
    WHILE_WRITING, /* progress lines may precede the error line, which is last */
} when_found;

/*
 * Runs `[prefix] qlens ARGS` and checks the failure: exit status, the error
 * line (containing needle), and that must_not_exist (if any) does not exist
 * and dir holds no temporary file.
 */
__attribute__((format(printf, 8, 9))) static void
expect_failure(ql_test_ctx *t, const char *prefix, when_found when, const char *dir, int want_rc,
               const char *needle, const char *must_not_exist, const char *fmt, ...) {
    char args[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    char *out = NULL, *err = NULL;
    const int rc = ql_test_run_qlens_prefixed(prefix, args, &out, &err);
    CHECK_MSG(rc == want_rc, "'%s': exit status %d, expected %d (stderr: %s)", args, rc, want_rc,
              err);
    const char *last = err;
    for (const char *p = err; *p; p++)
        if (*p == '\n' && p[1]) last = p + 1;
    const char *first_error = strstr(err, "qlens: error: ");
    CHECK_MSG(first_error && first_error == last && strstr(last + 1, "qlens: error: ") == NULL,
              "'%s': the error is not one line, last on stderr: %s", args, err);
    CHECK_MSG(err[0] && err[strlen(err) - 1] == '\n', "'%s': stderr does not end a line: %s", args,
              err);
    if (when == BEFORE_WORK) {
        CHECK_MSG(count_lines(err) == 1, "'%s': stderr is not exactly one line: %s", args, err);
        CHECK_MSG(out[0] == '\0', "'%s': stdout is not empty: %s", args, out);
    }
    CHECK_MSG(strstr(last, needle) != NULL, "'%s': the error lacks '%s': %s", args, needle, last);
    CHECK_MSG(!strchr(last, '\r') && !strchr(last, '\033'), "'%s': control characters: %s", args,
              last);
    if (must_not_exist)
        CHECK_MSG(!exists(must_not_exist), "'%s': left %s behind", args, must_not_exist);
    char tmp[2048];
    CHECK_MSG(!has_temporaries(dir, tmp, sizeof tmp), "'%s': left the temporary file %s", args,
              tmp);
    free(out);
    free(err);
}

static void write_bytes(ql_test_ctx *t, const char *path, const void *data, size_t n) {
    CHECK_MSG(ql_test_write_file(path, data, n), "cannot write %s", path);
}

/* "dir/name" in one of 32 rotating buffers (paths here are short; a longer one aborts). */
static const char *in_dir(const char *dir, const char *name) {
    static char bufs[32][2048];
    static int next;
    char tmp[2048];
    const int n = snprintf(tmp, sizeof tmp, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= sizeof tmp) abort();
    char *b = bufs[next++ % 32];
    memcpy(b, tmp, (size_t)n + 1);
    return b;
}

/* Copies the first n bytes of a file (n = 0: all) to dst, skipping skip bytes first. */
static bool copy_prefix(const char *src, const char *dst, size_t skip, size_t n) {
    size_t size;
    unsigned char *data = ql_test_read_file(src, &size);
    if (!data || skip > size) {
        free(data);
        return false;
    }
    size -= skip;
    const bool ok = ql_test_write_file(dst, data + skip, n && n < size ? n : size);
    free(data);
    return ok;
}

QL_TEST(bad_input_matrix) {
    const char *model = ql_test_synth_model("llama"), *gemma = ql_test_synth_model("gemma3");
    if (!exists(model) || !exists(gemma)) SKIP("synthetic models not built (make synth)");
    const char *dir = ql_test_tmpdir(t);
    char d[1024];
    snprintf(d, sizeof d, "%s", dir);

    /* the files */
    const char *missing = in_dir(d, "missing.gguf"), *empty = in_dir(d, "empty"),
               *a_dir = in_dir(d, "a-directory"), *truncated = in_dir(d, "truncated.gguf"),
               *magic = in_dir(d, "wrong-magic.gguf"), *counts = in_dir(d, "huge-counts.gguf"),
               *dims = in_dir(d, "huge-dims.gguf"), *text_as_model = in_dir(d, "text.gguf"),
               *short_text = in_dir(d, "short.txt"), *trunc_ref = in_dir(d, "truncated.qlref"),
               *trunc_kld = in_dir(d, "truncated.kld"), *csv_dir = in_dir(d, "bad-sweep"),
               *out = in_dir(d, "out.gguf"), *json = in_dir(d, "out.json"),
               *nodir_json = in_dir(d, "no/such/dir/out.json"), *sweep_out = in_dir(d, "sweep");
    write_bytes(t, empty, "", 0);
    CHECK(mkdir(a_dir, 0755) == 0);
    REQUIRE(copy_prefix(model, truncated, 0, 4096));
    tb_model m;
    tb_small_model(&m);
    tb_buf wrong = {0};
    tb_raw(&wrong, "GGUG", 4);
    tb_raw(&wrong, m.b.p + 4, m.b.len - 4);
    write_bytes(t, magic, wrong.p, wrong.len);
    tb_free(&wrong);
    tb_put_u64_at(&m.b, m.n_tensors_at, 1ull << 62); /* more tensors than the file has bytes */
    write_bytes(t, counts, m.b.p, m.b.len);
    tb_free(&m.b);
    tb_small_model(&m);
    tb_put_u64_at(&m.b, m.ne_at[1], 1ull << 40); /* [2^40, 2] q4_0: far beyond the file */
    write_bytes(t, dims, m.b.p, m.b.len);
    tb_free(&m.b);
    write_bytes(t, text_as_model, "This is a text file, not a model.\n", 34);
    write_bytes(t, short_text, "\xff\xfe not UTF-8 \xc3(", 15); /* invalid UTF-8, and few tokens */
    /* the fuzz seeds are small valid references after one option byte */
    REQUIRE(copy_prefix("tests/fuzz/corpus/refstore/valid-0.qlref", trunc_ref, 1, 1500));
    REQUIRE(copy_prefix("tests/fuzz/corpus/kld_llama/truncated.kld", trunc_kld, 0, 0));
    CHECK(mkdir(csv_dir, 0755) == 0);
    static const char csv[] = "weights,weights_path,cache_type_k,cache_type_v,kld,kld_unc\n"
                              "Q4_0,x.gguf,f16,q9_9,0.1,0.01\n";
    write_bytes(t, in_dir(csv_dir, "results.csv"), csv, sizeof csv - 1);

    const when_found B = BEFORE_WORK;
    const char *W = wiki();

    /* info */
    expect_failure(t, NULL, B, d, 1, "cannot open", NULL, "info %s", missing);
    expect_failure(t, NULL, B, d, 1, "empty file", NULL, "info %s", empty);
    expect_failure(t, NULL, B, d, 1, "is a directory", NULL, "info %s", a_dir);
    expect_failure(t, NULL, B, d, 1, "truncated", NULL, "info %s", truncated);
    expect_failure(t, NULL, B, d, 1, "not a GGUF file", NULL, "info %s", magic);
    expect_failure(t, NULL, B, d, 1, "huge-counts.gguf", NULL, "info %s", counts);
    expect_failure(t, NULL, B, d, 1, "huge-dims.gguf", NULL, "info --json %s", dims);
    expect_failure(t, NULL, B, d, 2, "unknown option '--bogus'", NULL, "info --bogus %s", model);
    expect_failure(t, NULL, B, d, 2, "too many arguments", NULL, "info %s %s", model, model);

    /* tokenize */
    expect_failure(t, NULL, B, d, 1, "not a GGUF file", NULL, "tokenize -m %s -p hello",
                   text_as_model);
    expect_failure(t, NULL, B, d, 1, "a-directory", NULL, "tokenize -m %s -f %s", model, a_dir);
    expect_failure(t, NULL, B, d, 1, "cannot open", NULL, "tokenize -m %s -f %s/none.txt", model,
                   d);
    expect_failure(t, NULL, B, d, 2, "mutually exclusive", NULL, "tokenize -m %s -p a -f %s", model,
                   W);
    expect_failure(t, NULL, B, d, 2, "give the text", NULL, "tokenize -m %s", model);

    /* perplexity: texts */
    expect_failure(t, NULL, B, d, 1, "the text is empty", NULL, "perplexity -m %s -f %s", model,
                   empty);
    expect_failure(t, NULL, B, d, 1, "at least 1024", NULL, "perplexity -m %s -f %s", model,
                   short_text);
    expect_failure(t, NULL, B, d, 1, "is a directory", NULL, "perplexity -m %s -f %s", model,
                   a_dir);
    expect_failure(t, NULL, B, d, 1, "truncated", NULL, "perplexity -m %s -f %s", truncated, W);
    /* perplexity: numbers */
    expect_failure(t, NULL, B, d, 2, "out of range", NULL, "perplexity -m %s -f %s -c 0", model, W);
    expect_failure(t, NULL, B, d, 2, "out of range", NULL, "perplexity -m %s -f %s -c -512", model,
                   W);
    expect_failure(t, NULL, B, d, 2, "not an integer", NULL,
                   "perplexity -m %s -f %s -c 99999999999999999999", model, W);
    expect_failure(t, NULL, B, d, 2, "out of range", NULL, "perplexity -m %s -f %s -c 4294967297",
                   model, W);
    expect_failure(t, NULL, B, d, 2, "out of range", NULL, "perplexity -m %s -f %s -t 0", model, W);
    expect_failure(t, NULL, B, d, 2, "out of range", NULL, "perplexity -m %s -f %s --chunks -1",
                   model, W);
    expect_failure(t, NULL, B, d, 2, "not an integer", NULL, "perplexity -m %s -f %s -b 12x", model,
                   W);
    /* perplexity: types and conflicts */
    expect_failure(t, NULL, B, d, 2, "unknown cache type 'q9_0'", NULL,
                   "perplexity -m %s -f %s -ctk q9_0", model, W);
    expect_failure(t, NULL, B, d, 2, "unknown cache type 'q4_K'", NULL,
                   "perplexity -m %s -f %s -ctv q4_K", model, W);
    expect_failure(t, NULL, B, d, 2, "not auto, on or off", NULL,
                   "perplexity -m %s -f %s --kv-rotate yes", model, W);
    expect_failure(t, NULL, B, d, 2, "needs --kl-divergence-base", NULL,
                   "perplexity -m %s --kl-divergence", model);
    expect_failure(t, NULL, B, d, 2, "drop -f", NULL,
                   "perplexity -m %s -f %s --kl-divergence-base %s --kl-divergence", model, W,
                   trunc_ref);
    expect_failure(t, NULL, B, d, 2, "--kld-positions needs", NULL,
                   "perplexity -m %s -f %s --kld-positions 4", model, W);
    /* perplexity: references */
    expect_failure(t, NULL, B, d, 1, "empty file", NULL,
                   "perplexity -m %s --kl-divergence-base %s --kl-divergence", model, empty);
    expect_failure(t, NULL, B, d, 1, "truncated reference file", NULL,
                   "perplexity -m %s --kl-divergence-base %s --kl-divergence", model, trunc_ref);
    expect_failure(t, NULL, B, d, 1, "truncated", NULL,
                   "perplexity -m %s --kl-divergence-base %s --kl-divergence", model, trunc_kld);
    expect_failure(t, NULL, B, d, 1, "not a reference file", NULL,
                   "perplexity -m %s --kl-divergence-base %s --kl-divergence", model, model);
    /* perplexity: outputs */
    expect_failure(t, NULL, B, d, 1, "no/such/dir/out.json", nodir_json,
                   "perplexity -m %s -f %s -c 64 --chunks 1 --json %s", model, W, nodir_json);
    expect_failure(t, NULL, B, d, 1, "is a directory", NULL,
                   "perplexity -m %s -f %s -c 64 --chunks 1 --json %s", model, W, a_dir);
    expect_failure(t, NULL, B, d, 1, "is a directory", NULL,
                   "perplexity -m %s -f %s -c 64 --chunks 1 --kl-divergence-base %s", model, W,
                   a_dir);

    /* kld */
    expect_failure(t, NULL, B, d, 1, "cannot open", NULL, "kld --ref %s -m %s -f %s", missing,
                   model, W);
    expect_failure(t, NULL, B, d, 1, "cannot be compared", json,
                   "kld --ref %s -m %s -f %s -c 64 --chunks 1 --json %s", model, gemma, W, json);
    expect_failure(t, NULL, B, d, 2, "--ref-cache-type-k: unknown cache type 'zz'", NULL,
                   "kld --ref %s -m %s -f %s --ref-cache-type-k zz", model, model, W);
    expect_failure(t, NULL, B, d, 2, "--ref REF.gguf is required", NULL, "kld -m %s -f %s", model,
                   W);
    expect_failure(t, NULL, B, d, 1, "no/such/dir/out.json", nodir_json,
                   "kld --ref %s -m %s -f %s -c 64 --chunks 1 --json %s", model, model, W,
                   nodir_json);

    /* quantize */
    expect_failure(t, NULL, B, d, 2, "unknown type 'Q7_K'", out, "quantize %s %s Q7_K", model, out);
    expect_failure(t, NULL, B, d, 2, "out of range", out, "quantize -t -3 %s %s Q4_0", model, out);
    expect_failure(t, NULL, B, d, 2, "expected REGEX=TYPE", out,
                   "quantize --tensor-type x %s %s Q4_0", model, out);
    expect_failure(t, NULL, B, d, 1, "empty file", out, "quantize %s %s Q4_0", empty, out);
    expect_failure(t, NULL, B, d, 1, "huge-dims.gguf", out, "quantize %s %s Q4_0", dims, out);
    expect_failure(t, NULL, B, d, 1, "is a directory", NULL, "quantize %s %s Q4_0", model, a_dir);
    expect_failure(t, NULL, B, d, 1, "no/such/dir/out.gguf", NULL,
                   "quantize %s %s/no/such/dir/out.gguf Q4_0", model, d);

    /* sweep: nothing may be created before the inputs are known to be good */
    expect_failure(t, NULL, B, d, 2, "'Q9_9' is neither a file type", sweep_out,
                   "sweep --ref %s --weights Q9_9 -f %s -c 64 --chunks 1 --out %s", model, W,
                   sweep_out);
    expect_failure(t, NULL, B, d, 2, "is not K/V", sweep_out,
                   "sweep --ref %s --weights Q4_0 --cache f16 -f %s -c 64 --out %s", model, W,
                   sweep_out);
    expect_failure(t, NULL, B, d, 1, "the text is empty", sweep_out,
                   "sweep --ref %s --weights Q4_0 -f %s -c 64 --chunks 1 --out %s", model, empty,
                   sweep_out);
    expect_failure(t, NULL, B, d, 1, "at least 128", sweep_out,
                   "sweep --ref %s --weights Q4_0 -f %s -c 64 --chunks 1 --out %s", model,
                   short_text, sweep_out);
    expect_failure(t, NULL, B, d, 1, "cannot be compared", sweep_out,
                   "sweep --ref %s --weights %s -f %s -c 64 --chunks 1 --out %s", model, gemma, W,
                   sweep_out);
    expect_failure(t, NULL, B, d, 1, "empty file", sweep_out,
                   "sweep --ref %s --weights Q4_0 -f %s -c 64 --chunks 1 --out %s", empty, W,
                   sweep_out);
    expect_failure(t, NULL, B, d, 1, "not a directory", NULL,
                   "sweep --ref %s --weights Q4_0 -f %s -c 64 --chunks 1 --out %s", model, W,
                   empty);

    /* plan */
    expect_failure(t, NULL, B, d, 2, "above 0", NULL, "plan -m %s --budget 0 --ctx 4096", model);
    expect_failure(t, NULL, B, d, 2, "not a size", NULL, "plan -m %s --budget 1e400GiB --ctx 4096",
                   model);
    expect_failure(t, NULL, B, d, 2, "not a size", NULL, "plan -m %s --budget -8GiB --ctx 4096",
                   model);
    expect_failure(t, NULL, B, d, 2, "out of range", NULL, "plan -m %s --budget 8GiB --ctx -1",
                   model);
    expect_failure(t, NULL, B, d, 2, "'f16' is not K/V", NULL,
                   "plan -m %s --budget 8GiB --ctx 16 --cache f16", model);
    expect_failure(t, NULL, B, d, 2, "exactly one of", NULL,
                   "plan -m %s --sweep %s --budget 8GiB --ctx 16", model, d);
    expect_failure(t, NULL, B, d, 1, "a finished sweep", NULL,
                   "plan --sweep %s --budget 8GiB --ctx 16", a_dir);
    expect_failure(t, NULL, B, d, 1, "line 2 is malformed", NULL,
                   "plan --sweep %s --budget 8GiB --ctx 16", csv_dir);
    expect_failure(t, NULL, B, d, 1, "truncated", NULL, "plan -m %s --budget 8GiB --ctx 16",
                   truncated);

    /* and the command line itself */
    expect_failure(t, NULL, B, d, 2, "unknown command 'perplexty'", NULL, "perplexty -m %s", model);
    expect_failure(t, NULL, B, d, 2, "missing value", NULL, "perplexity -m %s -f", model);
}

/* Odd but valid texts are not errors: they tokenize as llama.cpp tokenizes them. */
QL_TEST(bad_input_odd_texts_are_not_errors) {
    const char *model = ql_test_synth_model("llama");
    if (!exists(model)) SKIP("synthetic models not built (make synth)");
    const char *dir = ql_test_tmpdir(t);
    char path[1024], args[2048], *out, *err;
    snprintf(path, sizeof path, "%s/odd.txt", dir);
    REQUIRE(ql_test_write_file(path, "\xff\xfe\xc3(\x00z", 6));
    snprintf(args, sizeof args, "tokenize -m %s -f %s --ids", model, path);
    CHECK_EQ_INT(ql_test_run_qlens(args, &out, &err), 0);
    CHECK_MSG(out[0] == '[' && err[0] == '\0', "out: %s err: %s", out, err);
    free(out), free(err);
    snprintf(path, sizeof path, "%s/empty.txt", dir);
    REQUIRE(ql_test_write_file(path, "", 0));
    snprintf(args, sizeof args, "tokenize -m %s -f %s --ids", model, path);
    CHECK_EQ_INT(ql_test_run_qlens(args, &out, &err), 0);
    CHECK_MSG(strcmp(out, "[]\n") == 0, "out: %s err: %s", out, err);
    free(out), free(err);
}

/*
 * Files that cannot be read and directories that cannot be written. Root
 * reads and writes through any mode bits, so as root the commands run as
 * the unprivileged user nobody (setpriv); without setpriv this test is
 * skipped.
 */
QL_TEST(bad_input_unreadable_and_unwritable) {
    const char *model = ql_test_synth_model("llama");
    if (!exists(model)) SKIP("synthetic models not built (make synth)");
    const char *prefix = NULL;
    if (geteuid() == 0) {
        if (system("command -v setpriv >/dev/null 2>&1") != 0)
            SKIP("running as root, where mode 000 does not stop reading, and setpriv (to run as "
                 "nobody) is not installed");
        prefix = "setpriv --reuid=65534 --regid=65534 --clear-groups";
    }
    const char *dir = ql_test_tmpdir(t);
    char d[1024], locked[1100], ro_dir[1100], cmd[4096];
    snprintf(d, sizeof d, "%s", dir);
    snprintf(locked, sizeof locked, "%s/locked.gguf", d);
    snprintf(ro_dir, sizeof ro_dir, "%s/read-only", d);
    REQUIRE(copy_prefix(model, locked, 0, 0));
    REQUIRE(chmod(locked, 0) == 0);
    REQUIRE(mkdir(ro_dir, 0555) == 0);
    /* the user the commands run as must reach the model, the text and the binary */
    if (prefix) {
        CHECK(chmod(d, 0755) == 0);
        snprintf(cmd, sizeof cmd,
                 "%s sh -c 'test -r %s && test -x %s && ! test -r %s && ! test -w %s'", prefix,
                 model, ql_test_qlens_bin(), locked, ro_dir);
        if (system(cmd) != 0)
            SKIP("as nobody the repository is not readable here, or mode bits do not apply");
    }
    const when_found B = BEFORE_WORK;
    const char *W = wiki();
    char out[1200], json[1200];
    snprintf(out, sizeof out, "%s/q.gguf", ro_dir);
    snprintf(json, sizeof json, "%s/p.json", ro_dir);
    expect_failure(t, prefix, B, d, 1, "Permission denied", NULL, "info %s", locked);
    expect_failure(t, prefix, B, d, 1, "Permission denied", NULL, "tokenize -m %s -p hi", locked);
    expect_failure(t, prefix, B, d, 1, "Permission denied", NULL, "perplexity -m %s -f %s", model,
                   locked);
    expect_failure(t, prefix, B, d, 1, "Permission denied", out, "quantize %s %s Q4_0", model, out);
    expect_failure(t, prefix, B, d, 1, "Permission denied", json,
                   "perplexity -m %s -f %s -c 64 --chunks 1 --json %s", model, W, json);
    char sweep[1200];
    snprintf(sweep, sizeof sweep, "%s/sweep", ro_dir);
    expect_failure(t, prefix, B, d, 1, "Permission denied", sweep,
                   "sweep --ref %s --weights Q4_0 -f %s -c 64 --chunks 1 --out %s", model, W,
                   sweep);
    chmod(ro_dir, 0755);
}

/*
 * A file-size limit (ulimit -f, in the shell that runs qlens): every write
 * beyond 1 KiB fails with EFBIG, which must be one error line, exit status 1
 * and no output file or temporary file - for each kind of output.
 */
QL_TEST(bad_input_output_hits_file_size_limit) {
    const char *model = ql_test_synth_model("llama");
    if (!exists(model)) SKIP("synthetic models not built (make synth)");
    const char *dir = ql_test_tmpdir(t);
    char d[1024], ref[1200], path[1200];
    snprintf(d, sizeof d, "%s", dir);
    snprintf(ref, sizeof ref, "%s/ref.qlref", d);
    const char *W = wiki();
    /* a reference to read, made without a limit */
    char args[4096];
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 64 --chunks 2 --kl-divergence-base %s",
             model, W, ref);
    REQUIRE(ql_test_run_qlens(args, NULL, NULL) == 0);

    /* 2 blocks of 512 bytes (dash counts -f in 512-byte blocks, bash in 1024) */
    const char *limit = "ulimit -f 2;";
    const when_found L = WHILE_WRITING;
    snprintf(path, sizeof path, "%s/q.gguf", d);
    expect_failure(t, limit, L, d, 1, "File too large", path, "quantize %s %s Q4_0", model, path);
    snprintf(path, sizeof path, "%s/p.json", d);
    expect_failure(t, limit, L, d, 1, "File too large", path,
                   "perplexity -m %s -f %s -c 64 --chunks 4 --json %s", model, W, path);
    snprintf(path, sizeof path, "%s/b.qlref", d);
    expect_failure(t, limit, L, d, 1, "File too large", path,
                   "perplexity -m %s -f %s -c 64 --chunks 1 --kl-divergence-base %s", model, W,
                   path);
    snprintf(path, sizeof path, "%s/b.kld", d);
    expect_failure(
        t, limit, L, d, 1, "File too large", path,
        "perplexity -m %s -f %s -c 64 --chunks 1 --kl-divergence-base %s --kld-base-format llama",
        model, W, path);
    snprintf(path, sizeof path, "%s/k.json", d);
    expect_failure(t, limit, L, d, 1, "File too large", path,
                   "perplexity -m %s --kl-divergence-base %s --kl-divergence --json %s", model, ref,
                   path);
    snprintf(path, sizeof path, "%s/l.json", d);
    expect_failure(t, limit, L, d, 1, "File too large", path,
                   "kld --ref %s -m %s -f %s -c 64 --chunks 1 --json %s", model, model, W, path);
    snprintf(path, sizeof path, "%s/sweep", d);
    expect_failure(t, limit, L, d, 1, "File too large", NULL,
                   "sweep --ref %s --weights Q4_0 -f %s -c 64 --chunks 1 --out %s", model, W, path);
    CHECK_MSG(!exists(in_dir(path, "weights/synth-llama-Q4_0.gguf")),
              "the sweep left a weight file");
}

/*
 * A full file system (ENOSPC rather than EFBIG): a 256 KiB tmpfs, when this
 * process may mount one (root in a container that allows it); otherwise the
 * file-size-limit test above covers the same error paths.
 */
QL_TEST(bad_input_output_on_a_full_file_system) {
    const char *model = ql_test_synth_model("llama");
    if (!exists(model)) SKIP("synthetic models not built (make synth)");
    umount("build/test-tmp/bad_input_output_on_a_full_file_system/fs"); /* a crashed earlier run */
    const char *dir = ql_test_tmpdir(t);
    char fs[1100], d[1024];
    snprintf(d, sizeof d, "%s", dir);
    snprintf(fs, sizeof fs, "%s/fs", d);
    REQUIRE(mkdir(fs, 0755) == 0);
    if (geteuid() != 0 || mount("tmpfs", fs, "tmpfs", MS_NOSUID | MS_NODEV, "size=256k") != 0)
        SKIP("cannot mount a small tmpfs here (needs root and mount permission); "
             "bad_input_output_hits_file_size_limit covers the write errors");
    char path[1200];
    const when_found L = WHILE_WRITING;
    snprintf(path, sizeof path, "%s/q.gguf", fs);
    expect_failure(t, NULL, L, fs, 1, "No space left on device", path, "quantize %s %s Q4_0", model,
                   path);
    snprintf(path, sizeof path, "%s/b.qlref", fs);
    expect_failure(t, NULL, L, fs, 1, "No space left on device", path,
                   "perplexity -m %s -f %s -c 64 --chunks 1 --kl-divergence-base %s", model, wiki(),
                   path);
    /* the file system is empty again: nothing of the failed outputs holds space */
    struct stat sb;
    DIR *dd = opendir(fs);
    int entries = 0;
    struct dirent *e;
    while (dd && (e = readdir(dd)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) entries++;
    if (dd) closedir(dd);
    CHECK_MSG(entries == 0, "%d entries left on the full file system", entries);
    (void)sb;
    CHECK_MSG(umount(fs) == 0, "cannot unmount %s", fs);
}

/*
 * A llama.cpp logits file whose header implies more than 2^64 bytes: the size
 * the reader computed used to wrap around to the file's real size (48 GiB,
 * sparse here), and the rows it then pointed at lay beyond the end of the
 * mapping. Now the header is implausible and nothing is read.
 */
QL_TEST(bad_input_kld_header_sizes_that_wrap) {
    const char *model = ql_test_synth_model("llama");
    if (!exists(model)) SKIP("synthetic models not built (make synth)");
    const char *dir = ql_test_tmpdir(t);
    char path[1100];
    snprintf(path, sizeof path, "%s/wrap.kld", dir);
    /* n_ctx 8388609, n_vocab 2147483645, 1024 chunks: 20 + 32 GiB of tokens + rows that are
     * 2^64 + 16 GiB - 4, which wrapped to exactly this file's size */
    const uint64_t size = 51539611668ull;
    unsigned char h[20] = "_logits_";
    const uint32_t fields[3] = {8388609u, 2147483645u, 1024u};
    for (int i = 0; i < 3; i++)
        for (int b = 0; b < 4; b++) h[8 + 4 * i + b] = (unsigned char)(fields[i] >> (8 * b));
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    const bool made =
        write(fd, h, sizeof h) == (ssize_t)sizeof h && ftruncate(fd, (off_t)size) == 0;
    close(fd);
    struct stat sb;
    if (!made || stat(path, &sb) != 0 || (uint64_t)sb.st_blocks * 512 > (1u << 20)) {
        unlink(path);
        SKIP("this file system cannot hold a 48 GiB sparse file");
    }
    char args[2048];
    snprintf(args, sizeof args, "perplexity -m %s --kl-divergence-base %s --kl-divergence", model,
             path);
    char *out, *err;
    const int rc = ql_test_run_qlens(args, &out, &err);
    CHECK_MSG(rc == 1, "exit status %d (stderr: %s)", rc, err);
    CHECK_MSG(strncmp(err, "qlens: error: ", 14) == 0 && strstr(err, "implausible header") &&
                  count_lines(err) == 1,
              "stderr: %s", err);
    CHECK_MSG(out[0] == '\0', "stdout: %s", out);
    free(out), free(err);
    unlink(path);
}

/*
 * Hyperparameters with hostile values, each in an otherwise good model: a
 * float that is not finite or out of its range, an integer too large for
 * the type it is narrowed to. Each is refused at load with the key's name,
 * before anything runs; none is used as some other value (2^32 + 64 as 64,
 * 2^64 - 1 as "no window") or left to produce NaN later.
 */
QL_TEST(bad_input_hostile_hyperparameters) {
    const char *llama = ql_test_synth_model("llama"), *gemma = ql_test_synth_model("gemma3");
    if (!exists(llama) || !exists(gemma)) SKIP("synthetic models not built (make synth)");
    const char *dir = ql_test_tmpdir(t);
    char d[1024];
    snprintf(d, sizeof d, "%s", dir);
    const struct {
        const char *base, *needle;
        ql_test_key_edit edit;
    } cases[] = {
        {gemma, "rope.freq_base_swa", {"gemma3.rope.freq_base_swa", EDIT_F32, .f = 0}},
        {gemma, "rope.freq_base_swa", {"gemma3.rope.freq_base_swa", EDIT_F32, .f = NAN}},
        {gemma, "rope.freq_base_swa", {"gemma3.rope.freq_base_swa", EDIT_F32, .f = -10000}},
        {gemma, "rope.freq_base_swa", {"gemma3.rope.freq_base_swa", EDIT_F32, .f = INFINITY}},
        {gemma,
         "final_logit_softcapping",
         {"gemma3.final_logit_softcapping", EDIT_F32, .f = INFINITY}},
        {gemma, "final_logit_softcapping", {"gemma3.final_logit_softcapping", EDIT_F32, .f = NAN}},
        {gemma, "final_logit_softcapping", {"gemma3.final_logit_softcapping", EDIT_F32, .f = -30}},
        {gemma, "rope.freq_base", {"gemma3.rope.freq_base", EDIT_F32, .f = -INFINITY}},
        {llama,
         "layer_norm_rms_epsilon",
         {"llama.attention.layer_norm_rms_epsilon", EDIT_F32, .f = NAN}},
        {llama, "rope.scaling.factor", {"llama.rope.scaling.factor", EDIT_F32, .f = NAN}},
        {llama, "rope.scaling.factor", {"llama.rope.scaling.factor", EDIT_F32, .f = INFINITY}},
        {llama, "rope.scaling.factor", {"llama.rope.scaling.factor", EDIT_F32, .f = -2}},
        {llama,
         "rope.dimension_count",
         {"llama.rope.dimension_count", EDIT_U64, .u = (1ull << 32) + 64}},
        {gemma,
         "attention.sliding_window",
         {"gemma3.attention.sliding_window", EDIT_U64, .u = UINT64_MAX}},
        {gemma,
         "attention.sliding_window",
         {"gemma3.attention.sliding_window", EDIT_U64, .u = (1ull << 32) + 32}},
        {gemma,
         "attention.sliding_window_pattern",
         {"gemma3.attention.sliding_window_pattern", EDIT_U64, .u = (1ull << 32) + 6}},
        {llama, "context_length", {"llama.context_length", EDIT_U64, .u = 1ull << 40}},
        {llama,
         "attention.head_count_kv",
         {"llama.attention.head_count_kv", EDIT_U64, .u = (1ull << 32) + 2}},
        {llama,
         "attention.key_length",
         {"llama.attention.key_length", EDIT_U64, .u = (1ull << 63) + 64}},
        {llama, "attention.value_length", {"llama.attention.value_length", EDIT_I64, .i = -64}},
        {llama, "block_count", {"llama.block_count", EDIT_U64, .u = (1ull << 32) + 4}},
    };
    const char *W = wiki();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char model[1100];
        snprintf(model, sizeof model, "%s/hostile-%zu.gguf", d, i);
        REQUIRE(ql_test_gguf_edit(cases[i].base, model, &cases[i].edit, 1, NULL, 0));
        expect_failure(t, NULL, BEFORE_WORK, d, 1, cases[i].needle, NULL,
                       "perplexity -m %s -f %s -c 64 --chunks 1", model, W);
        expect_failure(t, NULL, BEFORE_WORK, d, 1, cases[i].needle, NULL,
                       "plan -m %s --budget 8GiB --ctx 4096", model);
    }
}

/*
 * Hybrid and MoE models with a piece missing or counts that cannot fit together: one error
 * naming the tensor or key, from every command that reads the model, before any work.
 */
QL_TEST(bad_input_hybrid_and_moe_models) {
    const char *q35 = ql_test_synth_model("qwen35"), *moe = ql_test_synth_model("qwen35moe");
    if (!exists(q35) || !exists(moe)) SKIP("synthetic models not built (make synth)");
    const char *dir = ql_test_tmpdir(t);
    char d[1024];
    snprintf(d, sizeof d, "%s", dir);
    const ql_test_tensor_edit none = {NULL, 0, 0};
    const struct {
        const char *base, *needle;
        ql_test_key_edit edit;
        ql_test_tensor_edit drop;
    } cases[] = {
        /* missing SSM tensors */
        {q35, "blk.1.ssm_conv1d.weight", {0}, {"blk.1.ssm_conv1d.weight", QL_TEST_DROP_TENSOR, 0}},
        {q35, "blk.0.ssm_a", {0}, {"blk.0.ssm_a", QL_TEST_DROP_TENSOR, 0}},
        {q35, "blk.2.ssm_out.weight", {0}, {"blk.2.ssm_out.weight", QL_TEST_DROP_TENSOR, 0}},
        {moe, "blk.4.attn_qkv.weight", {0}, {"blk.4.attn_qkv.weight", QL_TEST_DROP_TENSOR, 0}},
        {moe,
         "blk.1.ffn_gate_inp_shexp.weight",
         {0},
         {"blk.1.ffn_gate_inp_shexp.weight", QL_TEST_DROP_TENSOR, 0}},
        {moe,
         "blk.0.ffn_up_exps.weight",
         {0},
         {"blk.0.ffn_up_exps.weight", QL_TEST_DROP_TENSOR, 0}},
        /* inconsistent head and group counts */
        {q35, "ssm.group_count", {"qwen35.ssm.group_count", EDIT_U32, .u = 3}, none},
        {q35, "ssm.inner_size", {"qwen35.ssm.inner_size", EDIT_U32, .u = 500}, none},
        {q35, "ssm.state_size", {"qwen35.ssm.state_size", EDIT_U32, .u = 0}, none},
        {q35, "ssm.time_step_rank 2", {"qwen35.ssm.time_step_rank", EDIT_U32, .u = 2}, none},
        {q35,
         "attention.head_count_kv",
         {"qwen35.attention.head_count_kv", EDIT_U32, .u = 3},
         none},
        /* experts */
        {moe, "expert_count", {"qwen35moe.expert_count", EDIT_U32, .u = 0}, none},
        {moe, "expert_used_count", {"qwen35moe.expert_used_count", EDIT_U32, .u = 9}, none},
        {moe, "expert_used_count", {"qwen35moe.expert_used_count", EDIT_U32, .u = 0}, none},
        {moe, "ffn_gate_inp.weight", {"qwen35moe.expert_count", EDIT_U32, .u = 4}, none},
        /* layer kinds */
        {q35,
         "full_attention_interval",
         {"qwen35.full_attention_interval", EDIT_U32, .u = 0},
         none},
        {q35,
         "rope.dimension_sections",
         {"qwen35.rope.dimension_sections", EDIT_REMOVE, .u = 0},
         none},
        {q35, "ssm.conv_kernel", {"qwen35.ssm.conv_kernel", EDIT_REMOVE, .u = 0}, none},
    };
    const char *W = wiki();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char model[1100];
        snprintf(model, sizeof model, "%s/hybrid-%zu.gguf", d, i);
        const bool has_key = cases[i].edit.key != NULL, has_drop = cases[i].drop.tensor != NULL;
        if (!has_key && !has_drop) continue;
        REQUIRE(ql_test_gguf_edit(cases[i].base, model, has_key ? &cases[i].edit : NULL,
                                  has_key ? 1 : 0, has_drop ? &cases[i].drop : NULL,
                                  has_drop ? 1 : 0));
        expect_failure(t, NULL, BEFORE_WORK, d, 1, cases[i].needle, NULL,
                       "perplexity -m %s -f %s -c 64 --chunks 1", model, W);
        expect_failure(t, NULL, BEFORE_WORK, d, 1, cases[i].needle, NULL,
                       "kld --ref %s -m %s -f %s -c 64 --chunks 1", cases[i].base, model, W);
    }
    /* header-level faults are also refused by the planner, which reads no tensor */
    for (size_t i = 6; i < sizeof cases / sizeof cases[0]; i++) {
        if (!cases[i].edit.key || strstr(cases[i].needle, ".weight")) continue;
        char model[1100];
        snprintf(model, sizeof model, "%s/hybrid-%zu.gguf", d, i);
        expect_failure(t, NULL, BEFORE_WORK, d, 1, cases[i].needle, NULL,
                       "plan -m %s --budget 8GiB --ctx 4096", model);
    }
}

static bool same_bytes(const char *a, const char *b) {
    size_t na, nb;
    unsigned char *pa = ql_test_read_file(a, &na), *pb = ql_test_read_file(b, &nb);
    const bool same = pa && pb && na == nb && memcmp(pa, pb, na) == 0;
    free(pa), free(pb);
    return same;
}

/*
 * Outputs that must not be replaced: a device node or a FIFO at the output
 * path, and any of the command's own inputs (by name, through a hard link or
 * a symbolic link). Each is refused before any work, and the file is left as
 * it was.
 */
QL_TEST(bad_input_outputs_that_must_not_be_replaced) {
    const char *synth = ql_test_synth_model("llama");
    if (!exists(synth)) SKIP("synthetic models not built (make synth)");
    const char *dir = ql_test_tmpdir(t);
    char d[1024];
    snprintf(d, sizeof d, "%s", dir);
    const char *model = in_dir(d, "model.gguf"), *pristine = in_dir(d, "pristine.gguf"),
               *text = in_dir(d, "text.txt"), *fifo = in_dir(d, "fifo"),
               *hard = in_dir(d, "hard-link.gguf"), *soft = in_dir(d, "soft-link.gguf"),
               *node = in_dir(d, "null-device");
    REQUIRE(copy_prefix(synth, model, 0, 0) && copy_prefix(synth, pristine, 0, 0));
    REQUIRE(copy_prefix(wiki(), text, 0, 200000));
    REQUIRE(mkfifo(fifo, 0644) == 0);
    REQUIRE(link(model, hard) == 0);
    REQUIRE(symlink("model.gguf", soft) == 0);
    const bool have_node = mknod(node, S_IFCHR | 0666, makedev(1, 3)) == 0;
    const when_found B = BEFORE_WORK;

    expect_failure(t, NULL, B, d, 1, "not a regular file", NULL,
                   "perplexity -m %s -f %s -c 64 --chunks 1 --json %s", model, text, fifo);
    expect_failure(t, NULL, B, d, 1, "not a regular file", NULL,
                   "kld --ref %s -m %s -f %s -c 64 --chunks 1 --json %s", model, model, text, fifo);
    expect_failure(t, NULL, B, d, 1, "not a regular file", NULL, "quantize %s %s Q4_0", model,
                   fifo);
    if (have_node) {
        expect_failure(t, NULL, B, d, 1, "not a regular file", NULL,
                       "perplexity -m %s -f %s -c 64 --chunks 1 --json %s", model, text, node);
        expect_failure(t, NULL, B, d, 1, "not a regular file", NULL,
                       "perplexity -m %s -f %s -c 64 --chunks 1 --kl-divergence-base %s", model,
                       text, node);
        struct stat sb;
        CHECK_MSG(lstat(node, &sb) == 0 && S_ISCHR(sb.st_mode), "the device node was replaced");
    }
    struct stat sb;
    CHECK_MSG(lstat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode), "the FIFO was replaced");

    /* the command's inputs */
    const char *inputs[] = {model, hard, soft};
    for (int i = 0; i < 3; i++) {
        expect_failure(t, NULL, B, d, 1, "is an input of this command", NULL,
                       "perplexity -m %s -f %s -c 64 --chunks 1 --json %s", model, text, inputs[i]);
        expect_failure(t, NULL, B, d, 1, "is an input of this command", NULL,
                       "perplexity -m %s -f %s -c 64 --chunks 1 --kl-divergence-base %s", model,
                       text, inputs[i]);
        expect_failure(t, NULL, B, d, 1, "is an input of this command", NULL, "quantize %s %s Q4_0",
                       model, inputs[i]);
        expect_failure(t, NULL, B, d, 1, "is an input of this command", NULL,
                       "kld --ref %s -m %s -f %s -c 64 --chunks 1 --json %s", synth, model, text,
                       inputs[i]);
    }
    expect_failure(t, NULL, B, d, 1, "is an input of this command", NULL,
                   "perplexity -m %s -f %s -c 64 --chunks 1 --json %s", model, text, text);
    expect_failure(t, NULL, B, d, 1, "is an input of this command", NULL,
                   "kld --ref %s -m %s -f %s -c 64 --chunks 1 --json %s", model, synth, text, text);
    CHECK_MSG(same_bytes(model, pristine), "the model was changed");
    CHECK_MSG(lstat(soft, &sb) == 0 && S_ISLNK(sb.st_mode), "the symbolic link was replaced");

    /* a reference being read is an input too */
    const char *ref = in_dir(d, "ref.qlref");
    char args[4096];
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 64 --chunks 1 --kl-divergence-base %s",
             model, text, ref);
    REQUIRE(ql_test_run_qlens(args, NULL, NULL) == 0);
    expect_failure(t, NULL, B, d, 1, "is an input of this command", NULL,
                   "perplexity -m %s --kl-divergence-base %s --kl-divergence --json %s", model, ref,
                   ref);
}

/*
 * A symbolic link as the output is written through: its target is replaced
 * (atomically, in the target's directory) and the link stays a link. A
 * dangling link creates its target.
 */
QL_TEST(outputs_write_through_symbolic_links) {
    const char *synth = ql_test_synth_model("llama");
    if (!exists(synth)) SKIP("synthetic models not built (make synth)");
    const char *dir = ql_test_tmpdir(t);
    char d[1024], args[4096];
    snprintf(d, sizeof d, "%s", dir);
    const char *sub = in_dir(d, "elsewhere"), *target = in_dir(d, "elsewhere/real.json"),
               *link_path = in_dir(d, "link.json"), *dangling = in_dir(d, "dangling.json"),
               *new_target = in_dir(d, "elsewhere/new.json"), *qlink = in_dir(d, "q.gguf"),
               *qtarget = in_dir(d, "elsewhere/q-real.gguf");
    REQUIRE(mkdir(sub, 0755) == 0);
    REQUIRE(ql_test_write_file(target, "old", 3));
    REQUIRE(symlink("elsewhere/real.json", link_path) == 0);
    REQUIRE(symlink("elsewhere/new.json", dangling) == 0);
    REQUIRE(symlink("elsewhere/q-real.gguf", qlink) == 0);
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 64 --chunks 1 --json %s", synth, wiki(),
             link_path);
    CHECK_EQ_INT(ql_test_run_qlens(args, NULL, NULL), 0);
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 64 --chunks 1 --json %s", synth, wiki(),
             dangling);
    CHECK_EQ_INT(ql_test_run_qlens(args, NULL, NULL), 0);
    snprintf(args, sizeof args, "quantize %s %s Q8_0", synth, qlink);
    CHECK_EQ_INT(ql_test_run_qlens(args, NULL, NULL), 0);
    const char *links[] = {link_path, dangling, qlink};
    for (int i = 0; i < 3; i++) {
        struct stat sb;
        CHECK_MSG(lstat(links[i], &sb) == 0 && S_ISLNK(sb.st_mode), "%s is no longer a link",
                  links[i]);
    }
    size_t n;
    unsigned char *json = ql_test_read_file(target, &n);
    CHECK_MSG(json && n > 100 && json[0] == '{', "the link's target does not hold the JSON");
    free(json);
    json = ql_test_read_file(new_target, &n);
    CHECK_MSG(json && n > 100 && json[0] == '{', "the dangling link's target was not created");
    free(json);
    snprintf(args, sizeof args, "info %s", qtarget);
    CHECK_EQ_INT(ql_test_run_qlens(args, NULL, NULL), 0);
    char tmp[2048];
    CHECK_MSG(!has_temporaries(d, tmp, sizeof tmp), "left %s", tmp);
}

/*
 * Any valid file name works as an output: up to NAME_MAX (255) bytes, where
 * NAME + ".tmp-PID-N" would not fit. One byte more is the file system's
 * error, cleanly.
 */
QL_TEST(outputs_with_names_up_to_name_max) {
    const char *synth = ql_test_synth_model("llama");
    if (!exists(synth)) SKIP("synthetic models not built (make synth)");
    const char *dir = ql_test_tmpdir(t);
    char d[1024], args[4096], name[300];
    snprintf(d, sizeof d, "%s", dir);
    const int lengths[] = {241, 250, 255};
    for (int i = 0; i < 3; i++) {
        memset(name, 'j', (size_t)lengths[i]);
        memcpy(name + lengths[i] - 5, ".json", 6);
        const char *json = in_dir(d, name);
        snprintf(args, sizeof args, "perplexity -m %s -f %s -c 64 --chunks 1 --json %s", synth,
                 wiki(), json);
        char *err = NULL;
        CHECK_MSG(ql_test_run_qlens(args, NULL, &err) == 0, "a %d-byte name: %s", lengths[i], err);
        free(err);
        CHECK_MSG(exists(json), "a %d-byte name was not written", lengths[i]);
        memset(name, 'q', (size_t)lengths[i]);
        memcpy(name + lengths[i] - 5, ".gguf", 6);
        const char *q = in_dir(d, name);
        snprintf(args, sizeof args, "quantize %s %s Q8_0", synth, q);
        err = NULL;
        CHECK_MSG(ql_test_run_qlens(args, NULL, &err) == 0, "a %d-byte name: %s", lengths[i], err);
        free(err);
        CHECK_MSG(exists(q), "a %d-byte name was not written", lengths[i]);
    }
    memset(name, 'x', 256);
    name[256] = '\0';
    expect_failure(t, NULL, BEFORE_WORK, d, 1, "File name too long", NULL,
                   "perplexity -m %s -f %s -c 64 --chunks 1 --json %s", synth, wiki(),
                   in_dir(d, name));
    char tmp[2048];
    CHECK_MSG(!has_temporaries(d, tmp, sizeof tmp), "left %s", tmp);
}

/*
 * Standard output that cannot be written (/dev/full: every write fails with
 * ENOSPC): every command's results go there, so the command must fail with
 * exit status 1 and one error line, never exit 0 as if they had been shown.
 */
QL_TEST(bad_input_standard_output_is_full) {
    const char *model = ql_test_synth_model("llama");
    if (!exists(model)) SKIP("synthetic models not built (make synth)");
    if (!exists("/dev/full")) SKIP("no /dev/full here");
    const char *dir = ql_test_tmpdir(t);
    char d[1024];
    snprintf(d, sizeof d, "%s", dir);
    /* the command's own stdout goes to /dev/full; the harness still captures stderr */
    const char *full = "sh -c 'exec \"$0\" \"$@\" >/dev/full'";
    const when_found W = WHILE_WRITING;
    const char *T = wiki();
    const char *json = in_dir(d, "p.json"), *out = in_dir(d, "q.gguf"), *ref = in_dir(d, "r.qlref");
    expect_failure(t, full, W, d, 1, "standard output", NULL, "--help");
    expect_failure(t, full, W, d, 1, "standard output", NULL, "help perplexity");
    expect_failure(t, full, W, d, 1, "standard output", NULL, "perplexity --help");
    expect_failure(t, full, W, d, 1, "standard output", NULL, "--version");
    expect_failure(t, full, W, d, 1, "standard output", NULL, "info %s", model);
    expect_failure(t, full, W, d, 1, "standard output", NULL, "tokenize -m %s -p hello", model);
    expect_failure(t, full, W, d, 1, "standard output", NULL,
                   "perplexity -m %s -f %s -c 64 --chunks 1 --json %s", model, T, json);
    expect_failure(t, full, W, d, 1, "standard output", NULL,
                   "perplexity -m %s -f %s -c 64 --chunks 1 --kl-divergence-base %s", model, T,
                   ref);
    expect_failure(t, full, W, d, 1, "standard output", NULL,
                   "perplexity -m %s --kl-divergence-base %s --kl-divergence", model, ref);
    expect_failure(t, full, W, d, 1, "standard output", NULL,
                   "kld --ref %s -m %s -f %s -c 64 --chunks 1", model, model, T);
    expect_failure(t, full, W, d, 1, "standard output", NULL, "quantize %s %s Q8_0", model, out);
    expect_failure(t, full, W, d, 1, "standard output", NULL,
                   "sweep --ref %s --weights %s --cache f16/f16 -f %s -c 64 --chunks 1 --out %s",
                   model, model, T, in_dir(d, "sweep"));
    expect_failure(t, full, W, d, 1, "standard output", NULL, "plan -m %s --budget 8GiB --ctx 4096",
                   model);
    expect_failure(t, full, W, d, 1, "standard output", NULL,
                   "plan --sweep %s --budget 8GiB --ctx 4096", in_dir(d, "sweep"));
}

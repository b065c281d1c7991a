/*
 * test_sweep_shard.c - a sweep split across processes: `--shard K/N` then
 * `--merge` writes the same tables as the sweep run in one process, the
 * reference is computed once, a killed shard resumes losing at most the
 * configuration it was running, bad splits are one clear error, and
 * `mpirun -n 2` on the MPI build (make MPI=1) gives the same tables again.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

/* A 2 x 2 sweep (two weight files, two caches) of a few seconds. */
static void shard_args(char *buf, size_t size, const char *dir, const char *extra) {
    snprintf(buf, size,
             "sweep --ref %s --weights Q8_0,Q4_K_M --cache f16/f16,q8_0/q8_0 -f "
             "%s/data/wikitext-2-raw/wiki.test.raw -c 64 --chunks 3 --out %s --budget 200MiB "
             "--target-ctx 4096 -t 1 --kld-positions 4 %s",
             ql_test_synth_model("llama"), ql_test_shared_dir(), dir, extra);
}

static const char *const outputs[] = {"results.md", "results.csv", "results.json", "report.html"};
enum { N_OUTPUTS = sizeof outputs / sizeof outputs[0] };

typedef struct {
    char *data[N_OUTPUTS];
    size_t size[N_OUTPUTS];
} tables;

static bool read_tables(const char *dir, tables *tb) {
    bool ok = true;
    for (int i = 0; i < N_OUTPUTS; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, outputs[i]);
        tb->data[i] = (char *)ql_test_read_file(path, &tb->size[i]);
        ok = ok && tb->data[i];
    }
    return ok;
}

static void free_tables(tables *tb) {
    for (int i = 0; i < N_OUTPUTS; i++) free(tb->data[i]);
}

/* Every output byte for byte: they hold no timing fields, and the paths are the same DIR's. */
static void check_same_tables(ql_test_ctx *t, const tables *want, const char *dir) {
    tables got;
    CHECK_MSG(read_tables(dir, &got), "%s lacks some of the tables", dir);
    for (int i = 0; i < N_OUTPUTS; i++)
        CHECK_MSG(got.data[i] && got.size[i] == want->size[i] &&
                      memcmp(got.data[i], want->data[i], want->size[i]) == 0,
                  "%s/%s differs from the one-process sweep's", dir, outputs[i]);
    free_tables(&got);
}

/* The one-process sweep's tables in dir, then dir removed so that the shards start afresh there. */
static bool one_process_tables(ql_test_ctx *t, const char *dir, tables *tb) {
    char args[4096], *err;
    shard_args(args, sizeof args, dir, "");
    const int rc = ql_test_run_qlens(args, NULL, &err);
    CHECK_MSG(rc == 0, "one-process sweep: exit %d, %s", rc, err);
    free(err);
    if (rc != 0 || !read_tables(dir, tb)) return false;
    snprintf(args, sizeof args, "rm -rf '%s'", dir);
    return system(args) == 0;
}

static int count(const char *s, const char *what) {
    int n = 0;
    for (const char *p = s; (p = strstr(p, what)); p++) n++;
    return n;
}

static bool exists(const char *dir, const char *rel) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    struct stat sb;
    return stat(path, &sb) == 0;
}

/* An error of exactly one line that says what. */
static void check_error(ql_test_ctx *t, const char *args, int want_rc, const char *what) {
    char *err;
    const int rc = ql_test_run_qlens(args, NULL, &err);
    const char *nl = strchr(err, '\n');
    CHECK_MSG(rc == want_rc && strncmp(err, "qlens: error: ", 14) == 0 && strstr(err, what) && nl &&
                  nl[1] == '\0',
              "%s: exit %d (want %d), stderr '%s' (want one line with '%s')", args, rc, want_rc,
              err, what);
    free(err);
}

QL_TEST(sweep_shard_merge_equals_one_process) {
    const char *base = ql_test_tmpdir(t);
    char dir[512], args[4096], *out, *err;
    snprintf(dir, sizeof dir, "%s/sweep", base);
    tables want;
    REQUIRE(one_process_tables(t, dir, &want));

    /* shard 2 first: whichever shard comes first makes the weight files and the reference */
    shard_args(args, sizeof args, dir, "--shard 2/2");
    REQUIRE_MSG(ql_test_run_qlens(args, NULL, &err) == 0, "%s", err);
    CHECK_MSG(strstr(err, "shard 2/2: reference done"), "shard 2 did not compute it:\n%s", err);
    free(err);
    /* configurations 1 and 3 of the plan order, and nothing of shard 1's */
    CHECK(exists(dir, "shard-2-of-2/runs/Q8_0__q8_0_q8_0.qlrun"));
    CHECK(exists(dir, "shard-2-of-2/runs/Q4_K_M__q8_0_q8_0.qlrun"));
    CHECK(!exists(dir, "shard-2-of-2/runs/Q8_0__f16_f16.qlrun"));
    CHECK(!exists(dir, "results.md"));

    /* the tables need every shard */
    shard_args(args, sizeof args, dir, "--merge");
    check_error(t, args, 1, "shard 1/2 is missing");

    shard_args(args, sizeof args, dir, "--shard 1/2");
    REQUIRE_MSG(ql_test_run_qlens(args, NULL, &err) == 0, "%s", err);
    /* the reference is computed once: shard 1 reuses shard 2's, and its weight files */
    CHECK_MSG(strstr(err, "shard 1/2: reference (already done, reused)") &&
                  count(err, " done\n") == 2,
              "shard 1 recomputed something shared:\n%s", err);
    free(err);
    CHECK(exists(dir, "shard-1-of-2/runs/Q8_0__f16_f16.qlrun"));
    CHECK(exists(dir, "shard-1-of-2/runs/Q4_K_M__f16_f16.qlrun"));

    shard_args(args, sizeof args, dir, "--merge");
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    CHECK_MSG(strstr(out, "| 4 | Q4_K_M |") || strstr(out, "| 4 | Q8_0 |"), "no table:\n%s", out);
    free(out), free(err);
    check_same_tables(t, &want, dir);

    /* merged again with another budget: the tables follow it, as a one-process sweep's do */
    shard_args(args, sizeof args, dir, "--merge --budget 1GiB");
    REQUIRE_MSG(ql_test_run_qlens(args, NULL, &err) == 0, "%s", err);
    free(err);
    char path[1024];
    snprintf(path, sizeof path, "%s/results.md", dir);
    char *md = (char *)ql_test_read_file(path, NULL);
    CHECK_MSG(md && strcmp(md, want.data[0]) != 0, "the budget did not reach the merged table");
    free(md);

    /* a merge with other parameters is another sweep, which DIR's journal does not hold */
    shard_args(args, sizeof args, dir, "--merge --chunks 2");
    check_error(t, args, 1, "chunks=3 then, 2 now");

    /* a shard of another sweep (copied in by mistake) is refused by its journal */
    char other[512];
    snprintf(other, sizeof other, "%s/other", base);
    shard_args(args, sizeof args, other, "--shard 1/2 --kld-positions 2 --chunks 2");
    REQUIRE_MSG(ql_test_run_qlens(args, NULL, &err) == 0, "%s", err);
    free(err);
    snprintf(args, sizeof args, "cp '%s/shard-1-of-2/journal' '%s/shard-1-of-2/journal'", other,
             dir);
    REQUIRE(system(args) == 0);
    shard_args(args, sizeof args, dir, "--merge");
    check_error(t, args, 1, "holds a shard of another sweep");
    free_tables(&want);
}

QL_TEST(sweep_shard_resumes_after_sigkill) {
    const char *base = ql_test_tmpdir(t);
    char dir[512], args[4096], journal[1024], *err;
    snprintf(dir, sizeof dir, "%s/sweep", base);
    tables want;
    REQUIRE(one_process_tables(t, dir, &want));

    /* shard 1 killed once its journal holds its first run (identity line + 1) */
    snprintf(journal, sizeof journal, "%s/shard-1-of-2/journal", dir);
    shard_args(args, sizeof args, dir, "--shard 1/2");
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "exec %s %s >/dev/null 2>&1", ql_test_qlens_bin(), args);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    REQUIRE(pid > 0);
    const struct timespec nap = {0, 5 * 1000 * 1000};
    for (int i = 0; i < 12000 && ql_test_count_lines(journal) < 2; i++) nanosleep(&nap, NULL);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFSIGNALED(status), "shard 1 finished before it could be killed");
    const int runs_before = ql_test_count_lines(journal) - 1;
    CHECK_MSG(runs_before == 1, "%d runs journaled when killed", runs_before);
    /* what the kill lost is not merged as if it were there */
    char merge[4096];
    shard_args(merge, sizeof merge, dir, "--merge");
    check_error(t, merge, 1, "shard 1/2 is unfinished: 1 of its 2 configurations are not done");

    /* the same command finishes the rest: what was journaled is reused, the rest runs */
    REQUIRE_MSG(ql_test_run_qlens(args, NULL, &err) == 0, "%s", err);
    CHECK_MSG(count(err, "(already done, reused)") == 3 + runs_before &&
                  count(err, " done\n") == 2 - runs_before,
              "the rerun after %d runs did not resume:\n%s", runs_before, err);
    free(err);
    shard_args(args, sizeof args, dir, "--shard 2/2");
    REQUIRE_MSG(ql_test_run_qlens(args, NULL, &err) == 0, "%s", err);
    free(err);
    shard_args(args, sizeof args, dir, "--merge");
    REQUIRE_MSG(ql_test_run_qlens(args, NULL, &err) == 0, "%s", err);
    free(err);
    check_same_tables(t, &want, dir);
    snprintf(args, sizeof args, "find %s -name '*.tmp-*' | grep -q .", dir);
    CHECK_MSG(system(args) != 0, "temporary files left in %s", dir);
    free_tables(&want);
}

QL_TEST(sweep_shard_bad_usage) {
    const char *base = ql_test_tmpdir(t);
    char dir[512], args[4096];
    snprintf(dir, sizeof dir, "%s/sweep", base);
    static const char *const bad[] = {"3/2", "0/2", "1/0", "-1/2", "2", "1/2/3", "a/b", " 1/2"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char extra[64];
        snprintf(extra, sizeof extra, "--shard '%s'", bad[i]);
        shard_args(args, sizeof args, dir, extra);
        check_error(t, args, 2, "is not K/N with 1 <= K <= N");
    }
    shard_args(args, sizeof args, dir, "--shard 1/2 --merge");
    check_error(t, args, 2, "give it no --shard");
    CHECK_MSG(!exists(dir, ""), "a usage error made %s", dir);

    /* nothing to merge: no directory, no shards, or shards of two splits (which overlap) */
    shard_args(args, sizeof args, dir, "--merge");
    check_error(t, args, 1, "cannot open");
    REQUIRE(mkdir(dir, 0777) == 0);
    check_error(t, args, 1, "holds no shards");
    char sub[1024];
    snprintf(sub, sizeof sub, "%s/shard-1-of-2", dir);
    REQUIRE(mkdir(sub, 0777) == 0);
    snprintf(sub, sizeof sub, "%s/shard-2-of-3", dir);
    REQUIRE(mkdir(sub, 0777) == 0);
    check_error(t, args, 1, "holds shards of two splits (of 2 and of 3)");
}

/* Runs a shell command, its stdout and stderr into *out (malloc'd); returns its exit status. */
static int run_shell(const char *base, const char *cmd, char **out) {
    char path[1024], full[8192];
    snprintf(path, sizeof path, "%s/cmd-output", base);
    snprintf(full, sizeof full, "%s >'%s' 2>&1 </dev/null", cmd, path);
    const int status = system(full);
    *out = (char *)ql_test_read_file(path, NULL);
    if (!*out) *out = strdup("");
    return status == -1 || !WIFEXITED(status) ? -1 : WEXITSTATUS(status);
}

QL_TEST(sweep_mpi_two_ranks_equal_one_process) {
    const char *mpi_bin = getenv("QLENS_MPI_BIN");
    if (!mpi_bin || !*mpi_bin) mpi_bin = "build/mpi/qlens";
    if (system("command -v mpirun >/dev/null 2>&1") != 0)
        SKIP("mpirun is not installed (apt-get install libopenmpi-dev openmpi-bin, then make "
             "MPI=1)");
    if (access(mpi_bin, X_OK) != 0)
        SKIP("%s is not built: make MPI=1 (mpicc from libopenmpi-dev)", mpi_bin);
    const char *base = ql_test_tmpdir(t);
    char dir[512], args[4096], cmd[8192], *out;
    snprintf(dir, sizeof dir, "%s/sweep", base);
    tables want;
    REQUIRE(one_process_tables(t, dir, &want));
    /* shards of another split, left by an earlier run, are not the ranks' to merge */
    char stale[1024];
    snprintf(stale, sizeof stale, "%s/shard-1-of-3", dir);
    REQUIRE(mkdir(dir, 0777) == 0 && mkdir(stale, 0777) == 0);

    /*
     * Open MPI refuses root without --allow-run-as-root, and more ranks than
     * cores without --oversubscribe; the single-copy mechanism that a
     * container may forbid is not needed for the one reduction the ranks make.
     */
    shard_args(args, sizeof args, dir, "");
    snprintf(cmd, sizeof cmd,
             "OMPI_MCA_btl_vader_single_copy_mechanism=none mpirun --oversubscribe %s -n 2 %s %s",
             geteuid() == 0 ? "--allow-run-as-root" : "", mpi_bin, args);
    int rc = run_shell(base, cmd, &out);
    REQUIRE_MSG(rc == 0, "mpirun: exit %d\n%s", rc, out);
    /* the reference once, by one rank; each rank ran its own two configurations */
    CHECK_MSG(count(out, "reference done") == 1 && count(out, "reference (already done") == 1,
              "the reference was not computed exactly once:\n%s", out);
    CHECK_MSG(count(out, "shard 1/2: run ") == 2 && count(out, "shard 2/2: run ") == 2,
              "the ranks did not split the runs:\n%s", out);
    CHECK_MSG(strstr(out, "results in "), "rank 0 printed no table:\n%s", out);
    free(out);
    check_same_tables(t, &want, dir);

    /* rerun: everything is journaled, nothing recomputed, the same tables */
    rc = run_shell(base, cmd, &out);
    CHECK_MSG(rc == 0 && count(out, " done\n") == 0, "the rerun recomputed:\n%s", out);
    free(out);
    check_same_tables(t, &want, dir);
    free_tables(&want);
}

/*
 * test_sweep.c - `qlens sweep` and `qlens plan` end to end on a synthetic
 * model: the rows, their order, KLD equal to separate
 * `perplexity --kl-divergence` runs, resuming after SIGKILL with nothing
 * recomputed and the same table, and the HTML report as a browser renders it.
 */
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json_check.h"
#include "test.h"

static const char *wiki(void) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/data/wikitext-2-raw/wiki.test.raw", ql_test_shared_dir());
    return path;
}

static void sweep_args(char *buf, size_t size, const char *dir) {
    snprintf(buf, size,
             "sweep --ref %s --weights Q8_0,Q4_K_M --cache f16/f16,q8_0/q8_0,q4_0/q4_0 -f %s -c 64 "
             "--chunks 3 --out %s --budget 200MiB --target-ctx 4096 -t 2 --kld-positions 4",
             ql_test_synth_model("llama"), wiki(), dir);
}

static jc_node *read_json(ql_test_ctx *t, const char *path) {
    size_t n;
    char *text = (char *)ql_test_read_file(path, &n);
    if (!text) {
        ql_test_failf(t, __FILE__, __LINE__, "cannot read %s", path);
        return NULL;
    }
    char why[256];
    jc_node *doc = jc_parse(text, n, why, sizeof why);
    if (!doc) ql_test_failf(t, __FILE__, __LINE__, "%s: %s", path, why);
    free(text);
    return doc;
}

QL_TEST(sweep_rows_sorted_and_equal_to_separate_runs) {
    char dir[512], args[4096], *out, *err;
    snprintf(dir, sizeof dir, "%s/sweep", ql_test_tmpdir(t));
    sweep_args(args, sizeof args, dir);
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    CHECK(strstr(out, "| # | weights | cache K | cache V | KLD |") != NULL);
    free(out), free(err);

    char path[1024];
    snprintf(path, sizeof path, "%s/results.json", dir);
    jc_node *doc = read_json(t, path);
    REQUIRE(doc);
    const char *had = jc_str(doc, "kv_hadamard");
    CHECK_MSG(had && strcmp(had, "fwht") == 0, "kv_hadamard %s", had ? had : "(missing)");
    const jc_node *rows = jc_get(doc, "rows");
    REQUIRE(rows && rows->n == 6);
    double prev = -1;
    int seen[2][3] = {{0}};
    for (size_t i = 0; i < rows->n; i++) {
        const jc_node *r = jc_at(rows, i);
        const double kld = jc_num(jc_get(r, "kld"), "value");
        CHECK_MSG(kld >= prev, "row %zu not sorted: %g after %g", i, kld, prev);
        prev = kld;
        const char *w = jc_str(r, "weights"), *k = jc_str(r, "cache_type_k");
        const int wi = strcmp(w, "Q8_0") == 0 ? 0 : 1;
        const int ki = strcmp(k, "f16") == 0 ? 0 : strcmp(k, "q8_0") == 0 ? 1 : 2;
        seen[wi][ki]++;
        CHECK(strcmp(jc_str(r, "cache_type_k"), jc_str(r, "cache_type_v")) == 0);
        CHECK_EQ_INT(jc_get(r, "kld_by_position")->n, 4);
        /* the same configuration measured by hand: identical KLD */
        char wpath[1024];
        snprintf(wpath, sizeof wpath, "%s", jc_str(r, "weights_path"));
        snprintf(args, sizeof args,
                 "perplexity -m %s --kl-divergence-base %s/reference.qlref --kl-divergence -ctk %s "
                 "-ctv %s --json %s/check.json -t 1",
                 wpath, dir, k, jc_str(r, "cache_type_v"), dir);
        CHECK_EQ_INT(ql_test_run_qlens(args, NULL, NULL), 0);
        snprintf(path, sizeof path, "%s/check.json", dir);
        jc_node *one = read_json(t, path);
        if (one) {
            const double sep = jc_num(jc_get(jc_get(one, "statistics"), "kld"), "value");
            CHECK_MSG(sep == kld, "%s %s: sweep KLD %.17g, separate run %.17g", w, k, kld, sep);
            jc_free(one);
        }
    }
    for (int a = 0; a < 2; a++)
        for (int b = 0; b < 3; b++) CHECK_EQ_INT(seen[a][b], 1);
    /* paired comparisons: every row but the first has one */
    CHECK(jc_get(jc_at(rows, 0), "vs_above")->kind == JC_NULL);
    for (size_t i = 1; i < rows->n; i++)
        CHECK(jc_get(jc_at(rows, i), "vs_above")->kind == JC_OBJECT);
    jc_free(doc);

    /* the planner reads the sweep */
    snprintf(args, sizeof args, "plan --sweep %s --budget 200MiB --ctx 4096", dir);
    REQUIRE(ql_test_run_qlens(args, &out, &err) == 0);
    CHECK_MSG(strstr(out, "Recommended: Q8_0 with a f16/f16 cache") != NULL, "%s", out);
    free(out), free(err);

    /* for a budget at each configuration's total: the recommendation is the lowest KLD that fits,
       and the runners-up are the configurations that fit and lie within 2 sigma of it, paired per
       token (recomputed here from the run files' per-token KLD) */
    snprintf(path, sizeof path, "%s/results.json", dir);
    doc = read_json(t, path);
    REQUIRE(doc);
    rows = jc_get(doc, "rows");
    jc_node *runs[6] = {0};
    for (size_t i = 0; i < rows->n; i++) {
        const jc_node *r = jc_at(rows, i);
        snprintf(path, sizeof path, "%s/runs/%s__%s_%s.json", dir, jc_str(r, "weights"),
                 jc_str(r, "cache_type_k"), jc_str(r, "cache_type_v"));
        runs[i] = read_json(t, path);
        REQUIRE(runs[i]);
    }
    for (size_t b = 0; b < rows->n; b++) {
        const double budget = jc_num(jc_at(rows, b), "total_bytes_target");
        int pick = -1;
        for (size_t i = 0; i < rows->n && pick < 0; i++)
            if (jc_num(jc_at(rows, i), "total_bytes_target") <= budget) pick = (int)i;
        REQUIRE(pick >= 0);
        snprintf(args, sizeof args, "plan --sweep %s --budget %.0f --ctx 4096", dir, budget);
        REQUIRE(ql_test_run_qlens(args, &out, &err) == 0);
        const jc_node *pr = jc_at(rows, (size_t)pick);
        char want[256];
        snprintf(want, sizeof want, "Recommended: %s with a %s/%s cache", jc_str(pr, "weights"),
                 jc_str(pr, "cache_type_k"), jc_str(pr, "cache_type_v"));
        CHECK_MSG(strstr(out, want) != NULL, "'%s' not in:\n%s", want, out);
        const jc_node *pk = jc_get(jc_get(runs[pick], "tokens"), "kld");
        int runners = 0;
        for (size_t i = 0; i < rows->n; i++) {
            const jc_node *r = jc_at(rows, i);
            if ((int)i == pick || jc_num(r, "total_bytes_target") > budget) continue;
            const jc_node *k = jc_get(jc_get(runs[i], "tokens"), "kld");
            REQUIRE(k && pk && k->n == pk->n);
            double sum = 0, sum2 = 0;
            for (size_t n = 0; n < k->n; n++) {
                const double d = jc_at(k, n)->number - jc_at(pk, n)->number;
                sum += d, sum2 += d * d;
            }
            const double nt = (double)k->n, mean = sum / nt;
            const double se = sqrt((sum2 / nt - mean * mean) * nt / (nt - 1) / nt);
            snprintf(want, sizeof want, "- %s %s/%s: ", jc_str(r, "weights"),
                     jc_str(r, "cache_type_k"), jc_str(r, "cache_type_v"));
            const bool listed = strstr(out, want) != NULL;
            CHECK_MSG(listed == (fabs(mean / se) < 2), "%s%s listed at %.2f sigma:\n%s", want,
                      listed ? "" : " not", mean / se, out);
            runners += listed;
        }
        CHECK_MSG((runners > 0) == (strstr(out, "Runners-up that fit") != NULL), "%s", out);
        free(out), free(err);
    }
    for (size_t i = 0; i < rows->n; i++) jc_free(runs[i]);
    jc_free(doc);
}

static int journal_lines(const char *dir) {
    char path[1024];
    snprintf(path, sizeof path, "%s/journal", dir);
    size_t n;
    char *s = (char *)ql_test_read_file(path, &n);
    if (!s) return 0;
    int lines = 0;
    for (size_t i = 0; i < n; i++) lines += s[i] == '\n';
    free(s);
    return lines;
}

QL_TEST(sweep_resumes_after_sigkill) {
    const char *base = ql_test_tmpdir(t);
    char clean[512], killed[512], args[4096], *out, *err;
    snprintf(clean, sizeof clean, "%s/clean", base);
    snprintf(killed, sizeof killed, "%s/killed", base);
    sweep_args(args, sizeof args, clean);
    REQUIRE_MSG(ql_test_run_qlens(args, NULL, &err) == 0, "%s", err);
    free(err);

    /* start the same sweep elsewhere and kill it once a few steps are journaled */
    sweep_args(args, sizeof args, killed);
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "exec %s %s >/dev/null 2>&1", ql_test_qlens_bin(), args);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    REQUIRE(pid > 0);
    const struct timespec nap = {0, 20 * 1000 * 1000};
    for (int i = 0; i < 3000 && journal_lines(killed) < 5; i++)
        nanosleep(&nap, NULL); /* id + 4 steps */
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    CHECK_MSG(WIFSIGNALED(status), "the sweep finished before it could be killed");
    const int done_before = journal_lines(killed) - 1;
    printf("killed after %d journaled steps\n", done_before);

    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    /* nothing finished was recomputed */
    int reused = 0;
    for (const char *p = err; (p = strstr(p, "(already done, reused)")); p++) reused++;
    CHECK_MSG(reused == done_before, "%d steps reused, %d were journaled", reused, done_before);
    free(out), free(err);

    /* and the table is the same as an uninterrupted sweep's */
    char a[1024], b[1024];
    snprintf(a, sizeof a, "%s/results.md", clean);
    snprintf(b, sizeof b, "%s/results.md", killed);
    char *ma = (char *)ql_test_read_file(a, NULL), *mb = (char *)ql_test_read_file(b, NULL);
    REQUIRE(ma && mb);
    char *ta = strstr(ma, "| # |"), *tb = strstr(mb, "| # |");
    CHECK_MSG(ta && tb && strcmp(ta, tb) == 0, "tables differ:\n%s\n---\n%s", ta, tb);
    free(ma), free(mb);
    /* no temporary file survives */
    snprintf(args, sizeof args, "find %s -name '*.tmp-*' | grep -q .", killed);
    CHECK_MSG(system(args) != 0, "temporary files left in %s", killed);

    /* the rotation's arithmetic is a parameter: the default is fwht, and dense is another sweep */
    sweep_args(args, sizeof args, clean);
    strcat(args, " --kv-hadamard fwht");
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    CHECK_MSG(strstr(err, " done\n") == NULL, "a step was recomputed:\n%s", err);
    free(out), free(err);
    sweep_args(args, sizeof args, clean);
    strcat(args, " --kv-hadamard dense");
    const int rc = ql_test_run_qlens(args, &out, &err);
    const char *nl = strchr(err, '\n');
    CHECK_MSG(rc == 1 && strstr(err, "other parameters") && nl && nl[1] == '\0',
              "resumed with --kv-hadamard dense: exit %d, %s", rc, err);
    free(out), free(err);
}

QL_TEST(sweep_report_renders_in_a_browser) {
    const char *browser = NULL;
    const char *candidates[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser",
                                "/usr/bin/google-chrome"};
    for (size_t i = 0; i < 3 && !browser; i++)
        if (access(candidates[i], X_OK) == 0) browser = candidates[i];
    REQUIRE_MSG(browser, "no headless Chromium (.ci/run installs Debian's chromium)");
    char dir[512], args[4096], *err;
    snprintf(dir, sizeof dir, "%s/sweep", ql_test_tmpdir(t));
    sweep_args(args, sizeof args, dir);
    REQUIRE_MSG(ql_test_run_qlens(args, NULL, &err) == 0, "%s", err);
    free(err);
    /* the DOM as Chromium builds it: both plots with their marks, and the table */
    char cmd[4096], dom_path[1024];
    snprintf(dom_path, sizeof dom_path, "%s/dom.html", dir);
    snprintf(
        cmd, sizeof cmd,
        "%s --headless --no-sandbox --disable-gpu --dump-dom file://$(pwd)/%s/report.html > %s "
        "2>/dev/null",
        browser, dir, dom_path);
    REQUIRE(system(cmd) == 0);
    char *dom = (char *)ql_test_read_file(dom_path, NULL);
    REQUIRE(dom);
    int circles = 0, series = 0;
    for (const char *p = dom; (p = strstr(p, "<circle class=\"point\"")); p++) circles++;
    for (const char *p = dom; (p = strstr(p, "<polyline class=\"series\"")); p++) series++;
    CHECK(strstr(dom, "id=\"plot-memory\"") != NULL);
    CHECK(strstr(dom, "id=\"plot-positions\"") != NULL);
    CHECK(strstr(dom, "class=\"frontier\"") != NULL);
    CHECK_EQ_INT(circles, 6);
    CHECK_EQ_INT(series, 6);
    CHECK(strstr(dom, "<table id=\"results\"") != NULL);
    free(dom);
    /* and a screenshot for people */
    mkdir("build/screenshots", 0755);
    snprintf(cmd, sizeof cmd,
             "%s --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1100,1700 "
             "--screenshot=build/screenshots/sweep-report.png file://$(pwd)/%s/report.html "
             ">/dev/null 2>&1",
             browser, dir);
    CHECK(system(cmd) == 0);
    struct stat sb;
    CHECK_MSG(stat("build/screenshots/sweep-report.png", &sb) == 0 && sb.st_size > 10000,
              "no screenshot");
}

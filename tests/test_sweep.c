/*
 * test_sweep.c - `qlens sweep` and `qlens plan` end to end on a synthetic
 * model: the rows, their order, KLD equal to separate
 * `perplexity --kl-divergence` runs, resuming after SIGKILL with nothing
 * recomputed and the same table, and the HTML report as a browser renders it.
 */
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/crc32.h"
#include "gguf_edit.h"
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
    CHECK(strstr(out, "| # | weights | bpw | cache K | cache V | KLD | KLD 99.9% | PPL | PPL "
                      "ratio | same top p |") != NULL);
    /* and the answer after the table */
    CHECK_MSG(strstr(out, "\nWithin 200.00 MiB at 4096 tokens, run **Q8_0 weights with a f16/f16 "
                          "KV cache**") != NULL,
              "%s", out);
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
    return ql_test_count_lines(path);
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

/*
 * A script appended to a copy of the report (the report itself has none): it
 * measures the page as Chromium lays it out and writes what it found into a
 * <pre id='layout'> that --dump-dom shows. Label boxes are compared pairwise
 * within each plot, and with the marks of the memory plot; the checkbox is
 * ticked to see the hidden lines of the position plot appear.
 */
static const char layout_script[] =
    "<script>(function(){"
    "function hits(a,b){return a.left<b.right-0.5&&b.left<a.right-0.5&&a.top<b.bottom-0.5&&"
    "b.top<a.bottom-0.5;}"
    "var out={scroll:document.documentElement.scrollWidth,client:document.documentElement."
    "clientWidth,label_overlaps:0,label_mark_overlaps:0,labels:0};"
    "['plot-memory','plot-bpw'].forEach(function(id){"
    "var svg=document.getElementById(id);var ls=[].slice.call(svg.querySelectorAll('.point-label'))"
    ".map(function(e){return e.getBoundingClientRect();});out.labels+=ls.length;"
    "for(var i=0;i<ls.length;i++)for(var j=i+1;j<ls.length;j++)if(hits(ls[i],ls[j]))"
    "out.label_overlaps++;"
    "if(id=='plot-memory'){[].slice.call(svg.querySelectorAll('circle.point')).forEach(function(c)"
    "{var "
    "b=c.getBoundingClientRect();ls.forEach(function(l){if(hits(l,b))out.label_mark_overlaps++;"
    "});});out.memory_width=svg.getBoundingClientRect().width;}});"
    "function shown(){return [].slice.call(document.querySelectorAll('#plot-positions g.series'))"
    ".filter(function(g){return getComputedStyle(g).display!='none';}).length;}"
    "out.series_shown=shown();document.getElementById('show-all-positions').checked=true;"
    "out.series_all=shown();"
    "out.ticks=[].slice.call(document.querySelectorAll('#plot-memory text.tick')).map(function(t)"
    "{return t.getAttribute('text-anchor')=='middle'?t.textContent:null;}).filter(function(t){"
    "return t!==null;});"
    "var pre=document.createElement('pre');pre.id='layout';pre.textContent=JSON.stringify(out);"
    "document.body.appendChild(pre);})();</script>";

static const char *find_browser(void) {
    const char *candidates[] = {"/usr/bin/chromium", "/usr/bin/chromium-browser",
                                "/usr/bin/google-chrome"};
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
        if (access(candidates[i], X_OK) == 0) return candidates[i];
    return NULL;
}

/* The page as Chromium lays it out at `width` px: the layout script's findings, parsed. */
static jc_node *layout_at(ql_test_ctx *t, const char *browser, const char *check_html, int width,
                          const char *dir) {
    char cmd[4096], dom_path[1024];
    snprintf(dom_path, sizeof dom_path, "%s/dom-%d.html", dir, width);
    snprintf(cmd, sizeof cmd,
             "%s --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=%d,1000 "
             "--dump-dom file://$(pwd)/%s > %s 2>/dev/null",
             browser, width, check_html, dom_path);
    if (system(cmd) != 0) {
        ql_test_failf(t, __FILE__, __LINE__, "chromium --dump-dom failed at %d px", width);
        return NULL;
    }
    char *dom = (char *)ql_test_read_file(dom_path, NULL);
    const char *start = dom ? strstr(dom, "<pre id=\"layout\">") : NULL;
    const char *end = start ? strstr(start, "</pre>") : NULL;
    jc_node *doc = NULL;
    if (start && end) {
        start += strlen("<pre id=\"layout\">");
        char why[256];
        doc = jc_parse(start, (size_t)(end - start), why, sizeof why);
        if (!doc) ql_test_failf(t, __FILE__, __LINE__, "layout: %s", why);
    } else {
        ql_test_failf(t, __FILE__, __LINE__, "no layout findings in the DOM at %d px", width);
    }
    free(dom);
    return doc;
}

/* Whether tick labels are round: equally spaced by 1, 2 or 5 times a power of ten. */
static bool round_ticks(const jc_node *ticks) {
    if (!ticks || ticks->n < 3) return false;
    const double step = atof(jc_at(ticks, 1)->str) - atof(jc_at(ticks, 0)->str);
    const double mag = pow(10, floor(log10(step))), f = step / mag;
    if (fabs(f - 1) > 1e-6 && fabs(f - 2) > 1e-6 && fabs(f - 5) > 1e-6) return false;
    for (size_t i = 0; i < ticks->n; i++) {
        const double v = atof(jc_at(ticks, i)->str);
        if (fabs(v / step - round(v / step)) > 1e-6) return false;
    }
    return true;
}

QL_TEST(sweep_report_renders_in_a_browser) {
    const char *browser = find_browser();
    if (!browser) SKIP("no headless Chromium (Debian: apt-get install chromium; .ci/run does)");
    char dir[512], args[4096], *err;
    snprintf(dir, sizeof dir, "%s/sweep", ql_test_tmpdir(t));
    sweep_args(args, sizeof args, dir);
    REQUIRE_MSG(ql_test_run_qlens(args, NULL, &err) == 0, "%s", err);
    free(err);
    char path[1024];
    snprintf(path, sizeof path, "%s/report.html", dir);
    size_t n;
    char *page = (char *)ql_test_read_file(path, &n);
    REQUIRE(page);
    CHECK_MSG(!strstr(page, "<script"), "the report must not need a script");
    CHECK_MSG(!strstr(page, "http://") || !strstr(strstr(page, "http://"), "src="),
              "the report loads nothing");
    /* a copy with the layout script before </body> */
    char check[1024];
    snprintf(check, sizeof check, "%s/check.html", dir);
    char *body_end = strstr(page, "</body>");
    REQUIRE(body_end);
    FILE *f = fopen(check, "w");
    REQUIRE(f);
    fwrite(page, 1, (size_t)(body_end - page), f);
    fputs(layout_script, f);
    fputs(body_end, f);
    fclose(f);

    /* the DOM as Chromium builds it: every part of the page */
    char cmd[4096], dom_path[1024];
    snprintf(dom_path, sizeof dom_path, "%s/dom.html", dir);
    snprintf(cmd, sizeof cmd,
             "%s --headless --no-sandbox --disable-gpu --dump-dom file://$(pwd)/%s > %s "
             "2>/dev/null",
             browser, path, dom_path);
    REQUIRE(system(cmd) == 0);
    char *dom = (char *)ql_test_read_file(dom_path, NULL);
    REQUIRE(dom);
    int circles = 0, series = 0, bands = 0, cells = 0, grids = 0, bpw_series = 0;
    for (const char *p = dom; (p = strstr(p, "<circle class=\"point")); p++) circles++;
    for (const char *p = dom; (p = strstr(p, "<g class=\"series")); p++) series++;
    for (const char *p = dom; (p = strstr(p, "<polygon class=\"band\"")); p++) bands++;
    for (const char *p = dom; (p = strstr(p, "<td class=\"cell")); p++) cells++;
    for (const char *p = dom; (p = strstr(p, "<table class=\"grid\"")); p++) grids++;
    for (const char *p = dom; (p = strstr(p, "<g class=\"bpw-series\"")); p++) bpw_series++;
    CHECK(strstr(dom, "id=\"plot-memory\"") != NULL);
    CHECK(strstr(dom, "id=\"plot-positions\"") != NULL);
    CHECK(strstr(dom, "id=\"plot-bpw\"") != NULL);
    CHECK(strstr(dom, "class=\"frontier\"") != NULL);
    CHECK(strstr(dom, "Pareto front</text>") != NULL);
    CHECK(strstr(dom, "id=\"budget-line\"") != NULL);
    CHECK(strstr(dom, "mean KLD per position bucket (log scale)") != NULL);
    CHECK(strstr(dom, "position in the context (log scale)") != NULL);
    CHECK_EQ_INT(circles, 6);
    CHECK_EQ_INT(series, 6);
    CHECK_EQ_INT(bands, 6);
    CHECK_EQ_INT(grids, 2); /* Q8_0 and Q4_K_M */
    CHECK_EQ_INT(cells, 6); /* three K/V pairs each */
    CHECK_EQ_INT(bpw_series, 3);
    /* every line of the position plot has a style of its own */
    char styles[6][32];
    int ns = 0;
    for (const char *p = dom; (p = strstr(p, "<g class=\"series")) && ns < 6; p++) {
        const char *st = strstr(p, "data-style=\"");
        REQUIRE(st);
        sscanf(st + 12, "%31[^\"]", styles[ns]);
        for (int k = 0; k < ns; k++)
            CHECK_MSG(strcmp(styles[k], styles[ns]) != 0, "two lines styled %s", styles[ns]);
        ns++;
    }
    /* the table's columns */
    const char *columns[] = {"bpw", "KLD 99.9%", ">PPL<", "PPL ratio", "same top p"};
    for (size_t i = 0; i < sizeof columns / sizeof columns[0]; i++)
        CHECK_MSG(strstr(dom, columns[i]) != NULL, "no '%s' in the table", columns[i]);
    CHECK(strstr(dom, "<table id=\"results\"") != NULL);

    /* the page opens with the answer, and it is the right one: the lowest KLD within the
       budget at the target context, from results.json */
    const char *answer = strstr(dom, "<section id=\"answer\">");
    const char *first_plot = strstr(dom, "<svg");
    REQUIRE_MSG(answer && first_plot && answer < first_plot, "the page does not open with it");
    snprintf(path, sizeof path, "%s/results.json", dir);
    jc_node *doc = read_json(t, path);
    REQUIRE(doc);
    const jc_node *rows = jc_get(doc, "rows");
    const double budget = jc_num(doc, "budget_bytes");
    int pick = -1;
    for (size_t i = 0; i < rows->n && pick < 0; i++)
        if (jc_num(jc_at(rows, i), "total_bytes_target") <= budget) pick = (int)i;
    REQUIRE(pick >= 0);
    char want[256];
    snprintf(want, sizeof want,
             "Run <b class=\"config\">%s</b> weights with a <b class=\"config\">%s/%s</b> KV cache",
             jc_str(jc_at(rows, (size_t)pick), "weights"),
             jc_str(jc_at(rows, (size_t)pick), "cache_type_k"),
             jc_str(jc_at(rows, (size_t)pick), "cache_type_v"));
    CHECK_MSG(strstr(answer, want) != NULL, "'%s' not in the answer", want);
    CHECK(strstr(answer, "Budget <b>200.0 MiB</b>, context <b>4096 tokens</b>") != NULL);
    CHECK(strstr(answer, pick == 0 ? "lowest-KLD configuration" : "costs against the best"));
    CHECK(strstr(answer, "Runners-up") || strstr(answer, "No other configuration"));
    jc_free(doc);
    free(dom);

    /* laid out at 1400 and 720 px: no label on another or on a point, round ticks, the hidden
       lines appear with the checkbox, and at 720 px nothing wider than the window */
    const int widths[] = {1400, 720};
    for (int w = 0; w < 2; w++) {
        jc_node *lay = layout_at(t, browser, check, widths[w], dir);
        if (!lay) continue;
        CHECK_MSG(jc_num(lay, "labels") >= 8, "%d px: %g labels", widths[w], jc_num(lay, "labels"));
        CHECK_MSG(jc_num(lay, "label_overlaps") == 0, "%d px: %g labels overlap", widths[w],
                  jc_num(lay, "label_overlaps"));
        CHECK_MSG(jc_num(lay, "label_mark_overlaps") == 0, "%d px: %g labels cover a point",
                  widths[w], jc_num(lay, "label_mark_overlaps"));
        CHECK_MSG(round_ticks(jc_get(lay, "ticks")), "%d px: the memory ticks are not round",
                  widths[w]);
        CHECK_MSG(jc_num(lay, "series_shown") >= 1 && jc_num(lay, "series_shown") <= 5 &&
                      jc_num(lay, "series_all") == 6,
                  "%d px: %g lines shown, %g with the checkbox", widths[w],
                  jc_num(lay, "series_shown"), jc_num(lay, "series_all"));
        CHECK_MSG(jc_num(lay, "scroll") <= jc_num(lay, "client"),
                  "%d px: the page is %g px wide in a %g px window", widths[w],
                  jc_num(lay, "scroll"), jc_num(lay, "client"));
        CHECK_MSG(jc_num(lay, "memory_width") <= widths[w] - 20,
                  "%d px: the memory plot is %g px wide", widths[w], jc_num(lay, "memory_width"));
        jc_free(lay);
    }

    /* and screenshots for people, at both widths */
    mkdir("build/screenshots", 0755);
    for (int w = 0; w < 2; w++) {
        char png[256];
        snprintf(png, sizeof png, "build/screenshots/sweep-report-%d.png", widths[w]);
        snprintf(cmd, sizeof cmd,
                 "%s --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=%d,3600 "
                 "--screenshot=%s file://$(pwd)/%s/report.html >/dev/null 2>&1",
                 browser, widths[w], png, dir);
        CHECK(system(cmd) == 0);
        struct stat sb;
        CHECK_MSG(stat(png, &sb) == 0 && sb.st_size > 10000, "no screenshot %s", png);
    }
    free(page);
}

static bool copy_file(const char *src, const char *dst) {
    size_t n;
    unsigned char *data = ql_test_read_file(src, &n);
    /* a new file (new inode), as cp onto a removed name makes */
    unlink(dst);
    const bool ok = data && ql_test_write_file(dst, data, n);
    free(data);
    return ok;
}

/* The KLD column of the table's first row ("| 1 | weights | k | v | KLD ± ... |"). */
/* The KLD of the table's first row: its sixth column (#, weights, bpw, cache K, cache V, KLD). */
static double first_kld(const char *table) {
    const char *row = table ? strstr(table, "| 1 |") : NULL;
    for (int bar = 0; row && bar < 6; row++)
        if (*row == '|') bar++;
    return row ? strtod(row, NULL) : NAN;
}

/*
 * A sweep knows its inputs by content. The same name and size with other
 * bytes is another input: a --weights file replaced by another model is
 * evaluated again (the stale row would show KLD 0 where the new model has
 * a real one), a replaced reference is refused with what changed, and a
 * file rewritten with its old bytes (new inode, new mtime) is the same input
 * again, so nothing is recomputed.
 */
QL_TEST(sweep_inputs_are_identified_by_content) {
    const char *synth = ql_test_synth_model("llama");
    if (access(synth, R_OK) != 0) SKIP("synthetic models not built (make synth)");
    const char *base = ql_test_tmpdir(t);
    char ref[512], w[512], other[512], dir[512], fresh[512], args[4096], *out, *err;
    snprintf(ref, sizeof ref, "%s/ref.gguf", base);
    snprintf(w, sizeof w, "%s/w.gguf", base);
    snprintf(other, sizeof other, "%s/other.gguf", base);
    snprintf(dir, sizeof dir, "%s/sweep", base);
    snprintf(fresh, sizeof fresh, "%s/fresh", base);
    REQUIRE(copy_file(synth, ref) && copy_file(synth, w));
    /* the same shapes and size, other weights */
    ql_test_tensor_edit edits[512];
    for (int i = 0; i < 512; i++)
        edits[i] = (ql_test_tensor_edit){"blk.0.attn_q.weight", 37 * i, i % 2 ? 0.5f : -0.5f};
    REQUIRE(ql_test_gguf_edit(synth, other, NULL, 0, edits, 512));
    struct stat sa, sb;
    REQUIRE(stat(synth, &sa) == 0 && stat(other, &sb) == 0 && sa.st_size == sb.st_size);
#define SWEEP(out_dir)                                                                             \
    snprintf(args, sizeof args,                                                                    \
             "sweep --ref %s --weights %s --cache f16/f16 -f %s -c 64 --chunks 1 --out %s -t 2",   \
             ref, w, wiki(), out_dir)

    SWEEP(dir);
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    CHECK_MSG(first_kld(out) == 0, "the model against itself: %s", out);
    free(out), free(err);

    /* the weights file becomes another model of the same size */
    REQUIRE(copy_file(other, w));
    SWEEP(dir);
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    const double resumed = first_kld(out);
    CHECK_MSG(strstr(err, "run w.gguf__f16_f16 done"), "the run was not recomputed: %s", err);
    free(out), free(err);
    SWEEP(fresh);
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    const double from_scratch = first_kld(out);
    free(out), free(err);
    CHECK_MSG(resumed > 0 && resumed == from_scratch, "KLD %g after the change, %g from scratch",
              resumed, from_scratch);

    /* the reference becomes another model of the same size: refused, saying so */
    REQUIRE(copy_file(other, ref));
    SWEEP(dir);
    CHECK_EQ_INT(ql_test_run_qlens(args, &out, &err), 1);
    CHECK_MSG(strstr(err, "qlens: error: ") == err && strstr(err, "ref.gguf") &&
                  strstr(err, "content") && !strchr(err, '\n')[1],
              "%s", err);
    CHECK_MSG(!strstr(out, "| 1 |"), "a table was printed: %s", out);
    free(out), free(err);

    /* the old bytes again, in a new file: the same inputs, nothing to do */
    REQUIRE(copy_file(synth, ref) && copy_file(other, w));
    SWEEP(dir);
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    CHECK_MSG(strstr(err, " done\n") == NULL, "a step was recomputed:\n%s", err);
    CHECK_MSG(first_kld(out) == resumed, "%s", out);
    free(out), free(err);

    /*
     * A sweep made before inputs were known by content recorded the
     * reference's name and size: it resumes (its path-given runs once more,
     * now under their checksums), it is not refused as another sweep.
     */
    char journal[600];
    snprintf(journal, sizeof journal, "%s/journal", dir);
    size_t n;
    char *j = (char *)ql_test_read_file(journal, &n);
    REQUIRE(j);
    char *id = strstr(j, "ref=sha256:"), *nl = strchr(j, '\n');
    REQUIRE(id && nl && id < nl);
    char legacy[2048];
    const int text_at = snprintf(legacy, sizeof legacy, "%08x ", 0u);
    snprintf(legacy + text_at, sizeof legacy - (size_t)text_at, "%.*sref=ref:%lld%.*s",
             (int)(id - (j + 9)), j + 9, (long long)sa.st_size, (int)(nl - (id + 75)), id + 75);
    char hex[9];
    snprintf(hex, sizeof hex, "%08x", ql_crc32(0, legacy + 9, strlen(legacy + 9)));
    memcpy(legacy, hex, 8);
    FILE *f = fopen(journal, "wb");
    REQUIRE(f);
    fprintf(f, "%s%s", legacy, nl);
    fclose(f);
    free(j);
    SWEEP(dir);
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    CHECK_MSG(strstr(err, "reference (already done, reused)"), "%s", err);
    CHECK_MSG(first_kld(out) == resumed, "%s", out);
    free(out), free(err);
#undef SWEEP
}

/*
 * Two sweeps into one directory: the second is refused at once, saying
 * another sweep holds it, and the first is not disturbed.
 */
QL_TEST(sweep_directory_is_locked_while_a_sweep_runs) {
    const char *synth = ql_test_synth_model("llama");
    if (access(synth, R_OK) != 0) SKIP("synthetic models not built (make synth)");
    char dir[512], args[4096], cmd[4200], *out, *err;
    snprintf(dir, sizeof dir, "%s/sweep", ql_test_tmpdir(t));
    snprintf(args, sizeof args,
             "sweep --ref %s --weights Q8_0 --cache f16/f16,q8_0/q8_0,q4_0/q4_0 -f %s -c 64 "
             "--chunks 4 --out %s -t 1",
             synth, wiki(), dir);
    snprintf(cmd, sizeof cmd, "exec %s %s >/dev/null 2>&1", ql_test_qlens_bin(), args);
    pid_t pid = fork();
    if (pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    REQUIRE(pid > 0);
    /* wait until the first sweep holds the directory: its lock is a flock on it */
    const struct timespec nap = {0, 20 * 1000 * 1000};
    bool held = false;
    int status = 0;
    for (int i = 0; i < 3000 && !held; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) break;
        int fd = open(dir, O_RDONLY | O_DIRECTORY);
        if (fd >= 0) {
            held = flock(fd, LOCK_EX | LOCK_NB) != 0;
            close(fd);
        }
        if (!held) nanosleep(&nap, NULL);
    }
    CHECK_MSG(held, "the first sweep never held its directory");
    if (held) {
        const int rc = ql_test_run_qlens(args, &out, &err);
        CHECK_MSG(rc == 1 && strstr(err, "another sweep") && !strchr(err, '\n')[1],
                  "the second sweep: exit %d, %s", rc, err);
        free(out), free(err);
        waitpid(pid, &status, 0);
    }
    CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the first sweep failed (status %d)",
              status);
    /* and the directory is free again */
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    CHECK_MSG(strstr(err, " done\n") == NULL, "a step was recomputed:\n%s", err);
    free(out), free(err);
}

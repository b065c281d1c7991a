/*
 * test_cli_progress.c - progress lines as a person sees them: perplexity's
 * running values stay visible above the bar on a terminal and end their line
 * before the timing line in a file; the sweep's ETA comes from measured
 * tokens/s, moves inside each run and never leaves the line blank.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "term.h"
#include "test.h"

static const char *wiki(void) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/data/wikitext-2-raw/wiki.test.raw", ql_test_shared_dir());
    return path;
}

/* The highest k of the "[k]" values in s[0..n). */
static int last_value_index(const char *s, size_t n) {
    int last = 0;
    for (size_t i = 0; i + 2 < n; i++)
        if (s[i] == '[' && s[i + 1] >= '0' && s[i + 1] <= '9' && (i == 0 || s[i - 1] != 0x1b)) {
            const int k = atoi(s + i + 1);
            if (k > last) last = k;
        }
    return last;
}

/* Whether the screen, without the row that holds the bar, still shows [1] .. [k]. */
static bool values_visible(term_screen *scr, int k, int *missing) {
    char text[TERM_MAX_ROWS * (TERM_MAX_COLS + 1) + 1] = "";
    size_t used = 0;
    for (int r = 0; r < scr->rows_used; r++) {
        const char *row = term_screen_row(scr, r);
        if (strstr(row, "ETA")) continue;
        used += (size_t)snprintf(text + used, sizeof text - used, "%s", row);
    }
    for (int i = 1; i <= k; i++) {
        char needle[16];
        snprintf(needle, sizeof needle, "[%d]", i);
        if (!strstr(text, needle)) {
            *missing = i;
            return false;
        }
    }
    return true;
}

QL_TEST(cli_perplexity_progress_keeps_running_values_on_a_terminal) {
    char args[2048], *plain, *err;
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 128 --chunks 8 -t 2",
             ql_test_synth_model("llama"), wiki());
    /* what the values line is, from a run whose stdout is not a terminal */
    REQUIRE_MSG(ql_test_run_qlens(args, &plain, &err) == 0, "%s", err);
    free(err);
    char *nl = strchr(plain, '\n');
    REQUIRE(nl);
    *nl = '\0';
    CHECK(strncmp(plain, "[1]", 3) == 0 && strstr(plain, ",[8]") != NULL);

    enum { COLS = 60 }; /* the eight values wrap over three rows */
    term_capture cap;
    REQUIRE(term_run_qlens(args, COLS, &cap) == 0);
    term_screen *scr = malloc(sizeof *scr);
    REQUIRE(scr);
    term_screen_init(scr, COLS);
    int bars = 0;
    for (size_t i = 0; i < cap.n; i++) {
        if (!term_screen_put(scr, (unsigned char)cap.bytes[i])) continue;
        /* an erase to the line's end: a bar was just drawn (or erased) */
        if (!strstr(term_screen_row(scr, scr->row), "ETA")) continue;
        bars++;
        const int k = last_value_index(cap.bytes, i + 1);
        int missing = 0;
        CHECK_MSG(values_visible(scr, k, &missing), "with the bar drawn, [%d] of [1]..[%d] is gone",
                  missing, k);
    }
    CHECK_MSG(bars >= 1, "no progress bar was drawn on the terminal");
    /* at the end: the values on their rows, then the estimate on the next, and no bar */
    char text[TERM_MAX_ROWS * (TERM_MAX_COLS + 1) + 1];
    term_screen_text(scr, text, sizeof text);
    CHECK_MSG(!strstr(text, "ETA"), "a bar is left on the screen:\n%s", text);
    int first = -1, final_row = -1;
    for (int r = 0; r < scr->rows_used; r++) {
        if (first < 0 && strncmp(term_screen_row(scr, r), "[1]", 3) == 0) first = r;
        if (strncmp(term_screen_row(scr, r), "Final estimate", 14) == 0) final_row = r;
    }
    REQUIRE_MSG(first >= 0 && final_row > first, "screen:\n%s", text);
    char joined[4096] = "";
    for (int r = first; r < final_row; r++) strcat(joined, term_screen_row(scr, r));
    CHECK_MSG(strcmp(joined, plain) == 0, "values on the screen:\n%s\nwritten:\n%s", joined, plain);
    free(scr);
    term_capture_free(&cap);
    free(plain);
}

QL_TEST(cli_perplexity_values_line_ends_before_the_timing_line_in_a_file) {
    const char *dir = ql_test_tmpdir(t);
    char args[4096], path[1024];
    snprintf(path, sizeof path, "%s/log.txt", dir);
    /* stdout and stderr into one file, as `qlens perplexity ... > log 2>&1` */
    snprintf(args, sizeof args, "%s perplexity -m %s -f %s -c 64 --chunks 3 -t 2 > %s 2>&1",
             ql_test_qlens_bin(), ql_test_synth_model("llama"), wiki(), path);
    REQUIRE(system(args) == 0);
    char *log = (char *)ql_test_read_file(path, NULL);
    REQUIRE(log);
    /* header, values, estimate, timing: each on a line of its own */
    const char *values = strstr(log, "\n[1]");
    REQUIRE_MSG(values, "%s", log);
    values++;
    const char *end = strchr(values, '\n');
    REQUIRE(end);
    CHECK_MSG(end[-1] == ',' && strncmp(end + 1, "Final estimate: PPL = ", 22) == 0, "%s", log);
    const char *estimate_end = strchr(end + 1, '\n');
    REQUIRE(estimate_end);
    CHECK_MSG(strncmp(estimate_end + 1, "perplexity: evaluated ", 22) == 0, "%s", log);
    free(log);
}

/* One drawing of the sweep's bar: when it arrived and its text after "ETA ". */
typedef struct {
    double at;
    char eta[16];
    int step;
    char text[256];
} bar_draw;

static double eta_seconds(const char *eta) {
    int a = 0, b = 0, c = 0;
    const int n = sscanf(eta, "%d:%d:%d", &a, &b, &c);
    return n == 3 ? a * 3600.0 + b * 60.0 + c : n == 2 ? a * 60.0 + b : -1;
}

QL_TEST(sweep_progress_eta_from_tokens_moves_inside_each_run) {
    char dir[512], args[4096];
    snprintf(dir, sizeof dir, "%s/sweep", ql_test_tmpdir(t));
    /* four steps: a weight file, the reference and two runs of ten chunks each */
    snprintf(args, sizeof args,
             "sweep --ref %s --weights Q8_0 --cache f16/f16,q8_0/q8_0 -f %s -c 128 --chunks 10 "
             "--out %s -t 2",
             ql_test_synth_model("llama"), wiki(), dir);
    term_capture cap;
    REQUIRE(term_run_qlens(args, 200, &cap) == 0);
    int n_draws = 0, cap_draws = 256;
    bar_draw *draws = calloc((size_t)cap_draws, sizeof *draws);
    double step_lines[8];
    int n_step_lines = 0;
    for (size_t i = 0; i < cap.n; i++) {
        if (cap.n - i > 6 && memcmp(cap.bytes + i, "sweep [", 7) == 0) {
            const char *end = memchr(cap.bytes + i, '\033', cap.n - i);
            if (!end) break;
            if (n_draws == cap_draws)
                draws = realloc(draws, (size_t)(cap_draws *= 2) * sizeof *draws);
            bar_draw *d = &draws[n_draws++];
            memset(d, 0, sizeof *d);
            d->at = cap.arrived[i];
            const size_t len = (size_t)(end - (cap.bytes + i));
            snprintf(d->text, sizeof d->text, "%.*s", (int)(len < 255 ? len : 255), cap.bytes + i);
            const char *eta = strstr(d->text, "ETA ");
            if (eta) sscanf(eta + 4, "%15s", d->eta);
            const char *step = strstr(d->text, "step ");
            if (step) d->step = atoi(step + 5);
        } else if (cap.n - i > 7 && memcmp(cap.bytes + i, "sweep: ", 7) == 0 && n_step_lines < 8) {
            step_lines[n_step_lines++] = cap.arrived[i];
        }
    }
    CHECK_EQ_INT(n_step_lines, 4);
    REQUIRE_MSG(n_draws > 8, "%d bar drawings", n_draws);
    for (int i = 0; i < n_draws; i++)
        CHECK_MSG(!strstr(draws[i].text, "reference reference"), "%s", draws[i].text);
    /* steps 2-4 evaluate: after the reference's first chunk every ETA is a time, and within
       each of them it changes */
    for (int step = 2; step <= 4; step++) {
        char seen[64][16];
        int distinct = 0, with_eta = 0;
        for (int i = 0; i < n_draws; i++) {
            if (draws[i].step != step) continue;
            if (eta_seconds(draws[i].eta) >= 0) with_eta++;
            bool known = false;
            for (int k = 0; k < distinct; k++) known |= strcmp(seen[k], draws[i].eta) == 0;
            if (!known && distinct < 64) snprintf(seen[distinct++], 16, "%s", draws[i].eta);
        }
        CHECK_MSG(distinct >= 2, "step %d: the ETA never moved (%d drawings)", step, with_eta);
        if (step > 2) CHECK_MSG(with_eta > 0, "step %d shows no ETA", step);
    }
    for (int i = 0; i < n_draws; i++) {
        if (draws[i].step < 3) continue;
        CHECK_MSG(eta_seconds(draws[i].eta) >= 0, "no ETA in a run: %s", draws[i].text);
        /* from the measured rate: the right order of magnitude of what was left */
        const double left = cap.seconds - draws[i].at, shown = eta_seconds(draws[i].eta);
        if (left > 1.5)
            CHECK_MSG(shown <= 4 * left + 1 && shown >= left / 4 - 1, "ETA %s with %.1f s left: %s",
                      draws[i].eta, left, draws[i].text);
    }
    /* the bar comes back at once after every step but the last */
    for (int s = 0; s + 1 < n_step_lines; s++) {
        bool back = false;
        for (int i = 0; i < n_draws && !back; i++)
            back = draws[i].at >= step_lines[s] && draws[i].at - step_lines[s] < 0.5;
        CHECK_MSG(back, "no bar within 0.5 s of step line %d", s + 1);
    }
    free(draws);
    term_capture_free(&cap);
}

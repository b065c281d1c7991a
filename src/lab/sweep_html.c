/*
 * sweep_html.c - the sweep's report.html: one self-contained page (inline SVG
 * and CSS, no script, no network) that opens with the answer - for the budget
 * and the target context, the configuration to run, what it costs against
 * the best one and the runners-up that cannot be told apart from it - then
 * shows why: KLD against memory (budget, recommendation and Pareto front
 * marked), a K type x V type grid per weight quant, KLD against bits per
 * weight, KLD by context position, and the table.
 *
 * Plots are laid out in their viewBox's units and scale with the window.
 * Point labels are monospace, so their width is known here, and each is put
 * where it covers no other label and no mark (see place_label).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../include/qlens.h"
#include "../core/outfile.h"
#include "sweep.h"

#define MIB (1024.0 * 1024.0)
#define GIB (1024.0 * MIB)

static const char *tname(ql_type t) {
    return ql_type_name((int)t);
}

static void html_text(FILE *o, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", o);
            break;
        case '>':
            fputs("&gt;", o);
            break;
        case '&':
            fputs("&amp;", o);
            break;
        case '"':
            fputs("&quot;", o);
            break;
        case '\'':
            fputs("&#39;", o);
            break;
        default:
            fputc(*s, o);
        }
    }
}

/* "Q4_K_M q8_0/q5_1" */
static void config_name(const ql_sweep_row *w, char *buf, size_t size) {
    snprintf(buf, size, "%s %s/%s", w->weights, tname(w->k), tname(w->v));
}

static bool indistinct(const ql_sweep_row *r) {
    return r->has_prev && fabs(r->sigma) < QL_REC_INDISTINCT_SIGMA;
}

static bool runner_up(const ql_sweep_results *r, int i) {
    const ql_sweep_row *w = &r->rows[i];
    return r->rec.pick >= 0 && i != r->rec.pick && w->fits && w->vs_pick.valid &&
           fabs(w->vs_pick.sigma) < QL_REC_INDISTINCT_SIGMA;
}

/* Memory in the unit the page uses for it: MiB below 2 GiB, else GiB. */
typedef struct {
    double div;
    const char *name;
} mem_unit;

static mem_unit unit_for(uint64_t largest) {
    return (double)largest < 2 * GIB ? (mem_unit){MIB, "MiB"} : (mem_unit){GIB, "GiB"};
}

static void fmt_mem(uint64_t bytes, char *buf, size_t size) {
    if ((double)bytes < 2 * GIB)
        snprintf(buf, size, "%.1f MiB", (double)bytes / MIB);
    else
        snprintf(buf, size, "%.2f GiB", (double)bytes / GIB);
}

/* ---- colours and marks ---- */

/* Tableau 10: ten colours told apart by most readers, colour-blind ones included */
static const char *const palette[10] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                        "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#7f7f7f"};
enum { N_MARKERS = 4, N_DASHES = 3 };
static const char *const dashes[N_DASHES] = {"", "6 3", "2 3"};

/*
 * Style i of a series: colour i mod 10 and marker i mod 4 differ together for
 * 20 series; past that the dash pattern changes too (60 in all).
 */
typedef struct {
    int colour, marker, dash;
} series_style;

static series_style style_of(int i) {
    return (series_style){i % 10, i % N_MARKERS, (i / 20) % N_DASHES};
}

/* A marker centred on (x, y): circle, square, triangle or diamond. */
static void marker(FILE *o, int shape, double x, double y, double r, const char *fill,
                   const char *stroke, const char *cls) {
    switch (shape) {
    case 0:
        fprintf(o, "<circle class='%s' cx='%.1f' cy='%.1f' r='%.1f'", cls, x, y, r);
        break;
    case 1:
        fprintf(o, "<rect class='%s' x='%.1f' y='%.1f' width='%.1f' height='%.1f'", cls, x - r,
                y - r, 2 * r, 2 * r);
        break;
    case 2:
        fprintf(o, "<polygon class='%s' points='%.1f,%.1f %.1f,%.1f %.1f,%.1f'", cls, x,
                y - 1.2 * r, x + 1.1 * r, y + 0.8 * r, x - 1.1 * r, y + 0.8 * r);
        break;
    default:
        fprintf(o, "<polygon class='%s' points='%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f'", cls, x,
                y - 1.3 * r, x + 1.3 * r, y, x, y + 1.3 * r, x - 1.3 * r, y);
        break;
    }
    fprintf(o, " fill='%s' stroke='%s'/>", fill, stroke);
}

/* ---- axes ---- */

typedef struct {
    double p0, p1; /* pixel positions of lo and hi */
    double lo, hi; /* data range (log10 of it when log) */
    bool log;
} scale;

static double map(const scale *s, double v) {
    const double t = s->log ? log10(v > 1e-12 ? v : 1e-12) : v;
    return s->p0 + (s->p1 - s->p0) * (t - s->lo) / (s->hi - s->lo);
}

/* 1, 2 or 5 times a power of ten, giving about `target` steps over span */
static double nice_step(double span, int target) {
    const double raw = span / target, mag = pow(10, floor(log10(raw))), f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

static int decimals_for(double step) {
    const int d = (int)ceil(-log10(step) - 1e-9);
    return d < 0 ? 0 : d > 6 ? 6 : d;
}

typedef struct {
    int w, h, ml, mr, mt, mb;
} frame;

static void x_ticks_linear(FILE *o, const frame *f, const scale *x, double lo, double hi,
                           double step) {
    const int dec = decimals_for(step);
    for (double v = ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) {
        const double px = map(x, v);
        fprintf(o, "<line class='grid' x1='%.1f' x2='%.1f' y1='%d' y2='%d'/>", px, px, f->mt,
                f->h - f->mb);
        fprintf(o, "<text class='tick' x='%.1f' y='%d' text-anchor='middle'>%.*f</text>", px,
                f->h - f->mb + 16, dec, v);
    }
}

/* Decades of a log axis, with 2 and 5 between them when there are few decades. */
static void y_ticks_log(FILE *o, const frame *f, const scale *y) {
    const bool minor = y->hi - y->lo <= 2.5;
    for (int e = (int)floor(y->lo); e <= (int)ceil(y->hi); e++) {
        static const double mult[] = {1, 2, 5};
        for (int m = 0; m < (minor ? 3 : 1); m++) {
            const double v = mult[m] * pow(10, e), t = log10(v);
            if (t < y->lo - 1e-9 || t > y->hi + 1e-9) continue;
            const double py = map(y, v);
            fprintf(o, "<line class='grid%s' x1='%d' x2='%d' y1='%.1f' y2='%.1f'/>",
                    m ? " minor" : "", f->ml, f->w - f->mr, py, py);
            fprintf(o, "<text class='tick' x='%d' y='%.1f' text-anchor='end'>%g</text>", f->ml - 6,
                    py + 4, v);
        }
    }
}

static void axes(FILE *o, const frame *f, const char *xlabel, const char *ylabel) {
    fprintf(o, "<line class='axis' x1='%d' x2='%d' y1='%d' y2='%d'/>", f->ml, f->w - f->mr,
            f->h - f->mb, f->h - f->mb);
    fprintf(o, "<line class='axis' x1='%d' x2='%d' y1='%d' y2='%d'/>", f->ml, f->ml, f->mt,
            f->h - f->mb);
    fprintf(o, "<text class='label' x='%d' y='%d' text-anchor='middle'>",
            (f->ml + f->w - f->mr) / 2, f->h - 10);
    html_text(o, xlabel);
    const int cy = (f->mt + f->h - f->mb) / 2;
    fprintf(o,
            "</text><text class='label' x='16' y='%d' transform='rotate(-90 16 %d)' "
            "text-anchor='middle'>",
            cy, cy);
    html_text(o, ylabel);
    fprintf(o, "</text>");
}

/* The 1, 2 or 5 times a power of ten at or below v (up: at or above). */
static double round_125(double v, bool up) {
    const double mag = pow(10, floor(log10(v)));
    static const double steps[] = {1, 2, 5, 10};
    if (up) {
        for (int i = 0; i < 4; i++)
            if (steps[i] * mag >= v * (1 - 1e-9)) return steps[i] * mag;
        return 10 * mag;
    }
    for (int i = 3; i >= 0; i--)
        if (steps[i] * mag <= v * (1 + 1e-9)) return steps[i] * mag;
    return mag;
}

/* log10 range of the KLDs, from a 1-2-5 value below the lowest to one above the highest */
static void kld_range(const double *v, int n, double *lo, double *hi) {
    double a = INFINITY, b = -INFINITY;
    for (int i = 0; i < n; i++) {
        const double x = v[i] > 1e-12 ? v[i] : 1e-12;
        a = fmin(a, x), b = fmax(b, x);
    }
    /* a little room around the extremes, so that no mark sits on the frame */
    *lo = log10(round_125(a * 0.85, false)), *hi = log10(round_125(b * 1.15, true));
    if (!(*hi > *lo)) *hi = *lo + 1;
}

/* ---- label placement ---- */

enum { LABEL_PX = 11, MAX_BOXES = 1024 };
/* the advance of a monospace character at LABEL_PX (0.6 em), rounded up */
#define CHAR_W 6.8

typedef struct {
    double x0, y0, x1, y1;
} box;

typedef struct {
    box b[MAX_BOXES];
    int n;
    box area; /* labels stay inside */
} layout;

static bool overlaps(box a, box b) {
    return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1;
}

static void take(layout *l, box b) {
    if (l->n < MAX_BOXES) l->b[l->n++] = b;
}

static box mark_box(double x, double y, double r) {
    return (box){x - r - 1, y - r - 1, x + r + 1, y + r + 1};
}

typedef struct {
    double x, y;        /* text position (baseline) */
    const char *anchor; /* start, end, middle */
    bool leader;        /* far from its mark: draw a line to it */
} placed;

static int collisions(const layout *l, box b) {
    int n = 0;
    for (int i = 0; i < l->n; i++) n += overlaps(l->b[i], b);
    if (b.x0 < l->area.x0 || b.x1 > l->area.x1 || b.y0 < l->area.y0 || b.y1 > l->area.y1) n += 1000;
    return n;
}

/*
 * Finds a place for a label of `chars` characters beside a mark of radius r
 * at (px, py): right, left, above, below, the corners, then farther up and
 * down on either side with a leader line. The first place that covers no
 * label, no mark and stays inside the area wins; when there is none the one
 * with the fewest overlaps does. The label's box is taken.
 */
static placed place_label(layout *l, int chars, double px, double py, double r) {
    const double w = chars * CHAR_W, gap = r + 4;
    typedef struct {
        double dx, dy;
        int anchor; /* 0 start, 1 end, 2 middle */
    } spot;
    spot spots[64];
    int n = 0;
    const spot near[] = {{gap, 4, 0},           {-gap, 4, 1},        {gap - 2, -gap, 0},
                         {gap - 2, gap + 8, 0}, {-gap + 2, -gap, 1}, {-gap + 2, gap + 8, 1},
                         {0, -gap - 2, 2},      {0, gap + 10, 2}};
    for (size_t i = 0; i < sizeof near / sizeof near[0]; i++) spots[n++] = near[i];
    for (int k = 1; k <= 7 && n + 4 <= 64; k++) {
        const double dy = k * (LABEL_PX + 3);
        spots[n++] = (spot){gap + 6, 4 - dy, 0};
        spots[n++] = (spot){gap + 6, 4 + dy, 0};
        spots[n++] = (spot){-gap - 6, 4 - dy, 1};
        spots[n++] = (spot){-gap - 6, 4 + dy, 1};
    }
    int best = 0, best_hits = 1 << 30;
    box best_box = {0};
    for (int i = 0; i < n; i++) {
        const double x = px + spots[i].dx, y = py + spots[i].dy;
        const double x0 = spots[i].anchor == 0 ? x : spots[i].anchor == 1 ? x - w : x - w / 2;
        const box b = {x0 - 1, y - LABEL_PX + 1, x0 + w + 1, y + 3};
        const int hits = collisions(l, b);
        if (hits < best_hits) best = i, best_hits = hits, best_box = b;
        if (hits == 0) break;
    }
    take(l, best_box);
    static const char *const anchors[] = {"start", "end", "middle"};
    return (placed){px + spots[best].dx, py + spots[best].dy, anchors[spots[best].anchor],
                    fabs(spots[best].dy) > LABEL_PX + r + 10};
}

static void label_text(FILE *o, const placed *p, double px, double py, const char *cls,
                       const char *text) {
    if (p->leader) {
        const double lx = strcmp(p->anchor, "end") == 0 ? p->x + 2 : p->x - 2;
        fprintf(o, "<line class='leader' x1='%.1f' y1='%.1f' x2='%.1f' y2='%.1f'/>", px, py, lx,
                p->y - 4);
    }
    fprintf(o, "<text class='%s' x='%.1f' y='%.1f' text-anchor='%s'>", cls, p->x, p->y, p->anchor);
    html_text(o, text);
    fprintf(o, "</text>");
}

/* ---- the answer ---- */

static void answer(const ql_sweep_results *r, FILE *o) {
    const ql_recommendation *rec = &r->rec;
    char budget[32], ctx_note[96] = "";
    fmt_mem(r->budget, budget, sizeof budget);
    if (r->n_ctx_train > 0)
        snprintf(ctx_note, sizeof ctx_note, " (the model's trained context: %lld)",
                 (long long)r->n_ctx_train);
    fprintf(o, "<section id='answer'>\n<p class='question'>");
    if (r->budget)
        fprintf(o, "Budget <b>%s</b>, context <b>%lld tokens</b>%s.", budget,
                (long long)r->target_ctx, ctx_note);
    else
        fprintf(o, "Context <b>%lld tokens</b>%s, no memory budget given (<code>--budget</code>).",
                (long long)r->target_ctx, ctx_note);
    fprintf(o, "</p>\n");
    char name[160], mem[32];
    if (rec->beyond_trained) {
        fprintf(
            o,
            "<p class='pick none'>%lld tokens is past the model's trained context (%lld): no "
            "configuration is offered for it. Run the sweep with <code>--target-ctx %lld</code> "
            "or less.</p>\n</section>\n",
            (long long)r->target_ctx, (long long)r->n_ctx_train, (long long)r->n_ctx_train);
        return;
    }
    if (rec->pick < 0) {
        const ql_sweep_row *s = &r->rows[rec->smallest];
        config_name(s, name, sizeof name);
        fmt_mem(s->total_bytes_target, mem, sizeof mem);
        fprintf(o, "<p class='pick none'>No configuration fits: the smallest, ");
        html_text(o, name);
        fprintf(o, ", needs %s at %lld tokens.</p>\n</section>\n", mem, (long long)r->target_ctx);
        return;
    }
    const ql_sweep_row *p = &r->rows[rec->pick], *b = &r->rows[rec->best];
    fmt_mem(p->total_bytes_target, mem, sizeof mem);
    fprintf(o, "<p class='pick'>%s <b class='config'>", rec->no_budget ? "Lowest KLD:" : "Run");
    html_text(o, p->weights);
    fprintf(o,
            "</b> weights with a <b class='config'>%s/%s</b> KV cache: KLD %.4f ± %.4f, %s at %lld "
            "tokens (weights %.1f MiB + KV cache %.1f MiB + working buffers %.1f MiB).</p>\n",
            tname(p->k), tname(p->v), p->stats.kld.value, p->stats.kld.unc, mem,
            (long long)r->target_ctx, (double)p->weight_bytes / MIB,
            (double)p->kv_bytes_target / MIB, (double)p->work_bytes / MIB);
    fprintf(o, "<p class='cost'>");
    if (rec->pick == rec->best) {
        fprintf(o, "It is the lowest-KLD configuration of the sweep.");
    } else {
        char bmem[32], saved[32];
        config_name(b, name, sizeof name);
        fmt_mem(b->total_bytes_target, bmem, sizeof bmem);
        fmt_mem(b->total_bytes_target - p->total_bytes_target, saved, sizeof saved);
        fprintf(o, "What it costs against the best, ");
        html_text(o, name);
        fprintf(o, " (KLD %.4f, %s, over the budget): <b>%+.4f KLD</b>", b->stats.kld.value, bmem,
                p->stats.kld.value - b->stats.kld.value);
        if (b->vs_pick.valid)
            fprintf(o, " (± %.4f, %.1fσ, paired per token), KLD ×%.2f", b->vs_pick.se,
                    fabs(b->vs_pick.sigma),
                    b->stats.kld.value > 0 ? p->stats.kld.value / b->stats.kld.value : 0.0);
        fprintf(o, "; it saves %s.", saved);
    }
    fprintf(o, "</p>\n");
    int n = 0;
    for (int i = 0; i < r->n_rows; i++) n += runner_up(r, i);
    if (n == 0) {
        fprintf(o,
                "<p class='runners-up'>No other configuration within the budget is within %.0fσ "
                "of it on these tokens.</p>\n",
                QL_REC_INDISTINCT_SIGMA);
    } else {
        fprintf(o, "<p class='runners-up'>Runners-up within the budget that cannot be told apart "
                   "from it on these tokens (within 2σ, paired per token):</p>\n<ul "
                   "class='runners-up'>");
        for (int i = 0; i < r->n_rows; i++) {
            if (!runner_up(r, i)) continue;
            const ql_sweep_row *w = &r->rows[i];
            config_name(w, name, sizeof name);
            fmt_mem(w->total_bytes_target, mem, sizeof mem);
            fprintf(o, "<li>");
            html_text(o, name);
            fprintf(o, ": KLD %.4f (%+.4f ± %.4f, %.1fσ), %s</li>", w->stats.kld.value,
                    w->vs_pick.d_kld, w->vs_pick.se, fabs(w->vs_pick.sigma), mem);
        }
        fprintf(o, "</ul>\n");
    }
    fprintf(o, "</section>\n");
}

/* ---- KLD against memory ---- */

/* Rows on the Pareto front: lower KLD than every configuration that needs less memory. */
static void pareto(const ql_sweep_results *r, bool *front, int *order) {
    for (int i = 0; i < r->n_rows; i++) order[i] = i, front[i] = false;
    for (int i = 1; i < r->n_rows; i++)
        for (int k = i; k > 0; k--) {
            const ql_sweep_row *a = &r->rows[order[k]], *b = &r->rows[order[k - 1]];
            if (a->total_bytes_target > b->total_bytes_target ||
                (a->total_bytes_target == b->total_bytes_target &&
                 a->stats.kld.value >= b->stats.kld.value))
                break;
            const int t = order[k];
            order[k] = order[k - 1], order[k - 1] = t;
        }
    double best = INFINITY;
    for (int i = 0; i < r->n_rows; i++)
        if (r->rows[order[i]].stats.kld.value < best) {
            best = r->rows[order[i]].stats.kld.value;
            front[order[i]] = true;
        }
}

/* Index of a row's weights among the sweep's weights, in order of first appearance. */
static int weights_index(const ql_sweep_results *r, int row) {
    int idx = 0;
    for (int i = 0; i < r->n_rows; i++) {
        bool first = true;
        for (int k = 0; k < i && first; k++) first = strcmp(r->rows[k].weights, r->rows[i].weights);
        if (!first) continue;
        if (strcmp(r->rows[i].weights, r->rows[row].weights) == 0) return idx;
        idx++;
    }
    return 0;
}

static void plot_memory(const ql_sweep_results *r, FILE *o, const bool *front, const int *order) {
    const frame f = {900, 470, 72, 24, 24, 58};
    uint64_t largest = r->budget;
    for (int i = 0; i < r->n_rows; i++)
        if (r->rows[i].total_bytes_target > largest) largest = r->rows[i].total_bytes_target;
    const mem_unit u = unit_for(largest);
    double lo = INFINITY, hi = -INFINITY;
    double *klds = malloc((size_t)(r->n_rows > 0 ? r->n_rows : 1) * sizeof *klds);
    if (!klds) return;
    for (int i = 0; i < r->n_rows; i++) {
        const double x = (double)r->rows[i].total_bytes_target / u.div;
        lo = fmin(lo, x), hi = fmax(hi, x);
        klds[i] = r->rows[i].stats.kld.value;
    }
    if (r->budget) {
        lo = fmin(lo, (double)r->budget / u.div);
        hi = fmax(hi, (double)r->budget / u.div);
    }
    if (!(hi > lo)) lo -= 1, hi += 1;
    const double pad = (hi - lo) * 0.08;
    lo -= pad, hi += pad;
    scale x = {f.ml, f.w - f.mr, lo, hi, false}, y = {f.h - f.mb, f.mt, 0, 1, true};
    kld_range(klds, r->n_rows, &y.lo, &y.hi);
    free(klds);
    char xlabel[160];
    snprintf(xlabel, sizeof xlabel,
             "memory at %lld tokens (%s): weights + KV cache + working buffers",
             (long long)r->target_ctx, u.name);
    fprintf(o,
            "<svg id='plot-memory' class='plot' xmlns='http://www.w3.org/2000/svg' viewBox='0 0 "
            "%d %d' role='img'><title>KLD against memory at %lld tokens</title>",
            f.w, f.h, (long long)r->target_ctx);
    y_ticks_log(o, &f, &y);
    x_ticks_linear(o, &f, &x, lo, hi, nice_step(hi - lo, 7));
    axes(o, &f, xlabel, "mean KLD (log scale)");
    layout *l = calloc(1, sizeof *l);
    if (!l) return;
    l->area = (box){f.ml + 2, f.mt, f.w - f.mr, f.h - f.mb - 2};
    /* marks first, so that no label covers one */
    for (int i = 0; i < r->n_rows; i++)
        take(l, mark_box(map(&x, (double)r->rows[i].total_bytes_target / u.div),
                         map(&y, r->rows[i].stats.kld.value), i == r->rec.pick ? 10 : 5));
    double budget_x = -1;
    if (r->budget) {
        budget_x = map(&x, (double)r->budget / u.div);
        fprintf(o, "<line id='budget-line' class='budget' x1='%.1f' x2='%.1f' y1='%d' y2='%d'/>",
                budget_x, budget_x, f.mt, f.h - f.mb);
        take(l, (box){budget_x - 2, f.mt + 16, budget_x + 2, f.h - f.mb});
    }
    /* the front, from least memory to most */
    fprintf(o, "<polyline class='frontier' points='");
    double fx[2] = {0}, fy[2] = {0};
    int nf = 0;
    for (int i = 0; i < r->n_rows; i++) {
        const ql_sweep_row *w = &r->rows[order[i]];
        if (!front[order[i]]) continue;
        const double px = map(&x, (double)w->total_bytes_target / u.div),
                     py = map(&y, w->stats.kld.value);
        fprintf(o, "%.1f,%.1f ", px, py);
        if (nf < 2) fx[nf] = px, fy[nf] = py;
        nf++;
    }
    fprintf(o, "'/>");
    /* no label on the front's line either: it is taken in small steps along its segments */
    double prev_x = -1, prev_y = -1;
    for (int i = 0; i < r->n_rows; i++) {
        if (!front[order[i]]) continue;
        const ql_sweep_row *w = &r->rows[order[i]];
        const double px = map(&x, (double)w->total_bytes_target / u.div),
                     py = map(&y, w->stats.kld.value);
        if (prev_x >= 0) {
            const int steps = (int)(hypot(px - prev_x, py - prev_y) / 4) + 1;
            for (int k = 0; k <= steps; k++) {
                const double t = (double)k / steps;
                take(l, mark_box(prev_x + t * (px - prev_x), prev_y + t * (py - prev_y), 1.5));
            }
        }
        prev_x = px, prev_y = py;
    }
    for (int i = 0; i < r->n_rows; i++) {
        const ql_sweep_row *w = &r->rows[i];
        const double px = map(&x, (double)w->total_bytes_target / u.div),
                     py = map(&y, w->stats.kld.value);
        const char *colour = palette[weights_index(r, i) % 10];
        char name[160], mem[32];
        config_name(w, name, sizeof name);
        fmt_mem(w->total_bytes_target, mem, sizeof mem);
        if (i == r->rec.pick)
            fprintf(o,
                    "<circle id='recommended-mark' class='recommended' cx='%.1f' cy='%.1f' "
                    "r='10'/>",
                    px, py);
        fprintf(o, "<circle class='point%s' cx='%.1f' cy='%.1f' r='5' fill='%s'><title>",
                front[i] ? " front" : "", px, py, front[i] ? colour : "#fff");
        html_text(o, name);
        fprintf(o, ": KLD %.6f, %s</title></circle>", w->stats.kld.value, mem);
        if (!front[i])
            fprintf(o, "<circle class='ring' cx='%.1f' cy='%.1f' r='4' stroke='%s'/>", px, py,
                    colour);
    }
    /* labels: the recommendation first, then the front, then the rest */
    for (int pass = 0; pass < 3; pass++)
        for (int i = 0; i < r->n_rows; i++) {
            const bool is_pick = i == r->rec.pick;
            if ((pass == 0) != is_pick || (pass == 1 && (!front[i] || is_pick)) ||
                (pass == 2 && (front[i] || is_pick)))
                continue;
            const ql_sweep_row *w = &r->rows[i];
            char name[200];
            config_name(w, name, sizeof name);
            if (is_pick) strcat(name, " (recommended)");
            const double px = map(&x, (double)w->total_bytes_target / u.div),
                         py = map(&y, w->stats.kld.value);
            const placed p = place_label(l, (int)strlen(name), px, py, is_pick ? 10 : 5);
            label_text(o, &p, px, py, is_pick ? "point-label pick" : "point-label", name);
        }
    if (nf > 0) {
        /* the front's name beside its first segment */
        const double mx = nf > 1 ? (fx[0] + fx[1]) / 2 : fx[0],
                     my = nf > 1 ? (fy[0] + fy[1]) / 2 : fy[0];
        const placed p = place_label(l, 12, mx, my, 2);
        label_text(o, &p, mx, my, "point-label front-label", "Pareto front");
    }
    if (budget_x >= 0) {
        char text[64];
        fmt_mem(r->budget, text, sizeof text);
        char label[80];
        snprintf(label, sizeof label, "budget %s", text);
        const placed p = place_label(l, (int)strlen(label), budget_x, f.mt + 8, 1);
        label_text(o, &p, budget_x, f.mt + 8, "point-label budget-label", label);
    }
    free(l);
    fprintf(o, "</svg>\n");
}

/* ---- K x V grids ---- */

/* A heat colour for a KLD between the sweep's lowest and highest (log scale): green to red. */
static void heat(double kld, double lo, double hi, char *buf, size_t size) {
    const double t = hi > lo ? (log10(kld > 1e-12 ? kld : 1e-12) - lo) / (hi - lo) : 0;
    const double c = t < 0 ? 0 : t > 1 ? 1 : t;
    snprintf(buf, size, "hsl(%.0f,65%%,%.0f%%)", 120 * (1 - c), 82 - 10 * c);
}

static void grids(const ql_sweep_results *r, FILE *o) {
    ql_type ks[QL_TYPE_COUNT], vs[QL_TYPE_COUNT];
    int nk = 0, nv = 0;
    double lo = INFINITY, hi = -INFINITY;
    for (int i = 0; i < r->n_rows; i++) {
        bool have_k = false, have_v = false;
        for (int j = 0; j < nk; j++) have_k |= ks[j] == r->rows[i].k;
        for (int j = 0; j < nv; j++) have_v |= vs[j] == r->rows[i].v;
        if (!have_k) ks[nk++] = r->rows[i].k;
        if (!have_v) vs[nv++] = r->rows[i].v;
        const double t = log10(fmax(r->rows[i].stats.kld.value, 1e-12));
        lo = fmin(lo, t), hi = fmax(hi, t);
    }
    fprintf(o, "<div class='grids'>\n");
    for (int i = 0; i < r->n_rows; i++) {
        bool seen = false;
        for (int k = 0; k < i && !seen; k++)
            seen = strcmp(r->rows[k].weights, r->rows[i].weights) == 0;
        if (seen) continue;
        const ql_sweep_row *w0 = &r->rows[i];
        fprintf(o, "<table class='grid'><caption><b>");
        html_text(o, w0->weights);
        fprintf(o, "</b> %.2f bpw</caption><tr><th>K \\ V</th>", w0->weights_info.bits_per_weight);
        for (int c = 0; c < nv; c++) fprintf(o, "<th>%s</th>", tname(vs[c]));
        fprintf(o, "</tr>");
        for (int rk = 0; rk < nk; rk++) {
            fprintf(o, "<tr><th>%s</th>", tname(ks[rk]));
            for (int c = 0; c < nv; c++) {
                int hit = -1;
                for (int j = 0; j < r->n_rows && hit < 0; j++)
                    if (strcmp(r->rows[j].weights, w0->weights) == 0 && r->rows[j].k == ks[rk] &&
                        r->rows[j].v == vs[c])
                        hit = j;
                if (hit < 0) {
                    fprintf(o, "<td class='empty'>·</td>");
                    continue;
                }
                const ql_sweep_row *w = &r->rows[hit];
                char colour[48], mem[32];
                heat(w->stats.kld.value, lo, hi, colour, sizeof colour);
                fmt_mem(w->total_bytes_target, mem, sizeof mem);
                fprintf(o, "<td class='cell%s' style='background:%s'>%.4f<small>%s</small></td>",
                        hit == r->rec.pick ? " pick" : "", colour, w->stats.kld.value, mem);
            }
            fprintf(o, "</tr>");
        }
        fprintf(o, "</table>\n");
    }
    fprintf(o, "</div>\n");
}

/* ---- legends ---- */

static void legend_item(FILE *o, series_style s, bool extra, const char *text) {
    fprintf(o, "<li%s><svg viewBox='0 0 30 14' width='30' height='14'>",
            extra ? " class='extra'" : "");
    fprintf(
        o,
        "<line x1='1' x2='29' y1='7' y2='7' stroke='%s' stroke-width='2' stroke-dasharray='%s'/>",
        palette[s.colour], dashes[s.dash]);
    marker(o, s.marker, 15, 7, 4, palette[s.colour], palette[s.colour], "swatch");
    fprintf(o, "</svg>");
    html_text(o, text);
    fprintf(o, "</li>");
}

/* ---- KLD against bits per weight ---- */

static void plot_bpw(const ql_sweep_results *r, FILE *o) {
    const frame f = {900, 420, 72, 24, 24, 58};
    /* one series per K/V pair, in the order they first appear */
    ql_sweep_cache pairs[64];
    int np = 0;
    for (int i = 0; i < r->n_rows && np < 64; i++) {
        bool seen = false;
        for (int k = 0; k < np && !seen; k++)
            seen = pairs[k].k == r->rows[i].k && pairs[k].v == r->rows[i].v;
        if (!seen) pairs[np++] = (ql_sweep_cache){.k = r->rows[i].k, .v = r->rows[i].v};
    }
    double lo = INFINITY, hi = -INFINITY;
    double *klds = malloc((size_t)(r->n_rows > 0 ? r->n_rows : 1) * sizeof *klds);
    int *idx = malloc((size_t)(r->n_rows > 0 ? r->n_rows : 1) * sizeof *idx);
    layout *l = calloc(1, sizeof *l);
    if (!klds || !idx || !l) {
        free(klds), free(idx), free(l);
        return;
    }
    for (int i = 0; i < r->n_rows; i++) {
        lo = fmin(lo, r->rows[i].weights_info.bits_per_weight);
        hi = fmax(hi, r->rows[i].weights_info.bits_per_weight);
        klds[i] = r->rows[i].stats.kld.value;
    }
    if (!(hi > lo)) lo -= 0.5, hi += 0.5;
    const double pad = (hi - lo) * 0.08;
    lo -= pad, hi += pad;
    scale x = {f.ml, f.w - f.mr, lo, hi, false}, y = {f.h - f.mb, f.mt, 0, 1, true};
    kld_range(klds, r->n_rows, &y.lo, &y.hi);
    fprintf(o,
            "<svg id='plot-bpw' class='plot' xmlns='http://www.w3.org/2000/svg' viewBox='0 0 %d "
            "%d' role='img'><title>KLD against bits per weight</title>",
            f.w, f.h);
    y_ticks_log(o, &f, &y);
    x_ticks_linear(o, &f, &x, lo, hi, nice_step(hi - lo, 7));
    axes(o, &f, "bits per weight of the weights file", "mean KLD (log scale)");
    l->area = (box){f.ml + 2, f.mt, f.w - f.mr, f.h - f.mb - 2};
    for (int s = 0; s < np; s++) {
        const series_style st = style_of(s);
        int n = 0;
        for (int i = 0; i < r->n_rows; i++)
            if (r->rows[i].k == pairs[s].k && r->rows[i].v == pairs[s].v) idx[n++] = i;
        for (int a = 1; a < n; a++) /* by bits per weight */
            for (int b = a; b > 0 && r->rows[idx[b]].weights_info.bits_per_weight <
                                         r->rows[idx[b - 1]].weights_info.bits_per_weight;
                 b--) {
                const int t = idx[b];
                idx[b] = idx[b - 1], idx[b - 1] = t;
            }
        fprintf(o,
                "<g class='bpw-series' data-style='c%d-m%d-d%d'><polyline class='line' stroke='%s' "
                "stroke-dasharray='%s' points='",
                st.colour, st.marker, st.dash, palette[st.colour], dashes[st.dash]);
        for (int a = 0; a < n; a++)
            fprintf(o, "%.1f,%.1f ", map(&x, r->rows[idx[a]].weights_info.bits_per_weight),
                    map(&y, r->rows[idx[a]].stats.kld.value));
        fprintf(o, "'/>");
        for (int a = 0; a < n; a++) {
            const ql_sweep_row *w = &r->rows[idx[a]];
            const double px = map(&x, w->weights_info.bits_per_weight),
                         py = map(&y, w->stats.kld.value);
            marker(o, st.marker, px, py, 4.5, palette[st.colour], "#fff", "mark");
            take(l, mark_box(px, py, 5));
        }
        fprintf(o, "</g>");
    }
    /* the weights' names above the axis, each once */
    for (int i = 0; i < r->n_rows; i++) {
        bool seen = false;
        for (int k = 0; k < i && !seen; k++)
            seen = strcmp(r->rows[k].weights, r->rows[i].weights) == 0;
        if (seen) continue;
        const double px = map(&x, r->rows[i].weights_info.bits_per_weight), py = f.h - f.mb - 10;
        fprintf(o, "<line class='grid weights-tick' x1='%.1f' x2='%.1f' y1='%d' y2='%d'/>", px, px,
                f.mt, f.h - f.mb);
        const placed p = place_label(l, (int)strlen(r->rows[i].weights), px, py, 0);
        label_text(o, &p, px, py, "point-label", r->rows[i].weights);
    }
    fprintf(o, "</svg>\n<ul class='legend'>");
    for (int s = 0; s < np; s++) {
        char text[64];
        snprintf(text, sizeof text, "cache %s/%s", tname(pairs[s].k), tname(pairs[s].v));
        legend_item(o, style_of(s), false, text);
    }
    fprintf(o, "</ul>\n");
    free(klds), free(idx), free(l);
}

/* ---- KLD by position ---- */

enum { DEFAULT_LINES = 5 };

/* The band's lower edge: mean - its standard error, kept above zero for the log axis. */
static double band_low(ql_val_unc v) {
    return fmax(v.value - v.unc, v.value * 0.1);
}

static void plot_positions(const ql_sweep_results *r, FILE *o, const bool *front) {
    if (r->n_positions < 1 || r->n_rows < 1) return;
    const frame f = {900, 420, 72, 24, 24, 58};
    /* shown at first: the recommendation and the Pareto front, best first, up to 5 lines */
    bool *shown = calloc((size_t)r->n_rows, sizeof *shown);
    if (!shown) return;
    int n_shown = 0;
    if (r->rec.pick >= 0) shown[r->rec.pick] = true, n_shown++;
    for (int i = 0; i < r->n_rows && n_shown < DEFAULT_LINES; i++)
        if (front[i] && !shown[i]) shown[i] = true, n_shown++;
    double xlo = INFINITY, xhi = -INFINITY, ylo, yhi;
    for (int b = 0; b < r->n_positions; b++) {
        const ql_kld_bucket *k = &r->rows[0].buckets[b];
        const double mid = 0.5 * (k->pos_begin + k->pos_end);
        xlo = fmin(xlo, mid), xhi = fmax(xhi, mid);
    }
    double ends[2] = {INFINITY, 0};
    for (int i = 0; i < r->n_rows; i++)
        for (int b = 0; b < r->n_positions; b++) {
            const ql_val_unc v = r->rows[i].buckets[b].kld;
            ends[0] = fmin(ends[0], band_low(v));
            ends[1] = fmax(ends[1], v.value + v.unc);
        }
    kld_range(ends, 2, &ylo, &yhi);
    if (!(xhi > xlo)) xlo = xlo * 0.9, xhi = xhi * 1.1 + 1;
    xlo = fmax(xlo * 0.97, 1), xhi *= 1.03;
    scale x = {f.ml, f.w - f.mr, log10(xlo), log10(xhi), true},
          y = {f.h - f.mb, f.mt, ylo, yhi, true};
    fprintf(o,
            "<div class='positions'><input type='checkbox' id='show-all-positions'><label "
            "for='show-all-positions'>Show all %d configurations (%d shown: the recommendation and "
            "the Pareto front)</label>\n",
            r->n_rows, n_shown);
    fprintf(o,
            "<svg id='plot-positions' class='plot' xmlns='http://www.w3.org/2000/svg' viewBox='0 0 "
            "%d %d' role='img'><title>KLD by context position</title>",
            f.w, f.h);
    y_ticks_log(o, &f, &y);
    /* round positions on the log axis */
    const double step = nice_step(xhi - xlo, 6);
    for (double v = ceil(xlo / step) * step; v <= xhi; v += step) {
        const double px = map(&x, v);
        fprintf(o, "<line class='grid' x1='%.1f' x2='%.1f' y1='%d' y2='%d'/>", px, px, f.mt,
                f.h - f.mb);
        fprintf(o, "<text class='tick' x='%.1f' y='%d' text-anchor='middle'>%.0f</text>", px,
                f.h - f.mb + 16, v);
    }
    axes(o, &f, "position in the context (log scale)", "mean KLD per position bucket (log scale)");
    for (int i = 0; i < r->n_rows; i++) {
        const ql_sweep_row *w = &r->rows[i];
        const series_style st = style_of(i);
        char name[160];
        config_name(w, name, sizeof name);
        fprintf(o, "<g class='series%s' data-style='c%d-m%d-d%d'><title>", shown[i] ? "" : " extra",
                st.colour, st.marker, st.dash);
        html_text(o, name);
        fprintf(o, "</title>");
        /* the band: mean ± its standard error per bucket */
        fprintf(o, "<polygon class='band' fill='%s' points='", palette[st.colour]);
        for (int b = 0; b < r->n_positions; b++) {
            const ql_kld_bucket *k = &w->buckets[b];
            fprintf(o, "%.1f,%.1f ", map(&x, 0.5 * (k->pos_begin + k->pos_end)),
                    map(&y, k->kld.value + k->kld.unc));
        }
        for (int b = r->n_positions - 1; b >= 0; b--) {
            const ql_kld_bucket *k = &w->buckets[b];
            fprintf(o, "%.1f,%.1f ", map(&x, 0.5 * (k->pos_begin + k->pos_end)),
                    map(&y, band_low(k->kld)));
        }
        fprintf(o, "'/><polyline class='line' stroke='%s' stroke-dasharray='%s' points='",
                palette[st.colour], dashes[st.dash]);
        for (int b = 0; b < r->n_positions; b++) {
            const ql_kld_bucket *k = &w->buckets[b];
            fprintf(o, "%.1f,%.1f ", map(&x, 0.5 * (k->pos_begin + k->pos_end)),
                    map(&y, k->kld.value));
        }
        fprintf(o, "'/>");
        for (int b = 0; b < r->n_positions; b++) {
            const ql_kld_bucket *k = &w->buckets[b];
            marker(o, st.marker, map(&x, 0.5 * (k->pos_begin + k->pos_end)), map(&y, k->kld.value),
                   3.5, palette[st.colour], "#fff", "mark");
        }
        fprintf(o, "</g>");
    }
    fprintf(o, "</svg>\n<ul class='legend'>");
    for (int i = 0; i < r->n_rows; i++) {
        char name[200];
        config_name(&r->rows[i], name, sizeof name);
        if (i == r->rec.pick) strcat(name, " (recommended)");
        legend_item(o, style_of(i), !shown[i], name);
    }
    fprintf(o, "</ul></div>\n");
    free(shown);
}

/* ---- the table ---- */

/* A value with its standard error under it, both with `decimals` decimals. */
static void value_cell(FILE *o, int decimals, double v, double unc, const char *suffix) {
    fprintf(o, "<td>%.*f%s<small>± %.*f%s</small></td>", decimals, v, suffix, decimals, unc,
            suffix);
}

static void table(const ql_sweep_results *r, FILE *o) {
    char budget[32];
    fmt_mem(r->budget, budget, sizeof budget);
    fprintf(o,
            "<div class='scroll'><table id='results'><tr><th>#</th><th class='weights'>weights</th>"
            "<th>cache K</th><th>cache V</th><th>KLD</th><th>KLD 99.9%%</th><th>PPL</th><th>PPL "
            "ratio</th><th>same top p</th><th>weights</th><th>KV cache @ %lld</th><th>total @ "
            "%lld</th>",
            (long long)r->target_ctx, (long long)r->target_ctx);
    if (r->budget) fprintf(o, "<th>max context within %s</th>", budget);
    fprintf(o, "<th>vs the row above</th></tr>\n");
    for (int i = 0; i < r->n_rows; i++) {
        const ql_sweep_row *w = &r->rows[i];
        const ql_weights_info *wi = &w->weights_info;
        char mem[3][32];
        fmt_mem(w->weight_bytes, mem[0], sizeof mem[0]);
        fmt_mem(w->kv_bytes_target, mem[1], sizeof mem[1]);
        fmt_mem(w->total_bytes_target, mem[2], sizeof mem[2]);
        fprintf(o, "<tr class='%s%s%s'><td>%d</td><td class='weights'><b>",
                indistinct(w) ? "indistinct" : "", i == r->rec.pick ? " pick" : "",
                w->fits ? "" : " over", i + 1);
        html_text(o, w->weights);
        fprintf(o, "</b> <span class='bpw'>%.2f bpw</span>", wi->bits_per_weight);
        char note[256];
        ql_sweep_fallback_note(wi, note, sizeof note);
        if (note[0]) {
            /* the short form beside the name, the sentence on hover */
            fprintf(o, "<small class='fallback' title='");
            html_text(o, note);
            fprintf(o, "'>mostly %s: %lld/%lld matrices %s&#8594;%s (rows of %lld)</small>",
                    tname(wi->dominant), (long long)wi->n_fell_back, (long long)wi->n_converted,
                    tname(wi->wanted), tname(wi->fallback), (long long)wi->row_length);
        }
        fprintf(o, "</td><td>%s</td><td>%s</td>", tname(w->k), tname(w->v));
        value_cell(o, 5, w->stats.kld.value, w->stats.kld.unc, "");
        fprintf(o, "<td>%.4f</td>", w->stats.kld_pct[1]);
        value_cell(o, 3, w->stats.ppl_q.value, w->stats.ppl_q.unc, "");
        value_cell(o, 4, w->stats.ratio.value, w->stats.ratio.unc, "");
        value_cell(o, 2, 100 * w->stats.same_top.value, 100 * w->stats.same_top.unc, " %");
        fprintf(o, "<td>%s</td><td>%s</td><td>%s</td>", mem[0], mem[1], mem[2]);
        if (r->budget)
            fprintf(o, "<td>%lld%s</td>", (long long)w->max_ctx_budget,
                    w->max_ctx_is_trained ? "<small>(trained)</small>" : "");
        if (w->has_prev)
            fprintf(o, "<td>%+.5f<small>± %.5f (%.1fσ)%s</small></td></tr>\n", w->d_kld,
                    w->d_kld_se, w->sigma, indistinct(w) ? " indistinguishable" : "");
        else
            fprintf(o, "<td>-</td></tr>\n");
    }
    fprintf(o,
            "</table></div>\n<p class='meta'>The recommended row is green; grey rows do not fit "
            "the budget at %lld tokens. PPL is the model's perplexity on the scored tokens, its "
            "ratio PPL(Q)/PPL(reference); same top p is how often both predict the same most "
            "likely token.</p>\n",
            (long long)r->target_ctx);
}

static const char css[] =
    "*{box-sizing:border-box}"
    "body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;padding:16px 24px;color:#1d1d1f;"
    "max-width:1280px}"
    "h1{font-size:1.5em;margin:.2em 0}h2{font-size:1.15em;margin:1.6em 0 .4em}"
    "code{overflow-wrap:anywhere}"
    "#answer{border-left:6px solid #2f8f5b;background:#f1f8f3;padding:10px 18px;margin:12px 0}"
    "#answer p{margin:.35em 0}#answer .pick{font-size:1.2em}#answer .none{color:#a33}"
    "#answer ul{margin:.2em 0 .4em}"
    ".meta{color:#555;font-size:.9em}"
    ".plot{display:block;width:100%;height:auto;max-width:900px}"
    ".grid{stroke:#e6e6e6}.grid.minor{stroke:#f2f2f2}.axis{stroke:#444}"
    ".tick{font-size:11px;fill:#444}.label{font-size:12px;fill:#222}"
    ".frontier{fill:none;stroke:#222;stroke-dasharray:5 4;stroke-width:1.5}"
    ".budget{stroke:#c0392b;stroke-width:1.5;stroke-dasharray:7 4}"
    ".point{stroke:#222;stroke-width:1}.ring{fill:none;stroke-width:2}"
    ".recommended{fill:none;stroke:#2f8f5b;stroke-width:3}"
    ".point-label{font:11px ui-monospace,'DejaVu Sans Mono',monospace;fill:#333}"
    ".point-label.pick{fill:#1e6b41;font-weight:bold}.front-label{fill:#222;font-style:italic}"
    ".budget-label{fill:#c0392b}.leader{stroke:#999;stroke-width:.8}"
    ".line{fill:none;stroke-width:2}.band{opacity:.15;stroke:none}.mark{stroke-width:1}"
    ".positions .extra{display:none}"
    "#show-all-positions:checked~svg .extra{display:inline}"
    "#show-all-positions:checked~ul .extra{display:list-item}"
    ".legend{list-style:none;padding:0;margin:6px 0;display:flex;flex-wrap:wrap;gap:4px 18px;"
    "font-size:13px}"
    ".legend svg{vertical-align:middle;margin-right:4px}"
    ".grids{display:flex;flex-wrap:wrap;gap:18px}"
    "table{border-collapse:collapse;margin:8px 0;font-size:13px}"
    "td,th{border:1px solid #d0d0d0;padding:3px 7px;text-align:right;vertical-align:top;"
    "white-space:nowrap}"
    "th{background:#f3f3f3;white-space:normal}.weights{text-align:left;min-width:11em;"
    "white-space:normal}"
    "#results small{display:block;color:#666;font-size:11px;font-weight:normal}"
    ".bpw{color:#555}#results small.fallback{color:#8a5a00}"
    "tr.pick td{background:#e6f4ea;font-weight:bold}tr.indistinct td:last-child{color:#9a5b00}"
    "tr.over td{color:#888}"
    "table.grid caption{text-align:left;padding-bottom:2px}"
    "table.grid td{text-align:center;min-width:5.2em}table.grid small{display:block;color:#444;"
    "font-size:11px}"
    "table.grid td.pick{outline:3px solid #1e6b41;outline-offset:-3px;font-weight:bold}"
    ".scroll{overflow-x:auto;max-width:100%}"
    "@media (max-width:760px){body{padding:8px 12px;font-size:14px}td,th{padding:2px 4px}}";

static void html(const ql_sweep_results *r, FILE *o) {
    const char *stem = strrchr(r->ref_path, '/');
    stem = stem ? stem + 1 : r->ref_path;
    fprintf(o, "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
               "<meta name='viewport' content='width=device-width, initial-scale=1'><title>qlens "
               "sweep: ");
    html_text(o, stem);
    fprintf(o, "</title>\n<style>%s</style></head><body>\n<h1>Which configuration to run: ", css);
    html_text(o, stem);
    fprintf(o, "</h1>\n");
    answer(r, o);
    fprintf(o, "<p class='meta'>Reference <code>");
    html_text(o, r->ref_path);
    fprintf(o, "</code>, text <code>");
    html_text(o, r->text_path);
    fprintf(o,
            "</code>: %lld chunks of %lld tokens, rotation %s (%s). KLD is the mean KL divergence "
            "from the reference per scored token (lower is better); two configurations are "
            "indistinguishable when their paired per-token difference is under 2σ.</p>\n",
            (long long)r->n_chunks, (long long)r->n_ctx, r->rotate, r->hadamard);
    bool *front = calloc((size_t)(r->n_rows > 0 ? r->n_rows : 1), sizeof *front);
    int *order = calloc((size_t)(r->n_rows > 0 ? r->n_rows : 1), sizeof *order);
    if (front && order) {
        pareto(r, front, order);
        fprintf(o,
                "<h2>KLD against memory at %lld tokens</h2>\n<p>Filled points are on the Pareto "
                "front (the dashed line): nothing else has a lower KLD for less memory.%s</p>\n",
                (long long)r->target_ctx,
                r->budget ? " Right of the red line is over the budget." : "");
        plot_memory(r, o, front, order);
        fprintf(o, "<h2>K cache type × V cache type, per weight quant</h2>\n<p>Mean KLD and "
                   "memory at the target context; the recommendation is outlined.</p>\n");
        grids(r, o);
        fprintf(o, "<h2>KLD against bits per weight</h2>\n");
        plot_bpw(r, o);
        if (r->n_positions > 0) {
            fprintf(o, "<h2>KLD by context position</h2>\n<p>Mean KLD of the tokens in each "
                       "bucket of positions, ± its standard error (the band).</p>\n");
            plot_positions(r, o, front);
        }
    }
    free(front), free(order);
    fprintf(o, "<h2>Configurations</h2>\n");
    table(r, o);
    fprintf(o, "<p class='meta'>Generated by qlens %s.</p>\n</body></html>\n",
            QLENS_VERSION_STRING);
}

ql_status ql_sweep_write_html(const ql_sweep_results *r, const char *path, ql_error *err) {
    ql_outfile *of;
    ql_status st = ql_outfile_open(path, &of, err);
    if (st) return st;
    html(r, ql_outfile_stream(of));
    return ql_outfile_commit(of, err);
}

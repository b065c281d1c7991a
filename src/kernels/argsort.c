/*
 * argsort.c - std::sort's algorithm as GCC's libstdc++ implements it
 * (introsort: median-of-three quicksort down to ranges of 16, a heap sort
 * past 2 floor(log2 n) levels, then one insertion sort), on indices
 * compared by their values, greater first. Each helper is named after the
 * libstdc++ step it repeats; the order of comparisons and moves is theirs,
 * which is what decides where equal values end up.
 */
#include "argsort.h"

#include <stdbool.h>

enum { SORT_THRESHOLD = 16 };

typedef struct {
    const float *v;
    int32_t *a;
} sorter;

/* the comparison: element i ranks before element j */
static bool before(const sorter *s, int64_t i, int64_t j) {
    return s->v[s->a[i]] > s->v[s->a[j]];
}
static bool val_before(const sorter *s, int32_t val, int64_t j) {
    return s->v[val] > s->v[s->a[j]];
}
static bool before_val(const sorter *s, int64_t i, int32_t val) {
    return s->v[s->a[i]] > s->v[val];
}

static void swap_at(sorter *s, int64_t i, int64_t j) {
    const int32_t t = s->a[i];
    s->a[i] = s->a[j];
    s->a[j] = t;
}

static void push_heap(sorter *s, int64_t first, int64_t hole, int64_t top, int32_t val) {
    int64_t parent = (hole - 1) / 2;
    while (hole > top && before_val(s, first + parent, val)) {
        s->a[first + hole] = s->a[first + parent];
        hole = parent;
        parent = (hole - 1) / 2;
    }
    s->a[first + hole] = val;
}

static void adjust_heap(sorter *s, int64_t first, int64_t hole, int64_t len, int32_t val) {
    const int64_t top = hole;
    int64_t child = hole;
    while (child < (len - 1) / 2) {
        child = 2 * (child + 1);
        if (before(s, first + child, first + child - 1)) child--;
        s->a[first + hole] = s->a[first + child];
        hole = child;
    }
    if ((len & 1) == 0 && child == (len - 2) / 2) {
        child = 2 * (child + 1);
        s->a[first + hole] = s->a[first + child - 1];
        hole = child - 1;
    }
    push_heap(s, first, hole, top, val);
}

static void make_heap(sorter *s, int64_t first, int64_t last) {
    const int64_t len = last - first;
    if (len < 2) return;
    for (int64_t parent = (len - 2) / 2;; parent--) {
        adjust_heap(s, first, parent, len, s->a[first + parent]);
        if (parent == 0) return;
    }
}

static void heap_sort(sorter *s, int64_t first, int64_t last) {
    make_heap(s, first, last);
    while (last - first > 1) {
        --last;
        const int32_t val = s->a[last];
        s->a[last] = s->a[first];
        adjust_heap(s, first, 0, last - first, val);
    }
}

static void move_median_to_first(sorter *s, int64_t result, int64_t a, int64_t b, int64_t c) {
    if (before(s, a, b)) {
        if (before(s, b, c))
            swap_at(s, result, b);
        else if (before(s, a, c))
            swap_at(s, result, c);
        else
            swap_at(s, result, a);
    } else if (before(s, a, c))
        swap_at(s, result, a);
    else if (before(s, b, c))
        swap_at(s, result, c);
    else
        swap_at(s, result, b);
}

static int64_t unguarded_partition(sorter *s, int64_t first, int64_t last, int64_t pivot) {
    for (;;) {
        while (before(s, first, pivot)) ++first;
        --last;
        while (before(s, pivot, last)) --last;
        if (!(first < last)) return first;
        swap_at(s, first, last);
        ++first;
    }
}

static void introsort_loop(sorter *s, int64_t first, int64_t last, int64_t depth) {
    while (last - first > SORT_THRESHOLD) {
        if (depth == 0) {
            heap_sort(s, first, last);
            return;
        }
        --depth;
        const int64_t mid = first + (last - first) / 2;
        move_median_to_first(s, first, first + 1, mid, last - 1);
        const int64_t cut = unguarded_partition(s, first + 1, last, first);
        introsort_loop(s, cut, last, depth);
        last = cut;
    }
}

static void unguarded_linear_insert(sorter *s, int64_t last) {
    const int32_t val = s->a[last];
    int64_t next = last - 1;
    while (val_before(s, val, next)) {
        s->a[last] = s->a[next];
        last = next;
        --next;
    }
    s->a[last] = val;
}

static void insertion_sort(sorter *s, int64_t first, int64_t last) {
    if (first == last) return;
    for (int64_t i = first + 1; i != last; ++i) {
        if (before(s, i, first)) {
            const int32_t val = s->a[i];
            for (int64_t j = i; j > first; j--) s->a[j] = s->a[j - 1];
            s->a[first] = val;
        } else
            unguarded_linear_insert(s, i);
    }
}

void ql_argsort_desc(const float *value, int32_t *idx, int64_t n) {
    for (int64_t i = 0; i < n; i++) idx[i] = (int32_t)i;
    if (n < 2) return;
    sorter s = {.v = value, .a = idx};
    int64_t lg = 0;
    while ((n >> (lg + 1)) > 0) lg++;
    introsort_loop(&s, 0, n, 2 * lg);
    if (n > SORT_THRESHOLD) {
        insertion_sort(&s, 0, SORT_THRESHOLD);
        for (int64_t i = SORT_THRESHOLD; i != n; ++i) unguarded_linear_insert(&s, i);
    } else
        insertion_sort(&s, 0, n);
}

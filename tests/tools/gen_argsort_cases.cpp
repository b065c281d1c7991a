// Writes the expected results of tests/test_argsort.c: index orders that C++'s
// std::sort gives when ggml's CPU argsort ranks values greatest first, on arrays
// full of ties (whose order std::sort, being unstable, decides) and on arrays
// built by McIlroy's adversary, which drive introsort into its heap-sort fallback.
//
//   g++ -O2 -o /tmp/gen tests/tools/gen_argsort_cases.cpp && /tmp/gen > tests/data/argsort-std-sort.txt
//
// The file records which standard library produced it (GCC's libstdc++, the one
// llama.cpp is built with on Linux); each line is "n values... | indices...".
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

static uint64_t state = 20261203;
static uint32_t next_random() {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(state >> 33);
}

static void emit(const std::vector<float> &v) {
    std::vector<int32_t> idx(v.size());
    for (size_t i = 0; i < v.size(); i++) idx[i] = (int32_t)i;
    std::sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return v[a] > v[b]; });
    printf("%zu", v.size());
    for (float x : v) printf(" %.9g", x);
    printf(" |");
    for (int32_t i : idx) printf(" %d", i);
    printf("\n");
}

// McIlroy's "killer adversary": values fixed lazily as the sort compares them.
static std::vector<float> adversary(int n) {
    std::vector<int> val(n, -1);
    int solid = 0, candidate = -1;
    const int gas = n;
    std::vector<int32_t> idx(n);
    for (int i = 0; i < n; i++) idx[i] = i;
    std::sort(idx.begin(), idx.end(), [&](int32_t x, int32_t y) {
        if (val[x] == -1 && val[y] == -1) val[x == candidate ? x : y] = solid++;
        if (val[x] == -1) candidate = x;
        else if (val[y] == -1) candidate = y;
        const int vx = val[x] == -1 ? gas : val[x], vy = val[y] == -1 ? gas : val[y];
        return vx > vy;
    });
    std::vector<float> v(n);
    for (int i = 0; i < n; i++) v[i] = (float)(val[i] == -1 ? gas : val[i]);
    return v;
}

int main() {
    printf("# std::sort from GCC %d.%d libstdc++ %d, comparison v[a] > v[b]\n", __GNUC__,
           __GNUC_MINOR__, (int)__GLIBCXX__);
    // router-sized rows (8 to 512 experts) with few distinct probabilities
    const int sizes[] = {1, 2, 3, 8, 15, 16, 17, 18, 31, 32, 33, 60, 64, 128, 129, 256, 300, 512};
    for (int n : sizes)
        for (int levels : {1, 2, 3, 7})
            for (int rep = 0; rep < 2; rep++) {
                std::vector<float> v(n);
                for (int i = 0; i < n; i++) v[i] = (float)(next_random() % levels) * 0.125f;
                emit(v);
            }
    // patterns: ascending and descending runs with ties
    for (int n : {40, 100, 257}) {
        std::vector<float> a(n), d(n);
        for (int i = 0; i < n; i++) a[i] = (float)(i / 3), d[i] = (float)((n - i) / 5);
        emit(a);
        emit(d);
    }
    // the heap-sort fallback
    for (int n : {50, 200, 500}) emit(adversary(n));
    return 0;
}

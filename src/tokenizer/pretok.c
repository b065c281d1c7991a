/*
 * pretok.c - pre-tokenizer families and their hand-written split matchers.
 *
 * How llama.cpp evaluates a family, and therefore what the matchers mirror:
 * - Splits run in sequence; split k only ever sees one piece of split k-1,
 *   so "the end of the text" for a lookahead means the end of that piece.
 * - The GPT-2 and llama-3 patterns run through llama.cpp's hand-written fast
 *   paths, reproduced here step for step (they differ from a textbook regex
 *   engine in small ways, and the tokens follow the fast path).
 * - Every other pattern runs through std::regex over a copy of the text in
 *   which each non-ASCII character is replaced by a stand-in for its class
 *   (letter, number, punctuation, ...; any White_Space character becomes \v).
 *   So \s means ASCII white space or a non-ASCII White_Space character, and
 *   \p{X} tests the class of the character. Patterns without \p{..} run
 *   through std::wregex in the C locale, where only ASCII characters are
 *   white space, so non-ASCII White_Space characters are again replaced by
 *   \v first: they never fall inside the explicit ranges (for example U+3000
 *   in deepseek's [　-。]).
 * - Matches are found leftmost first, alternatives tried in order; text
 *   between matches becomes a piece of its own.
 */
#include "pretok.h"

#include <pthread.h>
#include <string.h>

#include "unicode.h"

/* ---- the families ---- */

#define RUN(c)                                                                                     \
    { SPLIT_RUN, (c), false, false }
#define RUN_AFTER_SPACE(c)                                                                         \
    { SPLIT_RUN, (c), true, false }
#define SINGLE(c)                                                                                  \
    { SPLIT_RUN, (c), false, true }

static const pretok_family family_gpt2 = {"gpt-2", 1, {{SPLIT_GPT2, CLASS_NONE, false, false}}};
static const pretok_family family_llama3 = {
    "llama3", 1, {{SPLIT_LLAMA3, CLASS_NONE, false, false}}};
static const pretok_family family_qwen2 = {"qwen2", 1, {{SPLIT_QWEN2, CLASS_NONE, false, false}}};
static const pretok_family family_starcoder = {
    "starcoder", 2, {SINGLE(CLASS_NUMBER), {SPLIT_GPT2, CLASS_NONE, false, false}}};
static const pretok_family family_falcon = {"falcon",
                                            3,
                                            {RUN(CLASS_PUNCT_FALCON),
                                             {SPLIT_GPT2, CLASS_NONE, false, false},
                                             {SPLIT_DIGITS3, CLASS_NONE, false, false}}};
static const pretok_family family_default = {"default",
                                             4,
                                             {RUN(CLASS_PUNCT_DEFAULT),
                                              {SPLIT_GPT2, CLASS_NONE, false, false},
                                              RUN(CLASS_NUMBER),
                                              {SPLIT_DIGITS3, CLASS_NONE, false, false}}};
static const pretok_family family_deepseek_coder = {
    "deepseek-coder",
    5,
    {SINGLE(CLASS_NEWLINE), RUN_AFTER_SPACE(CLASS_LETTER), RUN_AFTER_SPACE(CLASS_PUNCTUATION),
     RUN(CLASS_CJK), SINGLE(CLASS_NUMBER)}};
static const pretok_family family_deepseek_llm = {"deepseek-llm",
                                                  6,
                                                  {SINGLE(CLASS_NEWLINE),
                                                   RUN_AFTER_SPACE(CLASS_DEEPSEEK_LETTER),
                                                   RUN_AFTER_SPACE(CLASS_DEEPSEEK_PUNCT),
                                                   {SPLIT_TRAILING_SPACE, CLASS_NONE, false, false},
                                                   RUN(CLASS_CJK),
                                                   RUN(CLASS_NUMBER)}};

/* Names and the flags llama.cpp attaches to them (ignore_merges, add_bos,
 * clean_spaces, no_bos). Names that share a family share its split rules. */
static const pretok_config configs[] = {
    {"default", &family_default, false, false, true, false},
    {"llama3", &family_llama3, true, true, true, false},
    {"llama-v3", &family_llama3, true, true, true, false},
    {"llama-bpe", &family_llama3, true, true, true, false},
    {"falcon3", &family_llama3, true, true, true, false},
    {"falcon-h1", &family_llama3, true, true, true, false},
    {"pixtral", &family_llama3, true, true, true, false},
    {"midm-2.0", &family_llama3, true, true, true, false},
    {"lfm2", &family_llama3, true, true, true, false},
    {"jina-v5-nano", &family_llama3, true, true, true, false},
    {"dbrx", &family_llama3, false, false, true, false},
    {"smaug-bpe", &family_llama3, false, false, true, false},
    {"glm4", &family_llama3, false, false, true, true},
    {"chatglm-bpe", &family_llama3, false, false, true, true},
    {"deepseek-llm", &family_deepseek_llm, false, false, false, false},
    {"deepseek-coder", &family_deepseek_coder, false, false, false, false},
    {"falcon", &family_falcon, false, false, true, false},
    {"gpt-2", &family_gpt2, false, false, true, false},
    {"phi-2", &family_gpt2, false, false, true, false},
    {"jina-es", &family_gpt2, false, false, true, false},
    {"jina-de", &family_gpt2, false, false, true, false},
    {"gigachat", &family_gpt2, false, false, true, false},
    {"jina-v2-es", &family_gpt2, false, false, true, false},
    {"jina-v2-de", &family_gpt2, false, false, true, false},
    {"a.x-4.0", &family_gpt2, false, false, true, false},
    {"mellum", &family_gpt2, false, false, true, false},
    {"modern-bert", &family_gpt2, false, false, true, false},
    {"jina-v1-en", &family_gpt2, false, false, true, false},
    {"jina-v2-code", &family_gpt2, false, false, true, false},
    {"roberta-bpe", &family_gpt2, false, false, true, false},
    {"mpt", &family_gpt2, false, false, true, false},
    {"olmo", &family_gpt2, false, false, true, false},
    {"jais", &family_gpt2, false, false, true, false},
    {"exaone4", &family_gpt2, false, false, true, false},
    {"trillion", &family_gpt2, false, false, false, false},
    {"granite-docling", &family_gpt2, false, false, false, false},
    {"starcoder", &family_starcoder, false, false, true, false},
    {"refact", &family_starcoder, false, false, true, false},
    {"command-r", &family_starcoder, false, false, false, false},
    {"smollm", &family_starcoder, false, false, false, false},
    {"codeshell", &family_starcoder, false, false, true, false},
    {"exaone", &family_starcoder, false, false, true, false},
    {"minerva-7b", &family_starcoder, false, false, true, false},
    {"mellum2", &family_starcoder, false, false, true, false},
    {"qwen2", &family_qwen2, false, false, false, false},
    {"deepseek-r1-qwen", &family_qwen2, false, false, false, false},
    {"kormo", &family_qwen2, false, false, false, false},
    {"f2llmv2", &family_qwen2, false, false, false, false},
    {"stablelm2", &family_qwen2, false, false, true, false},
    {"megrez", &family_qwen2, false, false, true, false},
    {"hunyuan", &family_qwen2, false, false, false, false},
    {"solar-open", &family_qwen2, false, false, false, false},
};
enum { N_CONFIGS = sizeof configs / sizeof configs[0] };

const pretok_config *pretok_find(const char *name) {
    for (int i = 0; i < N_CONFIGS; i++)
        if (strcmp(configs[i].name, name) == 0) return &configs[i];
    return NULL;
}

static char names_list[1024];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

static void build_names_list(void) {
    size_t used = 0;
    for (int i = 0; i < N_CONFIGS; i++) {
        size_t n = strlen(configs[i].name);
        if (used + n + 3 >= sizeof names_list) break;
        if (i) {
            memcpy(names_list + used, ", ", 2);
            used += 2;
        }
        memcpy(names_list + used, configs[i].name, n);
        used += n;
    }
    names_list[used] = 0;
}

const char *pretok_names(void) {
    pthread_once(&names_once, build_names_list);
    return names_list;
}

/* ---- character classes ---- */

typedef struct {
    uint32_t first, last;
} cp_range;

/* deepseek-llm's letters, written out in its tokenizer.json as ranges of cased
 * letters. */
static const cp_range deepseek_letters[] = {
    {0x41, 0x5A},       {0x61, 0x7A},       {0xB5, 0xB5},       {0xC0, 0xD6},
    {0xD8, 0xF6},       {0xF8, 0x1BA},      {0x1BC, 0x1BF},     {0x1C4, 0x293},
    {0x295, 0x2AF},     {0x370, 0x373},     {0x376, 0x377},     {0x37B, 0x37D},
    {0x37F, 0x37F},     {0x386, 0x386},     {0x388, 0x38A},     {0x38C, 0x38C},
    {0x38E, 0x3A1},     {0x3A3, 0x3F5},     {0x3F7, 0x481},     {0x48A, 0x52F},
    {0x531, 0x556},     {0x10A0, 0x10C5},   {0x13A0, 0x13F5},   {0x13F8, 0x13FD},
    {0x1C90, 0x1CBA},   {0x1CBD, 0x1CBF},   {0x1D00, 0x1D2B},   {0x1D6B, 0x1D77},
    {0x1D79, 0x1D9A},   {0x1E00, 0x1F15},   {0x1F18, 0x1F1D},   {0x1F20, 0x1F45},
    {0x1F48, 0x1F4D},   {0x1F50, 0x1F57},   {0x1F59, 0x1F59},   {0x1F5B, 0x1F5B},
    {0x1F5D, 0x1F5D},   {0x1F5F, 0x1F7D},   {0x1F80, 0x1FB4},   {0x1FB6, 0x1FBC},
    {0x1FBE, 0x1FBE},   {0x1FC2, 0x1FC4},   {0x1FC6, 0x1FCC},   {0x1FD0, 0x1FD3},
    {0x1FD6, 0x1FDB},   {0x1FE0, 0x1FEC},   {0x1FF2, 0x1FF4},   {0x1FF6, 0x1FFC},
    {0x2102, 0x2102},   {0x2107, 0x2107},   {0x210A, 0x2113},   {0x2115, 0x2115},
    {0x2119, 0x211D},   {0x2124, 0x2124},   {0x2126, 0x2126},   {0x2128, 0x2128},
    {0x212A, 0x212D},   {0x212F, 0x2134},   {0x2139, 0x2139},   {0x213C, 0x213F},
    {0x2145, 0x2149},   {0x214E, 0x214E},   {0x2183, 0x2184},   {0x2C00, 0x2C7B},
    {0x2C7E, 0x2CE4},   {0x2CEB, 0x2CEE},   {0x2CF2, 0x2CF3},   {0xA640, 0xA66D},
    {0xA680, 0xA69B},   {0xA722, 0xA76F},   {0xA771, 0xA787},   {0xA78B, 0xA78E},
    {0xAB70, 0xABBF},   {0xFB00, 0xFB06},   {0xFB13, 0xFB17},   {0xFF21, 0xFF3A},
    {0xFF41, 0xFF5A},   {0x10400, 0x1044F}, {0x104B0, 0x104D3}, {0x104D8, 0x104FB},
    {0x10C80, 0x10CB2}, {0x10CC0, 0x10CF2}, {0x118A0, 0x118DF}, {0x1E900, 0x1E943},
};

/* [!-/:-~！-／：-～‘-‟　-。] */
static const cp_range deepseek_punct[] = {
    {0x21, 0x2F},     {0x3A, 0x7E},     {0xFF01, 0xFF0F},
    {0xFF1A, 0xFF5E}, {0x2018, 0x201F}, {0x3000, 0x3002},
};

static bool in_ranges(const cp_range *r, size_t n, uint32_t cp) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid].first)
            hi = mid;
        else if (cp > r[mid].last)
            lo = mid + 1;
        else
            return true;
    }
    return false;
}

static bool in_unsorted_ranges(const cp_range *r, size_t n, uint32_t cp) {
    for (size_t i = 0; i < n; i++)
        if (cp >= r[i].first && cp <= r[i].last) return true;
    return false;
}

static bool class_has(char_class cls, uint32_t cp, unsigned flags) {
    /* Explicit ranges see white space as \v (see the top of the file). */
    bool space = (flags & TOK_UCP_WHITESPACE) != 0;
    switch (cls) {
    case CLASS_NUMBER:
        return (flags & TOK_UCP_NUMBER) != 0;
    case CLASS_LETTER:
        return (flags & TOK_UCP_LETTER) != 0;
    case CLASS_PUNCTUATION:
        return (flags & TOK_UCP_PUNCTUATION) != 0;
    case CLASS_PUNCT_FALCON:
        return (flags & TOK_UCP_PUNCTUATION) || (cp < 0x80 && cp && strchr("$+<=>^~|`", (int)cp));
    case CLASS_PUNCT_DEFAULT:
        return (flags & TOK_UCP_PUNCTUATION) || (cp < 0x80 && cp && strchr("$+<=>^~|", (int)cp));
    case CLASS_NEWLINE:
        return cp == '\r' || cp == '\n';
    case CLASS_CJK:
        return !space && ((cp >= 0x0800 && cp <= 0x9FA5) || (cp >= 0xAC00 && cp <= 0xD7FF));
    case CLASS_DEEPSEEK_LETTER:
        return !space && in_ranges(deepseek_letters,
                                   sizeof deepseek_letters / sizeof deepseek_letters[0], cp);
    case CLASS_DEEPSEEK_PUNCT:
        return !space && in_unsorted_ranges(deepseek_punct,
                                            sizeof deepseek_punct / sizeof deepseek_punct[0], cp);
    case CLASS_NONE:
        break;
    }
    return false;
}

/* ---- the splitting machinery ---- */

typedef struct {
    const pretok_family *family;
    const uint8_t *text;
    size_t len;
    pretok_word_fn word;
    void *user;
} split_ctx;

static bool split_piece(split_ctx *c, int level, size_t start, size_t end);

/* Hands a piece to the next split (or out as a word); empty pieces vanish. */
static bool emit(split_ctx *c, int level, size_t start, size_t end) {
    if (start >= end) return true;
    if (level + 1 >= c->family->n_splits) return c->word(c->user, start, end);
    return split_piece(c, level + 1, start, end);
}

/* The code point at pos (or none past end) with its flags; *next is where the
 * following one starts. Flags are 0 outside the piece, as in llama.cpp. */
typedef struct {
    uint32_t cp;
    unsigned flags;
    size_t next;
} cp_info;

enum { OUT_OF_PIECE = 0xFFFFFFFFu };

static inline cp_info cp_at(const split_ctx *c, size_t pos, size_t end) {
    cp_info r;
    if (pos >= end) {
        r.cp = OUT_OF_PIECE;
        r.flags = 0;
        r.next = pos;
        return r;
    }
    if (c->text[pos] < 0x80) {
        r.cp = c->text[pos];
        r.next = pos + 1;
    } else {
        r.cp = tok_utf8_decode(c->text, c->len, pos, &r.next);
    }
    r.flags = tok_ucp_flags(r.cp);
    return r;
}

static inline uint32_t ascii_lower(uint32_t cp) {
    return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
}

/* Length in code points of a contraction 's 't 're 've 'm 'll 'd starting at
 * pos (which holds the apostrophe), or 0. fold: compare case-insensitively. */
static size_t contraction_end(const split_ctx *c, cp_info apostrophe, size_t end, bool fold) {
    if (apostrophe.next >= end) return 0;
    cp_info a = cp_at(c, apostrophe.next, end);
    uint32_t a_cp = fold ? ascii_lower(a.cp) : a.cp;
    if (a_cp == 's' || a_cp == 't' || a_cp == 'm' || a_cp == 'd') return a.next;
    if (a.next >= end) return 0;
    cp_info b = cp_at(c, a.next, end);
    uint32_t b_cp = fold ? ascii_lower(b.cp) : b.cp;
    if ((a_cp == 'r' && b_cp == 'e') || (a_cp == 'v' && b_cp == 'e') ||
        (a_cp == 'l' && b_cp == 'l'))
        return b.next;
    return 0;
}

#define LNW (TOK_UCP_LETTER | TOK_UCP_NUMBER | TOK_UCP_WHITESPACE)

/* llama.cpp's fast path for 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
 */
static bool split_gpt2(split_ctx *c, int level, size_t start, size_t end) {
    size_t pos = start;
    while (pos < end) {
        cp_info cur = cp_at(c, pos, end);
        if (cur.cp == '\'') {
            size_t e = contraction_end(c, cur, end, false);
            if (e) {
                if (!emit(c, level, pos, e)) return false;
                pos = e;
                continue;
            }
        }
        /* An optional leading space: classify by the character after it. */
        size_t body = pos;
        unsigned body_flags = cur.flags;
        if (cur.cp == ' ') {
            body = cur.next;
            body_flags = cp_at(c, body, end).flags;
        }
        unsigned want = 0;
        if (body_flags & TOK_UCP_LETTER)
            want = TOK_UCP_LETTER;
        else if (body_flags & TOK_UCP_NUMBER)
            want = TOK_UCP_NUMBER;
        if (want) {
            size_t q = body;
            for (cp_info x = cp_at(c, q, end); x.flags & want; x = cp_at(c, q, end)) q = x.next;
            if (!emit(c, level, pos, q)) return false;
            pos = q;
            continue;
        }
        if (!(body_flags & LNW) && body_flags) {
            size_t q = body;
            for (cp_info x = cp_at(c, q, end); !(x.flags & LNW) && x.flags; x = cp_at(c, q, end))
                q = x.next;
            if (!emit(c, level, pos, q)) return false;
            pos = q;
            continue;
        }
        /* White space: a run followed by more text keeps its last character
         * for the next word (\s+(?!\S)). */
        size_t q = pos, last = pos, n_space = 0;
        for (cp_info x = cp_at(c, q, end); x.flags & TOK_UCP_WHITESPACE; x = cp_at(c, q, end)) {
            last = q;
            q = x.next;
            n_space++;
        }
        if (n_space > 1 && q < end) {
            if (!emit(c, level, pos, last)) return false;
            pos = last;
            continue;
        }
        if (n_space > 0) {
            if (!emit(c, level, pos, q)) return false;
            pos = q;
            continue;
        }
        if (!emit(c, level, pos, cur.next)) return false;
        pos = cur.next;
    }
    return true;
}

/* llama.cpp's fast path for the llama-3 pattern
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
 * ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ Qwen2's pattern is the same with single digits;
 * std::regex and this procedure agree on it, so it runs here too with max_digits = 1. */
static bool split_llama3(split_ctx *c, int level, size_t start, size_t end, int max_digits) {
    size_t pos = start;
    while (pos < end) {
        cp_info cur = cp_at(c, pos, end);
        if (cur.cp == '\'') {
            size_t e = contraction_end(c, cur, end, true);
            if (e) {
                if (!emit(c, level, pos, e)) return false;
                pos = e;
                continue;
            }
        }
        /* [^\r\n\p{L}\p{N}]?\p{L}+ */
        if (!(cur.cp == '\r' || cur.cp == '\n' || (cur.flags & TOK_UCP_NUMBER))) {
            if ((cur.flags & TOK_UCP_LETTER) || (cp_at(c, cur.next, end).flags & TOK_UCP_LETTER)) {
                size_t q = cur.next;
                for (cp_info x = cp_at(c, q, end); x.flags & TOK_UCP_LETTER; x = cp_at(c, q, end))
                    q = x.next;
                if (!emit(c, level, pos, q)) return false;
                pos = q;
                continue;
            }
        }
        /* \p{N}{1,max_digits} */
        if (cur.flags & TOK_UCP_NUMBER) {
            size_t group = pos, q = pos;
            int n = 0;
            for (cp_info x = cp_at(c, q, end); x.flags & TOK_UCP_NUMBER; x = cp_at(c, q, end)) {
                q = x.next;
                if (++n == max_digits) {
                    if (!emit(c, level, group, q)) return false;
                    group = q;
                    n = 0;
                }
            }
            if (!emit(c, level, group, q)) return false;
            pos = q;
            continue;
        }
        /* ' '?[^\s\p{L}\p{N}]+[\r\n]* -- the fast path tests the flags of the
         * current character, not of the one after the space, for "non-empty". */
        size_t body = pos;
        unsigned body_flags = cur.flags;
        if (cur.cp == ' ') {
            body = cur.next;
            body_flags = cp_at(c, body, end).flags;
        }
        if (!(body_flags & LNW) && cur.flags) {
            size_t q = body;
            for (cp_info x = cp_at(c, q, end); !(x.flags & LNW) && x.flags; x = cp_at(c, q, end))
                q = x.next;
            for (cp_info x = cp_at(c, q, end); x.cp == '\r' || x.cp == '\n'; x = cp_at(c, q, end))
                q = x.next;
            if (!emit(c, level, pos, q)) return false;
            pos = q;
            continue;
        }
        /* White space: up to the last \r or \n of the run if it has one
         * (\s*[\r\n]+), else as in GPT-2. */
        size_t q = pos, last = pos, n_space = 0, after_newline = 0;
        for (cp_info x = cp_at(c, q, end); x.flags & TOK_UCP_WHITESPACE; x = cp_at(c, q, end)) {
            if (x.cp == '\r' || x.cp == '\n') after_newline = x.next;
            last = q;
            q = x.next;
            n_space++;
        }
        if (after_newline) {
            if (!emit(c, level, pos, after_newline)) return false;
            pos = after_newline;
            continue;
        }
        if (n_space > 1 && q < end) {
            if (!emit(c, level, pos, last)) return false;
            pos = last;
            continue;
        }
        if (n_space > 0) {
            if (!emit(c, level, pos, q)) return false;
            pos = q;
            continue;
        }
        if (!emit(c, level, pos, cur.next)) return false;
        pos = cur.next;
    }
    return true;
}

/* \s?C+, C+ or C: each match and each gap between matches is a piece. */
static bool split_run(split_ctx *c, int level, size_t start, size_t end, const pretok_split *s) {
    size_t gap = start, pos = start;
    while (pos < end) {
        cp_info cur = cp_at(c, pos, end);
        size_t body;
        if (s->space_lead && (cur.flags & TOK_UCP_WHITESPACE)) {
            cp_info nx = cp_at(c, cur.next, end);
            if (nx.next > cur.next && class_has(s->cls, nx.cp, nx.flags))
                body = cur.next;
            else if (class_has(s->cls, cur.cp, cur.flags))
                body = pos;
            else {
                pos = cur.next;
                continue;
            }
        } else if (class_has(s->cls, cur.cp, cur.flags)) {
            body = pos;
        } else {
            pos = cur.next;
            continue;
        }
        cp_info first = cp_at(c, body, end);
        size_t q = first.next;
        if (!s->single)
            for (cp_info x = cp_at(c, q, end); x.next > q && class_has(s->cls, x.cp, x.flags);
                 x = cp_at(c, q, end))
                q = x.next;
        if (!emit(c, level, gap, pos) || !emit(c, level, pos, q)) return false;
        gap = pos = q;
    }
    return emit(c, level, gap, end);
}

static inline bool ascii_digit_at(const split_ctx *c, size_t pos, size_t end) {
    return pos < end && c->text[pos] >= '0' && c->text[pos] <= '9';
}

/* [0-9][0-9][0-9]: ASCII digits are one byte each, so positions are bytes. */
static bool split_digits3(split_ctx *c, int level, size_t start, size_t end) {
    size_t gap = start, pos = start;
    while (pos < end) {
        if (ascii_digit_at(c, pos, end) && ascii_digit_at(c, pos + 1, end) &&
            ascii_digit_at(c, pos + 2, end)) {
            if (!emit(c, level, gap, pos) || !emit(c, level, pos, pos + 3)) return false;
            gap = pos = pos + 3;
        } else {
            pos = cp_at(c, pos, end).next;
        }
    }
    return emit(c, level, gap, end);
}

/* \s+$: the white space that ends the piece, if any, becomes its own piece. */
static bool split_trailing_space(split_ctx *c, int level, size_t start, size_t end) {
    size_t pos = start, run = end;
    bool in_run = false;
    while (pos < end) {
        cp_info x = cp_at(c, pos, end);
        if (x.flags & TOK_UCP_WHITESPACE) {
            if (!in_run) run = pos;
            in_run = true;
        } else {
            in_run = false;
        }
        pos = x.next;
    }
    if (!in_run) run = end;
    return emit(c, level, start, run) && emit(c, level, run, end);
}

static bool split_piece(split_ctx *c, int level, size_t start, size_t end) {
    const pretok_split *s = &c->family->splits[level];
    switch (s->kind) {
    case SPLIT_GPT2:
        return split_gpt2(c, level, start, end);
    case SPLIT_LLAMA3:
        return split_llama3(c, level, start, end, 3);
    case SPLIT_QWEN2:
        return split_llama3(c, level, start, end, 1);
    case SPLIT_RUN:
        return split_run(c, level, start, end, s);
    case SPLIT_DIGITS3:
        return split_digits3(c, level, start, end);
    case SPLIT_TRAILING_SPACE:
        return split_trailing_space(c, level, start, end);
    }
    return false;
}

bool pretokenize(const pretok_family *family, const uint8_t *text, size_t len, pretok_word_fn word,
                 void *user) {
    split_ctx c = {family, text, len, word, user};
    return emit(&c, -1, 0, len);
}

/*
 * regex.c - the ECMAScript-subset matcher declared in regex.h.
 *
 * Three stages: a recursive-descent parser builds a syntax tree; the tree is
 * compiled into a program for a small virtual machine (sets of bytes to
 * consume, assertions, jumps and two-way splits); and a search runs every
 * thread of that program in lock step over the text, starting a new thread
 * at each position. Because only "is there a match" is asked, thread
 * priorities (greedy versus lazy) do not matter and no backtracking is
 * needed: each program counter is visited at most once per text position.
 */
#include "regex.h"

#include "printable.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Limits that keep a hostile pattern from exhausting memory. */
enum { MAX_NODES = 4096, MAX_PROGRAM = 65536, MAX_REPEAT = 1000, MAX_DEPTH = 200 };

typedef struct {
    uint64_t bits[4];
} byte_set;

static void set_add(byte_set *s, unsigned c) {
    s->bits[c >> 6] |= (uint64_t)1 << (c & 63);
}
static bool set_has(const byte_set *s, unsigned c) {
    return (s->bits[c >> 6] >> (c & 63)) & 1;
}
static void set_add_range(byte_set *s, unsigned lo, unsigned hi) {
    for (unsigned c = lo; c <= hi; c++) set_add(s, c);
}
static void set_union(byte_set *s, const byte_set *o) {
    for (int i = 0; i < 4; i++) s->bits[i] |= o->bits[i];
}
static void set_invert(byte_set *s) {
    for (int i = 0; i < 4; i++) s->bits[i] = ~s->bits[i];
}

typedef enum {
    NODE_EMPTY,
    NODE_SET,     /* consumes one byte of sets[set] */
    NODE_BOL,     /* ^ */
    NODE_EOL,     /* $ */
    NODE_WORD_B,  /* \b */
    NODE_NWORD_B, /* \B */
    NODE_CONCAT,  /* left then right */
    NODE_ALT,     /* left or right */
    NODE_REPEAT,  /* left, min..max times (max -1: unbounded) */
} node_kind;

typedef struct {
    node_kind kind;
    int left, right; /* child node indices */
    int set;
    int min, max;
} node;

typedef enum {
    OP_SET, /* consume a byte in sets[arg] */
    OP_BOL,
    OP_EOL,
    OP_WORD_B,
    OP_NWORD_B,
    OP_JMP,   /* go to arg */
    OP_SPLIT, /* continue at arg and at arg2 */
    OP_MATCH,
} op_code;

typedef struct {
    op_code op;
    int arg, arg2;
} instruction;

struct ql_regex {
    char *pattern;
    byte_set *sets;
    int n_sets;
    instruction *program;
    int n_program;
};

typedef struct {
    const char *pattern;
    const char *shown; /* the pattern as messages quote it: one printable line */
    const char *p;     /* parse position */
    node *nodes;
    int n_nodes;
    byte_set *sets;
    int n_sets, cap_sets;
    int depth;
    ql_error *err;
    bool failed;
} parser;

static int parse_error(parser *ps, const char *what) {
    if (!ps->failed)
        ql_fail(ps->err, QL_ERR_ARG, "regex '%s': %s at offset %d", ps->shown, what,
                (int)(ps->p - ps->pattern));
    ps->failed = true;
    return -1;
}

static int new_node(parser *ps, node_kind kind, int left, int right) {
    if (ps->failed) return -1;
    if (ps->n_nodes >= MAX_NODES) return parse_error(ps, "pattern too long");
    node *n = &ps->nodes[ps->n_nodes];
    *n = (node){.kind = kind, .left = left, .right = right, .set = -1};
    return ps->n_nodes++;
}

static int new_set_node(parser *ps, const byte_set *s) {
    if (ps->failed) return -1;
    if (ps->n_sets == ps->cap_sets) {
        int cap = ps->cap_sets ? 2 * ps->cap_sets : 16;
        byte_set *grown = realloc(ps->sets, (size_t)cap * sizeof *grown);
        if (!grown) {
            ql_fail(ps->err, QL_ERR_NOMEM, "regex '%s': out of memory", ps->shown);
            ps->failed = true;
            return -1;
        }
        ps->sets = grown;
        ps->cap_sets = cap;
    }
    int id = new_node(ps, NODE_SET, -1, -1);
    if (id < 0) return -1;
    ps->sets[ps->n_sets] = *s;
    ps->nodes[id].set = ps->n_sets++;
    return id;
}

static void class_digit(byte_set *s) {
    set_add_range(s, '0', '9');
}
static void class_word(byte_set *s) {
    set_add_range(s, 'a', 'z');
    set_add_range(s, 'A', 'Z');
    set_add_range(s, '0', '9');
    set_add(s, '_');
}
static void class_space(byte_set *s) {
    const char *spaces = " \t\n\v\f\r";
    for (const char *c = spaces; *c; c++) set_add(s, (unsigned char)*c);
}

static int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/*
 * Parses the escape after a backslash (ps->p points past the '\'). Fills s
 * with the bytes it stands for; *single is the byte when it is one byte (for
 * ranges in classes), -1 for a class escape such as \d. in_class: \b means
 * backspace there. Assertions (\b \B outside classes) are handled by the caller.
 */
static bool parse_escape(parser *ps, byte_set *s, int *single, bool in_class) {
    char c = *ps->p;
    if (!c) return parse_error(ps, "pattern ends with a backslash"), false;
    ps->p++;
    *single = -1;
    memset(s, 0, sizeof *s);
    switch (c) {
    case 'd':
        class_digit(s);
        return true;
    case 'w':
        class_word(s);
        return true;
    case 's':
        class_space(s);
        return true;
    case 'D':
        class_digit(s);
        set_invert(s);
        return true;
    case 'W':
        class_word(s);
        set_invert(s);
        return true;
    case 'S':
        class_space(s);
        set_invert(s);
        return true;
    case 't':
        *single = '\t';
        break;
    case 'n':
        *single = '\n';
        break;
    case 'r':
        *single = '\r';
        break;
    case 'f':
        *single = '\f';
        break;
    case 'v':
        *single = '\v';
        break;
    case 'b':
        if (!in_class) return parse_error(ps, "internal: \\b outside a class"), false;
        *single = '\b';
        break;
    case '0':
        if (*ps->p >= '0' && *ps->p <= '9')
            return parse_error(ps, "octal escapes are not supported"), false;
        *single = 0;
        break;
    case 'x': {
        int hi = hex_value(ps->p[0]), lo = hi >= 0 ? hex_value(ps->p[1]) : -1;
        if (hi < 0 || lo < 0) return parse_error(ps, "\\x needs two hex digits"), false;
        ps->p += 2;
        *single = hi * 16 + lo;
        break;
    }
    case 'c': {
        char l = *ps->p;
        if (!((l >= 'a' && l <= 'z') || (l >= 'A' && l <= 'Z')))
            return parse_error(ps, "\\c needs a letter"), false;
        ps->p++;
        *single = l % 32;
        break;
    }
    default:
        if (c >= '1' && c <= '9')
            return parse_error(ps, "back-references are not supported"), false;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
            return parse_error(ps, "unknown escape"), false;
        *single = (unsigned char)c; /* \. \\ \[ \- ... stand for themselves */
        break;
    }
    set_add(s, (unsigned)*single);
    return true;
}

/* [...] with ps->p just past the '['. */
static int parse_class(parser *ps) {
    byte_set s = {{0}};
    bool negate = false;
    if (*ps->p == '^') {
        negate = true;
        ps->p++;
    }
    for (;;) {
        char c = *ps->p;
        if (!c) return parse_error(ps, "unterminated character class");
        if (c == ']') {
            ps->p++;
            break;
        }
        byte_set atom = {{0}};
        int lo;
        if (c == '\\') {
            ps->p++;
            if (!parse_escape(ps, &atom, &lo, true)) return -1;
        } else {
            lo = (unsigned char)c;
            set_add(&atom, (unsigned)lo);
            ps->p++;
        }
        /* a-b: both ends must be single bytes ([\d-z] is an error, as in std::regex) */
        if (*ps->p == '-' && ps->p[1] && ps->p[1] != ']') {
            if (lo < 0) return parse_error(ps, "a class escape cannot start a range");
            const char *dash = ps->p;
            ps->p++;
            byte_set hi_set;
            int hi;
            if (*ps->p == '\\') {
                ps->p++;
                if (!parse_escape(ps, &hi_set, &hi, true)) return -1;
            } else {
                hi = (unsigned char)*ps->p++;
            }
            if (hi < 0) {
                ps->p = dash;
                return parse_error(ps, "a class escape cannot end a range");
            }
            if (hi < lo) {
                ps->p = dash;
                return parse_error(ps, "character range out of order");
            }
            set_add_range(&s, (unsigned)lo, (unsigned)hi);
            continue;
        }
        set_union(&s, &atom);
    }
    if (negate) set_invert(&s);
    return new_set_node(ps, &s);
}

static int parse_alternation(parser *ps);

/* One atom, or an assertion (*is_assertion set: it takes no quantifier). */
static int parse_atom(parser *ps, bool *is_assertion) {
    *is_assertion = false;
    char c = *ps->p;
    byte_set s = {{0}};
    switch (c) {
    case '^':
        ps->p++;
        *is_assertion = true;
        return new_node(ps, NODE_BOL, -1, -1);
    case '$':
        ps->p++;
        *is_assertion = true;
        return new_node(ps, NODE_EOL, -1, -1);
    case '.':
        ps->p++;
        set_invert(&s);
        s.bits[0] &= ~(((uint64_t)1 << '\n') | ((uint64_t)1 << '\r'));
        return new_set_node(ps, &s);
    case '[':
        ps->p++;
        return parse_class(ps);
    case '(': {
        ps->p++;
        if (*ps->p == '?') {
            if (ps->p[1] != ':')
                return parse_error(ps, "lookarounds and named groups are not supported");
            ps->p += 2;
        }
        if (++ps->depth > MAX_DEPTH) return parse_error(ps, "groups nested too deeply");
        int inner = parse_alternation(ps);
        ps->depth--;
        if (inner < 0) return -1;
        if (*ps->p != ')') return parse_error(ps, "missing ')'");
        ps->p++;
        return inner;
    }
    case '\\': {
        ps->p++;
        if (*ps->p == 'b' || *ps->p == 'B') {
            *is_assertion = true;
            return new_node(ps, *ps->p++ == 'b' ? NODE_WORD_B : NODE_NWORD_B, -1, -1);
        }
        int single;
        if (!parse_escape(ps, &s, &single, false)) return -1;
        return new_set_node(ps, &s);
    }
    case '*':
    case '+':
    case '?':
        return parse_error(ps, "nothing to repeat");
    case '{':
        return parse_error(ps, "'{' must follow something to repeat (write \\{ for a brace)");
    case ')':
        return parse_error(ps, "unmatched ')'");
    default:
        ps->p++;
        set_add(&s, (unsigned char)c);
        return new_set_node(ps, &s);
    }
}

static bool parse_count(parser *ps, int *out) {
    if (*ps->p < '0' || *ps->p > '9') return false;
    long v = 0;
    while (*ps->p >= '0' && *ps->p <= '9') {
        v = v * 10 + (*ps->p++ - '0');
        if (v > MAX_REPEAT) v = MAX_REPEAT + 1;
    }
    *out = (int)v;
    return true;
}

/* A quantifier after an atom, if any; returns the (possibly wrapped) node. */
static int parse_quantifier(parser *ps, int atom) {
    int min, max;
    const char *start = ps->p;
    switch (*ps->p) {
    case '*':
        min = 0, max = -1, ps->p++;
        break;
    case '+':
        min = 1, max = -1, ps->p++;
        break;
    case '?':
        min = 0, max = 1, ps->p++;
        break;
    case '{':
        ps->p++;
        if (!parse_count(ps, &min)) {
            ps->p = start;
            return parse_error(ps,
                               "'{' must start a count {n}, {n,} or {n,m} (write \\{ for a brace)");
        }
        max = min;
        if (*ps->p == ',') {
            ps->p++;
            max = -1;
            if (*ps->p != '}' && !parse_count(ps, &max)) {
                ps->p = start;
                return parse_error(ps, "malformed count");
            }
        }
        if (*ps->p != '}') {
            ps->p = start;
            return parse_error(ps, "malformed count");
        }
        ps->p++;
        if (min > MAX_REPEAT || max > MAX_REPEAT) {
            ps->p = start;
            return parse_error(ps, "count above 1000");
        }
        if (max >= 0 && max < min) {
            ps->p = start;
            return parse_error(ps, "count {n,m} with m < n");
        }
        break;
    default:
        return atom;
    }
    if (*ps->p == '?') ps->p++; /* lazy: the same language, so the same answer */
    int n = new_node(ps, NODE_REPEAT, atom, -1);
    if (n < 0) return -1;
    ps->nodes[n].min = min;
    ps->nodes[n].max = max;
    /* std::regex reads a further quantifier as repeating the repetition: a** is (a*)* */
    return parse_quantifier(ps, n);
}

static int parse_sequence(parser *ps) {
    int seq = new_node(ps, NODE_EMPTY, -1, -1);
    while (!ps->failed && *ps->p && *ps->p != '|' && *ps->p != ')') {
        bool is_assertion;
        int term = parse_atom(ps, &is_assertion);
        if (term < 0) return -1;
        if (!is_assertion)
            term = parse_quantifier(ps, term);
        else if (*ps->p == '*' || *ps->p == '+' || *ps->p == '?' || *ps->p == '{')
            return parse_error(ps, "nothing to repeat");
        if (term < 0) return -1;
        seq = new_node(ps, NODE_CONCAT, seq, term);
    }
    return ps->failed ? -1 : seq;
}

static int parse_alternation(parser *ps) {
    int left = parse_sequence(ps);
    while (left >= 0 && *ps->p == '|') {
        ps->p++;
        int right = parse_sequence(ps);
        if (right < 0) return -1;
        left = new_node(ps, NODE_ALT, left, right);
    }
    return left;
}

/* --- compilation --- */

typedef struct {
    const node *nodes;
    instruction *program;
    int n_program;
    bool overflow;
} compiler;

static int emit(compiler *c, op_code op, int arg, int arg2) {
    if (c->n_program >= MAX_PROGRAM) {
        c->overflow = true;
        return c->n_program;
    }
    c->program[c->n_program] = (instruction){op, arg, arg2};
    return c->n_program++;
}

static void compile_node(compiler *c, int id) {
    if (c->overflow) return;
    const node *n = &c->nodes[id];
    switch (n->kind) {
    case NODE_EMPTY:
        break;
    case NODE_SET:
        emit(c, OP_SET, n->set, 0);
        break;
    case NODE_BOL:
        emit(c, OP_BOL, 0, 0);
        break;
    case NODE_EOL:
        emit(c, OP_EOL, 0, 0);
        break;
    case NODE_WORD_B:
        emit(c, OP_WORD_B, 0, 0);
        break;
    case NODE_NWORD_B:
        emit(c, OP_NWORD_B, 0, 0);
        break;
    case NODE_CONCAT:
        compile_node(c, n->left);
        compile_node(c, n->right);
        break;
    case NODE_ALT: {
        int split = emit(c, OP_SPLIT, 0, 0);
        compile_node(c, n->left);
        int jump = emit(c, OP_JMP, 0, 0);
        int right_start = c->n_program;
        compile_node(c, n->right);
        if (c->overflow) return;
        c->program[split].arg = split + 1;
        c->program[split].arg2 = right_start;
        c->program[jump].arg = c->n_program;
        break;
    }
    case NODE_REPEAT: {
        for (int i = 0; i < n->min && !c->overflow; i++) compile_node(c, n->left);
        if (n->max < 0) {
            /* loop: SPLIT body, out; body; JMP loop */
            int split = emit(c, OP_SPLIT, 0, 0);
            compile_node(c, n->left);
            emit(c, OP_JMP, split, 0);
            if (c->overflow) return;
            c->program[split].arg = split + 1;
            c->program[split].arg2 = c->n_program;
        } else {
            /* max - min optional copies, each one able to skip to the end */
            int n_optional = n->max - n->min;
            int first_split = c->n_program;
            for (int i = 0; i < n_optional && !c->overflow; i++) {
                emit(c, OP_SPLIT, 0, -1);
                compile_node(c, n->left);
            }
            if (c->overflow) return;
            for (int pc = first_split; pc < c->n_program; pc++)
                if (c->program[pc].op == OP_SPLIT && c->program[pc].arg2 == -1) {
                    c->program[pc].arg = pc + 1;
                    c->program[pc].arg2 = c->n_program;
                }
        }
        break;
    }
    }
}

void ql_regex_free(ql_regex *re) {
    if (!re) return;
    free(re->pattern);
    free(re->sets);
    free(re->program);
    free(re);
}

ql_status ql_regex_compile(const char *pattern, ql_regex **out, ql_error *err) {
    *out = NULL;
    /* the user typed the pattern: it may hold anything, a line break included */
    char shown[256];
    ql_printable(pattern, shown, sizeof shown);
    parser ps = {.pattern = pattern, .shown = shown, .p = pattern, .err = err};
    ps.nodes = malloc(MAX_NODES * sizeof *ps.nodes);
    if (!ps.nodes) return ql_fail(err, QL_ERR_NOMEM, "out of memory compiling a regex");
    int root = parse_alternation(&ps);
    if (root >= 0 && *ps.p == ')') root = parse_error(&ps, "unmatched ')'");
    if (root < 0) {
        free(ps.nodes);
        free(ps.sets);
        return err ? err->code : QL_ERR_ARG;
    }
    compiler c = {.nodes = ps.nodes, .program = malloc(MAX_PROGRAM * sizeof(instruction))};
    ql_regex *re = calloc(1, sizeof *re);
    if (!c.program || !re) {
        free(ps.nodes);
        free(ps.sets);
        free(c.program);
        free(re);
        return ql_fail(err, QL_ERR_NOMEM, "out of memory compiling a regex");
    }
    compile_node(&c, root);
    emit(&c, OP_MATCH, 0, 0);
    free(ps.nodes);
    re->sets = ps.sets;
    re->n_sets = ps.n_sets;
    re->program = c.program;
    re->n_program = c.n_program;
    re->pattern = malloc(strlen(pattern) + 1);
    if (re->pattern) strcpy(re->pattern, pattern);
    if (c.overflow || !re->pattern) {
        ql_regex_free(re);
        return c.overflow ? ql_fail(err, QL_ERR_ARG,
                                    "regex '%s': pattern expands too far "
                                    "(repetition counts too large)",
                                    shown)
                          : ql_fail(err, QL_ERR_NOMEM, "out of memory compiling a regex");
    }
    /* Shrink the program to its size; failure to shrink is harmless. */
    instruction *fit = realloc(re->program, (size_t)re->n_program * sizeof *fit);
    if (fit) re->program = fit;
    *out = re;
    return QL_OK;
}

const char *ql_regex_pattern(const ql_regex *re) {
    return re->pattern;
}

/* --- search --- */

static bool is_word_byte(int c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

typedef struct {
    int *pcs; /* threads waiting to consume the byte at the current position */
    int n;
} thread_list;

typedef struct {
    const ql_regex *re;
    const unsigned char *text;
    size_t len;
    unsigned *visited; /* generation at which each pc was last added */
    unsigned generation;
    int *stack;
} search_state;

/*
 * Adds pc and everything reachable from it without consuming a byte, at text
 * position pos, to list. Returns true when MATCH is reachable.
 */
static bool add_thread(search_state *st, thread_list *list, int start_pc, size_t pos) {
    int sp = 0;
    st->stack[sp++] = start_pc;
    while (sp > 0) {
        int pc = st->stack[--sp];
        if (st->visited[pc] == st->generation) continue;
        st->visited[pc] = st->generation;
        const instruction *in = &st->re->program[pc];
        int before = pos > 0 ? st->text[pos - 1] : -1;
        int here = pos < st->len ? st->text[pos] : -1;
        switch (in->op) {
        case OP_MATCH:
            return true;
        case OP_SET:
            list->pcs[list->n++] = pc;
            break;
        case OP_JMP:
            st->stack[sp++] = in->arg;
            break;
        case OP_SPLIT:
            st->stack[sp++] = in->arg2;
            st->stack[sp++] = in->arg;
            break;
        case OP_BOL:
            if (pos == 0) st->stack[sp++] = pc + 1;
            break;
        case OP_EOL:
            if (pos == st->len) st->stack[sp++] = pc + 1;
            break;
        case OP_WORD_B:
        case OP_NWORD_B: {
            bool boundary = is_word_byte(before) != is_word_byte(here);
            if (boundary == (in->op == OP_WORD_B)) st->stack[sp++] = pc + 1;
            break;
        }
        }
    }
    return false;
}

bool ql_regex_search(const ql_regex *re, const char *text) {
    int n = re->n_program;
    size_t len = strlen(text);
    /* Two thread lists of at most n each, and a closure stack: every pc is expanded once per
     * closure and pushes at most two successors, so the stack never holds more than 2n + 1. */
    int *buf = malloc(((size_t)n * 4 + 1) * sizeof(int));
    unsigned *visited = calloc((size_t)n, sizeof(unsigned));
    if (!buf || !visited) {
        free(buf);
        free(visited);
        return false;
    }
    thread_list current = {buf, 0}, next = {buf + n, 0};
    search_state st = {re, (const unsigned char *)text, len, visited, 0, buf + 2 * n};
    bool matched = false;
    for (size_t pos = 0; !matched; pos++) {
        st.generation++;
        /* Threads carried from the previous byte first, then a new start here. */
        thread_list arrived = next;
        next.n = 0;
        current.n = 0;
        for (int i = 0; i < arrived.n && !matched; i++)
            matched = add_thread(&st, &current, arrived.pcs[i] + 1, pos);
        if (!matched) matched = add_thread(&st, &current, 0, pos);
        if (matched || pos == len) break;
        unsigned char byte = st.text[pos];
        for (int i = 0; i < current.n; i++) {
            const instruction *in = &re->program[current.pcs[i]];
            if (set_has(&re->sets[in->arg], byte)) next.pcs[next.n++] = current.pcs[i];
        }
    }
    free(buf);
    free(visited);
    return matched;
}

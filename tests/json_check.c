/*
 * json_check.c - the strict test-side JSON parser (see json_check.h).
 * Recursive descent with a depth limit; every rejection names the offset.
 */
#include "json_check.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const unsigned char *s;
    size_t len, pos;
    int depth;
    char *why;
    size_t why_size;
    bool failed;
} parser;

static void fail(parser *p, const char *what) {
    if (p->failed) return;
    p->failed = true;
    if (p->why) snprintf(p->why, p->why_size, "%s at byte %zu", what, p->pos);
}

static void skip_ws(parser *p) {
    while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
                               p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
        p->pos++;
}

static jc_node *new_node(jc_kind k) {
    jc_node *n = calloc(1, sizeof *n);
    if (!n) abort();
    n->kind = k;
    return n;
}

void jc_free(jc_node *n) {
    if (!n) return;
    for (size_t i = 0; i < n->n; i++) {
        jc_free(n->items[i]);
        if (n->keys) free(n->keys[i]);
    }
    free(n->items);
    free(n->keys);
    free(n->str);
    free(n);
}

typedef struct {
    char *p;
    size_t len, cap;
} sbuf;

static void sb_put(sbuf *b, const void *src, size_t n) {
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 32;
        while (cap < b->len + n + 1) cap *= 2;
        b->p = realloc(b->p, cap);
        if (!b->p) abort();
        b->cap = cap;
    }
    memcpy(b->p + b->len, src, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_utf8(sbuf *b, unsigned cp) {
    unsigned char u[4];
    size_t n;
    if (cp < 0x80)
        u[0] = (unsigned char)cp, n = 1;
    else if (cp < 0x800)
        u[0] = (unsigned char)(0xC0 | cp >> 6), u[1] = (unsigned char)(0x80 | (cp & 63)), n = 2;
    else if (cp < 0x10000)
        u[0] = (unsigned char)(0xE0 | cp >> 12), u[1] = (unsigned char)(0x80 | (cp >> 6 & 63)),
        u[2] = (unsigned char)(0x80 | (cp & 63)), n = 3;
    else
        u[0] = (unsigned char)(0xF0 | cp >> 18), u[1] = (unsigned char)(0x80 | (cp >> 12 & 63)),
        u[2] = (unsigned char)(0x80 | (cp >> 6 & 63)), u[3] = (unsigned char)(0x80 | (cp & 63)),
        n = 4;
    sb_put(b, u, n);
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool read_hex4(parser *p, unsigned *out) {
    if (p->len - p->pos < 4) return false;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p->s[p->pos + (size_t)i]);
        if (h < 0) return false;
        v = v << 4 | (unsigned)h;
    }
    p->pos += 4;
    *out = v;
    return true;
}

/* Length of a valid UTF-8 sequence at the cursor, 0 if invalid (same rules as RFC 3629). */
static size_t utf8_len(const parser *p) {
    const unsigned char *s = p->s + p->pos;
    size_t left = p->len - p->pos;
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        return 0;
    if (left < n || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return n;
}

static bool parse_string(parser *p, char **out, size_t *out_len) {
    sbuf b = {0};
    sb_put(&b, "", 0);
    p->pos++; /* opening quote */
    for (;;) {
        if (p->pos >= p->len) {
            fail(p, "unterminated string");
            free(b.p);
            return false;
        }
        unsigned char c = p->s[p->pos];
        if (c == '"') {
            p->pos++;
            break;
        }
        if (c < 0x20) {
            fail(p, "raw control character in string");
            free(b.p);
            return false;
        }
        if (c == '\\') {
            p->pos++;
            if (p->pos >= p->len) {
                fail(p, "unterminated escape");
                free(b.p);
                return false;
            }
            unsigned char e = p->s[p->pos++];
            const char *simple = NULL;
            switch (e) {
            case '"':
                simple = "\"";
                break;
            case '\\':
                simple = "\\";
                break;
            case '/':
                simple = "/";
                break;
            case 'b':
                simple = "\b";
                break;
            case 'f':
                simple = "\f";
                break;
            case 'n':
                simple = "\n";
                break;
            case 'r':
                simple = "\r";
                break;
            case 't':
                simple = "\t";
                break;
            case 'u':
                break;
            default:
                fail(p, "invalid escape");
                free(b.p);
                return false;
            }
            if (simple) {
                sb_put(&b, simple, 1);
                continue;
            }
            unsigned cp;
            if (!read_hex4(p, &cp)) {
                fail(p, "bad \\u escape");
                free(b.p);
                return false;
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                unsigned lo;
                if (p->len - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u') {
                    fail(p, "lone high surrogate");
                    free(b.p);
                    return false;
                }
                p->pos += 2;
                if (!read_hex4(p, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                    fail(p, "bad low surrogate");
                    free(b.p);
                    return false;
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                fail(p, "lone low surrogate");
                free(b.p);
                return false;
            }
            sb_utf8(&b, cp);
            continue;
        }
        size_t n = utf8_len(p);
        if (n == 0) {
            fail(p, "invalid UTF-8");
            free(b.p);
            return false;
        }
        sb_put(&b, p->s + p->pos, n);
        p->pos += n;
    }
    *out = b.p;
    *out_len = b.len;
    return true;
}

static bool is_digit(unsigned char c) {
    return c >= '0' && c <= '9';
}

static jc_node *parse_number(parser *p) {
    size_t start = p->pos;
    if (p->pos < p->len && p->s[p->pos] == '-') p->pos++;
    if (p->pos >= p->len || !is_digit(p->s[p->pos])) {
        fail(p, "bad number");
        return NULL;
    }
    if (p->s[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->len && is_digit(p->s[p->pos])) {
            fail(p, "leading zero");
            return NULL;
        }
    } else {
        while (p->pos < p->len && is_digit(p->s[p->pos])) p->pos++;
    }
    if (p->pos < p->len && p->s[p->pos] == '.') {
        p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos])) {
            fail(p, "no digits after the decimal point");
            return NULL;
        }
        while (p->pos < p->len && is_digit(p->s[p->pos])) p->pos++;
    }
    if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
        p->pos++;
        if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-')) p->pos++;
        if (p->pos >= p->len || !is_digit(p->s[p->pos])) {
            fail(p, "no digits in the exponent");
            return NULL;
        }
        while (p->pos < p->len && is_digit(p->s[p->pos])) p->pos++;
    }
    char tmp[400];
    size_t n = p->pos - start;
    if (n >= sizeof tmp) {
        fail(p, "number too long for this checker");
        return NULL;
    }
    memcpy(tmp, p->s + start, n);
    tmp[n] = '\0';
    jc_node *node = new_node(JC_NUMBER);
    node->number = strtod(tmp, NULL);
    return node;
}

static bool literal(parser *p, const char *word) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->s + p->pos, word, n) != 0) return false;
    p->pos += n;
    return true;
}

static void push(jc_node *n, char *key, jc_node *item) {
    n->items = realloc(n->items, (n->n + 1) * sizeof *n->items);
    if (!n->items) abort();
    if (n->kind == JC_OBJECT) {
        n->keys = realloc(n->keys, (n->n + 1) * sizeof *n->keys);
        if (!n->keys) abort();
        n->keys[n->n] = key;
    }
    n->items[n->n++] = item;
}

static jc_node *parse_value(parser *p);

static jc_node *parse_container(parser *p, bool object) {
    if (++p->depth > 256) {
        fail(p, "nested too deeply");
        return NULL;
    }
    p->pos++;
    jc_node *n = new_node(object ? JC_OBJECT : JC_ARRAY);
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == (object ? '}' : ']')) {
        p->pos++;
        p->depth--;
        return n;
    }
    for (;;) {
        char *key = NULL;
        if (object) {
            size_t klen;
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != '"') {
                fail(p, "expected a key");
                jc_free(n);
                return NULL;
            }
            if (!parse_string(p, &key, &klen)) {
                jc_free(n);
                return NULL;
            }
            skip_ws(p);
            if (p->pos >= p->len || p->s[p->pos] != ':') {
                fail(p, "expected ':'");
                free(key);
                jc_free(n);
                return NULL;
            }
            p->pos++;
        }
        jc_node *item = parse_value(p);
        if (!item) {
            free(key);
            jc_free(n);
            return NULL;
        }
        push(n, key, item);
        skip_ws(p);
        if (p->pos < p->len && p->s[p->pos] == ',') {
            p->pos++;
            continue;
        }
        if (p->pos < p->len && p->s[p->pos] == (object ? '}' : ']')) {
            p->pos++;
            break;
        }
        fail(p, object ? "expected ',' or '}'" : "expected ',' or ']'");
        jc_free(n);
        return NULL;
    }
    p->depth--;
    return n;
}

static jc_node *parse_value(parser *p) {
    skip_ws(p);
    if (p->pos >= p->len) {
        fail(p, "expected a value");
        return NULL;
    }
    unsigned char c = p->s[p->pos];
    if (c == '{') return parse_container(p, true);
    if (c == '[') return parse_container(p, false);
    if (c == '"') {
        jc_node *n = new_node(JC_STRING);
        if (!parse_string(p, &n->str, &n->len)) {
            jc_free(n);
            return NULL;
        }
        return n;
    }
    if (c == '-' || is_digit(c)) return parse_number(p);
    if (literal(p, "true") || literal(p, "false")) {
        jc_node *n = new_node(JC_BOOL);
        n->boolean = p->s[p->pos - 1] == 'e' && p->s[p->pos - 2] == 'u';
        return n;
    }
    if (literal(p, "null")) return new_node(JC_NULL);
    fail(p, "unexpected character");
    return NULL;
}

jc_node *jc_parse(const char *text, size_t len, char *why, size_t why_size) {
    parser p = {.s = (const unsigned char *)text, .len = len, .why = why, .why_size = why_size};
    if (why && why_size) why[0] = '\0';
    jc_node *n = parse_value(&p);
    if (!n) return NULL;
    skip_ws(&p);
    if (p.pos != p.len) {
        fail(&p, "text after the value");
        jc_free(n);
        return NULL;
    }
    return n;
}

const jc_node *jc_get(const jc_node *obj, const char *key) {
    if (!obj || obj->kind != JC_OBJECT) return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0) return obj->items[i];
    return NULL;
}

const jc_node *jc_at(const jc_node *arr, size_t i) {
    return arr && arr->kind == JC_ARRAY && i < arr->n ? arr->items[i] : NULL;
}

double jc_num(const jc_node *obj, const char *key) {
    const jc_node *n = jc_get(obj, key);
    return n && n->kind == JC_NUMBER ? n->number : NAN;
}

const char *jc_str(const jc_node *obj, const char *key) {
    const jc_node *n = jc_get(obj, key);
    return n && n->kind == JC_STRING ? n->str : NULL;
}

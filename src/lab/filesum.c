/*
 * filesum.c - see filesum.h.
 */
#include "filesum.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/outfile.h"
#include "../core/printable.h"

enum { MAX_ENTRIES = 1024, SHOWN_PATH_MAX = 512 };

typedef struct {
    char hex[QL_SHA256_HEX_SIZE];
    uint64_t size, dev, ino;
    int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
    char shown[SHOWN_PATH_MAX];
} sum_entry;

struct ql_sum_cache {
    sum_entry *entries;
    int n, cap;
    bool changed;
    int hashed;
};

static void identity_of(const struct stat *sb, sum_entry *e) {
    e->size = (uint64_t)sb->st_size;
    e->dev = (uint64_t)sb->st_dev;
    e->ino = (uint64_t)sb->st_ino;
    e->mtime_s = (int64_t)sb->st_mtim.tv_sec;
    e->mtime_ns = (int64_t)sb->st_mtim.tv_nsec;
    e->ctime_s = (int64_t)sb->st_ctim.tv_sec;
    e->ctime_ns = (int64_t)sb->st_ctim.tv_nsec;
}

static bool same_identity(const sum_entry *a, const sum_entry *b) {
    return a->size == b->size && a->dev == b->dev && a->ino == b->ino && a->mtime_s == b->mtime_s &&
           a->mtime_ns == b->mtime_ns && a->ctime_s == b->ctime_s && a->ctime_ns == b->ctime_ns;
}

static bool is_hex64(const char *s) {
    for (int i = 0; i < 64; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return s[64] == '\0';
}

static bool add_entry(ql_sum_cache *c, const sum_entry *e) {
    for (int i = 0; i < c->n; i++)
        if (c->entries[i].dev == e->dev && c->entries[i].ino == e->ino) {
            c->entries[i] = *e; /* the file's newest identity replaces its old one */
            return true;
        }
    if (c->n == MAX_ENTRIES) {
        memmove(c->entries, c->entries + 1, (size_t)(c->n - 1) * sizeof *c->entries);
        c->n--;
    }
    if (c->n == c->cap) {
        const int cap = c->cap ? 2 * c->cap : 16;
        sum_entry *grown = realloc(c->entries, (size_t)cap * sizeof *grown);
        if (!grown) return false;
        c->entries = grown;
        c->cap = cap;
    }
    c->entries[c->n++] = *e;
    return true;
}

ql_sum_cache *ql_sum_cache_load(const char *path) {
    ql_sum_cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    FILE *f = path ? fopen(path, "r") : NULL;
    if (!f) return c;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        sum_entry e = {0};
        char hex[80];
        int shown_at = 0;
        if (sscanf(line,
                   "%79s %" SCNu64 " %" SCNd64 ".%" SCNd64 " %" SCNd64 ".%" SCNd64 " %" SCNu64
                   " %" SCNu64 " %n",
                   hex, &e.size, &e.mtime_s, &e.mtime_ns, &e.ctime_s, &e.ctime_ns, &e.dev, &e.ino,
                   &shown_at) != 8 ||
            strlen(hex) != 64 || !is_hex64(hex))
            continue;
        memcpy(e.hex, hex, QL_SHA256_HEX_SIZE);
        snprintf(e.shown, sizeof e.shown, "%s", line + shown_at);
        e.shown[strcspn(e.shown, "\n")] = '\0';
        if (!add_entry(c, &e)) break;
    }
    fclose(f);
    return c;
}

static ql_status hash_file(const char *path, int fd, char hex[QL_SHA256_HEX_SIZE], ql_error *err) {
    enum { CHUNK = 1 << 20 };
    unsigned char *buf = malloc(CHUNK);
    if (!buf) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory to checksum it", path);
    ql_sha256_ctx h;
    ql_sha256_init(&h);
    for (;;) {
        const ssize_t n = read(fd, buf, CHUNK);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int e = errno;
            free(buf);
            return ql_fail(err, QL_ERR_IO, "%s: cannot read: %s", path, strerror(e));
        }
        if (n == 0) break;
        ql_sha256_update(&h, buf, (size_t)n);
    }
    free(buf);
    uint8_t digest[QL_SHA256_DIGEST_SIZE];
    ql_sha256_final(&h, digest);
    ql_sha256_hex(digest, hex);
    return QL_OK;
}

ql_status ql_file_sha256(ql_sum_cache *c, const char *path, char hex[QL_SHA256_HEX_SIZE],
                         ql_error *err) {
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ql_fail(err, QL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat before, after;
    if (fstat(fd, &before) != 0) {
        close(fd);
        return ql_fail(err, QL_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
    }
    sum_entry e = {0};
    identity_of(&before, &e);
    for (int i = 0; i < c->n; i++)
        if (same_identity(&c->entries[i], &e)) {
            memcpy(hex, c->entries[i].hex, QL_SHA256_HEX_SIZE);
            close(fd);
            return QL_OK;
        }
    ql_status st = hash_file(path, fd, hex, err);
    const bool unchanged =
        fstat(fd, &after) == 0 && after.st_mtim.tv_sec == before.st_mtim.tv_sec &&
        after.st_mtim.tv_nsec == before.st_mtim.tv_nsec &&
        after.st_ctim.tv_sec == before.st_ctim.tv_sec &&
        after.st_ctim.tv_nsec == before.st_ctim.tv_nsec && after.st_size == before.st_size;
    close(fd);
    if (st) return st;
    c->hashed++;
    /* a file that changed while it was read has no checksum worth remembering */
    if (unchanged) {
        memcpy(e.hex, hex, QL_SHA256_HEX_SIZE);
        ql_printable(path, e.shown, sizeof e.shown);
        if (add_entry(c, &e)) c->changed = true;
    }
    return QL_OK;
}

ql_status ql_sum_cache_save(ql_sum_cache *c, const char *path, ql_error *err) {
    if (!c->changed) return QL_OK;
    ql_outfile *of;
    ql_status st = ql_outfile_open(path, &of, err);
    if (st) return st;
    FILE *o = ql_outfile_stream(of);
    for (int i = 0; i < c->n; i++) {
        const sum_entry *e = &c->entries[i];
        fprintf(o,
                "%s %" PRIu64 " %" PRId64 ".%09" PRId64 " %" PRId64 ".%09" PRId64 " %" PRIu64
                " %" PRIu64 " %s\n",
                e->hex, e->size, e->mtime_s, e->mtime_ns, e->ctime_s, e->ctime_ns, e->dev, e->ino,
                e->shown);
    }
    st = ql_outfile_commit(of, err);
    if (!st) c->changed = false;
    return st;
}

int ql_sum_cache_hashed(const ql_sum_cache *c) {
    return c->hashed;
}

void ql_sum_cache_free(ql_sum_cache *c) {
    if (!c) return;
    free(c->entries);
    free(c);
}

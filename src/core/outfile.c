/*
 * outfile.c - atomic output files (see outfile.h). The stdio stream is the
 * single buffer: binary writes go through fwrite too, so mixing both is safe.
 */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct ql_outfile {
    char *path, *tmp_path;
    FILE *fp;
    uint64_t size;
};

ql_status ql_outfile_open(const char *path, ql_outfile **out, ql_error *err) {
    static atomic_uint counter;
    *out = NULL;
    if (!path || !*path) return ql_fail(err, QL_ERR_ARG, "empty output path");
    ql_outfile *f = calloc(1, sizeof *f);
    size_t len = strlen(path) + 64;
    if (f) {
        f->path = strdup(path);
        f->tmp_path = malloc(len);
    }
    if (!f || !f->path || !f->tmp_path) {
        if (f) free(f->path), free(f->tmp_path);
        free(f);
        return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path);
    }
    int fd = -1, e = 0;
    for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
        snprintf(f->tmp_path, len, "%s.tmp-%ld-%u", path, (long)getpid(),
                 atomic_fetch_add(&counter, 1u));
        fd = open(f->tmp_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        e = errno;
        if (fd < 0 && e != EEXIST) break;
    }
    if (fd < 0) {
        free(f->path), free(f->tmp_path), free(f);
        return ql_fail(err, QL_ERR_IO, "%s: cannot create the output file: %s", path, strerror(e));
    }
    f->fp = fdopen(fd, "w+b");
    if (!f->fp) {
        close(fd);
        unlink(f->tmp_path);
        free(f->path), free(f->tmp_path), free(f);
        return ql_fail(err, QL_ERR_IO, "%s: cannot open the output file", path);
    }
    /* write errors (a full disk, ulimit -f) must be errors, not a signal */
    signal(SIGXFSZ, SIG_IGN);
    *out = f;
    return QL_OK;
}

static ql_status write_failed(ql_outfile *f, ql_error *err) {
    const int e = errno;
    return ql_fail(err, QL_ERR_IO, "%s: cannot write: %s", f->path,
                   e ? strerror(e) : "write error");
}

ql_status ql_outfile_write(ql_outfile *f, const void *data, size_t n, ql_error *err) {
    errno = 0;
    if (n && fwrite(data, 1, n, f->fp) != n) return write_failed(f, err);
    f->size += n;
    return QL_OK;
}

ql_status ql_outfile_pwrite(ql_outfile *f, const void *data, size_t n, uint64_t offset,
                            ql_error *err) {
    if (offset + n > f->size)
        return ql_fail(err, QL_ERR_INTERNAL, "%s: rewrite past the end of the output", f->path);
    errno = 0;
    if (fflush(f->fp) != 0) return write_failed(f, err);
    const uint8_t *p = data;
    while (n > 0) {
        ssize_t k = pwrite(fileno(f->fp), p, n, (off_t)offset);
        if (k < 0) {
            if (errno == EINTR) continue;
            return write_failed(f, err);
        }
        p += k, n -= (size_t)k, offset += (uint64_t)k;
    }
    return QL_OK;
}

uint64_t ql_outfile_size(const ql_outfile *f) { return f->size; }

FILE *ql_outfile_stream(ql_outfile *f) { return f->fp; }

static void release(ql_outfile *f) {
    free(f->path);
    free(f->tmp_path);
    free(f);
}

ql_status ql_outfile_commit(ql_outfile *f, ql_error *err) {
    errno = 0;
    bool ok = fflush(f->fp) == 0 && !ferror(f->fp);
    int e = errno;
    if (ok && fsync(fileno(f->fp)) != 0) {
        ok = false;
        e = errno;
    }
    if (fclose(f->fp) != 0 && ok) {
        ok = false;
        e = errno;
    }
    f->fp = NULL;
    if (ok && rename(f->tmp_path, f->path) != 0) {
        ok = false;
        e = errno;
    }
    if (!ok) {
        unlink(f->tmp_path);
        ql_status st = ql_fail(err, QL_ERR_IO, "%s: cannot write: %s", f->path,
                               e ? strerror(e) : "write error");
        release(f);
        return st;
    }
    release(f);
    return QL_OK;
}

void ql_outfile_abort(ql_outfile *f) {
    if (!f) return;
    if (f->fp) fclose(f->fp);
    unlink(f->tmp_path);
    release(f);
}

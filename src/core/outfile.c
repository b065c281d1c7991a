/*
 * outfile.c - atomic output files (see outfile.h). The stdio stream is the
 * single buffer: binary writes go through fwrite too, so mixing both is safe.
 *
 * The stream is a cookie stream over the temporary file's descriptor, so that
 * every write(2) it makes passes through write_through() below, which keeps
 * the first failure's errno. Text writers (JSON, CSV, HTML) only see "the
 * stream has an error"; the reason they report - "File too large", "No space
 * left on device" - is the one the kernel gave, not whatever errno holds later.
 */
#include "outfile.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

struct ql_outfile {
    char *path, *tmp_path;
    int fd;
    FILE *fp;
    uint64_t size;
    int write_errno; /* the first failed write's errno, 0 if none */
    bool discard;    /* aborting: buffered bytes are dropped, not written */
};

static ssize_t write_through(void *cookie, const char *buf, size_t n) {
    ql_outfile *f = cookie;
    if (f->discard) return (ssize_t)n;
    size_t done = 0;
    while (done < n) {
        const ssize_t k = write(f->fd, buf + done, n - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            if (!f->write_errno) f->write_errno = k < 0 ? errno : EIO;
            /* a short count is an error for stdio: the stream's error flag is set */
            return (ssize_t)done;
        }
        done += (size_t)k;
    }
    return (ssize_t)n;
}

static int seek_through(void *cookie, off64_t *offset, int whence) {
    ql_outfile *f = cookie;
    const off_t r = lseek(f->fd, (off_t)*offset, whence);
    if (r < 0) return -1;
    *offset = (off64_t)r;
    return 0;
}

static int close_nothing(void *cookie) {
    (void)cookie; /* the descriptor is closed by commit or abort, after fsync */
    return 0;
}

static void release(ql_outfile *f) {
    free(f->path);
    free(f->tmp_path);
    free(f);
}

ql_status ql_outfile_open(const char *path, ql_outfile **out, ql_error *err) {
    static atomic_uint counter;
    *out = NULL;
    if (!path || !*path) return ql_fail(err, QL_ERR_ARG, "empty output path");
    /* renaming onto a directory fails only at commit, after all the work: refuse it now */
    struct stat sb;
    if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode))
        return ql_fail(err, QL_ERR_IO, "%s: is a directory, cannot write the output there", path);
    ql_outfile *f = calloc(1, sizeof *f);
    size_t len = strlen(path) + 64;
    if (f) {
        f->fd = -1;
        f->path = strdup(path);
        f->tmp_path = malloc(len);
    }
    if (!f || !f->path || !f->tmp_path) {
        if (f) release(f);
        return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path);
    }
    int e = 0;
    for (int attempt = 0; attempt < 100 && f->fd < 0; attempt++) {
        snprintf(f->tmp_path, len, "%s.tmp-%ld-%u", path, (long)getpid(),
                 atomic_fetch_add(&counter, 1u));
        f->fd = open(f->tmp_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        e = errno;
        if (f->fd < 0 && e != EEXIST) break;
    }
    if (f->fd < 0) {
        release(f);
        return ql_fail(err, QL_ERR_IO, "%s: cannot create the output file: %s", path, strerror(e));
    }
    const cookie_io_functions_t io = {
        .read = NULL, .write = write_through, .seek = seek_through, .close = close_nothing};
    f->fp = fopencookie(f, "w", io);
    if (!f->fp) {
        close(f->fd);
        unlink(f->tmp_path);
        release(f);
        return ql_fail(err, QL_ERR_NOMEM, "%s: cannot open the output file", path);
    }
    /* write errors (a full disk, ulimit -f) must be errors, not a signal */
    signal(SIGXFSZ, SIG_IGN);
    *out = f;
    return QL_OK;
}

static ql_status write_failed(ql_outfile *f, ql_error *err) {
    const int e = f->write_errno ? f->write_errno : errno;
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
        ssize_t k = pwrite(f->fd, p, n, (off_t)offset);
        if (k < 0) {
            if (errno == EINTR) continue;
            if (!f->write_errno) f->write_errno = errno;
            return write_failed(f, err);
        }
        p += k, n -= (size_t)k, offset += (uint64_t)k;
    }
    return QL_OK;
}

uint64_t ql_outfile_size(const ql_outfile *f) {
    return f->size;
}

FILE *ql_outfile_stream(ql_outfile *f) {
    return f->fp;
}

ql_status ql_outfile_commit(ql_outfile *f, ql_error *err) {
    errno = 0;
    bool ok = fflush(f->fp) == 0 && !ferror(f->fp) && !f->write_errno;
    int e = f->write_errno ? f->write_errno : errno;
    if (ok && fsync(f->fd) != 0) {
        ok = false;
        e = errno;
    }
    fclose(f->fp);
    f->fp = NULL;
    if (close(f->fd) != 0 && ok) {
        ok = false;
        e = errno;
    }
    f->fd = -1;
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

ql_status ql_outfile_check(const char *path, ql_error *err) {
    ql_outfile *f;
    ql_status st = ql_outfile_open(path, &f, err);
    if (!st) ql_outfile_abort(f);
    return st;
}

void ql_outfile_abort(ql_outfile *f) {
    if (!f) return;
    if (f->fp) {
        f->discard = true;
        fclose(f->fp);
    }
    if (f->fd >= 0) close(f->fd);
    unlink(f->tmp_path);
    release(f);
}

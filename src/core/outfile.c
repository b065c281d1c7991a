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
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

struct ql_outfile {
    char *path, *target, *tmp_path; /* as given, the file it replaces, the file written */
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
    free(f->target);
    free(f->tmp_path);
    free(f);
}

/* ---- inputs no output may replace ---- */

typedef struct {
    uint64_t dev, ino;
    int holds;  /* open readers */
    bool noted; /* for the rest of the process */
} input_entry;

static pthread_mutex_t inputs_lock = PTHREAD_MUTEX_INITIALIZER;
static input_entry *inputs;
static size_t n_inputs, cap_inputs;

/* The entry for (dev, ino), created when create is set; NULL if absent or out of memory. */
static input_entry *find_input(uint64_t dev, uint64_t ino, bool create) {
    for (size_t i = 0; i < n_inputs; i++)
        if (inputs[i].dev == dev && inputs[i].ino == ino) return &inputs[i];
    if (!create) return NULL;
    if (n_inputs == cap_inputs) {
        const size_t cap = cap_inputs ? 2 * cap_inputs : 16;
        input_entry *grown = realloc(inputs, cap * sizeof *grown);
        if (!grown) return NULL;
        inputs = grown;
        cap_inputs = cap;
    }
    inputs[n_inputs] = (input_entry){.dev = dev, .ino = ino};
    return &inputs[n_inputs++];
}

void ql_input_note(const char *path) {
    struct stat sb;
    if (!path || stat(path, &sb) != 0) return;
    pthread_mutex_lock(&inputs_lock);
    input_entry *e = find_input((uint64_t)sb.st_dev, (uint64_t)sb.st_ino, true);
    if (e) e->noted = true;
    pthread_mutex_unlock(&inputs_lock);
}

void ql_input_hold(uint64_t dev, uint64_t ino) {
    pthread_mutex_lock(&inputs_lock);
    input_entry *e = find_input(dev, ino, true);
    if (e) e->holds++;
    pthread_mutex_unlock(&inputs_lock);
}

void ql_input_release(uint64_t dev, uint64_t ino) {
    pthread_mutex_lock(&inputs_lock);
    input_entry *e = find_input(dev, ino, false);
    if (e && e->holds > 0) e->holds--;
    pthread_mutex_unlock(&inputs_lock);
}

static bool is_input(const struct stat *sb) {
    pthread_mutex_lock(&inputs_lock);
    const input_entry *e = find_input((uint64_t)sb->st_dev, (uint64_t)sb->st_ino, false);
    const bool held = e && (e->holds > 0 || e->noted);
    pthread_mutex_unlock(&inputs_lock);
    return held;
}

/* ---- where an output goes ---- */

static const char *kind_of(mode_t mode) {
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISSOCK(mode)) return "a socket";
    return "not a file";
}

/* The path a symbolic link at link_path names, relative links taken from the link's directory. */
static char *link_destination(const char *link_path, int *e) {
    char buf[PATH_MAX];
    const ssize_t n = readlink(link_path, buf, sizeof buf);
    if (n < 0 || (size_t)n >= sizeof buf) {
        *e = n < 0 ? errno : ENAMETOOLONG;
        return NULL;
    }
    buf[n] = '\0';
    const char *slash = strrchr(link_path, '/');
    const size_t dir_len = buf[0] != '/' && slash ? (size_t)(slash - link_path) + 1 : 0;
    char *dest = malloc(dir_len + (size_t)n + 1);
    if (!dest) {
        *e = ENOMEM;
        return NULL;
    }
    memcpy(dest, link_path, dir_len);
    memcpy(dest + dir_len, buf, (size_t)n + 1);
    return dest;
}

ql_status ql_output_target(const char *path, char **target, ql_error *err) {
    *target = NULL;
    if (!path || !*path) return ql_fail(err, QL_ERR_ARG, "empty output path");
    char *cur = strdup(path);
    for (int hops = 0; cur; hops++) {
        struct stat sb;
        if (lstat(cur, &sb) != 0) {
            const int e = errno;
            /* a new file: whether its directory takes it shows when the file is created */
            if (e == ENOENT) break;
            free(cur);
            return ql_fail(err, QL_ERR_IO, "%s: cannot write the output there: %s", path,
                           strerror(e));
        }
        if (S_ISLNK(sb.st_mode)) {
            int e = ELOOP;
            char *next = hops < 40 ? link_destination(cur, &e) : NULL;
            free(cur);
            if (!next)
                return ql_fail(err, QL_ERR_IO, "%s: cannot follow the symbolic link: %s", path,
                               strerror(e));
            cur = next;
            continue;
        }
        ql_status st = QL_OK;
        if (S_ISDIR(sb.st_mode))
            st = ql_fail(err, QL_ERR_IO, "%s: is a directory, cannot write the output there", path);
        else if (!S_ISREG(sb.st_mode))
            st = ql_fail(err, QL_ERR_IO,
                         "%s: is not a regular file (%s); qlens replaces only regular files", path,
                         kind_of(sb.st_mode));
        else if (is_input(&sb))
            st = ql_fail(err, QL_ERR_ARG,
                         "%s: is an input of this command; write the output somewhere else", path);
        if (st) {
            free(cur);
            return st;
        }
        break;
    }
    if (!cur) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path);
    *target = cur;
    return QL_OK;
}

ql_status ql_output_recheck(const char *path, const char *target, ql_error *err) {
    struct stat sb;
    if (lstat(target, &sb) != 0 || S_ISREG(sb.st_mode)) return QL_OK;
    return ql_fail(err, QL_ERR_IO,
                   "%s: became %s while the output was written; nothing was renamed onto it", path,
                   S_ISLNK(sb.st_mode) ? "a symbolic link" : kind_of(sb.st_mode));
}

ql_status ql_output_create_temp(const char *path, const char *target, int flags, char **tmp_path,
                                int *fd, ql_error *err) {
    static atomic_uint counter;
    *tmp_path = NULL;
    *fd = -1;
    const char *slash = strrchr(target, '/');
    const size_t dir_len = slash ? (size_t)(slash - target) + 1 : 0;
    const char *base = target + dir_len;
    char *tmp = malloc(dir_len + NAME_MAX + 1);
    if (!tmp) return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path);
    int e = 0;
    for (int attempt = 0; attempt < 100; attempt++) {
        char suffix[48];
        const int suffix_len = snprintf(suffix, sizeof suffix, ".tmp-%ld-%u", (long)getpid(),
                                        atomic_fetch_add(&counter, 1u));
        /* the destination's name, cut (at a character boundary) so that the whole fits NAME_MAX */
        size_t keep = strlen(base);
        if (keep > (size_t)(NAME_MAX - suffix_len)) {
            keep = (size_t)(NAME_MAX - suffix_len);
            while (keep > 0 && ((unsigned char)base[keep] & 0xc0) == 0x80) keep--;
        }
        memcpy(tmp, target, dir_len);
        memcpy(tmp + dir_len, base, keep);
        memcpy(tmp + dir_len + keep, suffix, (size_t)suffix_len + 1);
        *fd = open(tmp, O_CREAT | O_EXCL | O_CLOEXEC | flags, 0666);
        if (*fd >= 0) {
            *tmp_path = tmp;
            return QL_OK;
        }
        e = errno;
        if (e != EEXIST) break;
    }
    free(tmp);
    return ql_fail(err, QL_ERR_IO, "%s: cannot create the output file: %s", path, strerror(e));
}

/* ---- the atomic output file ---- */

ql_status ql_outfile_open(const char *path, ql_outfile **out, ql_error *err) {
    *out = NULL;
    char *target;
    ql_status st = ql_output_target(path, &target, err);
    if (st) return st;
    ql_outfile *f = calloc(1, sizeof *f);
    if (f) {
        f->fd = -1;
        f->path = strdup(path);
        f->target = target;
    }
    if (!f || !f->path) {
        if (f)
            release(f);
        else
            free(target);
        return ql_fail(err, QL_ERR_NOMEM, "%s: out of memory", path);
    }
    if ((st = ql_output_create_temp(path, target, O_RDWR, &f->tmp_path, &f->fd, err))) {
        release(f);
        return st;
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
    if (ok && ql_output_recheck(f->path, f->target, err) != QL_OK) {
        unlink(f->tmp_path);
        release(f);
        return QL_ERR_IO;
    }
    if (ok && rename(f->tmp_path, f->target) != 0) {
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

/*
 * status.h - error reporting shared by every module.
 *
 * A function that can fail returns ql_status and, when given a non-NULL
 * ql_error, fills it with one human-readable line (no trailing newline).
 * The CLI prints that line as "qlens: error: <msg>". Modules never print
 * errors themselves and never exit the process.
 */
#ifndef QL_CORE_STATUS_H
#define QL_CORE_STATUS_H

#include <stdarg.h>

typedef enum {
    QL_OK = 0,
    QL_ERR_IO,          /* a file could not be opened, read or written */
    QL_ERR_FORMAT,      /* a file's contents are malformed */
    QL_ERR_ARG,         /* a caller-supplied argument is invalid */
    QL_ERR_NOMEM,       /* an allocation failed */
    QL_ERR_UNSUPPORTED, /* well-formed input that qlens cannot handle */
    QL_ERR_MISMATCH,    /* two inputs that must agree do not */
    QL_ERR_INTERNAL,    /* an invariant was violated */
} ql_status;

#define QL_ERROR_MSG_MAX 1024

typedef struct {
    ql_status code;
    char msg[QL_ERROR_MSG_MAX];
} ql_error;

/* Records code and a printf-style message in err (if non-NULL); returns code. */
ql_status ql_fail(ql_error *err, ql_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
ql_status ql_vfail(ql_error *err, ql_status code, const char *fmt, va_list ap);

/* Prefixes err->msg with "prefix: " (used to add a file name as context). */
void ql_error_prefix(ql_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

void ql_error_clear(ql_error *err);

const char *ql_status_name(ql_status code);

#endif

/*
 * status.c - formatting of error messages. Never allocates: messages live in
 * the caller's ql_error so that out-of-memory can still be reported.
 */
#include "status.h"

#include <stdio.h>
#include <string.h>

ql_status ql_vfail(ql_error *err, ql_status code, const char *fmt, va_list ap) {
    if (err) {
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    }
    return code;
}

ql_status ql_fail(ql_error *err, ql_status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ql_vfail(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void ql_error_prefix(ql_error *err, const char *fmt, ...) {
    if (!err) return;
    char prefix[QL_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    size_t plen = strlen(prefix), mlen = strlen(err->msg);
    if (plen + 2 >= sizeof err->msg) plen = sizeof err->msg - 3;
    if (plen + 2 + mlen >= sizeof err->msg) mlen = sizeof err->msg - plen - 3;
    memmove(err->msg + plen + 2, err->msg, mlen);
    memcpy(err->msg, prefix, plen);
    memcpy(err->msg + plen, ": ", 2);
    err->msg[plen + 2 + mlen] = '\0';
}

void ql_error_clear(ql_error *err) {
    if (!err) return;
    err->code = QL_OK;
    err->msg[0] = '\0';
}

const char *ql_status_name(ql_status code) {
    switch (code) {
    case QL_OK:
        return "ok";
    case QL_ERR_IO:
        return "i/o error";
    case QL_ERR_FORMAT:
        return "format error";
    case QL_ERR_ARG:
        return "invalid argument";
    case QL_ERR_NOMEM:
        return "out of memory";
    case QL_ERR_UNSUPPORTED:
        return "unsupported";
    case QL_ERR_MISMATCH:
        return "mismatch";
    case QL_ERR_INTERNAL:
        return "internal error";
    }
    return "unknown status";
}

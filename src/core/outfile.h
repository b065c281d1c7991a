/*
 * outfile.h - an output file that appears complete or not at all.
 *
 * Bytes go to "<path>.tmp-<pid>-<n>" beside the destination (same file
 * system, so the final rename is atomic); ql_outfile_commit flushes, syncs
 * and renames it onto path. Any failure - a write error, a full disk, a
 * file-size limit - or ql_outfile_abort removes the temporary file and
 * leaves an existing destination untouched. Writes are buffered.
 */
#ifndef QL_CORE_OUTFILE_H
#define QL_CORE_OUTFILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "status.h"

typedef struct ql_outfile ql_outfile;

ql_status ql_outfile_open(const char *path, ql_outfile **out, ql_error *err);
ql_status ql_outfile_write(ql_outfile *f, const void *data, size_t n, ql_error *err);
/* Overwrites n bytes at an offset already written (headers filled in at the end). */
ql_status ql_outfile_pwrite(ql_outfile *f, const void *data, size_t n, uint64_t offset,
                            ql_error *err);
uint64_t ql_outfile_size(const ql_outfile *f);
/* A stdio stream onto the temporary file, for text writers (JSON, CSV). */
FILE *ql_outfile_stream(ql_outfile *f);
/* Flush, fsync, close, rename onto the destination; frees f in every case. */
ql_status ql_outfile_commit(ql_outfile *f, ql_error *err);
/* Removes the temporary file and frees f (NULL is fine). */
void ql_outfile_abort(ql_outfile *f);

/*
 * Whether path could be written: not a directory, and a temporary file can
 * be created beside it (which is removed again). Commands call it before
 * long work so that a mistyped output path fails in a second, not after an
 * hour; the final write can still fail (a full disk) and is atomic anyway.
 */
ql_status ql_outfile_check(const char *path, ql_error *err);

#endif

/*
 * outfile.h - an output file that appears complete or not at all.
 *
 * Bytes go to "<name>.tmp-<pid>-<n>" beside the destination (same file
 * system, so the final rename is atomic; the name is shortened so that the
 * temporary name fits NAME_MAX whatever the destination's length);
 * ql_outfile_commit flushes, syncs and renames it onto path. Any failure - a
 * write error, a full disk, a file-size limit - or ql_outfile_abort removes
 * the temporary file and leaves an existing destination untouched. Writes
 * are buffered.
 *
 * What an output may replace: nothing but a regular file that is not one of
 * the process's inputs. A symbolic link is written through - the file it
 * names (following every link of a chain) is replaced in its own directory
 * and the link stays - and an existing directory, device node, FIFO or
 * socket at the path, or a file this process reads (the same device and
 * inode, so hard links and links to it count), is refused before anything
 * is written. The GGUF writer follows the same rules (ql_output_*).
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

/*
 * Inputs that no output may replace. ql_input_note marks the file at path
 * (if there is one) for the rest of the process: commands note their input
 * paths before checking their outputs. Readers that keep a file open hold
 * it while they do (the GGUF and reference readers).
 */
void ql_input_note(const char *path);
void ql_input_hold(uint64_t dev, uint64_t ino);
void ql_input_release(uint64_t dev, uint64_t ino);

/*
 * For writers that manage their own descriptor (the GGUF writer): the file
 * an output at path replaces (*target, malloc'd: path, or what its symbolic
 * links name), refused when it is no regular file or an input; and a new
 * temporary file beside it, opened with O_CREAT | O_EXCL | flags, its
 * malloc'd name in *tmp_path. Errors name path.
 */
ql_status ql_output_target(const char *path, char **target, ql_error *err);
ql_status ql_output_create_temp(const char *path, const char *target, int flags, char **tmp_path,
                                int *fd, ql_error *err);
/* Just before the rename: fails when something other than a regular file now sits at target. */
ql_status ql_output_recheck(const char *path, const char *target, ql_error *err);

#endif

/*
 * crc32.h - CRC-32 (the zlib/PNG polynomial, reflected 0xEDB88320) for the
 * checksums of qlens's own files. Incremental: crc = ql_crc32(crc, buf, n),
 * starting from 0.
 */
#ifndef QL_CORE_CRC32_H
#define QL_CORE_CRC32_H

#include <stddef.h>
#include <stdint.h>

uint32_t ql_crc32(uint32_t crc, const void *data, size_t n);

/* FNV-1a 64-bit, for cheap fingerprints (not for integrity). */
uint64_t ql_fnv1a64(uint64_t h, const void *data, size_t n);
#define QL_FNV1A64_INIT 0xcbf29ce484222325ull

#endif

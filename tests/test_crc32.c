/* test_crc32.c - CRC-32 and FNV-1a against published check values. */
#include <string.h>

#include "core/crc32.h"
#include "test.h"

QL_TEST(crc32_check_values) {
    /* the standard check value of CRC-32/ISO-HDLC for "123456789" */
    CHECK_EQ_INT(ql_crc32(0, "123456789", 9), 0xCBF43926u);
    CHECK_EQ_INT(ql_crc32(0, "", 0), 0);
    /* incremental equals one-shot, across the 8-byte fast path */
    const char *s = "The quick brown fox jumps over the lazy dog";
    CHECK_EQ_INT(ql_crc32(0, s, strlen(s)), 0x414FA339u);
    uint32_t c = ql_crc32(0, s, 13);
    CHECK_EQ_INT(ql_crc32(c, s + 13, strlen(s) - 13), 0x414FA339u);
}

QL_TEST(fnv1a64_check_values) {
    CHECK(ql_fnv1a64(QL_FNV1A64_INIT, "", 0) == 0xcbf29ce484222325ull);
    CHECK(ql_fnv1a64(QL_FNV1A64_INIT, "a", 1) == 0xaf63dc4c8601ec8cull);
    CHECK(ql_fnv1a64(QL_FNV1A64_INIT, "foobar", 6) == 0x85944171f73967e8ull);
}

/* version.c - the library's version string, from the public header. */
#include "../../include/qlens.h"

const char *qlens_version(void) { return QLENS_VERSION_STRING; }

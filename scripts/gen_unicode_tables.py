#!/usr/bin/env python3
"""gen_unicode_tables.py - writes src/tokenizer/unicode_tables.c from the Unicode
Character Database.

The pre-tokenizers classify every code point the way llama.cpp does: by its
general category collapsed to one of eight classes (letter, number, separator,
mark, punctuation, symbol, control, unassigned) plus a White_Space bit taken
from PropList.txt. The table is emitted as sorted ranges of equal flags; the
library expands it into a direct lookup table on first use.

usage: scripts/gen_unicode_tables.py [--ucd DIR] [--out FILE]
       (DIR defaults to /usr/share/unicode, the Debian package unicode-data)
"""

import argparse
import os
import re
import sys

# Keep in sync with the TOK_UCP_* flags in src/tokenizer/unicode.h.
FLAG_UNDEFINED = 0x001
FLAG_NUMBER = 0x002
FLAG_LETTER = 0x004
FLAG_SEPARATOR = 0x008
FLAG_MARK = 0x010
FLAG_PUNCTUATION = 0x020
FLAG_SYMBOL = 0x040
FLAG_CONTROL = 0x080
FLAG_WHITESPACE = 0x100

MAX_CODEPOINT = 0x110000

# llama.cpp's tables are Unicode 15.1; Debian bookworm ships the 15.0 UCD. The
# 627 code points 15.1 added are listed here so that an older UCD still gives
# llama.cpp's classes (ranges with their general category).
ADDED_IN_15_1 = [
    (0x2EBF0, 0x2EE5D, "Lo"),  # CJK Unified Ideographs Extension I
    (0x2FFC, 0x2FFF, "So"),    # ideographic description characters
    (0x31EF, 0x31EF, "So"),    # CJK stroke HXG
]

# Every category whose name starts with the letter gets that class. Cn
# (unassigned) never appears in UnicodeData.txt: it stays FLAG_UNDEFINED, which
# is also how llama.cpp's table marks it (private use and surrogates are C*).
CLASS_OF_MAJOR_CATEGORY = {
    "L": FLAG_LETTER,
    "N": FLAG_NUMBER,
    "Z": FLAG_SEPARATOR,
    "M": FLAG_MARK,
    "P": FLAG_PUNCTUATION,
    "S": FLAG_SYMBOL,
    "C": FLAG_CONTROL,
}


def read_general_categories(path):
    flags = [FLAG_UNDEFINED] * MAX_CODEPOINT
    range_first = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            if len(fields) < 3:
                continue
            cp = int(fields[0], 16)
            name, category = fields[1], fields[2]
            cls = CLASS_OF_MAJOR_CATEGORY[category[0]]
            if name.endswith(", First>"):
                range_first = cp
                continue
            if name.endswith(", Last>"):
                for c in range(range_first, cp + 1):
                    flags[c] = cls
                range_first = None
                continue
            flags[cp] = cls
    return flags


def read_simple_lowercase(path):
    lower = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            fields = line.rstrip("\n").split(";")
            if len(fields) > 13 and fields[13]:
                lower[int(fields[0], 16)] = int(fields[13], 16)
    return lower


def read_white_space(path):
    spaces = []
    pattern = re.compile(r"^([0-9A-F]+)(?:\.\.([0-9A-F]+))?\s*;\s*White_Space\b")
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = pattern.match(line)
            if m:
                first = int(m.group(1), 16)
                last = int(m.group(2), 16) if m.group(2) else first
                spaces.extend(range(first, last + 1))
    return spaces


def read_version(path):
    with open(path, encoding="utf-8") as f:
        m = re.match(r"# PropList-(\d+\.\d+\.\d+)\.txt", f.readline())
    if not m:
        sys.exit("gen_unicode_tables.py: cannot find the Unicode version in " + path)
    return m.group(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ucd", default="/usr/share/unicode")
    ap.add_argument("--out", default=os.path.normpath(os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "src", "tokenizer", "unicode_tables.c")))
    args = ap.parse_args()

    unicode_data = os.path.join(args.ucd, "UnicodeData.txt")
    prop_list = os.path.join(args.ucd, "PropList.txt")
    for p in (unicode_data, prop_list):
        if not os.path.exists(p):
            sys.exit("gen_unicode_tables.py: %s not found (install the package unicode-data "
                     "or pass --ucd DIR)" % p)

    version = read_version(prop_list)
    flags = read_general_categories(unicode_data)
    supplemented = tuple(int(x) for x in version.split(".")) < (15, 1, 0)
    if supplemented:
        for first, last, category in ADDED_IN_15_1:
            for cp in range(first, last + 1):
                assert flags[cp] == FLAG_UNDEFINED
                flags[cp] = CLASS_OF_MAJOR_CATEGORY[category[0]]
    described = version + (" plus the code points Unicode 15.1 added" if supplemented else "")
    white_space = read_white_space(prop_list)
    for cp in white_space:
        flags[cp] |= FLAG_WHITESPACE

    # The contraction alternatives of the llama-3 pattern are case-insensitive
    # ('S, 'T, 'RE ...). The tokenizer folds case with ASCII rules only; that is
    # exact as long as no other code point lowercases to one of these letters.
    lower = read_simple_lowercase(unicode_data)
    for cp, lc in lower.items():
        if cp >= 0x80 and chr(lc) in "stmdrevl":
            sys.exit("gen_unicode_tables.py: U+%04X lowercases to '%s'; the ASCII case fold "
                     "in pretok.c is no longer exact" % (cp, chr(lc)))

    ranges = []
    for cp in range(MAX_CODEPOINT):
        if not ranges or ranges[-1][1] != flags[cp]:
            ranges.append((cp, flags[cp]))

    lines = []
    lines.append("/*")
    lines.append(" * unicode_tables.c - code point classes for the pre-tokenizers.")
    lines.append(" *")
    lines.append(" * GENERATED by scripts/gen_unicode_tables.py from UnicodeData.txt (general")
    lines.append(" * category) and PropList.txt (White_Space) of the Unicode Character Database")
    lines.append(" * %s. Do not edit; rerun the script instead." % described)
    lines.append(" */")
    lines.append('#include "unicode.h"')
    lines.append("")
    lines.append('const char tok_unicode_version[] = "%s";' % ("15.1.0" if supplemented else version))
    lines.append("")
    lines.append("/* Sorted by first code point; a range ends where the next begins. */")
    lines.append("const tok_ucp_range tok_ucp_ranges[] = {")
    for first, fl in ranges:
        lines.append("    {0x%06X, 0x%03X}," % (first, fl))
    lines.append("};")
    lines.append("const int tok_ucp_n_ranges = (int)(sizeof tok_ucp_ranges / sizeof tok_ucp_ranges[0]);")
    lines.append("")

    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    print("wrote %s: Unicode %s, %d ranges, %d white-space code points"
          % (args.out, described, len(ranges), len(white_space)))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""gen_pretok_cases.py - writes tests/tokenizer_pretok_cases.h: how each
pre-tokenizer family splits a set of test strings, computed independently of
qlens with the Python `regex` module.

Each family is llama.cpp's list of patterns, applied in turn; every pattern
splits each piece from the previous one into its matches and the gaps
between them. Two details of llama.cpp's engines are reproduced so that the
expectations are the tokens llama.cpp gives, not what Python's defaults say:
  - \\s means White_Space (llama.cpp's flag tables; Python's \\s would also
    take U+001C..U+001F, which the strings below avoid anyway);
  - patterns without \\p{..} run in std::wregex in the C locale, where only
    ASCII characters are white space and every non-ASCII White_Space
    character is first replaced by U+000B;
  - $ is the end of the piece (ECMAScript), i.e. \\Z here.
The GPT-2 and llama-3 patterns are given in their original tokenizer.json
form; llama.cpp runs hand-written equivalents of them.

usage: scripts/gen_pretok_cases.py [--out FILE]   (needs: pip install regex)
"""

import argparse
import os

import regex

WS = r"\p{White_Space}"

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|"
          r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|"
         r" ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
DEEPSEEK_LETTERS = (
    "A-Za-z\u00b5\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u01ba\u01bc-\u01bf\u01c4-\u0293\u0295-\u02af"
    "\u0370-\u0373\u0376\u0377\u037b-\u037d\u037f\u0386\u0388-\u038a\u038c\u038e-\u03a1"
    "\u03a3-\u03f5\u03f7-\u0481\u048a-\u052f\u0531-\u0556\u10a0-\u10c5\u13a0-\u13f5\u13f8-\u13fd"
    "\u1c90-\u1cba\u1cbd-\u1cbf\u1d00-\u1d2b\u1d6b-\u1d77\u1d79-\u1d9a\u1e00-\u1f15\u1f18-\u1f1d"
    "\u1f20-\u1f45\u1f48-\u1f4d\u1f50-\u1f57\u1f59\u1f5b\u1f5d\u1f5f-\u1f7d\u1f80-\u1fb4"
    "\u1fb6-\u1fbc\u1fbe\u1fc2-\u1fc4\u1fc6-\u1fcc\u1fd0-\u1fd3\u1fd6-\u1fdb\u1fe0-\u1fec"
    "\u1ff2-\u1ff4\u1ff6-\u1ffc\u2102\u2107\u210a-\u2113\u2115\u2119-\u211d\u2124\u2126\u2128"
    "\u212a-\u212d\u212f-\u2134\u2139\u213c-\u213f\u2145-\u2149\u214e\u2183\u2184\u2c00-\u2c7b"
    "\u2c7e-\u2ce4\u2ceb-\u2cee\u2cf2\u2cf3\ua640-\ua66d\ua680-\ua69b\ua722-\ua76f\ua771-\ua787"
    "\ua78b-\ua78e\uab70-\uabbf\ufb00-\ufb06\ufb13-\ufb17\uff21-\uff3a\uff41-\uff5a"
    "\U00010400-\U0001044f\U000104b0-\U000104d3\U000104d8-\U000104fb\U00010c80-\U00010cb2"
    "\U00010cc0-\U00010cf2\U000118a0-\U000118df\U0001e900-\U0001e943")
CJK = "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+"

# (pattern, runs in std::wregex) per split, per family, in llama.cpp's order.
FAMILIES = {
    "gpt-2": [(GPT2, False)],
    "llama-bpe": [(LLAMA3, False)],
    "qwen2": [(QWEN2, False)],
    "starcoder": [(r"\p{N}", False), (GPT2, False)],
    "falcon": [(r"[\p{P}\$\+<=>\^~\|`]+", False), (GPT2, False), ("[0-9][0-9][0-9]", True)],
    "default": [(r"[\p{P}\$\+<=>\^~\|]+", False), (GPT2, False), (r"\p{N}+", False),
                ("[0-9][0-9][0-9]", True)],
    "deepseek-coder": [("[\r\n]", True), (r"\s?\p{L}+", False), (r"\s?\p{P}+", False), (CJK, True),
                       (r"\p{N}", False)],
    "deepseek-llm": [("[\r\n]", True), (r"\s?[" + DEEPSEEK_LETTERS + "]+", True),
                     ("\\s?[!-/:-~\uff01-\uff0f\uff1a-\uff5e\u2018-\u201f\u3000-\u3002]+", True),
                     (r"\s+\Z", True), (CJK, True), (r"\p{N}+", False)],
}

STRINGS = [
    "Hello world",
    " Hello World!",
    "Hello, y'all! How are you \U0001F601 ?\u6211\u60f3\u5728apple\u5de5\u4f5c1314151\u5929\uff5e",
    "IT'S THEY'RE I'M WE'VE SHE'LL HE'D don't",
    "   \n\n  x\t\t y  ",
    "a  \r\n  b\r\rc",
    "3 33 333 3333 33333 1234567 3.14 v1.2.3",
    "\uff13\uff14\uff15 \u00bd \u0663\u0664",
    "\u4f60\u597d\u4e16\u754c \uc548\ub155\ud558\uc138\uc694 \uff21\uff22\uff23 \uff01\uff1f",
    "\u3000x\u00a0y z\u2003w",
    "\u03a9mega \u1fd3 \u1f7d \u2126 \u212a \u00b5",
    "x == y != z && a->b; f(x)[0] = {'k': \"v\"}",
    "<|fim|> <s> [INST] ``` ~~~ $$$ ^^^ |||",
    "\U0001F680 (normal) \U0001F636\u200d\U0001F32B\ufe0f \u2705",
    "e\u0301 n\u0303o \u0915\u094d\u0937",
    "  leading and trailing  ",
    "tabs\tand\u000bvertical\u000cfeed",
    "''''''```````\"\"\"\"......!!!!!!??????",
    "I've been 'told he's there, 'RE you sure? 'M not sure I'll make it, 'D you like some tea? We'Ve a'lL",
    "\u043d\u0435\u0449\u043e \u043d\u0430 \u0411\u044a\u043b\u0433\u0430\u0440\u0441\u043a\u0438",
    "\u1780\u17b6\u1793\u17cb\u178f\u17c2\u1796\u17b7\u179f\u17c1\u179f",
    "",
    " ",
    "\n",
    "a",
]


def wregex_text(s):
    """The text std::wregex sees: non-ASCII White_Space as U+000B."""
    return "".join("\x0b" if ord(c) > 0x7F and regex.match(WS, c) else c for c in s)


def compile_pattern(pattern, wide):
    if wide:
        # C-locale \s: ASCII white space only (non-ASCII ones became \v).
        return regex.compile(pattern.replace(r"\s", r"[\t\n\v\f\r ]"), regex.V0)
    # \s and \S as White_Space, inside and outside brackets.
    p = pattern.replace(r"[^\s", "[^" + WS).replace(r"\S", "[^" + WS + "]").replace(r"\s", "[" + WS + "]")
    return regex.compile(p, regex.V0)


def split(text, family):
    pieces = [text] if text else []
    for pattern, wide in FAMILIES[family]:
        compiled = compile_pattern(pattern, wide)
        out = []
        for piece in pieces:
            subject = wregex_text(piece) if wide else piece
            pos = 0
            for m in compiled.finditer(subject):
                if m.start() > pos:
                    out.append(piece[pos:m.start()])
                out.append(piece[m.start():m.end()])
                pos = m.end()
            if pos < len(piece):
                out.append(piece[pos:])
        pieces = out
    return pieces


def c_string(s):
    out = []
    for b in s.encode("utf-8"):
        if 0x20 <= b < 0x7F and chr(b) not in "\\\"?":
            out.append(chr(b))
        else:
            out.append("\\%03o" % b)
    return '"' + "".join(out) + '"'


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.normpath(os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "tests", "tokenizer_pretok_cases.h")))
    args = ap.parse_args()
    lines = [
        "/*",
        " * tokenizer_pretok_cases.h - how each pre-tokenizer family splits test strings,",
        " * as computed with Python's regex module from llama.cpp's split patterns.",
        " *",
        " * GENERATED by scripts/gen_pretok_cases.py; do not edit. Each case lists the",
        " * byte length of every word, in order.",
        " */",
        "typedef struct {",
        "    const char *family; /* a tokenizer.ggml.pre name */",
        "    const char *text;",
        "    const char *word_lengths; /* comma separated */",
        "} pretok_case;",
        "",
        "static const pretok_case pretok_cases[] = {",
    ]
    for family in FAMILIES:
        for s in STRINGS:
            words = split(s, family)
            assert "".join(words) == s
            lengths = ",".join(str(len(w.encode("utf-8"))) for w in words)
            lines.append("    {%s, %s, \"%s\"}," % (c_string(family), c_string(s), lengths))
    lines.append("};")
    lines.append("")
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    print("wrote %s: %d cases" % (args.out, len(FAMILIES) * len(STRINGS)))


if __name__ == "__main__":
    main()

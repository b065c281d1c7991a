/*
 * regex.h - a small regular-expression matcher for tensor-name patterns.
 *
 * Syntax is a subset of ECMAScript (what std::regex uses by default), and
 * ql_regex_search answers what std::regex_search answers: does the pattern
 * match anywhere in the text. Supported:
 *   literals, '.' (any byte but \n and \r), '*' '+' '?' and their lazy forms,
 *   {n} {n,} {n,m}, character classes [abc] [^a-z] with escapes inside,
 *   anchors ^ $, word boundaries \b \B, alternation |, groups (...) and (?:...),
 *   escapes \d \D \w \W \s \S \t \n \r \f \v \0 \xHH and any escaped
 *   punctuation (\. \\ \[ ...).
 * Back-references, lookarounds and named groups are refused with an error
 * rather than matched wrongly. Matching is byte-wise and case-sensitive.
 *
 * The matcher simulates the pattern's automaton over all positions at once
 * (no backtracking), so time is O(pattern size x text length) for any
 * pattern.
 */
#ifndef QL_CORE_REGEX_H
#define QL_CORE_REGEX_H

#include <stdbool.h>

#include "status.h"

typedef struct ql_regex ql_regex;

/* Compiles pattern; on a syntax error or an unsupported feature err says which and where. */
ql_status ql_regex_compile(const char *pattern, ql_regex **out, ql_error *err);
void ql_regex_free(ql_regex *re);

/* True when the pattern matches some substring of text (std::regex_search). */
bool ql_regex_search(const ql_regex *re, const char *text);

/* The pattern the regex was compiled from. */
const char *ql_regex_pattern(const ql_regex *re);

#endif

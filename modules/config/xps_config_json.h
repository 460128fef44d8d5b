/*
 * modules/config/xps_config_json.h — a strict JSON syntax check that says
 * where a file is broken and why, for people editing configurations.
 *
 * Why: cJSON (which builds the tree afterwards) tells only that parsing
 * failed and roughly where it gave up: after a trailing comma in an object
 * it points at the end of the file, after an unquoted key one character
 * late. A person needs the line and column of the mistake and a word on
 * what it is ("trailing comma before '}'", "comments are not allowed in
 * JSON"). This check walks the text once by RFC 8259's grammar, without
 * allocating, and stops at the first error. It is stricter than cJSON where
 * cJSON is lenient (control characters such as a line break inside a
 * string, leading zeros), so text that passes is text cJSON parses.
 *
 * Introduced in stage 12 with modules/config, which calls it before cJSON;
 * public so a tool can check a file without loading it as a configuration.
 * Lifecycle: none (two pure functions). Ownership: borrows `text` only for
 * the call. Errors: XPS_E_INVAL (not JSON), with the offset and a reason.
 */
#ifndef XPS_MODULES_CONFIG_JSON_H
#define XPS_MODULES_CONFIG_JSON_H

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Deepest nesting of objects and arrays accepted (a configuration needs
 * about five; the limit keeps the recursive walk's stack small). */
#define XPS_CONFIG_JSON_MAX_DEPTH 64

/* Checks that text[0, len) is exactly one JSON value, with whitespace
 * around it and an optional UTF-8 byte-order mark before it. NUL bytes are
 * ordinary (invalid) bytes here: len, not a terminator, ends the text.
 * Returns XPS_OK, or XPS_E_INVAL with *offset = the byte offset of the
 * problem (len for "ends too early") and a one-line reason in `reason`
 * (truncated to reason_size, always terminated; 160 bytes always fit). */
int xps_config_json_check(const char *text, size_t len, size_t *offset, char *reason,
                          size_t reason_size) XPS_NOEXCEPT;

/* The 1-based line and column of byte `offset` in text[0, len), as an
 * editor shows them: lines end at '\n', columns count characters (UTF-8
 * sequences count once, a tab counts once). offset > len counts as len. */
void xps_config_json_position(const char *text, size_t len, size_t offset, unsigned *line,
                              unsigned *column) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_MODULES_CONFIG_JSON_H */

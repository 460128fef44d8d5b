// modules/config/xps_config_json.cpp — RFC 8259 JSON syntax, checked by
// recursive descent with a reason for the first error. [stage 12]
//
// One function per grammar rule (value, object, array, string, number,
// literal); each starts at its first byte and leaves `pos` just after its
// last. The messages are written for the mistakes people make when editing
// JSON by hand: trailing commas, missing commas, comments, single quotes,
// unquoted keys, an unclosed brace.

#include "modules/config/xps_config_json.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <initializer_list>

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// Where the walk is, and where the first error goes.
struct scanner {
    const char *s;      // the text (borrowed)
    size_t len;         // its length
    size_t pos;         // next byte to look at
    size_t *err_at;     // out: offset of the error
    char *why;          // out: reason (may be NULL)
    size_t why_size;    // bytes available at why

    bool at_end() const { return pos >= len; }
    char peek() const { return s[pos]; }
    bool next_is(char c) const { return pos + 1 < len && s[pos + 1] == c; }

    bool fail(size_t at, const char *fmt, ...) __attribute__((format(printf, 3, 4)))
    {
        *err_at = at;
        if (why != nullptr && why_size > 0) {
            va_list ap;
            va_start(ap, fmt);
            std::vsnprintf(why, why_size, fmt, ap);
            va_end(ap);
        }
        return false;
    }

    void skip_ws()
    {
        while (!at_end() && (peek() == ' ' || peek() == '\t' || peek() == '\n' || peek() == '\r'))
            pos++;
    }

    // "expected X, found Y" for the byte at pos, naming the usual suspects.
    bool unexpected(const char *expected)
    {
        if (at_end())
            return fail(len, "unexpected end of file (expected %s)", expected);
        char c = peek();
        if (c == '/' && (next_is('/') || next_is('*')))
            return fail(pos, "comments are not allowed in JSON");
        if (c == '\'')
            return fail(pos, "strings need double quotes, not single quotes");
        if (c >= 0x20 && c < 0x7f)
            return fail(pos, "expected %s, found '%c'", expected, c);
        return fail(pos, "expected %s, found byte 0x%02x", expected, static_cast<unsigned char>(c));
    }

    // End of file inside a container: say which one is still open.
    bool unclosed(size_t open, const char *what)
    {
        unsigned line = 0, column = 0;
        xps_config_json_position(s, len, open, &line, &column);
        return fail(len, "unexpected end of file: the %s opened at %u:%u is not closed", what, line,
                    column);
    }

    bool value(int depth);
    bool object(int depth);
    bool array(int depth);
    bool string();
    bool escape();
    bool number();
    bool literal();
};

bool scanner::value(int depth)
{
    if (at_end())
        return unexpected("a value");
    char c = peek();
    if (c == '{')
        return object(depth);
    if (c == '[')
        return array(depth);
    if (c == '"')
        return string();
    if (c == '-' || is_digit(c))
        return number();
    if (is_alpha(c))
        return literal();
    return unexpected("a value");
}

// Members: "key" : value, separated by commas, in braces.
bool scanner::object(int depth)
{
    size_t open = pos;
    if (depth >= XPS_CONFIG_JSON_MAX_DEPTH)
        return fail(pos, "nested too deeply (more than %d levels)", XPS_CONFIG_JSON_MAX_DEPTH);
    pos++;
    skip_ws();
    if (!at_end() && peek() == '}')
        return pos++, true;
    size_t comma = 0;  // offset of the last comma, 0 before the first
    for (;;) {
        if (at_end())
            return unclosed(open, "object");
        if (peek() == '}' && comma != 0)
            return fail(comma, "trailing comma before '}'");
        if (is_alpha(peek()))
            return fail(pos, "object keys need double quotes");
        if (peek() != '"')
            return unexpected("a key in double quotes");
        if (!string())
            return false;
        skip_ws();
        if (at_end())
            return unclosed(open, "object");
        if (peek() != ':')
            return unexpected("':' after the key");
        pos++;
        skip_ws();
        if (!value(depth + 1))
            return false;
        skip_ws();
        if (at_end())
            return unclosed(open, "object");
        if (peek() == '}')
            return pos++, true;
        if (peek() == '"')
            return fail(pos, "missing ',' before this member");
        if (peek() != ',')
            return unexpected("',' or '}' after a member");
        comma = pos++;
        skip_ws();
    }
}

// Elements: values separated by commas, in brackets.
bool scanner::array(int depth)
{
    size_t open = pos;
    if (depth >= XPS_CONFIG_JSON_MAX_DEPTH)
        return fail(pos, "nested too deeply (more than %d levels)", XPS_CONFIG_JSON_MAX_DEPTH);
    pos++;
    skip_ws();
    if (!at_end() && peek() == ']')
        return pos++, true;
    size_t comma = 0;
    for (;;) {
        if (at_end())
            return unclosed(open, "array");
        if (peek() == ']' && comma != 0)
            return fail(comma, "trailing comma before ']'");
        if (!value(depth + 1))
            return false;
        skip_ws();
        if (at_end())
            return unclosed(open, "array");
        if (peek() == ']')
            return pos++, true;
        char c = peek();
        if (c == '"' || c == '{' || c == '[' || c == '-' || is_digit(c) || is_alpha(c))
            return fail(pos, "missing ',' before this element");
        if (c != ',')
            return unexpected("',' or ']' after an element");
        comma = pos++;
        skip_ws();
    }
}

// A string: no raw control characters (RFC 8259 §7), valid escapes.
bool scanner::string()
{
    size_t open = pos++;
    for (;;) {
        if (at_end())
            return fail(open, "this string is never closed");
        unsigned char c = static_cast<unsigned char>(peek());
        if (c == '"')
            return pos++, true;
        if (c == '\n')
            return fail(pos, "line break inside a string (a missing '\"'? write \\n for a line break)");
        if (c < 0x20)
            return fail(pos, "control character (byte 0x%02x) inside a string", c);
        if (c == '\\' && !escape())
            return false;
        if (c != '\\')
            pos++;
    }
}

// One escape, pos at the backslash. \uXXXX must not be half of a UTF-16
// surrogate pair without the other half.
bool scanner::escape()
{
    size_t start = pos++;
    if (at_end())
        return fail(start, "this string is never closed");
    char c = peek();
    if (std::strchr("\"\\/bfnrt", c) != nullptr && c != '\0')
        return pos++, true;
    if (c != 'u')
        return fail(start, "invalid escape '\\%c' (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)",
                    c >= 0x20 && c < 0x7f ? c : '?');
    auto hex4 = [this](size_t at, unsigned *out) {
        if (at + 4 > len)
            return false;
        unsigned v = 0;
        for (size_t i = at; i < at + 4; i++) {
            if (!is_hex(s[i]))
                return false;
            v = v * 16 + static_cast<unsigned>(is_digit(s[i]) ? s[i] - '0' : (s[i] | 0x20) - 'a' + 10);
        }
        *out = v;
        return true;
    };
    unsigned unit = 0, low = 0;
    if (!hex4(pos + 1, &unit))
        return fail(start, "invalid escape: \\u needs four hex digits");
    pos += 5;
    if (unit >= 0xDC00 && unit <= 0xDFFF)
        return fail(start, "invalid escape: \\u%04X is the second half of a surrogate pair", unit);
    if (unit < 0xD800 || unit > 0xDBFF)
        return true;
    if (pos + 1 < len && s[pos] == '\\' && s[pos + 1] == 'u' && hex4(pos + 2, &low) && low >= 0xDC00 &&
        low <= 0xDFFF)
        return pos += 6, true;
    return fail(start, "invalid escape: \\u%04X must be followed by a low surrogate \\uDC00-\\uDFFF", unit);
}

// -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
bool scanner::number()
{
    size_t start = pos;
    if (peek() == '-')
        pos++;
    if (at_end() || !is_digit(peek()))
        return fail(start, "invalid number: '-' must be followed by a digit");
    if (peek() == '0' && pos + 1 < len && is_digit(s[pos + 1]))
        return fail(start, "invalid number: no leading zeros (write 8, not 08)");
    while (!at_end() && is_digit(peek()))
        pos++;
    if (!at_end() && peek() == '.') {
        pos++;
        if (at_end() || !is_digit(peek()))
            return fail(start, "invalid number: '.' must be followed by a digit");
        while (!at_end() && is_digit(peek()))
            pos++;
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
        pos++;
        if (!at_end() && (peek() == '+' || peek() == '-'))
            pos++;
        if (at_end() || !is_digit(peek()))
            return fail(start, "invalid number: the exponent needs a digit");
        while (!at_end() && is_digit(peek()))
            pos++;
    }
    return true;
}

// true, false, null; any other word is most likely a string without quotes.
bool scanner::literal()
{
    size_t start = pos;
    while (!at_end() && (is_alpha(peek()) || is_digit(peek())))
        pos++;
    size_t n = pos - start;
    for (const char *word : {"true", "false", "null"})
        if (n == std::strlen(word) && std::memcmp(s + start, word, n) == 0)
            return true;
    return fail(start, "unknown word '%.*s' (strings need double quotes; the literals are true, false and null)",
                static_cast<int>(n > 30 ? 30 : n), s + start);
}

}  // namespace

int xps_config_json_check(const char *text, size_t len, size_t *offset, char *reason,
                          size_t reason_size) noexcept
{
    size_t ignored = 0;
    scanner sc{text, len, 0, offset != nullptr ? offset : &ignored, reason, reason_size};
    if (reason != nullptr && reason_size > 0)
        reason[0] = '\0';
    if (len >= 3 && std::memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        sc.pos = 3;  // a byte-order mark, as some editors write
    sc.skip_ws();
    if (sc.at_end())
        return sc.fail(sc.pos, "no JSON value: the text is empty"), XPS_E_INVAL;
    if (!sc.value(0))
        return XPS_E_INVAL;
    sc.skip_ws();
    if (!sc.at_end())
        return sc.unexpected("the end of the text (the value before is complete)"), XPS_E_INVAL;
    *sc.err_at = 0;
    return XPS_OK;
}

void xps_config_json_position(const char *text, size_t len, size_t offset, unsigned *line,
                              unsigned *column) noexcept
{
    unsigned l = 1, c = 1;
    if (offset > len)
        offset = len;
    size_t i = len >= 3 && std::memcmp(text, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;  // not shown
    for (; i < offset; i++) {
        unsigned char b = static_cast<unsigned char>(text[i]);
        if (b == '\n')
            l++, c = 1;
        else if ((b & 0xC0) != 0x80)  // not a UTF-8 continuation byte
            c++;
    }
    if (line != nullptr)
        *line = l;
    if (column != nullptr)
        *column = c;
}

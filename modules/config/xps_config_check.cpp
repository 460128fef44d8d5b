// modules/config/xps_config_check.cpp — the toolkit the schema walk is
// written with: typed getters that name the JSON path, key checks with
// "did you mean", address and path helpers. [stage 12]
//
// Declarations and contracts: xps_config_internal.hpp. Nothing here knows
// which keys exist; that is xps_config_schema.cpp.

#include "modules/config/xps_config_internal.hpp"

#include <arpa/inet.h>
#include <cjson/cJSON.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <initializer_list>

namespace config_detail {

// -------------------------------------------------------------- messages

std::string vformat(const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    char small[256];
    int n = std::vsnprintf(small, sizeof small, fmt, copy);
    va_end(copy);
    if (n < 0)
        return fmt;
    if (static_cast<size_t>(n) < sizeof small)
        return std::string(small, static_cast<size_t>(n));
    std::string out(static_cast<size_t>(n) + 1, '\0');
    std::vsnprintf(out.data(), out.size(), fmt, ap);
    out.resize(static_cast<size_t>(n));
    return out;
}

std::string format(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    std::string s = vformat(fmt, ap);
    va_end(ap);
    return s;
}

// Printable ASCII is kept, the rest escaped: a message stays one line
// whatever the file holds.
std::string shown(std::string_view s)
{
    std::string out;
    for (unsigned char c : s.substr(0, 60)) {
        if (c == '"' || c == '\\')
            out += format("\\%c", c);
        else if (c >= 0x20 && c < 0x7f)
            out += static_cast<char>(c);
        else
            out += format("\\x%02x", c);
    }
    return s.size() > 60 ? out + "..." : out;
}

std::string describe(const cJSON *item)
{
    if (cJSON_IsString(item))
        return format("a string (\"%s\")", shown(item->valuestring).c_str());
    if (cJSON_IsNumber(item))
        return format("a number (%g)", item->valuedouble);
    if (cJSON_IsBool(item))
        return cJSON_IsTrue(item) ? "true" : "false";
    if (cJSON_IsNull(item))
        return "null";
    return cJSON_IsArray(item) ? "an array" : "an object";
}

bool checker::fail(const std::string &path, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    message = name + ": " + (path.empty() ? std::string("top level") : path) + ": " + vformat(fmt, ap);
    va_end(ap);
    return false;
}

const char *checker::keep(std::string s)
{
    cfg.strings.push_back(std::move(s));
    return cfg.strings.back().c_str();
}

std::string member(const std::string &path, const char *key)
{
    return path.empty() ? std::string(key) : path + "." + key;
}

std::string element(const std::string &path, size_t i) { return format("%s[%zu]", path.c_str(), i); }

// ------------------------------------------------------------------ keys

namespace {

// Levenshtein distance, for "did you mean". Keys are short.
size_t distance(std::string_view a, std::string_view b)
{
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); j++)
        row[j] = j;
    for (size_t i = 1; i <= a.size(); i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= b.size(); j++) {
            size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] != b[j - 1])});
            diag = up;
        }
    }
    return row[b.size()];
}

// The closest known key within two edits, or NULL.
const char *near_miss(const char *key, const key_rule *rules, size_t n_rules)
{
    const char *best = nullptr;
    size_t best_d = 3;
    for (size_t i = 0; i < n_rules; i++) {
        size_t d = distance(key, rules[i].name);
        if (d < best_d)
            best = rules[i].name, best_d = d;
    }
    return best;
}

}  // namespace

bool check_keys(checker &c, const cJSON *obj, const std::string &path, const key_rule *rules,
                size_t n_rules, unsigned type_bit, const char *type_name)
{
    for (const cJSON *it = obj->child; it != nullptr; it = it->next) {
        std::string at = member(path, shown(it->string).c_str());
        // cJSON keeps both copies of a repeated key and finds the first:
        // the second would be silently ignored.
        for (const cJSON *before = obj->child; before != it; before = before->next)
            if (std::strcmp(before->string, it->string) == 0)
                return c.fail(at, "appears twice in the same object");
        const key_rule *rule = nullptr;
        for (size_t i = 0; i < n_rules && rule == nullptr; i++)
            if (std::strcmp(rules[i].name, it->string) == 0)
                rule = &rules[i];
        if (rule != nullptr && (rule->types & type_bit) == 0)
            return c.fail(at, "not a key of %s routes", type_name);
        if (rule != nullptr)
            continue;
        if (const char *best = near_miss(it->string, rules, n_rules))
            return c.fail(at, "unknown key (did you mean \"%s\"?)", best);
        return c.fail(at, "unknown key");
    }
    return true;
}

// --------------------------------------------------------------- getters

const cJSON *optional(const cJSON *obj, const char *key)
{
    return cJSON_GetObjectItemCaseSensitive(obj, key);
}

const cJSON *require(checker &c, const cJSON *obj, const std::string &path, const char *key,
                     const char *why)
{
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (item == nullptr)
        c.fail(path, "missing key \"%s\"%s", key, why);
    return item;
}

bool want_object(checker &c, const cJSON *item, const std::string &path)
{
    return cJSON_IsObject(item) || c.fail(path, "expected an object, got %s", describe(item).c_str());
}

bool want_array(checker &c, const cJSON *item, const std::string &path)
{
    return cJSON_IsArray(item) || c.fail(path, "expected an array, got %s", describe(item).c_str());
}

bool want_bool(checker &c, const cJSON *item, const std::string &path)
{
    return cJSON_IsBool(item) || c.fail(path, "expected true or false, got %s", describe(item).c_str());
}

bool want_string(checker &c, const cJSON *item, const std::string &path, const char **out)
{
    if (!cJSON_IsString(item))
        return c.fail(path, "expected a string, got %s", describe(item).c_str());
    if (item->valuestring[0] == '\0')
        return c.fail(path, "must not be empty");
    for (const char *p = item->valuestring; *p != '\0'; p++)
        if (static_cast<unsigned char>(*p) < 0x20 || *p == 0x7f)
            return c.fail(path, "must not contain control characters (\"%s\")",
                          shown(item->valuestring).c_str());
    *out = c.keep(item->valuestring);
    return true;
}

bool want_int(checker &c, const cJSON *item, const std::string &path, long lo, long hi,
              const char *range, long *out)
{
    if (!cJSON_IsNumber(item))
        return c.fail(path, "expected a number, got %s", describe(item).c_str());
    double v = item->valuedouble;  // JSON has one number type; cJSON stores a double
    if (std::isfinite(v) && v != std::floor(v))
        return c.fail(path, "expected a whole number, got %g", v);
    if (!std::isfinite(v) || v < static_cast<double>(lo) || v > static_cast<double>(hi))
        return c.fail(path, "%g is out of range (%s)", v, range);
    *out = static_cast<long>(v);
    return true;
}

bool want_strings(checker &c, const cJSON *item, const std::string &path,
                  std::vector<const char *> *out)
{
    if (!want_array(c, item, path))
        return false;
    size_t i = 0;
    for (const cJSON *e = item->child; e != nullptr; e = e->next, i++) {
        const char *s = nullptr;
        if (!want_string(c, e, element(path, i), &s))
            return false;
        if (out != nullptr)
            out->push_back(s);
    }
    return true;
}

// ------------------------------------------------------------- addresses

bool canonical_ip(const char *text, std::string *out, int *family)
{
    unsigned char bin[sizeof(struct in6_addr)];
    char buf[INET6_ADDRSTRLEN];
    for (int af : {AF_INET, AF_INET6}) {
        if (inet_pton(af, text, bin) == 1 && inet_ntop(af, bin, buf, sizeof buf) != nullptr) {
            *out = buf;
            if (family != nullptr)
                *family = af;
            return true;
        }
    }
    return false;
}

std::string endpoint(const std::string &host, unsigned port)
{
    if (host.find(':') != std::string::npos)
        return format("[%s]:%u", host.c_str(), port);
    return format("%s:%u", host.c_str(), port);
}

bool is_wildcard(const std::string &host) { return host == "0.0.0.0" || host == "::"; }

// ----------------------------------------------------------------- paths

// ".." is kept: resolving it by text would be wrong when the segment
// before it is a symbolic link ("link/.." is where the link points, then
// up). The kernel resolves it when the file module opens the path.
std::string resolve_path(const std::string &base, std::string_view p)
{
    std::string joined = !p.empty() && p[0] == '/' ? std::string(p) : base + "/" + std::string(p);
    std::string out;
    size_t i = 0;
    while (i < joined.size()) {
        size_t j = std::min(joined.find('/', i), joined.size());
        std::string_view seg = std::string_view(joined).substr(i, j - i);
        if (!seg.empty() && seg != ".")
            (out += '/') += seg;
        i = j + 1;
    }
    return out.empty() ? "/" : out;
}

}  // namespace config_detail

// modules/file/xps_mime.cpp — see xps_mime.h for the rules.
//
// [stage 09] The table is sorted by extension and searched by halving
// (std::lower_bound): 7 comparisons for ~80 rows instead of up to 80. The
// search is not why it is sorted, though — at this size a plain loop would be
// as fast. Sorted means a reader finds a row at once, and the compiler checks
// it: static_assert below rejects a row added out of order or twice, so the
// table cannot quietly grow a duplicate that shadows the right answer.
#include "modules/file/xps_mime.h"

#include <algorithm>
#include <cassert>
#include <cstring>
#include <iterator>
#include <string_view>

namespace {

// One row: a lower-case extension without its dot, and its media type.
struct mime_row {
    std::string_view ext;  // "html"; compared case-insensitively via lower-casing
    const char *type;      // "text/html", static
};

// Types as registered with IANA (or, where IANA has none, what browsers and
// MDN use: font/woff2, video/x-matroska). JavaScript is text/javascript
// (RFC 9239). Sorted by `ext` in byte order: keep it that way when adding.
constexpr mime_row table[] = {
    {"7z", "application/x-7z-compressed"},
    {"aac", "audio/aac"},
    {"apng", "image/apng"},
    {"atom", "application/atom+xml"},
    {"avif", "image/avif"},
    {"bmp", "image/bmp"},
    {"bz2", "application/x-bzip2"},
    {"css", "text/css"},
    {"csv", "text/csv"},
    {"doc", "application/msword"},
    {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"eot", "application/vnd.ms-fontobject"},
    {"epub", "application/epub+zip"},
    {"flac", "audio/flac"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"heic", "image/heic"},
    {"htm", "text/html"},
    {"html", "text/html"},
    {"ico", "image/vnd.microsoft.icon"},
    {"ics", "text/calendar"},
    {"jar", "application/java-archive"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "text/javascript"},
    {"json", "application/json"},
    {"jsonld", "application/ld+json"},
    {"jxl", "image/jxl"},
    {"log", "text/plain"},
    {"m4a", "audio/mp4"},
    {"m4v", "video/mp4"},
    {"map", "application/json"},
    {"md", "text/markdown"},
    {"mid", "audio/midi"},
    {"midi", "audio/midi"},
    {"mjs", "text/javascript"},
    {"mkv", "video/x-matroska"},
    {"mov", "video/quicktime"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"mpeg", "video/mpeg"},
    {"mpg", "video/mpeg"},
    {"odp", "application/vnd.oasis.opendocument.presentation"},
    {"ods", "application/vnd.oasis.opendocument.spreadsheet"},
    {"odt", "application/vnd.oasis.opendocument.text"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"opus", "audio/opus"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"png", "image/png"},
    {"ppt", "application/vnd.ms-powerpoint"},
    {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    {"rar", "application/vnd.rar"},
    {"rss", "application/rss+xml"},
    {"rtf", "application/rtf"},
    {"sh", "application/x-sh"},
    {"svg", "image/svg+xml"},
    {"tar", "application/x-tar"},
    {"tgz", "application/gzip"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"ttf", "font/ttf"},
    {"txt", "text/plain"},
    {"vcf", "text/vcard"},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"weba", "audio/webm"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json"},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xhtml", "application/xhtml+xml"},
    {"xls", "application/vnd.ms-excel"},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"xml", "application/xml"},
    {"yaml", "application/yaml"},
    {"yml", "application/yaml"},
    {"zip", "application/zip"},
    {"zst", "application/zstd"},
};

// Strictly increasing keys: sorted, and no extension listed twice.
constexpr bool strictly_sorted() {
    for (size_t i = 1; i < std::size(table); i++)
        if (!(table[i - 1].ext < table[i].ext))
            return false;
    return true;
}
static_assert(strictly_sorted(), "mime table: keep the rows sorted by extension, no duplicates");

// Longer than any extension in the table: an extension this long cannot
// match, so it need not be lower-cased (and no buffer can overflow).
constexpr size_t EXT_MAX = 16;

// The extension of the last segment of `path`, without its dot; empty when
// there is none (see the rules in xps_mime.h).
std::string_view extension_of(std::string_view path) {
    size_t slash = path.rfind('/');
    std::string_view name = slash == std::string_view::npos ? path : path.substr(slash + 1);
    size_t first = name.find_first_not_of('.'); // leading dots are part of the name
    if (first == std::string_view::npos)
        return {}; // "", ".", "..": no name at all
    name.remove_prefix(first);
    size_t dot = name.rfind('.');
    return dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
}

} // namespace

// ------------------------------------------------------------- operations

const char *xps_mime_type(const char *path) noexcept {
    assert(path);
    std::string_view ext = extension_of(path);
    if (ext.empty() || ext.size() > EXT_MAX)
        return XPS_MIME_DEFAULT;
    // The table is lower-case; fold the (short) extension into a local copy.
    // ASCII folding only: extensions are ASCII, and a locale must not change
    // which type a file gets.
    char lower[EXT_MAX];
    for (size_t i = 0; i < ext.size(); i++) {
        char c = ext[i];
        lower[i] = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    }
    std::string_view key(lower, ext.size());
    const mime_row *end = std::end(table);
    const mime_row *row = std::lower_bound(std::begin(table), end, key,
                                           [](const mime_row &r, std::string_view k) {
                                               return r.ext < k;
                                           });
    return row != end && row->ext == key ? row->type : XPS_MIME_DEFAULT;
}

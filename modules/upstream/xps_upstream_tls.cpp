// modules/upstream/xps_upstream_tls.cpp — see xps_upstream_tls.h.
#include "modules/upstream/xps_upstream_tls.h"

#include <cstdio>
#include <new>
#include <utility>
#include <vector>

struct xps_upstream_tls_set_s {
    // A handful of routes at most: a vector searched in order.
    std::vector<std::pair<const xps_config_upstream_tls_t *, xps_tls_client_t *>> clients;
};

xps_upstream_tls_set_t *xps_upstream_tls_set_create(void) noexcept {
    return new (std::nothrow) xps_upstream_tls_set_t{};
}

void xps_upstream_tls_set_destroy(xps_upstream_tls_set_t *set) noexcept {
    if (!set)
        return;
    for (auto &entry : set->clients)
        xps_tls_client_destroy(entry.second);
    delete set;
}

xps_tls_client_t *xps_upstream_tls_get(xps_upstream_tls_set_t *set,
                                       const xps_config_upstream_tls_t *settings, char *err,
                                       size_t err_size) noexcept {
    for (auto &entry : set->clients)
        if (entry.first == settings)
            return entry.second;
    xps_tls_client_t *client =
        xps_tls_client_create(settings->ca_file, settings->verify, err, err_size);
    if (!client)
        return nullptr;
    try {
        set->clients.emplace_back(settings, client);
    } catch (const std::bad_alloc &) {
        xps_tls_client_destroy(client);
        if (err && err_size)
            std::snprintf(err, err_size, "out of memory");
        return nullptr;
    }
    return client;
}

const char *xps_upstream_tls_server_name(const xps_config_upstream_tls_t *settings,
                                         const char *host) noexcept {
    return settings->sni ? settings->sni : host;
}

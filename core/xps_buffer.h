/*
 * core/xps_buffer.h — byte buffers and lists of them.
 *
 * A buffer is one heap block with a window of unread bytes: data() points at
 * the first unread byte, len() counts them, and space()/room() describe the
 * free tail where the next bytes go. Producers write at space() and call
 * produce(n); consumers read at data() and call consume(n). Nothing is ever
 * copied to move the window.
 *
 *      block: [ consumed | data ........ len | space ..... room ]
 *
 * A buffer list is a queue of buffers with a running byte count: what a
 * connection has yet to send, what a parser has received. Buffers move into
 * and out of lists by pointer (ownership passes), never by copy.
 *
 * Introduced in stage 07 (pipes carry buffers). Lifecycle: create → fill /
 * drain → destroy. A buffer has one owner at a time; functions that take
 * ownership say so. Threading: none.
 */
#ifndef XPS_CORE_BUFFER_H
#define XPS_CORE_BUFFER_H

#include <sys/uio.h> /* struct iovec, for writev()/sendmsg() */

#include "core/xps.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- buffer */

/* A new empty buffer able to hold `capacity` bytes (> 0). NULL when out of
 * memory. The caller owns it. */
xps_buffer_t *xps_buffer_create(size_t capacity) XPS_NOEXCEPT;

/* A new buffer holding a copy of `len` bytes (len may be 0). NULL when out
 * of memory. */
xps_buffer_t *xps_buffer_copy_of(const void *bytes, size_t len) XPS_NOEXCEPT;

/* Frees the buffer and its block. Accepts NULL. */
void xps_buffer_destroy(xps_buffer_t *buffer) XPS_NOEXCEPT;

/* The first unread byte, and how many there are. */
char *xps_buffer_data(const xps_buffer_t *buffer) XPS_NOEXCEPT;
size_t xps_buffer_len(const xps_buffer_t *buffer) XPS_NOEXCEPT;

/* Where the next byte goes, and how many fit there. */
char *xps_buffer_space(const xps_buffer_t *buffer) XPS_NOEXCEPT;
size_t xps_buffer_room(const xps_buffer_t *buffer) XPS_NOEXCEPT;

/* `n` bytes were written at space() (n <= room()): they become data. */
void xps_buffer_produce(xps_buffer_t *buffer, size_t n) XPS_NOEXCEPT;

/* `n` bytes at data() were used (n <= len()): the window moves past them.
 * When the buffer becomes empty its window returns to the block's start, so
 * the whole block is room again. */
void xps_buffer_consume(xps_buffer_t *buffer, size_t n) XPS_NOEXCEPT;

/* ----------------------------------------------------------- buffer list */

/* A new empty list. NULL when out of memory. */
xps_buffer_list_t *xps_buffer_list_create(void) XPS_NOEXCEPT;

/* Frees the list and every buffer in it. Accepts NULL. */
void xps_buffer_list_destroy(xps_buffer_list_t *list) XPS_NOEXCEPT;

/* Takes ownership of `buffer` and queues it at the end. An empty buffer is
 * destroyed instead of queued. Returns XPS_OK, or XPS_E_NOMEM (the buffer
 * is destroyed then too: after the call the caller never owns it). */
int xps_buffer_list_append(xps_buffer_list_t *list, xps_buffer_t *buffer) XPS_NOEXCEPT;

/* Unread bytes in all buffers, and the number of buffers. */
size_t xps_buffer_list_len(const xps_buffer_list_t *list) XPS_NOEXCEPT;
size_t xps_buffer_list_count(const xps_buffer_list_t *list) XPS_NOEXCEPT;

/* The first buffer, still owned by the list (NULL when empty). Read it;
 * do not move its window (consume through xps_buffer_list_consume, or the
 * list's byte count goes wrong). */
xps_buffer_t *xps_buffer_list_front(const xps_buffer_list_t *list) XPS_NOEXCEPT;

/* Removes the first buffer and gives it to the caller (NULL when empty). */
xps_buffer_t *xps_buffer_list_pop(xps_buffer_list_t *list) XPS_NOEXCEPT;

/* Copies up to `max` bytes from the front into `dst` without consuming
 * them, across buffer boundaries. Returns the number copied. */
size_t xps_buffer_list_peek(const xps_buffer_list_t *list, void *dst, size_t max) XPS_NOEXCEPT;

/* Drops `n` bytes from the front (n <= len()), destroying buffers that
 * become empty. */
void xps_buffer_list_consume(xps_buffer_list_t *list, size_t n) XPS_NOEXCEPT;

/* Fills up to `max` iovecs with the front buffers' unread bytes, for one
 * writev()/sendmsg(); returns how many were filled. Consume what the system
 * call reports as sent. */
int xps_buffer_list_iov(const xps_buffer_list_t *list, struct iovec *iov, int max) XPS_NOEXCEPT;

#ifdef __cplusplus
}
#endif

#endif /* XPS_CORE_BUFFER_H */

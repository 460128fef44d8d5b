/*
 * tests/unit/buffer.c — core/xps_buffer.h checked against its contract:
 * the window arithmetic of one buffer, and a buffer list's ownership,
 * peek, consume and iovec export across buffer boundaries.
 *
 * Run under valgrind (or `make SAN=1`) to prove that list_destroy frees
 * every buffer it holds and that append destroys what it does not queue.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/xps_buffer.h"

/* A buffer holding a copy of the C string `s` (so tests read as text). */
static xps_buffer_t *buffer_of(const char *s)
{
    xps_buffer_t *b = xps_buffer_copy_of(s, strlen(s));
    assert_non_null(b);
    return b;
}

/* A list of the given pieces, one buffer per piece, in order. */
static xps_buffer_list_t *list_of(const char *const *pieces, size_t n)
{
    xps_buffer_list_t *list = xps_buffer_list_create();
    assert_non_null(list);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(xps_buffer_list_append(list, buffer_of(pieces[i])), XPS_OK);
    return list;
}

/* The pieces most list tests use: 3 + 4 + 5 = 12 bytes in 3 buffers. */
static const char *const abc_pieces[] = {"abc", "defg", "hijkl"};
static const char abc_all[] = "abcdefghijkl";
enum { ABC_LEN = 12, ABC_COUNT = 3 };

/* ----------------------------------------------------------------- buffer */

static void new_buffer_is_empty_with_full_room(void **state)
{
    (void)state;
    xps_buffer_t *b = xps_buffer_create(16);
    assert_non_null(b);
    assert_int_equal(xps_buffer_len(b), 0);
    assert_int_equal(xps_buffer_room(b), 16);
    /* Nothing unread: the data window starts where the space starts. */
    assert_ptr_equal(xps_buffer_data(b), xps_buffer_space(b));
    xps_buffer_destroy(b);
}

static void produce_and_consume_move_the_window(void **state)
{
    (void)state;
    xps_buffer_t *b = xps_buffer_create(10);
    assert_non_null(b);
    char *start = xps_buffer_space(b);

    memcpy(xps_buffer_space(b), "hello", 5);
    xps_buffer_produce(b, 5);
    assert_int_equal(xps_buffer_len(b), 5);
    assert_int_equal(xps_buffer_room(b), 5);
    assert_ptr_equal(xps_buffer_data(b), start);
    assert_ptr_equal(xps_buffer_space(b), start + 5);
    assert_memory_equal(xps_buffer_data(b), "hello", 5);

    xps_buffer_consume(b, 2);
    assert_int_equal(xps_buffer_len(b), 3);
    assert_ptr_equal(xps_buffer_data(b), start + 2);
    assert_memory_equal(xps_buffer_data(b), "llo", 3);
    /* Consumed bytes at the front are not room: room is the free tail. */
    assert_int_equal(xps_buffer_room(b), 5);

    memcpy(xps_buffer_space(b), "world", 5);
    xps_buffer_produce(b, 5);
    assert_int_equal(xps_buffer_len(b), 8);
    assert_int_equal(xps_buffer_room(b), 0);
    assert_memory_equal(xps_buffer_data(b), "lloworld", 8);
    xps_buffer_destroy(b);
}

static void consume_to_empty_resets_the_window(void **state)
{
    (void)state;
    xps_buffer_t *b = xps_buffer_create(8);
    assert_non_null(b);
    char *start = xps_buffer_space(b);
    memcpy(xps_buffer_space(b), "abcdef", 6);
    xps_buffer_produce(b, 6);
    xps_buffer_consume(b, 4);
    assert_int_equal(xps_buffer_room(b), 2);

    xps_buffer_consume(b, 2); /* now empty */
    assert_int_equal(xps_buffer_len(b), 0);
    assert_int_equal(xps_buffer_room(b), 8);
    assert_ptr_equal(xps_buffer_data(b), start);
    assert_ptr_equal(xps_buffer_space(b), start);

    /* A buffer filled exactly to capacity and drained in one step too. */
    memcpy(xps_buffer_space(b), "12345678", 8);
    xps_buffer_produce(b, 8);
    assert_int_equal(xps_buffer_room(b), 0);
    xps_buffer_consume(b, 8);
    assert_int_equal(xps_buffer_room(b), 8);
    assert_ptr_equal(xps_buffer_space(b), start);
    xps_buffer_destroy(b);
}

static void consume_zero_changes_nothing(void **state)
{
    (void)state;
    xps_buffer_t *b = buffer_of("xyz");
    char *data = xps_buffer_data(b);
    xps_buffer_consume(b, 0);
    assert_int_equal(xps_buffer_len(b), 3);
    assert_ptr_equal(xps_buffer_data(b), data);
    xps_buffer_destroy(b);
}

static void copy_of_holds_a_copy(void **state)
{
    (void)state;
    char src[] = "payload";
    xps_buffer_t *b = xps_buffer_copy_of(src, 7);
    assert_non_null(b);
    assert_int_equal(xps_buffer_len(b), 7);
    assert_ptr_not_equal(xps_buffer_data(b), src);
    memset(src, 'X', 7); /* the buffer must not see changes to the source */
    assert_memory_equal(xps_buffer_data(b), "payload", 7);
    xps_buffer_destroy(b);
}

static void copy_of_zero_bytes_is_an_empty_buffer(void **state)
{
    (void)state;
    /* len may be 0; the header allows it, with or without a pointer. */
    xps_buffer_t *b = xps_buffer_copy_of("ignored", 0);
    assert_non_null(b);
    assert_int_equal(xps_buffer_len(b), 0);
    xps_buffer_destroy(b);

    b = xps_buffer_copy_of(NULL, 0);
    assert_non_null(b);
    assert_int_equal(xps_buffer_len(b), 0);
    xps_buffer_destroy(b);
}

static void destroy_accepts_null(void **state)
{
    (void)state;
    xps_buffer_destroy(NULL);
    xps_buffer_list_destroy(NULL);
}

/* ------------------------------------------------------------ buffer list */

static void new_list_is_empty(void **state)
{
    (void)state;
    xps_buffer_list_t *list = xps_buffer_list_create();
    assert_non_null(list);
    assert_int_equal(xps_buffer_list_len(list), 0);
    assert_int_equal(xps_buffer_list_count(list), 0);
    assert_null(xps_buffer_list_front(list));
    assert_null(xps_buffer_list_pop(list));
    char dst[4];
    assert_int_equal(xps_buffer_list_peek(list, dst, sizeof dst), 0);
    struct iovec iov[2];
    assert_int_equal(xps_buffer_list_iov(list, iov, 2), 0);
    xps_buffer_list_destroy(list);
}

static void append_takes_ownership_and_counts(void **state)
{
    (void)state;
    xps_buffer_list_t *list = xps_buffer_list_create();
    assert_non_null(list);
    size_t expect_len = 0;
    for (size_t i = 0; i < ABC_COUNT; i++) {
        xps_buffer_t *b = buffer_of(abc_pieces[i]);
        assert_int_equal(xps_buffer_list_append(list, b), XPS_OK);
        expect_len += strlen(abc_pieces[i]);
        assert_int_equal(xps_buffer_list_len(list), expect_len);
        assert_int_equal(xps_buffer_list_count(list), i + 1);
    }
    /* The list holds the very buffers appended, first in front. */
    assert_memory_equal(xps_buffer_data(xps_buffer_list_front(list)), "abc", 3);
    xps_buffer_list_destroy(list); /* valgrind: all three freed */
}

static void append_destroys_an_empty_buffer(void **state)
{
    (void)state;
    xps_buffer_list_t *list = xps_buffer_list_create();
    assert_non_null(list);
    xps_buffer_t *empty = xps_buffer_create(32);
    assert_non_null(empty);
    assert_int_equal(xps_buffer_list_append(list, empty), XPS_OK);
    assert_int_equal(xps_buffer_list_count(list), 0);
    assert_int_equal(xps_buffer_list_len(list), 0);
    assert_null(xps_buffer_list_front(list));

    /* A drained buffer is empty too. */
    xps_buffer_t *drained = buffer_of("gone");
    xps_buffer_consume(drained, 4);
    assert_int_equal(xps_buffer_list_append(list, drained), XPS_OK);
    assert_int_equal(xps_buffer_list_count(list), 0);

    /* And a zero-byte copy. */
    assert_int_equal(xps_buffer_list_append(list, xps_buffer_copy_of(NULL, 0)), XPS_OK);
    assert_int_equal(xps_buffer_list_count(list), 0);
    xps_buffer_list_destroy(list); /* valgrind: the empty buffers were freed */
}

static void append_keeps_a_partly_consumed_window(void **state)
{
    (void)state;
    xps_buffer_list_t *list = xps_buffer_list_create();
    assert_non_null(list);
    xps_buffer_t *b = buffer_of("skipme:keep");
    xps_buffer_consume(b, 7);
    assert_int_equal(xps_buffer_list_append(list, b), XPS_OK);
    assert_int_equal(xps_buffer_list_len(list), 4);
    char dst[8] = {0};
    assert_int_equal(xps_buffer_list_peek(list, dst, sizeof dst), 4);
    assert_memory_equal(dst, "keep", 4);
    xps_buffer_list_destroy(list);
}

static void front_borrows_and_pop_hands_over(void **state)
{
    (void)state;
    xps_buffer_list_t *list = list_of(abc_pieces, ABC_COUNT);
    xps_buffer_t *front = xps_buffer_list_front(list);
    assert_non_null(front);
    /* front() does not remove anything. */
    assert_int_equal(xps_buffer_list_count(list), ABC_COUNT);
    assert_int_equal(xps_buffer_list_len(list), ABC_LEN);
    assert_ptr_equal(xps_buffer_list_front(list), front);

    xps_buffer_t *popped = xps_buffer_list_pop(list);
    assert_ptr_equal(popped, front);
    assert_int_equal(xps_buffer_list_count(list), 2);
    assert_int_equal(xps_buffer_list_len(list), ABC_LEN - 3);
    assert_memory_equal(xps_buffer_data(popped), "abc", 3);
    assert_memory_equal(xps_buffer_data(xps_buffer_list_front(list)), "defg", 4);

    /* Popped, the buffer is ours: it outlives the list. */
    xps_buffer_list_destroy(list);
    assert_memory_equal(xps_buffer_data(popped), "abc", 3);
    xps_buffer_destroy(popped);
}

static void pop_everything_then_null(void **state)
{
    (void)state;
    xps_buffer_list_t *list = list_of(abc_pieces, ABC_COUNT);
    for (size_t i = 0; i < ABC_COUNT; i++) {
        xps_buffer_t *b = xps_buffer_list_pop(list);
        assert_non_null(b);
        assert_int_equal(xps_buffer_len(b), strlen(abc_pieces[i]));
        assert_memory_equal(xps_buffer_data(b), abc_pieces[i], strlen(abc_pieces[i]));
        xps_buffer_destroy(b);
    }
    assert_null(xps_buffer_list_pop(list));
    assert_null(xps_buffer_list_front(list));
    assert_int_equal(xps_buffer_list_len(list), 0);
    assert_int_equal(xps_buffer_list_count(list), 0);
    xps_buffer_list_destroy(list);
}

/* peek: table of max values against "abc|defg|hijkl". */
static void peek_across_boundaries(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        size_t max;
        size_t expect; /* bytes copied; they are abc_all[0..expect) */
    } cases[] = {
        {"zero", 0, 0},
        {"inside the first buffer", 2, 2},
        {"exactly the first buffer", 3, 3},
        {"one byte into the second", 4, 4},
        {"exact boundary after two", 7, 7},
        {"across all three", 10, 10},
        {"exactly everything", ABC_LEN, ABC_LEN},
        {"more than len", 100, ABC_LEN},
    };
    xps_buffer_list_t *list = list_of(abc_pieces, ABC_COUNT);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char dst[128];
        memset(dst, '#', sizeof dst);
        size_t got = xps_buffer_list_peek(list, dst, cases[i].max);
        if (got != cases[i].expect)
            fail_msg("peek %s (max %zu): copied %zu, expected %zu", cases[i].what,
                     cases[i].max, got, cases[i].expect);
        assert_memory_equal(dst, abc_all, got);
        /* Nothing beyond `got` was written. */
        assert_int_equal(dst[got], '#');
        /* Peek consumes nothing. */
        assert_int_equal(xps_buffer_list_len(list), ABC_LEN);
        assert_int_equal(xps_buffer_list_count(list), ABC_COUNT);
    }
    xps_buffer_list_destroy(list);
}

static void peek_after_partial_consume_starts_at_the_window(void **state)
{
    (void)state;
    xps_buffer_list_t *list = list_of(abc_pieces, ABC_COUNT);
    xps_buffer_list_consume(list, 2);
    char dst[16] = {0};
    assert_int_equal(xps_buffer_list_peek(list, dst, 5), 5);
    assert_memory_equal(dst, "cdefg", 5);
    xps_buffer_list_destroy(list);
}

/* consume: table of n values; after each, len/count and the rest. */
static void consume_across_boundaries(void **state)
{
    (void)state;
    static const struct {
        const char *what;
        size_t n;
        size_t count_after; /* buffers left */
    } cases[] = {
        {"nothing", 0, 3},
        {"part of the first", 1, 3},
        {"exactly the first", 3, 2},
        {"into the second", 5, 2},
        {"exact boundary after two", 7, 1},
        {"into the third", 9, 1},
        {"all but one byte", ABC_LEN - 1, 1},
        {"all", ABC_LEN, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        xps_buffer_list_t *list = list_of(abc_pieces, ABC_COUNT);
        xps_buffer_list_consume(list, cases[i].n);
        size_t left = ABC_LEN - cases[i].n;
        if (xps_buffer_list_len(list) != left ||
            xps_buffer_list_count(list) != cases[i].count_after)
            fail_msg("consume %s (%zu): len %zu count %zu, expected len %zu count %zu",
                     cases[i].what, cases[i].n, xps_buffer_list_len(list),
                     xps_buffer_list_count(list), left, cases[i].count_after);
        char dst[ABC_LEN + 1];
        assert_int_equal(xps_buffer_list_peek(list, dst, sizeof dst), left);
        assert_memory_equal(dst, abc_all + cases[i].n, left);
        if (left == 0)
            assert_null(xps_buffer_list_front(list));
        else
            assert_int_equal(*xps_buffer_data(xps_buffer_list_front(list)),
                             abc_all[cases[i].n]);
        xps_buffer_list_destroy(list); /* valgrind: consumed buffers were freed */
    }
}

static void consume_in_small_steps_matches_one_step(void **state)
{
    (void)state;
    xps_buffer_list_t *list = list_of(abc_pieces, ABC_COUNT);
    for (size_t i = 0; i < ABC_LEN; i++) {
        char c = 0;
        assert_int_equal(xps_buffer_list_peek(list, &c, 1), 1);
        assert_int_equal(c, abc_all[i]);
        xps_buffer_list_consume(list, 1);
        assert_int_equal(xps_buffer_list_len(list), ABC_LEN - i - 1);
    }
    assert_int_equal(xps_buffer_list_count(list), 0);
    xps_buffer_list_destroy(list);
}

/* iov: table of max values against the three buffers. */
static void iov_exports_front_buffers(void **state)
{
    (void)state;
    static const struct {
        int max;
        int expect;
    } cases[] = {{0, 0}, {1, 1}, {2, 2}, {3, 3}, {4, 3}, {16, 3}};
    xps_buffer_list_t *list = list_of(abc_pieces, ABC_COUNT);
    xps_buffer_t *first = xps_buffer_list_front(list);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct iovec iov[16];
        memset(iov, 0, sizeof iov);
        int got = xps_buffer_list_iov(list, iov, cases[i].max);
        if (got != cases[i].expect)
            fail_msg("iov max %d: filled %d, expected %d", cases[i].max, got, cases[i].expect);
        for (int k = 0; k < got; k++) {
            assert_int_equal(iov[k].iov_len, strlen(abc_pieces[k]));
            assert_memory_equal(iov[k].iov_base, abc_pieces[k], iov[k].iov_len);
        }
        if (got > 0) /* in place, not copies */
            assert_ptr_equal(iov[0].iov_base, xps_buffer_data(first));
        /* Slots past `got` untouched. */
        for (int k = got; k < 16; k++)
            assert_null(iov[k].iov_base);
    }
    assert_int_equal(xps_buffer_list_len(list), ABC_LEN);
    xps_buffer_list_destroy(list);
}

static void iov_follows_a_partial_consume(void **state)
{
    (void)state;
    xps_buffer_list_t *list = list_of(abc_pieces, ABC_COUNT);
    xps_buffer_list_consume(list, 4); /* "abc" gone, "d" gone */
    struct iovec iov[4];
    assert_int_equal(xps_buffer_list_iov(list, iov, 4), 2);
    assert_int_equal(iov[0].iov_len, 3);
    assert_memory_equal(iov[0].iov_base, "efg", 3);
    assert_int_equal(iov[1].iov_len, 5);
    assert_memory_equal(iov[1].iov_base, "hijkl", 5);
    xps_buffer_list_destroy(list);
}

static void destroy_frees_buffers_inside(void **state)
{
    (void)state;
    /* Many buffers, some partly consumed: valgrind reports any leak. */
    xps_buffer_list_t *list = xps_buffer_list_create();
    assert_non_null(list);
    for (int i = 0; i < 50; i++) {
        xps_buffer_t *b = xps_buffer_create(64);
        assert_non_null(b);
        memset(xps_buffer_space(b), 'a' + i % 26, 64);
        xps_buffer_produce(b, 64);
        assert_int_equal(xps_buffer_list_append(list, b), XPS_OK);
    }
    xps_buffer_list_consume(list, 100);
    assert_int_equal(xps_buffer_list_len(list), 50 * 64 - 100);
    assert_int_equal(xps_buffer_list_count(list), 49);
    xps_buffer_list_destroy(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_buffer_is_empty_with_full_room),
        cmocka_unit_test(produce_and_consume_move_the_window),
        cmocka_unit_test(consume_to_empty_resets_the_window),
        cmocka_unit_test(consume_zero_changes_nothing),
        cmocka_unit_test(copy_of_holds_a_copy),
        cmocka_unit_test(copy_of_zero_bytes_is_an_empty_buffer),
        cmocka_unit_test(destroy_accepts_null),
        cmocka_unit_test(new_list_is_empty),
        cmocka_unit_test(append_takes_ownership_and_counts),
        cmocka_unit_test(append_destroys_an_empty_buffer),
        cmocka_unit_test(append_keeps_a_partly_consumed_window),
        cmocka_unit_test(front_borrows_and_pop_hands_over),
        cmocka_unit_test(pop_everything_then_null),
        cmocka_unit_test(peek_across_boundaries),
        cmocka_unit_test(peek_after_partial_consume_starts_at_the_window),
        cmocka_unit_test(consume_across_boundaries),
        cmocka_unit_test(consume_in_small_steps_matches_one_step),
        cmocka_unit_test(iov_exports_front_buffers),
        cmocka_unit_test(iov_follows_a_partial_consume),
        cmocka_unit_test(destroy_frees_buffers_inside),
    };
    return cmocka_run_group_tests_name("core/xps_buffer", tests, NULL, NULL);
}

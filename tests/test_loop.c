/* test_loop.c -- the event loop's registrations (core/loop.h): a handler that
 * wants no event is not called at all, not even for a hung-up socket, which
 * epoll reports whatever the mask; asking again brings the hang-up. Found by
 * fuzz/fuzz_server_session: a stream paused for back-pressure whose target
 * reset the connection was called on every iteration (a busy loop). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/socket.h>
#include <unistd.h>

#include "loop.h"

typedef struct probe {
    ioh_t io;
    int calls;
    uint32_t last;
} probe_t;

static void probe_cb(loop_t *l, ioh_t *h, uint32_t ev)
{
    probe_t *p = h->ud;
    p->calls++;
    p->last = ev;
}

static void stop_task(loop_t *l, void *arg) { loop_stop(l); }

/* One turn: the posted task makes epoll_wait return at once. */
static void turn(loop_t *l)
{
    assert_int_equal(loop_post(l, stop_task, NULL), 0);
    loop_run(l);
}

static void test_no_events_no_hangup(void **state)
{
    loop_t *l = loop_new();
    int sv[2];
    assert_non_null(l);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    probe_t p = {0};
    assert_int_equal(loop_add(l, &p.io, sv[0], EPOLLIN, probe_cb, &p), 0);
    loop_mod(l, &p.io, 0);          /* paused: wants nothing */
    close(sv[1]);                   /* the peer hangs up */
    for (int i = 0; i < 3; i++) turn(l);
    assert_int_equal(p.calls, 0);
    loop_mod(l, &p.io, EPOLLIN);    /* resumed: the hang-up is there */
    turn(l);
    assert_int_equal(p.calls, 1);
    assert_true(p.last & EPOLLHUP);
    loop_del(l, &p.io);
    close(sv[0]);
    loop_free(l);
}

static void test_added_without_events(void **state)
{
    loop_t *l = loop_new();
    int sv[2];
    assert_non_null(l);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    probe_t p = {0};
    assert_int_equal(loop_add(l, &p.io, sv[0], 0, probe_cb, &p), 0);
    close(sv[1]);
    turn(l);
    assert_int_equal(p.calls, 0);
    loop_mod(l, &p.io, EPOLLOUT);   /* watched from now on */
    turn(l);
    assert_int_equal(p.calls, 1);
    loop_mod(l, &p.io, EPOLLIN);
    turn(l);
    assert_int_equal(p.calls, 2);
    loop_del(l, &p.io);             /* never watched again, even if asked */
    assert_int_equal(loop_mod(l, &p.io, EPOLLIN), 0);
    turn(l);
    assert_int_equal(p.calls, 2);
    close(sv[0]);
    loop_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_events_no_hangup),
        cmocka_unit_test(test_added_without_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

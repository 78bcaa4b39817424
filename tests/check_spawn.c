/* Child processes (io/spawn.c): a piped child's output and exit status, a talkative child drained
 * without blocking, stdout sent to /dev/null, a program that does not exist, and the binary's path. */
#include <check.h>
#include <string.h>
#include <unistd.h>

#include "io/spawn.h"
#include "test_util.h"

static int run_sh(const char *script, spawn_out out, char *buf, size_t len, char *why, size_t whylen)
{
    char *argv[] = {"sh", "-c", (char *)script, NULL};
    spawn_child c;
    err_t e;
    ck_assert_int_eq(spawn_start("/bin/sh", argv, out, &c, &e), 0);
    if (out == SPAWN_OUT_PIPE)
        spawn_read_all(&c, buf, len);
    else
        ck_assert_int_eq(c.out_fd, -1);
    int status;
    ck_assert_int_eq(spawn_wait(c.pid, &status, NULL, &e), c.pid);
    spawn_status_str(status, why, whylen);
    return spawn_ok(status);
}

START_TEST(test_spawn_pipe)
{
    char buf[64], why[64];
    ck_assert_int_eq(run_sh("echo kind,steps; echo train,3", SPAWN_OUT_PIPE, buf, sizeof buf, why, sizeof why), 1);
    ck_assert_str_eq(buf, "kind,steps\ntrain,3\n");
    ck_assert_str_eq(why, "exit status 0");
    ck_assert_int_eq(run_sh("echo no; exit 3", SPAWN_OUT_PIPE, buf, sizeof buf, why, sizeof why), 0);
    ck_assert_str_eq(why, "exit status 3");
    ck_assert_int_eq(run_sh("kill -9 $$", SPAWN_OUT_PIPE, buf, sizeof buf, why, sizeof why), 0);
    ck_assert_str_eq(why, "signal 9");
    /* 1 MB through a 64-byte buffer: the rest is drained, the child ends */
    ck_assert_int_eq(run_sh("head -c 1000000 /dev/zero | tr '\\0' x", SPAWN_OUT_PIPE, buf, sizeof buf, why, sizeof why), 1);
    ck_assert_uint_eq(strlen(buf), sizeof buf - 1);
    ck_assert_int_eq(run_sh("echo lost", SPAWN_OUT_NULL, NULL, 0, why, sizeof why), 1);
}
END_TEST

START_TEST(test_spawn_missing)
{
    char *argv[] = {"/nonexistent/python3", NULL};
    spawn_child c;
    err_t e;
    ck_assert_int_eq(spawn_start(NULL, argv, SPAWN_OUT_PIPE, &c, &e), -1);
    ck_assert_msg(strstr(e.msg, "cannot run /nonexistent/python3"), "%s", e.msg);
    ck_assert_int_eq(c.out_fd, -1);
}
END_TEST

START_TEST(test_self_path)
{
    char path[4096];
    err_t e;
    ck_assert_int_eq(spawn_self_path(path, sizeof path, &e), 0);
    ck_assert(path[0] == '/');
    ck_assert_int_eq(access(path, X_OK), 0);
}
END_TEST

Suite *suite_spawn(void)
{
    Suite *s = suite_create("spawn");
    TCase *tc = tcase_create("spawn");
    tcase_add_test(tc, test_spawn_pipe);
    tcase_add_test(tc, test_spawn_missing);
    tcase_add_test(tc, test_self_path);
    suite_add_tcase(s, tc);
    return s;
}

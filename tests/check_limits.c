/* Inputs that must not take the machine down: the size limits of lib/io/limits.h, seen from the
 * library and from the command line, and --threads above the CPU count under a memory limit. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/error.h"
#include "core/params.h"
#include "io/ckpt.h"
#include "io/gzfile.h"
#include "io/limits.h"
#include "test_util.h"

static char *path_in(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = xmalloc(len);
    snprintf(p, len, "%s/%s", dir, name);
    return p;
}

/* n bytes of 'a' (a newline every 64 bytes when lines), plain or gzip. */
static void write_filler(const char *path, size_t n, int lines, int gz)
{
    char *buf = xmalloc(n ? n : 1);
    for (size_t i = 0; i < n; i++)
        buf[i] = lines && i % 64 == 63 ? '\n' : 'a';
    if (gz) {
        gzFile f = gzopen(path, "wb9");
        ck_assert_ptr_nonnull(f);
        ck_assert_int_eq(gzwrite(f, buf, (unsigned)n), (int)n);
        ck_assert_int_eq(gzclose(f), Z_OK);
    } else {
        FILE *f = fopen(path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(buf, 1, n, f), n);
        ck_assert_int_eq(fclose(f), 0);
    }
    free(buf);
}

static int file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* ---- the library ------------------------------------------------------------------------------ */

START_TEST(test_read_max_boundary)
{
    char *dir = test_tmpdir(), *path = path_in(dir, "f.txt"), want[1024];
    err_t e = {{0}};
    size_t len;
    for (int gz = 0; gz < 2; gz++) {
        /* exactly the limit is read; one byte more is refused, measured after decompression */
        write_filler(path, LIMIT_MIB, 0, gz);
        char *text = file_read_max(path, LIMIT_MIB, "a test file", &len, &e);
        ck_assert_msg(text != NULL, "%s", e.msg);
        ck_assert_uint_eq(len, LIMIT_MIB);
        free(text);
        write_filler(path, LIMIT_MIB + 1, 0, gz);
        ck_assert_ptr_null(file_read_max(path, LIMIT_MIB, "a test file", &len, &e));
        snprintf(want, sizeof want, "%s: larger than 1 MiB, the limit for a test file", path);
        ck_assert_str_eq(e.msg, want);
    }
    ck_assert_ptr_null(file_read_max("/dev/zero", LIMIT_MIB, "a test file", &len, &e));
    ck_assert_str_eq(e.msg, "/dev/zero: larger than 1 MiB, the limit for a test file");
    free(path);
    test_rmdir(dir);
}
END_TEST

/* Every line is read until the total passes the limit; a line longer than its limit is refused. */
static int count_lines(const char *path, size_t max_line, size_t max_total, err_t *e)
{
    line_reader *r = lines_open(path, e);
    ck_assert_ptr_nonnull(r);
    lines_limit(r, max_line, max_total, "a test corpus");
    int n = 0;
    size_t len;
    while (lines_next(r, &len))
        n++;
    return lines_close(r, e) == 0 ? n : -1;
}

START_TEST(test_lines_limits)
{
    char *dir = test_tmpdir(), *path = path_in(dir, "l.txt"), want[1024];
    err_t e = {{0}};
    write_filler(path, 2 * LIMIT_MIB, 1, 1);
    ck_assert_int_eq(count_lines(path, LIMIT_MIB, 2 * LIMIT_MIB, &e), (int)(2 * LIMIT_MIB / 64));
    ck_assert_int_eq(count_lines(path, LIMIT_MIB, LIMIT_MIB, &e), -1);
    snprintf(want, sizeof want, "%s: larger than 1 MiB, the limit for a test corpus", path);
    ck_assert_str_eq(e.msg, want);
    write_filler(path, 3 * LIMIT_MIB, 0, 0);   /* one line of 3 MiB */
    ck_assert_int_eq(count_lines(path, LIMIT_MIB, 8 * LIMIT_MIB, &e), -1);
    snprintf(want, sizeof want, "%s:1: longer than 1 MiB, the limit for a line of a test corpus", path);
    ck_assert_str_eq(e.msg, want);
    free(path);
    test_rmdir(dir);
}
END_TEST

/* A header length above the limit is refused before anything that size is allocated (a sparse
 * file makes the length plausible against the file's size). */
START_TEST(test_ckpt_header_limit)
{
    char *dir = test_tmpdir(), *path = path_in(dir, "big.safetensors"), want[1024];
    uint64_t hlen = LIMIT_CKPT_HEADER_BYTES + 8;
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    for (int i = 0; i < 8; i++)
        fputc((int)(hlen >> (8 * i) & 0xff), f);
    fputc('{', f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(truncate(path, (off_t)(8 + hlen)), 0);
    param_store ps;
    params_init(&ps);
    params_declare(&ps, "w", 1, (int[]){2}, 0);
    params_alloc(&ps);
    err_t e = {{0}};
    ck_assert_int_eq(ckpt_load(path, &ps, 0, &e), -1);
    snprintf(want, sizeof want, "%s: header length %llu is larger than 100 MiB, the limit for a safetensors header", path,
             (unsigned long long)hlen);
    ck_assert_str_eq(e.msg, want);
    ck_assert_ptr_null(ckpt_meta_read(path, &e));
    ck_assert_str_eq(e.msg, want);
    params_free(&ps);
    free(path);
    test_rmdir(dir);
}
END_TEST

/* ---- the command line ------------------------------------------------------------------------- */

/* /dev/zero in place of each input read whole: one line naming the file and the limit, the
 * project's exit code (2 for a bad option value, 1 for a bad file at run time), nothing written. */
START_TEST(test_cli_dev_zero)
{
    char *dir = test_tmpdir(), *out = path_in(dir, "out");
    bad_input_case cases[] = {
        {"", 2, "memlab: /dev/zero: larger than 1 MiB, the limit for a YAML config file"},
        {"", 2, "memlab: regbench: /dev/zero: larger than 1 MiB, the limit for a YAML config file"},
        {"", 1, "memlab: tokenize: /dev/zero: larger than 64 MiB, the limit for a tokenizer file"},
        {"", 1, "/dev/zero:1: longer than 64 MiB, the limit for a line of a story corpus"},
    };
    snprintf(cases[0].args, sizeof cases[0].args, "xor --config /dev/zero --out-dir %s", out);
    snprintf(cases[1].args, sizeof cases[1].args, "regbench --sweep --preset smoke --grid /dev/zero --out-dir %s", out);
    snprintf(cases[2].args, sizeof cases[2].args, "tokenize --tokenizer /dev/zero -o %s/ids.txt < /dev/null", dir);
    snprintf(cases[3].args, sizeof cases[3].args, "babistories --preset smoke --quiet --data /dev/zero --out-dir %s -o %s/t.csv",
             out, dir);
    expect_bad_inputs("", cases, sizeof cases / sizeof *cases);
    ck_assert(!file_exists(out));
    char *ids = path_in(dir, "ids.txt"), *csv = path_in(dir, "t.csv");
    ck_assert(!file_exists(ids) && !file_exists(csv));
    free(ids);
    free(csv);
    free(out);
    test_rmdir(dir);
}
END_TEST

/* --threads far above the CPU count under a 4 GB address-space limit used to hang in OpenBLAS's
 * buffer allocation; it is capped at the online CPUs with a note, and the run records the cap. */
START_TEST(test_cli_threads_capped)
{
    char *dir = test_tmpdir(), cmd[2048], *out, *err, want[256];
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    long asked = online + 30;
    snprintf(cmd, sizeof cmd, "ulimit -v 4000000; timeout 60 %s xor --threads %ld --preset smoke --out-dir %s -o %s/x.csv",
             test_memlab_bin(), asked, dir, dir);
    ck_assert_msg(test_run(cmd, &out, &err) == 0, "%s", err);
    snprintf(want, sizeof want, "memlab: note: --threads %ld is more than the %ld online CPU%s; using %ld\n", asked, online,
             online == 1 ? "" : "s", online);
    ck_assert_msg(!strncmp(err, want, strlen(want)), "%s", err);
    free(out);
    free(err);
    char *config_path = path_in(dir, "config.yaml"), *config = test_slurp(config_path);
    ck_assert_ptr_nonnull(config);
    snprintf(want, sizeof want, "\nthreads: %ld\n", online);
    ck_assert_msg(strstr(config, want) != NULL, "%s", config);
    free(config);
    free(config_path);
    /* --quiet silences the note, not the cap */
    snprintf(cmd, sizeof cmd, "%s xor --threads %ld --preset smoke --quiet --print-config", test_memlab_bin(), asked);
    ck_assert_int_eq(test_run(cmd, &out, &err), 0);
    ck_assert_str_eq(err, "");
    ck_assert_msg(strstr(out, want) != NULL, "%s", out);
    free(out);
    free(err);
    test_rmdir(dir);
}
END_TEST

/* Running out of memory is one line naming the allocating function and the size, exit 1. */
START_TEST(test_cli_out_of_memory)
{
    char *dir = test_tmpdir(), cmd[2048], *out, *err;
    snprintf(cmd, sizeof cmd,
             "ulimit -v 2000000; timeout 120 %s babistories --preset smoke --quiet --batch 1000000 --out-dir %s -o %s/t.csv",
             test_memlab_bin(), dir, dir);
    ck_assert_int_eq(test_run(cmd, &out, &err), 1);
    ck_assert_msg(!strncmp(err, "memlab: out of memory: ", 23) && strstr(err, " asked for ") && strstr(err, " bytes ("),
                  "%s", err);
    ck_assert_msg(strchr(err, '\n') == err + strlen(err) - 1, "not one line: %s", err);
    free(out);
    free(err);
    test_rmdir(dir);
}
END_TEST

Suite *suite_limits(void)
{
    Suite *s = suite_create("limits");
    TCase *tc = tcase_create("library");
    tcase_add_test(tc, test_read_max_boundary);
    tcase_add_test(tc, test_lines_limits);
    tcase_add_test(tc, test_ckpt_header_limit);
    suite_add_tcase(s, tc);
    tc = tcase_create("command");
    tcase_set_timeout(tc, 150);
    tcase_add_test(tc, test_cli_dev_zero);
    tcase_add_test(tc, test_cli_threads_capped);
    tcase_add_test(tc, test_cli_out_of_memory);
    suite_add_tcase(s, tc);
    return s;
}

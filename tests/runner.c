/* Runs every Check suite of one precision. The Makefile collects the suite constructors
 * (`Suite *suite_NAME(void)` in tests/check_*.c) into SUITES_INC. */
#include <check.h>
#include <stdlib.h>

#define SUITE(name) Suite *name(void);
#include SUITES_INC
#undef SUITE

int main(void)
{
    SRunner *sr = srunner_create(NULL);
#define SUITE(name) srunner_add_suite(sr, name());
#include SUITES_INC
#undef SUITE
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/*
 * tests/check_main.c - one SRunner holding every suite.  The suite list is generated
 * by the Makefile from the tests/check_<name>.c files (each defines <name>_suite()).
 * CK_RUN_SUITE / CK_RUN_CASE select one suite or case; CK_FORK=no for gdb.
 */
#include <check.h>
#include <stdlib.h>

#define SUITE(name) Suite *name##_suite(void);
#include "suites.h"
#undef SUITE

int main(void)
{
    SRunner *sr = srunner_create(NULL);
#define SUITE(name) srunner_add_suite(sr, name##_suite());
#include "suites.h"
#undef SUITE
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

#!/usr/bin/env bash
# tests/run.sh - the whole test suite, run by `make check` (and `make check-tsan`).
# 1. consistency checks (exports vs headers, man pages, banned functions);
# 2. the Check runner (ends with Check's summary line), under the sanitizer build.
# Env: BUILD (build), VARIANT (build/asan), TSAN=1 for the ThreadSanitizer run.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
VARIANT=${VARIANT:-$BUILD/asan}
export AGX_SRC_DIR=$PWD
export AGX_BUILD_DIR=$PWD/$VARIANT
export AGX_RELEASE_DIR=$PWD/$BUILD
status=0

if [ "${TSAN:-0}" != 1 ]; then
  for t in tests/check-*.sh; do
    [ -e "$t" ] || continue
    echo "== $t"
    if ! bash "$t"; then echo "FAILED: $t"; status=1; fi
  done
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-3}
else
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1 second_deadlock_stack=1 suppressions=$PWD/tests/tsan.supp}
  export CK_TIMEOUT_MULTIPLIER=${CK_TIMEOUT_MULTIPLIER:-5}
  # the threaded suites only, unless the caller chose
  export CK_RUN_SUITE=${CK_RUN_SUITE:-}
fi

echo "== $VARIANT/tests/check_agentex"
if [ "${TSAN:-0}" = 1 ] && [ -z "${CK_RUN_SUITE}" ]; then
  for s in pool httpd acp devserver streaming streaming_e2e; do
    CK_RUN_SUITE=$s "$VARIANT/tests/check_agentex" || status=1
  done
else
  "$VARIANT/tests/check_agentex" || status=1
fi
exit $status

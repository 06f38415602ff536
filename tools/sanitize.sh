#!/usr/bin/env bash
# Runs the whole test suite under a sanitizer (issue 12): a release build of everything with
# -sanitize=address or -sanitize=thread in its own build folder (.build-asan, .build-tsan), then
# the tests, the end-to-end ones driving that instrumented stipple binary (STIPPLE_BINARY).
#
#   tools/sanitize.sh address|thread [swift test arguments, e.g. --filter GenerationTests]
#
# AddressSanitizer runs with leak detection off (the Swift runtime's own caches read as leaks);
# ThreadSanitizer with halt_on_error=0, so one run lists every race. The log is the output; the
# exit status is the test run's. A first build takes 7-10 minutes on two cores.
set -euo pipefail
cd "$(dirname "$0")/.."
kind="${1:-}"
case "$kind" in
    address) folder=.build-asan; export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}" ;;
    thread) folder=.build-tsan; export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=0}" ;;
    *) echo "usage: tools/sanitize.sh address|thread [swift test arguments]" >&2; exit 2 ;;
esac
shift
. scripts/packages.sh
ensure_packages $STIPPLE_BUILD_PACKAGES $STIPPLE_TEST_PACKAGES
flags=(-c release -Xswiftc -enable-testing -Xswiftc "-sanitize=$kind" --scratch-path "$folder")
swift build "${flags[@]}" --build-tests
export STIPPLE_BINARY="$PWD/$folder/release/stipple"
exec swift test "${flags[@]}" --skip-build "$@"

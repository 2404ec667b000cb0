#!/bin/sh
# run-tests.sh BUILD... - run ctest in each build dir; the summary of each
# run is ctest's own. Fails if any run fails.
set -u
rc=0
for b in "$@"; do
	echo "== ctest in $b"
	ctest --test-dir "$b" --output-on-failure --timeout 600 -j "${CT_TEST_JOBS:-2}" || rc=1
done
exit $rc

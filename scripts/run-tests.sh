#!/bin/sh
# run-tests.sh BUILD... - run ctest in each build dir (ctest prints its own
# summary). Tests labelled "once" (lint, packaging, pictures: they do not
# exercise the build's own binaries) run in the first build dir only.
# Fails if any run fails.
set -u
rc=0
first=1
for b in "$@"; do
	echo "== ctest in $b"
	if [ $first = 1 ]; then
		ctest --test-dir "$b" --output-on-failure --timeout 600 -j "${CT_TEST_JOBS:-2}" || rc=1
	else
		ctest --test-dir "$b" --output-on-failure --timeout 600 -j "${CT_TEST_JOBS:-2}" -LE once || rc=1
	fi
	first=0
done
exit $rc

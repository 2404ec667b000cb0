#!/bin/sh
# run-tests.sh BUILD... - run ctest in each build dir (ctest prints its own
# summary). Tests labelled "once" (lint, packaging, the fronts: they do not
# exercise the build's own code) and the browser tests (Chromium drives the
# daemons through the protocol the ws tests drive directly; they test the
# widget) run in the first build dir only: the sanitizer builds run the
# rest. An argument DIR=REGEX runs only the tests of DIR that REGEX
# matches.
# Fails if any run fails. Tests run nproc + 1 at a time (CT_TEST_JOBS):
# most of them wait on daemons, timers and the database, and two at a
# time left the CPUs idle 40-47 % of a run on 2 cores.
set -u
jobs=${CT_TEST_JOBS:-$(($(nproc) + 1))}
rc=0
first=1
for arg in "$@"; do
	b=${arg%%=*}
	echo "== ctest in $b"
	if [ "$b" != "$arg" ]; then # DIR=REGEX: only the tests it names
		ctest --test-dir "$b" --output-on-failure --timeout 600 -j "$jobs" \
			-R "${arg#*=}" || rc=1
	elif [ $first = 1 ]; then
		ctest --test-dir "$b" --output-on-failure --timeout 600 -j "$jobs" || rc=1
	else
		ctest --test-dir "$b" --output-on-failure --timeout 600 -j "$jobs" -LE 'once|browser' || rc=1
	fi
	first=0
done
exit $rc

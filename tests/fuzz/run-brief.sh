#!/bin/sh
# run-brief.sh - the suite 'fuzz' test of one target: a short libFuzzer run
# from the seed corpus (read, never written: new inputs go to a temporary
# directory), capped in executions as well as in time.
#
#     run-brief.sh FUZZER ARTIFACT_DIR SECONDS
#
# FUZZER is .../fuzz_NAME; its seeds are corpus/NAME next to this script,
# with NAME.dict and NAME.options (more libFuzzer flags) when they exist.
# The bugs listed in known-bugs are stepped around (see that file) unless
# OTELSHIM_FUZZ_KNOWN is already set. A crash leaves its reproducer in
# ARTIFACT_DIR and fails the test; run it again with: FUZZER FILE.
set -eu

fuzzer=$1
art=$2
secs=$3
here=$(cd "$(dirname "$0")" && pwd)
name=$(basename "$fuzzer")
name=${name#fuzz_}

if [ -z "${OTELSHIM_FUZZ_KNOWN+set}" ]; then
	OTELSHIM_FUZZ_KNOWN=$(sed -e 's/#.*//' "$here/known-bugs" | tr -s ' \t\n' '\n' |
		grep . | paste -sd, -) || true
	export OTELSHIM_FUZZ_KNOWN
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$art"

set -- -max_total_time="$secs" -runs=20000000 -timeout=10 -error_exitcode=1 \
	-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$art/"
[ -f "$here/$name.dict" ] && set -- "$@" -dict="$here/$name.dict"
# shellcheck disable=SC2046 # one flag per word
[ -f "$here/$name.options" ] && set -- "$@" $(cat "$here/$name.options")

status=0
"$fuzzer" "$@" "$work" "$here/corpus/$name" >"$work/log" 2>&1 || status=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)
if [ "$status" -ne 0 ]; then
	cat "$work/log"
	echo "fuzz_$name: FAILED after ${execs:-?} executions (status $status); reproducer in $art"
	exit 1
fi
tail -n 8 "$work/log"
echo "fuzz_$name: ${execs:-?} executions in $secs s, no crash (stepping around: ${OTELSHIM_FUZZ_KNOWN:-none})"

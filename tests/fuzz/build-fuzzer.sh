#!/bin/sh
# build-fuzzer.sh - compile and link one libFuzzer target with clang.
#
#     build-fuzzer.sh CLANG OUT DEPFILE FLAGS... -- SOURCES... -- LIBS...
#
# Every source (the target and the library code it exercises) is compiled
# with the fuzzer's coverage instrumentation and the sanitizers, each into
# its own object so that clang can write one dependency file per source;
# they are merged into DEPFILE ("OUT: every header and source") for Ninja.
# Meson runs this from tests/fuzz/meson.build; scripts/fuzz goes through
# Meson too, so there is one recipe.
set -eu

cc=$1
out=$2
depfile=$3
shift 3

flags=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
	flags="$flags $1"
	shift
done
[ $# -gt 0 ] && shift
srcs=""
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
	srcs="$srcs $1"
	shift
done
[ $# -gt 0 ] && shift
libs="$*"

tmp="$out.objs"
rm -rf "$tmp"
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT

san="-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"
objs=""
i=0
for s in $srcs; do
	i=$((i + 1))
	o="$tmp/$i-$(basename "$s" .c).o"
	# shellcheck disable=SC2086 # word splitting of the flag lists is wanted
	"$cc" -c -g -O1 -fno-omit-frame-pointer $san -std=gnu11 \
		-D_GNU_SOURCE $flags -MD -MF "$o.d" "$s" -o "$o"
	objs="$objs $o"
done
# shellcheck disable=SC2086
"$cc" -g $san $objs $libs -o "$out"

# One rule for Ninja: the output depends on everything any source included.
{
	printf '%s:' "$out"
	for d in "$tmp"/*.d; do
		sed -e '1s/^[^:]*://' -e 's/\\$//' "$d"
	done | tr -s ' \n' '  '
	printf '\n'
} >"$depfile"

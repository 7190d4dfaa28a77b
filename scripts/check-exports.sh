#!/bin/sh
# check-exports.sh LIB MAP - the preload library exports exactly the names
# listed in the version script, no more (a leaked symbol could capture a
# program's own function) and no fewer (a missing hook silently traces
# nothing).
set -eu
lib=$1
map=$2
got=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TW]$/ {print $3}' | sed 's/@.*//' | sort -u)
want=$(sed -n '/global:/,/local:/p' "$map" | sed 's|/\*.*\*/||g' |
	grep -v -e 'global:' -e 'local:' |
	tr ';' '\n' | tr -d ' \t' | grep -v '^$' | sort -u)
if [ "$got" != "$want" ]; then
	echo "exported symbols differ from $map:"
	diff -u "$(printf '%s\n' "$want" >/tmp/otelshim-want.$$; echo /tmp/otelshim-want.$$)" \
		"$(printf '%s\n' "$got" >/tmp/otelshim-got.$$; echo /tmp/otelshim-got.$$)" || true
	rm -f /tmp/otelshim-want.$$ /tmp/otelshim-got.$$
	exit 1
fi
# The library never links a database client library: it finds them at
# run time, only in programs that use them.
if readelf -d "$lib" | grep NEEDED | grep -i -E 'libpq|mysql|mariadb'; then
	echo "the library must not link a database client library"
	exit 1
fi
echo "exports match $map ($(printf '%s\n' "$got" | wc -l) symbols)"

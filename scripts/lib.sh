# lib.sh - shared by scripts/otelshim, scripts/test and scripts/bench:
# install what the build needs (Debian packages, through apt, when missing)
# and build the library. Sourced, not run. Progress goes to stderr only.

otelshim_root=$(cd "$(dirname "$0")/.." && pwd)

# Debian packages the build needs, with a command or file that proves each
# (libunwind's header lives in the multiarch include directory).
otelshim_multiarch="$(uname -m)-linux-gnu"
otelshim_build_deps="meson:meson ninja:ninja-build cc:gcc pkg-config:pkg-config protoc-c:protobuf-c-compiler /usr/include/protobuf-c/protobuf-c.h:libprotobuf-c-dev /usr/include/check.h:check /usr/include/$otelshim_multiarch/libunwind.h:libunwind-dev /usr/include/zlib.h:zlib1g-dev"

otelshim_say() {
	printf 'otelshim: %s\n' "$*" >&2
}

# otelshim_need "probe:package ..." - apt-get install the missing ones.
otelshim_need() {
	missing=""
	for pair in $1; do
		probe=${pair%%:*}
		pkg=${pair#*:}
		case $probe in
		/*) [ -e "$probe" ] && continue ;;
		*) command -v "$probe" >/dev/null 2>&1 && continue ;;
		esac
		missing="$missing $pkg"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		otelshim_say "missing packages:$missing (run as root, or: sudo apt-get install$missing)"
		return 1
	fi
	otelshim_say "installing$missing"
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null 2>&1; then
		apt-get update -qq >/dev/null 2>&1 || true
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null ||
			{ otelshim_say "apt-get install$missing failed"; return 1; }
	fi
}

# otelshim_build BUILDDIR [meson options...] - configure once, then build.
otelshim_build() {
	dir=$1
	shift
	otelshim_need "$otelshim_build_deps" || return 1
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$otelshim_root" "$@" >"$dir.setup.log" 2>&1 ||
			{ cat "$dir.setup.log" >&2; return 1; }
	fi
	ninja -C "$dir" >"$dir.build.log" 2>&1 ||
		{ cat "$dir.build.log" >&2; return 1; }
}

#!/bin/sh
# Installs QueueLink with `make install` into a temporary prefix, builds the
# C and C++ examples against the installed copy with the flags that
# pkg-config gives, checks that they load the installed library, and runs
# them. The prefix is removed at the end.
#
# Run from the repository root by `make test-install`. MAKE, CC and CXX
# name the tools to use.
set -eu

make=${MAKE:-make}
cc=${CC:-cc}
cxx=${CXX:-c++}
root=$(pwd)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"

fail() {
    echo "test_install: $*" >&2
    exit 1
}

"$make" --no-print-directory install PREFIX="$prefix" >/dev/null

for file in lib/libqueuelink.so include/queuelink.h include/queuelink.hpp lib/pkgconfig/queuelink.pc; do
    [ -f "$prefix/$file" ] || fail "make install did not create $prefix/$file"
done

PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
export PKG_CONFIG_PATH
cflags=$(pkg-config --cflags queuelink)
libs=$(pkg-config --libs queuelink)
libdir=$(pkg-config --variable=libdir queuelink)
[ "$libdir" = "$prefix/lib" ] || fail "pkg-config gives libdir $libdir, expected $prefix/lib"
version=$(awk '/^#define QL_VERSION_(MAJOR|MINOR|PATCH) /{v=v sep $3; sep="."} END{print v}' include/queuelink.h)
[ "$(pkg-config --modversion queuelink)" = "$version" ] ||
    fail "pkg-config gives version $(pkg-config --modversion queuelink), which differs from include/queuelink.h"

# Copies of the sources, so no header of the checkout sits beside them.
cp "$root/bindings/c/examples/fanout.c" "$root/bindings/cpp/examples/fanin.cpp" "$work/"
cd "$work"
# The flags are word-split on purpose: they are lists of options.
# shellcheck disable=SC2086
"$cc" -std=c99 -Wall -Wextra -Werror -pedantic $cflags -o fanout fanout.c $libs -Wl,-rpath,"$libdir" -lpthread
# shellcheck disable=SC2086
"$cxx" -std=c++17 -Wall -Wextra -Werror -pedantic $cflags -o fanin fanin.cpp $libs -Wl,-rpath,"$libdir" -pthread

# Programs name the library by its SONAME, a link to the versioned file.
soname=libqueuelink.so.$(echo "$version" | cut -d. -f1)
[ -f "$prefix/lib/libqueuelink.so.$version" ] || fail "make install did not create $prefix/lib/libqueuelink.so.$version"
[ -L "$prefix/lib/$soname" ] || fail "make install did not link $prefix/lib/$soname"
for program in fanout fanin; do
    loaded=$(ldd "./$program" | awk -v name="$soname" '$1 == name { print $3 }')
    [ "$loaded" = "$libdir/$soname" ] ||
        fail "$program loads $soname from '$loaded', expected $libdir/$soname"
done

./fanout 1000
./fanin 2 1000
echo "test_install: the examples built against $prefix with pkg-config and ran"

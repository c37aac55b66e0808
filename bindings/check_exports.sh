#!/bin/sh
# Compares the ql_ functions that a built libqueuelink.so exports with the
# functions that queuelink.h declares, and fails when either has one that
# the other lacks.
#
# Usage: check_exports.sh LIBRARY HEADER [CC]
#
# The header goes through the C preprocessor first, so names that appear
# only in comments do not count as declarations.
set -eu

if [ "$#" -lt 2 ] || [ "$#" -gt 3 ]; then
    echo "usage: $0 LIBRARY HEADER [CC]" >&2
    exit 2
fi
library=$1
header=$2
cc=${3:-cc}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The C helpers of the cgo layer (capi/support.c, named ql_capi_*) have
# hidden visibility, so every exported ql_ function must be in the header.
nm -D --defined-only "$library" |
    awk '$2 == "T" && $3 ~ /^ql_/ { print $3 }' |
    sort -u >"$work/exported"

"$cc" -E -P -x c "$header" |
    grep -oE '\bql_[a-z0-9_]+[[:space:]]*\(' |
    tr -d '( \t' |
    sort -u >"$work/declared"

if [ ! -s "$work/exported" ]; then
    echo "error: $library exports no ql_ function; is it a QueueLink build?" >&2
    exit 1
fi

status=0
missing_from_header=$(comm -23 "$work/exported" "$work/declared")
missing_from_library=$(comm -13 "$work/exported" "$work/declared")
if [ -n "$missing_from_header" ]; then
    echo "error: $library exports functions that $header does not declare:" >&2
    echo "$missing_from_header" | sed 's/^/  /' >&2
    status=1
fi
if [ -n "$missing_from_library" ]; then
    echo "error: $header declares functions that $library does not export:" >&2
    echo "$missing_from_library" | sed 's/^/  /' >&2
    status=1
fi
# capi/exports.map keeps every other symbol, the Go runtime's included,
# local to the library.
others=$(nm -D --defined-only "$library" | awk '$3 !~ /^ql_/ { print $3 }')
if [ -n "$others" ]; then
    echo "error: $library exports symbols other than ql_ functions:" >&2
    echo "$others" | sed 's/^/  /' >&2
    status=1
fi
if [ "$status" -eq 0 ]; then
    echo "$(wc -l <"$work/exported") ql_ functions: the library exports and the header declares the same set, and nothing else"
fi
exit "$status"

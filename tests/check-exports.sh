#!/usr/bin/env bash
# tests/check-exports.sh - the shared library exports exactly the public API.
#
# The dynamic symbols defined by $AGX_RELEASE_DIR/lib/libagentex.so (nm -D
# --defined-only, without the version node AGENTEX_0) must be exactly the functions
# declared with AGENTEX_API in include/agentex/*.h (jansson's check-exports, STYLE.md
# §2.10).  Prints both differences and exits 1 on any.
set -uo pipefail
cd "$(dirname "$0")/.."
export AGX_SRC_DIR=${AGX_SRC_DIR:-$PWD}
REL=${AGX_RELEASE_DIR:-$PWD/build}
SO=$REL/lib/libagentex.so
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agx-exports.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

[ -e "$SO" ] || { echo "check-exports: $SO not found (run make first)"; exit 1; }
command -v nm >/dev/null || { echo "check-exports: nm not found (apt-get install binutils)"; exit 1; }

bash tests/api-list.sh > "$tmp/decls" || { echo "check-exports: cannot list the header declarations"; exit 1; }
awk '$2 == "func" && $3 == 1 {print $1}' "$tmp/decls" | sort -u > "$tmp/declared"
nm -D --defined-only "$SO" > "$tmp/nm" || { echo "check-exports: nm failed on $SO"; exit 1; }
# "ADDR TYPE NAME@@NODE"; type A is the version node itself
awk 'NF >= 3 && $2 != "A" {sub(/@.*/, "", $3); print $3}' "$tmp/nm" | sort -u > "$tmp/exported"

status=0
missing=$(comm -23 "$tmp/declared" "$tmp/exported")
extra=$(comm -13 "$tmp/declared" "$tmp/exported")
if [ -n "$missing" ]; then
  echo "declared with AGENTEX_API but not exported by libagentex.so ($(echo "$missing" | wc -l)):"
  while read -r f; do
    printf '  %s (%s)\n' "$f" "$(awk -v f="$f" '$1 == f {print $4; exit}' "$tmp/decls")"
  done <<< "$missing"
  status=1
fi
if [ -n "$extra" ]; then
  echo "exported by libagentex.so but not declared with AGENTEX_API ($(echo "$extra" | wc -l)):"
  echo "$extra" | sed 's/^/  /'
  status=1
fi
# every exported symbol must be a function (no public variables), in the AGENTEX_0 node
bad=$(awk 'NF >= 3 && $2 != "A" && ($2 != "T" || $3 !~ /@@AGENTEX_0$/) {print "  " $3 " (type " $2 ")"}' "$tmp/nm")
if [ -n "$bad" ]; then
  echo "exported symbols that are not functions in version node AGENTEX_0:"
  echo "$bad"
  status=1
fi
n=$(wc -l < "$tmp/exported")
[ $status = 0 ] && echo "check-exports: OK ($n symbols)"
exit $status

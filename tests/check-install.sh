#!/usr/bin/env bash
# tests/check-install.sh - `make install` produces a usable, consistent installation.
#
# Installs the already-built release tree with `make install PREFIX=/usr DESTDIR=$tmp`,
# then checks: the real file, soname (readelf -d) and symlinks; the static library; the
# headers and man pages; agentex.pc (prefix, Version == include/agentex/version.h); a
# small program built only with `pkg-config --cflags --libs agentex` (through
# PKG_CONFIG_SYSROOT_DIR/PKG_CONFIG_PATH) runs against the installed library and prints
# what it should; `make uninstall` removes every file again.  $tmp is removed.
set -uo pipefail
cd "$(dirname "$0")/.."
SRC=$PWD
REL=${AGX_RELEASE_DIR:-$PWD/build}
BUILD_ARG=${REL#"$SRC"/}          # relative when it is inside the tree
CC=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agx-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
D=$tmp/root
status=0
# "ok" lines are shown with AGX_VERBOSE=1, or when something failed (as context)
: > "$tmp/log"
fail() { echo "  FAIL: $*" >> "$tmp/log"; status=1; }
ok() { echo "  ok: $*" >> "$tmp/log"; }

for t in make pkg-config readelf nm "$CC"; do
  command -v "$t" >/dev/null || { echo "check-install: $t not found"; exit 1; }
done
[ -e "$REL/lib/libagentex.so" ] || { echo "check-install: $REL/lib/libagentex.so not found (run make first)"; exit 1; }

vh=include/agentex/version.h
vmaj=$(sed -n 's/^#define AGENTEX_VERSION_MAJOR \([0-9]*\).*/\1/p' $vh)
vmin=$(sed -n 's/^#define AGENTEX_VERSION_MINOR \([0-9]*\).*/\1/p' $vh)
vpat=$(sed -n 's/^#define AGENTEX_VERSION_PATCH \([0-9]*\).*/\1/p' $vh)
vstr=$(sed -n 's/^#define AGENTEX_VERSION_STRING "\(.*\)".*/\1/p' $vh)
version=$vmaj.$vmin.$vpat
[ "$vstr" = "$version" ] || fail "version.h: AGENTEX_VERSION_STRING \"$vstr\" is not MAJOR.MINOR.PATCH $version"
if [ "$vmaj" = 0 ]; then soname=libagentex.so.0.$vmin; else soname=libagentex.so.$vmaj; fi
real=libagentex.so.$version

# ---- install (a sub-make of its own: not part of the caller's jobserver) ----
if ! env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory install \
     PREFIX=/usr DESTDIR="$D" BUILD="$BUILD_ARG" > "$tmp/install.log" 2>&1; then
  echo "check-install: make install failed:"; sed 's/^/    /' "$tmp/install.log"; exit 1
fi
if grep -qE '^(cc|gcc|clang|ar) ' "$tmp/install.log"; then
  fail "make install rebuilt something (the release tree was not up to date):"
  grep -E '^(cc|gcc|clang|ar) ' "$tmp/install.log" | sed 's/^/    /' | head -5 >> "$tmp/log"
fi
L=$D/usr/lib

# ---- library files ----
[ -f "$L/$real" ] && [ ! -L "$L/$real" ] && ok "$real installed" || fail "$L/$real is missing or not a regular file"
[ "$(readlink "$L/$soname" 2>/dev/null)" = "$real" ] && ok "$soname -> $real" || fail "$L/$soname is not a symlink to $real"
[ "$(readlink "$L/libagentex.so" 2>/dev/null)" = "$soname" ] && ok "libagentex.so -> $soname" || fail "$L/libagentex.so is not a symlink to $soname"
got=$(readelf -d "$L/$real" 2>/dev/null | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
[ "$got" = "$soname" ] && ok "soname $got" || fail "soname is '$got', expected $soname"
[ -f "$L/libagentex.a" ] && nm "$L/libagentex.a" 2>/dev/null | grep ' T agentex_version$' >/dev/null \
  && ok "libagentex.a installed" || fail "$L/libagentex.a is missing or lacks agentex_version"

# ---- headers and man pages ----
n=0
for h in include/agentex/*.h; do
  cmp -s "$h" "$D/usr/include/agentex/${h##*/}" && n=$((n + 1)) || fail "header ${h##*/} not installed (or differs)"
done
ok "$n headers in /usr/include/agentex"
n=0
for m in man/man3/*.3; do
  [ -e "$m" ] || continue
  cmp -s "$m" "$D/usr/share/man/man3/${m##*/}" && n=$((n + 1)) || fail "man page ${m##*/} not installed"
done
[ -e "$D/usr/share/man/man3/agentex.3" ] || fail "agentex.3 not installed"
ok "$n man pages in /usr/share/man/man3"
if ls devserver/*.c >/dev/null 2>&1; then
  [ -x "$D/usr/bin/agentex-dev" ] && ok "agentex-dev installed" || fail "/usr/bin/agentex-dev not installed"
  [ -x "$D/usr/bin/agentex" ] && ok "agentex installed" || fail "/usr/bin/agentex not installed"
  [ -f "$D/usr/share/man/man1/agentex.1" ] && ok "agentex(1) installed" || fail "agentex(1) not installed"
fi

# ---- pkg-config ----
pc=$L/pkgconfig/agentex.pc
if [ ! -f "$pc" ]; then
  fail "agentex.pc not installed"
else
  grep -qx 'prefix=/usr' "$pc" && ok "agentex.pc prefix=/usr" || fail "agentex.pc does not say prefix=/usr: $(grep '^prefix=' "$pc")"
  grep -q '@[A-Z]*@' "$pc" && fail "agentex.pc has unreplaced placeholders"
fi
export PKG_CONFIG_SYSROOT_DIR=$D
export PKG_CONFIG_PATH=$L/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
pcver=$(pkg-config --modversion agentex 2>&1)
[ "$pcver" = "$version" ] && ok "pkg-config --modversion agentex = $pcver" || fail "agentex.pc Version '$pcver' != version.h $version"
flags=$(pkg-config --cflags --libs agentex 2>&1) || { fail "pkg-config --cflags --libs agentex: $flags"; flags=; }
echo "  pkg-config --cflags --libs agentex: $flags" >> "$tmp/log"

# ---- a program built against the installation ----
have() { nm -D --defined-only "$L/$real" 2>/dev/null | grep " $1@" >/dev/null; }
defs=()
have agentex_client_new && have agentex_client_free && have agentex_client_base_url && defs+=(-DHAVE_CLIENT)
cat > "$tmp/prog.c" <<'CEOF'
#include <agentex/agentex.h>
#include <stdio.h>
#include <string.h>

int main(void)
{
    printf("version %s %u\n", agentex_version_string(), agentex_version());
    if (agentex_version() != AGENTEX_VERSION_NUM ||
        strcmp(agentex_version_string(), AGENTEX_VERSION_STRING) != 0)
        printf("MISMATCH header %s\n", AGENTEX_VERSION_STRING);
    printf("strerror %s\n", agentex_strerror(AGENTEX_ENOTFOUND));
    printf("name %s %s\n", agentex_err_name(AGENTEX_EAUTH), agentex_err_name((agentex_err_t)999));
    cJSON *j = cJSON_CreateObject(); /* Requires: libcjson */
    printf("cjson %s\n", j ? "ok" : "failed");
    cJSON_Delete(j);
#ifdef HAVE_CLIENT
    agentex_client_t *c = NULL;
    agentex_err_t err = agentex_client_new("http://127.0.0.1:9/base/", &c);
    printf("client %s %s\n", agentex_err_name(err), c ? agentex_client_base_url(c) : "-");
    agentex_client_free(c);
#endif
    return 0;
}
CEOF
# shellcheck disable=SC2086
if $CC -std=c11 -Wall -Wextra -Werror "${defs[@]}" "$tmp/prog.c" -o "$tmp/prog" $flags > "$tmp/cc.log" 2>&1; then
  ok "program built with pkg-config flags${defs:+ (${defs[*]})}"
  lib_used=$(LD_LIBRARY_PATH=$L ldd "$tmp/prog" 2>/dev/null | awk '/libagentex/ {print $3}')
  [ "$lib_used" = "$L/$soname" ] && ok "it loads $L/$soname" || fail "it loads '$lib_used', not $L/$soname"
  out=$(LD_LIBRARY_PATH=$L "$tmp/prog" 2>&1); rc=$?
  echo "$out" | sed 's/^/    | /' >> "$tmp/log"
  [ $rc = 0 ] || fail "the program exited with $rc"
  vnum=$(( (vmaj << 16) | (vmin << 8) | vpat ))
  expect=("version $version $vnum" "name AGENTEX_EAUTH AGENTEX_UNKNOWN" "cjson ok")
  [ ${#defs[@]} -gt 0 ] && expect+=("client AGENTEX_OK http://127.0.0.1:9/base")
  for e in "${expect[@]}"; do
    grep -qxF "$e" <<< "$out" || fail "expected the line '$e'"
  done
  s=$(sed -n 's/^strerror //p' <<< "$out")
  [ -n "$s" ] && [ "$s" != "unknown error" ] || fail "agentex_strerror(AGENTEX_ENOTFOUND) gave '$s'"
  grep -q MISMATCH <<< "$out" && fail "the run-time version differs from the installed header"
  [ ${#defs[@]} -gt 0 ] || echo "check-install: note: agentex_client_* not exported yet, the program skips the client"
else
  fail "the program does not build with \`pkg-config --cflags --libs agentex\`:"
  sed 's/^/    /' "$tmp/cc.log" >> "$tmp/log"
fi

# ---- uninstall ----
if env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make --no-print-directory uninstall \
     PREFIX=/usr DESTDIR="$D" BUILD="$BUILD_ARG" > "$tmp/uninstall.log" 2>&1; then
  left=$(find "$D" \( -type f -o -type l \) | sed "s#^$D##")
  [ -z "$left" ] && ok "make uninstall removed every file" || fail "make uninstall left: $(echo $left)"
else
  fail "make uninstall failed: $(tail -3 "$tmp/uninstall.log")"
fi

if [ $status != 0 ] || [ "${AGX_VERBOSE:-0}" = 1 ]; then cat "$tmp/log"; fi
[ $status = 0 ] && echo "check-install: OK ($real, soname $soname, agentex.pc $version, a program built with pkg-config ran)" \
  || echo "check-install: FAILED"
exit $status

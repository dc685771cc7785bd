#!/usr/bin/env bash
# tests/check-man.sh - the man pages match the API (curl tests 1139, 1173, 1477).
#
#  1. every public function (declared with AGENTEX_API, or exported by the release
#     libagentex.so) has man/man3/<function>.3, either a full page or a one-line stub
#     ".so man3/<group>.3" whose target exists and is a full page; the page that
#     documents it names the function in its SYNOPSIS;
#  2. every AGENTEX_E* code of include/agentex/common.h appears in agentex_errors.3;
#  3. `mandoc -T lint -W warning` prints nothing for every full page (stubs are
#     checked for shape instead: mandoc always warns that .so is fragile);
#  4. sections that appear follow STYLE.md §2.12's order, and every page that documents
#     functions has them all; SEE ALSO names only pages that exist.
# Prints a list of every problem and exits 1 if there is any.
set -uo pipefail
cd "$(dirname "$0")/.."
export AGX_SRC_DIR=${AGX_SRC_DIR:-$PWD}
REL=${AGX_RELEASE_DIR:-$PWD/build}
MAN=man/man3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agx-man.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
: > "$tmp/problems"
problem() { printf '  %s\n' "$*" >> "$tmp/problems"; }

command -v mandoc >/dev/null || { echo "check-man: mandoc not found (apt-get install mandoc)"; exit 1; }
[ -d "$MAN" ] || { echo "check-man: no $MAN directory"; exit 1; }

SECTIONS=("NAME" "LIBRARY" "SYNOPSIS" "DESCRIPTION" "RETURN VALUE" "ERRORS" "MEMORY"
          "THREAD SAFETY" "EXAMPLES" "HISTORY" "SEE ALSO")

# is_stub FILE -> 0 if FILE is a .so stub (comment lines allowed, one .so line)
is_stub() { awk '!/^\.\\"/ && /^\.so / { f = 1 } END { exit !f }' "$1"; }
stub_target() { sed -n 's/^\.so[[:space:]]\+\(.*\)$/\1/p' "$1" | head -n1; }
# plain FILE -> the roff text with font escapes and zero-width escapes removed
plain() { sed -e 's/\\f[BIRP]//g' -e 's/\\f(..//g' -e 's/\\f\[[^]]*\]//g' -e 's/\\&//g' \
             -e 's/\\%//g' -e 's/\\-/-/g' -e 's/\\e/\\/g' "$1"; }
# section FILE NAME -> the plain text of section NAME
section() { plain "$1" | awk -v want="$2" '
  /^\.SH/ { t = $0; sub(/^\.SH[ \t]*/, "", t); gsub(/"/, "", t); on = (t == want); next }
  on { print }'; }

# ---- 1. one page per function ----------------------------------------------------------
bash tests/api-list.sh > "$tmp/decls" || { echo "check-man: cannot list the header declarations"; exit 1; }
awk '$2 == "func" && $3 == 1 {print $1}' "$tmp/decls" > "$tmp/fns"
if [ -e "$REL/lib/libagentex.so" ]; then
  nm -D --defined-only "$REL/lib/libagentex.so" | awk 'NF >= 3 && $2 != "A" {sub(/@.*/, "", $3); print $3}' >> "$tmp/fns"
fi
sort -u -o "$tmp/fns" "$tmp/fns"
nopage=()
while read -r fn; do
  page=$MAN/$fn.3
  if [ ! -e "$page" ]; then nopage+=("$fn"); continue; fi
  doc=$page
  if is_stub "$page"; then
    tgt=$(stub_target "$page")
    case "$tgt" in
      man3/*.3) ;;
      *) problem "$page: stub must read '.so man3/<group>.3', has '.so $tgt'"; continue;;
    esac
    doc=$MAN/${tgt#man3/}
    if [ ! -e "$doc" ]; then problem "$page: .so target $doc does not exist"; continue; fi
    if is_stub "$doc"; then problem "$page: .so target $doc is itself a stub"; continue; fi
    extra=$(grep -v '^\.\\"' "$page" | grep -vc '^\.so ')
    [ "$extra" = 0 ] || problem "$page: a stub holds only the .so line (and .\\\" comments)"
  fi
  section "$doc" SYNOPSIS > "$tmp/syn"
  grep -qw -- "$fn" "$tmp/syn" || problem "$doc: SYNOPSIS does not name $fn"
  echo "$doc" >> "$tmp/documenting"
done < "$tmp/fns"
if [ ${#nopage[@]} -gt 0 ]; then
  problem "no page man/man3/<function>.3 for ${#nopage[@]} public functions:"
  printf '%s\n' "${nopage[@]}" | while read -r fn; do
    h=$(awk -v f="$fn" '$1 == f {print $4; exit}' "$tmp/decls"); echo "${h:-(not declared)} $fn"
  done | sort -s -k1,1 | awk '$1 != last { if (line) print line; line = "    " $1 ":"; last = $1 } { line = line " " $2 }
              END { if (line) print line }' | fold -s -w 100 | sed 's/^\([^ ]\)/        \1/' >> "$tmp/problems"
fi

# ---- 2. every error code in agentex_errors.3 -------------------------------------------
codes=$(grep -o '\bAGENTEX_E[A-Z0-9_]*' include/agentex/common.h | grep -v '_$' | sort -u)
if [ ! -e "$MAN/agentex_errors.3" ]; then
  problem "$MAN/agentex_errors.3 does not exist"
else
  plain "$MAN/agentex_errors.3" > "$tmp/errors.txt"
  for c in $codes; do
    grep -qw -- "$c" "$tmp/errors.txt" || problem "$MAN/agentex_errors.3: error code $c is not listed"
  done
fi

# ---- 3. and 4. lint, sections, SEE ALSO ------------------------------------------------
sort -u -o "$tmp/documenting" "$tmp/documenting" 2>/dev/null || : > "$tmp/documenting"
for page in "$MAN"/*.3; do
  [ -e "$page" ] || continue
  if is_stub "$page"; then
    tgt=$(stub_target "$page")
    [ -e "$MAN/${tgt#man3/}" ] || problem "$page: .so target $MAN/${tgt#man3/} does not exist"
    continue
  fi
  out=$(mandoc -T lint -W warning "$page" 2>&1)
  [ -z "$out" ] || problem "$page: mandoc -T lint -W warning:
$(echo "$out" | sed 's/^/      /')"
  # section order
  sed -n 's/^\.SH[[:space:]]*//p' "$page" | tr -d '"' > "$tmp/secs"
  last=-1; lastname=
  while read -r s; do
    for i in "${!SECTIONS[@]}"; do
      if [ "${SECTIONS[$i]}" = "$s" ]; then
        [ "$i" -gt "$last" ] || problem "$page: section '$s' comes after '$lastname' (order: ${SECTIONS[*]})"
        last=$i; lastname=$s
      fi
    done
  done < "$tmp/secs"
  if grep -qxF "$page" "$tmp/documenting"; then
    for s in "${SECTIONS[@]}"; do
      grep -qxF "$s" "$tmp/secs" || problem "$page: documents functions but has no section '$s'"
    done
  fi
  # SEE ALSO names only existing pages of ours
  for ref in $(section "$page" "SEE ALSO" | grep -o '\b\(agentex\|acp\|adk\)[a-z0-9_]*[[:space:]]*(3)' | sed 's/[[:space:]]*(3)//'); do
    [ -e "$MAN/$ref.3" ] || problem "$page: SEE ALSO names $ref(3), which has no page"
  done
done

if [ -s "$tmp/problems" ]; then
  echo "check-man: problems:"
  awk '!seen[$0]++' "$tmp/problems"
  exit 1
fi
echo "check-man: OK ($(wc -l < "$tmp/fns") functions, $(ls "$MAN"/*.3 | wc -l) pages)"

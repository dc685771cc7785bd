#!/usr/bin/env bash
# tests/check-headers.sh - public headers and library sources follow STYLE.md.
#
#  1. each public header compiles on its own (#include <agentex/X.h> and nothing else)
#     as C99 and C11 with -Wall -Wextra -Werror -pedantic and the project's warnings,
#     and as C++ when g++ exists; in C++ its functions must keep C linkage (extern "C");
#  2. every file-scope declaration of a public header carries AGENTEX_API, guards are
#     AGENTEX_<FILE>_H, and no public header includes curl, libwebsockets, hiredis or
#     sqlite headers (§2.3);
#  3. lib/*.c and lib/*.h use none of the banned functions (§2.15 and the brief):
#     strcpy strcat sprintf vsprintf strtok atoi gets gmtime localtime exit
#     cJSON_GetErrorPtr cJSON_InitHooks, and never write to stdout or stderr (printf,
#     puts, fprintf(stderr, ...), perror, write(2, ...) ...) except in lib/common.c's
#     agentex_log_stderr.  Comments and string literals are ignored.
# Prints every problem and exits 1 if there is any.
set -uo pipefail
cd "$(dirname "$0")/.."
export AGX_SRC_DIR=${AGX_SRC_DIR:-$PWD}
CC=${CC:-cc}
CXX=${CXX:-g++}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agx-headers.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
: > "$tmp/problems"
problem() { printf '  %s\n' "$*" >> "$tmp/problems"; }
indent() { sed 's/^/      /'; }

WARN="-Wall -Wextra -Werror -pedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wwrite-strings -Wvla"
CJSON_CFLAGS=$(pkg-config --cflags libcjson 2>/dev/null)

bash tests/api-list.sh > "$tmp/decls" || { echo "check-headers: the public headers do not preprocess"; exit 1; }
have_cxx=0; command -v "$CXX" >/dev/null 2>&1 && have_cxx=1
[ $have_cxx = 1 ] || echo "check-headers: note: $CXX not found, C++ checks skipped"

nh=0
for h in include/agentex/*.h; do
  [ -e "$h" ] || continue
  nh=$((nh + 1))
  name=${h##*/}
  # ---- 1. compiles alone ----
  printf '#include <agentex/%s>\ntypedef int agx_header_check_t;\n' "$name" > "$tmp/t.c"
  for std in c99 c11; do
    if ! $CC -std=$std $WARN -Iinclude $CJSON_CFLAGS -fsyntax-only "$tmp/t.c" > "$tmp/out" 2>&1; then
      problem "$h does not compile alone with -std=$std:"; indent < "$tmp/out" >> "$tmp/problems"
    fi
  done
  if [ $have_cxx = 1 ]; then
    {
      printf '#include <agentex/%s>\n' "$name"
      echo 'typedef void (*agx_fn_t)(void);'
      echo 'agx_fn_t agx_header_refs[] = {'
      awk -v h="$name" '$2 == "func" && $4 == h {printf "    reinterpret_cast<agx_fn_t>(&%s),\n", $1}' "$tmp/decls"
      echo '    0};'
    } > "$tmp/t.cc"
    if ! $CXX -std=c++11 -Wall -Wextra -Werror -pedantic -Iinclude $CJSON_CFLAGS -c "$tmp/t.cc" \
        -o "$tmp/t.o" > "$tmp/out" 2>&1; then
      problem "$h does not compile alone as C++:"; indent < "$tmp/out" >> "$tmp/problems"
    else
      mangled=$(nm -u "$tmp/t.o" | awk '{print $NF}' | grep '^_Z' | c++filt | grep -E '^(agentex|acp|adk)_' | sed 's/(.*//' | tr '\n' ' ')
      [ -z "$mangled" ] || problem "$h: functions without C linkage in C++ (missing extern \"C\"): $mangled"
    fi
  fi
  # ---- 2. guard and includes ----
  guard=AGENTEX_$(echo "${name%.h}" | tr 'a-z' 'A-Z')_H
  grep -q "^#ifndef $guard\$" "$h" && grep -q "^#define $guard\$" "$h" \
    || problem "$h: include guard must be $guard"
  bad=$(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](curl/|libwebsockets|lws_|hiredis|sqlite3)' "$h")
  [ -z "$bad" ] || problem "$h: public headers must not include private dependencies: $bad"
done
[ $nh -gt 0 ] || problem "no public header in include/agentex"

# declarations without AGENTEX_API
awk '$3 == 0 {print "  " $4 ": " $1 " (" $2 ") is declared without AGENTEX_API"}' "$tmp/decls" >> "$tmp/problems"

# ---- 3. banned functions in lib/ ----
# perl prints FILE:LINE:FUNCTION:CODE for every line, with comments and literals blanked
perl -e '
  for my $f (@ARGV) {
    open(my $in, "<", $f) or die "$f: $!";
    local $/; my $s = <$in>; close $in;
    # blank comments, string and character literals, keeping newlines
    $s =~ s{(/\*.*?\*/)|(//[^\n]*)|("(?:\\.|[^"\\\n])*")|(\x27(?:\\.|[^\x27\\\n])*\x27)}{
      my $m = $&; my $keep = defined $3 ? "\"\"" : defined $4 ? "\x27\x27" : "";
      (my $nl = $m) =~ s/[^\n]//g; $keep . $nl }gse;
    my ($depth, $cand, $func, $n) = (0, "", "", 0);
    for my $line (split /\n/, $s, -1) {
      $n++;
      if ($depth == 0 && $line !~ /^\s*#/) {
        $cand = $1 if $line =~ /\b([A-Za-z_]\w*)\s*\(/;
      }
      for my $c (split //, $line) {
        if ($c eq "{") { $func = $cand if $depth == 0; $depth++; }
        elsif ($c eq "}") { $depth-- if $depth > 0; $func = "" if $depth == 0; }
      }
      print "$f:$n:", ($func eq "" ? "-" : $func), ":$line\n";
    }
  }' lib/*.c lib/*.h > "$tmp/lib.lines" 2> "$tmp/perl.err" || { echo "check-headers: cannot scan lib/:"; cat "$tmp/perl.err"; exit 1; }

BANNED='strcpy|strcat|sprintf|vsprintf|strtok|atoi|gets|gmtime|localtime|exit|cJSON_GetErrorPtr|cJSON_InitHooks'
# the code part is field 4 onwards
awk -F: -v re="(^|[^A-Za-z0-9_.>])($BANNED)[[:space:]]*\\\\(" '{
    code = $0; sub(/^[^:]*:[^:]*:[^:]*:/, "", code); gsub(/[ \t]+/, " ", code)
    if (code ~ re) { print "  " $1 ":" $2 ": banned function: " code }
  }' "$tmp/lib.lines" >> "$tmp/problems"

STDIO_ANY='printf|vprintf|puts|putchar|perror'
STDIO_STREAM='fprintf|vfprintf|fputs|fputc|putc|fwrite|fflush'
awk -F: -v any="(^|[^A-Za-z0-9_.>])($STDIO_ANY)[[:space:]]*\\\\(" \
        -v strm="(^|[^A-Za-z0-9_.>])($STDIO_STREAM)[[:space:]]*\\\\(.*(stdout|stderr)" \
        -v fd="(^|[^A-Za-z0-9_.>])(write|dprintf)[[:space:]]*\\\\([[:space:]]*(1|2|STDOUT_FILENO|STDERR_FILENO)[[:space:]]*," '{
    code = $0; sub(/^[^:]*:[^:]*:[^:]*:/, "", code); gsub(/[ \t]+/, " ", code)
    if ($1 == "lib/common.c" && $3 == "agentex_log_stderr") next
    if (code ~ any || code ~ strm || code ~ fd || code ~ /(^|[^A-Za-z0-9_])(stdout|stderr)([^A-Za-z0-9_]|$)/)
      print "  " $1 ":" $2 ": writes to stdout/stderr (log through agx_log): " code
  }' "$tmp/lib.lines" >> "$tmp/problems"

if [ -s "$tmp/problems" ]; then
  echo "check-headers: problems:"
  cat "$tmp/problems"
  exit 1
fi
echo "check-headers: OK ($nh headers, $(awk 'END {print NR}' "$tmp/decls") declarations, $(ls lib/*.c | wc -l) sources)"

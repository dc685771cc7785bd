#!/usr/bin/env bash
# tests/api-list.sh - lists every file-scope declaration of the public headers.
#
# Output, one line per declaration:  NAME KIND API HEADER
#   KIND  func | var | other
#   API   1 if the declaration carries AGENTEX_API, else 0
#   HEADER the header's file name (client.h)
# The headers are run through the C preprocessor (so declarations may span lines,
# comments and #if blocks are handled) with AGENTEX_API replaced by a marker, in a
# temporary copy of include/agentex.  Used by check-exports.sh, check-man.sh and
# check-headers.sh.  Exit 1 if the headers do not preprocess.
set -euo pipefail
SRC=${AGX_SRC_DIR:-$(cd "$(dirname "$0")/.." && pwd)}
CC=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/agx-api.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/agentex"
cp "$SRC"/include/agentex/*.h "$tmp/agentex/"
sed -i -e 's/^\([[:space:]]*#[[:space:]]*define[[:space:]]\+AGENTEX_API\)\([[:space:]].*\)\?$/\1 __agx_api_marker__/' \
  "$tmp/agentex/common.h"
grep -q '__agx_api_marker__' "$tmp/agentex/common.h" || {
  echo "api-list: no '#define AGENTEX_API ...' line found in include/agentex/common.h" >&2; exit 1; }
for h in "$tmp"/agentex/*.h; do printf '#include <agentex/%s>\n' "${h##*/}"; done > "$tmp/all.c"
"$CC" -E -std=c11 -I"$tmp" "$tmp/all.c" -o "$tmp/all.i" 2> "$tmp/err" || {
  echo "api-list: the public headers do not preprocess:" >&2; cat "$tmp/err" >&2; exit 1; }
perl -e '
  use strict; use warnings;
  my ($dir, $file) = ($ARGV[0], undef);
  my (%text, @order);
  open(my $in, "<", $ARGV[1]) or die;
  while (my $l = <$in>) {
    if ($l =~ /^#\s+\d+\s+"([^"]*)"/) {
      $file = ($1 =~ m{^\Q$dir\E/agentex/([^/]+\.h)$}) ? $1 : undef;
      push @order, $file if defined $file && !exists $text{$file};
      $text{$file} .= "\n" if defined $file;
      next;
    }
    next if $l =~ /^#/;
    $text{$file} .= $l if defined $file;
  }
  sub strip_attrs {
    my $s = shift;
    while ($s =~ /__attribute__\s*\(/g) {
      my $start = $-[0]; my $i = pos($s) - 1; my $d = 0;
      for (; $i < length $s; $i++) {
        my $c = substr($s, $i, 1);
        $d++ if $c eq "("; $d-- if $c eq ")";
        last if $d == 0;
      }
      substr($s, $start, $i - $start + 1) = " ";
      pos($s) = $start;
    }
    return $s;
  }
  for my $f (@order) {
    my ($stmt, $depth) = ("", 0);
    my @stmts;
    for my $c (split //, $text{$f}) {
      if ($c eq "{" ) { $depth++; }
      if ($c eq "}" ) { $depth--; }
      if ($c eq ";" && $depth == 0) { push @stmts, $stmt; $stmt = ""; next; }
      $stmt .= $c;
      if ($c eq "}" && $depth == 0 && $stmt =~ /\)\s*\{/s && $stmt !~ /^\s*typedef\b/) {
        push @stmts, $stmt; $stmt = "";   # an inline function definition
      }
    }
    for my $s (@stmts) {
      $s =~ s/\s+/ /g; $s =~ s/^ //; $s =~ s/ $//;
      next if $s eq "" || $s =~ /^typedef\b/ || $s =~ /^(struct|union|enum) \w+$/;
      my $api = ($s =~ s/\b__agx_api_marker__\b/ /g) ? 1 : 0;
      $s = strip_attrs($s);
      if ($s =~ /^[^(]*?\b([A-Za-z_]\w*)\s*\(/) {
        print "$1 func $api $f\n";
      } elsif ($s =~ /\b([A-Za-z_]\w*)\s*(\[[^\]]*\])?\s*(=.*)?$/) {
        print "$1 var $api $f\n";
      } else {
        print "? other $api $f\n";
      }
    }
  }
' "$tmp" "$tmp/all.i"

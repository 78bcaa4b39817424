#!/bin/sh
# Embeds a Markdown file (default benchmarks/results.md, written by `memlab bench`) in docs/bench.md
# between the lines <!-- bench-results:begin --> and <!-- bench-results:end -->; `make bench` runs it.
set -eu
table="${1:-benchmarks/results.md}"
readme="${2:-docs/bench.md}"
[ -r "$table" ] || { echo "readme_bench.sh: no $table (run make bench)" >&2; exit 1; }
grep -q '^<!-- bench-results:begin -->$' "$readme" && grep -q '^<!-- bench-results:end -->$' "$readme" ||
    { echo "readme_bench.sh: $readme lacks the bench-results markers" >&2; exit 1; }
awk -v table="$table" '
    /^<!-- bench-results:begin -->$/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
    /^<!-- bench-results:end -->$/ { skip = 0 }
    !skip { print }
' "$readme" > "$readme.tmp"
mv "$readme.tmp" "$readme"

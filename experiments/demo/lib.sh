#!/bin/sh
# Helpers the demo fragments source (scripts/demo.sh runs every other experiments/demo/*.sh).

# yes_no EXPR: "yes" when the awk expression EXPR is true, "no" otherwise.
yes_no() { awk "BEGIN { print ($1) ? \"yes\" : \"no\" }"; }

# both 'CMD1' 'CMD2': runs two commands (a function and its words) at once, one a core, and fails
# when either fails.
both() {
    $1 &
    first=$!
    $2 &
    second=$!
    wait "$first"
    wait "$second"
}

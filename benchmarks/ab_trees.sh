#!/bin/bash
# The same checks in several source trees, side by side: one fresh process per tree and round, the trees in
# turn, so load drifts hit every tree alike.  Prints one JSON line per tree and round (medians in ms).
#   git worktree add --detach /tmp/before REV
#   flock /tmp/fastcheck-bench.lock bash benchmarks/ab_trees.sh /tmp/before . > ab.jsonl
# (reports/refactor/ab.md was made this way for issue 20: e2cea96, b91f805 and main.)
set -e
here="$(cd "$(dirname "$0")" && pwd)"
rounds="${ROUNDS:-3}"
export NUMBA_NUM_THREADS="${NUMBA_NUM_THREADS:-2}"
for round in $(seq "$rounds"); do
  for tree in "$@"; do
    tree="$(cd "$tree" && pwd)"
    ms=$(cd /tmp && PYTHONPATH="$tree" python "$here/ab_trees.py" 2>/dev/null | tail -1)
    echo "{\"tree\": \"$tree\", \"round\": $round, \"ms\": $ms}"
  done
done

#!/bin/bash
# The issue-12 sweep: every sampler x schedule x step count x CFG x size x txt2img/img2img on the
# bundled model (samples/shapes-64) and every sampler x schedule x steps 1...1000 x img2img start
# against a synthetic model on four scheduler configs. Each case must give a finite result or be
# refused before sampling; prints cases run, refused and failed per grid, and the wall time.
#   tools/sweep.sh              # both sweeps (about 30 min on 2 cores)
#   tools/sweep.sh sampler      # the sampler-level sweep only (minutes)
#   tools/sweep.sh pipeline     # the bundled-model sweep only
#   STIPPLE_SWEEP_GRID="8px img2img" tools/sweep.sh pipeline   # one grid of it
# Builds the tests in release first (as scripts/test).
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-all}" in
    sampler) filter="SamplerSweepTests/everySamplerRunsFiniteOrIsRefused" ;;
    pipeline) filter="PipelineSweepTests/fullSweep" ;;
    *) filter="SamplerSweepTests/everySamplerRunsFiniteOrIsRefused|PipelineSweepTests/fullSweep" ;;
esac
swift build -c release -Xswiftc -enable-testing --build-tests
start=$(date +%s)
status=0
STIPPLE_SWEEP=full swift test -c release -Xswiftc -enable-testing --skip-build --filter "$filter" 2>&1 \
    | grep --line-buffered -E "sweep|refused|NaN|✘|↳ .*not finite|↳ .*failed|Test run" || status=$?
echo "wall time: $(( $(date +%s) - start )) s"
exit $status

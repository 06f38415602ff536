#!/usr/bin/env bash
# A screenshot of the studio drawing with real sixel: xterm emulating a VT340 under Xvfb, the
# release binary on the bundled model, keys sent with xdotool, the screen grabbed with ImageMagick.
#
#   tools/studio_screenshot.sh OUT.png [mid|final|forward|trajectory|grid]
#
# mid: a 30-step run paused at step 8 (Ctrl-P, then Ctrl-N single steps) to show live denoising;
# final: a finished image; forward: the finished image in the forward view (F9) at t = 300;
# trajectory: its trajectory view (F10); grid: an X/Y grid (F11) of steps x CFG. TERM=xterm-256color (xterm has 256 colours; its default TERM=xterm
# claims 8). Needs: apt-get install xvfb xterm xdotool imagemagick.
set -euo pipefail
out=${1:?usage: tools/studio_screenshot.sh OUT.png [mid|final]}
moment=${2:-mid}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
display=:$((90 + RANDOM % 9))
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
Xvfb "$display" -screen 0 1280x800x24 >/dev/null 2>&1 &
sleep 1
export DISPLAY=$display
# The studio runs in a login-free shell inside xterm; its output folder is a scratch folder.
cat > "$work/run.sh" <<RUN
cd "$work" && TERM=xterm-256color XDG_CONFIG_HOME="$work" XDG_CACHE_HOME="$work" "$root/.build/release/stipple" --graphics sixel --steps 30 --seed 7
RUN
xterm -ti vt340 -geometry 118x36 -fa Monospace -fs 10 -bg black -fg white \
      -xrm 'XTerm*allowSendEvents: true' \
      -xrm 'XTerm*numColorRegisters: 256' -e bash "$work/run.sh" &
sleep 4
window=$(xdotool search --sync --class xterm | head -1)
xdotool windowactivate --sync "$window" 2>/dev/null || true
type() { xdotool type --window "$window" --delay 20 "$1"; }
key() { xdotool key --window "$window" "$@"; }
type "a yellow triangle in the center on a purple background"
case "$moment" in
mid)
  key Return; sleep 0.05; key ctrl+p
  sleep 1
  for _ in 1 2 3 4 5 6 7; do key ctrl+n; sleep 0.4; done ;;
forward)
  key Return; sleep 4
  key F9; sleep 2
  for _ in $(seq 20); do key Left; sleep 0.1; done ;;
trajectory)
  key Return; sleep 4
  key F10 ;;
grid)
  key F11; sleep 0.5
  key End; for _ in $(seq 40); do key BackSpace; done
  type "steps=2,5,10,20 | cfg=1,2,4"
  key Return; sleep 12 ;;
*)
  key Return ;;
esac
sleep 2
import -window root "$out"
key ctrl+q
sleep 1
echo "wrote $out"

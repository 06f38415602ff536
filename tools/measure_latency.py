#!/usr/bin/env python3
"""Key-to-screen latency of the studio while a model generates (issue 7's responsiveness figure).

    python3 tools/measure_latency.py --model /path/to/sd15 [--size 512] [--keys 60]
    python3 tools/measure_latency.py --backend comfyui --backend-url http://127.0.0.1:8188 \
        --model sd15-fp16-ldm.safetensors --size 64 --steps 30 --preview approx

With --backend, the studio drives that server (--model is then the server's checkpoint name) and
the keys are typed while the server's job streams its previews (ComfyUI's JPEG frames).

Starts the release binary in tmux (its own server socket) with --trace-latency, types a prompt,
presses Enter, waits until sampling has begun ("it/s" on screen), then types --keys characters
into the negative prompt, one every 250 ms. Two figures per key:
- internal: stipple's own trace, from reading the key to the curses refresh that shows it;
- external: from `tmux send-keys` returning to `tmux capture-pane` showing the new text, polled
  every 2 ms (includes tmux's own delays, so it is an upper bound).
Prints the percentiles of both and the generation's it/s, then quits the studio with Ctrl-Q.
"""
import argparse
import os
import statistics
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--keys", type=int, default=60)
    p.add_argument("--binary", default=os.path.join(REPO, ".build", "release", "stipple"))
    p.add_argument("--backend", choices=["comfyui", "a1111"])
    p.add_argument("--backend-url")
    p.add_argument("--preview", choices=["off", "approx", "full", "taesd"])
    args = p.parse_args()
    if not args.backend:
        args.model = os.path.abspath(args.model)
    work = tempfile.mkdtemp(prefix="stipple-latency-")
    trace = os.path.join(work, "trace.txt")
    sock = f"latency-{os.getpid()}"

    def tmux(*a):
        return subprocess.run(["tmux", "-L", sock, *a], capture_output=True, text=True).stdout

    cmd = (f"cd {work} && XDG_CONFIG_HOME={work} XDG_CACHE_HOME={work} {args.binary} --model {args.model} "
           f"-W {args.size} -H {args.size} --steps {args.steps} --graphics truecolor --trace-latency {trace}"
           + (f" --backend {args.backend}" if args.backend else "")
           + (f" --backend-url {args.backend_url}" if args.backend_url else "")
           + (f" --preview {args.preview}" if args.preview else "")
           + "; sleep 5")
    tmux("new-session", "-d", "-s", "s", "-x", "160", "-y", "48", "bash", "-c", cmd)
    try:
        deadline = time.time() + 300
        while "Parameters" not in tmux("capture-pane", "-p", "-t", "s"):
            if time.time() > deadline:
                raise SystemExit("the studio did not start")
            time.sleep(0.2)
        tmux("send-keys", "-t", "s", "-l", "a photo of a lighthouse")
        tmux("send-keys", "-t", "s", "Enter")
        while "it/s" not in tmux("capture-pane", "-p", "-t", "s"):
            time.sleep(0.2)
        # Startup keys are not part of the figure: start the trace afresh.
        open(trace, "w").close()
        tmux("send-keys", "-t", "s", "Tab")
        time.sleep(0.5)
        external = []
        typed = ""
        letters = "abcdefghijklmnopqrstuvwxyz"
        for i in range(args.keys):
            ch = letters[i % 26]
            typed += ch
            start = time.perf_counter()
            tmux("send-keys", "-t", "s", "-l", ch)
            sent = time.perf_counter()
            while True:
                screen = tmux("capture-pane", "-p", "-t", "s")
                if typed[-12:] in screen.replace("\n", ""):
                    break
                if time.perf_counter() - sent > 5:
                    break
                time.sleep(0.002)
            external.append((time.perf_counter() - sent) * 1000)
            time.sleep(0.25)
        status = tmux("capture-pane", "-p", "-t", "s").splitlines()
        rate = next((line for line in status if "it/s" in line), "").strip()
        tmux("send-keys", "-t", "s", "C-q")
        time.sleep(2)
    finally:
        tmux("kill-server")
    internal = [float(x) for x in open(trace).read().split()] if os.path.exists(trace) else []

    def pct(values, q):
        values = sorted(values)
        return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]

    for name, values in (("internal (key read -> refresh)", internal), ("external (send-keys -> capture-pane)", external)):
        if values:
            print(f"{name}: n={len(values)} median {statistics.median(values):.1f} ms, p90 {pct(values, 90):.1f} ms, "
                  f"p99 {pct(values, 99):.1f} ms, max {max(values):.1f} ms")
    print(f"progress line at the end: {rate}")


if __name__ == "__main__":
    main()

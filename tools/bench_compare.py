#!/usr/bin/env python3
"""Runs `stipple bench` and `tools/bench_torch.py` one after the other with the same settings and
prints the side-by-side table: seconds, GFLOP/s and the ratio stipple / PyTorch per component.

    swift build -c release
    .venv-ref/bin/python tools/bench_compare.py --arch sd15 --threads 2 --runs 3 [--width 512 --height 512]
        [--components unet_batch2,vae_decode] [--json OUT.json]

The two never run at the same time (they would share the cores). Lower ratio is better for stipple.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPONENTS = ["text_encoder", "unet_batch1", "unet_batch2", "vae_decode", "vae_encode"]


def run(command):
    """Runs a benchmark command and returns its JSON output."""
    print("+ " + " ".join(command), file=sys.stderr, flush=True)
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="sd15", choices=["sd15", "sd21"])
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--components", default=",".join(COMPONENTS))
    parser.add_argument("--json", help="also write both results and the ratios to this file")
    args = parser.parse_args()

    common = ["--arch", args.arch, "--width", str(args.width), "--height", str(args.height),
              "--threads", str(args.threads), "--runs", str(args.runs), "--components", args.components, "--json"]
    ours = run([os.path.join(ROOT, ".build/release/stipple"), "bench"] + common)
    theirs = run([sys.executable, os.path.join(ROOT, "tools/bench_torch.py")] + common)

    print(f"{args.arch} at {args.width}x{args.height}, {args.threads} threads, median of {args.runs} runs")
    print(f"{'component':<14} {'stipple s':>10} {'PyTorch s':>10} {'ratio':>7} {'stipple GFLOP/s':>16} {'PyTorch GFLOP/s':>16}")
    ratios = {}
    for name in args.components.split(","):
        a, b = ours[name], theirs[name]
        ratios[name] = a["median_s"] / b["median_s"]
        print(f"{name:<14} {a['median_s']:>10.3f} {b['median_s']:>10.3f} {ratios[name]:>7.2f} {a['gflops']:>16.1f} {b['gflops']:>16.1f}")
    print(f"{'peak RSS MB':<14} {ours['peak_rss_mb']:>10.0f} {theirs['peak_rss_mb']:>10.0f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"stipple": ours, "pytorch": theirs, "ratio": ratios}, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()

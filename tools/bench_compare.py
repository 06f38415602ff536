#!/usr/bin/env python3
"""Runs `stipple bench` and `tools/bench_torch.py` one after the other with the same settings and
prints the side-by-side table: seconds, GFLOP/s and the ratio stipple / PyTorch per component.

    swift build -c release
    .venv-ref/bin/python tools/bench_compare.py --arch sd15 --threads 2 --runs 3 [--width 512 --height 512]
        [--components unet_batch2,vae_decode] [--json OUT.json]
    .venv-ref/bin/python tools/bench_compare.py --sizes 256,512,768,1024 [--components unet_batch2] --runs 1
    .venv-ref/bin/python tools/bench_compare.py --arch sdxl --threads 2 --runs 3 [--components unet_batch1,vae_decode_tiled]

The two never run at the same time (they would share the cores). Lower ratio is better for stipple.
`--sizes` runs each square size in turn (both engines per size) and ends with one table of the
components' seconds per size, so cost against work (the attention's quadratic growth in tokens)
shows side by side.

Without --width/--height the size is the architecture's native one: 1024x1024 for sdxl, 512x512 for
sd15 and sd21. Without --components: text_encoder, unet_batch1, unet_batch2, vae_decode, vae_encode,
and for sdxl also vae_decode_tiled (the decode in tiles as diffusers' `enable_tiling()` makes them:
the VAE config's sample_size, 1024 pixels for SDXL, so only larger images are tiled).
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMPONENTS = ["text_encoder", "unet_batch1", "unet_batch2", "vae_decode", "vae_encode"]
DEFAULT_COMPONENTS = {"sd15": COMPONENTS, "sd21": COMPONENTS,
                      "sdxl": ["text_encoder", "unet_batch1", "unet_batch2", "vae_decode", "vae_decode_tiled",
                               "vae_encode"]}
DEFAULT_SIZE = {"sd15": 512, "sd21": 512, "sdxl": 1024}


def run(command):
    """Runs a benchmark command and returns its JSON output."""
    print("+ " + " ".join(command), file=sys.stderr, flush=True)
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def describe(ours):
    """One line on what stipple's kernels ran on (a forced OpenBLAS core changes the figures)."""
    settings = ours.get("settings", {})
    forced = os.environ.get("OPENBLAS_CORETYPE")
    note = f" (forced by OPENBLAS_CORETYPE={forced})" if forced else ""
    print(f"stipple kernels: {settings.get('isa', '?')}, OpenBLAS core {settings.get('blas_core', '?')}{note}")


def run_both(args, width, height):
    """stipple's and PyTorch's results for one size, one after the other."""
    common = ["--arch", args.arch, "--width", str(width), "--height", str(height),
              "--threads", str(args.threads), "--runs", str(args.runs), "--components", args.components, "--json"]
    ours = run([os.path.join(ROOT, ".build/release/stipple"), "bench"] + common)
    theirs = run([sys.executable, os.path.join(ROOT, "tools/bench_torch.py")] + common)
    return ours, theirs


def compare_sizes(args):
    """One row per size and component: seconds of each engine, the ratio, and seconds per megapixel."""
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    for size in sizes:
        results[size] = run_both(args, size, size)
    print(f"{args.arch}, {args.threads} threads, median of {args.runs} runs per size")
    describe(results[sizes[0]][0])
    print(f"{'component':<17} {'size':>9} {'tokens':>7} {'stipple s':>10} {'PyTorch s':>10} {'ratio':>7} "
          f"{'stipple s/MP':>13} {'PyTorch s/MP':>13}")
    table = []
    for name in args.components.split(","):
        for size in sizes:
            ours, theirs = results[size]
            a, b = ours[name]["median_s"], theirs[name]["median_s"]
            megapixels = size * size / 1e6
            tokens = (size // 8) ** 2
            print(f"{name:<17} {f'{size}x{size}':>9} {tokens:>7} {a:>10.3f} {b:>10.3f} {a / b:>7.2f} "
                  f"{a / megapixels:>13.2f} {b / megapixels:>13.2f}")
            table.append({"component": name, "size": size, "stipple_s": a, "pytorch_s": b, "ratio": a / b})
    for size in sizes:
        ours, theirs = results[size]
        print(f"peak RSS MB at {size}x{size}: stipple {ours['peak_rss_mb']:.0f}, PyTorch {theirs['peak_rss_mb']:.0f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"sizes": table, "runs": {str(k): {"stipple": v[0], "pytorch": v[1]} for k, v in results.items()}},
                      f, indent=1, sort_keys=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arch", default="sd15", choices=sorted(DEFAULT_SIZE))
    parser.add_argument("--width", type=int, help="default: 1024 for sdxl, else 512")
    parser.add_argument("--height", type=int, help="default: 1024 for sdxl, else 512")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--components", help="comma-separated (default: all of the architecture's, see above)")
    parser.add_argument("--sizes", help="comma-separated square sizes to run in turn (overrides --width/--height)")
    parser.add_argument("--json", help="also write both results and the ratios to this file")
    args = parser.parse_args()
    args.width = args.width or DEFAULT_SIZE[args.arch]
    args.height = args.height or DEFAULT_SIZE[args.arch]
    args.components = args.components or ",".join(DEFAULT_COMPONENTS[args.arch])
    if args.sizes:
        return compare_sizes(args)

    ours, theirs = run_both(args, args.width, args.height)

    print(f"{args.arch} at {args.width}x{args.height}, {args.threads} threads, median of {args.runs} runs")
    describe(ours)
    print(f"{'component':<17} {'stipple s':>10} {'PyTorch s':>10} {'ratio':>7} {'stipple GFLOP/s':>16} {'PyTorch GFLOP/s':>16}")
    ratios = {}
    for name in args.components.split(","):
        a, b = ours[name], theirs[name]
        ratios[name] = a["median_s"] / b["median_s"]
        print(f"{name:<17} {a['median_s']:>10.3f} {b['median_s']:>10.3f} {ratios[name]:>7.2f} {a['gflops']:>16.1f} {b['gflops']:>16.1f}")
    print(f"{'peak RSS MB':<17} {ours['peak_rss_mb']:>10.0f} {theirs['peak_rss_mb']:>10.0f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"stipple": ours, "pytorch": theirs, "ratio": ratios}, f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The measurements of docs/EXPERIMENTS.md: the judge's accuracy of the bundled model and its
variants at several step counts, and the variational bound of the two diffusion schedules, all
through `stipple` itself (the release binary), with the PyTorch cross-check of the bound.

    .venv-ref/bin/python tools/run_experiments.py judge [--only NAME...]   # judge runs -> docs/experiments/judge-*.json
    .venv-ref/bin/python tools/run_experiments.py bound                     # bits/dim -> docs/experiments/bound-*.json
    .venv-ref/bin/python tools/run_experiments.py straightness              # trajectories -> docs/experiments/straightness-*.json
    .venv-ref/bin/python tools/run_experiments.py agree --model M [--steps S --cfg C]   # stipple's pixels against diffusers'
    .venv-ref/bin/python tools/run_experiments.py report                    # the table (stdout) and docs/images/experiments.png

The reflow runs read `.venv-train-ckpt/shapes-64-reflow`, the export of tools/train_reflow_model.py
(not shipped), made by
    .venv-ref/bin/python tools/export_default_model.py --work .venv-train-ckpt/shapes64-reflow --out .venv-train-ckpt/shapes-64-reflow --cfg 1 --steps 2 --no-judge

Runs whose model folder is missing (a variant not trained yet) are skipped and say so; a run whose
JSON exists is not repeated (delete it to run again). Every judge run is `tools/judge_shapes.py
stipple` (100 captions: 50 held-out combinations, 50 trained ones, seeds 2^31 + i) with the
settings below; "all four" is the share of images where background, colour, position and shape are
all right. The bound is `stipple eval` on the 100 evaluation images of tools/variational_bound.py
(rendered ground truth, never trained on), every one of the 999 timesteps, seed 0, each image
conditioned on its caption; the PyTorch check repeats it at 50 timesteps in both engines. The
straightness runs are `stipple generate --trajectory` on the first 20 judge captions with their
seeds: each image's distance from the first latent to the last over the length of the path walked
(1: a straight line), as the studio's trajectory view (F10) measures it.
"""
import argparse
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "docs", "experiments")
PY = os.path.join(REPO, ".venv-ref", "bin", "python")
STIPPLE = os.path.join(REPO, ".build", "release", "stipple")
IMAGES = "/tmp/stipple-bound-images"
CFG = 2  # the bundled model's own (stipple_defaults.json); every diffusion run uses it

# The reflowed flow model's export (not shipped: the size budget), a folder relative to the repository.
REFLOW = ".venv-train-ckpt/shapes-64-reflow"

# name: (model folder in samples/ or relative to the repository, [(steps, cfg, sampler or None)])
RUNS = {
    "cosine": ("shapes-64", [(s, CFG, None) for s in (5, 10, 20, 50)]),
    "linear": ("shapes-64-linear", [(s, CFG, None) for s in (5, 10, 20, 50)]),
    "cosine-euler": ("shapes-64", [(s, CFG, "euler") for s in (2, 3, 5, 10, 20)]),
    "linear-euler": ("shapes-64-linear", [(s, CFG, "euler") for s in (2, 3, 5, 10, 20)]),
    "flow": ("shapes-64-flow", [(s, CFG, "flow_euler") for s in (2, 3, 5, 10, 20)]),
    "lcm": ("shapes-64-lcm", [(s, None, None) for s in (1, 2, 4, 8)]),
    # one reflow round of the flow model (tools/train_reflow_model.py), exported but not shipped
    "reflow": (REFLOW, [(s, None, None) for s in (1, 2, 3, 5, 10, 20)]),
}

LABELS = {"cosine": "DDPM cosine, Euler a", "linear": "DDPM linear, Euler a", "cosine-euler": "DDPM cosine, Euler",
          "linear-euler": "DDPM linear, Euler", "flow": "rectified flow, flow_euler", "lcm": "LCM (1 pass a step)",
          "reflow": "reflow (2-RF, 1 pass a step)"}

# name: (model folder, sampler or None for the model's own, [steps]); CFG is each model's own
STRAIGHT = {
    "cosine-euler": ("shapes-64", "euler", (5, 20)),
    "cosine-euler_a": ("shapes-64", "euler_a", (5, 20)),
    "linear-euler": ("shapes-64-linear", "euler", (5, 20)),
    "lcm": ("shapes-64-lcm", None, (4,)),
    "flow": ("shapes-64-flow", "flow_euler", (5, 20)),
    "reflow": (REFLOW, None, (2, 5, 20)),
}
STRAIGHT_CAPTIONS = 20


def model_path(folder):
    return os.path.join(REPO, folder if "/" in folder else os.path.join("samples", folder))


def judge(names):
    os.makedirs(OUT, exist_ok=True)
    for name in names:
        folder, settings = RUNS[name]
        if not os.path.exists(os.path.join(model_path(folder), "model_index.json")):
            print(f"{name}: {os.path.relpath(model_path(folder), REPO)} is not there yet, skipped")
            continue
        for steps, cfg, sampler in settings:
            path = os.path.join(OUT, f"judge-{name}-{steps}.json")
            if os.path.exists(path):
                continue
            command = [PY, os.path.join(REPO, "tools", "judge_shapes.py"), "stipple", "--model", model_path(folder),
                       "--steps", str(steps), "--json", path]
            if cfg is not None:
                command += ["--cfg", str(cfg)]
            if sampler:
                command += ["--sampler", sampler]
            print(" ".join(os.path.relpath(c, REPO) if c.startswith(REPO) else c for c in command), flush=True)
            subprocess.run(command, check=True)


def bound():
    os.makedirs(OUT, exist_ok=True)
    if not os.path.exists(IMAGES):
        subprocess.run([PY, os.path.join(REPO, "tools", "variational_bound.py"), "images", "--out", IMAGES], check=True)
    images = sorted(os.path.join(IMAGES, f) for f in os.listdir(IMAGES) if f.endswith(".png"))
    for name, folder in (("cosine", "shapes-64"), ("linear", "shapes-64-linear")):
        if not os.path.exists(os.path.join(model_path(folder), "model_index.json")):
            print(f"{name}: {os.path.relpath(model_path(folder), REPO)} is not there yet, skipped")
            continue
        full = os.path.join(OUT, f"bound-{name}.json")
        if not os.path.exists(full):
            subprocess.run([STIPPLE, "eval", "--model", model_path(folder), "--batch", "50", "--json", full] + images, check=True)
        for engine in ("stipple", "pytorch"):
            path = os.path.join(OUT, f"bound-{name}-50-{engine}.json")
            if os.path.exists(path):
                continue
            if engine == "stipple":
                subprocess.run([STIPPLE, "eval", "--model", model_path(folder), "--timesteps", "50", "--batch", "50",
                                "--json", path] + images, check=True)
            else:
                subprocess.run([PY, os.path.join(REPO, "tools", "variational_bound.py"), "compute", "--model",
                                model_path(folder), "--timesteps", "50", "--batch", "50", "--json", path] + images, check=True)


def straightness(names):
    sys.path.insert(0, os.path.join(REPO, "tools"))
    import shapes_data
    import statistics
    import tempfile
    os.makedirs(OUT, exist_ok=True)
    items = shapes_data.eval_items()[:STRAIGHT_CAPTIONS]
    for name in names:
        folder, sampler, step_counts = STRAIGHT[name]
        if not os.path.exists(os.path.join(model_path(folder), "model_index.json")):
            print(f"{name}: {os.path.relpath(model_path(folder), REPO)} is not there yet, skipped")
            continue
        for steps in step_counts:
            path = os.path.join(OUT, f"straightness-{name}-{steps}.json")
            if os.path.exists(path):
                continue
            values = []
            with tempfile.TemporaryDirectory() as folder_out:
                for n, it in enumerate(items):
                    command = [STIPPLE, "generate", "--model", model_path(folder), "-p", it["caption"], "--seed",
                               str(it["seed"]), "--steps", str(steps), "--trajectory", "-o", os.path.join(folder_out, f"{n}.png")]
                    if sampler:
                        command += ["--sampler", sampler]
                    done = subprocess.run(command, capture_output=True, text=True)
                    if done.returncode != 0:
                        sys.exit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()}")
                    found = [line.rsplit("straightness ", 1)[1] for line in done.stderr.splitlines() if "straightness " in line]
                    if len(found) != 1:
                        sys.exit(f"{' '.join(command)}: expected one straightness line, got {len(found)}")
                    values.append(float(found[0]))
            figures = dict(model=folder, sampler=sampler or "own", steps=steps, captions=len(values),
                           mean=statistics.mean(values), min=min(values), max=max(values), values=values,
                           command=f"stipple generate --model {os.path.relpath(model_path(folder), REPO)} -p CAPTION --seed SEED --steps {steps}"
                                   + (f" --sampler {sampler}" if sampler else "") + " --trajectory")
            json.dump(figures, open(path, "w"), indent=1)
            print(f"{name} {steps} steps: straightness mean {figures['mean']:.4f} (min {figures['min']:.4f}, max {figures['max']:.4f})")


def agree(folder, steps, cfg):
    """diffusers' images (judge_shapes.py pipeline) against stipple's (judge_shapes.py stipple) for
    the 100 judge captions and seeds: the largest difference of any pixel, in levels of 255."""
    import numpy as np
    import tempfile
    from PIL import Image
    with tempfile.TemporaryDirectory() as ours, tempfile.TemporaryDirectory() as theirs:
        base = [PY, os.path.join(REPO, "tools", "judge_shapes.py")]
        subprocess.run(base + ["pipeline", "--model", model_path(folder), "--steps", str(steps), "--cfg", str(cfg),
                               "--save", theirs], check=True, capture_output=True)
        subprocess.run(base + ["stipple", "--model", model_path(folder), "--steps", str(steps), "--cfg", str(cfg),
                               "--save", ours], check=True, capture_output=True)
        names = sorted(f for f in os.listdir(ours) if f[0].isdigit() and f.endswith(".png"))
        worst = [int(np.abs(np.asarray(Image.open(os.path.join(ours, f)).convert("RGB"), dtype=np.int16)
                            - np.asarray(Image.open(os.path.join(theirs, f)).convert("RGB"), dtype=np.int16)).max())
                 for f in names]
    identical = sum(w == 0 for w in worst)
    print(f"{os.path.relpath(model_path(folder), REPO)}, {steps} steps, CFG {cfg:g}: {len(worst)} images, largest pixel "
          f"difference {max(worst)} of 255 (median image {int(np.median(worst))}; {identical} identical)")


def load(path):
    return json.load(open(path)) if os.path.exists(path) else None


def all_four(figures):
    images = figures["images"]
    return sum(all(i["expected"][c] == i["judged"][c] for c in ("background", "colour", "position", "shape"))
               for i in images) / len(images)


def report():
    rows = []
    series = {}
    for name, (folder, settings) in RUNS.items():
        for steps, cfg, sampler in settings:
            figures = load(os.path.join(OUT, f"judge-{name}-{steps}.json"))
            if not figures:
                continue
            a = figures["all"]
            rows.append((name, steps, sampler or "own", cfg, a, all_four(figures)))
            series.setdefault(name, []).append((steps, all_four(figures)))
    # (Times are left out: these runs shared the two cores with training; speed is measured by
    # `stipple bench`, not here.)
    print("| model | steps | sampler | CFG | background | colour | position | shape | all four |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, steps, sampler, cfg, a, four in rows:
        print(f"| {name} | {steps} | {sampler} | {'own' if cfg is None else cfg} | {a['background']:.0%} | {a['colour']:.0%} | "
              f"{a['position']:.0%} | {a['shape']:.0%} | {four:.0%} |")
    print()
    print("| model | bits/dim (999 timesteps) | ± | prior | 50 timesteps: stipple | 50 timesteps: PyTorch |")
    print("|---|---|---|---|---|---|")
    bounds = {}
    for name in ("cosine", "linear"):
        full = load(os.path.join(OUT, f"bound-{name}.json"))
        if not full:
            continue
        ours = load(os.path.join(OUT, f"bound-{name}-50-stipple.json"))
        torch = load(os.path.join(OUT, f"bound-{name}-50-pytorch.json"))
        prior = sum(i["prior_nats"] for i in full["per_image"]) / len(full["per_image"]) / (full["dimensions"] * 0.6931471805599453)
        per = full["per_image"]
        scale = len(per) * full["dimensions"] * 0.6931471805599453
        bounds[name] = dict(total=full["bits_per_dim"], diffusion=sum(i["diffusion_nats"] for i in per) / scale,
                            decoder=sum(i["decoder_nats"] for i in per) / scale)
        print(f"| {name} | {full['bits_per_dim']:.4f} | {full['standard_error']:.4f} | {prior:.4f} | "
              f"{ours['bits_per_dim']:.4f} | {torch['bits_per_dim']:.4f} |" if ours and torch else
              f"| {name} | {full['bits_per_dim']:.4f} | {full['standard_error']:.4f} | {prior:.4f} | | |")
    if len(bounds) == 2:
        gap = {k: bounds["linear"][k] - bounds["cosine"][k] for k in ("total", "diffusion", "decoder")}
        print(f"\nlinear minus cosine: total {gap['total']:+.4f}, diffusion terms {gap['diffusion']:+.4f}, "
              f"decoder {gap['decoder']:+.4f} bits/dim")
    straight = [(name, figures) for name, (_, _, counts) in STRAIGHT.items() for steps in counts
                if (figures := load(os.path.join(OUT, f"straightness-{name}-{steps}.json")))]
    if straight:
        print(f"\n| model | sampler | steps | straightness: mean | min | max |")
        print("|---|---|---|---|---|---|")
        for name, f in straight:
            print(f"| {f['model']} | {f['sampler']} | {f['steps']} | {f['mean']:.3f} | {f['min']:.3f} | {f['max']:.3f} |")
    plot(series, bounds)


def plot(series, bounds):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    if not series:
        return
    figure, axes = plt.subplots(1, 2 if bounds else 1, figsize=(10 if bounds else 6, 4), squeeze=False)
    ax = axes[0][0]
    for name, points in series.items():
        points.sort()
        ax.plot([p[0] for p in points], [100 * p[1] for p in points], marker="o", label=LABELS.get(name, name))
    ax.set_xscale("log")
    ticks = sorted({p[0] for points in series.values() for p in points})
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(t) for t in ticks])
    ax.minorticks_off()
    ax.set_xlabel("sampling steps")
    ax.set_ylabel("judge: all four attributes right (%)")
    ax.set_title("Steps to quality (100 captions, stipple)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    if bounds:
        ax = axes[0][1]
        parts = ("diffusion", "decoder", "total")
        colours = {"cosine": "tab:blue", "linear": "tab:orange"}
        width = 0.38
        for k, name in enumerate(bounds):
            xs = [i + (k - 0.5) * width for i in range(len(parts))]
            values = [bounds[name][p] for p in parts]
            ax.bar(xs, values, width, label=name, color=colours.get(name))
            for x, v in zip(xs, values):
                ax.text(x, v, f"{v:.2f}", ha="center", va="bottom" if v >= 0 else "top", fontsize=8)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(range(len(parts)))
        ax.set_xticklabels(["999 KL terms", "decoder (t = 1)", "bound"])
        ax.set_ylabel("bits / latent dimension")
        ax.set_title("Variational bound, held-out images (lower is better)")
        ax.legend(fontsize=8)
    figure.tight_layout()
    path = os.path.join(REPO, "docs", "images", "experiments.png")
    figure.savefig(path, dpi=100)
    print(f"\nwrote {os.path.relpath(path, REPO)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    j = sub.add_parser("judge")
    j.add_argument("--only", nargs="+", choices=sorted(RUNS))
    sub.add_parser("bound")
    a = sub.add_parser("agree", help="stipple's images against diffusers' for one model")
    a.add_argument("--model", required=True, help="a folder in samples/ or a path relative to the repository")
    a.add_argument("--steps", type=int, default=20)
    a.add_argument("--cfg", type=float, default=2.0)
    t = sub.add_parser("straightness")
    t.add_argument("--only", nargs="+", choices=sorted(STRAIGHT))
    sub.add_parser("report")
    args = parser.parse_args()
    if args.mode == "judge":
        judge(args.only or list(RUNS))
    elif args.mode == "agree":
        agree(args.model, args.steps, args.cfg)
    elif args.mode == "straightness":
        straightness(args.only or list(STRAIGHT))
    elif args.mode == "bound":
        bound()
    else:
        report()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""The programmatic judge of the bundled default model: does an image show what its caption asks?

    .venv-ref/bin/python tools/judge_shapes.py truth                   # the judge on rendered ground truth
    .venv-ref/bin/python tools/judge_shapes.py pipeline [--model samples/shapes-64] [--sampler NAME] [--cfg 7]
    .venv-ref/bin/python tools/judge_shapes.py stipple [--binary .build/release/stipple] [--model DIR]
    .venv-ref/bin/python tools/judge_shapes.py images OUT/*.png        # PNGs carrying their prompt

`pipeline` runs diffusers' StableDiffusionPipeline on the 100 evaluation captions of
tools/shapes_data.py (50 combinations never trained on, 50 trained ones, seeds 2^31 + i that
training never used) at 20 steps, CFG 7, 64x64, the model's own scheduler: stipple's defaults.
The pipeline is the class the folder's model_index.json names, so an LCM folder
(samples/shapes-64-lcm) runs LatentConsistencyModelPipeline: there --cfg is its guidance_scale,
an input of the UNet, and --sampler is refused.
`stipple` runs `stipple generate -p CAPTION --seed SEED -o FILE` once per caption with nothing else
set (the default settings: the model's own `stipple_defaults.json`, if it has one), or with its
`--steps`, `--cfg` and `--sampler` passed on, and also reports the median wall time of one whole command.
`images` judges PNGs written by stipple (or A1111), taking the caption from the PNG's `parameters`
text; `--captions FILE.json` ([{"file", "caption"}]) gives them instead. `--save DIR` keeps the
images and a contact sheet. `--json FILE` writes the figures.

Four checks per image, each against the caption's words:
- background: the palette colour most of the 2-pixel border is nearest to;
- shape colour: the palette colour nearest the median of the foreground (pixels far from the
  background colour, its largest connected part, eroded by one pixel to skip the edges);
- position: the foreground's centroid: center when within 8 px of the middle on both axes, else
  the quadrant;
- shape: the fill ratio of the foreground (pixels nearer the shape's colour than the
  background's) in its bounding box: below 0.65 triangle (ideal 0.5), below 0.86 circle (pi/4),
  else square (1).
The figures asked of the model: background >= 95%, shape colour >= 90%, position >= 90%,
shape >= 80%, over the 100 captions.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from PIL import Image
from scipy import ndimage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes_data as data  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = list(data.COLOURS)
PALETTE = np.array([data.COLOURS[n] for n in NAMES], float)
CHECKS = ("background", "colour", "position", "shape")
TARGETS = dict(background=0.95, colour=0.90, position=0.90, shape=0.80)
TRIANGLE_BELOW, CIRCLE_BELOW = 0.65, 0.86
FOREGROUND_DISTANCE = 40.0


def nearest(rgb):
    """Index into the palette of the colour nearest each RGB row."""
    rgb = np.atleast_2d(rgb)
    return np.argmin(((rgb[:, None, :] - PALETTE[None]) ** 2).sum(-1), axis=1)


def largest_part(mask):
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    sizes = ndimage.sum(mask, labels, range(1, count + 1))
    return ndimage.binary_fill_holes(labels == 1 + int(np.argmax(sizes)))


def judge(image):
    """What a 64x64 RGB image (uint8 [H, W, 3]) shows: dict(background, colour, position, shape,
    fill), None for what cannot be seen (no foreground)."""
    img = image[..., :3].astype(float)
    h, w = img.shape[:2]
    border = np.concatenate([img[:2].reshape(-1, 3), img[-2:].reshape(-1, 3),
                             img[2:-2, :2].reshape(-1, 3), img[2:-2, -2:].reshape(-1, 3)])
    votes = np.bincount(nearest(border), minlength=len(NAMES))
    background = int(np.argmax(votes))
    bg = np.median(border[nearest(border) == background], axis=0)
    result = dict(background=NAMES[background], colour=None, position=None, shape=None, fill=None)

    far = largest_part(np.linalg.norm(img - bg, axis=-1) > FOREGROUND_DISTANCE)
    if far.sum() < 8:
        return result
    core = ndimage.binary_erosion(far)
    fg = np.median(img[core if core.sum() >= 4 else far], axis=0)
    result["colour"] = NAMES[int(nearest(fg)[0])]

    # The shape: pixels nearer the shape's colour than the background's (coverage above one half).
    mask = largest_part(np.linalg.norm(img - fg, axis=-1) < np.linalg.norm(img - bg, axis=-1))
    ys, xs = np.nonzero(mask)
    cx, cy = xs.mean() + 0.5 - w / 2, ys.mean() + 0.5 - h / 2
    if abs(cx) < 8 and abs(cy) < 8:
        result["position"] = "center"
    else:
        result["position"] = ("top" if cy < 0 else "bottom") + " " + ("left" if cx < 0 else "right")
    fill = mask.sum() / ((xs.max() - xs.min() + 1) * (ys.max() - ys.min() + 1))
    result["fill"] = round(float(fill), 3)
    result["shape"] = "triangle" if fill < TRIANGLE_BELOW else "circle" if fill < CIRCLE_BELOW else "square"
    return result


parse_caption = data.parse_caption


def score(results):
    """Accuracy of each check over `results` ([(expected, judged)])."""
    return {c: float(np.mean([e[c] == j[c] for e, j in results])) if results else float("nan") for c in CHECKS}


def report(items, judged, title, json_path=None, extra=None):
    pairs = [(dict((c, it[c]) for c in CHECKS), j) for it, j in zip(items, judged)]
    overall = score(pairs)
    held = score([p for it, p in zip(items, pairs) if it.get("held_out")])
    seen = score([p for it, p in zip(items, pairs) if it.get("held_out") is False])
    print(f"{title}: {len(pairs)} images")
    print(f"  {'':22s}" + "".join(f"{c:>12s}" for c in CHECKS))
    print(f"  {'all':22s}" + "".join(f"{overall[c]:12.0%}" for c in CHECKS))
    if any(it.get("held_out") for it in items):
        print(f"  {'held-out combinations':22s}" + "".join(f"{held[c]:12.0%}" for c in CHECKS))
        print(f"  {'trained combinations':22s}" + "".join(f"{seen[c]:12.0%}" for c in CHECKS))
    print(f"  {'target':22s}" + "".join(f"{TARGETS[c]:12.0%}" for c in CHECKS))
    passed = all(overall[c] >= TARGETS[c] for c in CHECKS)
    print("  PASS" if passed else "  below target")
    if json_path:
        with open(json_path, "w") as f:
            json.dump(dict(title=title, count=len(pairs), all=overall, held_out=held, trained=seen, passed=passed,
                           **(extra or {}),
                           images=[dict(caption=it["caption"], seed=it.get("seed"), expected={c: it[c] for c in CHECKS},
                                        judged=j) for it, j in zip(items, judged)]), f, indent=1)
    return overall, passed


def contact_sheet(images, path, columns=10):
    rows = (len(images) + columns - 1) // columns
    sheet = np.zeros((rows * 66, columns * 66, 3), np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, columns)
        sheet[r * 66 + 1:r * 66 + 65, c * 66 + 1:c * 66 + 65] = im[..., :3]
    Image.fromarray(sheet).save(path)


def save_images(items, images, folder):
    os.makedirs(folder, exist_ok=True)
    for i, (it, im) in enumerate(zip(items, images)):
        Image.fromarray(im).save(os.path.join(folder, f"{i:03d}.png"))
    contact_sheet(images, os.path.join(folder, "sheet.png"))
    with open(os.path.join(folder, "captions.json"), "w") as f:
        json.dump([dict(file=f"{i:03d}.png", caption=it["caption"], seed=it.get("seed")) for i, it in enumerate(items)], f, indent=1)


# DDIM's class default clip_sample=True would clamp the predicted latents to [-1, 1].
SAMPLERS = {
    "ddim": ("DDIMScheduler", {"clip_sample": False}), "euler": ("EulerDiscreteScheduler", {}),
    "euler_a": ("EulerAncestralDiscreteScheduler", {}), "dpmpp_2m": ("DPMSolverMultistepScheduler", {}),
    "unipc": ("UniPCMultistepScheduler", {}), "pndm": ("PNDMScheduler", {}), "heun": ("HeunDiscreteScheduler", {}),
    "lms": ("LMSDiscreteScheduler", {}), "ddim_trailing": ("DDIMScheduler", {"timestep_spacing": "trailing", "clip_sample": False}),
}


def load_pipeline(model, sampler=None):
    """The diffusers pipeline of the folder `model`, of the class its model_index.json names
    (StableDiffusionPipeline, LatentConsistencyModelPipeline, ...). `sampler` replaces the
    scheduler of a StableDiffusionPipeline folder; other pipelines keep their own (an LCM
    pipeline steps only with LCMScheduler)."""
    import torch
    import diffusers
    index_path = os.path.join(model, "model_index.json")
    try:
        with open(index_path) as f:
            class_name = json.load(f).get("_class_name", "")
    except (OSError, ValueError, AttributeError) as error:
        sys.exit(f"{index_path}: not a readable diffusers model index ({error})")
    if sampler and class_name != "StableDiffusionPipeline":
        sys.exit(f"--sampler applies to StableDiffusionPipeline folders; {model} is a {class_name or 'pipeline of no class'}")
    pipe = diffusers.DiffusionPipeline.from_pretrained(model, torch_dtype=torch.float32, safety_checker=None,
                                                       requires_safety_checker=False)
    if sampler:
        name, overrides = SAMPLERS[sampler]
        pipe.scheduler = getattr(diffusers, name).from_config(pipe.scheduler.config, **overrides)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run_pipeline(pipe, items, steps=20, cfg=7.0, batch=25):
    """diffusers' images (uint8 [64, 64, 3]) for `items`, one generator per item seeded with its seed."""
    import torch
    import diffusers
    flow = isinstance(pipe.scheduler, diffusers.FlowMatchEulerDiscreteScheduler)
    images = []
    for start in range(0, len(items), batch):
        chunk = items[start:start + batch]
        generators = [torch.Generator().manual_seed(it["seed"]) for it in chunk]
        with torch.no_grad():
            if flow:
                out = run_flow(pipe, [it["caption"] for it in chunk], steps, cfg, generators)
            else:
                out = pipe([it["caption"] for it in chunk], num_inference_steps=steps, guidance_scale=cfg, height=64,
                           width=64, generator=generators, output_type="np").images
        images.extend(list((np.clip(out, 0, 1) * 255).round().astype(np.uint8)))
    return images


def run_flow(pipe, captions, steps, cfg, generators):
    """A flow-matching UNet in a StableDiffusionPipeline folder (samples/shapes-64-flow):
    StableDiffusionPipeline cannot step FlowMatchEulerDiscreteScheduler (it has no
    scale_model_input), so this is its loop with that scheduler: the starting noise as the pipeline
    draws it (one randn of [1, 4, 16, 16] per generator), CFG as uncond + cfg (cond - uncond) with
    the empty negative prompt, scheduler.step on the velocity, then the VAE. Returns [N, 64, 64, 3]
    floats in [0, 1]."""
    import torch
    guided = cfg > 1
    positive, negative = pipe.encode_prompt(captions, "cpu", 1, guided, None)
    latents = torch.cat([torch.randn((1, pipe.unet.config.in_channels, 16, 16), generator=g) for g in generators])
    pipe.scheduler.set_timesteps(steps)
    for t in pipe.scheduler.timesteps:
        x = torch.cat([latents, latents]) if guided else latents
        context = torch.cat([negative, positive]) if guided else positive
        v = pipe.unet(x, t, encoder_hidden_states=context).sample
        if guided:
            uncond, cond = v.chunk(2)
            v = uncond + cfg * (cond - uncond)
        latents = pipe.scheduler.step(v, t, latents).prev_sample
    image = pipe.vae.decode(latents / pipe.vae.config.scaling_factor).sample
    return (image / 2 + 0.5).clamp(0, 1).permute(0, 2, 3, 1).numpy()


def png_prompt(path):
    """The prompt stored in a PNG's A1111 `parameters` text: its first line."""
    text = Image.open(path).info.get("parameters")
    return text.split("\n")[0] if text else None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("truth", help="judge the rendered ground truth of the 100 evaluation items")
    p = sub.add_parser("pipeline", help="judge diffusers' pipeline on the 100 evaluation captions")
    p.add_argument("--model", default=os.path.join(REPO, "samples", "shapes-64"))
    p.add_argument("--sampler", choices=sorted(SAMPLERS), help="instead of the model's own scheduler")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--cfg", type=float, default=7.0)
    s = sub.add_parser("stipple", help="judge `stipple generate` (default settings) on the 100 evaluation captions")
    s.add_argument("--binary", default=os.path.join(REPO, ".build", "release", "stipple"))
    s.add_argument("--model", help="passed as --model (default: stipple's own default model)")
    s.add_argument("--threads", type=int, help="passed as --threads")
    s.add_argument("--steps", type=int, help="passed as --steps (default: the model's own settings)")
    s.add_argument("--cfg", type=float, help="passed as --cfg-scale (default: the model's own settings)")
    s.add_argument("--sampler", help="passed as --sampler (default: the model's own)")
    i = sub.add_parser("images", help="judge PNGs, their caption from the PNG's parameters text")
    i.add_argument("files", nargs="+")
    i.add_argument("--captions", help='JSON [{"file", "caption"}] instead of the PNG text')
    for q in (p, s, i, sub.choices["truth"]):
        q.add_argument("--save", help="keep the images and a contact sheet in this folder")
        q.add_argument("--json", help="write the figures and every judgement to this file")
        q.add_argument("--limit", type=int, help="only the first N evaluation items (quick checks)")
    args = parser.parse_args()

    items = data.eval_items()[:args.limit] if args.mode != "images" else None
    extra = {}
    if args.mode == "truth":
        images = [data.render(it["colour"], it["shape"], it["position"], it["background"], it["seed"]) for it in items]
        title = "ground truth"
    elif args.mode == "pipeline":
        t0 = time.time()
        pipe = load_pipeline(args.model, args.sampler)
        images = run_pipeline(pipe, items, args.steps, args.cfg)
        kind = "" if type(pipe).__name__ == "StableDiffusionPipeline" else type(pipe).__name__ + " "
        title = (f"diffusers {kind}{type(pipe.scheduler).__name__}{' (' + args.sampler + ')' if args.sampler else ''}, "
                 f"{args.steps} steps, CFG {args.cfg:g}")
        extra = dict(wall_s=round(time.time() - t0, 1), pipeline=type(pipe).__name__, scheduler=type(pipe.scheduler).__name__, steps=args.steps, cfg=args.cfg)
    elif args.mode == "stipple":
        folder = args.save or tempfile.mkdtemp(prefix="judge-stipple-")
        os.makedirs(folder, exist_ok=True)
        images, times = [], []
        for n, it in enumerate(items):
            out = os.path.join(folder, f"{n:03d}.png")
            if os.path.exists(out):
                os.remove(out)
            command = [args.binary, "generate", "-p", it["caption"], "--seed", str(it["seed"]), "-o", out]
            if args.model:
                command += ["--model", args.model]
            if args.threads:
                command += ["--threads", str(args.threads)]
            for option, value in (("--steps", args.steps), ("--cfg-scale", args.cfg), ("--sampler", args.sampler)):
                if value is not None:
                    command += [option, str(value)]
            t0 = time.time()
            done = subprocess.run(command, capture_output=True, text=True)
            times.append(time.time() - t0)
            if done.returncode != 0:
                sys.exit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
            images.append(np.asarray(Image.open(out).convert("RGB")))
        chosen = [f"{name} {value:g}" if isinstance(value, float) else f"{name} {value}"
                  for name, value in (("steps", args.steps), ("CFG", args.cfg), ("sampler", args.sampler)) if value is not None]
        title = "stipple generate (" + (", ".join(chosen) if chosen else "default settings") + ")"
        extra = dict(median_command_s=round(statistics.median(times), 3), max_command_s=round(max(times), 3))
        print(f"stipple generate: median {statistics.median(times):.3f} s per image end to end, max {max(times):.3f} s")
    else:
        captions = {}
        if args.captions:
            base = os.path.dirname(os.path.abspath(args.captions))
            for entry in json.load(open(args.captions)):
                captions[os.path.abspath(os.path.join(base, entry["file"]))] = entry["caption"]
        items, images = [], []
        for f in args.files:
            caption = captions.get(os.path.abspath(f)) or png_prompt(f)
            if caption is None:
                sys.exit(f"{f}: no caption (no `parameters` text in the PNG and none in --captions)")
            items.append(dict(caption=caption, **parse_caption(caption)))
            images.append(np.asarray(Image.open(f).convert("RGB")))
        title = f"{len(images)} PNGs"
    judged = [judge(im) for im in images]
    if args.save and args.mode != "stipple":
        save_images(items, images, args.save)
    elif args.save:
        contact_sheet(images, os.path.join(args.save, "sheet.png"))
    report(items, judged, title, args.json, extra)


if __name__ == "__main__":
    main()

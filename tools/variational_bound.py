#!/usr/bin/env python3
"""The variational bound (bits per dimension) of a diffusers diffusion model, computed in PyTorch
exactly as `stipple eval` computes it (Sources/Diffusion/Evaluation/VariationalBound.swift), so the
engine's figures can be checked term by term.

    # the held-out images of the shapes data (tools/shapes_data.py's 100 evaluation items, never
    # trained on), 64x64 PNGs carrying their caption as `parameters`:
    .venv-ref/bin/python tools/variational_bound.py images --out /tmp/bound-images
    # the bound in PyTorch:
    .venv-ref/bin/python tools/variational_bound.py compute --model samples/shapes-64 /tmp/bound-images/*.png [--timesteps K] [--json F]
    # the test fixture (Tests/DiffusionTests/Fixtures/bound/):
    .venv-ref/bin/python tools/variational_bound.py fixture

The bound (DDPM, Ho et al. 2020, eq. 5), per image, in nats over the latent's D dimensions, on the
VAE's posterior mean times its scaling_factor (z0); schedule index i = 0..T-1 (DDPM's t = i + 1):
- prior: KL(N(sqrt(abar) z0, 1 - abar) || N(0, 1)) at i = T - 1, exact;
- i >= 1: z_i = sqrt(abar_i) z0 + sqrt(1 - abar_i) eps, x0hat from the model's output (epsilon / v /
  sample), KL of the posterior q(z_{i-1} | z_i, z0) against the same Gaussian around x0hat (variance
  beta-tilde): sum((z0 - x0hat)^2) * abar_{i-1} beta_i / (2 (1 - abar_i)(1 - abar_{i-1}));
- decoder at i = 0: -log N(z0; x0hat, beta_0), summed over dimensions.
eps of image j at index i: torch.randn((1, C, h, w), generator=torch.Generator().manual_seed(seed + j * T + i)).
Each image is conditioned on its caption (the PNG's `parameters` first line; else --prompt) without
a negative prompt. --timesteps K evaluates K indices spread evenly over 1..T-1
(1 + floor(k (T - 2) / (K - 1))) and scales their sum by (T - 1) / K.
"""
import argparse
import json
import math
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, PngImagePlugin  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURE = os.path.join(REPO, "Tests", "DiffusionTests", "Fixtures", "bound")


def alphas(model):
    """(betas, alphas_cumprod) of the model's scheduler, float32 as diffusers makes them."""
    import diffusers
    config = diffusers.DDPMScheduler.load_config(os.path.join(model, "scheduler"))
    scheduler = diffusers.DDPMScheduler.from_config(config)
    return scheduler.betas.double(), scheduler.alphas_cumprod.double(), scheduler.config.prediction_type


def load(model):
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextModel, CLIPTokenizer
    unet = UNet2DConditionModel.from_pretrained(model, subfolder="unet", torch_dtype=torch.float32).eval()
    vae = AutoencoderKL.from_pretrained(model, subfolder="vae", torch_dtype=torch.float32).eval()
    text = CLIPTextModel.from_pretrained(model, subfolder="text_encoder", torch_dtype=torch.float32).eval()
    tokenizer = CLIPTokenizer.from_pretrained(model, subfolder="tokenizer")
    return unet, vae, text, tokenizer


def caption_of(path, default):
    text = Image.open(path).info.get("parameters")
    return text.split("\n")[0] if text else default


def timesteps(total, count):
    last = total - 1
    if count is None or count >= last:
        return list(range(1, last + 1))
    if count == 1:
        return [1]
    return [1 + int(math.floor(k * (last - 1) / (count - 1))) for k in range(count)]


@torch.no_grad()
def compute(model, files, seed=0, count=None, prompt="", ignore_prompts=False, batch=16, log=True):
    unet, vae, text, tokenizer = load(model)
    betas, abar, prediction = alphas(model)
    total = len(abar)
    images = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
    z0 = vae.encode(x).latent_dist.mean * vae.config.scaling_factor
    n, c, h, w = z0.shape
    d = c * h * w
    captions = [prompt if ignore_prompts else caption_of(f, prompt) for f in files]
    ids = tokenizer(captions, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids
    context = text(ids)[0]
    steps = timesteps(total, count)
    scale = (total - 1) / len(steps)
    last = abar[-1]
    z = z0.double().reshape(n, -1)
    prior = 0.5 * (last * z * z + (1 - last) - 1 - torch.log(1 - last)).sum(1)
    diffusion = torch.zeros(n, dtype=torch.float64)
    decoder = torch.zeros(n, dtype=torch.float64)
    t0 = time.time()
    for start in range(0, n, batch):
        idx = list(range(start, min(n, start + batch)))
        for i in [0] + steps:
            eps = torch.cat([torch.randn((1, c, h, w), generator=torch.Generator().manual_seed(seed + j * total + i)) for j in idx])
            a, s = abar[i].sqrt().float(), (1 - abar[i]).sqrt().float()
            zi = a * z0[idx] + s * eps
            out = unet(zi, torch.full((len(idx),), float(i)), encoder_hidden_states=context[idx]).sample
            if prediction == "epsilon":
                x0 = (zi - s * out) / a
            elif prediction == "v_prediction":
                x0 = a * zi - s * out
            else:
                x0 = out
            sq = ((z0[idx].double() - x0.double()) ** 2).reshape(len(idx), -1).sum(1)
            if i == 0:
                decoder[idx] = sq / (2 * betas[0]) + 0.5 * math.log(2 * math.pi * betas[0].item()) * d
            else:
                weight = abar[i - 1] * betas[i] / (2 * (1 - abar[i]) * (1 - abar[i - 1]))
                diffusion[idx] += scale * weight * sq
        if log:
            print(f"images {idx[-1] + 1}/{n}: {time.time() - t0:.0f} s", file=sys.stderr)
    totals = prior + diffusion + decoder
    bits = totals / (d * math.log(2))
    return dict(model=os.path.basename(os.path.normpath(model)), seed=seed, images=n, dimensions=d,
                timesteps_evaluated=len(steps), train_timesteps=total, bits_per_dim=bits.mean().item(),
                standard_error=(bits.std().item() / math.sqrt(n)) if n > 1 else 0.0,
                per_image=[dict(file=os.path.basename(f), prompt=cap, prior_nats=p.item(), diffusion_nats=q.item(),
                                decoder_nats=r.item(), bits_per_dim=b.item())
                           for f, cap, p, q, r, b in zip(files, captions, prior, diffusion, decoder, bits)])


def write_images(out, count=None):
    import shapes_data as data
    os.makedirs(out, exist_ok=True)
    items = data.eval_items()[:count]
    files = []
    for k, it in enumerate(items):
        image = data.render(it["colour"], it["shape"], it["position"], it["background"], it["seed"])
        info = PngImagePlugin.PngInfo()
        info.add_text("parameters", it["caption"])
        path = os.path.join(out, f"{k:03d}.png")
        Image.fromarray(image).save(path, pnginfo=info)
        files.append(path)
    return files


def make_fixture():
    """Two 32x32 images (tools/make_pipeline_fixtures.py's init images) through the random-weight SD1
    (epsilon) and SD2 (v-prediction) pipelines of Tests/DiffusionTests/Fixtures/pipelines, 25
    timesteps, seed 7: small enough to run in the test suite."""
    os.makedirs(FIXTURE, exist_ok=True)
    source = os.path.join(REPO, "Tests", "DiffusionTests", "Fixtures", "pipelines")
    files = []
    for k, (name, caption) in enumerate([("init-32x32.png", "a red house by the sea"), ("init-32x32.png", "")]):
        image = Image.open(os.path.join(source, name)).convert("RGB")
        if k == 1:
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        info = PngImagePlugin.PngInfo()
        if caption:
            info.add_text("parameters", caption)
        path = os.path.join(FIXTURE, f"image-{k}.png")
        image.save(path, pnginfo=info)
        files.append(path)
    result = {}
    for model in ("sd1", "sd2"):
        result[model] = compute(os.path.join(source, model), files, seed=7, count=25, log=False)
    with open(os.path.join(FIXTURE, "expected.json"), "w") as f:
        json.dump(result, f, indent=1)
        f.write("\n")
    print(json.dumps({k: v["bits_per_dim"] for k, v in result.items()}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    i = sub.add_parser("images", help="write the 100 evaluation images of the shapes data with their captions")
    i.add_argument("--out", required=True)
    i.add_argument("--count", type=int)
    c = sub.add_parser("compute", help="the bound of a model on images, in PyTorch")
    c.add_argument("--model", default=os.path.join(REPO, "samples", "shapes-64"))
    c.add_argument("files", nargs="+")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--timesteps", type=int)
    c.add_argument("--prompt", default="")
    c.add_argument("--ignore-image-prompts", action="store_true")
    c.add_argument("--batch", type=int, default=16)
    c.add_argument("--threads", type=int, default=2)
    c.add_argument("--json")
    sub.add_parser("fixture", help="write Tests/DiffusionTests/Fixtures/bound/")
    args = parser.parse_args()
    if args.mode == "images":
        files = write_images(args.out, args.count)
        print(f"wrote {len(files)} images to {args.out}")
    elif args.mode == "compute":
        torch.set_num_threads(args.threads)
        t0 = time.time()
        result = compute(args.model, args.files, args.seed, args.timesteps, args.prompt, args.ignore_image_prompts, args.batch)
        result["wall_s"] = round(time.time() - t0, 1)
        print(f"{result['model']}: {result['bits_per_dim']:.4f} bits/dim (± {result['standard_error']:.4f}) over "
              f"{result['images']} images, {result['timesteps_evaluated']} of {result['train_timesteps'] - 1} timesteps; "
              f"{result['wall_s']} s")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(result, f, indent=1)
    else:
        torch.set_num_threads(1)
        make_fixture()


if __name__ == "__main__":
    main()

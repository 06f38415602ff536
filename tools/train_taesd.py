#!/usr/bin/env python3
"""Trains the tiny autoencoder (diffusers `AutoencoderTiny`, TAESD's architecture) of stipple's bundled
model samples/shapes-64 by distillation from its VAE, and writes it to samples/shapes-64/taesd/.

    nohup .venv-ref/bin/python tools/train_taesd.py > .venv-train-ckpt/taesd-train.log 2>&1 &

About 22 minutes on the 2-core machine (2 threads, CPU): 1.5 minutes of VAE work and 2.5 of
sampling for the data, 6000 training steps (about 14 minutes alone on the machine; 17.7 measured
with other work beside it), then an evaluation (a minute). Reproducible: every random draw comes
from fixed seeds and the run is a fixed number of steps, not a time limit (two short runs,
`--steps 30 --data-count 128 --generated-count 8`, wrote byte-identical files); the figures in
samples/shapes-64/README.md (its `taesd/` section) are what this command printed. `--out DIR`
writes elsewhere; `--steps N` etc. for a shorter trial; `--evaluate-only` loads the saved model and
reruns the evaluation.

What it learns. The UNet of samples/shapes-64 works on latents at the denoiser's scale,
`z * scaling_factor` (0.30644) for the VAE's latents z. TAESD's convention is the same (diffusers'
`AutoencoderTiny` has `scaling_factor` 1.0, so a pipeline hands it the denoiser's latents as they
are), so:

- the decoder maps latents at the denoiser's scale to the VAE's image of them,
  `vae.decode(latents / 0.30644)` clamped to [-1, 1] (as every pipeline clamps it);
- the encoder maps a rendered image in [-1, 1] to its posterior mean `* 0.30644`.

Data, computed once and kept in memory (VAE work at every training step would triple the cost):
- DATA_COUNT renders of tools/shapes_data.py (training combinations, training-range seeds), encoded
  by the VAE: one posterior sample `mean + std * eps` each (the distribution the UNet was trained to
  produce) and its decode; the encoder learns from these renders and their means;
- GENERATED_COUNT sampling runs of the bundled model itself (training combinations with training's
  paraphrased captions, training-range seeds, 20 steps, CFG 4, 7 or 10): its final latents and its
  denoised estimates after steps 5, 10 and 15 (what a `denoised` preview decodes), with their VAE
  decodes. The model's latents lie off the VAE's manifold (re-encoding their decode moves them about
  2.5x as far as it moves a posterior sample): a first run trained on renders alone reached 32.4 dB
  on held-out renders but only 26.0 dB on the model's own latents.
Each decoder batch is half of each; the encoder's batch is renders. Loss: L1 (decoder on images,
encoder on latents); AdamW, warm-up and cosine decay.

Architecture: TAESD's without its first (8x8-latent) stage, for the VAE's 4x (64x64 images, 16x16
latents): decoder blocks 3,3,1 (two nearest 2x upsamplings), encoder blocks 1,3,3 (two stride-2
convolutions), `WIDTH` channels
throughout, ReLU, 4 latent channels; saved in float16 like the rest of the bundled model.

Evaluation (held out from training): PSNR of the tiny decoder against the VAE decoder on
(a) latents of images of the 50 held-out combinations with evaluation seeds (>= 2^31, never
rendered in training), and (b) the latents the model itself generates for the first 32 evaluation
captions of tools/judge_shapes.py (20 steps, CFG 7, the bundled Euler ancestral scheduler), which is
what `--decoder taesd` will decode, and the denoised estimates after steps 5, 10 and 15 of those runs
(what `--preview taesd` decodes); plus each decoder against the rendered image, the encoder's
latent error, and decode times in PyTorch (1 thread).
"""
import argparse
import functools
import json
import math
import os
import random
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train_default_model.py; before `import torch`

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes_data as data  # noqa: E402
import train_default_model as base  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import diffusers  # noqa: E402
from diffusers import AutoencoderKL, AutoencoderTiny, StableDiffusionPipeline  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(REPO, "samples", "shapes-64")
OUT = os.path.join(MODEL, "taesd")

SEED = 0
WIDTH = 16
CONFIG = dict(encoder_block_out_channels=(WIDTH,) * 3, decoder_block_out_channels=(WIDTH,) * 3,
              num_encoder_blocks=(1, 3, 3), num_decoder_blocks=(3, 3, 1), latent_channels=4,
              act_fn="relu", upsample_fn="nearest", upsampling_scaling_factor=2, scaling_factor=1.0)
DATA_COUNT = 8192
GENERATED_COUNT = 768  # sampling runs; each gives 4 latents
STEPS = 20  # sampling steps, as tools/judge_shapes.py
PREVIEW_STEPS = (4, 9, 14)
HELD_OUT_IMAGES = 500  # 10 renders of each held-out combination
GENERATED = 32


def log(*parts):
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


def psnr(a, b):
    """PSNR in dB of images in [-1, 1] (peak-to-peak 2), the mean squared error over the whole set."""
    return 10 * math.log10(4 / F.mse_loss(a.clamp(-1, 1), b.clamp(-1, 1)).item())


def load_vae():
    vae = AutoencoderKL.from_pretrained(os.path.join(MODEL, "vae"), dtype=torch.float32).eval()
    return vae, vae.config.scaling_factor


def distill_set(vae, items, seed, batch=256):
    """For (combo, seed) items: rendered images, posterior means and the VAE's decode of one
    posterior sample each (clamped to [-1, 1]), and that sample."""
    gen = torch.Generator().manual_seed(seed)
    images, means, samples, decoded = [], [], [], []
    with torch.no_grad():
        for start in range(0, len(items), batch):
            x = base.to_tensor([data.render(*combo, s) for combo, s in items[start:start + batch]])
            mean, logvar = base.posterior(vae, x)
            z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=gen)
            images.append(((x + 1) * 127.5).round().to(torch.uint8))
            means.append(mean)
            samples.append(z)
            decoded.append(vae.decode(z).sample.clamp(-1, 1).half())
    return dict(image=torch.cat(images), mean=torch.cat(means), z=torch.cat(samples), decoded=torch.cat(decoded))


def load_pipeline():
    pipe = StableDiffusionPipeline.from_pretrained(MODEL, dtype=torch.float32)  # as tools/judge_shapes.py
    pipe.set_progress_bar_config(disable=True)
    return pipe


def sample(pipe, captions, seeds, cfg, keep=PREVIEW_STEPS):
    """The model's final latents (the denoiser's scale) for `captions`, 20 steps, and its
    denoised estimates (the scheduler's `pred_original_sample`, what a `denoised` preview decodes)
    after the 0-based steps in `keep`: (final, {step: estimate})."""
    estimates, original = [], pipe.scheduler.step

    @functools.wraps(original)  # keeps the signature: the pipeline passes `generator` only if step takes it
    def step(*args, **kwargs):
        out = original(*args, **kwargs)
        estimates.append(out[1] if isinstance(out, tuple) else out.pred_original_sample)
        return out

    pipe.scheduler.step = step
    try:
        with torch.no_grad():
            final = pipe(captions, num_inference_steps=STEPS, guidance_scale=cfg, height=64, width=64,
                         generator=[torch.Generator().manual_seed(s) for s in seeds], output_type="latent").images
    finally:
        del pipe.scheduler.step
    return final, {k: estimates[k] for k in keep}


def generated_set(vae, scaling, count, seed, batch=64):
    """Latents the model itself produces, which lie off the VAE's latent manifold (re-encoding their
    decode moves them about 2.5x as far as a posterior sample): for `count` training-combination
    captions (paraphrased as in training, training-range seeds, CFG 4, 7 or 10 per batch), the final
    latents and the denoised estimates after steps 5, 10 and 15, with the VAE's decodes (clamped)."""
    rng = random.Random(seed)
    pipe = load_pipeline()
    latents = []
    for start in range(0, count, batch):
        items = [data.sample_training_item(rng) for _ in range(min(batch, count - start))]
        captions = [data.random_caption(*combo, rng) for combo, _ in items]
        final, estimates = sample(pipe, captions, [s for _, s in items], rng.choice((4.0, 7.0, 10.0)))
        latents += [final] + list(estimates.values())
    z = torch.cat(latents)
    with torch.no_grad():
        decoded = torch.cat([vae.decode(part / scaling).sample.clamp(-1, 1).half() for part in z.split(256)])
    return dict(z=z, decoded=decoded)


def lr_at(step, total, peak, warmup=100, floor=0.02):
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress)))


def train(args, vae, scaling):
    rng = random.Random(SEED * 31 + 7)
    t0 = time.time()
    train_set = distill_set(vae, [data.sample_training_item(rng) for _ in range(args.data_count)], SEED + 1)
    log(f"data: {args.data_count} renders encoded and decoded by the VAE in {time.time() - t0:.0f} s")
    t0 = time.time()
    generated = generated_set(vae, scaling, args.generated_count, SEED + 4)
    count = len(generated["z"])
    log(f"data: {count} latents generated by the model ({args.generated_count} runs) and decoded by the VAE "
        f"in {time.time() - t0:.0f} s")
    torch.manual_seed(SEED)
    model = AutoencoderTiny(**CONFIG)
    log(f"model: encoder {sum(p.numel() for p in model.encoder.parameters()):,} + decoder "
        f"{sum(p.numel() for p in model.decoder.parameters()):,} parameters; {args.steps} steps of batch {args.batch}")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(SEED + 2)
    model.train()
    start, window = time.time(), []
    for step in range(args.steps):
        for group in opt.param_groups:
            group["lr"] = lr_at(step, args.steps, args.lr)
        idx = torch.randint(args.data_count, (args.batch,), generator=gen)
        gidx = torch.randint(count, (args.batch // 2,), generator=gen)
        image = train_set["image"][idx].float() / 127.5 - 1
        # Decoder: half the batch posterior samples of renders, half latents the model generated.
        half = idx[:args.batch - len(gidx)]
        target = torch.cat([train_set["decoded"][half], generated["decoded"][gidx]]).float()
        decoded = model.decode(torch.cat([train_set["z"][half] * scaling, generated["z"][gidx]])).sample
        encoded = model.encode(image).latents
        dec_loss = F.l1_loss(decoded, target)
        enc_loss = F.l1_loss(encoded, train_set["mean"][idx] * scaling)
        loss = dec_loss + args.encoder_weight * enc_loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        batch_psnr = 10 * math.log10(4 / F.mse_loss(decoded.detach(), target).item())
        window.append((dec_loss.item(), enc_loss.item(), batch_psnr))
        if (step + 1) % 100 == 0 or step + 1 == args.steps:
            d, e, p = (sum(v) / len(v) for v in zip(*window))
            elapsed = time.time() - start
            log(f"step {step + 1}/{args.steps} decoder l1 {d:.4f} (psnr {p:.1f} dB) encoder l1 {e:.4f} "
                f"lr {lr_at(step, args.steps, args.lr):.2e} {elapsed / 60:.1f} min")
            window = []
    model.eval()
    train_wall = time.time() - start
    # Ship float16, as the rest of the bundled model; what is evaluated is the rounded model.
    model.half().save_pretrained(args.out, safe_serialization=True)
    log(f"saved float16 to {args.out} after {train_wall / 60:.1f} min of training")
    return dict(train_minutes=round(train_wall / 60, 1), steps=args.steps, batch=args.batch, lr=args.lr,
                data_count=args.data_count, generated_runs=args.generated_count,
                generated_latents=count, encoder_weight=args.encoder_weight)


def timed(fn, x, runs=20):
    with torch.no_grad():
        fn(x)
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2] * 1000


def evaluate(args, vae, scaling):
    tiny = AutoencoderTiny.from_pretrained(args.out, dtype=torch.float32).eval()
    figures = {}
    # (a) held-out combinations, evaluation seeds.
    items = [(combo, data.EVAL_SEED_BASE + 1000 + 10 * i + k) for i, combo in enumerate(data.HELD_OUT_COMBOS)
             for k in range(HELD_OUT_IMAGES // len(data.HELD_OUT_COMBOS))]
    held = distill_set(vae, items, SEED + 3)
    with torch.no_grad():
        image = held["image"].float() / 127.5 - 1
        tiny_image = tiny.decode(held["z"] * scaling).sample
        tiny_latents = tiny.encode(image).latents
        roundtrip = tiny.decode(tiny_latents).sample
    figures["held_out"] = dict(
        images=len(items),
        tiny_vs_vae_db=round(psnr(tiny_image, held["decoded"].float()), 2),
        vae_vs_render_db=round(psnr(held["decoded"].float(), image), 2),
        tiny_vs_render_db=round(psnr(tiny_image, image), 2),
        tiny_roundtrip_vs_render_db=round(psnr(roundtrip, image), 2),
        encoder_rms_error=round(F.mse_loss(tiny_latents, held["mean"] * scaling).sqrt().item(), 4),
        latent_rms=round((held["mean"] * scaling).pow(2).mean().sqrt().item(), 4))
    log("held out:", json.dumps(figures["held_out"]))
    # (b) what the model generates: the first GENERATED evaluation captions, latents at the denoiser's scale.
    pipe = load_pipeline()
    eval_items = data.eval_items()[:args.generated]
    latents, estimates = sample(pipe, [it["caption"] for it in eval_items], [it["seed"] for it in eval_items], 7.0)
    with torch.no_grad():
        by_vae = vae.decode(latents / scaling).sample.clamp(-1, 1)
        by_tiny = tiny.decode(latents).sample.clamp(-1, 1)
        # The same through diffusers with `vae=` the tiny autoencoder: its latents / 1.0 into the decoder.
        swapped = StableDiffusionPipeline(**dict(pipe.components, vae=tiny), requires_safety_checker=False)
        swapped.set_progress_bar_config(disable=True)
        first = eval_items[0]
        out = swapped(first["caption"], num_inference_steps=STEPS, guidance_scale=7.0, height=64, width=64,
                      generator=torch.Generator().manual_seed(first["seed"]), output_type="pt").images
        assert torch.allclose(out * 2 - 1, by_tiny[:1], atol=1e-5), "pipeline with vae=tiny is not decode(latents)"
    levels = ((by_tiny - by_vae).abs() * 127.5)
    figures["generated"] = dict(images=args.generated, tiny_vs_vae_db=round(psnr(by_tiny, by_vae), 2),
                                mean_abs_levels=round(levels.mean().item(), 2),
                                p99_abs_levels=round(levels.flatten().quantile(0.99).item(), 1))
    with torch.no_grad():
        for step, estimate in estimates.items():
            figures["generated"][f"denoised_after_step_{step + 1}_db"] = round(psnr(
                tiny.decode(estimate).sample, vae.decode(estimate / scaling).sample.clamp(-1, 1)), 2)
    log("generated:", json.dumps(figures["generated"]))
    torch.save(dict(latents=latents, vae=by_vae, tiny=by_tiny), os.path.join(args.work, "taesd-eval.pt"))
    # Decode time, PyTorch, one thread, one 64x64 image.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    one = latents[:1]
    figures["decode_ms_torch_1_thread"] = dict(vae=round(timed(lambda x: vae.decode(x / scaling).sample, one), 2),
                                               tiny=round(timed(lambda x: tiny.decode(x).sample, one), 2))
    torch.set_num_threads(threads)
    figures["parameters"] = dict(encoder=sum(p.numel() for p in tiny.encoder.parameters()),
                                 decoder=sum(p.numel() for p in tiny.decoder.parameters()),
                                 vae_decoder=sum(p.numel() for n, p in vae.named_parameters()
                                                 if n.startswith(("decoder.", "post_quant_conv."))))
    log("speed:", json.dumps(figures["decode_ms_torch_1_thread"]), "parameters:", json.dumps(figures["parameters"]))
    return figures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--work", default=os.path.join(REPO, ".venv-train-ckpt"), help="log and evaluation files")
    parser.add_argument("--steps", type=int, default=6000)
    parser.add_argument("--data-count", type=int, default=DATA_COUNT, help="renders distilled (default: %(default)s)")
    parser.add_argument("--generated-count", type=int, default=GENERATED_COUNT, help="sampling runs for training data")
    parser.add_argument("--generated", type=int, default=GENERATED, help="model-generated latents evaluated")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--encoder-weight", type=float, default=1.0)
    parser.add_argument("--evaluate-only", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)
    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    os.makedirs(args.work, exist_ok=True)
    log(f"torch {torch.__version__}, diffusers {diffusers.__version__}, {torch.get_num_threads()} threads")
    vae, scaling = load_vae()
    run = {} if args.evaluate_only else train(args, vae, scaling)
    figures = evaluate(args, vae, scaling)
    with open(os.path.join(args.work, "taesd-figures.json"), "w") as f:
        json.dump(dict(run, **figures), f, indent=1)
        f.write("\n")
    log("figures:", json.dumps(dict(run, **figures)))


if __name__ == "__main__":
    main()

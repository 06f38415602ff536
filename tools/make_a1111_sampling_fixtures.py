#!/usr/bin/env python3
"""Writes Tests/DiffusionTests/Fixtures/rng/a1111-*.png: images made the way AUTOMATIC1111's web UI
makes them, each carrying the `parameters` text A1111 would write for it, so that a test can do what
`stipple generate --from` does (read the text, run it) and compare.

    .venv-ref/bin/pip install --no-deps k-diffusion==0.1.1.post1 && .venv-ref/bin/pip install torchsde torchdiffeq scipy
    .venv-ref/bin/python tools/make_a1111_sampling_fixtures.py PATH/TO/rng_philox.py Tests/DiffusionTests/Fixtures/rng

A1111 samples with k-diffusion (crowsonkb's package, the one A1111 installs) on its `CompVisDenoiser`
wrapper: its sigmas are `get_sigmas(steps)` (timesteps evenly from 999 to 0, sigma interpolated in log
sigma), the UNet gets `sigma_to_t(sigma)`, the starting noise is scaled by `sigmas[0]`. Its noise comes
from `modules/rng.py`'s `ImageRNG` (read from AUTOMATIC1111/stable-diffusion-webui @ 0d5dc9a6): one
generator per image seeded with the seed; `first()` draws the starting noise (blended by `slerp` towards
the variation seed's first draw when there is one), then, with an eta noise seed delta (ENSD), starts a
new generator at seed + delta; every `torch.randn_like` inside k-diffusion (the ancestral steps' noise)
is `next()` on it (A1111's `TorchHijack`). The generator is A1111's `rng_philox.Generator` for its
default "GPU" source on NVIDIA cards (and its "NV" one), torch's CPU generator for "CPU".
Classifier-free guidance is A1111's `CFGDenoiser.combine_denoised`: uncond + (cond - uncond) * scale on
the denoised latents. What this script writes itself, following those files: the ImageRNG and CFG
combination above (a few lines each), and `append_dims` (k-diffusion's `utils` module imports
torchvision, which this venv lacks, so a one-function stand-in takes its place).

The conditioning is diffusers' `encode_prompt` on the tiny SD1 pipeline of Fixtures/pipelines/sd1
(A1111's for prompts without emphasis is the same: 75-token chunks padded with the end token, as this
tokenizer pads; its mean restoration is exactly 1 for weights of 1). The alphas_cumprod are computed as
A1111's ldm code does (float64 betas and product, stored float32). Pixels are rounded as diffusers'
`numpy_to_pil` does (A1111 truncates: at most one level lower), and the final latents are stored in
`a1111_sampling.safetensors` under the case name for a tighter comparison.

rng_philox.py is a copy of A1111's file, never committed (see make_philox_fixtures.py).
"""
import importlib.util
import json
import os
import sys
import types

import numpy as np
import torch
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_pipeline_fixtures as pipelines  # noqa: E402

# name, sampler (k-diffusion function, A1111 label), seed, steps, cfg, size, rng ("GPU" default: no RNG
# field, as A1111 writes), variation (seed, strength), ENSD, Schedule type (A1111 1.9+ writes none for
# Euler a's Automatic; Karras: k-diffusion's get_sigmas_karras between the model's sigma ends)
CASES = [
    ("a1111-euler-a", "sample_euler_ancestral", "Euler a", 601, 8, 7.5, 32, "GPU", None, 0, None),
    ("a1111-euler-a-ensd", "sample_euler_ancestral", "Euler a", 602, 8, 7.5, 32, "GPU", None, 31337, "Automatic"),
    ("a1111-euler-a-cpu", "sample_euler_ancestral", "Euler a", 603, 8, 7.5, 32, "CPU", None, 0, "Automatic"),
    ("a1111-euler-variation", "sample_euler", "Euler", 604, 8, 7.5, 32, "GPU", (77, 0.3), 0, "Automatic"),
    ("a1111-heun", "sample_heun", "Heun", 605, 6, 7.5, 32, "GPU", None, 0, "Automatic"),
    ("a1111-lms", "sample_lms", "LMS", 606, 8, 7.5, 32, "GPU", None, 0, "Automatic"),
    ("a1111-dpmpp-2m-karras", "sample_dpmpp_2m", "DPM++ 2M", 607, 8, 7.5, 32, "GPU", None, 0, "Karras"),
    ("a1111-euler-a-karras", "sample_euler_ancestral", "Euler a", 609, 8, 7.5, 32, "GPU", None, 0, "Karras"),
    # Before 1.9 A1111 wrote no Schedule type, and its DPM++ 2M ran on get_sigmas.
    ("a1111-dpmpp-2m-uniform", "sample_dpmpp_2m", "DPM++ 2M", 608, 8, 7.5, 32, "GPU", None, 0, None),
]


def load_k_diffusion():
    """k_diffusion.sampling and .external without the package's __init__ (which imports training
    code) and with `utils` reduced to the one function they use."""
    spec = importlib.util.find_spec("k_diffusion")
    package = types.ModuleType("k_diffusion")
    package.__path__ = list(spec.submodule_search_locations)
    sys.modules["k_diffusion"] = package
    utils = types.ModuleType("k_diffusion.utils")

    def append_dims(x, target_dims):
        return x[(...,) + (None,) * (target_dims - x.ndim)]

    utils.append_dims = append_dims
    sys.modules["k_diffusion.utils"] = utils
    package.utils = utils
    import k_diffusion.external as external
    import k_diffusion.sampling as sampling
    return sampling, external


class ImageRNG:
    """A1111's modules/rng.py ImageRNG for one image (see the docstring)."""

    def __init__(self, make_generator, shape, seed, variation, delta):
        self.make, self.shape, self.seed, self.variation, self.delta = make_generator, shape, seed, variation, delta
        self.generator = make_generator(seed)
        self.first = True

    def next(self):
        noise = self.generator(self.shape)
        if self.first:
            self.first = False
            if self.variation is not None:
                subseed, strength = self.variation
                noise = slerp(strength, noise, self.make(subseed)(self.shape))
            if self.delta:
                self.generator = self.make(self.seed + self.delta)
        return noise


def slerp(val, low, high):
    """A1111's rng.slerp, on an image's (C, H, W) noise."""
    low_norm = low / torch.norm(low, dim=1, keepdim=True)
    high_norm = high / torch.norm(high, dim=1, keepdim=True)
    dot = (low_norm * high_norm).sum(1)
    if dot.mean() > 0.9995:
        return low * val + high * (1 - val)
    omega = torch.acos(dot)
    so = torch.sin(omega)
    return (torch.sin((1.0 - val) * omega) / so).unsqueeze(1) * low + (torch.sin(val * omega) / so).unsqueeze(1) * high


class TorchHijack:
    """What A1111 puts in place of k-diffusion's `torch`: randn_like is the image's next noise."""

    def __init__(self, rng):
        self.rng = rng

    def __getattr__(self, item):
        if item == "randn_like":
            return lambda x: self.rng.next().reshape(x.shape)
        return getattr(torch, item)


def main():
    reference, out_dir = sys.argv[1], sys.argv[2]
    spec = importlib.util.spec_from_file_location("rng_philox", reference)
    philox = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(philox)
    sampling, external = load_k_diffusion()

    pipelines.quiet_and_seeded()
    pipe = pipelines.load_pipeline(pipelines.OUT, "sd1")
    config = pipe.scheduler.config
    betas = torch.linspace(config.beta_start ** 0.5, config.beta_end ** 0.5, config.num_train_timesteps,
                           dtype=torch.float64) ** 2
    alphas_cumprod = torch.tensor(np.cumprod(1.0 - betas.numpy(), axis=0), dtype=torch.float32)

    class Denoiser(external.DiscreteEpsDDPMDenoiser):
        def get_eps(self, x, t, cond):
            return pipe.unet(x, t, encoder_hidden_states=cond).sample

    model = Denoiser(pipe.unet, alphas_cumprod, quantize=False)

    def guided(x, sigma, cond, uncond, scale):
        out = model(torch.cat([x, x]), torch.cat([sigma, sigma]), cond=torch.cat([cond, uncond]))
        denoised_cond, denoised_uncond = out.chunk(2)
        return denoised_uncond + (denoised_cond - denoised_uncond) * scale

    latents = {}
    for name, function, label, seed, steps, cfg, size, rng, variation, delta, schedule in CASES:
        shape = (4, size // pipe.vae_scale_factor, size // pipe.vae_scale_factor)
        if rng == "CPU":
            def make(s):
                generator = torch.Generator("cpu").manual_seed(int(s))
                return lambda shape: torch.randn(shape, generator=generator, dtype=torch.float32)
        else:
            def make(s):
                generator = philox.Generator(s)
                return lambda shape: torch.from_numpy(np.asarray(generator.randn(shape), dtype=np.float32))
        image_rng = ImageRNG(make, shape, seed, variation, delta)
        with torch.inference_mode():
            cond, uncond = pipe.encode_prompt(pipelines.PROMPT, "cpu", 1, True, pipelines.NEGATIVE)
            if schedule == "Karras":
                sigmas = sampling.get_sigmas_karras(steps, model.sigmas[0].item(), model.sigmas[-1].item())
            else:
                sigmas = model.get_sigmas(steps)
            x = image_rng.next()[None] * sigmas[0]
            sampling.torch = TorchHijack(image_rng)
            sampler = getattr(sampling, function)
            result = sampler(guided, x, sigmas, extra_args={"cond": cond, "uncond": uncond, "scale": cfg},
                             disable=True)
            sampling.torch = torch
            pixels = pipe.vae.decode(result / pipe.vae.config.scaling_factor).sample
        pixels = ((pixels[0].permute(1, 2, 0).numpy() / 2 + 0.5).clip(0, 1) * 255).round().astype(np.uint8)
        latents[name] = result.contiguous()
        fields = [("Steps", steps), ("Sampler", label)] + ([("Schedule type", schedule)] if schedule else [])
        fields += [("CFG scale", cfg), ("Seed", seed), ("Size", f"{size}x{size}"), ("Model", "sd1")]
        if variation is not None:
            fields += [("Variation seed", variation[0]), ("Variation seed strength", variation[1])]
        if rng != "GPU":
            fields.append(("RNG", rng))
        if delta:
            fields.append(("ENSD", delta))
        fields.append(("Version", "v1.10.1"))
        text = f"{pipelines.PROMPT}\nNegative prompt: {pipelines.NEGATIVE}\n" + ", ".join(f"{k}: {v}" for k, v in fields)
        info = PngInfo()
        info.add_text("parameters", text)
        Image.fromarray(pixels).save(os.path.join(out_dir, name + ".png"), pnginfo=info)
        print(name, json.dumps(text))
    path = os.path.join(out_dir, "a1111_sampling.safetensors")
    save_file(latents, path, metadata={"k_diffusion": "0.1.1.post1", "numpy": np.__version__})
    print(f"{len(latents)} cases in {path}")


if __name__ == "__main__":
    main()

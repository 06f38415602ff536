#!/usr/bin/env python3
"""Writes Tests/DiffusionTests/Fixtures/rng/philox_randn.safetensors: the normal values of
AUTOMATIC1111's `modules/rng_philox.py` (its CPU imitation of `torch.randn(..., device="cuda")`,
Philox 4x32-10 and a Box-Muller transform), which PhiloxRandomSource must reproduce bit for bit.

    .venv-ref/bin/python tools/make_philox_fixtures.py PATH/TO/rng_philox.py Tests/DiffusionTests/Fixtures/rng

PATH/TO/rng_philox.py is a copy of A1111's file, never committed here (read from
AUTOMATIC1111/stable-diffusion-webui at 255da37d, with the `fetch`/`read_file` tools; the stored
copy this was made from had two stray lines, a misindented docstring in `Generator.__init__` and a
trailing comment, which were left out so that it imports; nothing of the algorithm changed). Its own
docstring's example (seed 0, shape (3, 4): -0.92466259, -0.42534415, ...) is checked first.

It also writes `philox_pipeline.safetensors` and `philox-*.png`: diffusers' StableDiffusionPipeline on
the tiny sd1 pipeline (Fixtures/pipelines/sd1) with `latents=` the Philox noise of the seed (what
`stipple generate --rng gpu` starts from; diffusers scales it by the scheduler's init_noise_sigma as
stipple does), for samplers that draw no noise after the start (PNDM, the folder's own, and Euler):
the final latents per case (key = case name), and the PNG.

Every value is float32. Names:
  seed{S}_call{i}_{shape}   the i-th `randn(shape)` on ONE `Generator(S)` (each call advances its
                            offset by one: A1111 draws an image's starting noise first, then each
                            ancestral step's noise, from the same generator).
numpy's version is stored in the metadata (its float64 log and sin feed the last rounding).
"""
import importlib.util
import os
import sys

import numpy as np
import torch
from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_pipeline_fixtures as pipelines  # noqa: E402

SEEDS = [0, 1, 42, 965400086, 2**32 - 1, 2**32 + 5, 12345678901]
CALLS = [[3, 4], [1, 4, 16, 16], [1, 4, 16, 16], [7]]
FULL = {42: [1, 4, 64, 64]}  # one latent of a 512x512 image, in full
# Pipeline cases: name, scheduler (None = the folder's PNDM), seed, steps, cfg, size.
PIPELINE_CASES = [("philox-sd1-pndm", None, 601, 12, 7.5, 32), ("philox-sd1-euler", "euler", 977, 10, 7.5, 40)]


def main():
    reference, out_dir = sys.argv[1], sys.argv[2]
    spec = importlib.util.spec_from_file_location("rng_philox", reference)
    philox = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(philox)

    example = philox.Generator(0).randn((3, 4))
    assert np.allclose(example[0], [-0.92466259, -0.42534415, -2.6438457, 0.14518388], atol=1e-6), example

    tensors = {}
    for seed in SEEDS:
        generator = philox.Generator(seed)
        for index, shape in enumerate(CALLS):
            name = f"seed{seed}_call{index}_" + "x".join(map(str, shape))
            tensors[name] = torch.from_numpy(np.ascontiguousarray(generator.randn(tuple(shape)), dtype=np.float32))
    for seed, shape in FULL.items():
        name = f"seed{seed}_call0_" + "x".join(map(str, shape))
        tensors[name] = torch.from_numpy(np.ascontiguousarray(philox.Generator(seed).randn(tuple(shape)), dtype=np.float32))
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "philox_randn.safetensors")
    save_file(tensors, path, metadata={"numpy": np.__version__, "reference": "A1111 modules/rng_philox.py @ 255da37d"})
    print(f"{len(tensors)} tensors, {os.path.getsize(path)} bytes in {path}")
    write_pipeline_cases(philox, out_dir)


def write_pipeline_cases(philox, out_dir):
    """diffusers' images from Philox starting noise (see the docstring)."""
    pipelines.quiet_and_seeded()
    pipe = pipelines.load_pipeline(pipelines.OUT, "sd1")
    latents = {}
    for name, sampler, seed, steps, cfg, size in PIPELINE_CASES:
        scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config) if sampler == "euler" else pipe.scheduler
        runner = StableDiffusionPipeline(**dict(pipe.components, scheduler=scheduler), requires_safety_checker=False)
        runner.set_progress_bar_config(disable=True)
        noise = torch.from_numpy(philox.Generator(seed).randn((1, 4, size // 2, size // 2)))
        kept = []

        def keep(_pipe, _i, _t, kwargs):
            kept.append(kwargs["latents"].detach().clone())
            return {}

        with torch.inference_mode():
            images = runner(prompt=pipelines.PROMPT, negative_prompt=pipelines.NEGATIVE, num_inference_steps=steps,
                            guidance_scale=cfg, width=size, height=size, latents=noise, output_type="np",
                            callback_on_step_end=keep).images
        pipelines.save_png((images[0] * 255).round().astype(np.uint8), os.path.join(out_dir, name + ".png"))
        latents[name] = kept[-1].contiguous()
    path = os.path.join(out_dir, "philox_pipeline.safetensors")
    save_file(latents, path)
    print(f"{len(latents)} pipeline cases in {path}")


if __name__ == "__main__":
    main()

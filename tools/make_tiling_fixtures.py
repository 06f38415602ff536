#!/usr/bin/env python3
"""Writes Tests/DiffusionTests/Fixtures/tiling/: diffusers' tiled VAE decode and encode as the oracle.

One random-weight AutoencoderKL (3 levels, so 4 pixels per latent cell, with the mid block's
attention) whose config `sample_size` is 32, so `enable_tiling()` works in 32-pixel / 8-latent
tiles with diffusers' overlap factor 0.25: a 20x28 latent decodes in 4 x 5 tiles (stride 6 latent
cells, 8-pixel blends, 24-pixel crops, the last row and column narrower), an 88x120 image encodes
in 4 x 5 tiles (stride 24 pixels, 2-cell blends, 6-cell crops). The shapes are not square, so a
swapped axis shows. `reference.safetensors` holds the inputs and diffusers' outputs:

    latent           [1, 4, 20, 28]   decode input (the VAE's own scale)
    decode.tiled     [1, 3, 80, 112]  vae.decode(latent) with tiling enabled
    decode.whole     [1, 3, 80, 112]  the same without tiling
    image            [1, 3, 88, 120]  encode input
    encode.mean      [1, 4, 22, 30]   vae.encode(image).latent_dist with tiling enabled
    encode.logvar    [1, 4, 22, 30]

    .venv-ref/bin/python tools/make_tiling_fixtures.py Tests/DiffusionTests/Fixtures/tiling

Made with torch 2.15.0+cu132 (run on CPU), diffusers 0.42.1, safetensors 0.8.0 (the run records
its versions in `versions.json`); deterministic: fixed seeds, one CPU thread.
"""
import json
import os
import platform
import sys

import diffusers
import safetensors
import safetensors.torch
import torch
from diffusers import AutoencoderKL

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_parity_fixtures import randomise  # noqa: E402  (the parity fixtures' weight rule)


def main(out):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, block_out_channels=(8, 16, 16), layers_per_block=1,
        latent_channels=4, norm_num_groups=4,
        down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
        sample_size=32, scaling_factor=0.18215)
    randomise(vae, seed=14)
    gen = torch.Generator().manual_seed(1414)
    latent = torch.randn((1, 4, 20, 28), generator=gen)
    image = (torch.rand((1, 3, 88, 120), generator=gen) * 2 - 1)
    # A smooth component, so the image is not pure noise and blends are visible.
    ys = torch.linspace(-1, 1, 88).view(1, 1, 88, 1)
    xs = torch.linspace(-1, 1, 120).view(1, 1, 1, 120)
    image = (0.5 * image + 0.5 * torch.sin(3 * xs + 2 * ys)).clamp(-1, 1)
    with torch.no_grad():
        whole = vae.decode(latent).sample
        vae.enable_tiling()
        assert vae.tile_sample_min_size == 32 and vae.tile_latent_min_size == 8
        tiled = vae.decode(latent).sample
        dist = vae.encode(image).latent_dist
    refs = {"latent": latent, "decode.tiled": tiled, "decode.whole": whole, "image": image,
            "encode.mean": dist.mean, "encode.logvar": dist.logvar}
    for name, tensor in refs.items():
        assert torch.isfinite(tensor).all() and tensor.std() > 0.05, name
    assert (tiled - whole).abs().max() > 1e-3, "tiling changed nothing: the fixture would not test it"
    os.makedirs(os.path.join(out, "vae"), exist_ok=True)
    vae.save_pretrained(os.path.join(out, "vae"), safe_serialization=True)
    safetensors.torch.save_file({k: v.contiguous() for k, v in refs.items()},
                                os.path.join(out, "reference.safetensors"))
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "diffusers": diffusers.__version__, "safetensors": safetensors.__version__}
    with open(os.path.join(out, "versions.json"), "w") as f:
        json.dump(versions, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])

#!/usr/bin/env python3
"""Writes Tests/DiffusionTests/Fixtures/rng/torch_randn.safetensors: torch's own CPU normal values,
which TorchRandomSource must reproduce.

    .venv-ref/bin/python tools/make_rng_fixtures.py Tests/DiffusionTests/Fixtures/rng

(.venv-ref: torch 2.15 CPU. Run on an x86-64 machine with AVX2 or AVX-512, torch's default
kernel there; `torch.backends.cpu.get_cpu_capability()` is stored in the metadata.)

Every value is float32. Names:
  seed{S}_{shape}            torch.randn(shape, generator=torch.Generator("cpu").manual_seed(S),
                             dtype=torch.float32), shape written like 4x64x64, each on a fresh
                             generator. Small shapes for every seed; the large ones in full for
                             FULL_SEEDS only.
  seed{S}_{shape}_head/_tail the first / last 64 values of a large draw for the other seeds,
  seed{S}_{shape}_sums       with [sum, sum of squares] (computed in float64).
  seq{S}_{i}_{shape}         the i-th draw of SEQUENCE on ONE generator seeded with S (stream
                             continuity, and the scalar path's cached value surviving big draws).
"""
import os
import sys

import torch
from safetensors.torch import save_file

SEEDS = [0, 1, 42, 965400086, 2**32 - 1, 2**32 + 5, 2**63 - 1, 2**64 - 1]
SMALL_SHAPES = [[1], [7], [15], [16], [17], [100]]
LARGE_SHAPES = [[4, 64, 64], [4, 96, 64]]
FULL_SEEDS = {0: [[4, 64, 64], [4, 96, 64]], 965400086: [[4, 64, 64]]}
SEQUENCE = [[1, 4, 8, 8], [1, 4, 8, 8], [2, 4, 8, 8], [3], [1, 4, 8, 8], [1], [1], [5, 7]]
SEQUENCE_SEEDS = [42, 965400086]


def name(shape):
    return "x".join(str(n) for n in shape)


def randn(generator, shape):
    return torch.randn(shape, generator=generator, dtype=torch.float32).contiguous()


def main(out):
    tensors = {}
    for seed in SEEDS:
        for shape in SMALL_SHAPES + LARGE_SHAPES:
            values = randn(torch.Generator("cpu").manual_seed(seed), shape)
            key = f"seed{seed}_{name(shape)}"
            if shape in SMALL_SHAPES or shape in FULL_SEEDS.get(seed, []):
                tensors[key] = values
            else:
                flat = values.flatten()
                tensors[key + "_head"] = flat[:64].clone()
                tensors[key + "_tail"] = flat[-64:].clone()
                wide = flat.double()
                tensors[key + "_sums"] = torch.stack([wide.sum(), (wide * wide).sum()]).float()
    for seed in SEQUENCE_SEEDS:
        generator = torch.Generator("cpu").manual_seed(seed)
        for i, shape in enumerate(SEQUENCE):
            tensors[f"seq{seed}_{i}_{name(shape)}"] = randn(generator, shape)

    os.makedirs(out, exist_ok=True)
    metadata = {
        "torch": torch.__version__,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    save_file(tensors, os.path.join(out, "torch_randn.safetensors"), metadata=metadata)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "Tests/DiffusionTests/Fixtures/rng")

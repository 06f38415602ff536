#!/usr/bin/env python3
"""The PyTorch side of `stipple bench`: times full-size SD1.5 / SD2.1 components on the CPU.

Builds the real architectures with random weights in memory (no downloads), runs each component
in float32 under torch.inference_mode() on --threads threads, and reports the median of --runs
timed runs, the FLOPs counted by torch's FlopCounterMode and the GFLOP/s they imply. The FLOP
counting pass runs first, untimed, and doubles as the warm-up.

    .venv-ref/bin/python tools/bench_torch.py --arch sd15 --width 512 --height 512 --threads 2
    .venv-ref/bin/python tools/bench_torch.py --arch sd21 --components unet_batch1,vae_decode --json

--json prints one object: {"text_encoder": {"median_s", "gflops"}, "unet_batch1": ...,
"unet_batch2": ..., "vae_decode": ..., "vae_encode": ..., "peak_rss_mb", "flops": {component:
count}, "settings": {...}}, with only the components that ran. "gflops" is GFLOP/s.
"""
import argparse
import json
import resource
import statistics
import time

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from torch.utils.flop_counter import FlopCounterMode
from transformers import CLIPTextConfig, CLIPTextModel

COMPONENTS = ("text_encoder", "unet_batch1", "unet_batch2", "vae_decode", "vae_encode")
TOKENS = 77

ARCHS = {
    "sd15": dict(
        text=dict(vocab_size=49408, hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                  intermediate_size=3072, hidden_act="quick_gelu"),
        unet=dict(attention_head_dim=8, use_linear_projection=False, cross_attention_dim=768)),
    "sd21": dict(
        text=dict(vocab_size=49408, hidden_size=1024, num_hidden_layers=23, num_attention_heads=16,
                  intermediate_size=4096, hidden_act="gelu"),
        unet=dict(attention_head_dim=(5, 10, 20, 20), use_linear_projection=True,
                  cross_attention_dim=1024)),
}


def build_text_encoder(arch):
    """CLIP ViT-L/14 (sd15) or the 23 used layers of OpenCLIP ViT-H (sd21), random weights."""
    return CLIPTextModel(CLIPTextConfig(max_position_embeddings=TOKENS, layer_norm_eps=1e-5,
                                        **ARCHS[arch]["text"])).eval()


def build_unet(arch):
    """The SD UNet: 320/640/1280/1280 channels, 2 resnets per level, random weights."""
    return UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        norm_num_groups=32, flip_sin_to_cos=True, freq_shift=0, **ARCHS[arch]["unet"]).eval()


def build_vae():
    """The SD KL autoencoder (same in SD1 and SD2): x8 downsampling, 4 latent channels."""
    return AutoencoderKL(
        in_channels=3, out_channels=3, block_out_channels=(128, 256, 512, 512), layers_per_block=2,
        latent_channels=4, norm_num_groups=32, down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, sample_size=512,
        scaling_factor=0.18215).eval()


def workloads(arch, components, width, height):
    """{component: zero-argument callable running it}, building only the models needed."""
    gen = torch.Generator().manual_seed(0)
    latent_shape = (4, height // 8, width // 8)
    context_dim = ARCHS[arch]["text"]["hidden_size"]
    jobs = {}
    if "text_encoder" in components:
        text_encoder = build_text_encoder(arch)
        ids = torch.randint(0, 49408, (1, TOKENS), generator=gen)
        jobs["text_encoder"] = lambda: text_encoder(ids).last_hidden_state
    if {"unet_batch1", "unet_batch2"} & set(components):
        unet = build_unet(arch)
        timestep = torch.tensor([999])
        for batch in (1, 2):
            sample = torch.randn((batch, *latent_shape), generator=gen)
            context = torch.randn((batch, TOKENS, context_dim), generator=gen)
            jobs[f"unet_batch{batch}"] = (
                lambda s=sample, c=context: unet(s, timestep, c).sample)
    if {"vae_decode", "vae_encode"} & set(components):
        vae = build_vae()
        latent = torch.randn((1, *latent_shape), generator=gen)
        image = torch.rand((1, 3, height, width), generator=gen) * 2 - 1
        jobs["vae_decode"] = lambda: vae.decode(latent).sample
        jobs["vae_encode"] = lambda: vae.encode(image).latent_dist.mean
    return {name: jobs[name] for name in components}


def count_flops(job):
    """FLOPs of one run, as counted by torch's FlopCounterMode (matmuls, convolutions, SDPA)."""
    with FlopCounterMode(display=False) as counter:
        job()
    return counter.get_total_flops()


def median_seconds(job, runs):
    """Median wall time of `runs` runs."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        job()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_mb():
    """Peak resident set size of this process so far (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def print_table(results, flops, settings):
    """The human-readable report."""
    print(f"torch {settings['torch']}, {settings['arch']} {settings['width']}x{settings['height']},"
          f" {settings['threads']} threads, median of {settings['runs']}")
    print(f"{'component':<14}{'median s':>10}{'GFLOP':>10}{'GFLOP/s':>10}")
    for name, result in results.items():
        print(f"{name:<14}{result['median_s']:>10.3f}{flops[name] / 1e9:>10.1f}"
              f"{result['gflops']:>10.1f}")
    print(f"peak RSS {peak_rss_mb():.0f} MB")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=sorted(ARCHS), required=True)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--height", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--components", default=",".join(COMPONENTS),
                        help="comma-separated subset of: " + ", ".join(COMPONENTS))
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    args.components = [c for c in args.components.split(",") if c]
    unknown = set(args.components) - set(COMPONENTS)
    if unknown:
        parser.error(f"unknown components: {', '.join(sorted(unknown))}")
    if args.width % 8 or args.height % 8:
        parser.error("width and height must be multiples of 8")
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    settings = {"arch": args.arch, "width": args.width, "height": args.height,
                "threads": args.threads, "runs": args.runs, "torch": torch.__version__}
    results, flops = {}, {}
    with torch.inference_mode():
        for name, job in workloads(args.arch, args.components, args.width, args.height).items():
            flops[name] = count_flops(job)
            median = median_seconds(job, args.runs)
            results[name] = {"median_s": median, "gflops": flops[name] / median / 1e9}
    if args.json:
        print(json.dumps({**results, "peak_rss_mb": peak_rss_mb(), "flops": flops,
                          "settings": settings}))
    else:
        print_table(results, flops, settings)


if __name__ == "__main__":
    main()

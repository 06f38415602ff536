#!/usr/bin/env python3
"""The PyTorch side of `stipple bench`: times full-size SD1.5 / SD2.1 / SDXL components on the CPU.

Builds the real architectures with random weights in memory (no downloads), runs each component
in float32 under torch.inference_mode() on --threads threads, and reports the median of --runs
timed runs, the FLOPs counted by torch's FlopCounterMode and the GFLOP/s they imply. The FLOP
counting pass runs first, untimed, and doubles as the warm-up.

    .venv-ref/bin/python tools/bench_torch.py --arch sd15 --width 512 --height 512 --threads 2
    .venv-ref/bin/python tools/bench_torch.py --arch sd21 --components unet_batch1,vae_decode --json
    .venv-ref/bin/python tools/bench_torch.py --arch sdxl --components unet_batch2 --runs 1

--json prints one object: {"text_encoder": {"median_s", "gflops"}, "unet_batch1": ...,
"unet_batch2": ..., "vae_decode": ..., "vae_decode_tiled": ..., "vae_encode": ..., "peak_rss_mb",
"flops": {component: count}, "settings": {...}}, with only the components that ran. "gflops" is
GFLOP/s.

sdxl is SDXL 1.0 base (the configs stabilityai/stable-diffusion-xl-base-1.0 publishes, below):
`text_encoder` runs both encoders as StableDiffusionXLPipeline.encode_prompt does for one 77-token
prompt (every layer of each; the penultimate hidden states concatenated to 2048 channels, and
bigG's pooled, projected output), the UNet gets SDXL's added conditioning (`text_embeds` [N, 1280],
`time_ids` [N, 6]), and the default size is 1024x1024 (512x512 for sd15/sd21). `vae_decode_tiled`
is the decode with diffusers' `enable_tiling()` and its defaults: tiles of the VAE config's
`sample_size` pixels (512 for sd15/sd21, 1024 for sdxl) overlapping by a quarter, so it only tiles
above that size and is the whole decode at or below it. The full SDXL UNet is 10.3 GB in float32,
so for sdxl each model is built just before its components run and released after them (peak: the
largest model and its activations); sd15/sd21 keep every model to the end, as they always have.
Components run in the order text encoder, UNet, VAE whatever the order of --components.
"""
import argparse
import json
import resource
import statistics
import time

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from torch.utils.flop_counter import FlopCounterMode
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

COMPONENTS = ("text_encoder", "unet_batch1", "unet_batch2", "vae_decode", "vae_decode_tiled", "vae_encode")
# What runs when --components is not given: sd15/sd21 as before vae_decode_tiled existed.
DEFAULT_COMPONENTS = {"sd15": ("text_encoder", "unet_batch1", "unet_batch2", "vae_decode", "vae_encode"),
                      "sd21": ("text_encoder", "unet_batch1", "unet_batch2", "vae_decode", "vae_encode"),
                      "sdxl": COMPONENTS}
DEFAULT_SIZE = {"sd15": 512, "sd21": 512, "sdxl": 1024}
TOKENS = 77

# SDXL 1.0 base, as stabilityai/stable-diffusion-xl-base-1.0 publishes its config.json files (the keys
# that differ from the libraries' defaults). tools/make_random_sdxl.py builds its folder from these.
SDXL_TEXT_ENCODER = dict(  # OpenAI CLIP ViT-L/14, CLIPTextModel
    vocab_size=49408, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
    max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5, projection_dim=768,
    bos_token_id=0, eos_token_id=2, pad_token_id=1)
SDXL_TEXT_ENCODER_2 = dict(  # OpenCLIP ViT-bigG/14, CLIPTextModelWithProjection
    vocab_size=49408, hidden_size=1280, intermediate_size=5120, num_hidden_layers=32, num_attention_heads=20,
    max_position_embeddings=77, hidden_act="gelu", layer_norm_eps=1e-5, projection_dim=1280,
    bos_token_id=0, eos_token_id=2, pad_token_id=1)
SDXL_UNET = dict(
    sample_size=128, in_channels=4, out_channels=4, block_out_channels=(320, 640, 1280), layers_per_block=2,
    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    attention_head_dim=(5, 10, 20), transformer_layers_per_block=(1, 2, 10), cross_attention_dim=2048,
    use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
    projection_class_embeddings_input_dim=2816, norm_num_groups=32, norm_eps=1e-5, flip_sin_to_cos=True,
    freq_shift=0, act_fn="silu")
SD_VAE = dict(  # the SD KL autoencoder (SD1, SD2 and SDXL alike): x8 downsampling, 4 latent channels
    in_channels=3, out_channels=3, block_out_channels=(128, 256, 512, 512), layers_per_block=2,
    latent_channels=4, norm_num_groups=32, down_block_types=("DownEncoderBlock2D",) * 4,
    up_block_types=("UpDecoderBlock2D",) * 4)
VAE_CONFIG = {"sd15": dict(SD_VAE, sample_size=512, scaling_factor=0.18215),
              "sd21": dict(SD_VAE, sample_size=512, scaling_factor=0.18215),
              "sdxl": dict(SD_VAE, sample_size=1024, scaling_factor=0.13025, force_upcast=True)}

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
    "sdxl": dict(text=SDXL_TEXT_ENCODER, text_2=SDXL_TEXT_ENCODER_2, unet=SDXL_UNET),
}


def build_text_encoder(arch):
    """CLIP ViT-L/14 (sd15, and sdxl's first encoder) or the 23 used layers of OpenCLIP ViT-H (sd21),
    random weights."""
    if arch == "sdxl":
        return CLIPTextModel(CLIPTextConfig(**SDXL_TEXT_ENCODER)).eval()
    return CLIPTextModel(CLIPTextConfig(max_position_embeddings=TOKENS, layer_norm_eps=1e-5,
                                        **ARCHS[arch]["text"])).eval()


def build_text_encoder_2():
    """SDXL's second encoder, OpenCLIP ViT-bigG/14 with its text projection, random weights."""
    return CLIPTextModelWithProjection(CLIPTextConfig(**SDXL_TEXT_ENCODER_2)).eval()


def build_unet(arch):
    """The SD UNet: 320/640/1280/1280 channels, 2 resnets per level (sdxl: 320/640/1280, no attention
    at the first level, 1/2/10 transformer layers, text_time conditioning), random weights."""
    if arch == "sdxl":
        return UNet2DConditionModel(**SDXL_UNET).eval()
    return UNet2DConditionModel(
        sample_size=64, in_channels=4, out_channels=4, block_out_channels=(320, 640, 1280, 1280),
        layers_per_block=2,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        norm_num_groups=32, flip_sin_to_cos=True, freq_shift=0, **ARCHS[arch]["unet"]).eval()


def build_vae(arch="sd15"):
    """The SD KL autoencoder (the same network in SD1, SD2 and SDXL; SDXL's config says
    sample_size 1024 and scaling_factor 0.13025)."""
    return AutoencoderKL(**VAE_CONFIG[arch]).eval()


def text_encoder_jobs(arch, gen, width, height):
    """The models and {component: job} of the text encoder."""
    ids = torch.randint(0, 49408, (1, TOKENS), generator=gen)
    text_encoder = build_text_encoder(arch)
    if arch != "sdxl":
        return [text_encoder], {"text_encoder": lambda: text_encoder(ids).last_hidden_state}
    text_encoder_2 = build_text_encoder_2()

    def encode_prompt():
        # As StableDiffusionXLPipeline.encode_prompt (clip_skip None): each encoder's penultimate
        # hidden states, concatenated; the pooled output is the second encoder's projected one.
        first = text_encoder(ids, output_hidden_states=True)
        second = text_encoder_2(ids, output_hidden_states=True)
        return torch.cat([first.hidden_states[-2], second.hidden_states[-2]], dim=-1), second.text_embeds
    return [text_encoder, text_encoder_2], {"text_encoder": encode_prompt}


def unet_jobs(arch, gen, width, height):
    """The model and {component: job} of the UNet at batch 1 and 2."""
    unet = build_unet(arch)
    latent_shape = (4, height // 8, width // 8)
    context_dim = unet.config.cross_attention_dim
    timestep = torch.tensor([999])
    jobs = {}
    for batch in (1, 2):
        sample = torch.randn((batch, *latent_shape), generator=gen)
        context = torch.randn((batch, TOKENS, context_dim), generator=gen)
        added = None
        if arch == "sdxl":
            # Pooled text, and the micro-conditioning: original size, crop top-left, target size.
            added = {"text_embeds": torch.randn((batch, SDXL_TEXT_ENCODER_2["projection_dim"]), generator=gen),
                     "time_ids": torch.tensor([[height, width, 0, 0, height, width]] * batch, dtype=torch.float32)}
        jobs[f"unet_batch{batch}"] = (
            lambda s=sample, c=context, a=added: unet(s, timestep, c, added_cond_kwargs=a).sample)
    return [unet], jobs


def vae_jobs(arch, gen, width, height):
    """The model and {component: job} of the VAE."""
    vae = build_vae(arch)
    latent = torch.randn((1, 4, height // 8, width // 8), generator=gen)
    image = torch.rand((1, 3, height, width), generator=gen) * 2 - 1

    def decode_tiled():
        vae.enable_tiling()
        try:
            return vae.decode(latent).sample
        finally:
            vae.disable_tiling()
    return [vae], {"vae_decode": lambda: vae.decode(latent).sample, "vae_decode_tiled": decode_tiled,
                   "vae_encode": lambda: vae.encode(image).latent_dist.mean}


GROUPS = ((("text_encoder",), text_encoder_jobs), (("unet_batch1", "unet_batch2"), unet_jobs),
          (("vae_decode", "vae_decode_tiled", "vae_encode"), vae_jobs))


def workloads(arch, components, width, height):
    """Yields (component, zero-argument callable running it), building only the models needed, each
    just before its first component; sdxl's are released after their last (see the docstring)."""
    gen = torch.Generator().manual_seed(0)
    kept = []
    for names, make in GROUPS:
        if not set(names) & set(components):
            continue
        models, jobs = make(arch, gen, width, height)
        for name in names:
            if name in components:
                yield name, jobs[name]
        if arch != "sdxl":
            kept += models
        del models, jobs


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
    print(f"{'component':<17}{'median s':>10}{'GFLOP':>10}{'GFLOP/s':>10}")
    for name, result in results.items():
        print(f"{name:<17}{result['median_s']:>10.3f}{flops[name] / 1e9:>10.1f}"
              f"{result['gflops']:>10.1f}")
    print(f"peak RSS {peak_rss_mb():.0f} MB")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", choices=sorted(ARCHS), required=True)
    parser.add_argument("--width", type=int, help="default: 1024 for sdxl, else 512")
    parser.add_argument("--height", type=int, help="default: 1024 for sdxl, else 512")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--components",
                        help="comma-separated subset of: " + ", ".join(COMPONENTS)
                        + " (default: all; for sd15/sd21 all but vae_decode_tiled)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    if args.components is None:
        args.components = ",".join(DEFAULT_COMPONENTS[args.arch])
    args.components = [c for c in args.components.split(",") if c]
    args.width = args.width or DEFAULT_SIZE[args.arch]
    args.height = args.height or DEFAULT_SIZE[args.arch]
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
        for name, job in workloads(args.arch, args.components, args.width, args.height):
            flops[name] = count_flops(job)
            median = median_seconds(job, args.runs)
            results[name] = {"median_s": median, "gflops": flops[name] / median / 1e9}
            del job  # so that a released model is not still held here while the next one is built
    if args.json:
        print(json.dumps({**results, "peak_rss_mb": peak_rss_mb(), "flops": flops,
                          "settings": settings}))
    else:
        print_table(results, flops, settings)


if __name__ == "__main__":
    main()

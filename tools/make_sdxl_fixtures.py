#!/usr/bin/env python3
"""Writes the SDXL parity fixtures of Tests/DiffusionTests/Fixtures/sdxl/.

A tiny, random-weight Stable Diffusion XL pipeline saved by diffusers'
`StableDiffusionXLPipeline(...).save_pretrained` (two text encoders of different widths, a
text_time UNet with transformer depth 2, SDXL's VAE scaling and Euler scheduler), the same weights
as float16 (`variant="fp16"`), both turned into single files in the original SGM layout by
tools/convert_to_single_file.py (checked with diffusers' `from_single_file`), and the images
`StableDiffusionXLPipeline` / `StableDiffusionXLImg2ImgPipeline` make for a matrix of cases
(samplers, CFG 0/1, negative and empty-negative prompts, sizes, crop conditioning, clip skip,
img2img, Turbo- and Lightning-style trailing schedules, fp16 and single-file loading). Also, for
loader tests, the names and shapes of a full-size SDXL 1.0 base single file (the published configs,
built on the meta device) and a tiny refiner-shaped single file.

    .venv-ref/bin/python tools/make_sdxl_fixtures.py

Rewrites everything in the folder but its hand-written README.md (layout, case semantics, what
diffusers does, the parity bar). The tokenizers are tools/make_pipeline_fixtures.py's 1000-token
CLIP vocabulary; weights are randomised by tools/make_parity_fixtures.py's `randomise`.
Made with torch 2.15.0 (CPU), diffusers 0.42.1, transformers 5.25.0; the run records its own
versions in `versions.json`. Output is byte-for-byte reproducible (fixed seeds, one CPU thread).
Runs in about 15 seconds.
"""
import argparse
import contextlib
import copy
import json
import os
import sys
import tempfile

import numpy as np
import safetensors.torch
import torch
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import diffusers  # noqa: E402
from diffusers import (AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLImg2ImgPipeline,  # noqa: E402
                       StableDiffusionXLPipeline, UNet2DConditionModel)
from diffusers.loaders import single_file_utils as sfu  # noqa: E402
import transformers  # noqa: E402
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_to_single_file as converter  # noqa: E402
import make_parity_fixtures as parity  # noqa: E402
import make_pipeline_fixtures as pipelines  # noqa: E402
import make_single_file_fixtures as ldm  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "Tests", "DiffusionTests", "Fixtures", "sdxl")
HUB_UNET = os.path.join(REPO, "Tests", "DiffusionTests", "Fixtures", "configs", "sdxl-unet.hub.json")
SEED = 3000
TIME_IDS = 8  # addition_time_embed_dim of the tiny UNets (256 in SDXL)

# stabilityai/stable-diffusion-xl-base-1.0 scheduler/scheduler_config.json (minus _class_name and
# _diffusers_version).
SCHEDULER = dict(beta_end=0.012, beta_schedule="scaled_linear", beta_start=0.00085, clip_sample=False,
                 interpolation_type="linear", num_train_timesteps=1000, prediction_type="epsilon",
                 sample_max_value=1.0, set_alpha_to_one=False, skip_prk_steps=True, steps_offset=1,
                 timestep_spacing="leading", trained_betas=None, use_karras_sigmas=False)

# The tiny models. The encoders differ in width (32 + 64 = 96 = cross_attention_dim), layer count,
# activation and pad token, so a swapped concatenation or a shared setting shows.
TEXT_ENCODER = dict(vocab_size=parity.VOCAB_SIZE, hidden_size=32, intermediate_size=37, num_hidden_layers=5,
                    num_attention_heads=4, max_position_embeddings=parity.TOKENS, hidden_act="quick_gelu",
                    layer_norm_eps=1e-5, bos_token_id=parity.BOS_ID, eos_token_id=parity.EOS_ID,
                    pad_token_id=parity.EOS_ID)
TEXT_ENCODER_2 = dict(TEXT_ENCODER, hidden_size=64, num_hidden_layers=4, hidden_act="gelu", projection_dim=32,
                      pad_token_id=0)  # "!" is id 0
UNET = dict(sample_size=16, in_channels=4, out_channels=4, block_out_channels=(8, 12, 16), layers_per_block=2,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 1, 2), attention_head_dim=(1, 2, 4), use_linear_projection=True,
            cross_attention_dim=96, norm_num_groups=4, addition_embed_type="text_time",
            addition_time_embed_dim=TIME_IDS, projection_class_embeddings_input_dim=32 + 6 * TIME_IDS,
            flip_sin_to_cos=True, freq_shift=0)
# Refiner-shaped, only to be recognised (SDXL refiner 1.0: a bigG-style encoder alone, 4 UNet levels
# with plain first and last, 5 time ids: original size, crop, aesthetic score).
REFINER_TEXT_ENCODER = dict(TEXT_ENCODER_2, hidden_size=32, num_hidden_layers=2)
REFINER_UNET = dict(UNET, block_out_channels=(4, 8, 8, 8),
                    down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
                    up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
                    transformer_layers_per_block=(1, 1, 1, 1), attention_head_dim=(1, 2, 2, 2),
                    cross_attention_dim=32, projection_class_embeddings_input_dim=32 + 5 * TIME_IDS)
VAE_SCALING_FACTOR = 0.13025

# stabilityai/stable-diffusion-xl-base-1.0's unet/, vae/, text_encoder/, text_encoder_2/ config.json
# as published (minus _class_name, _diffusers_version, _name_or_path).
FULL_SIZE = {
    "unet": dict(act_fn="silu", addition_embed_type="text_time", addition_embed_type_num_heads=64,
                 addition_time_embed_dim=256, attention_head_dim=[5, 10, 20], block_out_channels=[320, 640, 1280],
                 center_input_sample=False, class_embed_type=None, class_embeddings_concat=False, conv_in_kernel=3,
                 conv_out_kernel=3, cross_attention_dim=2048, cross_attention_norm=None,
                 down_block_types=["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
                 downsample_padding=1, dual_cross_attention=False, encoder_hid_dim=None, encoder_hid_dim_type=None,
                 flip_sin_to_cos=True, freq_shift=0, in_channels=4, layers_per_block=2,
                 mid_block_only_cross_attention=None, mid_block_scale_factor=1,
                 mid_block_type="UNetMidBlock2DCrossAttn", norm_eps=1e-05, norm_num_groups=32,
                 num_attention_heads=None, num_class_embeds=None, only_cross_attention=False, out_channels=4,
                 projection_class_embeddings_input_dim=2816, resnet_out_scale_factor=1.0,
                 resnet_skip_time_act=False, resnet_time_scale_shift="default", sample_size=128,
                 time_cond_proj_dim=None, time_embedding_act_fn=None, time_embedding_dim=None,
                 time_embedding_type="positional", timestep_post_act=None, transformer_layers_per_block=[1, 2, 10],
                 up_block_types=["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"], upcast_attention=None,
                 use_linear_projection=True),
    "vae": dict(act_fn="silu", block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4,
                force_upcast=True, in_channels=3, latent_channels=4, layers_per_block=2, norm_num_groups=32,
                out_channels=3, sample_size=1024, scaling_factor=0.13025, up_block_types=["UpDecoderBlock2D"] * 4),
    "text_encoder": dict(architectures=["CLIPTextModel"], attention_dropout=0.0, bos_token_id=0, dropout=0.0,
                         eos_token_id=2, hidden_act="quick_gelu", hidden_size=768, initializer_factor=1.0,
                         initializer_range=0.02, intermediate_size=3072, layer_norm_eps=1e-05,
                         max_position_embeddings=77, model_type="clip_text_model", num_attention_heads=12,
                         num_hidden_layers=12, pad_token_id=1, projection_dim=768, torch_dtype="float16",
                         transformers_version="4.32.0.dev0", vocab_size=49408),
    "text_encoder_2": dict(architectures=["CLIPTextModelWithProjection"], attention_dropout=0.0, bos_token_id=0,
                           dropout=0.0, eos_token_id=2, hidden_act="gelu", hidden_size=1280, initializer_factor=1.0,
                           initializer_range=0.02, intermediate_size=5120, layer_norm_eps=1e-05,
                           max_position_embeddings=77, model_type="clip_text_model", num_attention_heads=20,
                           num_hidden_layers=32, pad_token_id=1, projection_dim=1280, torch_dtype="float16",
                           transformers_version="4.32.0.dev0", vocab_size=49408),
}

MODELS = {  # case model -> (folder, variant, single file or None)
    "sdxl": ("sdxl", None, None),
    "sdxl-fp16": ("sdxl-fp16", "fp16", None),
    "sdxl-single": ("sdxl", None, "sdxl.safetensors"),
    "sdxl-fp16-single": ("sdxl-fp16", "fp16", "sdxl-fp16.safetensors"),
}
TOKENIZERS = {"tokenizer": "<|endoftext|>", "tokenizer_2": "!"}  # subfolder -> pad token
CFG = 5.0  # StableDiffusionXLPipeline's default guidance_scale
SENSITIVITY_CASES = ("sdxl-default", "sdxl-euler_a", "sdxl-crops", "sdxl-clip-skip-3",
                     "sdxl-img2img-euler_a-0.6", "sdxl-turbo-1step")


# --- models -----------------------------------------------------------------------------------

def build_components():
    """The tiny pipeline's components: randomised models, tokenizers, SDXL base's scheduler."""
    unet = UNet2DConditionModel(**UNET)
    vae = parity.build_vae()
    vae.register_to_config(sample_size=2 * UNET["sample_size"], scaling_factor=VAE_SCALING_FACTOR, force_upcast=True)
    components = {
        "text_encoder": parity.randomise(CLIPTextModel(CLIPTextConfig(**TEXT_ENCODER)), SEED + 1),
        "text_encoder_2": parity.randomise(CLIPTextModelWithProjection(CLIPTextConfig(**TEXT_ENCODER_2)), SEED + 2),
        "unet": parity.randomise(unet, SEED + 3),
        "vae": parity.randomise(vae, SEED + 4),
        "scheduler": EulerDiscreteScheduler.from_config(SCHEDULER),
    }
    components.update({name: pipelines.build_tokenizer(pad) for name, pad in TOKENIZERS.items()})
    return components


def save_pipeline(folder, components, variant=None, cls=StableDiffusionXLPipeline, **options):
    """save_pretrained, plus vocab.json + merges.txt in each tokenizer folder (as real downloads)."""
    pipe = cls(**components, add_watermarker=False, **options)
    pipe.save_pretrained(folder, safe_serialization=True, variant=variant)
    for name in TOKENIZERS:
        if components.get(name) is not None:
            pipelines.write_tokenizer_files(os.path.join(folder, name))


def half(components):
    """float16 copies of the modules, and float32 modules holding those rounded weights."""
    halves = {k: copy.deepcopy(m).half() if isinstance(m, torch.nn.Module) else m for k, m in components.items()}
    widened = {k: copy.deepcopy(m).float() if isinstance(m, torch.nn.Module) else m for k, m in halves.items()}
    return halves, widened


def write_models(out_dir):
    """sdxl/, sdxl-fp16/, their single files (each checked against from_single_file). Returns each
    case model's expected float32 modules."""
    components = build_components()
    check_text_encoders(components)
    halves, widened = half(components)
    save_pipeline(os.path.join(out_dir, "sdxl"), components, force_zeros_for_empty_prompt=True)
    save_pipeline(os.path.join(out_dir, "sdxl-fp16"), halves, variant="fp16", force_zeros_for_empty_prompt=True)
    for model, (folder, variant, single) in MODELS.items():
        if single is not None:
            tensors, _ = converter.write(os.path.join(out_dir, folder), os.path.join(out_dir, single), variant)
            counts = converter.check(os.path.join(out_dir, folder), os.path.join(out_dir, single), variant)
            print(f"{single}: {len(tensors)} tensors; from_single_file gives the folder's state dicts exactly "
                  f"({', '.join(f'{c} {n}' for c, n in counts.items())})")
    return {"sdxl": components, "sdxl-single": components, "sdxl-fp16": widened, "sdxl-fp16-single": widened}


@torch.inference_mode()
def check_text_encoders(components):
    """What the README says about the encoders' outputs holds in this transformers version."""
    ids = torch.tensor([window_ids(components["tokenizer_2"], pipelines.PROMPT)])
    for name in ("text_encoder", "text_encoder_2"):
        model = components[name]
        core = model.text_model if hasattr(model, "text_model") else model
        out = model(ids, output_hidden_states=True)
        layers = model.config.num_hidden_layers
        assert len(out.hidden_states) == layers + 1, name  # embeddings, then one per layer
        # hidden_states[-1] is the last layer before final_layer_norm; last_hidden_state is after it
        assert torch.equal(core.final_layer_norm(out.hidden_states[-1]), out.last_hidden_state), name
    eos = ids[0].tolist().index(parity.EOS_ID)
    pooled = components["text_encoder_2"].text_projection(out.last_hidden_state[0, eos])
    assert torch.allclose(out.text_embeds[0], pooled), "pooled output is not the EOS position's"


def write_refiner(out_dir, components):
    """sdxl-refiner.safetensors (float16): a refiner-shaped pipeline (bigG-style encoder alone,
    aesthetic-score UNet; the VAE and tokenizer_2 of the tiny pipeline), through the converter and
    from_single_file."""
    text_encoder = CLIPTextModelWithProjection(CLIPTextConfig(**REFINER_TEXT_ENCODER))
    parts = dict(components, text_encoder=None, tokenizer=None,
                 text_encoder_2=parity.randomise(text_encoder, SEED + 5),
                 unet=parity.randomise(UNet2DConditionModel(**REFINER_UNET), SEED + 6))
    halves, _ = half(parts)
    path = os.path.join(out_dir, "sdxl-refiner.safetensors")
    with tempfile.TemporaryDirectory() as tmp:
        save_pipeline(tmp, halves, variant="fp16", cls=StableDiffusionXLImg2ImgPipeline,
                      requires_aesthetics_score=True, force_zeros_for_empty_prompt=False)
        tensors, metadata = converter.write(tmp, path, "fp16")
        counts = converter.check(tmp, path, "fp16")
    assert metadata["modelspec.architecture"] == "stable-diffusion-xl-v1-refiner"
    print(f"{path}: {len(tensors)} tensors; from_single_file (StableDiffusionXLImg2ImgPipeline) gives the "
          f"folder's state dicts exactly ({', '.join(f'{c} {n}' for c, n in counts.items())})")


def load_pipeline(out_dir, model, dtype=torch.float32):
    """A case model as a user loads it: float32 math, from the folder or the single file."""
    folder, variant, single = MODELS[model]
    folder = os.path.join(out_dir, folder)
    if single is None:
        pipe = StableDiffusionXLPipeline.from_pretrained(folder, variant=variant, torch_dtype=torch.float32,
                                                         add_watermarker=False)
    else:
        pipe = StableDiffusionXLPipeline.from_single_file(os.path.join(out_dir, single), config=folder,
                                                          local_files_only=True, torch_dtype=torch.float32,
                                                          add_watermarker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(dtype=dtype)


def check_loaded(pipe, expected, out_dir, model, prompts):
    """The loaded pipeline has exactly the built weights, and each tokenizer gives the ids that
    its vocab.json + merges.txt alone give."""
    for part in ("text_encoder", "text_encoder_2", "unet", "vae"):
        want, got = expected[part].state_dict(), pipe.components[part].state_dict()
        assert set(want) == set(got), f"{model}/{part}: keys differ"
        for key, tensor in want.items():
            assert got[key].dtype == tensor.dtype and torch.equal(got[key], tensor), f"{model}/{part}: {key}"
    for name, pad in TOKENIZERS.items():
        with tempfile.TemporaryDirectory() as tmp:
            for file in ("vocab.json", "merges.txt"):
                with open(os.path.join(out_dir, MODELS[model][0], name, file), encoding="utf-8") as f:
                    text = f.read()
                with open(os.path.join(tmp, file), "w", encoding="utf-8") as f:
                    f.write(text)
            plain = CLIPTokenizer.from_pretrained(tmp, pad_token=pad, model_max_length=parity.TOKENS)
        tokenizer = pipe.components[name]
        assert tokenizer.pad_token == pad, (model, name, tokenizer.pad_token)
        for text in prompts:
            assert window_ids(plain, text) == window_ids(tokenizer, text), f"{model}/{name}: {text!r}"


def window_ids(tokenizer, text):
    return pipelines.window_ids(tokenizer, text)


# --- cases ------------------------------------------------------------------------------------

def case(model, name, task="txt2img", prompt=pipelines.PROMPT, negative_prompt=pipelines.NEGATIVE, steps=12,
         cfg=CFG, seed=0, width=32, height=32, sampler="default", schedule="default", timestep_spacing=None,
         clip_skip=1, original_size=None, crops_coords_top_left=(0, 0), strength=None, init_image=None):
    entry = dict(name=f"{model}-{name}", model=model, task=task, prompt=prompt, negative_prompt=negative_prompt,
                 steps=steps, cfg=cfg, seed=seed, width=width, height=height, sampler=sampler, schedule=schedule,
                 timestep_spacing=timestep_spacing, clip_skip=clip_skip,
                 original_size=None if original_size is None else list(original_size),
                 crops_coords_top_left=list(crops_coords_top_left), strength=strength, init_image=init_image)
    entry["output"] = f"outputs/{entry['name']}.png"
    return entry


def make_cases():
    """The matrix on the float32 folder (seeds 301...), then the fp16 folder and the two single
    files repeating earlier cases (same prompt and seed)."""
    seeds = iter(range(301, 400))
    cases = [case("sdxl", label, sampler=sampler, schedule=schedule, steps=steps, negative_prompt=negative,
                  seed=next(seeds))
             for label, sampler, schedule, steps, negative in (
                 ("default", "default", "default", 12, pipelines.NEGATIVE),
                 ("euler_a", "euler_a", "default", 10, pipelines.NEGATIVE),
                 ("dpmpp_2m-karras", "dpmpp_2m", "karras", 10, None),
                 ("ddim", "ddim", "default", 10, pipelines.NEGATIVE))]
    prompt, negative = pipelines.PROMPTS["forest"]
    cases.append(case("sdxl", "cfg1", prompt=prompt, negative_prompt=negative, cfg=1.0, seed=next(seeds)))
    cases.append(case("sdxl", "cfg0", prompt=prompt, negative_prompt=None, cfg=0.0, seed=next(seeds)))
    prompt, negative = pipelines.PROMPTS["portrait"]
    cases.append(case("sdxl", "negative", prompt=prompt, negative_prompt=negative, seed=next(seeds)))
    cases.append(case("sdxl", "no-negative", prompt=prompt, negative_prompt=None, seed=next(seeds)))
    prompt, negative = pipelines.PROMPTS["city"]
    cases.append(case("sdxl", "48x32", prompt=prompt, negative_prompt=negative, width=48, height=32,
                      sampler="euler", steps=10, seed=next(seeds)))
    cases.append(case("sdxl", "32x48", prompt=prompt, negative_prompt=negative, width=32, height=48,
                      seed=next(seeds)))
    cases.append(case("sdxl", "crops", original_size=(64, 48), crops_coords_top_left=(4, 8), seed=next(seeds)))
    # diffusers clip_skip=1 (hidden_states[-3]); the negative is null because diffusers encodes a
    # negative prompt from hidden_states[-2] whatever clip_skip says (see README)
    cases.append(case("sdxl", "clip-skip-3", negative_prompt=None, clip_skip=3, seed=next(seeds)))
    for sampler in ("default", "euler_a"):
        for strength in (0.6, 0.3):
            cases.append(case("sdxl", f"img2img-{sampler}-{strength}", task="img2img", sampler=sampler,
                              strength=strength, init_image="init-32x32.png", seed=next(seeds)))
    prompt, _ = pipelines.PROMPTS["portrait"]
    cases.append(case("sdxl", "turbo-1step", prompt=prompt, negative_prompt=None, steps=1, cfg=0.0,
                      sampler="euler_a", timestep_spacing="trailing", seed=next(seeds)))
    cases.append(case("sdxl", "lightning-4step", prompt=prompt, negative_prompt=None, steps=4, cfg=0.0,
                      sampler="euler", timestep_spacing="trailing", seed=next(seeds)))
    for model, label in (("sdxl-fp16", "default"), ("sdxl-fp16", "euler_a"), ("sdxl-single", "default"),
                         ("sdxl-fp16-single", "euler_a")):
        original = next(c for c in cases if c["name"] == f"sdxl-{label}")
        cases.append(dict(original, name=f"{model}-{label}", model=model, output=f"outputs/{model}-{label}.png"))
    return cases


def scheduler_for(pipe, entry):
    """`Class.from_config(saved config, **overrides)`: the sampler and schedule tables of
    make_pipeline_fixtures.py, plus a timestep_spacing override."""
    if entry["sampler"] == "default":
        cls, overrides = type(pipe.scheduler), {}
    else:
        cls, overrides = pipelines.SAMPLERS[entry["sampler"]]
    overrides = dict(overrides, **pipelines.SCHEDULES[entry["schedule"]])
    if entry["timestep_spacing"] is not None:
        overrides["timestep_spacing"] = entry["timestep_spacing"]
    return cls.from_config(pipe.scheduler.config, **overrides), cls.__name__, overrides


def diffusers_clip_skip(clip_skip):
    """stipple/A1111 clip skip N -> diffusers' clip_skip (hidden_states[-(k + 2)]): N <= 2 is the
    penultimate layer, diffusers' default (None); N > 2 is hidden_states[-N]."""
    return None if clip_skip <= 2 else clip_skip - 2


def run_case(pipe, entry, out_dir):
    """Runs one case through diffusers; returns (uint8 image [H, W, 3], final latents)."""
    scheduler, _, _ = scheduler_for(pipe, entry)
    components = dict(pipe.components, scheduler=scheduler)
    cls = StableDiffusionXLPipeline if entry["task"] == "txt2img" else StableDiffusionXLImg2ImgPipeline
    runner = cls(**components, add_watermarker=False, force_zeros_for_empty_prompt=True)
    runner.set_progress_bar_config(disable=True)
    steps = []

    def keep_latents(_pipe, _i, _t, kwargs):
        steps.append(kwargs["latents"].detach().clone())
        return {}

    args = dict(prompt=entry["prompt"], negative_prompt=entry["negative_prompt"],
                num_inference_steps=entry["steps"], guidance_scale=entry["cfg"],
                generator=torch.Generator("cpu").manual_seed(entry["seed"]), output_type="np",
                callback_on_step_end=keep_latents, clip_skip=diffusers_clip_skip(entry["clip_skip"]),
                crops_coords_top_left=tuple(entry["crops_coords_top_left"]))
    if entry["original_size"] is not None:
        args["original_size"] = tuple(entry["original_size"])
    return pipelines.run_pixels(runner, args, entry, out_dir), steps[-1]


def add_time_ids(entry):
    """The six micro-conditioning ids diffusers builds (positive and negative alike here)."""
    size = [entry["height"], entry["width"]]
    return (entry["original_size"] or size) + entry["crops_coords_top_left"] + size


def describe(entry, pipe):
    """The informational fields: scheduler class and overrides, token ids of both tokenizers."""
    _, class_name, overrides = scheduler_for(pipe, entry)
    negative = entry["negative_prompt"]
    entry.update(diffusers_scheduler=dict(class_name=class_name, overrides=overrides),
                 diffusers_clip_skip=diffusers_clip_skip(entry["clip_skip"]), add_time_ids=add_time_ids(entry),
                 prompt_ids=window_ids(pipe.tokenizer, entry["prompt"]),
                 prompt_2_ids=window_ids(pipe.tokenizer_2, entry["prompt"]),
                 negative_prompt_ids=None if negative is None else window_ids(pipe.tokenizer, negative),
                 negative_prompt_2_ids=None if negative is None else window_ids(pipe.tokenizer_2, negative))


def check_determinism(pipe, entry, out_dir):
    """Two runs of one case give the same latents and the same PNG bytes."""
    (a, la), (b, lb) = run_case(pipe, entry, out_dir), run_case(pipe, entry, out_dir)
    assert torch.equal(la, lb) and np.array_equal(a, b), f"{entry['name']} is not deterministic"
    with tempfile.TemporaryDirectory() as tmp:
        pipelines.save_png(a, os.path.join(tmp, "a.png"))
        pipelines.save_png(b, os.path.join(tmp, "b.png"))
        assert pipelines.png_bytes(os.path.join(tmp, "a.png")) == pipelines.png_bytes(os.path.join(tmp, "b.png"))
    print(f"determinism: {entry['name']} twice gives identical latents and PNG bytes")


@contextlib.contextmanager
def float32_noise():
    """Every `randn_tensor` draw in float32, widened (as make_pipeline_fixtures.float32_noise, for
    the SDXL pipelines): a float64 run gets exactly the float32 run's noise."""
    modules = [diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl,
               diffusers.pipelines.stable_diffusion_xl.pipeline_stable_diffusion_xl_img2img,
               diffusers.models.autoencoders.vae]
    modules += [getattr(diffusers.schedulers, m) for m in dir(diffusers.schedulers) if m.startswith("scheduling_")]
    saved = [(m, m.randn_tensor) for m in modules if hasattr(m, "randn_tensor")]

    def widened(original):
        return lambda shape, dtype=None, **kwargs: original(shape, dtype=torch.float32, **kwargs).to(dtype)

    for m, original in saved:
        m.randn_tensor = widened(original)
    try:
        yield
    finally:
        for m, original in saved:
            m.randn_tensor = original


def sensitivity(out_dir, cases, references):
    """Some cases again in float64 (same weights and noise): how far two correct implementations
    drift apart. They must meet the Swift tests' bar, else the bar would be unfair."""
    figures = {}
    pipe = load_pipeline(out_dir, "sdxl", dtype=torch.float64)
    with float32_noise():
        for entry in (c for c in cases if c["name"] in SENSITIVITY_CASES):
            pixels, latents = run_case(pipe, entry, out_dir)
            ref_pixels, ref_latents = references[entry["name"]]
            max_levels, within_one = pipelines.level_difference(pixels, ref_pixels)
            latent_diff = float((latents - ref_latents.double()).abs().max())
            figures[entry["name"]] = (max_levels, within_one, latent_diff)
            print(f"float64 vs float32 {entry['name']}: max {max_levels} levels, "
                  f"{100 * within_one:.2f}% within 1 level, latents differ by up to {latent_diff:.2e}")
    bar = pipelines.BAR
    unfair = [n for n, (m, w, d) in figures.items() if m > bar["max_levels"] or w < bar["within_one_level"] or d > 5e-3]
    assert not unfair, f"float64 runs miss the parity bar: {unfair}"


# --- full-size shapes -------------------------------------------------------------------------

def write_shapes(out_dir):
    """shapes-sdxl.json: names, dtypes and shapes of a float16 SDXL 1.0 base single file made by the
    converter from meta-device models of the published configs, and the diffusers names and shapes
    of each component; diffusers' own single-file converters must map the file back to them."""
    with open(HUB_UNET, encoding="utf-8") as f:
        assert json.load(f) == FULL_SIZE["unet"], f"{HUB_UNET} differs from FULL_SIZE['unet']"
    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(FULL_SIZE["unet"]).state_dict()
        vae = AutoencoderKL.from_config(FULL_SIZE["vae"]).state_dict()
        text = CLIPTextModel(CLIPTextConfig(**FULL_SIZE["text_encoder"])).state_dict()
        text_2 = CLIPTextModelWithProjection(CLIPTextConfig(**FULL_SIZE["text_encoder_2"]))
    states = {"unet": unet, "vae": vae, "text_encoder": {f"text_model.{k.removeprefix('text_model.')}": t
                                                         for k, t in text.items()},
              "text_encoder_2": text_2.state_dict()}
    states = {c: {k: t.to(torch.float16) for k, t in s.items()} for c, s in states.items()}
    checkpoint, _ = converter.to_single_file(states, FULL_SIZE)
    counts = [ldm.check_same("unet", sfu.convert_ldm_unet_checkpoint(checkpoint, FULL_SIZE["unet"]), states["unet"]),
              ldm.check_same("vae", sfu.convert_ldm_vae_checkpoint(checkpoint, FULL_SIZE["vae"]), states["vae"]),
              ldm.check_same("text_encoder", sfu.convert_ldm_clip_checkpoint(checkpoint), states["text_encoder"],
                             extra=["text_model.embeddings.position_ids"]),
              ldm.check_same("text_encoder_2", sfu.convert_open_clip_checkpoint(
                  text_2, checkpoint, prefix=converter.BIGG.format(1)), states["text_encoder_2"])]
    dtypes = {torch.float16: "F16", torch.int64: "I64"}
    shapes = {"ldm": {k: [dtypes[t.dtype], list(t.shape)] for k, t in checkpoint.items()},
              "diffusers": {c: {k: list(t.shape) for k, t in sorted(s.items())} for c, s in states.items()}}
    path = os.path.join(out_dir, "shapes-sdxl.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(shapes, f, separators=(",", ":"))
        f.write("\n")
    print(f"{path}: {len(checkpoint)} tensors; diffusers' converters give back {counts} "
          "(unet, vae, text_encoder, text_encoder_2) names and shapes")


def render(pipes, cases, out_dir):
    """Runs every case, writes its PNG and informational fields; returns {name: (pixels, final
    latents)}. Refuses nearly flat images (std <= 20 levels), which would test little."""
    references = {}
    for entry in cases:
        pixels, final = run_case(pipes[entry["model"]], entry, out_dir)
        references[entry["name"]] = (pixels, final)
        pipelines.save_png(pixels, os.path.join(out_dir, entry["output"]))
        describe(entry, pipes[entry["model"]])
        saturated = float(((pixels == 0) | (pixels == 255)).mean())
        print(f"{entry['name']:26s} std {pixels.std():5.1f} levels, {100 * saturated:4.1f}% at 0 or 255, "
              f"latents std {final.std():6.2f}")
    flat = [name for name, (pixels, _) in references.items() if pixels.std() <= 20]
    assert not flat, f"nearly flat images (std <= 20 levels): {flat}"
    return references


def compare(references, name, other, why):
    (pixels, latents), (other_pixels, other_latents) = references[name], references[other]
    max_levels, within_one = pipelines.level_difference(pixels, other_pixels)
    latent_diff = float((latents - other_latents).abs().max())
    print(f"{name} vs {other} ({why}): max {max_levels} levels, {100 * within_one:.1f}% within 1 level, "
          f"latents differ by up to {latent_diff:.1e}")
    return max_levels, latent_diff


# --- main -------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", nargs="?", default=OUT, help="output folder (default: %(default)s)")
    out_dir = parser.parse_args().out_dir

    pipelines.quiet_and_seeded()
    pipelines.clear_folder(out_dir)
    expected = write_models(out_dir)
    write_refiner(out_dir, expected["sdxl"])
    write_shapes(out_dir)
    cases = make_cases()
    pipelines.init_image(32, 32).save(os.path.join(out_dir, "init-32x32.png"), format="PNG")

    pipes = {}
    for model in MODELS:
        pipes[model] = load_pipeline(out_dir, model)
        texts = [t for c in cases if c["model"] == model for t in (c["prompt"], c["negative_prompt"]) if t is not None]
        check_loaded(pipes[model], expected[model], out_dir, model, texts)
    check_determinism(pipes["sdxl"], next(c for c in cases if c["name"] == "sdxl-img2img-euler_a-0.6"), out_dir)

    references = render(pipes, cases, out_dir)
    for single, folder in (("sdxl-single-default", "sdxl-default"), ("sdxl-fp16-single-euler_a", "sdxl-fp16-euler_a")):
        # the weights are equal (check_loaded), but PyTorch's CPU matmul rounds differently for a
        # weight read in place from the folder's memory-mapped file (not 64-byte aligned)
        max_levels, latent_diff = compare(references, single, folder, "same weights, from the single file")
        assert max_levels <= 1 and latent_diff < 1e-4, (single, max_levels, latent_diff)
    for sampler in ("default", "euler_a"):
        compare(references, f"sdxl-fp16-{sampler}", f"sdxl-{sampler}", "weights rounded to float16")

    latents = {name: final.float().contiguous() for name, (_, final) in references.items()}
    safetensors.torch.save_file(latents, os.path.join(out_dir, "latents.safetensors"), metadata={"format": "pt"})
    pipelines.write_cases(os.path.join(out_dir, "cases.json"), cases)
    parity.write_versions(out_dir)
    sensitivity(out_dir, cases, references)
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(out_dir) for n in names)
    print(f"{len(cases)} cases, {total / 1e6:.2f} MB in {out_dir}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the full-size random-weight models of issue 16's few-step and LoRA benchmarks (LCM-LoRA,
SDXL LoRA, SD-Turbo, TAESD) into /work/models, for `tools/bench_sdcpp.py` and `stipple generate`.
Not in git (GBs).

    .venv-ref/bin/python tools/make_few_step_models.py lora       # loras/lcm-lora-sd15-r64.safetensors (135 MB)
    .venv-ref/bin/python tools/make_few_step_models.py sdxl-lora  # loras/sdxl-style-r32.safetensors (228 MB)
    .venv-ref/bin/python tools/make_few_step_models.py turbo      # sd-turbo-fp16.safetensors (2.6 GB)
    .venv-ref/bin/python tools/make_few_step_models.py taesd      # taesd/ (both layouts, 4.9 MB each)
    .venv-ref/bin/python tools/make_few_step_models.py all        # lora, turbo, taesd, in that order

Options: `--out DIR` (default /work/models), `--base FILE` (the single file the LoRA must fit,
default DIR/sd15-fp16.safetensors, for `sdxl-lora` DIR/sdxl-fp16.safetensors), `--no-check`
(turbo: skip the float32 activation check), `--threads N` (for the check's forward passes,
default 1). Deterministic (fixed seeds); an existing output is replaced.

**LCM-LoRA** (`lora`): shaped like the published `latent-consistency/lcm-lora-sdv1-5`: rank 64
on every module diffusers' LCM-LoRA distillation scripts target (their default
`lora_target_modules`: `to_q`, `to_k`, `to_v`, `to_out.0`, `proj_in`, `proj_out`, `ff.net.0.proj`,
`ff.net.2`, `conv1`, `conv2`, `conv_shortcut`, `downsamplers.0.conv`, `upsamplers.0.conv`,
`time_emb_proj`), UNet only, kohya/A1111 names (`lora_unet_` + diffusers' module name with dots
turned into underscores, `.lora_down.weight`, `.lora_up.weight`, `.alpha`), float16, no
metadata: 278 modules (192 attention, 66 resnet conv1/conv2/time_emb_proj, 14 conv_shortcut,
6 down/upsampler convolutions), 834 tensors, 67.3 M parameters, 134.6 MB: the size of the
published file. alpha 64 (those scripts' default `--lora_alpha`, so alpha / rank = 1; the published
file's alpha is not checked here and does not change the timings). The weights are random
(`make_lora_fixtures.make_entries`, strength 0.1: `alpha/rank * up @ down` about a tenth of
each layer's own weights), written by that script's `write_lora` (the same writer as the
fixture `sd1_lcm_lora_r8`). Checks: every module's LDM name (tools/make_single_file_fixtures.py's
map) is a tensor of the base file with the shape the LoRA needs; diffusers'
`StableDiffusionPipeline.lora_state_dict` reads the file and maps every pair onto a module of the
SD1.5 UNet with matching shapes; the project's own reader (`make_lora_fixtures.read_lora`) reads
every tensor back.

**SDXL LoRA** (`sdxl-lora`): a kohya SDXL LoRA as kohya's `sdxl_train_network.py` writes one
with its default `networks.lora` (no `conv_dim`) for /work/models/sdxl-fp16.safetensors (the random
SDXL 1.0 base of tools/make_random_sdxl.py; its shapes are bench_torch's SDXL configs, built on
the meta device): every Linear of every transformer block of the UNet (attn1/attn2 `to_q`, `to_k`,
`to_v`, `to_out.0`, `ff.net.0.proj`, `ff.net.2`) and each attention's `proj_in` / `proj_out`, under
the SGM names kohya trains SDXL on (`lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q`,
`lora_unet_middle_block_1_proj_in`, `lora_unet_output_blocks_0_1_...`: make_lora_fixtures'
`kohya_names`, its SGM map), and q/k/v/out_proj and mlp fc1/fc2 of every layer of both text
encoders (`lora_te1_text_model_encoder_layers_N_self_attn_q_proj`, `lora_te2_..._mlp_fc2`). Rank 32,
alpha 16 (alpha / rank 0.5), float16, kohya metadata (`ss_network_module` networks.lora,
`ss_base_model_version` sdxl_base_v1-0, `ss_network_dim` 32, `ss_network_alpha` 16,
`modelspec.architecture` stable-diffusion-xl-v1-base/lora, `sshs_model_hash`: make_lora_fixtures'
`kohya_metadata`). 986 modules (UNet 722: 140 each of to_q/to_k/to_v/to_out.0, 70 each of the two
feed-forward layers, 11 proj_in, 11 proj_out; text encoder 1: 72; text encoder 2: 192), 2958
tensors, 114.0 M parameters, 228,447,716 bytes (the size of a real kohya rank-32 SDXL LoRA; 2166
UNet tensors as theirs). Random weights by `make_lora_fixtures.make_entries`, strength 0.1 (seed
16002). Strength: on this random model a whole other prompt moves stipple's 512x512, 2-step Euler
image by 1.2 levels on average; this LoRA moves it by 3.9 (max 34), with no more saturated pixels
(0.90% at 0 or 255, 0.86% without); strength 0.2 / 0.3 / 0.5 gave 5.1 / 5.2 / 6.2 (the image is
mostly its starting noise at 2 steps, so the effect grows slowly). Checks: every module is a
weight of the base single file with the shape up @ down needs (the UNet under its SGM name, CLIP
ViT-L under `conditioner.embedders.0.transformer.text_model.`, OpenCLIP bigG's q/k/v as the thirds
of `attn.in_proj_weight`, out_proj / fc1 / fc2 as `attn.out_proj` / `mlp.c_fc` / `mlp.c_proj`) and
every tensor belongs to one; diffusers' `StableDiffusionXLPipeline.lora_state_dict(path,
unet_config=...)` (which maps kohya's SGM block names onto diffusers' blocks) puts each of the 986
down/up pairs on a distinct module of the SDXL UNet or text encoders with matching shapes, and it
is the very pair written for that module; `make_lora_fixtures.read_lora` reads all 986 back with
alpha / rank 0.5.

**SD-Turbo architecture** (`turbo`): stabilityai/sd-turbo is SD 2.1 base (512): its published
configs, checked against copies of `unet/config.json`, `text_encoder/config.json` and
`scheduler/scheduler_config.json`: UNet 320/640/1280/1280, `attention_head_dim` [5, 10, 20, 20],
`cross_attention_dim` 1024, `use_linear_projection` true, `upcast_attention` null, `sample_size`
64 (bench_torch.py's `sd21` UNet); OpenCLIP ViT-H/14 text encoder (hidden 1024, 16 heads,
intermediate 4096, gelu, 77 positions; the single file holds all 24 layers, diffusers' config
uses 23: the penultimate-layer conditioning); the KL VAE (scaling 0.18215); scheduler
EulerDiscreteScheduler with `timestep_spacing` "trailing", epsilon prediction (not in a single
file: run it with trailing spacing, `--prediction epsilon`/sd.cpp `prediction="eps"`). Weights:
each library's own initialisation, built directly in float16 (seed 0), the text encoder's
`text_projection` N(0, 1/1024) and `logit_scale` ln 100. Written as one float16 file in the
original LDM layout of Stability's SD2 files (`model.diffusion_model.`, `first_stage_model.` with
the VAE attention as 1x1 convolutions, `cond_stage_model.model.` OpenCLIP names with fused
`in_proj`), by tools/make_single_file_fixtures.py's key map; no metadata (stipple then assumes
epsilon). Checks: diffusers' own single-file converters give back every tensor of the built
UNet, VAE and (23-layer) text encoder exactly; then (unless `--no-check`) a float32 forward of
the text encoder on a prompt, the UNet on a 64x64 latent at timestep 999 and the VAE decode of a
32x32 latent must stay finite with every activation below 1e4 (float16 engines such as
stable-diffusion.cpp would overflow otherwise), reported as make_random_sdxl.py does.

**TAESD** (`taesd`): madebyollin's TAESD architecture (diffusers' default `AutoencoderTiny()`:
64 channels, encoder blocks 1,3,3,3, decoder 3,3,3,1), random weights as
tools/make_taesd_fixtures.py builds them (its full-size configuration, seed 1900, float16), in
one folder holding both layouts of the same tensors: diffusers' (`config.json` +
`diffusion_pytorch_model.safetensors`, keys `decoder.layers.N.*`: what stable-diffusion.cpp's
`taesd_path` reads, as `madebyollin/taesd`'s own `diffusion_pytorch_model.safetensors`) and the
original one (`taesd_decoder.safetensors` + `taesd_encoder.safetensors`: what `stipple --taesd`
reads, and the diffusers folder too); plus `taesd.reference.safetensors` (diffusers' decodes and
encodes of fixed inputs). make_taesd_fixtures.write_config_set checks both layouts load back to
the same weights and outputs.

Made with torch 2.15 (CPU), diffusers 0.42.1, transformers 5.25, peft 0.21.2 (`.venv-ref`).
Measured 2026-12-07 on the 2-core machine (`/usr/bin/time -v`): `lora` 7 s wall, peak RSS 1.3 GB;
`sdxl-lora` 6 s wall, peak RSS 1.8 GB; `turbo --threads 2` 2 min 3 s with the check (text encoder
11 s, UNet 32 s, VAE 7 s; largest activations 4.7, 6.1, 16.4), peak RSS 10.1 GB (the float32 UNet
and its activations beside the float16 models), 31 s and 3.5 GB with `--no-check`; `taesd` about
1 s. Two runs wrote the same bytes: sha256 `94e30b76...` (lcm-lora-sd15-r64.safetensors),
`da4a88a9...` (sdxl-style-r32.safetensors), `c7ce783c...` (sd-turbo-fp16.safetensors),
`f9c2f9c4...` / `e5cd9a09...` / `6ab354a9...` (taesd_decoder, taesd_encoder,
diffusion_pytorch_model.safetensors).
"""
import argparse
import gc
import math
import os
import re
import sys
import tempfile
import time
import types

import safetensors
import safetensors.torch
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import diffusers  # noqa: E402
from diffusers import StableDiffusionPipeline, StableDiffusionXLPipeline  # noqa: E402
from transformers import CLIPTextConfig, CLIPTextModel  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_torch  # noqa: E402
import convert_to_single_file as converter  # noqa: E402
import make_lora_fixtures as lora_fixtures  # noqa: E402
import make_random_sdxl as random_sdxl  # noqa: E402
import make_single_file_fixtures as ldm  # noqa: E402
import make_taesd_fixtures as taesd_fixtures  # noqa: E402

LORA_NAME = "lcm-lora-sd15-r64"
LORA_SPEC = dict(model="sd1", format="kohya", metadata=False, dtype=torch.float16, seed=16001, strength=0.1,
                 parts={"unet": (64, 64.0), "unet_conv": (64, 64.0)})
SDXL_LORA_NAME = "sdxl-style-r32"
SDXL_LORA_SPEC = dict(model="sdxl", format="kohya", dtype=torch.float16, seed=16002, strength=0.1,
                      parts={"unet": (32, 16.0), "text_encoder": (32, 16.0), "text_encoder_2": (32, 16.0)})
TURBO_FILE = "sd-turbo-fp16.safetensors"
# text_encoder/config.json of stabilityai/sd-turbo (OpenCLIP ViT-H/14 as transformers' CLIPTextModel).
TURBO_TEXT = dict(vocab_size=49408, hidden_size=1024, intermediate_size=4096, num_attention_heads=16,
                  num_hidden_layers=23, max_position_embeddings=77, hidden_act="gelu", layer_norm_eps=1e-5,
                  projection_dim=512, bos_token_id=0, eos_token_id=2, pad_token_id=1)
OPENCLIP_LAYERS = 24  # ViT-H/14's text tower; SD2 conditions on the output of layer 23
PROMPT = "a photograph of an astronaut riding a horse on the moon, highly detailed"


def log(message):
    random_sdxl.log(message)


# --- LCM-LoRA ----------------------------------------------------------------------------------

def sd15_modules():
    """The SD1.5 UNet and text encoder on the meta device (shapes only), as make_lora_fixtures'
    functions want a pipeline: an object with `.unet` and `.text_encoder`."""
    with torch.device("meta"):
        return types.SimpleNamespace(unet=bench_torch.build_unet("sd15"),
                                     text_encoder=bench_torch.build_text_encoder("sd15"))


def sdxl_modules():
    """SDXL 1.0 base's UNet and both text encoders on the meta device (bench_torch's configs)."""
    with torch.device("meta"):
        return types.SimpleNamespace(unet=bench_torch.build_unet("sdxl"),
                                     text_encoder=bench_torch.build_text_encoder("sdxl"),
                                     text_encoder_2=bench_torch.build_text_encoder_2())


def base_weight(model, component, name, sgm):
    """(name of the base single file's tensor holding a module's weight, which third of its rows
    or None for all): the UNet under its LDM/SGM name, CLIP ViT-L under transformers' names, SDXL's
    OpenCLIP bigG under OpenCLIP's (q, k, v are the thirds of the fused `attn.in_proj_weight`)."""
    if component == "unet":
        return ldm.UNET + sgm[name] + ".weight", None
    if component == "text_encoder":
        return (converter.CLIP_L if model == "sdxl" else ldm.TEXT + "transformer.") + name + ".weight", None
    layer, leaf = re.fullmatch(r"text_model\.encoder\.layers\.(\d+)\.(.+)", name).groups()
    root = f"conditioner.embedders.1.model.transformer.resblocks.{layer}."
    if leaf in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
        return root + "attn.in_proj_weight", "qkv".index(leaf[len("self_attn.")])
    return root + ldm.OPENCLIP_LAYER[leaf] + ".weight", None


def check_lora_against_base(path, pipe, base, model):
    """Every module of the LoRA is a weight of the base single file with the shape up @ down
    needs, and every tensor of the LoRA belongs to such a module."""
    header, _ = ldm_header(base)
    sgm = lora_fixtures.sgm_names(pipe, model)
    names = {v: k for k, v in lora_fixtures.kohya_names(pipe, model).items()}
    count = 0
    with safetensors.safe_open(path, "pt") as f:
        keys = set(f.keys())
        for (component, name), kohya in sorted(names.items()):
            if f"{kohya}.lora_down.weight" not in keys:
                continue
            down = f.get_slice(f"{kohya}.lora_down.weight").get_shape()
            up = f.get_slice(f"{kohya}.lora_up.weight").get_shape()
            target, third = base_weight(model, component, name, sgm)
            if target not in header:  # CLIP ViT-L written from transformers 5: no `text_model.`
                target = target.replace(".transformer.text_model.", ".transformer.")
            assert target in header, f"{kohya}: no {target} in {base}"
            shape = list(header[target]["shape"])
            if third is not None:
                shape[0] //= 3
            assert shape[0] == up[0] and shape[1:] == down[1:] or len(shape) == 4 and len(down) == 2 \
                and shape[2:] == [1, 1] and shape[:2] == [up[0], down[1]], f"{kohya}: {shape} vs {up} @ {down}"
            count += 1
    assert 3 * count == len(keys), \
        f"{len(keys) - 3 * count} tensors of {path} are not LoRA triples of {model} modules"
    return count


def ldm_header(path):
    import bench_sdcpp  # the header reader the benchmark uses
    return bench_sdcpp.read_header(path)


# diffusers 0.42 hands kohya files on in its older names: `X.lora.down.weight` (text encoders:
# `X.lora_linear_layer.down.weight`), and for the attention projections
# `attn1.processor.to_q_lora.down.weight` (text encoders: `self_attn.to_q_lora.down.weight`).
DIFFUSERS_KOHYA_KEY = re.compile(r"(unet|text_encoder|text_encoder_2)\.(.+?)(?:\.lora|\.lora_linear_layer"
                                 r"|(?:\.processor)?\.(to_q|to_k|to_v|to_out)_lora)\.down\.weight")
PROJECTION_NAMES = {"unet": {"to_q": "to_q", "to_k": "to_k", "to_v": "to_v", "to_out": "to_out.0"},
                    "text": {"to_q": "self_attn.q_proj", "to_k": "self_attn.k_proj", "to_v": "self_attn.v_proj",
                             "to_out": "self_attn.out_proj"}}


def check_lora_with_diffusers(path, pipe, model, entries):
    """diffusers' own reading of the kohya file (SDXL: with the UNet config, which maps kohya's SGM
    names onto diffusers' blocks): every (down, up) pair lands on a module of the architecture with
    matching shapes, the very module `entries` (make_lora_fixtures.make_entries) made it for, and no
    two pairs on the same module."""
    if model == "sdxl":
        state, alphas = StableDiffusionXLPipeline.lora_state_dict(path, unet_config=pipe.unet.config)
    else:
        state, alphas = StableDiffusionPipeline.lora_state_dict(path)
    modules = lora_fixtures.modules_of(pipe, model)  # text encoder names with `text_model.`
    made_for = {(component, name): (down, up) for component, name, down, up, _, _ in entries}
    found = {}
    for key, down in state.items():
        match = DIFFUSERS_KOHYA_KEY.fullmatch(key)
        if not match:
            assert key.endswith(".up.weight"), key
            continue
        component, module, projection = match.groups()
        if projection is not None:
            if component == "unet":
                module += "." + PROJECTION_NAMES["unet"][projection]
            else:
                module = module.removesuffix(".self_attn") + "." + PROJECTION_NAMES["text"][projection]
        if component != "unet":
            module = lora_fixtures.text_name(module)
        up = state[key.removesuffix("down.weight") + "up.weight"]
        weight = modules[component, module].weight
        assert up.shape[0] == weight.shape[0] and (down.shape[1:] == weight.shape[1:] or weight.dim() == 4 and
                                                   down.dim() == 2 and weight.shape[2:] == (1, 1)
                                                   and down.shape[1] == weight.shape[1]), key
        assert (component, module) not in found, f"{key} and {found[component, module]} on one module"
        made = made_for[component, module]
        assert torch.equal(down, made[0]) and torch.equal(up, made[1]), f"{key}: not the pair made for {module}"
        found[component, module] = key
    assert 2 * len(found) == len(state), f"{len(state)} tensors, {len(found)} pairs"
    by_component = {}
    for component, _ in found:
        by_component[component] = by_component.get(component, 0) + 1
    return len(found), by_component, len(alphas or {})


def module_kind(name):
    """The kind of a LoRA module by its name's last parts (`to_q`, `mlp.fc1`, `conv_shortcut`, ...)."""
    return next(t for t in lora_fixtures.UNET_LINEAR + lora_fixtures.UNET_CONV + lora_fixtures.TEXT
                + ("downsamplers.0.conv", "upsamplers.0.conv") if name.endswith("." + t))


def make_lora(out, base, model):
    """Writes and checks the SD1.5 LCM-LoRA (`model` "sd1") or the SDXL style LoRA ("sdxl")."""
    pipe, stem, spec = (sdxl_modules(), SDXL_LORA_NAME, SDXL_LORA_SPEC) if model == "sdxl" \
        else (sd15_modules(), LORA_NAME, LORA_SPEC)
    folder = os.path.join(out, "loras")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, stem + ".safetensors")
    entries = lora_fixtures.write_lora(path, stem, spec, pipe)
    parameters = sum(down.numel() + up.numel() for _, _, down, up, _, _ in entries)
    kinds, components = {}, {}
    for component, name, *_ in entries:
        kinds[module_kind(name)] = kinds.get(module_kind(name), 0) + 1
        components[component] = components.get(component, 0) + 1
    with safetensors.safe_open(path, "pt") as f:
        tensors, metadata = len(f.keys()), f.metadata() or {}
    log(f"wrote {path}: {len(entries)} modules {components}, {tensors} tensors, {parameters / 1e6:.1f} M parameters, "
        f"{os.path.getsize(path) / 1e6:.1f} MB; by kind {dict(sorted(kinds.items()))}")
    if metadata:
        log(f"metadata: {dict(sorted(metadata.items()))}")
    log(f"base file check: {check_lora_against_base(path, pipe, base, model)} modules are weights of {base} "
        "with matching shapes")
    pairs, by_component, alphas = check_lora_with_diffusers(path, pipe, model, entries)
    log(f"diffusers lora_state_dict: {pairs} down/up pairs on distinct {model} modules {by_component}, {alphas} alphas")
    assert pairs == len(entries)
    read = lora_fixtures.read_lora(path, pipe, model)
    scales = {scale for *_, scale in read}
    assert len(read) == len(entries) and scales == {alpha / rank for rank, alpha in spec["parts"].values()}, scales
    log(f"make_lora_fixtures.read_lora: {len(read)} modules, alpha / rank = {', '.join(f'{s:g}' for s in scales)}")


# --- SD-Turbo ----------------------------------------------------------------------------------

def turbo_models(seed):
    torch.manual_seed(seed)
    text = random_sdxl.in_half(lambda: CLIPTextModel(CLIPTextConfig(**dict(TURBO_TEXT, num_hidden_layers=OPENCLIP_LAYERS))))
    unet = random_sdxl.in_half(lambda: bench_torch.build_unet("sd21"))
    vae = random_sdxl.in_half(lambda: bench_torch.build_vae("sd21"))
    for name, model in (("text encoder (24 layers)", text), ("unet", unet), ("vae", vae)):
        log(f"{name}: {sum(p.numel() for p in model.parameters()):,} parameters, float16")
    return text, unet, vae


def diffusers_text_state(text):
    """The 24-layer encoder's weights as diffusers' 23-layer SD2 text encoder holds them."""
    last = f"encoder.layers.{OPENCLIP_LAYERS - 1}."
    return {k: v for k, v in text.state_dict().items() if last not in k}


def make_turbo(out, check, threads):
    text, unet, vae = turbo_models(seed=0)
    configs = {"unet": dict(unet.config), "vae": dict(vae.config)}
    generator = torch.Generator().manual_seed(1)
    state = ldm.single_file("sd2", text.state_dict(), unet.state_dict(), vae.state_dict(), configs, generator)
    root = ldm.TEXT + "model."
    # openclip_to_ldm adds the layer diffusers drops, as random N(0, 1) values; this encoder has it already.
    extra = f"{root}transformer.resblocks.{OPENCLIP_LAYERS}."
    state = {k: v for k, v in state.items() if not k.startswith(extra)}
    hidden = TURBO_TEXT["hidden_size"]
    state[root + "text_projection"] = (torch.randn((hidden, hidden), generator=generator) * hidden ** -0.5).half()
    state[root + "logit_scale"] = torch.tensor(math.log(100), dtype=torch.float16)
    path = os.path.join(out, TURBO_FILE)
    safetensors.torch.save_file(state, path)
    log(f"wrote {path}: {len(state)} tensors, {os.path.getsize(path) / 1e9:.2f} GB")
    counts = ldm.check_with_diffusers("sd2", state, diffusers_text_state(text), unet.state_dict(), vae.state_dict(),
                                      configs, TURBO_TEXT)
    log(f"diffusers' converters give back the unet ({counts[0]}), vae ({counts[1]}) and text encoder ({counts[2]}) "
        "tensors exactly")
    del state
    gc.collect()
    if check:
        check_turbo(text, unet, vae, threads)


def check_turbo(text, unet, vae, threads):
    """Float32 forwards stay finite and below 1e4 (random_sdxl's ActivationWatch), one network at
    a time."""
    torch.set_num_threads(threads)
    failures, limit = [], 1e4
    with torch.inference_mode():
        with tempfile.TemporaryDirectory() as workdir:
            tokenizer = random_sdxl.tokenizers(workdir)[1]  # the shipped CLIP merges; SD2 pads with "!"
        ids = tokenizer(PROMPT, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
        encoder = CLIPTextModel(CLIPTextConfig(**TURBO_TEXT)).eval()
        encoder.load_state_dict({k: v.float() for k, v in diffusers_text_state(text).items()})
        context = random_sdxl.watched("text encoder", encoder, lambda: encoder(ids).last_hidden_state, limit, failures)
        del encoder
        gc.collect()
        big = bench_torch.build_unet("sd21")
        big.load_state_dict({k: v.float() for k, v in unet.state_dict().items()})
        gen = torch.Generator().manual_seed(0)
        latent = torch.randn((1, 4, 64, 64), generator=gen)
        random_sdxl.watched("unet", big, lambda: big(latent, torch.tensor([999]), context).sample, limit, failures)
        del big
        gc.collect()
        decoder = bench_torch.build_vae("sd21")
        decoder.load_state_dict({k: v.float() for k, v in vae.state_dict().items()})
        latent = torch.randn((1, 4, 32, 32), generator=gen) / decoder.config.scaling_factor
        random_sdxl.watched("vae decode", decoder, lambda: decoder.decode(latent).sample, limit, failures)
    if failures:
        sys.exit("check failed:\n  " + "\n  ".join(failures))
    log("check passed: every activation finite and below 1e4")


# --- TAESD -------------------------------------------------------------------------------------

def make_taesd(out):
    taesd_fixtures.write_config_set(out, "taesd", taesd_fixtures.FULL_SIZE)
    folder = os.path.join(out, "taesd")
    for name in sorted(os.listdir(folder)):
        log(f"  {os.path.getsize(os.path.join(folder, name)):>10,d}  {os.path.join(folder, name)}")
    log("both layouts load back to the same weights and decodes (make_taesd_fixtures.check_saved)")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["lora", "sdxl-lora", "turbo", "taesd", "all"])
    parser.add_argument("--out", default="/work/models")
    parser.add_argument("--base", help="the single file the LoRA must fit (default: OUT/sd15-fp16.safetensors, "
                        "for sdxl-lora OUT/sdxl-fp16.safetensors)")
    parser.add_argument("--no-check", action="store_true", help="turbo: skip the float32 activation check")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    diffusers.utils.logging.set_verbosity_error()
    start = time.monotonic()
    log(f"torch {torch.__version__}, diffusers {diffusers.__version__}")
    if args.what in ("lora", "all"):
        make_lora(args.out, args.base or os.path.join(args.out, "sd15-fp16.safetensors"), "sd1")
    if args.what == "sdxl-lora":
        make_lora(args.out, args.base or os.path.join(args.out, "sdxl-fp16.safetensors"), "sdxl")
    if args.what in ("turbo", "all"):
        make_turbo(args.out, not args.no_check, args.threads)
    if args.what in ("taesd", "all"):
        make_taesd(args.out)
    log(f"done in {time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main()

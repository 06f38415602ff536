#!/usr/bin/env python3
"""Writes the LoRA and textual-inversion parity fixtures of Tests/DiffusionTests/Fixtures/lora/.

Random-weight LoRA files for the tiny pipelines of Fixtures/pipelines (sd1, sd2) and Fixtures/sdxl
(sdxl), in the formats people have: kohya / A1111 (`lora_unet_...lora_down.weight`, `.alpha`,
`ss_*` metadata; SDXL with its SGM UNet names and `lora_te1_` / `lora_te2_`), diffusers / PEFT as
`save_lora_weights` writes it (with and without `lora_adapter_metadata`), the older diffusers
`lora.down` / `lora_linear_layer` names, a LyCORIS LoCon file with 3x3 convolutions, a LyCORIS LoHa
file (only for a loader to refuse), and A1111 textual-inversion embeddings (`emb_params`; SDXL's
`clip_l` / `clip_g`). Then the images diffusers makes with them: `load_lora_weights` +
`fuse_lora(lora_scale=w)` for one LoRA, `set_adapters(names, adapter_weights)` + `fuse_lora()` for
several, `load_textual_inversion` for the embeddings. The base models are read from their folders
(not copied).

    .venv-ref/bin/python tools/make_lora_fixtures.py

Rewrites everything in the folder but its hand-written README.md (the file formats, the key maps,
the scaling rule, how a case maps to diffusers, the parity bar), then builds the whole folder a
second time in a temporary directory and asserts every file is byte for byte the same. Checks, on
every run: each LoRA's fused weights in diffusers equal the project's own reading of the file
(`read_lora`, the contract the README describes: every targeted module gets
`weight * alpha / rank * up @ down`, nothing else changes), and an image made with that merge instead
of diffusers' meets the parity bar; diffusers refuses the LoHa file; the embedding cases' token ids
follow the README's rule; every case differs visibly from the same run without its LoRA or
embedding; float64 reruns and typical mistakes (figures printed; they are in the README).
Made with torch 2.15.0 (CPU), diffusers 0.42.1, transformers 5.25.0, peft 0.21.2; the run records
its own versions in `versions.json`. Output is byte-for-byte reproducible (fixed seeds, one CPU
thread). Runs in about 90 seconds (`--quick`: 40).
"""
import argparse
import contextlib
import hashlib
import json
import os
import re
import sys
import tempfile

import numpy as np
import safetensors
import safetensors.torch
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import diffusers  # noqa: E402
from diffusers import StableDiffusionPipeline  # noqa: E402
import peft  # noqa: E402
import transformers  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_to_single_file as converter  # noqa: E402
import make_parity_fixtures as parity  # noqa: E402
from make_lcm_fixtures import tree_bytes  # noqa: E402  (every file but README.md, as bytes)
import make_pipeline_fixtures as pipelines  # noqa: E402
import make_sdxl_fixtures as sdxl  # noqa: E402
import make_single_file_fixtures as ldm  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "Tests", "DiffusionTests", "Fixtures")
OUT = os.path.join(FIXTURES, "lora")
LORA_DIR, EMBEDDING_DIR = "loras", "embeddings"  # what --lora-dir / --embeddings-dir point at
# case model -> the base pipeline folder, relative to this fixture folder (read, never copied)
MODELS = {"sd1": "../pipelines/sd1", "sd2": "../pipelines/sd2", "sdxl": "../sdxl/sdxl"}

# What the LoRAs target (diffusers module names, by their last parts).
UNET_LINEAR = ("to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2", "proj_in", "proj_out")  # attentions.N
UNET_CONV = ("conv1", "conv2", "conv_shortcut", "time_emb_proj")  # in resnets.N; plus down/upsamplers.0.conv
TEXT = ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "mlp.fc1", "mlp.fc2")
TEXT_ENCODERS = ("text_encoder", "text_encoder_2")
# kohya's prefix per component (SD1/SD2 have one text encoder, `lora_te_`; SDXL `lora_te1_`, `lora_te2_`)
KOHYA_PREFIX = {"unet": "lora_unet_", "text_encoder": "lora_te_"}
KOHYA_PREFIX_XL = {"unet": "lora_unet_", "text_encoder": "lora_te1_", "text_encoder_2": "lora_te2_"}
BASE_MODEL_VERSION = {"sd1": "sd_v1", "sd2": "sd_v2", "sdxl": "sdxl_base_v1-0"}
ARCHITECTURE = {"sd1": "stable-diffusion-v1", "sd2": "stable-diffusion-v2-768-v",
                "sdxl": "stable-diffusion-xl-v1-base"}

# The LoRA files. parts: target group -> (rank, alpha); alpha None = not stored (PEFT without
# metadata, old diffusers: alpha = rank). strength: the size of alpha/rank * up @ down relative to
# the layer's own weight (both ~ N(0, 1/fan_in) entries), chosen so that the images move by tens
# of levels. Groups: unet (attention, feed-forward, proj_in/out), unet_conv (resnet convolutions,
# conv_shortcut, time_emb_proj, down/upsampler convolutions), text_encoder, text_encoder_2.
LORAS = {
    "sd1_kohya_r4": dict(model="sd1", format="kohya", dtype=torch.float16, seed=5001, strength=0.1,
                         parts={"unet": (4, 1.0), "text_encoder": (4, 1.0)}),
    "sd1_kohya_unet_r8": dict(model="sd1", format="kohya", dtype=torch.float16, seed=5002, strength=0.1,
                              parts={"unet": (8, 4.0)}),
    "sd1_kohya_te_r8": dict(model="sd1", format="kohya", dtype=torch.float16, seed=5003, strength=0.15,
                            parts={"text_encoder": (8, 8.0)}),
    "sd1_peft_r8": dict(model="sd1", format="peft", metadata=True, dtype=torch.float16, seed=5004, strength=0.1,
                        parts={"unet": (8, 4.0), "text_encoder": (8, 4.0)}),
    "sd1_peft_plain_r4": dict(model="sd1", format="peft", metadata=False, dtype=torch.float32, seed=5005,
                              strength=0.1, parts={"unet": (4, None), "text_encoder": (4, None)}),
    "sd1_diffusers_old_r4": dict(model="sd1", format="diffusers-old", dtype=torch.float16, seed=5006, strength=0.1,
                                 parts={"unet": (4, None), "text_encoder": (4, None)}),
    "sd1_locon_r4": dict(model="sd1", format="locon", dtype=torch.float16, seed=5007, strength=0.1,
                         parts={"unet": (4, 2.0), "unet_conv": (8, 1.0), "text_encoder": (4, 2.0)}),
    "sd1_loha_r4": dict(model="sd1", format="loha", dtype=torch.float16, seed=5008, strength=0.1,
                        parts={"unet": (4, 2.0)}, within="down_blocks.0.attentions.0."),
    "sd1_lcm_lora_r8": dict(model="sd1", format="kohya", metadata=False, dtype=torch.float16, seed=5009,
                            strength=0.1, parts={"unet": (8, 8.0), "unet_conv": (8, 8.0)}),
    "sd2_kohya_r8": dict(model="sd2", format="kohya", dtype=torch.float16, seed=5010, strength=0.03,
                         parts={"unet": (8, 4.0), "text_encoder": (8, 4.0)}),
    "sdxl_kohya_r4": dict(model="sdxl", format="kohya", dtype=torch.float16, seed=5011, strength=0.1,
                          parts={"unet": (4, 2.0), "text_encoder": (4, 2.0), "text_encoder_2": (4, 2.0)}),
}
# A1111 embeddings: name (= file name = the word in the prompt) -> model, vectors, dtype, seed.
EMBEDDINGS = {
    "tinystyle": dict(model="sd1", vectors=2, dtype=torch.float32, seed=5101),
    "tinyxl": dict(model="sdxl", vectors=3, dtype=torch.float16, seed=5102),
}
EMBEDDING_STD = 0.5  # as the tiny encoders' own token embeddings (make_parity_fixtures.randomise)
MIN_EFFECT = 8  # every case must move its image by more than this many levels (max) from the plain run


# --- models -----------------------------------------------------------------------------------

def folder_of(model):
    return os.path.normpath(os.path.join(OUT, MODELS[model]))


def load_base(model, dtype=torch.float32):
    """The base pipeline as a user loads it (float32 files, `dtype` math)."""
    if model == "sdxl":
        return sdxl.load_pipeline(os.path.join(FIXTURES, "sdxl"), "sdxl", dtype=dtype)
    pipe = StableDiffusionPipeline.from_pretrained(folder_of(model), dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(dtype=dtype)


def components_of(model):
    return ("unet", "text_encoder", "text_encoder_2") if model == "sdxl" else ("unet", "text_encoder")


def text_name(name):
    """A text encoder module's name as LoRA files spell it: with transformers' `text_model.`
    (transformers 5 flattens CLIPTextModel and drops it; CLIPTextModelWithProjection keeps it)."""
    return "text_model." + name.removeprefix("text_model.")


def modules_of(pipe, model):
    """{(component, canonical module name): module} of every Linear / Conv2d LoRA can target.
    Canonical names: the UNet's diffusers names, the text encoders' with `text_model.`."""
    table = {}
    for component in components_of(model):
        for name, module in getattr(pipe, component).named_modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)) and ".lora_" not in name:
                name = name.removesuffix(".base_layer")  # a module with a LoRA injected by peft
                table[component, name if component == "unet" else text_name(name)] = module
    return table


def in_group(component, name, group):
    if group == "unet":
        return component == "unet" and ".attentions." in name and name.endswith(tuple("." + t for t in UNET_LINEAR))
    if group == "unet_conv":
        return component == "unet" and (
            ".resnets." in name and name.endswith(tuple("." + t for t in UNET_CONV))
            or name.endswith(("downsamplers.0.conv", "upsamplers.0.conv")))
    return component == group and name.endswith(tuple("." + t for t in TEXT))


def sgm_names(pipe, model):
    """diffusers UNet module name -> its SGM/LDM name (tools/make_single_file_fixtures.py's map)."""
    modules = ldm.unet_modules(pipe.unet.config) + converter.ADD_EMBEDDING
    return {name: ldm.rename(name + ".weight", modules).removesuffix(".weight")
            for component, name in modules_of(pipe, model) if component == "unet"}


def kohya_names(pipe, model):
    """{kohya module name: (component, canonical module name)}: the prefix, then the module's
    name with dots turned into underscores; SDXL's UNet under its SGM names (kohya trains SDXL on
    the SGM UNet, SD1/SD2 on diffusers' UNet)."""
    prefixes = KOHYA_PREFIX_XL if model == "sdxl" else KOHYA_PREFIX
    sgm = sgm_names(pipe, model) if model == "sdxl" else None
    table = {}
    for component, name in modules_of(pipe, model):
        spelled = sgm[name] if sgm is not None and component == "unet" else name
        table[prefixes[component] + spelled.replace(".", "_")] = (component, name)
    assert len(table) == len(modules_of(pipe, model)), "two modules share a kohya name"
    return table


# --- random LoRA weights ----------------------------------------------------------------------

def make_entries(pipe, spec):
    """[(component, module name, down, up, rank, alpha or None)] for every targeted module, in
    model order: down ~ N(0, 1/fan_in) as [r, in] or [r, in, kh, kw], up ~ N(0, s^2 / r) as
    [out, r] or [out, r, 1, 1], s = strength * rank / alpha, so alpha / rank * up @ down has
    entries of about strength / sqrt(fan_in), `strength` times the layer's own."""
    gen = torch.Generator().manual_seed(spec["seed"])
    entries = []
    for (component, name), module in modules_of(pipe, spec["model"]).items():
        group = next((g for g in spec["parts"] if in_group(component, name, g)), None)
        if group is None or not name.startswith(spec.get("within", "")):
            continue
        weight = module.weight
        if group == "unet_conv" and weight[0, 0].numel() == 1 and "unet" in spec["parts"]:
            group = "unet"  # conv_dim / conv_alpha are for kxk convolutions; linear and 1x1 take the dim
        rank, alpha = spec["parts"][group]
        fan_in = weight[0].numel()
        gain = spec["strength"] * rank / (alpha if alpha is not None else rank)
        if weight.dim() == 2:
            down = torch.randn(rank, weight.shape[1], generator=gen) * fan_in ** -0.5
            up = torch.randn(weight.shape[0], rank, generator=gen) * gain * rank ** -0.5
        else:
            down = torch.randn(rank, *weight.shape[1:], generator=gen) * fan_in ** -0.5
            up = torch.randn(weight.shape[0], rank, 1, 1, generator=gen) * gain * rank ** -0.5
        entries.append((component, name, down.to(spec["dtype"]), up.to(spec["dtype"]), rank, alpha))
    assert {g for g in spec["parts"]} == {next(g for g in spec["parts"] if in_group(c, n, g))
                                          for c, n, *_ in entries}, spec
    return entries


# --- file writers -----------------------------------------------------------------------------

def save_safetensors(tensors, path, metadata=None):
    """safetensors' save_file, then the header's `__metadata__` rewritten with its keys in sorted
    order (safetensors writes them in hash-map order, which changes from run to run; the header
    keeps its length)."""
    safetensors.torch.save_file(tensors, path, metadata=metadata)
    if metadata is None or len(metadata) < 2:
        return
    with open(path, "r+b") as f:
        length = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(length))
        header["__metadata__"] = dict(sorted(header["__metadata__"].items()))
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
        assert len(text) <= length, path
        f.seek(8)
        f.write(text.ljust(length))
    with safetensors.safe_open(path, "pt") as f:
        assert f.metadata() == metadata and set(f.keys()) == set(tensors), path


def tensor_data_hash(path):
    """sha256 of the bytes after the header: kohya's `sshs_model_hash` and A1111's Lora hash
    (its infotext's `Lora hashes` shows the first 12 hex digits)."""
    with open(path, "rb") as f:
        length = int.from_bytes(f.read(8), "little")
        f.seek(8 + length)
        return hashlib.sha256(f.read()).hexdigest()


def kohya_metadata(stem, spec, tensors):
    """A few of the `ss_*` / `modelspec.*` keys kohya's sd-scripts (and LyCORIS) write; all
    metadata values are strings."""
    rank, alpha = next(iter(spec["parts"].values()))
    lycoris = spec["format"] in ("locon", "loha")
    meta = {"ss_network_module": "lycoris.kohya" if lycoris else "networks.lora",
            "ss_network_dim": str(rank), "ss_network_alpha": f"{alpha:g}",
            "ss_base_model_version": BASE_MODEL_VERSION[spec["model"]], "ss_output_name": stem,
            "ss_v2": str(spec["model"] == "sd2"), "modelspec.sai_model_spec": "1.0.0",
            "modelspec.architecture": ARCHITECTURE[spec["model"]] + ("/lycoris" if lycoris else "/lora"),
            "modelspec.title": stem}
    if lycoris:
        args = {"algo": spec["format"]}
        if "unet_conv" in spec["parts"]:
            args.update(conv_dim=str(spec["parts"]["unet_conv"][0]), conv_alpha=f"{spec['parts']['unet_conv'][1]:g}")
        meta["ss_network_args"] = json.dumps(args, sort_keys=True)
    if not {"text_encoder", "text_encoder_2"} & set(spec["parts"]):
        meta["ss_network_train_unet_only"] = "True"
    if "unet" not in spec["parts"] and "unet_conv" not in spec["parts"]:
        meta["ss_network_train_text_encoder_only"] = "True"
    return meta


def kohya_tensors(pipe, spec, entries):
    """`{prefix}{module}.lora_down.weight`, `.lora_up.weight`, `.alpha` (a 0-d tensor of the file's
    dtype, as kohya saves its buffers)."""
    names = {v: k for k, v in kohya_names(pipe, spec["model"]).items()}
    tensors = {}
    for component, name, down, up, rank, alpha in entries:
        key = names[component, name]
        tensors[f"{key}.lora_down.weight"] = down
        tensors[f"{key}.lora_up.weight"] = up
        tensors[f"{key}.alpha"] = torch.tensor(alpha, dtype=spec["dtype"])
    return tensors


def loha_tensors(pipe, spec, entries, gen_seed):
    """LyCORIS LoHa: `hada_w1_a` [out, r], `hada_w1_b` [r, in], `hada_w2_a`, `hada_w2_b`, `alpha`;
    delta = (w1_a @ w1_b) * (w2_a @ w2_b) * alpha / r (element-wise product). Only for a loader to
    recognise and refuse."""
    names = {v: k for k, v in kohya_names(pipe, spec["model"]).items()}
    gen = torch.Generator().manual_seed(gen_seed)
    tensors = {}
    for component, name, down, up, rank, alpha in entries:
        key = names[component, name]
        out_features, in_features = up.shape[0], down.shape[1]
        tensors[f"{key}.hada_w1_a"] = up
        tensors[f"{key}.hada_w1_b"] = down
        w2_a = torch.randn(out_features, rank, generator=gen) * rank ** -0.5
        tensors[f"{key}.hada_w2_a"] = w2_a.to(spec["dtype"])
        tensors[f"{key}.hada_w2_b"] = torch.randn(rank, in_features, generator=gen).to(spec["dtype"])
        tensors[f"{key}.alpha"] = torch.tensor(alpha, dtype=spec["dtype"])
    return tensors


def peft_layers(entries, component, text_prefix):
    """{module.lora_A.weight: down, module.lora_B.weight: up} of one component (no component
    prefix; save_lora_weights adds it). Text encoder modules under `text_prefix`."""
    layers = {}
    for c, name, down, up, _, _ in entries:
        if c == component:
            module = name if c == "unet" else text_prefix + name.removeprefix("text_model.")
            layers[f"{module}.lora_A.weight"] = down
            layers[f"{module}.lora_B.weight"] = up
    return layers


def peft_metadata(entries, component):
    """The LoraConfig a trainer would have used for one component, as `LoraConfig.to_dict()` (what
    diffusers' training scripts pass to save_lora_weights), target_modules sorted."""
    (rank, alpha), = {(r, a) for c, _, _, _, r, a in entries if c == component}
    leaves = UNET_LINEAR if component == "unet" else tuple(t.split(".")[-1] for t in TEXT)
    config = peft.LoraConfig(r=rank, lora_alpha=alpha, target_modules=list(leaves), init_lora_weights="gaussian")
    config = config.to_dict()
    config["target_modules"] = sorted(config["target_modules"])
    return config


def write_peft(path, spec, entries):
    """`StableDiffusionPipeline.save_lora_weights` (PEFT names `unet.<module>.lora_A.weight`).
    With metadata: this environment's own spelling of the text encoder (transformers 5: no
    `text_model.`) and `lora_adapter_metadata`; without: `text_encoder.text_model.` as files written
    under transformers 4 (most files in the wild) have, and no alphas at all."""
    with_metadata = spec["metadata"]
    text_prefix = "" if with_metadata else "text_model."
    unet = peft_layers(entries, "unet", text_prefix)
    text = peft_layers(entries, "text_encoder", text_prefix)
    extra = {}
    if with_metadata:
        extra = dict(unet_lora_adapter_metadata=peft_metadata(entries, "unet"),
                     text_encoder_lora_adapter_metadata=peft_metadata(entries, "text_encoder"))
    with tempfile.TemporaryDirectory() as tmp:
        StableDiffusionPipeline.save_lora_weights(tmp, unet_lora_layers=unet, text_encoder_lora_layers=text,
                                                  weight_name="lora.safetensors", **extra)
        source = os.path.join(tmp, "lora.safetensors")
        tensors = safetensors.torch.load_file(source)
        with safetensors.safe_open(source, "pt") as f:
            metadata = f.metadata()
    save_safetensors(tensors, path, metadata)  # the same file, metadata keys in a stable order
    return metadata


def old_diffusers_tensors(entries):
    """diffusers 0.21-0.23 (before PEFT): `unet.<module>.lora.down.weight` / `.lora.up.weight`,
    `text_encoder.text_model.<module>.lora_linear_layer.down.weight` / `.up.weight`; no alphas."""
    tensors = {}
    for component, name, down, up, _, _ in entries:
        part = "lora" if component == "unet" else "lora_linear_layer"
        tensors[f"{component}.{name}.{part}.down.weight"] = down
        tensors[f"{component}.{name}.{part}.up.weight"] = up
    return tensors


def write_lora(path, stem, spec, pipe):
    entries = make_entries(pipe, spec)
    kind = spec["format"]
    if kind == "peft":
        write_peft(path, spec, entries)
        return entries
    if kind in ("kohya", "locon"):
        tensors = kohya_tensors(pipe, spec, entries)
    elif kind == "loha":
        tensors = loha_tensors(pipe, spec, entries, spec["seed"] + 50)
    else:
        tensors = old_diffusers_tensors(entries)
    if kind == "diffusers-old" or not spec.get("metadata", True):
        save_safetensors(tensors, path)
        return entries
    metadata = kohya_metadata(stem, spec, tensors)
    save_safetensors(tensors, path, metadata)
    metadata["sshs_model_hash"] = tensor_data_hash(path)  # hash of the tensor bytes: unchanged by the header
    save_safetensors(tensors, path, metadata)
    assert tensor_data_hash(path) == metadata["sshs_model_hash"]
    return entries


# --- the project's own reading of a LoRA file (the README's contract) --------------------------

class Refused(ValueError):
    pass


def read_lora(path, pipe, model):
    """[(component, canonical module name, down float32, up float32, scale)] with
    scale = alpha / rank, as the README describes: recognise the format by its key suffixes,
    map names, take alpha from `.alpha` (kohya), from `lora_adapter_metadata` (PEFT) or else
    alpha = rank; refuse other LyCORIS kinds by name."""
    with safetensors.safe_open(path, "pt") as f:
        metadata = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    for marker, kind in ((".hada_w1_a", "LoHa"), (".lokr_w1", "LoKr"), (".oft_blocks", "OFT"),
                         (".diff", "full-weight diff (LyCORIS 'full')")):
        if any(marker in k for k in tensors):
            raise Refused(f"{os.path.basename(path)}: LyCORIS {kind} is not supported (only LoRA and LoCon)")
    modules = modules_of(pipe, model)
    out = []
    if all(k.startswith(("lora_unet_", "lora_te_", "lora_te1_", "lora_te2_")) for k in tensors):
        names = kohya_names(pipe, model)
        for key in tensors:
            if key.endswith(".lora_down.weight"):
                stem = key.removesuffix(".lora_down.weight")
                down, up = tensors[key].float(), tensors[stem + ".lora_up.weight"].float()
                rank = down.shape[0]
                alpha = float(tensors[stem + ".alpha"]) if stem + ".alpha" in tensors else rank
                out.append((*names[stem], down, up, alpha / rank))
        assert all(k.endswith((".lora_down.weight", ".lora_up.weight", ".alpha")) for k in tensors), path
        return out
    config = json.loads(metadata.get("lora_adapter_metadata", "{}"))
    suffixes = {".lora_A.weight": ".lora_B.weight", ".lora.down.weight": ".lora.up.weight",
                ".lora_linear_layer.down.weight": ".lora_linear_layer.up.weight"}
    for key in tensors:
        for down_suffix, up_suffix in suffixes.items():
            if not key.endswith(down_suffix):
                continue
            component, module = key.removesuffix(down_suffix).split(".", 1)
            if component != "unet":
                module = text_name(module)
            assert (component, module) in modules, key
            down, up = tensors[key].float(), tensors[key.removesuffix(down_suffix) + up_suffix].float()
            rank = down.shape[0]
            alpha = config.get(f"{component}.lora_alpha", rank)
            assert config.get(f"{component}.r", rank) == rank and not config.get(f"{component}.alpha_pattern") \
                and not config.get(f"{component}.rank_pattern") and not config.get(f"{component}.use_rslora"), key
            out.append((component, module, down, up, alpha / rank))
    assert 2 * len(out) == len(tensors), path
    return out


def delta_of(down, up, shape):
    """up @ down in the layer's shape: [out, r] @ [r, in] for Linear (and 1x1 conv),
    sum_r up[o, r] * down[r, i, kh, kw] for a kxk convolution."""
    return (up.reshape(up.shape[0], -1) @ down.reshape(down.shape[0], -1)).reshape(shape)


def merge(pipe, model, loras, dtype=torch.float32):
    """W += weight * alpha / rank * up @ down for every module of every (path, weight) in `loras`
    (in `dtype`); returns the set of changed modules."""
    modules = modules_of(pipe, model)
    changed = set()
    with torch.no_grad():
        for path, weight in loras:
            for component, name, down, up, scale in read_lora(path, pipe, model):
                layer = modules[component, name].weight
                delta = delta_of(down.to(dtype), up.to(dtype), layer.shape)
                layer.add_((weight * scale) * delta.to(layer.dtype))
                changed.add((component, name))
    return changed


# --- diffusers ---------------------------------------------------------------------------------

def apply_with_diffusers(pipe, loras):
    """load_lora_weights for each file (adapter name = file name without extension), then one LoRA:
    fuse_lora(lora_scale=weight); several: set_adapters(names, adapter_weights) and fuse_lora()."""
    names = []
    for path, _ in loras:
        name = os.path.splitext(os.path.basename(path))[0]
        pipe.load_lora_weights(os.path.dirname(path), weight_name=os.path.basename(path), adapter_name=name)
        names.append(name)
    if len(loras) == 1:
        pipe.fuse_lora(lora_scale=loras[0][1], adapter_names=names)
    else:
        pipe.set_adapters(names, adapter_weights=[w for _, w in loras])
        pipe.fuse_lora(adapter_names=names)


def fused_weights(pipe, model):
    """{(component, canonical module name): weight} (after fusing, peft's base_layer holds the
    merged weight)."""
    return {key: module.weight.detach().clone() for key, module in modules_of(pipe, model).items()}


def check_fused(model, loras, fused):
    """diffusers' fused weights equal the README's merge on a fresh pipeline, module by module
    (every targeted module changed, every other unchanged)."""
    pipe = load_base(model)
    before = {k: m.weight.detach().clone() for k, m in modules_of(pipe, model).items()}
    changed = merge(pipe, model, loras)
    mine = {k: m.weight for k, m in modules_of(pipe, model).items()}
    assert set(mine) == set(fused), sorted(set(mine) ^ set(fused))[:5]
    worst = 0.0
    for key, weight in mine.items():
        if key in changed:
            scale = float((weight.detach() - before[key]).abs().max())
            worst = max(worst, float((fused[key] - weight.detach()).abs().max()) / max(scale, 1e-30))
        else:
            assert torch.equal(fused[key], before[key]), f"diffusers changed {key}, which the file does not target"
    assert worst < 1e-5, f"diffusers' fused weights differ from the README's merge by {worst:.1e} of the delta"
    return len(changed), worst


def diffusers_response(path, model):
    """What load_lora_weights does with a file on a fresh pipeline: None (loads) or the error."""
    pipe = load_base(model)
    try:
        pipe.load_lora_weights(os.path.dirname(path), weight_name=os.path.basename(path), adapter_name="probe")
    except Exception as error:  # noqa: BLE001 - the message is the fixture
        return f"{type(error).__name__}: {' '.join(str(error).split())[:200]}"
    return None


# --- embeddings -------------------------------------------------------------------------------

def write_embedding(path, spec):
    """A1111's embedding files: `emb_params` [n, 32] for SD1; SDXL `clip_l` [n, 32] (text_encoder)
    and `clip_g` [n, 64] (text_encoder_2). Vectors ~ N(0, 0.5^2), like the tiny token embeddings."""
    gen = torch.Generator().manual_seed(spec["seed"])
    n = spec["vectors"]
    if spec["model"] == "sdxl":
        tensors = {"clip_g": torch.randn(n, 64, generator=gen) * EMBEDDING_STD,
                   "clip_l": torch.randn(n, 32, generator=gen) * EMBEDDING_STD}
    else:
        tensors = {"emb_params": torch.randn(n, 32, generator=gen) * EMBEDDING_STD}
    save_safetensors({k: v.to(spec["dtype"]) for k, v in tensors.items()}, path)


def load_embedding_with_diffusers(pipe, path, name, model):
    """SD1: load_textual_inversion(file, token=name) (one tensor in the file: its key is ignored).
    SDXL: each tensor into its own encoder, as diffusers documents it."""
    if model == "sdxl":
        tensors = safetensors.torch.load_file(path)
        pipe.load_textual_inversion(tensors["clip_l"], token=name, text_encoder=pipe.text_encoder,
                                    tokenizer=pipe.tokenizer)
        pipe.load_textual_inversion(tensors["clip_g"], token=name, text_encoder=pipe.text_encoder_2,
                                    tokenizer=pipe.tokenizer_2)
    else:
        pipe.load_textual_inversion(path, token=name)


def a1111_ids(tokenizer, text, embeddings):
    """The README's embedding rule: BPE-tokenize the prompt as plain text; wherever the token
    sequence of an embedding's name occurs, put that embedding's n vectors instead (returned as
    ("name", i) placeholders); BOS, 75 tokens, EOS, padding."""
    plain = tokenizer(text, add_special_tokens=False)["input_ids"]
    names = {name: tokenizer(name, add_special_tokens=False)["input_ids"] for name in embeddings}
    out, i = [], 0
    while i < len(plain):
        for name, ids in names.items():
            if plain[i:i + len(ids)] == ids:
                out += [(name, v) for v in range(embeddings[name])]
                i += len(ids)
                break
        else:
            out.append(plain[i])
            i += 1
    out = [tokenizer.bos_token_id] + out[:tokenizer.model_max_length - 2] + [tokenizer.eos_token_id]
    return out + [tokenizer.pad_token_id] * (tokenizer.model_max_length - len(out))


def diffusers_ids(pipe, tokenizer, text):
    """The ids diffusers feeds the encoder: maybe_convert_prompt (name -> name name_1 ...), then
    the 77-token window."""
    return pipelines.window_ids(tokenizer, pipe.maybe_convert_prompt(text, tokenizer))


def placeholders(tokenizer, embeddings):
    """{added id: (name, vector index)}: diffusers adds `name`, `name_1`, ... as new tokens."""
    out = {}
    for name, n in embeddings.items():
        for v in range(n):
            out[tokenizer.convert_tokens_to_ids(name if v == 0 else f"{name}_{v}")] = (name, v)
    return out


# --- cases ------------------------------------------------------------------------------------

LORA_TAG = re.compile(r"<lora:([^:>]+):([^>]+)>")


def strip_tags(prompt):
    """The prompt without its `<lora:...>` tags, whitespace collapsed (the CLIP tokenizer collapses
    it anyway: the ids are those of A1111's text, where each tag becomes "")."""
    return " ".join(LORA_TAG.sub("", prompt).split())


def case(model, name, prompt, seed, embeddings=(), **kwargs):
    maker = sdxl.case if model == "sdxl" else pipelines.case
    entry = maker(model, name, prompt=prompt, seed=seed, **kwargs)
    loras = [dict(name=n, file=f"{LORA_DIR}/{n}.safetensors", weight=float(w)) for n, w in LORA_TAG.findall(prompt)]
    entry.update(folder=MODELS[model], diffusers_prompt=strip_tags(prompt), loras=loras,
                 embeddings=[dict(name=n, file=f"{EMBEDDING_DIR}/{n}.safetensors") for n in embeddings])
    return entry


def make_cases():
    """sd1 (seed 601, the default PNDM sampler, 12 steps, CFG 7.5): no LoRA, then each format at
    weight 1, weights 0.5 and -0.8, UNet-only and text-encoder-only files, two LoRAs at once; the
    LCM-LoRA way (lcm sampler, 4 steps, CFG 1); sd2 and SDXL with kohya files; embeddings on sd1
    (in the prompt, in the negative prompt) and SDXL."""
    house = pipelines.PROMPT
    cases = [case("sd1", "plain", house, 601)]
    for stem, weight in (("sd1_kohya_r4", "1"), ("sd1_kohya_r4", "0.5"), ("sd1_kohya_r4", "-0.8"),
                         ("sd1_kohya_unet_r8", "1"), ("sd1_kohya_te_r8", "1"), ("sd1_peft_r8", "1"),
                         ("sd1_peft_plain_r4", "1"), ("sd1_diffusers_old_r4", "1"), ("sd1_locon_r4", "1")):
        label = stem.removeprefix("sd1_") + ("" if weight == "1" else f"-w{weight}")
        cases.append(case("sd1", label, f"{house} <lora:{stem}:{weight}>", 601))
    cases.append(case("sd1", "two-loras", "a red house <lora:sd1_kohya_r4:0.8> by the sea "
                      "<lora:sd1_peft_r8:0.4> at sunset", 601))
    forest, _ = pipelines.PROMPTS["forest"]
    cases.append(case("sd1", "lcm_lora_r8", f"{forest} <lora:sd1_lcm_lora_r8:1>", 602, sampler="lcm", steps=4,
                      cfg=1.0, negative_prompt=None))
    cases.append(case("sd2", "kohya_r8", f"{house} <lora:sd2_kohya_r8:1>", 603))
    cases.append(case("sdxl", "kohya_r4", f"{house} <lora:sdxl_kohya_r4:1>", 604))
    cases.append(case("sd1", "embedding", "a tinystyle house by the sea at sunset", 605, embeddings=("tinystyle",)))
    cases.append(case("sd1", "embedding-negative", house, 606, negative_prompt="blurry, tinystyle",
                      embeddings=("tinystyle",)))
    cases.append(case("sdxl", "embedding", "a tinyxl house by the sea at sunset", 607, embeddings=("tinyxl",)))
    for entry in cases:
        entry["negative_prompt_has_embedding"] = entry["negative_prompt"] is not None and any(
            e["name"] in entry["negative_prompt"] for e in entry["embeddings"])
    return cases


def lora_paths(out_dir, entry):
    return [(os.path.join(out_dir, lora["file"]), lora["weight"]) for lora in entry["loras"]]


def prepared(out_dir, entry, dtype=torch.float32, ours=False):
    """A fresh base pipeline with the case's LoRAs and embeddings: diffusers' way, or (`ours`) the
    LoRAs merged by the README's rule (embeddings still diffusers')."""
    model = entry["model"]
    pipe = load_base(model, dtype)
    if entry["loras"]:
        if ours:
            merge(pipe, model, lora_paths(out_dir, entry), dtype)
        else:
            apply_with_diffusers(pipe, lora_paths(out_dir, entry))
    for embedding in entry["embeddings"]:
        load_embedding_with_diffusers(pipe, os.path.join(out_dir, embedding["file"]), embedding["name"], model)
    return pipe


def run(pipe, entry, out_dir):
    """(uint8 image, final latents) of a case, with the prompt diffusers gets."""
    plain = dict(entry, prompt=entry["diffusers_prompt"])
    runner = sdxl.run_case if entry["model"] == "sdxl" else pipelines.run_case
    return runner(pipe, plain, out_dir)


def plain_run(entry, out_dir):
    """The same case without its LoRAs and embeddings (an embedding's name stays in the prompt as
    plain words): what a loader that ignores them would give."""
    return run(load_base(entry["model"]), entry, out_dir)


def describe(entry, pipe, out_dir):
    """The informational fields: scheduler, token ids, each LoRA's scale per component."""
    model = entry["model"]
    scheduler_for = sdxl.scheduler_for if model == "sdxl" else pipelines.scheduler_for
    _, class_name, overrides = scheduler_for(pipe, entry)
    entry["diffusers_scheduler"] = dict(class_name=class_name, overrides=overrides)
    counts = {e["name"]: EMBEDDINGS[e["name"]]["vectors"] for e in entry["embeddings"]}
    tokenizers = (("prompt", pipe.tokenizer),) + ((("prompt_2", pipe.tokenizer_2),) if model == "sdxl" else ())
    for label, tokenizer in tokenizers:
        entry[f"{label}_ids"] = diffusers_ids(pipe, tokenizer, entry["diffusers_prompt"])
        # A1111 replaces each tag by "" and keeps the spaces around it: the same ids
        a1111_text = LORA_TAG.sub("", entry["prompt"])
        assert diffusers_ids(pipe, tokenizer, a1111_text) == entry[f"{label}_ids"], entry["name"]
        if entry["negative_prompt"] is not None and entry["cfg"] > 1:
            entry[f"negative_{label}_ids"] = diffusers_ids(pipe, tokenizer, entry["negative_prompt"])
        if counts:
            added = sorted(placeholders(tokenizer, counts).items())
            entry[f"{label}_embedding_ids"] = {str(i): list(v) for i, v in added}
    for lora in entry["loras"]:
        parts = {}
        for component, _, _, _, scale in read_lora(os.path.join(out_dir, lora["file"]), pipe, model):
            parts.setdefault(component, set()).add(scale)
        lora["alpha_over_rank"] = {c: sorted(s) for c, s in sorted(parts.items())}


def mean_levels(a, b):
    return float(np.abs(a.astype(np.int32) - b.astype(np.int32)).mean())


def compare(a, b):
    """(max levels, share within 1 level, latents max abs diff) of two (pixels, latents)."""
    max_levels, within_one = pipelines.level_difference(a[0], b[0])
    return max_levels, within_one, float((a[1].double() - b[1].double()).abs().max())


def meets_bar(figures):
    max_levels, within_one, latents = figures
    return max_levels <= pipelines.BAR["max_levels"] and within_one >= pipelines.BAR["within_one_level"] \
        and latents <= 5e-3


def figures_text(figures):
    return f"max {figures[0]} levels, {100 * figures[1]:.2f}% within 1 level, latents {figures[2]:.1e}"


# --- the build --------------------------------------------------------------------------------

def lora_record(out_dir, stem, spec, entries):
    """loras.json's entry for a file: format, dtype, modules per component, rank/alpha per group,
    metadata, hashes, and what diffusers does with it."""
    path = os.path.join(out_dir, LORA_DIR, f"{stem}.safetensors")
    with safetensors.safe_open(path, "pt") as f:
        metadata = f.metadata()
        count = len(list(f.keys()))
    with open(path, "rb") as f:
        sha256 = hashlib.sha256(f.read()).hexdigest()
    modules = {}
    for component, *_ in entries:
        modules[component] = modules.get(component, 0) + 1
    data_hash = tensor_data_hash(path)
    return dict(file=f"{LORA_DIR}/{stem}.safetensors", model=spec["model"], base_folder=MODELS[spec["model"]],
                format=spec["format"], dtype=str(spec["dtype"]).removeprefix("torch."), tensors=count,
                modules=modules, rank_alpha={g: list(v) for g, v in spec["parts"].items()},
                metadata=None if metadata is None else dict(sorted(metadata.items())), sha256=sha256,
                tensor_data_sha256=data_hash, a1111_short_hash=data_hash[:12],
                diffusers=diffusers_response(path, spec["model"]) or "loads")


def build(out_dir):
    """Writes the whole folder (but README.md); returns (cases, {name: (pixels, latents)})."""
    pipelines.clear_folder(out_dir)
    for sub in (LORA_DIR, EMBEDDING_DIR):
        os.makedirs(os.path.join(out_dir, sub))
    bases = {model: load_base(model) for model in MODELS}
    records = {}
    for stem, spec in LORAS.items():
        entries = write_lora(os.path.join(out_dir, LORA_DIR, f"{stem}.safetensors"), stem, spec, bases[spec["model"]])
        records[stem] = lora_record(out_dir, stem, spec, entries)
    for name, spec in EMBEDDINGS.items():
        write_embedding(os.path.join(out_dir, EMBEDDING_DIR, f"{name}.safetensors"), spec)
    with open(os.path.join(out_dir, "loras.json"), "w", encoding="utf-8") as f:
        json.dump(records, f, indent=1, sort_keys=False)
        f.write("\n")

    cases = make_cases()
    references = {}
    for entry in cases:
        pipe = prepared(out_dir, entry)
        result = run(pipe, entry, out_dir)
        references[entry["name"]] = result
        pipelines.save_png(result[0], os.path.join(out_dir, entry["output"]))
        describe(entry, pipe, out_dir)
        if entry["loras"] or entry["embeddings"]:
            plain = plain_run(entry, out_dir)
            effect = compare(result, plain)
            entry["effect_vs_plain"] = dict(max_levels=effect[0],
                                            mean_levels=round(mean_levels(result[0], plain[0]), 2),
                                            within_one_level=round(effect[1], 4),
                                            latents_max_abs_diff=float(f"{effect[2]:.3g}"))
            assert effect[0] > MIN_EFFECT and not meets_bar(effect), (entry["name"], effect)
        std = float(result[0].std())
        print(f"{entry['name']:28s} std {std:5.1f} levels, latents std {result[1].std():6.2f}"
              + (f", vs plain: {figures_text(effect)}, mean {entry['effect_vs_plain']['mean_levels']}"
                 if entry["loras"] or entry["embeddings"] else ""))
        assert std > 20, f"{entry['name']}: nearly flat image"
    latents = {name: final.float().contiguous() for name, (_, final) in references.items()}
    safetensors.torch.save_file(latents, os.path.join(out_dir, "latents.safetensors"), metadata={"format": "pt"})
    pipelines.write_cases(os.path.join(out_dir, "cases.json"), cases)
    parity.write_versions(out_dir)
    path = os.path.join(out_dir, "versions.json")
    with open(path, encoding="utf-8") as f:
        versions = json.load(f)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(dict(versions, peft=peft.__version__), f, indent=2)
        f.write("\n")
    return cases, references


def check_rebuild(out_dir):
    """A second build in a temporary folder writes the same files, byte for byte."""
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            build(tmp)
        first, second = tree_bytes(out_dir), tree_bytes(tmp)
    differ = sorted(name for name in first.keys() | second.keys() if first.get(name) != second.get(name))
    assert not differ, f"a second build wrote different or other files: {differ}"
    print(f"determinism: a second build writes the same {len(first)} files byte for byte")


# --- checks -----------------------------------------------------------------------------------

def check_loras(out_dir, cases, references):
    """For every LoRA case: diffusers' fused weights are the README's merge, and the image made
    with our merge meets the bar (it is in fact identical or within a level)."""
    for entry in cases:
        if not entry["loras"]:
            continue
        pipe = prepared(out_dir, entry)
        count, worst = check_fused(entry["model"], lora_paths(out_dir, entry), fused_weights(pipe, entry["model"]))
        figures = compare(run(prepared(out_dir, entry, ours=True), entry, out_dir), references[entry["name"]])
        print(f"{entry['name']}: diffusers fused {count} modules = weight * alpha/rank * up @ down (rel. diff "
              f"{worst:.1e}); image with our merge vs diffusers: {figures_text(figures)}")
        assert meets_bar(figures), entry["name"]


def check_routes(out_dir, cases, references):
    """fuse_lora(lora_scale=w) and set_adapters([name], [w]) + fuse_lora() fuse the same weights;
    LoRAs applied at run time (not fused) give the fused image within the bar."""
    entry = next(c for c in cases if c["name"] == "sd1-kohya_r4-w0.5")
    (path, weight), = lora_paths(out_dir, entry)
    a = prepared(out_dir, entry)
    b = load_base("sd1")
    name = os.path.splitext(os.path.basename(path))[0]
    b.load_lora_weights(os.path.dirname(path), weight_name=os.path.basename(path), adapter_name=name)
    b.set_adapters([name], adapter_weights=[weight])
    b.fuse_lora(adapter_names=[name])
    fa, fb = fused_weights(a, "sd1"), fused_weights(b, "sd1")
    worst = max(float((fa[k] - fb[k]).abs().max()) for k in fa)
    print(f"fuse_lora(lora_scale=0.5) vs set_adapters(weight 0.5) + fuse_lora(): weights differ by up to {worst:.1e}")
    assert worst < 1e-6
    for name in ("sd1-two-loras", "sd1-locon_r4", "sdxl-kohya_r4"):
        entry = next(c for c in cases if c["name"] == name)
        pipe = load_base(entry["model"])
        names = []
        for path, _ in lora_paths(out_dir, entry):
            names.append(os.path.splitext(os.path.basename(path))[0])
            pipe.load_lora_weights(os.path.dirname(path), weight_name=os.path.basename(path), adapter_name=names[-1])
        pipe.set_adapters(names, adapter_weights=[lora["weight"] for lora in entry["loras"]])
        figures = compare(run(pipe, entry, out_dir), references[name])
        print(f"{name}, LoRAs at run time (set_adapters, not fused) vs fused: {figures_text(figures)}")
        assert meets_bar(figures), name


def check_loha(out_dir):
    path = os.path.join(out_dir, LORA_DIR, "sd1_loha_r4.safetensors")
    response = diffusers_response(path, "sd1")
    print(f"sd1_loha_r4: diffusers load_lora_weights -> {response}")
    assert response is not None, "diffusers loaded a LoHa file"
    try:
        read_lora(path, load_base("sd1"), "sd1")
    except Refused as refusal:
        print(f"sd1_loha_r4: the README's reader refuses: {refusal}")
    else:
        raise AssertionError("read_lora accepted a LoHa file")


def check_partial_alpha(out_dir):
    """A kohya file whose first 10 modules lack `.alpha`: diffusers gives them the file's most
    common alpha (its LoraConfig has one lora_alpha plus an alpha_pattern of the exceptions), where
    kohya and A1111 (and the README's rule) use alpha = rank, scale 1. The fixtures' files all carry
    every alpha; this only records the difference."""
    tensors = safetensors.torch.load_file(os.path.join(out_dir, LORA_DIR, "sd1_kohya_r4.safetensors"))
    dropped = [k for k in tensors if k.endswith(".alpha")][:10]
    for key in dropped:
        del tensors[key]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "partial.safetensors")
        safetensors.torch.save_file(tensors, path)
        pipe = load_base("sd1")
        apply_with_diffusers(pipe, [(path, 1.0)])
        fused = fused_weights(pipe, "sd1")
        base = load_base("sd1")
        scales = {}
        for component, name, down, up, scale in read_lora(path, base, "sd1"):
            before = modules_of(base, "sd1")[component, name].weight.detach()
            delta = delta_of(down, up, before.shape)
            theirs = float(((fused[component, name] - before) * delta).sum() / (delta * delta).sum())
            scales.setdefault((round(scale, 4), round(theirs, 4)), []).append(name)
    for (ours, theirs), names in sorted(scales.items()):
        print(f"kohya file with {len(dropped)} alphas removed: {len(names)} modules, our scale {ours}, "
              f"diffusers' {theirs}")
    assert set(scales) == {(0.25, 0.25), (1.0, 0.25)}, sorted(scales)


def check_embeddings(out_dir, cases, references):
    """The README's rule gives diffusers' ids (added token i of an embedding = its vector i) and,
    on sd1, diffusers' image: the prompt encoded with the vectors put in place of the name's BPE
    tokens, through our own copy of the token embedding table."""
    for entry in cases:
        if not entry["embeddings"]:
            continue
        counts = {e["name"]: EMBEDDINGS[e["name"]]["vectors"] for e in entry["embeddings"]}
        pipe = prepared(out_dir, entry)
        tokenizers = [(pipe.tokenizer, pipe.text_encoder, "emb_params" if entry["model"] != "sdxl" else "clip_l")]
        if entry["model"] == "sdxl":
            tokenizers.append((pipe.tokenizer_2, pipe.text_encoder_2, "clip_g"))
        texts = [entry["diffusers_prompt"]] + ([entry["negative_prompt"]] if entry["cfg"] > 1 else [])
        for tokenizer, encoder, key in tokenizers:
            added = placeholders(tokenizer, counts)
            for text in texts:
                theirs = [added.get(i, i) for i in diffusers_ids(pipe, tokenizer, text)]
                assert theirs == a1111_ids(tokenizer, text, counts), (entry["name"], text)
            table = encoder.get_input_embeddings().weight
            for e in entry["embeddings"]:
                vectors = safetensors.torch.load_file(os.path.join(out_dir, e["file"]))[key].float()
                rows = torch.stack([table[i] for i, (n, _) in sorted(added.items()) if n == e["name"]])
                assert torch.equal(rows, vectors), (entry["name"], key)
        print(f"{entry['name']}: diffusers' ids = the README's rule, added rows = the file's vectors "
              f"({', '.join(f'{n}: {c} vectors' for n, c in counts.items())})")
        if entry["model"] == "sdxl":
            continue
        ours = load_base("sd1")
        encoder, tokenizer = ours.text_encoder, ours.tokenizer
        vectors = {e["name"]: safetensors.torch.load_file(os.path.join(out_dir, e["file"]))["emb_params"].float()
                   for e in entry["embeddings"]}
        table = encoder.get_input_embeddings().weight.detach()
        extra = torch.cat([vectors[n] for n in counts])
        slots = {(n, v): parity.VOCAB_SIZE + sum(list(counts.values())[:k]) + v
                 for k, n in enumerate(counts) for v in range(counts[n])}
        encoder.set_input_embeddings(torch.nn.Embedding.from_pretrained(torch.cat([table, extra]), freeze=True))

        def encode(text):
            ids = [slots.get(i, i) if isinstance(i, tuple) else i for i in a1111_ids(tokenizer, text, counts)]
            with torch.no_grad():
                return encoder(torch.tensor([ids]))[0]

        plain = dict(entry, prompt=None)
        runner = pipelines.StableDiffusionPipeline(**ours.components, requires_safety_checker=False)
        runner.set_progress_bar_config(disable=True)
        images = runner(prompt_embeds=encode(entry["diffusers_prompt"]),
                        negative_prompt_embeds=encode(entry["negative_prompt"]),
                        num_inference_steps=plain["steps"], guidance_scale=plain["cfg"],
                        generator=torch.Generator("cpu").manual_seed(plain["seed"]), output_type="np",
                        width=plain["width"], height=plain["height"]).images
        pixels = (images[0] * 255).round().astype(np.uint8)
        max_levels, within_one = pipelines.level_difference(pixels, references[entry["name"]][0])
        print(f"{entry['name']}: our encoding (vectors in place of the name's tokens) vs diffusers: "
              f"max {max_levels} levels, {100 * within_one:.2f}% within 1")
        assert max_levels <= pipelines.BAR["max_levels"], entry["name"]


def sensitivity(out_dir, cases, references):
    """Every LoRA case again in float64 with our merge (same weights, same noise drawn in float32):
    two correct implementations must meet the bar."""
    unfair = []
    for entry in cases:
        if not entry["loras"]:
            continue
        noise = sdxl.float32_noise if entry["model"] == "sdxl" else pipelines.float32_noise
        with noise():
            result = run(prepared(out_dir, entry, dtype=torch.float64, ours=True), entry, out_dir)
        figures = compare(result, references[entry["name"]])
        print(f"float64 (our merge) vs float32 diffusers {entry['name']}: {figures_text(figures)}")
        if not meets_bar(figures):
            unfair.append(entry["name"])
    assert not unfair, f"float64 runs miss the parity bar: {unfair}"


def mistakes(out_dir, cases, references):
    """What typical loader mistakes do to the images; each must miss the bar."""
    def variant(entry, keep=lambda component, down: True, scale=None):
        pipe = load_base(entry["model"])
        modules = modules_of(pipe, entry["model"])
        with torch.no_grad():
            for path, weight in lora_paths(out_dir, entry):
                for component, name, down, up, s in read_lora(path, pipe, entry["model"]):
                    if keep(component, down):
                        layer = modules[component, name].weight
                        factor = s if scale is None else scale(s, down)
                        layer.add_(weight * factor * delta_of(down, up, layer.shape))
        return run(pipe, entry, out_dir)

    by_name = {c["name"]: c for c in cases}
    conv3 = lambda d: d.dim() == 4 and d.shape[-1] > 1  # noqa: E731
    trials = [
        ("sd1-kohya_r4", "alpha ignored (alpha 1, rank 4: scale 1 instead of 0.25)", dict(scale=lambda s, d: 1.0)),
        ("sd2-kohya_r8", "alpha not divided by rank (alpha 4, rank 8: 4 instead of 0.5)",
         dict(scale=lambda s, d: s * d.shape[0])),
        ("sd1-peft_r8", "lora_adapter_metadata ignored (alpha = rank: 1 instead of 0.5)",
         dict(scale=lambda s, d: 1.0)),
        ("sd1-locon_r4", "the file's one ss_network_alpha (2) for the 3x3 convolutions too (2/8, not 1/8)",
         dict(scale=lambda s, d: 2.0 / d.shape[0] if conv3(d) else s)),
        ("sd1-locon_r4", "3x3 convolutions skipped", dict(keep=lambda c, d: not conv3(d))),
        ("sd1-lcm_lora_r8", "every Conv2d layer skipped (3x3 and 1x1; linear layers kept)",
         dict(keep=lambda c, d: d.dim() < 4)),
        ("sd1-kohya_r4", "text encoder part skipped", dict(keep=lambda c, d: c == "unet")),
        ("sd1-kohya_r4", "UNet part skipped", dict(keep=lambda c, d: c != "unet")),
        ("sdxl-kohya_r4", "second text encoder (lora_te2_) skipped", dict(keep=lambda c, d: c != "text_encoder_2")),
    ]
    caught = True
    for name, label, how in trials:
        figures = compare(variant(by_name[name], **how), references[name])
        print(f"{name}, {label}: {figures_text(figures)}")
        caught &= not meets_bar(figures)
    for name in ("sd1-kohya_r4", "sd1-kohya_r4-w0.5"):
        other = "sd1-kohya_r4-w0.5" if name == "sd1-kohya_r4" else "sd1-kohya_r4-w-0.8"
        figures = compare(references[name], references[other])
        print(f"{name} vs {other} (only the weight differs): {figures_text(figures)}")
        caught &= not meets_bar(figures)
    assert caught, "a mistake meets the parity bar"


# --- main -------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", nargs="?", default=OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="skip the rebuild, float64 and mistakes checks")
    options = parser.parse_args()
    out_dir = options.out_dir

    pipelines.quiet_and_seeded()
    cases, references = build(out_dir)
    check_loras(out_dir, cases, references)
    check_routes(out_dir, cases, references)
    check_loha(out_dir)
    check_partial_alpha(out_dir)
    check_embeddings(out_dir, cases, references)
    if not options.quick:
        check_rebuild(out_dir)
        sensitivity(out_dir, cases, references)
        mistakes(out_dir, cases, references)
    total = sum(len(data) for data in tree_bytes(out_dir).values())
    print(f"{len(cases)} cases, {len(LORAS)} LoRA files, {len(EMBEDDINGS)} embeddings, "
          f"{total / 1e6:.2f} MB in {out_dir} (README.md not counted)")


if __name__ == "__main__":
    main()

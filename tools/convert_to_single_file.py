#!/usr/bin/env python3
"""Converts a diffusers SDXL folder into one .safetensors in the original SGM layout.

SDXL checkpoints on model sites are single files in the layout of Stability AI's `sgm` code (the
one `sd_xl_base_1.0.safetensors` has): the UNet and VAE under the CompVis/LDM names of SD 1.x,
and the two text encoders under `conditioner.embedders.N`:

| diffusers folder | single file |
|---|---|
| `unet/` | `model.diffusion_model.*`: `time_embed.{0,2}`, `label_emb.0.{0,2}` (the text_time `add_embedding`), `input_blocks`, `middle_block`, `output_blocks`, `out.{0,2}`; transformer blocks keep diffusers' inner names |
| `vae/` | `first_stage_model.*`: LDM names, mid-block attention q/k/v/proj_out as 1x1 convolutions |
| `text_encoder/` (CLIP ViT-L) | `conditioner.embedders.0.transformer.text_model.*`: transformers' names, plus the int64 `text_model.embeddings.position_ids` |
| `text_encoder_2/` (OpenCLIP ViT-bigG) | `conditioner.embedders.1.model.*`: OpenCLIP names (`token_embedding.weight`, `positional_embedding`, `transformer.resblocks.N.{ln_1, ln_2, attn.in_proj_weight, attn.in_proj_bias, attn.out_proj, mlp.c_fc, mlp.c_proj}` with q, k, v fused in that order, `ln_final`), `text_projection` as OpenCLIP stores it (`[width, projection]`, the transpose of transformers' `text_projection.weight`) and a scalar `logit_scale` |

A refiner-style folder (no `text_encoder/`: bigG only, as SDXL refiner 1.0) gets its bigG encoder
under `conditioner.embedders.0.model.` instead. Every tensor keeps its dtype (a float16 folder gives a
float16 file; `position_ids` are int64). The file's metadata carries `modelspec.architecture`
(`stable-diffusion-xl-v1-base` or `stable-diffusion-xl-v1-refiner`, as Stability AI's files do).
The key map is the project's own (tools/make_single_file_fixtures.py for the UNet and VAE), written
from the two layouts.

    .venv-ref/bin/python tools/convert_to_single_file.py FOLDER OUT.safetensors [--variant fp16] [--check]

`--variant fp16` reads `*.fp16.safetensors` (folders that hold both precisions). `--check` loads the
result with diffusers' `from_single_file` (offline, `config=FOLDER`) and requires the state dicts of
text_encoder, text_encoder_2, unet and vae to equal those `from_pretrained(FOLDER)` gives: the same
names, dtypes and exactly equal values. tools/make_sdxl_fixtures.py uses this module.
"""
import argparse
import json
import math
import os
import re
import sys

import safetensors.torch
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_single_file_fixtures as ldm  # noqa: E402  (UNet and VAE diffusers -> LDM names)

CLIP_L = "conditioner.embedders.0.transformer."
BIGG = "conditioner.embedders.{}.model."
# SDXL's text_time embedding: diffusers' add_embedding MLP is the LDM label embedding.
ADD_EMBEDDING = [("add_embedding.linear_1", "label_emb.0.0", None), ("add_embedding.linear_2", "label_emb.0.2", None)]
ARCHITECTURES = {("text_encoder", "text_encoder_2"): "stable-diffusion-xl-v1-base",
                 ("text_encoder_2",): "stable-diffusion-xl-v1-refiner"}
LOGIT_SCALE = math.log(100)  # OpenCLIP's trained logit scale (clamped at ln 100); unused for generation
COMPONENTS = ("text_encoder", "text_encoder_2", "unet", "vae")


# --- diffusers -> SGM names -------------------------------------------------------------------

def unet_to_sgm(state, config):
    modules = ldm.unet_modules(config) + ADD_EMBEDDING
    return {ldm.UNET + ldm.rename(name, modules): t for name, t in state.items()}


def clip_l_to_sgm(state):
    """CLIP ViT-L under `conditioner.embedders.0.transformer.text_model.` (with or without the
    `text_model.` prefix in the folder), with the int64 position_ids real files carry."""
    out = {CLIP_L + "text_model." + name.removeprefix("text_model."): t
           for name, t in state.items() if not name.endswith("position_ids")}
    positions = out[CLIP_L + "text_model.embeddings.position_embedding.weight"]
    out[CLIP_L + "text_model.embeddings.position_ids"] = torch.arange(
        positions.shape[0], dtype=torch.int64, device=positions.device).unsqueeze(0)
    return out


def bigg_to_sgm(state, root):
    """transformers' CLIPTextModelWithProjection -> OpenCLIP names under `root`: every layer,
    q/k/v fused (rows q, k, v), text_projection transposed to [width, projection], logit_scale."""
    state = {name.removeprefix("text_model."): t for name, t in state.items() if not name.endswith("position_ids")}
    projection = state.pop("text_projection.weight")
    out = {root + "token_embedding.weight": state.pop("embeddings.token_embedding.weight"),
           root + "positional_embedding": state.pop("embeddings.position_embedding.weight"),
           root + "ln_final.weight": state.pop("final_layer_norm.weight"),
           root + "ln_final.bias": state.pop("final_layer_norm.bias"),
           root + "text_projection": projection.T.contiguous(),
           root + "logit_scale": torch.tensor(LOGIT_SCALE, dtype=projection.dtype, device=projection.device)}
    layers = sorted({int(m.group(1)) for m in (re.match(r"encoder\.layers\.(\d+)\.", n) for n in state) if m})
    assert layers == list(range(len(layers))), layers
    for i in layers:
        src, dst = f"encoder.layers.{i}.", f"{root}transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[f"{dst}attn.in_proj_{kind}"] = torch.cat([state.pop(f"{src}self_attn.{p}_proj.{kind}") for p in "qkv"])
            for new, old in ldm.OPENCLIP_LAYER.items():
                out[f"{dst}{old}.{kind}"] = state.pop(f"{src}{new}.{kind}")
    assert not state, f"text_encoder_2 tensors left over: {sorted(state)}"
    return out


def to_single_file(states, configs):
    """{component: diffusers state dict} (text_encoder optional) and the unet/vae configs ->
    (SGM state dict, architecture name)."""
    encoders = tuple(c for c in ("text_encoder", "text_encoder_2") if c in states)
    assert encoders in ARCHITECTURES, f"not an SDXL base or refiner: text encoders {encoders}"
    out = unet_to_sgm(states["unet"], configs["unet"])
    out.update(ldm.vae_to_ldm(states["vae"], configs["vae"]))
    if "text_encoder" in states:
        out.update(clip_l_to_sgm(states["text_encoder"]))
    out.update(bigg_to_sgm(states["text_encoder_2"], BIGG.format(len(encoders) - 1)))
    return {name: out[name] for name in sorted(out)}, ARCHITECTURES[encoders]


# --- folders ----------------------------------------------------------------------------------

def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def present_components(folder):
    """The model components model_index.json names (a refiner has text_encoder [null, null])."""
    index = read_json(os.path.join(folder, "model_index.json"))
    return [c for c in COMPONENTS if (index.get(c) or [None])[0] is not None]


def component_weights(folder, component, variant=None):
    stem = "model" if component.startswith("text_encoder") else "diffusion_pytorch_model"
    name = f"{stem}.safetensors" if variant is None else f"{stem}.{variant}.safetensors"
    path = os.path.join(folder, component, name)
    if not os.path.exists(path):
        found = sorted(f for f in os.listdir(os.path.join(folder, component)) if f.endswith(".safetensors"))
        sys.exit(f"{path} not found (there: {', '.join(found) or 'no .safetensors'}; choose with --variant)")
    return safetensors.torch.load_file(path)


def convert(folder, variant=None):
    """(SGM state dict, metadata) of a diffusers SDXL folder."""
    components = present_components(folder)
    states = {c: component_weights(folder, c, variant) for c in components}
    configs = {c: read_json(os.path.join(folder, c, "config.json")) for c in ("unet", "vae")}
    tensors, architecture = to_single_file(states, configs)
    metadata = {"format": "pt", "modelspec.sai_model_spec": "1.0.0", "modelspec.architecture": architecture,
                "modelspec.implementation": "sgm"}
    return tensors, metadata


def write(folder, path, variant=None):
    tensors, metadata = convert(folder, variant)
    save_file(tensors, path, metadata)
    return tensors, metadata


def save_file(tensors, path, metadata):
    """safetensors' save_file with the metadata keys in sorted order: safetensors writes them in
    hash-map order, which changes from run to run (the header is rewritten in place, same length)."""
    safetensors.torch.save_file(tensors, path, metadata=metadata)
    with open(path, "r+b") as f:
        length = int.from_bytes(f.read(8), "little")
        header = f.read(length)
        start = header.index(b'{"__metadata__":{') + len(b'{"__metadata__":')
        end = header.index(b"}", start) + 1
        ordered = json.dumps(dict(sorted(metadata.items())), separators=(",", ":")).encode()
        assert json.loads(header[start:end]) == metadata and len(ordered) == end - start, header[:end]
        f.seek(8 + start)
        f.write(ordered)


# --- the check against diffusers --------------------------------------------------------------

def check(folder, path, variant=None):
    """diffusers' from_single_file(path, config=folder) gives exactly from_pretrained(folder)'s
    text_encoder, text_encoder_2, unet and vae state dicts. Returns {component: tensor count}."""
    import diffusers
    index = read_json(os.path.join(folder, "model_index.json"))
    pipeline_class = getattr(diffusers, index["_class_name"])
    with safetensors.safe_open(path, "pt") as f:
        dtypes = {f.get_slice(k).get_dtype() for k in f.keys()} - {"I64"}
    assert len(dtypes) == 1, dtypes
    dtype = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}[dtypes.pop()]
    single = pipeline_class.from_single_file(path, config=folder, local_files_only=True, torch_dtype=dtype)
    folder_pipe = pipeline_class.from_pretrained(folder, variant=variant, local_files_only=True, torch_dtype=dtype)
    counts = {}
    for component in present_components(folder):
        want = folder_pipe.components[component].state_dict()
        got = single.components[component].state_dict()
        assert set(want) == set(got), (f"{component}: missing {sorted(set(want) - set(got))[:5]}, "
                                       f"unexpected {sorted(set(got) - set(want))[:5]}")
        for key, tensor in want.items():
            assert got[key].dtype == tensor.dtype == dtype, f"{component} {key}: {got[key].dtype} vs {tensor.dtype}"
            assert torch.equal(got[key], tensor), f"{component} {key}: values differ"
        counts[component] = len(want)
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", help="diffusers StableDiffusionXLPipeline folder (model_index.json, unet/, ...)")
    parser.add_argument("out", help="the .safetensors file to write")
    parser.add_argument("--variant", help="read the weights of this variant (e.g. fp16)")
    parser.add_argument("--check", action="store_true",
                        help="load the result with diffusers' from_single_file and compare with the folder")
    options = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tensors, metadata = write(options.folder, options.out, options.variant)
    print(f"{options.out}: {len(tensors)} tensors, {metadata['modelspec.architecture']}")
    if options.check:
        counts = check(options.folder, options.out, options.variant)
        print("from_single_file equals the folder exactly: " + ", ".join(f"{c} {n}" for c, n in counts.items()))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the single-file checkpoint fixtures of Tests/DiffusionTests/Fixtures/single_file/.

A "single file" is how Stable Diffusion 1.x / 2.x models are shared on model sites: one
.safetensors holding the UNet, VAE and text encoder under the original CompVis/LDM names
(`model.diffusion_model.input_blocks.1.0.in_layers.2.weight`, `first_stage_model.decoder.up.3...`,
`cond_stage_model.transformer.text_model...` for SD1's OpenAI CLIP, `cond_stage_model.model...`
for SD2's OpenCLIP). This script turns the tiny diffusers models of ../parity/ into such files with
its own diffusers -> LDM key map, then checks each file with diffusers' own single-file loader.

    .venv-ref/bin/python tools/make_single_file_fixtures.py Tests/DiffusionTests/Fixtures

reads Fixtures/parity/{sd1,sd2,sd1-fp16} and Fixtures/configs/{sd15,sd21}-*.hub.json, writes
Fixtures/single_file/:
- sd1.safetensors, sd2.safetensors, sd1-fp16.safetensors: the parity models, every tensor
  bit-identical (float16 stays float16). Extras that real files carry and a loader must skip:
  sd1 has `model_ema.*` junk (EMA copies with LDM's dot-less names, `decay`, an int32
  `num_updates`) and the DDPM schedule buffers (`betas`, `alphas_cumprod`, ...); sd1/sd1-fp16
  keep the int64 `position_ids`; sd2 has a 4th OpenCLIP layer that diffusers drops (as the 24th of
  OpenCLIP ViT-H in SD2), `text_projection` and a scalar `logit_scale`.
- shapes-sd15.json, shapes-sd21.json: names and shapes (no data) of full-size SD1.5 / SD2.1
  single files made the same way from the Hub configs, with the diffusers names and shapes each
  component must map to: {"ldm": {name: [dtype, shape]}, "diffusers": {component: {name: shape}}}.

Checks, for each tiny file: diffusers' `convert_ldm_unet_checkpoint`, `convert_ldm_vae_checkpoint`,
`convert_ldm_clip_checkpoint` / `convert_open_clip_checkpoint` give back every tensor of the
folder model with the same name, dtype and exact values (no tensor more or less, apart from the
extras above); `UNet2DConditionModel.from_single_file`, `AutoencoderKL.from_single_file` and
`CLIPTextModel` built from the converted text weights reproduce the folder's reference.safetensors
outputs. For the full-size shapes, the same converters map the LDM names and shapes back to
exactly the diffusers models' own. Deterministic output.
"""
import json
import os
import re
import sys

import diffusers
import safetensors.torch
import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders import single_file_utils as sfu
from transformers import CLIPTextConfig, CLIPTextModel

UNET, VAE, TEXT = "model.diffusion_model.", "first_stage_model.", "cond_stage_model."
MODELS = {"sd1": "sd1", "sd2": "sd2", "sd1-fp16": "sd1"}  # fixture -> family


# --- diffusers -> LDM names -------------------------------------------------------------------

# Resnet parameter names inside one UNet resnet: diffusers -> LDM.
UNET_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
               "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
VAE_RESNET = {"norm1": "norm1", "conv1": "conv1", "norm2": "norm2", "conv2": "conv2",
              "conv_shortcut": "nin_shortcut"}
# The VAE mid-block attention: diffusers linear layers -> LDM 1x1 convolutions.
VAE_ATTENTION = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "proj_out"}
OPENCLIP_LAYER = {"layer_norm1": "ln_1", "layer_norm2": "ln_2", "mlp.fc1": "mlp.c_fc",
                  "mlp.fc2": "mlp.c_proj", "self_attn.out_proj": "attn.out_proj"}


def per_block(value, count):
    return list(value) if isinstance(value, (list, tuple)) else [value] * count


def unet_modules(config):
    """(diffusers module, LDM module, leaf renames or None) for every module of the UNet."""
    n = len(config["block_out_channels"])
    layers = per_block(config["layers_per_block"], n)
    modules = [("conv_in", "input_blocks.0.0", None), ("time_embedding.linear_1", "time_embed.0", None),
               ("time_embedding.linear_2", "time_embed.2", None), ("conv_norm_out", "out.0", None),
               ("conv_out", "out.2", None)]
    index = 1  # input_blocks.0 is conv_in
    for b in range(n):
        attention = config["down_block_types"][b].startswith("CrossAttn")
        for j in range(layers[b]):
            modules.append((f"down_blocks.{b}.resnets.{j}", f"input_blocks.{index}.0", UNET_RESNET))
            if attention:
                modules.append((f"down_blocks.{b}.attentions.{j}", f"input_blocks.{index}.1", None))
            index += 1
        if b < n - 1:
            modules.append((f"down_blocks.{b}.downsamplers.0.conv", f"input_blocks.{index}.0.op", None))
            index += 1
    modules += [("mid_block.resnets.0", "middle_block.0", UNET_RESNET),
                ("mid_block.attentions.0", "middle_block.1", None),
                ("mid_block.resnets.1", "middle_block.2", UNET_RESNET)]
    index = 0
    for b in range(n):
        attention = config["up_block_types"][b].startswith("CrossAttn")
        count = layers[n - 1 - b] + 1
        for j in range(count):
            modules.append((f"up_blocks.{b}.resnets.{j}", f"output_blocks.{index}.0", UNET_RESNET))
            if attention:
                modules.append((f"up_blocks.{b}.attentions.{j}", f"output_blocks.{index}.1", None))
            if j == count - 1 and b < n - 1:
                slot = 2 if attention else 1
                modules.append((f"up_blocks.{b}.upsamplers.0.conv", f"output_blocks.{index}.{slot}.conv", None))
            index += 1
    return modules


def vae_modules(config):
    n = len(config["block_out_channels"])
    modules = []
    for part in ("encoder", "decoder"):
        modules += [(f"{part}.conv_in", f"{part}.conv_in", None), (f"{part}.conv_out", f"{part}.conv_out", None),
                    (f"{part}.conv_norm_out", f"{part}.norm_out", None),
                    (f"{part}.mid_block.resnets.0", f"{part}.mid.block_1", VAE_RESNET),
                    (f"{part}.mid_block.resnets.1", f"{part}.mid.block_2", VAE_RESNET),
                    (f"{part}.mid_block.attentions.0", f"{part}.mid.attn_1", VAE_ATTENTION)]
    for i in range(n):
        for j in range(config["layers_per_block"]):
            modules.append((f"encoder.down_blocks.{i}.resnets.{j}", f"encoder.down.{i}.block.{j}", VAE_RESNET))
        if i < n - 1:
            modules.append((f"encoder.down_blocks.{i}.downsamplers.0.conv", f"encoder.down.{i}.downsample.conv", None))
    for i in range(n):
        level = n - 1 - i  # LDM numbers decoder levels from the lowest resolution up
        for j in range(config["layers_per_block"] + 1):
            modules.append((f"decoder.up_blocks.{i}.resnets.{j}", f"decoder.up.{level}.block.{j}", VAE_RESNET))
        if i < n - 1:
            modules.append((f"decoder.up_blocks.{i}.upsamplers.0.conv", f"decoder.up.{level}.upsample.conv", None))
    modules += [("quant_conv", "quant_conv", None), ("post_quant_conv", "post_quant_conv", None)]
    return modules


def rename(name, modules):
    """The LDM name of a diffusers name: longest matching module prefix, then its leaf renames."""
    best = None
    for diffusers, ldm, leaves in modules:
        if name.startswith(diffusers + ".") and (best is None or len(diffusers) > len(best[0])):
            best = (diffusers, ldm, leaves)
    assert best, f"no LDM module for {name}"
    diffusers, ldm, leaves = best
    leaf = name[len(diffusers) + 1:]
    if leaves is not None:
        for new, old in leaves.items():
            if leaf.startswith(new + "."):
                return f"{ldm}.{old}{leaf[len(new):]}"
        raise AssertionError(f"no leaf rename for {name}")
    return f"{ldm}.{leaf}"


def unet_to_ldm(state, config):
    return {UNET + rename(name, unet_modules(config)): t for name, t in state.items()}


def vae_to_ldm(state, config):
    """VAE names, with the mid-block attention's linear weights as 1x1 convolutions [C, C, 1, 1]."""
    out = {}
    for name, t in state.items():
        ldm = rename(name, vae_modules(config))
        if ".mid.attn_1." in ldm and ldm.endswith(".weight") and t.dim() == 2:
            t = t[:, :, None, None]
        out[VAE + ldm] = t
    return out


def clip_to_ldm(state):
    """SD1: OpenAI CLIP as transformers 4 names it, under cond_stage_model.transformer."""
    return {TEXT + "transformer." + name: t for name, t in state.items()}


def openclip_to_ldm(state, generator, dtype):
    """SD2: OpenCLIP names; q, k, v fused into in_proj_weight/in_proj_bias (rows q, then k, then v).
    Adds what SD2 files have beyond diffusers' model: one more (last) layer, text_projection, logit_scale."""
    state = {name.removeprefix("text_model."): t for name, t in state.items()}
    root = TEXT + "model."
    out = {root + "token_embedding.weight": state.pop("embeddings.token_embedding.weight"),
           root + "positional_embedding": state.pop("embeddings.position_embedding.weight"),
           root + "ln_final.weight": state.pop("final_layer_norm.weight"),
           root + "ln_final.bias": state.pop("final_layer_norm.bias")}
    layers = sorted({int(m.group(1)) for m in (re.match(r"encoder\.layers\.(\d+)\.", n) for n in state) if m})
    for i in layers:
        src, dst = f"encoder.layers.{i}.", f"{root}transformer.resblocks.{i}."
        for kind in ("weight", "bias"):
            out[dst + f"attn.in_proj_{kind}"] = torch.cat([state.pop(src + f"self_attn.{p}_proj.{kind}")
                                                           for p in "qkv"])
        for new, old in OPENCLIP_LAYER.items():
            for kind in ("weight", "bias"):
                out[dst + f"{old}.{kind}"] = state.pop(src + f"{new}.{kind}")
    assert not state, f"text encoder tensors left over: {sorted(state)}"
    extra = f"{root}transformer.resblocks.{len(layers)}."  # the layer SD2 skips (penultimate-layer conditioning)
    for name, t in list(out.items()):
        if name.startswith(f"{root}transformer.resblocks.0."):
            out[extra + name[len(f"{root}transformer.resblocks.0."):]] = random_like(t, generator)
    hidden = out[root + "ln_final.weight"].shape[0]
    out[root + "text_projection"] = random_like(torch.empty(hidden, hidden, dtype=dtype), generator)
    out[root + "logit_scale"] = torch.tensor(4.6052, dtype=dtype)
    return out


def random_like(t, generator):
    if t.device.type == "meta":
        return torch.empty(t.shape, dtype=t.dtype, device="meta")
    return torch.randn(t.shape, generator=generator).to(t.dtype)


def extras_sd1(state, generator):
    """EMA leftovers and the DDPM schedule buffers of CompVis training checkpoints."""
    extras = {"model_ema.decay": torch.tensor(0.9999), "model_ema.num_updates": torch.tensor(1234, dtype=torch.int32)}
    for name in ("input_blocks.0.0.weight", "input_blocks.0.0.bias", "out.2.weight"):
        flat = "model_ema.diffusion_model" + name.replace(".", "")  # LDM's EMA drops the dots
        extras[flat] = random_like(state[UNET + name], generator)
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    alphas = torch.cumprod(1 - betas, 0)
    previous = torch.cat([torch.ones(1, dtype=torch.float64), alphas[:-1]])
    variance = betas * (1 - previous) / (1 - alphas)
    buffers = {"betas": betas, "alphas_cumprod": alphas, "alphas_cumprod_prev": previous,
               "sqrt_alphas_cumprod": alphas.sqrt(), "sqrt_one_minus_alphas_cumprod": (1 - alphas).sqrt(),
               "log_one_minus_alphas_cumprod": (1 - alphas).log(), "sqrt_recip_alphas_cumprod": (1 / alphas).sqrt(),
               "sqrt_recipm1_alphas_cumprod": (1 / alphas - 1).sqrt(), "posterior_variance": variance,
               "posterior_log_variance_clipped": torch.cat([variance[1:2], variance[1:]]).log(),
               "posterior_mean_coef1": betas * previous.sqrt() / (1 - alphas),
               "posterior_mean_coef2": (1 - previous) * (1 - betas).sqrt() / (1 - alphas)}
    extras.update({name: t.float() for name, t in buffers.items()})
    return extras


def single_file(family, text, unet, vae, configs, generator):
    dtype = next(iter(unet.values())).dtype
    out = unet_to_ldm(unet, configs["unet"])
    out.update(vae_to_ldm(vae, configs["vae"]))
    out.update(clip_to_ldm(text) if family == "sd1" else openclip_to_ldm(text, generator, dtype))
    return out


# --- the tiny fixtures ------------------------------------------------------------------------

def folder_weights(folder, component):
    files = [f for f in sorted(os.listdir(os.path.join(folder, component))) if f.endswith(".safetensors")]
    assert len(files) == 1, files
    return safetensors.torch.load_file(os.path.join(folder, component, files[0]))


def read_json(path):
    with open(path) as f:
        return json.load(f)


def check_same(name, converted, original, extra=()):
    """Same names, dtypes, shapes and exact values; names in `extra` may only be in `converted`."""
    unexpected = sorted(set(converted) - set(original) - set(extra))
    missing = sorted(set(original) - set(converted))
    assert not unexpected and not missing, f"{name}: unexpected {unexpected[:5]}, missing {missing[:5]}"
    for key, t in original.items():
        c = converted[key]
        assert c.dtype == t.dtype and c.shape == t.shape, f"{name} {key}: {c.dtype}{list(c.shape)} vs {t.dtype}{list(t.shape)}"
        assert t.device.type == "meta" or torch.equal(c, t), f"{name} {key}: values differ"
    return len(original)


def check_with_diffusers(family, checkpoint, text, unet, vae, configs, text_config):
    """diffusers' converters give back every folder tensor exactly."""
    counts = [check_same("unet", sfu.convert_ldm_unet_checkpoint(checkpoint, configs["unet"]), unet),
              check_same("vae", sfu.convert_ldm_vae_checkpoint(checkpoint, configs["vae"]), vae)]
    text = {("" if k.startswith("text_model.") else "text_model.") + k: t for k, t in text.items()}
    if family == "sd1":
        converted = sfu.convert_ldm_clip_checkpoint(checkpoint)
        counts.append(check_same("text_encoder", converted, text, extra=["text_model.embeddings.position_ids"]))
    else:
        with torch.device("meta"):
            model = CLIPTextModel(CLIPTextConfig(**text_config))
        converted = sfu.convert_open_clip_checkpoint(model, checkpoint)
        layers = text_config["num_hidden_layers"]
        skipped = [k for k in converted if k.startswith(f"text_model.encoder.layers.{layers}.")] + ["text_projection.weight"]
        counts.append(check_same("text_encoder", converted, text, extra=skipped))
    return counts


def relative_error(ours, reference):
    return ((ours - reference).abs().max() / reference.abs().max()).item()


def check_outputs(path, folder, family, checkpoint, text_config):
    """The models diffusers loads from the single file reproduce the folder's reference outputs."""
    ref = safetensors.torch.load_file(os.path.join(folder, "reference.safetensors"))
    unet = UNet2DConditionModel.from_single_file(path, config=folder, subfolder="unet", torch_dtype=torch.float32)
    vae = AutoencoderKL.from_single_file(path, config=folder, subfolder="vae", torch_dtype=torch.float32)
    if family == "sd1":
        state = sfu.convert_ldm_clip_checkpoint(checkpoint)
    else:
        with torch.device("meta"):
            meta = CLIPTextModel(CLIPTextConfig(**text_config))
        state = sfu.convert_open_clip_checkpoint(meta, checkpoint)
    text = CLIPTextModel(CLIPTextConfig(**text_config))
    state = {k.removeprefix("text_model."): v.float() for k, v in state.items()}
    missing, _ = text.load_state_dict(state, strict=False)
    assert not [m for m in missing if "position_ids" not in m], missing
    errors = []
    with torch.inference_mode():
        out = unet(ref["unet.sample"], torch.tensor([500]), ref["unet.encoder_hidden_states"]).sample
        errors.append(relative_error(out, ref["unet.out.t500.batch2"]))
        errors.append(relative_error(vae.decode(ref["vae.latent"]).sample, ref["vae.decode"]))
        errors.append(relative_error(text.eval()(ref["text.input_ids"]).last_hidden_state, ref["text.last_hidden_state"]))
    assert max(errors) < 1e-5, errors
    return errors


def write_tiny(fixtures, out_dir):
    generator = torch.Generator().manual_seed(77)
    for name, family in MODELS.items():
        folder = os.path.join(fixtures, "parity", name)
        configs = {c: read_json(os.path.join(folder, c, "config.json")) for c in ("unet", "vae")}
        text_config = read_json(os.path.join(folder, "text_encoder", "config.json"))
        text, unet, vae = (folder_weights(folder, c) for c in ("text_encoder", "unet", "vae"))
        checkpoint = single_file(family, text, unet, vae, configs, generator)
        if name == "sd1":
            checkpoint.update(extras_sd1(checkpoint, generator))
        checkpoint = {k: t.contiguous() for k, t in sorted(checkpoint.items())}
        path = os.path.join(out_dir, f"{name}.safetensors")
        safetensors.torch.save_file(checkpoint, path, metadata={"format": "pt"})
        reread = safetensors.torch.load_file(path)
        counts = check_with_diffusers(family, reread, text, unet, vae, configs, text_config)
        errors = check_outputs(path, folder, family, reread, text_config)
        print(f"{path}: {len(reread)} tensors; diffusers' converters give back {counts} "
              f"(unet, vae, text) folder tensors exactly; outputs of the loaded models vs reference: "
              f"unet {errors[0]:.1e}, vae {errors[1]:.1e}, text {errors[2]:.1e}")


# --- full-size shapes -------------------------------------------------------------------------

def write_shapes(fixtures, out_dir):
    """Names and shapes of full-size SD1.5 and SD2.1 single files (built on the meta device)."""
    for arch, family in (("sd15", "sd1"), ("sd21", "sd2")):
        hub = {c: read_json(os.path.join(fixtures, "configs", f"{arch}-{c}.hub.json"))
               for c in ("unet", "vae", "text_encoder")}
        with torch.device("meta"):
            unet = UNet2DConditionModel.from_config(hub["unet"]).state_dict()
            vae = AutoencoderKL.from_config(hub["vae"]).state_dict()
            model = CLIPTextModel(CLIPTextConfig(**hub["text_encoder"]))
        text = {("" if k.startswith("text_model.") else "text_model.") + k: t for k, t in model.state_dict().items()}
        checkpoint = single_file(family, text, unet, vae, hub, None)
        if family == "sd1":  # real SD1 files keep transformers 4's int64 position_ids buffer
            checkpoint[TEXT + "transformer.text_model.embeddings.position_ids"] = torch.empty(1, 77, dtype=torch.int64, device="meta")
        check_with_diffusers(family, checkpoint, text, unet, vae, hub, hub["text_encoder"])
        dtypes = {torch.float32: "F32", torch.int64: "I64"}
        shapes = {"ldm": {k: [dtypes[t.dtype], list(t.shape)] for k, t in sorted(checkpoint.items())},
                  "diffusers": {"unet": {k: list(t.shape) for k, t in sorted(unet.items())},
                                "vae": {k: list(t.shape) for k, t in sorted(vae.items())},
                                "text_encoder": {k: list(t.shape) for k, t in sorted(text.items())}}}
        path = os.path.join(out_dir, f"shapes-{arch}.json")
        with open(path, "w") as f:
            json.dump(shapes, f, separators=(",", ":"))
            f.write("\n")
        print(f"{path}: {len(checkpoint)} LDM tensors, checked against diffusers' converters")


def main(fixtures):
    torch.set_num_threads(1)
    diffusers.utils.logging.set_verbosity_error()
    out_dir = os.path.join(fixtures, "single_file")
    os.makedirs(out_dir, exist_ok=True)
    write_tiny(fixtures, out_dir)
    write_shapes(fixtures, out_dir)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} FIXTURES_DIR (Tests/DiffusionTests/Fixtures)")
    main(sys.argv[1])

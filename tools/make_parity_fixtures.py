#!/usr/bin/env python3
"""Writes the numeric parity fixtures of Tests/DiffusionTests/Fixtures/parity/.

Small random-weight models of the real Stable Diffusion architectures (CLIP text encoder,
conditioned UNet, KL autoencoder), built from diffusers'/transformers' own classes and saved in
diffusers layout, plus one `reference.safetensors` per model with fixed inputs and the outputs
PyTorch computes for them. The Swift engine loads each folder and compares its outputs.
Layout, tensor names and conventions: the README.md written next to the fixtures.

The graphs are the real ones (3 UNet levels of 2 resnets, cross-attention transformers, the KL
VAE's resnets and mid attention) at widths of 8-32 channels, so the committed folder stays near
3 MB. The sd1 text encoders are rewritten with the `text_model.` key prefix of real downloads;
sd2 keeps the prefix-less names transformers 5 writes, so loaders meet both.

    .venv-ref/bin/python tools/make_parity_fixtures.py Tests/DiffusionTests/Fixtures/parity

Made with torch 2.15.0+cu132 (run on CPU), diffusers 0.42.1, transformers 5.24.0,
safetensors 0.8.0; the run records its own versions in `versions.json`. Output is
deterministic: fixed seeds, one CPU thread.
"""
import copy
import json
import os
import platform
import sys

import diffusers
import safetensors
import safetensors.torch
import torch
import transformers
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel

VOCAB_SIZE = 1000
BOS_ID, EOS_ID = 998, 999  # the last two ids, like <|startoftext|> and <|endoftext|> in real CLIP
TOKENS = 77
TIMESTEPS = (1, 500, 999)
DEBUG_TIMESTEP = 500
VAE_SCALING_FACTOR = 0.18215

# One entry per model folder: how its three components differ.
VARIANTS = {
    "sd1": dict(hidden_act="quick_gelu", pad_id=EOS_ID, attention_head_dim=2,
                use_linear_projection=False, upcast_attention=False, legacy_text_keys=True),
    "sd2": dict(hidden_act="gelu", pad_id=0, attention_head_dim=(2, 4, 4),
                use_linear_projection=True, upcast_attention=True, legacy_text_keys=False),
}


def build_text_encoder(hidden_act, pad_id):
    """A 3-layer CLIP text transformer, hidden size 32, 4 heads of 8."""
    config = CLIPTextConfig(
        vocab_size=VOCAB_SIZE, hidden_size=32, intermediate_size=37, num_hidden_layers=3,
        num_attention_heads=4, max_position_embeddings=TOKENS, hidden_act=hidden_act,
        layer_norm_eps=1e-5, bos_token_id=BOS_ID, eos_token_id=EOS_ID, pad_token_id=pad_id)
    return CLIPTextModel(config)


def build_unet(attention_head_dim, use_linear_projection, upcast_attention):
    """The SD UNet layout (3 levels, 2 resnets per level) at 8/16/16 channels."""
    return UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(8, 16, 16),
        layers_per_block=2,
        down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=32, attention_head_dim=attention_head_dim, norm_num_groups=4,
        use_linear_projection=use_linear_projection, upcast_attention=upcast_attention,
        flip_sin_to_cos=True, freq_shift=0)


def build_vae():
    """A 2-level KL autoencoder: 16x16 RGB <-> 8x8 latent with 4 channels."""
    return AutoencoderKL(
        in_channels=3, out_channels=3, block_out_channels=(8, 16), layers_per_block=1,
        latent_channels=4, norm_num_groups=4,
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        sample_size=16, scaling_factor=VAE_SCALING_FACTOR)


def randomise(model, seed):
    """Overwrites every parameter with seeded random values, so nothing is trivially 0 or 1.

    Linear and convolution weights ~ N(0, 1/fan_in) (activations stay O(1) and attention logits
    are O(1), so softmax is neither flat nor one-hot), embeddings ~ N(0, 0.5^2), norm weights
    ~ 1 + 0.1 N(0, 1), all biases ~ 0.1 N(0, 1).
    """
    gen = torch.Generator().manual_seed(seed)

    def normal(p, std, mean=0.0):
        p.copy_(mean + std * torch.randn(p.shape, generator=gen))

    covered = set()
    with torch.no_grad():
        for module in model.modules():
            weight = getattr(module, "weight", None)
            bias = getattr(module, "bias", None)
            if isinstance(module, (torch.nn.Linear, torch.nn.Conv2d)):
                normal(weight, weight[0].numel() ** -0.5)
            elif isinstance(module, (torch.nn.LayerNorm, torch.nn.GroupNorm)):
                normal(weight, 0.1, mean=1.0)
            elif isinstance(module, torch.nn.Embedding):
                normal(weight, 0.5)
            else:
                continue
            covered.add(weight)
            if bias is not None:
                normal(bias, 0.1)
                covered.add(bias)
    missed = [name for name, p in model.named_parameters() if p not in covered]
    assert not missed, f"parameters left at their default init: {missed}"
    return model.eval()


def make_inputs(pad_id, seed):
    """The fixed inputs: token ids, UNet latents and conditioning, a VAE image and latent."""
    gen = torch.Generator().manual_seed(seed)
    ids = torch.full((2, TOKENS), pad_id, dtype=torch.int64)
    for row, words in enumerate((5, 40)):
        ids[row, 0] = BOS_ID
        ids[row, 1:1 + words] = torch.randint(1, BOS_ID, (words,), generator=gen)
        ids[row, 1 + words] = EOS_ID
    return {
        "text.input_ids": ids,
        "unet.sample": torch.randn((2, 4, 8, 8), generator=gen),
        "unet.encoder_hidden_states": torch.randn((2, TOKENS, 32), generator=gen),
        "vae.image": torch.rand((1, 3, 16, 16), generator=gen) * 2 - 1,
        "vae.latent": torch.randn((1, 4, 8, 8), generator=gen),
    }


def first_tensor(output):
    """The hidden states out of a block's forward result (tensor, tuple, or output object)."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, tuple):
        return output[0]
    return output.sample


def capture(points):
    """Registers forward hooks on {name: module}; returns (captured dict, list of handles)."""
    captured, handles = {}, []
    for name, module in points.items():
        def hook(_module, _args, output, name=name):
            captured[name] = first_tensor(output).detach().clone()
        handles.append(module.register_forward_hook(hook))
    return captured, handles


def text_references(text_encoder, inputs):
    """Hidden states after the embeddings and after each layer, the final-LN output, the
    clip-skip-2 conditioning (final LN of the penultimate layer's output), pooled output."""
    out = text_encoder(inputs["text.input_ids"], output_hidden_states=True)
    final_norm = text_encoder.final_layer_norm
    assert torch.allclose(final_norm(out.hidden_states[-1]), out.last_hidden_state)
    refs = {"text.last_hidden_state": out.last_hidden_state,
            "text.clip_skip2": final_norm(out.hidden_states[-2]),
            "text.pooler_output": out.pooler_output}
    for n, hidden in enumerate(out.hidden_states):
        refs[f"text.hidden_states.{n}"] = hidden
    return refs


def unet_debug_points(unet):
    """Modules whose outputs are saved (from the t=500 batch-2 run) to help locate a mismatch."""
    points = {
        f"unet.time_proj.t{DEBUG_TIMESTEP}": unet.time_proj,
        f"unet.time_embedding.t{DEBUG_TIMESTEP}": unet.time_embedding,
        "unet.conv_in.out": unet.conv_in,
        "unet.down0.resnet0.out": unet.down_blocks[0].resnets[0],
        "unet.down0.attn0.out": unet.down_blocks[0].attentions[0],
        "unet.mid.out": unet.mid_block,
    }
    for i, block in enumerate(unet.down_blocks):
        points[f"unet.down{i}.out"] = block
    for i, block in enumerate(unet.up_blocks):
        points[f"unet.up{i}.out"] = block
    return points


def unet_references(unet, inputs):
    """Noise predictions for the CFG batch of 2 and the first sample alone, at each timestep."""
    sample, context = inputs["unet.sample"], inputs["unet.encoder_hidden_states"]
    refs = {}
    for t in TIMESTEPS:
        timestep = torch.tensor([t])  # int64, as diffusers' pipelines pass scheduler.timesteps
        captured, handles = capture(unet_debug_points(unet)) if t == DEBUG_TIMESTEP else ({}, [])
        refs[f"unet.out.t{t}.batch2"] = unet(sample, timestep, context).sample
        for handle in handles:
            handle.remove()
        refs.update(captured)
        refs[f"unet.out.t{t}.batch1"] = unet(sample[:1], timestep, context[:1]).sample
    return refs


def vae_references(vae, inputs):
    """Encoder moments of the image, decoder output of the latent (no scaling_factor applied)."""
    captured, handles = capture({"vae.encode.mid.out": vae.encoder.mid_block,
                                 "vae.decode.mid.out": vae.decoder.mid_block})
    dist = vae.encode(inputs["vae.image"]).latent_dist
    decoded = vae.decode(inputs["vae.latent"]).sample
    for handle in handles:
        handle.remove()
    return {"vae.encode.mean": dist.mean, "vae.encode.logvar": dist.logvar,
            "vae.decode": decoded, **captured}


def check_references(refs):
    """Every reference is finite and varies: a saturated or dead output would test nothing."""
    for name, tensor in refs.items():
        if tensor.is_floating_point():
            assert torch.isfinite(tensor).all(), name
            assert tensor.std() > 0.05, f"{name} is nearly constant (std {tensor.std():.3g})"


def legacy_text_encoder_keys(path):
    """Rewrites a text encoder file the way every SD1/SD2 download has it (transformers 4):
    keys under `text_model.`, plus the int64 buffer `text_model.embeddings.position_ids`.
    transformers 5 saves the keys without the prefix and strips it again on load."""
    tensors = safetensors.torch.load_file(path)
    tensors = {f"text_model.{name}": t for name, t in tensors.items()}
    tensors["text_model.embeddings.position_ids"] = torch.arange(TOKENS).unsqueeze(0)
    safetensors.torch.save_file(tensors, path, metadata={"format": "pt"})


def write_model(folder, saved, computed, inputs, legacy_text_keys, variant=None):
    """Saves the `saved` components in diffusers layout, and the references that the `computed`
    components (the same weights, in float32) give for `inputs`."""
    for subfolder, model in saved.items():
        model.save_pretrained(os.path.join(folder, subfolder), safe_serialization=True,
                              variant=variant)
    if legacy_text_keys:
        name = "model.safetensors" if variant is None else f"model.{variant}.safetensors"
        legacy_text_encoder_keys(os.path.join(folder, "text_encoder", name))
    with torch.inference_mode():
        refs = {**text_references(computed["text_encoder"], inputs),
                **unet_references(computed["unet"], inputs),
                **vae_references(computed["vae"], inputs)}
    check_references(refs)
    tensors = {name: t.contiguous() for name, t in {**inputs, **refs}.items()}
    safetensors.torch.save_file(tensors, os.path.join(folder, "reference.safetensors"),
                                metadata={"format": "pt"})


def rounded_to_fp16(models):
    """Copies of the models in float16 (for saving) and float32 models with the rounded weights."""
    halves = {name: copy.deepcopy(model).half() for name, model in models.items()}
    rounded = {name: copy.deepcopy(model).float() for name, model in halves.items()}
    return halves, rounded


def write_versions(out_dir):
    """Records the library versions that produced the fixtures."""
    versions = {"python": platform.python_version(), "torch": torch.__version__,
                "diffusers": diffusers.__version__, "transformers": transformers.__version__,
                "safetensors": safetensors.__version__}
    with open(os.path.join(out_dir, "versions.json"), "w") as f:
        json.dump(versions, f, indent=2)
        f.write("\n")


def main(out_dir):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    os.makedirs(out_dir, exist_ok=True)
    for index, (name, v) in enumerate(VARIANTS.items()):
        seed = 1000 * (index + 1)
        models = {
            "text_encoder": randomise(build_text_encoder(v["hidden_act"], v["pad_id"]), seed + 1),
            "unet": randomise(build_unet(v["attention_head_dim"], v["use_linear_projection"],
                                         v["upcast_attention"]), seed + 2),
            "vae": randomise(build_vae(), seed + 3),
        }
        inputs = make_inputs(v["pad_id"], seed)
        write_model(os.path.join(out_dir, name), models, models, inputs, v["legacy_text_keys"])
        if name == "sd1":
            halves, rounded = rounded_to_fp16(models)
            write_model(os.path.join(out_dir, "sd1-fp16"), halves, rounded, inputs,
                        v["legacy_text_keys"], variant="fp16")
    write_versions(out_dir)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUTPUT_DIR")
    main(sys.argv[1])

#!/usr/bin/env python3
"""Writes the checkpoint fixtures of Tests/DiffusionTests/Fixtures/.

safetensors/  tiny files written by the real `safetensors` library (F32, F16, BF16 with known
              values, unloadable dtypes, __metadata__), each value tensor next to an F32 tensor
              `expected` holding torch's own `.float()` of it; and broken files crafted byte by byte
              (overlapping offsets, offsets past the end, header too long, shape/size mismatch,
              truncated, not JSON, missing field, a torch.save pickle/zip).
configs/      config.json files of SD1.5, SD2.1 and an SDXL UNet: `NAME.json` as diffusers and
              transformers write them today (the class instantiated on the meta device, then
              `save_config` / `to_json_string`), and `NAME.hub.json` with only the keys the files
              published on the Hugging Face Hub carry (old diffusers wrote fewer keys), so the
              defaults for absent keys are tested too.

    .venv-ref/bin/python tools/make_safetensors_fixtures.py Tests/DiffusionTests/Fixtures

(.venv-ref: torch 2.15, safetensors 0.8.0, diffusers 0.42.1, transformers 5.24.0)
"""
import json
import os
import struct
import sys

import torch
from safetensors.torch import save_file


def write_safetensors(out):
    os.makedirs(out, exist_ok=True)

    # F32: ordinary values, signed zero, the smallest subnormal, infinities, NaN; a scalar; an empty tensor.
    a = torch.tensor([[0.0, 1.0, -2.5, 3.1415927], [-0.0, 1e-45, float("inf"), float("-inf")],
                      [float("nan"), 65504.0, -1e-38, 123456.789]], dtype=torch.float32)
    save_file({
        "a": a,
        "scalar": torch.tensor(42.5, dtype=torch.float32),
        "empty": torch.zeros(0, 4, dtype=torch.float32),
        "expected": a.clone(),
    }, os.path.join(out, "f32.safetensors"))

    # F16: normals, the largest value, the smallest normal, subnormals (smallest and largest),
    # signed zeros, infinities, a NaN, rounding cases.
    f16_bits = [0x0000, 0x8000, 0x3C00, 0xBC00, 0x3555, 0x7BFF, 0xFBFF, 0x0400, 0x8400, 0x0001,
                0x8001, 0x03FF, 0x0200, 0x7C00, 0xFC00, 0x7E00, 0x4248, 0x5640, 0x1234, 0xC000]
    h = torch.tensor(f16_bits, dtype=torch.int32).to(torch.int16).view(torch.float16).reshape(4, 5)
    save_file({"values": h, "expected": h.float()}, os.path.join(out, "f16.safetensors"))

    # BF16: the upper half of float32 bit patterns, including subnormals, infinities and NaN.
    bf16_bits = [0x0000, 0x8000, 0x3F80, 0xBF80, 0x4049, 0x7F7F, 0xFF7F, 0x0080, 0x0001, 0x007F,
                 0x7F80, 0xFF80, 0x7FC0, 0x3EAA, 0x4B18, 0xC2F7]
    b = torch.tensor(bf16_bits, dtype=torch.int32).to(torch.int16).view(torch.bfloat16).reshape(2, 8)
    save_file({"values": b, "expected": b.float()}, os.path.join(out, "bf16.safetensors"))

    # Metadata and dtypes we list but do not load.
    save_file({
        "weight": torch.arange(6, dtype=torch.float32).reshape(2, 3),
        "step": torch.tensor([7], dtype=torch.int64),
        "double": torch.tensor([0.5, 0.25], dtype=torch.float64),
        "mask": torch.tensor([True, False, True]),
        "bytes": torch.tensor([1, 2, 3, 4], dtype=torch.uint8),
    }, os.path.join(out, "metadata.safetensors"), metadata={"format": "pt", "modelspec.title": "tiny test"})

    # Names are arbitrary UTF-8.
    save_file({"down_blocks.0.attentions.0.proj_in.weight": torch.ones(2, 2, 1, 1),
               "émoji✓": torch.tensor([1.0])}, os.path.join(out, "names.safetensors"))

    def broken(name, header, data):
        raw = json.dumps(header, separators=(",", ":")).encode()
        with open(os.path.join(out, name), "wb") as f:
            f.write(struct.pack("<Q", len(raw)) + raw + data)

    sixteen = struct.pack("<4f", 1, 2, 3, 4)
    broken("overlapping.safetensors", {
        "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
        "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]},
    }, sixteen)
    broken("offsets_past_end.safetensors", {
        "a": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]},
    }, sixteen)
    broken("begin_after_end.safetensors", {
        "x": {"dtype": "F32", "shape": [0], "data_offsets": [10, 5]},
    }, sixteen)
    broken("size_mismatch.safetensors", {
        "a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]},
    }, sixteen)
    broken("missing_field.safetensors", {
        "a": {"dtype": "F32", "data_offsets": [0, 16]},
    }, sixteen)
    broken("negative_dim.safetensors", {
        "a": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]},
    }, sixteen)
    with open(os.path.join(out, "header_too_long.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", 9999999999) + b'{"a":{}}')
    with open(os.path.join(out, "not_json.safetensors"), "wb") as f:
        raw = b'{"a": {"dtype": "F32", "shape": [1], '
        f.write(struct.pack("<Q", len(raw)) + raw)
    with open(os.path.join(out, "too_short.safetensors"), "wb") as f:
        f.write(b"\x05\x00\x00")
    # A real file cut in the middle of its data.
    with open(os.path.join(out, "f32.safetensors"), "rb") as f:
        whole = f.read()
    with open(os.path.join(out, "truncated.safetensors"), "wb") as f:
        f.write(whole[:len(whole) - 10])
    # What torch.save writes (a zip holding a pickle): must be refused, never unpickled.
    torch.save({"w": torch.zeros(2)}, os.path.join(out, "pickle.ckpt"))


SD_DOWN = ["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"]
SD_UP = ["UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"]

# The keys of the config.json files on the Hub (runwayml/stable-diffusion-v1-5 written by diffusers
# 0.6.0, stabilityai/stable-diffusion-2-1 by 0.10.0.dev0, stable-diffusion-xl-base-1.0 by 0.19.0.dev0),
# without the `_class_name` / `_diffusers_version` bookkeeping.
HUB = {
    "sd15-unet": {
        "act_fn": "silu", "attention_head_dim": 8, "block_out_channels": [320, 640, 1280, 1280],
        "center_input_sample": False, "cross_attention_dim": 768, "down_block_types": SD_DOWN,
        "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4,
        "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-05, "norm_num_groups": 32,
        "out_channels": 4, "sample_size": 64, "up_block_types": SD_UP,
    },
    "sd21-unet": {
        "act_fn": "silu", "attention_head_dim": [5, 10, 20, 20], "block_out_channels": [320, 640, 1280, 1280],
        "center_input_sample": False, "cross_attention_dim": 1024, "down_block_types": SD_DOWN,
        "downsample_padding": 1, "dual_cross_attention": False, "flip_sin_to_cos": True, "freq_shift": 0,
        "in_channels": 4, "layers_per_block": 2, "mid_block_scale_factor": 1, "norm_eps": 1e-05,
        "norm_num_groups": 32, "num_class_embeds": None, "only_cross_attention": False, "out_channels": 4,
        "sample_size": 96, "up_block_types": SD_UP, "upcast_attention": True, "use_linear_projection": True,
    },
    "sdxl-unet": {
        "act_fn": "silu", "addition_embed_type": "text_time", "addition_embed_type_num_heads": 64,
        "addition_time_embed_dim": 256, "attention_head_dim": [5, 10, 20], "block_out_channels": [320, 640, 1280],
        "center_input_sample": False, "class_embed_type": None, "class_embeddings_concat": False,
        "conv_in_kernel": 3, "conv_out_kernel": 3, "cross_attention_dim": 2048, "cross_attention_norm": None,
        "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
        "downsample_padding": 1, "dual_cross_attention": False, "encoder_hid_dim": None,
        "encoder_hid_dim_type": None, "flip_sin_to_cos": True, "freq_shift": 0, "in_channels": 4,
        "layers_per_block": 2, "mid_block_only_cross_attention": None, "mid_block_scale_factor": 1,
        "mid_block_type": "UNetMidBlock2DCrossAttn", "norm_eps": 1e-05, "norm_num_groups": 32,
        "num_attention_heads": None, "num_class_embeds": None, "only_cross_attention": False, "out_channels": 4,
        "projection_class_embeddings_input_dim": 2816, "resnet_out_scale_factor": 1.0,
        "resnet_skip_time_act": False, "resnet_time_scale_shift": "default", "sample_size": 128,
        "time_cond_proj_dim": None, "time_embedding_act_fn": None, "time_embedding_dim": None,
        "time_embedding_type": "positional", "timestep_post_act": None, "transformer_layers_per_block": [1, 2, 10],
        "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"], "upcast_attention": None,
        "use_linear_projection": True,
    },
    "sd15-vae": {
        "act_fn": "silu", "block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D"] * 4,
        "in_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32, "out_channels": 3,
        "sample_size": 512, "up_block_types": ["UpDecoderBlock2D"] * 4,
    },
    "sd21-vae": {
        "act_fn": "silu", "block_out_channels": [128, 256, 512, 512], "down_block_types": ["DownEncoderBlock2D"] * 4,
        "in_channels": 3, "latent_channels": 4, "layers_per_block": 2, "norm_num_groups": 32, "out_channels": 3,
        "sample_size": 768, "up_block_types": ["UpDecoderBlock2D"] * 4,
    },
    "sd15-text_encoder": {
        "architectures": ["CLIPTextModel"], "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0,
        "eos_token_id": 2, "hidden_act": "quick_gelu", "hidden_size": 768, "initializer_factor": 1.0,
        "initializer_range": 0.02, "intermediate_size": 3072, "layer_norm_eps": 1e-05,
        "max_position_embeddings": 77, "model_type": "clip_text_model", "num_attention_heads": 12,
        "num_hidden_layers": 12, "pad_token_id": 1, "projection_dim": 768, "torch_dtype": "float32",
        "transformers_version": "4.22.0.dev0", "vocab_size": 49408,
    },
    "sd21-text_encoder": {
        "architectures": ["CLIPTextModel"], "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0,
        "eos_token_id": 2, "hidden_act": "gelu", "hidden_size": 1024, "initializer_factor": 1.0,
        "initializer_range": 0.02, "intermediate_size": 4096, "layer_norm_eps": 1e-05,
        "max_position_embeddings": 77, "model_type": "clip_text_model", "num_attention_heads": 16,
        "num_hidden_layers": 23, "pad_token_id": 1, "projection_dim": 512, "torch_dtype": "float32",
        "transformers_version": "4.25.0.dev0", "vocab_size": 49408,
    },
}


def write_configs(out):
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig

    os.makedirs(out, exist_ok=True)
    for name, keys in HUB.items():
        with open(os.path.join(out, name + ".hub.json"), "w") as f:
            json.dump(keys, f, indent=2, sort_keys=True)
            f.write("\n")
        if name.endswith("text_encoder"):
            text = CLIPTextConfig(**keys).to_json_string()
        else:
            cls = UNet2DConditionModel if name.endswith("unet") else AutoencoderKL
            with torch.device("meta"):  # only the config is wanted: allocate no weights
                model = cls.from_config(keys)
            text = model.to_json_string()
        with open(os.path.join(out, name + ".json"), "w") as f:
            f.write(text if text.endswith("\n") else text + "\n")


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else "Tests/DiffusionTests/Fixtures"
    write_safetensors(os.path.join(root, "safetensors"))
    write_configs(os.path.join(root, "configs"))

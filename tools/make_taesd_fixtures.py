#!/usr/bin/env python3
"""Writes the tiny-autoencoder (TAESD) fixtures of Tests/DiffusionTests/Fixtures/taesd/.

Random-weight diffusers `AutoencoderTiny` models (madebyollin's TAESD as diffusers implements it),
each saved twice: as a diffusers folder (`config.json` + `diffusion_pytorch_model.safetensors`)
and in TAESD's original layout (`taesd_encoder.safetensors` + `taesd_decoder.safetensors`, the
`nn.Sequential` indices of madebyollin's taesd.py), with PyTorch's encoder and decoder outputs
for fixed inputs; and one text-to-image case of the tiny `Fixtures/pipelines/sd1` pipeline with an
`AutoencoderTiny` as its `vae`, for stipple's `--decoder taesd` path end to end.

    .venv-ref/bin/python tools/make_taesd_fixtures.py

rewrites everything in the folder except README.md, byte for byte the same each time (fixed seeds,
one CPU thread; about 10 s): the script builds the whole set twice, in two temporary folders, and
refuses to write unless the two agree byte for byte. Options:

    --check-taesd-py /path/to/taesd.py   also load every original-layout file into madebyollin's own
                                         Encoder/Decoder (its taesd.py, not part of this project) and
                                         compare outputs; the full-width TAESD too (in memory only)
    --full-size DIR                      also write the full-width (64-channel) TAESD set, float16,
                                         to DIR (about 10 MB: too big to commit; for a local check)

The configurations (all `act_fn` relu, `upsample_fn` nearest, `upsampling_scaling_factor` 2,
`latent_channels` 4, `scaling_factor` 1.0, `shift_factor` 0.0):

- `taesd/`: TAESD's real topology, exactly diffusers' default `AutoencoderTiny()` config (encoder
  blocks 1,3,3,3 with three stride-2 convolutions; decoder blocks 3,3,3,1 with three 2x
  upsamplings: 8x), but 16 channels wide instead of 64; weights stored in float16 (as a
  real fp16 download). Full width would be 1,222,532 + 1,222,531 parameters, 4.9 MB as float16 in
  one layout: see `full-size-keys.json` for its every key and shape in both layouts.
- `narrow/`: 3 stages (encoder blocks 1,2,2, decoder 2,2,1: 4x, the scale of samples/shapes-64's
  tiny autoencoder, which has blocks 1,3,3 and 3,3,1), 8 channels, float32.
- `sd1-taesd/`: 2 stages (encoder 1,2, decoder 2,1: 2x, the scale of the tiny pipelines' VAE), 8
  channels, float32: the `vae` of the pipeline case.

Made with torch 2.15.0 (CPU), diffusers 0.42.1; `versions.json` records the run's own versions.
Layout, tensor names, the key map and diffusers' behaviour: the hand-written README.md beside them.
"""
import argparse
import filecmp
import hashlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import safetensors.torch
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import diffusers  # noqa: E402
import transformers  # noqa: E402
from diffusers import AutoencoderTiny, StableDiffusionPipeline  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_parity_fixtures as parity  # noqa: E402
import make_pipeline_fixtures as pipelines  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "Tests", "DiffusionTests", "Fixtures", "taesd")
PIPELINES = os.path.join(REPO, "Tests", "DiffusionTests", "Fixtures", "pipelines")
SIZE_LIMIT = 1_500_000  # bytes, the whole folder

ENCODER_FILE, DECODER_FILE = "taesd_encoder.safetensors", "taesd_decoder.safetensors"
DIFFUSERS_FILE = "diffusion_pytorch_model.safetensors"

# name -> (AutoencoderTiny overrides, storage dtype, seed, latent std, decoder cases, encoder cases).
# Reference latents are N(0, std^2); a decoder case is (name, latent shape [N, 4, h, w]), an encoder
# case (name, image shape [N, 3, H, W]). std 1.5 puts a few latents past |3|, where the decoder's
# tanh clamp bends; sd1-taesd's 10 is what the random pipeline's UNet produces (std 9-12), so that
# decoder is calibrated for the clamp's saturated regime it meets there.
CONFIGS = {
    "taesd": (dict(encoder_block_out_channels=(16,) * 4, decoder_block_out_channels=(16,) * 4),
              torch.float16, 1600, 1.5,
              [("square", (2, 4, 4, 4)), ("wide", (1, 4, 3, 5))],
              [("square", (2, 3, 32, 32)), ("wide", (1, 3, 24, 40))]),
    "narrow": (dict(encoder_block_out_channels=(8,) * 3, decoder_block_out_channels=(8,) * 3,
                    num_encoder_blocks=(1, 2, 2), num_decoder_blocks=(2, 2, 1)),
               torch.float32, 1700, 1.5,
               [("square", (2, 4, 4, 4)), ("wide", (1, 4, 3, 5))],
               [("square", (2, 3, 16, 16)), ("wide", (1, 3, 12, 20))]),
    "sd1-taesd": (dict(encoder_block_out_channels=(8,) * 2, decoder_block_out_channels=(8,) * 2,
                       num_encoder_blocks=(1, 2), num_decoder_blocks=(2, 1)),
                  torch.float32, 1800, 10.0,
                  [("square", (2, 4, 8, 8)), ("wide", (1, 4, 6, 10))],
                  [("square", (2, 3, 16, 16)), ("wide", (1, 3, 12, 20))]),
}
FULL_SIZE = ({}, torch.float16, 1900, 1.5, [("square", (1, 4, 4, 4)), ("wide", (1, 4, 3, 5))],
             [("square", (1, 3, 32, 32)), ("wide", (1, 3, 24, 40))])
# The pipeline cases: two sd1 cases of Fixtures/pipelines (same prompt, seed, sampler) with the VAE swapped.
PIPELINE_CASES = ("sd1-euler", "sd1-48x32")


# --- the key map -------------------------------------------------------------------------------

def to_original(state):
    """diffusers `AutoencoderTiny` state dict -> (taesd_encoder, taesd_decoder) state dicts.

    The encoder's `nn.Sequential` is the same in both (`encoder.layers.I.x` -> `I.x`). The original
    decoder's Sequential starts with its `Clamp()` module (index 0, no weights), which diffusers
    does in `DecoderTiny.forward` instead, so every decoder index moves up by one
    (`decoder.layers.I.x` -> `I+1.x`)."""
    encoder, decoder = {}, {}
    for key, tensor in state.items():
        part, layers, index, rest = key.split(".", 3)
        assert layers == "layers" and part in ("encoder", "decoder"), key
        if part == "encoder":
            encoder[f"{index}.{rest}"] = tensor
        else:
            decoder[f"{int(index) + 1}.{rest}"] = tensor
    return encoder, decoder


def from_original(encoder, decoder):
    """The inverse of `to_original`: the two original files -> a diffusers state dict."""
    state = {}
    for key, tensor in encoder.items():
        state[f"encoder.layers.{key}"] = tensor
    for key, tensor in decoder.items():
        index, rest = key.split(".", 1)
        assert int(index) >= 1, f"decoder index 0 is the weightless Clamp: {key}"
        state[f"decoder.layers.{int(index) - 1}.{rest}"] = tensor
    return state


# --- models ------------------------------------------------------------------------------------

def calibrate(conv, inputs, run, mean, std):
    """Rescales a final convolution's weights and sets its bias so that `run(inputs)` has, per
    output channel, the given mean and standard deviation (random weights otherwise give a nearly
    constant image or latents far from the unit range)."""
    with torch.no_grad():
        conv.bias.zero_()
        out = run(inputs).transpose(0, 1).flatten(1)
        scale = std / out.std(dim=1)
        conv.weight.mul_(scale[:, None, None, None])
        out = run(inputs).transpose(0, 1).flatten(1)
        conv.bias.copy_(mean - out.mean(dim=1))


def build(overrides, dtype, seed, latent_std):
    """A random-weight AutoencoderTiny: parity.randomise's N(0, 1/fan_in) weights and 0.1 N(0, 1)
    biases, the last conv of each residual block at half that spread (so 10 blocks in a row do not
    blow activations up), the output convs calibrated (decoder: mean 0, std 0.5 in [-1, 1]; encoder:
    mean 0, std 1) on N(0, latent_std^2) latents and uniform images, then every weight rounded to `dtype`."""
    model = AutoencoderTiny(**overrides).eval()
    parity.randomise(model, seed)
    with torch.no_grad():
        for module in model.modules():
            if type(module).__name__ == "AutoencoderTinyBlock":
                module.conv[4].weight.mul_(0.5)
    gen = torch.Generator().manual_seed(seed + 1)
    channels = model.config.latent_channels
    latents = latent_std * torch.randn((4, channels, 8, 8), generator=gen)
    images = torch.rand((4, 3, 64, 64), generator=gen) * 2 - 1
    # DecoderTiny returns 2y - 1 for its last conv's y: aim y at mean 0.5, std 0.25.
    calibrate(model.decoder.layers[-1], latents, lambda x: (model.decoder(x) + 1) / 2, 0.5, 0.25)
    calibrate(model.encoder.layers[-1], images, model.encoder, 0.0, 1.0)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(dtype).float())
    return model


def references(model, latent_std, decoder_cases, encoder_cases, seed):
    """Inputs and diffusers' outputs: `decode.NAME.latents` -> `decode.NAME.image`
    (`AutoencoderTiny.decode(latents).sample`) and `encode.NAME.image` -> `encode.NAME.latents`
    (`AutoencoderTiny.encode(image).latents`), float32."""
    gen = torch.Generator().manual_seed(seed + 2)
    refs = {}
    with torch.no_grad():
        for name, shape in decoder_cases:
            latents = latent_std * torch.randn(shape, generator=gen)
            refs[f"decode.{name}.latents"] = latents
            refs[f"decode.{name}.image"] = model.decode(latents).sample
        for name, shape in encoder_cases:
            image = torch.rand(shape, generator=gen) * 2 - 1
            refs[f"encode.{name}.image"] = image
            refs[f"encode.{name}.latents"] = model.encode(image).latents
    return {k: v.float().contiguous() for k, v in refs.items()}


def layer_references(model, latents):
    """For one small latent `debug.latents`: the decoder's activations after the clamp
    (`debug.clamped`) and after every layer of `decoder.layers` (`debug.layers.I`, diffusers'
    indices), to find where a mismatch starts."""
    out = {"debug.latents": latents}
    with torch.no_grad():
        x = torch.tanh(latents / 3) * 3
        out["debug.clamped"] = x
        for index, layer in enumerate(model.decoder.layers):
            x = layer(x)
            out[f"debug.layers.{index}"] = x
        assert torch.equal(x * 2 - 1, model.decode(latents).sample)
    return {k: v.contiguous() for k, v in out.items()}


def write_model(folder, model, dtype):
    """Both layouts of `model` in `folder`: what `save_pretrained` writes, and the two original
    files (same tensors, same dtype)."""
    model.to(dtype).save_pretrained(folder, safe_serialization=True)
    model.float()
    encoder, decoder = to_original({k: v.to(dtype) for k, v in model.state_dict().items()})
    safetensors.torch.save_file(encoder, os.path.join(folder, ENCODER_FILE))
    safetensors.torch.save_file(decoder, os.path.join(folder, DECODER_FILE))


def check_saved(folder, model, refs):
    """Loading either layout back gives exactly `model`'s weights and outputs."""
    loaded = AutoencoderTiny.from_pretrained(folder, dtype=torch.float32).eval()
    want = model.state_dict()
    for name, state in (("diffusers", loaded.state_dict()),
                        ("original", from_original(safetensors.torch.load_file(os.path.join(folder, ENCODER_FILE)),
                                                   safetensors.torch.load_file(os.path.join(folder, DECODER_FILE))))):
        assert set(state) == set(want), f"{folder} ({name}): keys differ"
        for key, tensor in want.items():
            assert torch.equal(state[key].float(), tensor), f"{folder} ({name}): {key}"
    rebuilt = AutoencoderTiny.from_config(loaded.config).eval()
    rebuilt.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    with torch.no_grad():
        for key, value in refs.items():
            kind, name, what = key.split(".")
            if kind == "decode" and what == "image":
                assert torch.equal(loaded.decode(refs[f"decode.{name}.latents"]).sample, value), key
                assert torch.equal(rebuilt.decode(refs[f"decode.{name}.latents"]).sample, value), key
            if kind == "encode" and what == "latents":
                assert torch.equal(loaded.encode(refs[f"encode.{name}.image"]).latents, value), key
                assert torch.equal(rebuilt.encode(refs[f"encode.{name}.image"]).latents, value), key


def check_with_taesd_py(path, folder, model, refs):
    """madebyollin's own Encoder/Decoder (64 channels, 4 stages) loaded strictly from the original
    files give diffusers' outputs, with TAESD's conventions: images in [0, 1], decoder output in
    [0, 1]."""
    spec = importlib.util.spec_from_file_location("taesd_reference", path)
    taesd = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(taesd)
    encoder, decoder = taesd.Encoder(4).eval(), taesd.Decoder(4).eval()
    for module, file in ((encoder, ENCODER_FILE), (decoder, DECODER_FILE)):
        module.load_state_dict({k: v.float() for k, v in safetensors.torch.load_file(os.path.join(folder, file)).items()})
    with torch.no_grad():
        for key, value in refs.items():
            kind, name, what = key.split(".")
            if kind == "decode" and what == "image":
                diff = (decoder(refs[f"decode.{name}.latents"]) * 2 - 1 - value).abs().max().item()
            elif kind == "encode" and what == "latents":
                diff = (encoder((refs[f"encode.{name}.image"] + 1) / 2) - value).abs().max().item()
            else:
                continue
            assert diff < 1e-5, f"taesd.py differs from diffusers on {key}: {diff}"
            print(f"taesd.py: {os.path.basename(folder)} {key} matches diffusers (max diff {diff:.1e})")


def key_manifest(model, dtype):
    """Every key, shape and dtype of a model in both layouts."""
    def listing(state):
        return {k: dict(shape=list(v.shape), dtype=str(dtype).removeprefix("torch.")) for k, v in sorted(state.items())}
    state = model.state_dict()
    encoder, decoder = to_original(state)
    return {"config": {k: v for k, v in model.config.items() if not k.startswith("_")},
            "parameters": {"encoder": sum(v.numel() for v in encoder.values()),
                           "decoder": sum(v.numel() for v in decoder.values())},
            DIFFUSERS_FILE: listing(state), ENCODER_FILE: listing(encoder), DECODER_FILE: listing(decoder)}


def sensitivity(name, model, refs):
    """Prints how far float64 math moves each output from the float32 reference, relative to the
    output's largest magnitude: what two correct float32 implementations can differ by, roughly."""
    model.double()
    with torch.no_grad():
        for key, value in refs.items():
            kind, case, what = key.split(".")
            if (kind, what) == ("decode", "image"):
                exact = model.decode(refs[f"decode.{case}.latents"].double()).sample
            elif (kind, what) == ("encode", "latents"):
                exact = model.encode(refs[f"encode.{case}.image"].double()).latents
            else:
                continue
            diff = (exact - value.double()).abs().max().item()
            print(f"float64 vs float32: {name} {key}: max diff {diff:.1e} ({diff / value.abs().max().item():.1e} "
                  f"of max |value| {value.abs().max().item():.2f})")
    model.float()


def write_config_set(out_dir, name, spec, taesd_py=None, report=False):
    overrides, dtype, seed, latent_std, decoder_cases, encoder_cases = spec
    model = build(overrides, dtype, seed, latent_std)
    refs = references(model, latent_std, decoder_cases, encoder_cases, seed)
    layers = layer_references(model, refs[f"decode.{decoder_cases[0][0]}.latents"][:1, :, :3, :2].contiguous())
    folder = os.path.join(out_dir, name)
    write_model(folder, model, dtype)
    safetensors.torch.save_file(dict(refs, **layers), os.path.join(out_dir, f"{name}.reference.safetensors"),
                                metadata={"format": "pt"})
    check_saved(folder, model, refs)
    if report:
        sensitivity(name, model, refs)
    if taesd_py and list(model.config.decoder_block_out_channels) == [64] * 4:
        check_with_taesd_py(taesd_py, folder, model, refs)
    return model


# --- the pipeline case -------------------------------------------------------------------------

def write_pipeline_cases(out_dir, tiny):
    """The sd1 cases of Fixtures/pipelines named in PIPELINE_CASES, run again with `vae=tiny`. The
    final latents must be those of the committed case (the VAE takes no part before the decode)."""
    cases = {c["name"]: c for c in json.load(open(os.path.join(PIPELINES, "cases.json")))}
    committed = safetensors.torch.load_file(os.path.join(PIPELINES, "latents.safetensors"))
    pipe = pipelines.load_pipeline(PIPELINES, "sd1")
    swapped = StableDiffusionPipeline(**dict(pipe.components, vae=tiny), requires_safety_checker=False)
    assert swapped.vae_scale_factor == 2, swapped.vae_scale_factor
    entries, latents = [], {}
    for source in PIPELINE_CASES:
        entry = dict(cases[source], name=source.replace("sd1-", "sd1-taesd-"), decoder="taesd", taesd="sd1-taesd",
                     source_case=source)
        entry["output"] = f"outputs/{entry['name']}.png"
        pixels, final = pipelines.run_case(swapped, entry, PIPELINES)
        assert torch.equal(final, committed[source]), f"{source}: latents differ from Fixtures/pipelines"
        std = float(pixels.std())
        print(f"{entry['name']}: image mean {pixels.mean():.1f} std {std:.1f} levels, "
              f"{100 * float(((pixels == 0) | (pixels == 255)).mean()):.1f}% at 0 or 255")
        assert std > 20, f"{entry['name']}: nearly flat image"
        with torch.no_grad():  # what the pipeline did, by hand: decode the latents / 1.0, map to 8 bits
            image = tiny.decode(final / tiny.config.scaling_factor).sample
            by_hand = ((image / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)[0].permute(1, 2, 0).numpy()
        assert np.array_equal(by_hand, pixels), f"{entry['name']}: pipeline is not decode + (x/2+0.5)*255"
        pipelines.save_png(pixels, os.path.join(out_dir, entry["output"]))
        latents[entry["name"]] = final.float().contiguous()
        entries.append(entry)
    safetensors.torch.save_file(latents, os.path.join(out_dir, "pipeline-latents.safetensors"),
                                metadata={"format": "pt"})
    with open(os.path.join(out_dir, "cases.json"), "w") as f:
        json.dump(entries, f, indent=1)
        f.write("\n")


# --- main ----------------------------------------------------------------------------------------

def write_all(out_dir, taesd_py=None, report=False):
    torch.manual_seed(0)
    models = {}
    for name, spec in CONFIGS.items():
        models[name] = write_config_set(out_dir, name, spec, taesd_py, report)
    write_pipeline_cases(out_dir, models["sd1-taesd"])
    full = build(*FULL_SIZE[:4])
    with open(os.path.join(out_dir, "full-size-keys.json"), "w") as f:
        json.dump(key_manifest(full, torch.float16), f, indent=1)
        f.write("\n")
    if taesd_py:
        with tempfile.TemporaryDirectory() as tmp:
            write_config_set(tmp, "full", FULL_SIZE, taesd_py)
    parity.write_versions(out_dir)


def digest(folder):
    files = sorted(os.path.relpath(os.path.join(d, n), folder) for d, _, names in os.walk(folder) for n in names)
    return {f: hashlib.sha256(open(os.path.join(folder, f), "rb").read()).hexdigest() for f in files}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", nargs="?", default=OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--check-taesd-py", metavar="PATH", help="madebyollin's taesd.py, to check the original layout")
    parser.add_argument("--full-size", metavar="DIR", help="also write the full-width set (float16, ~10 MB) to DIR")
    options = parser.parse_args()

    torch.set_num_threads(1)
    diffusers.utils.logging.set_verbosity_error()
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()
    with tempfile.TemporaryDirectory() as first, tempfile.TemporaryDirectory() as second:
        write_all(first, options.check_taesd_py, report=True)
        write_all(second)
        a, b = digest(first), digest(second)
        assert a == b, f"two runs differ: {sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))}"
        print(f"determinism: two runs wrote the same {len(a)} files byte for byte")
        total = sum(os.path.getsize(os.path.join(first, f)) for f in a)
        assert total < SIZE_LIMIT, f"{total} bytes is over the {SIZE_LIMIT} limit"
        os.makedirs(options.out_dir, exist_ok=True)
        for entry in os.listdir(options.out_dir):
            if entry != "README.md":
                path = os.path.join(options.out_dir, entry)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        shutil.copytree(first, options.out_dir, dirs_exist_ok=True)
        assert not filecmp.dircmp(first, options.out_dir).diff_files
    for f in sorted(a):
        print(f"{os.path.getsize(os.path.join(options.out_dir, f)):9d}  {f}")
    print(f"{total / 1e6:.3f} MB in {options.out_dir}")
    if options.full_size:
        os.makedirs(options.full_size, exist_ok=True)
        write_config_set(options.full_size, "taesd-full", FULL_SIZE, options.check_taesd_py)
        print(f"full-width set in {options.full_size}")


if __name__ == "__main__":
    main()

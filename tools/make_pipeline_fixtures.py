#!/usr/bin/env python3
"""Writes the pipeline parity fixtures of Tests/DiffusionTests/Fixtures/pipelines/.

Three complete, tiny, random-weight Stable Diffusion pipelines saved by diffusers'
`StableDiffusionPipeline.save_pretrained` (model_index.json, scheduler/, tokenizer/,
text_encoder/, unet/, vae/), and the images diffusers' text-to-image and image-to-image
pipelines make with them for a matrix of cases (sampler, schedule, CFG, size, strength), then
every sampler and schedule stipple has on SD models (`COVERAGE`, appended after the first 29
cases so those keep their seeds and bytes). stipple's pipeline loads each folder, runs each case
of `cases.json` and must give the same PNG.

    .venv-ref/bin/python tools/make_pipeline_fixtures.py

The text encoder, UNet and VAE are the graphs of tools/make_parity_fixtures.py (its build and
randomise functions and seeds, so the weights equal those of Fixtures/parity/). The tokenizer is
transformers' CLIPTokenizer over the real CLIP vocabulary cut to its first 486 merges: 1000
tokens, which is the tiny text encoders' vocabulary. Layout, case semantics and the parity bar:
the hand-written README.md next to the fixtures (kept when the folder is rewritten).

Made with torch 2.15.0 (CPU), diffusers 0.42.1, transformers 5.24.0; the run records its own
versions in `versions.json`. Output is byte-for-byte reproducible (fixed seeds, one CPU thread).
Runs in about 25 seconds; `--sensitivity-all` reruns every case in float64 to measure how far
two correct implementations drift apart (figures in the README; about 40 seconds).
"""
import argparse
import contextlib
import copy
import json
import os
import shutil
import sys
import tempfile

import numpy as np
import safetensors.torch
import torch
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import diffusers  # noqa: E402
from diffusers import (DDIMScheduler, DDPMScheduler, DEISMultistepScheduler,  # noqa: E402
                       DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler,
                       EulerDiscreteScheduler, HeunDiscreteScheduler, KDPM2AncestralDiscreteScheduler,
                       KDPM2DiscreteScheduler, LCMScheduler, LMSDiscreteScheduler, PNDMScheduler,
                       StableDiffusionImg2ImgPipeline, StableDiffusionPipeline,
                       UniPCMultistepScheduler)
import transformers  # noqa: E402
from transformers import CLIPTokenizer  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_parity_fixtures as parity  # noqa: E402
from make_tokenizer_fixtures import bytes_to_unicode  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(REPO, "Tests", "DiffusionTests", "Fixtures", "pipelines")
MERGES = os.path.join(REPO, "Sources", "Diffusion", "Tokenizer", "Resources", "bpe_simple_vocab_16e6.txt")
MERGE_COUNT = parity.VOCAB_SIZE - 2 * 256 - 2  # 486: 512 byte tokens + merges + BOS + EOS = 1000

# diffusers' scheduler configs of the real models, with the keys every SD1.5/SD2.1 download has
# (`clip_sample: false` matters: a class built from a config without it defaults to clipping).
SCHEDULE = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                beta_schedule="scaled_linear", trained_betas=None, set_alpha_to_one=False,
                steps_offset=1, skip_prk_steps=True, clip_sample=False)
MODELS = {
    "sd1": dict(parity_variant="sd1", seed=1000, pad_token="<|endoftext|>",
                scheduler=("PNDMScheduler", dict(SCHEDULE, prediction_type="epsilon",
                                                 timestep_spacing="leading"))),
    "sd2": dict(parity_variant="sd2", seed=2000, pad_token="!",
                scheduler=("DDIMScheduler", dict(SCHEDULE, prediction_type="v_prediction",
                                                 timestep_spacing="trailing"))),
}
UNET_SAMPLE_SIZE = 16  # latent side; with the VAE's one downsampling the default image is 32x32

# stipple sampler name -> (diffusers class, from_config overrides); "default" keeps the saved one.
# The same table as tools/make_sampler_fixtures.py (and `makeSampler` in Sampler.swift).
SAMPLERS = {
    "euler": (EulerDiscreteScheduler, {}),
    "euler_a": (EulerAncestralDiscreteScheduler, {}),
    "ddim": (DDIMScheduler, {}),
    "dpmpp_2m": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "dpmpp_2m_sde": (DPMSolverMultistepScheduler, {"algorithm_type": "sde-dpmsolver++", "solver_order": 2}),
    "ddpm": (DDPMScheduler, {}),
    "pndm": (PNDMScheduler, {}),
    "lms": (LMSDiscreteScheduler, {}),
    "heun": (HeunDiscreteScheduler, {}),
    "dpm2": (KDPM2DiscreteScheduler, {}),
    "dpm2_a": (KDPM2AncestralDiscreteScheduler, {}),
    "unipc": (UniPCMultistepScheduler, {}),
    "deis": (DEISMultistepScheduler, {}),
    "lcm": (LCMScheduler, {}),
}
# schedule name -> the from_config switch it sets ("default": the class's own sigmas).
SCHEDULES = {"default": {}, "karras": {"use_karras_sigmas": True},
             "exponential": {"use_exponential_sigmas": True}}
# The sampler coverage cases (after the original 29, so those keep their seeds and files): every
# other sampler stipple has, txt2img on both models at 8 steps; (sampler, schedule).
COVERAGE = (("ddpm", "default"), ("pndm", "default"), ("lms", "default"), ("heun", "default"),
            ("dpm2", "default"), ("dpm2_a", "default"), ("dpmpp_2m", "default"),
            ("dpmpp_2m_sde", "default"), ("unipc", "default"), ("deis", "default"), ("lcm", "default"),
            ("lms", "karras"), ("heun", "karras"), ("dpm2", "karras"), ("unipc", "karras"),
            ("euler", "exponential"))
COVERAGE_IMG2IMG = ("dpm2", "heun")  # second-order samplers in sd1 img2img (strength 0.5)

PROMPT = "a red house by the sea at sunset"
NEGATIVE = "blurry, dark"
PROMPTS = {
    "portrait": ("portrait of an old man with a grey beard", "cartoon"),
    "forest": ("a green forest with a small river", "snow"),
    "city": ("city lights at night, rain", "people"),
}
SENSITIVITY_CASES = ("sd1-default", "sd2-ddim", "sd1-img2img-euler_a-0.6", "sd1-lcm", "sd2-dpmpp_2m_sde")
BAR = {"max_levels": 2, "within_one_level": 0.99}  # the Swift tests' image bar (README)


# --- models -----------------------------------------------------------------------------------

def tokenizer_files():
    """vocab.json and merges.txt text of the tiny vocabulary: ids 0-255 the byte-level
    characters, 256-511 the same with </w>, 512-997 one per merge, 998 <|startoftext|>,
    999 <|endoftext|> (OpenAI's vocabulary order, cut short after 486 merges)."""
    with open(MERGES, encoding="utf-8") as f:
        lines = f.read().split("\n")[1:1 + MERGE_COUNT]
    vocab = list(bytes_to_unicode().values())
    vocab += [v + "</w>" for v in vocab]
    vocab += ["".join(line.split()) for line in lines]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    ids = {token: i for i, token in enumerate(vocab)}
    assert len(ids) == len(vocab) == parity.VOCAB_SIZE
    return {"vocab.json": json.dumps(ids, ensure_ascii=False) + "\n",
            "merges.txt": "#version: 0.2\n" + "\n".join(lines) + "\n"}


def write_tokenizer_files(folder):
    for name, text in tokenizer_files().items():
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            f.write(text)


def build_tokenizer(pad_token):
    """transformers' CLIPTokenizer read from vocab.json + merges.txt (transformers 5 reads them
    through from_pretrained only), 77 tokens per window."""
    with tempfile.TemporaryDirectory() as tmp:
        write_tokenizer_files(tmp)
        tokenizer = CLIPTokenizer.from_pretrained(tmp, pad_token=pad_token, model_max_length=parity.TOKENS)
    for loader_detail in ("is_local", "local_files_only"):  # would be written to tokenizer_config.json
        tokenizer.init_kwargs.pop(loader_detail, None)
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id) == (parity.BOS_ID, parity.EOS_ID)
    assert len(tokenizer) == parity.VOCAB_SIZE
    return tokenizer


def build_components(name):
    """Text encoder, UNet, VAE (parity graphs and seeds), tokenizer and scheduler of one model."""
    spec = MODELS[name]
    v = parity.VARIANTS[spec["parity_variant"]]
    seed = spec["seed"]
    unet = parity.build_unet(v["attention_head_dim"], v["use_linear_projection"], v["upcast_attention"])
    unet.register_to_config(sample_size=UNET_SAMPLE_SIZE)
    vae = parity.build_vae()
    vae.register_to_config(sample_size=2 * UNET_SAMPLE_SIZE)
    models = {
        "text_encoder": parity.randomise(parity.build_text_encoder(v["hidden_act"], v["pad_id"]), seed + 1),
        "unet": parity.randomise(unet, seed + 2),
        "vae": parity.randomise(vae, seed + 3),
    }
    class_name, config = spec["scheduler"]
    scheduler = getattr(diffusers, class_name).from_config(config)
    return dict(models, tokenizer=build_tokenizer(spec["pad_token"]), scheduler=scheduler)


def save_pipeline(folder, components, variant=None, legacy_text_keys=False):
    """`StableDiffusionPipeline(...).save_pretrained` with no safety checker, then the two
    rewrites that make the folder look like a real download: the sd1 text encoder keys get the
    `text_model.` prefix (see make_parity_fixtures.py), and tokenizer/ gets vocab.json +
    merges.txt next to the tokenizer.json that transformers 5 writes."""
    pipe = StableDiffusionPipeline(**components, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True, variant=variant)
    if legacy_text_keys:
        name = "model.safetensors" if variant is None else f"model.{variant}.safetensors"
        parity.legacy_text_encoder_keys(os.path.join(folder, "text_encoder", name))
    write_tokenizer_files(os.path.join(folder, "tokenizer"))


def write_pipelines(out_dir):
    """sd1/, sd2/ (float32) and sd1-fp16/ (the sd1 weights as float16, variant "fp16").
    Returns each folder's float32 modules (sd1-fp16: the float16-rounded weights widened)."""
    expected = {}
    for name in MODELS:
        components = build_components(name)
        legacy = parity.VARIANTS[MODELS[name]["parity_variant"]]["legacy_text_keys"]
        save_pipeline(os.path.join(out_dir, name), components, legacy_text_keys=legacy)
        expected[name] = components
        if name == "sd1":
            halves = {k: copy.deepcopy(m).half() if isinstance(m, torch.nn.Module) else m
                      for k, m in components.items()}
            save_pipeline(os.path.join(out_dir, "sd1-fp16"), halves, variant="fp16",
                          legacy_text_keys=legacy)
            expected["sd1-fp16"] = {k: copy.deepcopy(m).float() if isinstance(m, torch.nn.Module) else m
                                    for k, m in halves.items()}
    return expected


def load_pipeline(out_dir, model, dtype=torch.float32):
    """The saved pipeline as a user loads it (sd1-fp16: float16 files, float32 math)."""
    kwargs = dict(variant="fp16") if model == "sd1-fp16" else {}
    pipe = StableDiffusionPipeline.from_pretrained(os.path.join(out_dir, model), dtype=torch.float32, **kwargs)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(dtype=dtype)


def check_loaded(pipe, expected, folder, prompts):
    """The loaded pipeline has exactly the weights that were built (a key the loader did not
    recognise would leave a freshly initialised layer) and the tokenizer that vocab.json +
    merges.txt alone give."""
    for part in ("text_encoder", "unet", "vae"):
        want = expected[part].state_dict()
        got = pipe.components[part].state_dict()
        assert set(want) == set(got), f"{folder}/{part}: keys differ"
        for key, tensor in want.items():
            assert got[key].dtype == tensor.dtype and torch.equal(got[key], tensor), f"{folder}/{part}: {key}"
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(folder, "tokenizer", name), tmp)
        plain = CLIPTokenizer.from_pretrained(tmp, pad_token=pipe.tokenizer.pad_token,
                                              model_max_length=parity.TOKENS)
    for text in prompts:
        assert window_ids(plain, text) == window_ids(pipe.tokenizer, text), f"{folder}: {text!r}"


def window_ids(tokenizer, text):
    """The 77 ids the pipeline's encode_prompt feeds the text encoder for `text`."""
    return tokenizer(text, padding="max_length", max_length=tokenizer.model_max_length,
                     truncation=True)["input_ids"]


# --- cases ------------------------------------------------------------------------------------

def case(model, name, task="txt2img", prompt=PROMPT, negative_prompt=NEGATIVE, steps=12, cfg=7.5,
         seed=0, width=32, height=32, sampler="default", schedule="default", strength=None,
         init_image=None):
    entry = dict(name=f"{model}-{name}", model=model, task=task, prompt=prompt,
                 negative_prompt=negative_prompt, steps=steps, cfg=cfg, seed=seed, width=width,
                 height=height, sampler=sampler, schedule=schedule)
    entry.update(strength=strength, init_image=init_image)  # None (null) for txt2img
    entry["output"] = f"outputs/{entry['name']}.png"
    return entry


def make_cases():
    """The matrix: per model the samplers at CFG 7.5 with a negative prompt, then an empty
    negative prompt, CFG 1, two non-square sizes and image-to-image; the fp16 cases repeat two
    sd1 cases (same prompt and seed), so they also show what the weight rounding changes."""
    cases = []
    for index, model in enumerate(("sd1", "sd2")):
        seeds = iter(range(100 * (index + 1) + 1, 100 * (index + 2)))
        for sampler, schedule, steps in (("default", "default", 12), ("euler", "default", 10),
                                         ("euler_a", "default", 12), ("ddim", "default", 10),
                                         ("dpmpp_2m", "karras", 11)):
            label = sampler + ("-karras" if schedule == "karras" else "")
            cases.append(case(model, label, sampler=sampler, schedule=schedule, steps=steps, seed=next(seeds)))
        prompt, _ = PROMPTS["portrait"]
        cases.append(case(model, "no-negative", prompt=prompt, negative_prompt="", seed=next(seeds)))
        prompt, negative = PROMPTS["forest"]
        cases.append(case(model, "cfg1", prompt=prompt, negative_prompt=negative, cfg=1.0, seed=next(seeds)))
        prompt, negative = PROMPTS["city"]
        cases.append(case(model, "48x32", prompt=prompt, negative_prompt=negative, width=48, height=32,
                          sampler="euler", steps=10, seed=next(seeds)))
        cases.append(case(model, "32x48", prompt=prompt, negative_prompt=negative, width=32, height=48,
                          seed=next(seeds)))
        for sampler in ("default", "euler_a"):
            for strength in (0.6, 0.3):
                cases.append(case(model, f"img2img-{sampler}-{strength}", task="img2img", sampler=sampler,
                                  strength=strength, init_image="init-32x32.png", seed=next(seeds)))
    cases.append(case("sd2", "img2img-euler-48x32", task="img2img", sampler="euler", strength=0.6,
                      width=48, height=32, init_image="init-48x32.png", steps=10, seed=4_000_000_123))
    for sampler in ("default", "euler_a"):
        original = next(c for c in cases if c["name"] == f"sd1-{sampler}")
        cases.append(case("sd1-fp16", sampler, sampler=sampler, steps=original["steps"], seed=original["seed"]))
    cases += coverage_cases()
    return cases


def coverage_cases():
    """Every other sampler and schedule stipple has on SD models, txt2img at 8 steps on both
    models (seeds 121-136 and 221-236), then second-order samplers in sd1 img2img (137, 138)."""
    cases = []
    for index, model in enumerate(("sd1", "sd2")):
        seeds = iter(range(100 * (index + 1) + 21, 100 * (index + 2)))
        for sampler, schedule in COVERAGE:
            label = sampler + ("" if schedule == "default" else f"-{schedule}")
            cases.append(case(model, label, sampler=sampler, schedule=schedule, steps=8, seed=next(seeds)))
        if model == "sd1":
            for sampler in COVERAGE_IMG2IMG:
                cases.append(case(model, f"img2img-{sampler}-0.5", task="img2img", sampler=sampler,
                                  strength=0.5, init_image="init-32x32.png", seed=next(seeds)))
    return cases


def init_image(width, height):
    """A smooth colour gradient with a disc and a bar: structure the VAE can encode."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    u, v = x / (width - 1), y / (height - 1)
    rgb = np.stack([40 + 180 * u, 60 + 150 * v, 200 - 120 * u * v], axis=-1)
    disc = (x - 0.35 * width) ** 2 + (y - 0.4 * height) ** 2 < (0.22 * min(width, height)) ** 2
    rgb[disc] = (235, 200, 40)
    bar = (y > 0.7 * height) & (y < 0.85 * height) & (x > 0.15 * width)
    rgb[bar] = (30, 40, 90)
    return Image.fromarray(np.round(rgb).astype(np.uint8), mode="RGB")


def scheduler_for(pipe, entry):
    """The scheduler stipple uses for the case: `Class.from_config(saved config, **overrides)`."""
    if entry["sampler"] == "default":
        cls, overrides = type(pipe.scheduler), {}
    else:
        cls, overrides = SAMPLERS[entry["sampler"]]
    overrides = dict(overrides, **SCHEDULES[entry["schedule"]])
    return cls.from_config(pipe.scheduler.config, **overrides), cls.__name__, overrides


@contextlib.contextmanager
def float32_noise():
    """Makes every `randn_tensor` draw float32 and widen it, so a float64 run gets exactly the
    noise of the float32 run (torch draws float64 normals from a different stream)."""
    modules = [diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion,
               diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img,
               diffusers.models.autoencoders.vae]
    modules += [getattr(diffusers.schedulers, m) for m in dir(diffusers.schedulers) if m.startswith("scheduling_")]
    modules = [m for m in modules if hasattr(m, "randn_tensor")]
    originals = [m.randn_tensor for m in modules]

    def widened(original):
        def draw(shape, generator=None, device=None, dtype=None, **kwargs):
            return original(shape, generator=generator, device=device, dtype=torch.float32, **kwargs).to(dtype)
        return draw

    for m, original in zip(modules, originals):
        m.randn_tensor = widened(original)
    try:
        yield
    finally:
        for m, original in zip(modules, originals):
            m.randn_tensor = original


def run_case(pipe, entry, out_dir):
    """Runs one case through diffusers; returns (uint8 image [H, W, 3], final latents)."""
    scheduler, _, _ = scheduler_for(pipe, entry)
    components = dict(pipe.components, scheduler=scheduler)
    cls = StableDiffusionPipeline if entry["task"] == "txt2img" else StableDiffusionImg2ImgPipeline
    runner = cls(**components, requires_safety_checker=False)
    runner.set_progress_bar_config(disable=True)
    steps = []

    def keep_latents(_pipe, _i, _t, kwargs):
        steps.append(kwargs["latents"].detach().clone())
        return {}

    args = dict(prompt=entry["prompt"], negative_prompt=entry["negative_prompt"],
                num_inference_steps=entry["steps"], guidance_scale=entry["cfg"],
                generator=torch.Generator("cpu").manual_seed(entry["seed"]), output_type="np",
                callback_on_step_end=keep_latents)
    return run_pixels(runner, args, entry, out_dir), steps[-1]


def run_pixels(runner, args, entry, out_dir):
    """Runs `runner` with `args` plus the case's size (txt2img) or init image and strength
    (img2img); returns the uint8 image [H, W, 3] as the pipeline's numpy_to_pil makes it.
    Shared by the SDXL and LCM fixture scripts."""
    args = dict(args)
    if entry["task"] == "txt2img":
        args.update(width=entry["width"], height=entry["height"])
    else:
        image = Image.open(os.path.join(out_dir, entry["init_image"]))
        image.load()
        assert image.size == (entry["width"], entry["height"]), entry["name"]
        args.update(image=image, strength=entry["strength"])
    with torch.inference_mode():
        images = runner(**args).images
    assert images.shape == (1, entry["height"], entry["width"], 3), images.shape
    return (images[0] * 255).round().astype(np.uint8)


def save_png(pixels, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(pixels, mode="RGB").save(path, format="PNG")


def png_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def check_determinism(pipe, entry, out_dir):
    """Two runs of one case give the same latents and the same PNG bytes."""
    (a, la), (b, lb) = run_case(pipe, entry, out_dir), run_case(pipe, entry, out_dir)
    assert torch.equal(la, lb) and np.array_equal(a, b), f"{entry['name']} is not deterministic"
    with tempfile.TemporaryDirectory() as tmp:
        save_png(a, os.path.join(tmp, "a.png"))
        save_png(b, os.path.join(tmp, "b.png"))
        assert png_bytes(os.path.join(tmp, "a.png")) == png_bytes(os.path.join(tmp, "b.png"))
    print(f"determinism: {entry['name']} twice gives identical latents and PNG bytes")


def level_difference(a, b):
    diff = np.abs(a.astype(np.int32) - b.astype(np.int32))
    return int(diff.max()), float((diff <= 1).mean())


def sensitivity(out_dir, cases, references, every_case=False):
    """Reruns some cases with the pipeline in float64 (same weights, same noise) and compares
    with the float32 images: how far two correct implementations can drift apart. The float64
    images must meet the bar the Swift tests use, else the bar would be unfair."""
    figures = {}
    pipes = {}
    with float32_noise():
        for entry in cases:
            if not every_case and entry["name"] not in SENSITIVITY_CASES:
                continue
            model = entry["model"]
            if model not in pipes:
                pipes[model] = load_pipeline(out_dir, model, dtype=torch.float64)
            pixels, latents = run_case(pipes[model], entry, out_dir)
            ref_pixels, ref_latents = references[entry["name"]]
            max_levels, within_one = level_difference(pixels, ref_pixels)
            latent_diff = float((latents - ref_latents.double()).abs().max())
            figures[entry["name"]] = dict(max_levels=max_levels, within_one_level=within_one,
                                          latents_max_abs_diff=latent_diff)
            print(f"float64 vs float32 {entry['name']}: max {max_levels} levels, "
                  f"{100 * within_one:.2f}% within 1 level, latents differ by up to {latent_diff:.2e}")
    unfair = [name for name, f in figures.items()
              if f["max_levels"] > BAR["max_levels"] or f["within_one_level"] < BAR["within_one_level"]]
    assert not unfair, f"float64 runs miss the parity bar: {unfair}"
    return figures


def clear_folder(out_dir):
    """Empties the output folder except its hand-written README.md."""
    os.makedirs(out_dir, exist_ok=True)
    for name in os.listdir(out_dir):
        path = os.path.join(out_dir, name)
        if name == "README.md":
            continue
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)


def write_cases(path, cases):
    """cases.json: a list of objects, one field per line, lists on one line."""
    blocks = []
    for entry in cases:
        fields = [f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}" for key, value in entry.items()]
        blocks.append(" {\n" + ",\n".join(fields) + "\n }")
    with open(path, "w", encoding="utf-8") as f:
        f.write("[\n" + ",\n".join(blocks) + "\n]\n")
    assert json.load(open(path, encoding="utf-8")) == cases


def quiet_and_seeded():
    """One CPU thread and torch's global seed 0 (every fixture script starts so), and no loading
    chatter from diffusers or transformers (accelerate notes, progress bars)."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    for library in (diffusers, transformers):
        library.utils.logging.set_verbosity_error()
        library.utils.logging.disable_progress_bar()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", nargs="?", default=OUT, help="output folder (default: %(default)s)")
    parser.add_argument("--sensitivity-all", action="store_true",
                        help="rerun every case in float64, not only " + ", ".join(SENSITIVITY_CASES))
    options = parser.parse_args()
    out_dir = options.out_dir

    quiet_and_seeded()
    clear_folder(out_dir)
    expected = write_pipelines(out_dir)
    cases = make_cases()
    for name, (width, height) in {c["init_image"]: (c["width"], c["height"])
                                  for c in cases if c["task"] == "img2img"}.items():
        init_image(width, height).save(os.path.join(out_dir, name), format="PNG")

    pipes = {}
    for model in ("sd1", "sd2", "sd1-fp16"):
        pipes[model] = load_pipeline(out_dir, model)
        texts = [t for c in cases if c["model"] == model for t in (c["prompt"], c["negative_prompt"])]
        check_loaded(pipes[model], expected[model], os.path.join(out_dir, model), texts)
    check_determinism(pipes["sd1"], next(c for c in cases if c["name"] == "sd1-img2img-euler_a-0.6"), out_dir)

    references, latents, flat = {}, {}, []
    for entry in cases:
        pixels, final = run_case(pipes[entry["model"]], entry, out_dir)
        std = float(pixels.std())
        clipped = float(((pixels == 0) | (pixels == 255)).mean())
        print(f"{entry['name']:30s} mean {pixels.mean():6.1f} std {std:5.1f} levels, "
              f"{100 * clipped:4.1f}% at 0 or 255, latents std {final.std():6.2f}")
        if std <= 20:
            flat.append(entry["name"])
        references[entry["name"]] = (pixels, final)
        latents[entry["name"]] = final.float().contiguous()
        save_png(pixels, os.path.join(out_dir, entry["output"]))
        tokenizer = pipes[entry["model"]].tokenizer
        _, scheduler_class, overrides = scheduler_for(pipes[entry["model"]], entry)
        entry.update(diffusers_scheduler=dict(class_name=scheduler_class, overrides=overrides),
                     prompt_ids=window_ids(tokenizer, entry["prompt"]),
                     negative_prompt_ids=window_ids(tokenizer, entry["negative_prompt"]))
    assert not flat, f"nearly flat images (std <= 20 levels): {flat}"
    for sampler in ("default", "euler_a"):
        (full, full_latents), (half, half_latents) = references[f"sd1-{sampler}"], references[f"sd1-fp16-{sampler}"]
        max_levels, within_one = level_difference(full, half)
        print(f"sd1-fp16-{sampler} vs sd1-{sampler} (weight rounding): max {max_levels} levels, "
              f"{100 * within_one:.1f}% within 1 level, latents differ by up to "
              f"{(full_latents - half_latents).abs().max():.2e}")

    safetensors.torch.save_file(latents, os.path.join(out_dir, "latents.safetensors"),
                                metadata={"format": "pt"})
    write_cases(os.path.join(out_dir, "cases.json"), cases)
    parity.write_versions(out_dir)

    sensitivity(out_dir, cases, references, every_case=options.sensitivity_all)
    total = sum(os.path.getsize(os.path.join(d, n)) for d, _, names in os.walk(out_dir) for n in names)
    print(f"{len(cases)} cases, {total / 1e6:.2f} MB in {out_dir}")


if __name__ == "__main__":
    main()

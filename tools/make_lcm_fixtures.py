#!/usr/bin/env python3
"""Writes the LCM parity fixtures of Tests/DiffusionTests/Fixtures/lcm/.

A tiny, random-weight LCM-distilled SD1-style pipeline saved by diffusers'
`LatentConsistencyModelPipeline(...).save_pretrained` (`lcm/`: the text encoder, VAE and tokenizer
of `Fixtures/pipelines/sd1`, a UNet of the same graph with `time_cond_proj_dim` set, so it has the
guidance embedding layer `time_embedding.cond_proj`, and the `LCMScheduler` config LCM models ship),
and the images diffusers' `LatentConsistencyModelPipeline` / `LatentConsistencyModelImg2ImgPipeline`
make with it (1, 2, 4, 8 steps, guidance 8.5 / 3 / 1, a non-square size, img2img). Also the
LCM-LoRA way of running, minus the LoRA: the plain `Fixtures/pipelines/sd1` model (read from that
folder, not copied) in `StableDiffusionPipeline` / `StableDiffusionImg2ImgPipeline` with
`LCMScheduler.from_config(its scheduler config)` at guidance 1.

    .venv-ref/bin/python tools/make_lcm_fixtures.py

Rewrites everything in the folder but its hand-written README.md (layout, case semantics, what
diffusers does, the parity bar), then builds the whole folder a second time in a temporary
directory and asserts that every file is byte for byte the same. It also checks the README's
claims about diffusers (the guidance embedding formula, the scheduler keys LCMScheduler ignores,
the negative prompt it ignores), reruns every case in float64 to show the bar is fair, and measures
what typical mistakes change (figures printed; they are in the README).
Made with torch 2.15.0 (CPU), diffusers 0.42.1, transformers 5.25.0; the run records its own
versions in `versions.json`. Output is byte-for-byte reproducible (fixed seeds, one CPU thread).
Runs in about 10 seconds.
"""
import argparse
import contextlib
import inspect
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
from diffusers import (LatentConsistencyModelImg2ImgPipeline, LatentConsistencyModelPipeline,  # noqa: E402
                       LCMScheduler, StableDiffusionImg2ImgPipeline, StableDiffusionPipeline,
                       UNet2DConditionModel)
from diffusers.pipelines.latent_consistency_models import (  # noqa: E402
    pipeline_latent_consistency_img2img as lcm_img2img_module,
    pipeline_latent_consistency_text2img as lcm_text2img_module)
import transformers  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_parity_fixtures as parity  # noqa: E402
import make_pipeline_fixtures as pipelines  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(REPO, "Tests", "DiffusionTests", "Fixtures")
OUT = os.path.join(FIXTURES, "lcm")
SEED = 4000  # LCM UNet weights: SEED + 2 (the text encoder and VAE keep sd1's 1001 and 1003)
# The guidance embedding width. LCM-Dreamshaper v7 uses 256; 16 here, so that `cond_proj.weight`
# is [8, 16] (time_embedding's input is block_out_channels[0] = 8): not square, a transposed
# weight cannot load silently.
TIME_COND_PROJ_DIM = 16
# Every LCMScheduler key, with the values LCM SD1.5 models ship (SimianLuo/LCM_Dreamshaper_v7:
# scaled_linear 0.00085-0.012, 50 original steps, timestep scaling 10, epsilon, no clipping; the Hub
# file itself was not readable offline, see the README). steps_offset, timestep_spacing and
# set_alpha_to_one are accepted but change nothing in LCMScheduler (check_inert_keys).
LCM_SCHEDULER = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                     trained_betas=None, original_inference_steps=50, clip_sample=False, clip_sample_range=1.0,
                     set_alpha_to_one=True, steps_offset=1, prediction_type="epsilon", thresholding=False,
                     dynamic_thresholding_ratio=0.995, sample_max_value=1.0, timestep_spacing="leading",
                     timestep_scaling=10.0, rescale_betas_zero_snr=False)
INERT_KEYS = dict(steps_offset=0, timestep_spacing="trailing", set_alpha_to_one=False)
GUIDANCE = 8.5  # LatentConsistencyModelPipeline's default guidance_scale
# case model -> (folder, relative to this fixture folder, and the pipeline class that saved it)
MODELS = {"lcm": ("lcm", LatentConsistencyModelPipeline),
          "sd1-lcm-scheduler": ("../pipelines/sd1", StableDiffusionPipeline)}
RUNNERS = {("lcm", "txt2img"): LatentConsistencyModelPipeline,
           ("lcm", "img2img"): LatentConsistencyModelImg2ImgPipeline,
           ("sd1-lcm-scheduler", "txt2img"): StableDiffusionPipeline,
           ("sd1-lcm-scheduler", "img2img"): StableDiffusionImg2ImgPipeline}


# --- models -----------------------------------------------------------------------------------

def build_components():
    """sd1's components (make_pipeline_fixtures: parity graphs and seeds) and the LCM pipeline's:
    the same text encoder, VAE and tokenizer, an LCM UNet, the LCM scheduler."""
    sd1 = pipelines.build_components("sd1")
    config = {k: v for k, v in sd1["unet"].config.items() if not k.startswith("_")}
    unet = parity.randomise(UNet2DConditionModel(**dict(config, time_cond_proj_dim=TIME_COND_PROJ_DIM)), SEED + 2)
    assert tuple(unet.time_embedding.cond_proj.weight.shape) == (8, TIME_COND_PROJ_DIM)
    lcm = dict(sd1, unet=unet, scheduler=LCMScheduler(**LCM_SCHEDULER))
    return {"lcm": lcm, "sd1-lcm-scheduler": sd1}


def save_lcm(folder, components):
    """save_pretrained, then the sd1 rewrites of make_pipeline_fixtures (text_model. keys with
    position_ids, vocab.json + merges.txt beside tokenizer.json)."""
    pipe = LatentConsistencyModelPipeline(**components, safety_checker=None, feature_extractor=None,
                                          requires_safety_checker=False)
    pipe.save_pretrained(folder, safe_serialization=True)
    parity.legacy_text_encoder_keys(os.path.join(folder, "text_encoder", "model.safetensors"))
    pipelines.write_tokenizer_files(os.path.join(folder, "tokenizer"))
    with open(os.path.join(folder, "model_index.json"), encoding="utf-8") as f:
        index = json.load(f)
    assert index["_class_name"] == "LatentConsistencyModelPipeline" and index["scheduler"] == [
        "diffusers", "LCMScheduler"] and index["requires_safety_checker"] is False, index


def folder_of(out_dir, model):
    """lcm/ lives in the output folder; pipelines/sd1 is always the committed one."""
    folder = MODELS[model][0]
    return os.path.join(out_dir if model == "lcm" else OUT, folder)


def load_pipeline(out_dir, model, dtype=torch.float32):
    pipe = MODELS[model][1].from_pretrained(folder_of(out_dir, model), dtype=torch.float32)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(dtype=dtype)


# --- the guidance embedding -------------------------------------------------------------------

def guidance_embedding(cfg, dim, w_shift=1.0, w_scale=1000.0, cos_first=False, divisor_shift=1,
                       dtype=torch.float32):
    """The w embedding as the README describes it, written from the description (float32):
    w = (cfg - 1) * 1000; frequencies exp(-ln(10000) * i / (dim/2 - 1)), i < dim/2; [sin(w f),
    cos(w f)]. The keyword arguments make the mistakes and variants the README measures."""
    half = dim // 2
    w = torch.tensor([cfg - w_shift], dtype=dtype) * w_scale
    step = torch.log(torch.tensor(10000.0, dtype=dtype)) / (half - divisor_shift)
    angles = w[:, None] * torch.exp(torch.arange(half, dtype=dtype) * -step)[None, :]
    parts = [torch.sin(angles), torch.cos(angles)]
    return torch.cat(parts[::-1] if cos_first else parts, dim=1).float()


def check_guidance_embedding(pipe):
    """diffusers' get_guidance_scale_embedding is exactly the README's formula, for the guidance
    scales of the cases and a few more, at our width and LCM-Dreamshaper's 256."""
    for cfg in (GUIDANCE, 3.0, 1.0, 0.0, 2.0, 7.25):
        for dim in (TIME_COND_PROJ_DIM, 256):
            theirs = pipe.get_guidance_scale_embedding(torch.tensor(cfg - 1).repeat(1), embedding_dim=dim)
            assert theirs.dtype == torch.float32 and torch.equal(theirs, guidance_embedding(cfg, dim)), (cfg, dim)
    ones = guidance_embedding(1.0, TIME_COND_PROJ_DIM)[0]
    assert torch.equal(ones, torch.cat([torch.zeros(8), torch.ones(8)])), "cfg 1 must give [0]*8 + [1]*8"
    print("guidance embedding: diffusers' get_guidance_scale_embedding equals the README formula "
          "(float32, sin then cos, ln(10000)/(dim/2 - 1), w = (cfg - 1) * 1000)")


# --- scheduler facts --------------------------------------------------------------------------

def lcm_timesteps(config, steps, strength=1.0):
    scheduler = LCMScheduler.from_config(config)
    scheduler.set_timesteps(steps, strength=strength)
    return scheduler.timesteps.tolist()


def check_inert_keys():
    """steps_offset, timestep_spacing and set_alpha_to_one do not change LCMScheduler: the same
    timesteps and the same step results with each of them changed."""
    gen = torch.Generator().manual_seed(5)
    sample0 = torch.randn(1, 4, 4, 4, generator=gen)
    outputs = torch.randn(8, 1, 4, 4, 4, generator=gen)
    for steps, strength in ((1, 1.0), (2, 1.0), (4, 1.0), (8, 1.0), (4, 0.5)):
        results = []
        for config in (LCM_SCHEDULER, dict(LCM_SCHEDULER, **INERT_KEYS)):
            scheduler = LCMScheduler.from_config(config)
            scheduler.set_timesteps(steps, strength=strength)
            sample, noise = sample0, torch.Generator().manual_seed(6)
            for i, t in enumerate(scheduler.timesteps):
                sample = scheduler.step(outputs[i], t, sample, generator=noise, return_dict=False)[0]
            results.append((scheduler.timesteps.tolist(), sample))
        assert results[0][0] == results[1][0] and torch.equal(results[0][1], results[1][1]), (steps, strength)
    print(f"LCMScheduler ignores {sorted(INERT_KEYS)}: same timesteps and steps at 1, 2, 4, 8 steps and "
          "strength 0.5")


# --- cases ------------------------------------------------------------------------------------

def case(model, name, steps=4, cfg=GUIDANCE, **kwargs):
    entry = pipelines.case(model, name, negative_prompt=None, steps=steps, cfg=cfg, sampler="lcm", **kwargs)
    entry["folder"] = MODELS[model][0]
    return entry


def make_cases():
    """lcm: steps 1, 2, 4, 8 at guidance 8.5; guidance 1 and 3 with lcm-4step's prompt and seed
    (only w differs); 48x32; img2img 0.5. Then the LCM-LoRA way on plain sd1 (guidance 1)."""
    seeds = iter(range(401, 500))
    cases = [case("lcm", f"{steps}step", steps=steps, seed=next(seeds)) for steps in (1, 2, 4, 8)]
    four = cases[2]
    for cfg in (1.0, 3.0):
        cases.append(case("lcm", f"cfg{cfg:g}", cfg=cfg, seed=four["seed"]))
    prompt, _ = pipelines.PROMPTS["city"]
    cases.append(case("lcm", "48x32", prompt=prompt, width=48, height=32, seed=next(seeds)))
    prompt, _ = pipelines.PROMPTS["portrait"]
    cases.append(case("lcm", "img2img-0.5", task="img2img", prompt=prompt, strength=0.5,
                      init_image="init-32x32.png", seed=next(seeds)))
    seeds = iter(range(451, 500))
    prompt, _ = pipelines.PROMPTS["forest"]
    cases.append(case("sd1-lcm-scheduler", "4step", prompt=prompt, cfg=1.0, seed=next(seeds)))
    cases.append(case("sd1-lcm-scheduler", "img2img-0.5", task="img2img", cfg=1.0, strength=0.5,
                      init_image="init-32x32.png", seed=next(seeds)))
    return cases


def scheduler_for(pipe):
    """What stipple's `lcm` sampler is in diffusers: LCMScheduler.from_config(saved config)."""
    return LCMScheduler.from_config(pipe.scheduler.config)


def run_case(pipe, entry, out_dir, runner_class=None, embedding=None, **extra):
    """Runs one case; returns (uint8 image [H, W, 3], final latents, the timesteps the UNet saw).
    `runner_class`, `embedding` (a get_guidance_scale_embedding replacement) and `extra` call
    arguments are for the checks and the mistakes table."""
    cls = runner_class or RUNNERS[entry["model"], entry["task"]]
    runner = cls(**dict(pipe.components, scheduler=scheduler_for(pipe)), requires_safety_checker=False)
    runner.set_progress_bar_config(disable=True)
    if embedding is not None:
        runner.get_guidance_scale_embedding = embedding
    seen = []
    watched = [k for k in ("latents", "denoised") if k in cls._callback_tensor_inputs]

    def keep(_pipe, _i, t, tensors):
        seen.append((int(t), {k: v.detach().clone() for k, v in tensors.items()}))
        return {}

    args = dict(prompt=entry["prompt"], num_inference_steps=entry["steps"], guidance_scale=entry["cfg"],
                generator=torch.Generator("cpu").manual_seed(entry["seed"]), output_type="np",
                callback_on_step_end=keep, callback_on_step_end_tensor_inputs=watched, **extra)
    pixels = pipelines.run_pixels(runner, args, entry, out_dir)
    last = seen[-1][1]
    if "denoised" in last:  # the LCM pipelines decode `denoised`: the last step's prev_sample
        assert torch.equal(last["denoised"], last["latents"]), entry["name"]
    return pixels, last["latents"], [t for t, _ in seen]


def describe(entry, pipe, timesteps):
    """The informational fields of a case."""
    dim = pipe.unet.config.time_cond_proj_dim
    scheduler = scheduler_for(pipe)
    assert timesteps == lcm_timesteps(scheduler.config, entry["steps"], entry["strength"] or 1.0) or \
        entry["model"] == "sd1-lcm-scheduler" and entry["task"] == "img2img", entry["name"]
    entry.update(
        diffusers_pipeline=RUNNERS[entry["model"], entry["task"]].__name__,
        diffusers_scheduler=dict(class_name="LCMScheduler", overrides={},
                                 original_inference_steps=scheduler.config.original_inference_steps,
                                 timestep_scaling=scheduler.config.timestep_scaling,
                                 prediction_type=scheduler.config.prediction_type),
        timesteps=timesteps, time_cond_proj_dim=dim,
        w=None if dim is None else entry["cfg"] - 1,
        w_embedding=None if dim is None else guidance_embedding(entry["cfg"], dim)[0].tolist(),
        prompt_ids=pipelines.window_ids(pipe.tokenizer, entry["prompt"]))


# --- the build --------------------------------------------------------------------------------

def build(out_dir):
    """Writes the whole folder (but README.md); returns (cases, {name: (pixels, latents)}, pipes)."""
    pipelines.clear_folder(out_dir)
    expected = build_components()
    save_lcm(os.path.join(out_dir, "lcm"), expected["lcm"])
    cases = make_cases()
    pipelines.init_image(32, 32).save(os.path.join(out_dir, "init-32x32.png"), format="PNG")
    pipes = {}
    for model in MODELS:
        pipes[model] = load_pipeline(out_dir, model)
        pipelines.check_loaded(pipes[model], expected[model], folder_of(out_dir, model),
                               [c["prompt"] for c in cases if c["model"] == model])
    saved = pipes["lcm"].scheduler
    assert type(saved) is LCMScheduler and all(saved.config[k] == v for k, v in LCM_SCHEDULER.items()), saved

    references = {}
    for entry in cases:
        pixels, latents, timesteps = run_case(pipes[entry["model"]], entry, out_dir)
        references[entry["name"]] = (pixels, latents)
        pipelines.save_png(pixels, os.path.join(out_dir, entry["output"]))
        describe(entry, pipes[entry["model"]], timesteps)
        saturated = float(((pixels == 0) | (pixels == 255)).mean())
        print(f"{entry['name']:32s} t={timesteps} std {pixels.std():5.1f} levels, "
              f"{100 * saturated:4.1f}% at 0 or 255, latents std {latents.std():6.2f}")
    flat = [name for name, (pixels, _) in references.items() if pixels.std() <= 20]
    assert not flat, f"nearly flat images (std <= 20 levels): {flat}"
    latents = {name: final.float().contiguous() for name, (_, final) in references.items()}
    safetensors.torch.save_file(latents, os.path.join(out_dir, "latents.safetensors"), metadata={"format": "pt"})
    pipelines.write_cases(os.path.join(out_dir, "cases.json"), cases)
    parity.write_versions(out_dir)
    return cases, references, pipes


def tree_bytes(root):
    files = {}
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            if os.path.relpath(path, root) != "README.md":
                with open(path, "rb") as f:
                    files[os.path.relpath(path, root)] = f.read()
    return files


def check_rebuild(out_dir):
    """A second build in a temporary folder writes the same files, byte for byte."""
    first = tree_bytes(out_dir)
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
            build(tmp)
        second = tree_bytes(tmp)
    assert first.keys() == second.keys(), sorted(set(first) ^ set(second))
    differ = [name for name in first if first[name] != second[name]]
    assert not differ, f"a second build wrote different bytes: {differ}"
    print(f"determinism: a second build writes the same {len(first)} files byte for byte")


# --- checks and figures -----------------------------------------------------------------------

def check_pipelines(pipes, cases, references, out_dir):
    """What the README says about how diffusers' pipelines treat an LCM UNet."""
    four = next(c for c in cases if c["name"] == "lcm-4step")
    for name, call in (("negative_prompt='blurry, dark'", dict(negative_prompt=pipelines.NEGATIVE)),
                       ("StableDiffusionPipeline", dict(runner_class=StableDiffusionPipeline))):
        pixels, latents, _ = run_case(pipes["lcm"], four, out_dir, **call)
        same = torch.equal(latents, references[four["name"]][1])
        diff = float((latents - references[four["name"]][1]).abs().max())
        print(f"lcm-4step with {name}: latents {'identical' if same else f'differ by up to {diff:.1e}'}")
        assert diff < 1e-5, name
    img2img = next(c for c in cases if c["name"] == "lcm-img2img-0.5")
    _, _, timesteps = run_case(pipes["lcm"], img2img, out_dir, runner_class=StableDiffusionImg2ImgPipeline)
    print(f"lcm-img2img-0.5 through StableDiffusionImg2ImgPipeline: timesteps {timesteps} "
          f"(LatentConsistencyModelImg2ImgPipeline: {img2img['timesteps']})")
    assert timesteps != img2img["timesteps"]
    signature = inspect.signature(LatentConsistencyModelPipeline.__call__).parameters
    assert "negative_prompt" not in signature and "kwargs" in signature


@contextlib.contextmanager
def float32_noise():
    """make_pipeline_fixtures.float32_noise (schedulers, VAE, SD pipelines), plus the two LCM
    pipeline modules: a float64 run draws exactly the float32 run's noise."""
    saved = [(m, m.randn_tensor) for m in (lcm_text2img_module, lcm_img2img_module)]

    def widened(original):
        return lambda shape, dtype=None, **kwargs: original(shape, dtype=torch.float32, **kwargs).to(dtype)

    for module, original in saved:
        module.randn_tensor = widened(original)
    try:
        with pipelines.float32_noise():
            yield
    finally:
        for module, original in saved:
            module.randn_tensor = original


def compare(name, a, b):
    max_levels, within_one = pipelines.level_difference(a[0], b[0])
    latent_diff = float((a[1].double() - b[1].double()).abs().max())
    print(f"{name}: max {max_levels} levels, {100 * within_one:.2f}% within 1 level, "
          f"latents differ by up to {latent_diff:.1e}")
    return max_levels, within_one, latent_diff


def meets_bar(max_levels, within_one, latent_diff):
    bar = pipelines.BAR
    return max_levels <= bar["max_levels"] and within_one >= bar["within_one_level"] and latent_diff <= 5e-3


def sensitivity(out_dir, cases, references):
    """Every case again in float64 (same weights, same noise): two correct implementations must
    meet the bar."""
    doubles = {model: load_pipeline(out_dir, model, dtype=torch.float64) for model in MODELS}
    unfair = []
    with float32_noise():
        for entry in cases:
            pixels, latents, _ = run_case(doubles[entry["model"]], entry, out_dir)
            figures = compare(f"float64 vs float32 {entry['name']}", (pixels, latents), references[entry["name"]])
            if not meets_bar(*figures):
                unfair.append(entry["name"])
    assert not unfair, f"float64 runs miss the parity bar: {unfair}"


def mistakes(pipes, cases, references, out_dir):
    """What a wrong guidance embedding or img2img schedule does to the images: each must miss
    the bar, else the fixtures could not tell. Also float32 rounding in the embedding, which must
    not."""
    four = next(c for c in cases if c["name"] == "lcm-4step")

    def replaced(**variant):
        return lambda w, embedding_dim, **_: guidance_embedding(float(w[0]) + 1, embedding_dim, **variant)

    wrong = {"no w embedding (zeros)": dict(embedding=lambda w, embedding_dim, **_: torch.zeros(1, embedding_dim)),
             "w = cfg, not cfg - 1": dict(embedding=replaced(w_shift=0.0)),
             "cos before sin": dict(embedding=replaced(cos_first=True)),
             "w not scaled by 1000": dict(embedding=replaced(w_scale=1.0)),
             "frequencies over dim/2 (as the timestep embedding)": dict(embedding=replaced(divisor_shift=0))}
    caught = True
    for name, call in wrong.items():
        result = run_case(pipes["lcm"], four, out_dir, **call)
        caught &= not meets_bar(*compare(f"lcm-4step, {name}", result[:2], references[four["name"]]))
    close = dict(four, cfg=8.4)
    caught &= not meets_bar(*compare("lcm-4step at cfg 8.4", run_case(pipes["lcm"], close, out_dir)[:2],
                                     references[four["name"]]))
    img2img = next(c for c in cases if c["name"] == "lcm-img2img-0.5")
    result = run_case(pipes["lcm"], img2img, out_dir, runner_class=StableDiffusionImg2ImgPipeline)
    caught &= not meets_bar(*compare("lcm-img2img-0.5 with StableDiffusionImg2ImgPipeline's schedule",
                                     result[:2], references[img2img["name"]]))
    for name in ("lcm-4step", "lcm-8step", "lcm-cfg3"):  # not a mistake: what float32 rounding there does
        entry = next(c for c in cases if c["name"] == name)
        result = run_case(pipes["lcm"], entry, out_dir, embedding=replaced(dtype=torch.float64))
        assert meets_bar(*compare(f"{entry['name']}, w embedding computed in float64 and rounded to float32",
                                  result[:2], references[entry["name"]])), entry["name"]
    for other in ("lcm-cfg1", "lcm-cfg3"):
        compare(f"{other} vs lcm-4step (same prompt, seed and steps; only w differs)",
                references[other], references[four["name"]])
    assert caught, "a mistake meets the parity bar"


# --- main -------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir", nargs="?", default=OUT, help="output folder (default: %(default)s)")
    out_dir = parser.parse_args().out_dir

    pipelines.quiet_and_seeded()
    check_inert_keys()
    cases, references, pipes = build(out_dir)
    check_guidance_embedding(pipes["lcm"])
    check_pipelines(pipes, cases, references, out_dir)
    check_rebuild(out_dir)
    sensitivity(out_dir, cases, references)
    mistakes(pipes, cases, references, out_dir)
    total = sum(len(data) for data in tree_bytes(out_dir).values())
    print(f"{len(cases)} cases, {total / 1e6:.2f} MB in {out_dir} (README.md not counted)")


if __name__ == "__main__":
    main()

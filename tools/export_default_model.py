#!/usr/bin/env python3
"""Writes stipple's bundled default model, samples/shapes-64/, from the training work folder of
tools/train_default_model.py (its latest checkpoint: usable mid-training too).

    .venv-ref/bin/python tools/export_default_model.py [--work .venv-train-ckpt/shapes64] [--out samples/shapes-64]
        [--scheduler euler_a] [--no-judge] [--stipple-json FILE]

What it writes, in diffusers' StableDiffusionPipeline layout:
- model_index.json, scheduler/scheduler_config.json (the chosen class, squaredcos_cap_v2 betas,
  v_prediction), tokenizer/ (vocab.json, merges.txt, special_tokens_map.json,
  tokenizer_config.json: no tokenizer.json, so every reader uses the same two files);
- text_encoder/, unet/, vae/: config.json + weights under the plain names (model.safetensors,
  diffusion_pytorch_model.safetensors) holding float16 tensors (EMA weights for the text encoder
  and UNet). diffusers and transformers upcast them when loading with torch_dtype=torch.float32;
- stipple_preview.json: the linear latent -> RGB preview, {"factors": [[r, g, b] x 4], "bias":
  [r, g, b]}, fitted by least squares from VAE-scaled latents (as the UNet sees them) of 1024
  training images to their VAE decodes area-averaged to 16x16, in [-1, 1];
- README.md: the model card, with the training record of WORK/state.json, the preview fit, and the
  judge's figures: diffusers' pipeline (run here and kept as WORK/judge-pipeline-stepN.json; with
  --no-judge that file is reused when it exists) and `stipple generate` (WORK/judge-stipple-stepN.json
  or --stipple-json: a file written by `judge_shapes.py stipple --json`).

To judge one checkpoint with both engines while training goes on:

    cp .venv-train-ckpt/shapes64/unet.pt /tmp/unet.pt        # a fixed step, N
    .venv-ref/bin/python tools/export_default_model.py --checkpoint /tmp/unet.pt
    .venv-ref/bin/python tools/judge_shapes.py stipple --json .venv-train-ckpt/shapes64/judge-stipple-stepN.json
    .venv-ref/bin/python tools/export_default_model.py --checkpoint /tmp/unet.pt --no-judge   # card with both
The whole folder must stay under 12 MB; the script fails when it does not.
"""
import argparse
import datetime
import json
import math
import os
import shutil
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import judge_shapes as judge  # noqa: E402
import shapes_data as data  # noqa: E402
import train_default_model as train  # noqa: E402

import diffusers  # noqa: E402
import transformers  # noqa: E402

REPO = train.REPO
SIZE_LIMIT = 12_000_000
SCHEDULERS = {
    # Euler a is the default: at 20 steps its fresh noise at every step lets a run that started
    # without a shape still grow one; the deterministic samplers keep such a start and draw nothing
    # (the judge at step 3000: Euler a 99/95/97/84 %, DPM++ 2M 100/80/88/86 %, UniPC 100/87/93/83 %).
    "euler_a": ("EulerAncestralDiscreteScheduler", {}),
    "dpmpp_2m": ("DPMSolverMultistepScheduler", {}),
    "ddim": ("DDIMScheduler", dict(timestep_spacing="trailing", clip_sample=False, set_alpha_to_one=False)),
    "euler": ("EulerDiscreteScheduler", dict(timestep_spacing="trailing")),
    "unipc": ("UniPCMultistepScheduler", {}),
}


def to_fp16_in_place(path):
    """Rewrites a safetensors file with every floating tensor in float16 (same name, same keys)."""
    tensors = load_file(path)
    save_file({k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in tensors.items()}, path,
              metadata={"format": "pt"})


def folder_size(folder):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(folder) for f in files)


def fit_preview(vae, scaling, latents):
    """Least-squares factors [4, 3] and bias [3]: VAE-scaled latent -> its decode area-averaged to
    the latent grid. Returns (factors, bias, rms error)."""
    with torch.no_grad():
        images = vae.decode(latents / scaling).sample.clamp(-1, 1)
    small = F.avg_pool2d(images, images.shape[-1] // latents.shape[-1])  # [N, 3, 16, 16]
    x = latents.permute(0, 2, 3, 1).reshape(-1, latents.shape[1]).double()
    y = small.permute(0, 2, 3, 1).reshape(-1, 3).double()
    design = torch.cat([x, torch.ones(len(x), 1, dtype=torch.float64)], 1)
    solution = torch.linalg.lstsq(design, y).solution  # [5, 3]
    rms = (design @ solution - y).pow(2).mean().sqrt().item()
    return solution[:-1].tolist(), solution[-1].tolist(), rms


def export(args):
    run = train.Run(args.work)
    state = run.state
    if not state.get("unet"):
        sys.exit(f"{run.state_path}: no UNet checkpoint yet (training has not reached the UNet phase)")
    tokenizer, text, unet, step = train.load_denoiser(run, use_ema=not args.raw, checkpoint=args.checkpoint)
    dataset = torch.load(run.path("latents.pt"), weights_only=False)
    scaling = float(dataset["scaling_factor"])
    vae = train.load_vae(run)
    vae.register_to_config(scaling_factor=scaling)
    settings = state.get("settings", {})
    schedule, objective = settings.get("schedule", "cosine"), settings.get("objective", "v")
    shared = state.get("vae", {}).get("from_folder")  # a variant trained on a shipped model's VAE
    if objective == "flow":
        class_name, overrides = "FlowMatchEulerDiscreteScheduler", {}
    else:
        class_name, overrides = SCHEDULERS[args.scheduler]
    scheduler = getattr(diffusers, class_name).from_config(dict(train.schedule_config(schedule, objective), **overrides))

    pipe = diffusers.StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet,
                                             scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                             requires_safety_checker=False)
    tmp = tempfile.mkdtemp(prefix="stipple-model-")
    pipe.save_pretrained(tmp, safe_serialization=True)
    # Python's json writes -Infinity (DPMSolver's lambda_min_clipped), which is not JSON; drop such
    # keys: their value is the class default anyway.
    config_path = os.path.join(tmp, "scheduler", "scheduler_config.json")
    config = json.load(open(config_path))
    config = {k: v for k, v in config.items() if not (isinstance(v, float) and not math.isfinite(v))}
    with open(config_path, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
        f.write("\n")
    shutil.rmtree(os.path.join(tmp, "tokenizer"))
    shutil.copytree(run.path("tokenizer"), os.path.join(tmp, "tokenizer"))
    for component, name in [("text_encoder", "model.safetensors"), ("unet", "diffusion_pytorch_model.safetensors"),
                            ("vae", "diffusion_pytorch_model.safetensors")]:
        to_fp16_in_place(os.path.join(tmp, component, name))

    # The preview factors, from the latents of the data set (1024 of them, posterior means).
    g = torch.Generator().manual_seed(7)
    pick = torch.randperm(dataset["mean"].shape[0], generator=g)[:1024]
    factors, bias, rms = fit_preview(vae, scaling, dataset["mean"][pick].float() * scaling)
    with open(os.path.join(tmp, "stipple_preview.json"), "w") as f:
        json.dump({"factors": [[round(v, 5) for v in row] for row in factors], "bias": [round(v, 5) for v in bias]}, f, indent=1)
        f.write("\n")

    if shared:
        # A variant shares the VAE it was trained on, its tokenizer (the same, made by the same
        # code), tiny decoder and preview factors with that model: relative links, so the shipped
        # folders stay right wherever they are copied together.
        source = os.path.relpath(os.path.join(REPO, shared, ".."), os.path.abspath(args.out))
        for name in ("vae", "tokenizer", "taesd", "stipple_preview.json"):
            target = os.path.join(tmp, name)
            if os.path.isdir(target):
                shutil.rmtree(target)
            elif os.path.exists(target):
                os.remove(target)
            if os.path.exists(os.path.join(REPO, shared, "..", name)):
                os.symlink(os.path.join(source, name), target)
    if args.cfg is not None:
        with open(os.path.join(tmp, "stipple_defaults.json"), "w") as f:
            json.dump({"steps": args.steps, "cfg": args.cfg}, f, indent=2)
            f.write("\n")
    if os.path.exists(args.out):
        keep = os.path.join(args.out, "README.md")
        card_before = open(keep).read() if os.path.exists(keep) else None
        shutil.rmtree(args.out)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    shutil.move(tmp, args.out)
    for folder, dirs, files in os.walk(args.out):
        os.chmod(folder, 0o755)
        for name in files:
            if not os.path.islink(os.path.join(folder, name)):
                os.chmod(os.path.join(folder, name), 0o644)

    # Judge the exported folder as a user would load it.
    figures = None
    pipeline_json = run.path(f"judge-pipeline-step{step}.json")
    if args.no_judge and os.path.exists(pipeline_json):
        figures = json.load(open(pipeline_json))
    if not args.no_judge and objective != "flow":
        jpipe = judge.load_pipeline(args.out)
        items = data.eval_items()
        images = judge.run_pipeline(jpipe, items, cfg=args.cfg if args.cfg is not None else 7.0)
        judged = [judge.judge(im) for im in images]
        path = run.path(f"judge-pipeline-step{step}.json")
        figures, passed = judge.report(items, judged, f"diffusers {class_name}, 20 steps, CFG {args.cfg if args.cfg is not None else 7:g} (step {step})", path)
        judge.contact_sheet(images, run.path(f"judge-pipeline-step{step}.png"))
        figures = json.load(open(path))
    stipple_json = args.stipple_json or run.path(f"judge-stipple-step{step}.json")
    stipple_figures = json.load(open(stipple_json)) if os.path.exists(stipple_json) else None

    card = model_card(state, step, text, unet, vae, scaling, class_name, rms, figures, stipple_figures, args)
    with open(os.path.join(args.out, "README.md"), "w") as f:
        f.write(card)
    size = folder_size(args.out)
    print(f"wrote {args.out}: {size:,} bytes (limit {SIZE_LIMIT:,}); step {step}, scaling_factor {scaling:.5f}, "
          f"preview rms {rms:.3f}")
    if size > SIZE_LIMIT:
        sys.exit(f"{args.out}: {size:,} bytes, over the {SIZE_LIMIT:,}-byte limit")


def count(module):
    return sum(p.numel() for p in module.parameters())


def figure_row(name, fig):
    if not fig:
        return f"| {name} | pending | pending | pending | pending |"
    a = fig["all"]
    return f"| {name} | {a['background']:.0%} | {a['colour']:.0%} | {a['position']:.0%} | {a['shape']:.0%} |"


def model_card(state, step, text, unet, vae, scaling, scheduler, rms, figures, stipple_figures, args):
    u, v, lat = state.get("unet", {}), state.get("vae", {}), state.get("latents", {})
    settings = state.get("settings", {})
    done = u.get("done", False)
    total_wall = (v.get("wall_s", 0) + lat.get("wall_s", 0) + u.get("wall_s", 0)) / 60
    held = lambda f: f and f.get("held_out")  # noqa: E731
    schedule, objective = settings.get("schedule", "cosine"), settings.get("objective", "v")
    shared = v.get("from_folder")
    name = os.path.basename(os.path.normpath(args.out))
    r = state.get("reflow")
    if shared:
        what = ("a rectified-flow (flow matching) twin, after one reflow round," if r
                else "a rectified-flow (flow matching) twin" if objective == "flow"
                else f"a {schedule}-schedule twin")
        intro = [
            f"# stipple model: {name}",
            "",
            f"{what[0].upper() + what[1:]} of the bundled model `shapes-64`, for docs/EXPERIMENTS.md: the same data,",
            "architecture, text encoder and UNet trained together from scratch, the same steps, batch, seed and",
            "learning rate, on the same VAE's latents (`vae/`, `tokenizer/`, `taesd/` and the preview factors",
            "are links to `../shapes-64/`);",
            ("only the objective differs: velocity `noise - x0` on the straight line `x_t = (1 - s) x0 + s noise`."
             if objective == "flow" else f"only the noise schedule differs: {schedule} instead of cosine."),
            "",
        ]
    else:
        intro = [
            "# stipple default model: shapes-64",
            "",
            "A tiny latent diffusion model trained from scratch on the CPU so that stipple can generate",
            "the moment it is built. It draws one shape on a plain background at 64x64 and follows",
            "captions such as \"a red circle in the top left on a blue background\".",
            "",
        ]
    if objective == "flow":
        schedule_line = [f"- Scheduler: `{scheduler}`, 1000 training steps, shift 1: sigma uniform in (0, 1],"
                         " timestep sigma x 1000, the UNet predicts the velocity noise - x0 (stipple's `flow_euler`)."]
    elif schedule == "linear":
        schedule_line = [f"- Scheduler: `{scheduler}`, 1000 training steps, DDPM's `linear` betas 1e-4 to 0.02,"
                         " `v_prediction` (as the cosine model, so that only the schedule differs)."]
    else:
        schedule_line = [
            f"- Scheduler: `{scheduler}`, 1000 training steps, `squaredcos_cap_v2` betas (the cosine schedule),"
            " `v_prediction`. v-prediction because the cosine schedule ends near zero SNR, where the colours",
            "  are decided and an epsilon model's image estimate would be badly conditioned."]
    lines = intro + [
        "Made by `tools/train_default_model.py` and `tools/export_default_model.py`; judged by",
        "`tools/judge_shapes.py`; the data is `tools/shapes_data.py`. License: the project's.",
        "",
        "## Data",
        "",
        "Procedural 64x64 RGB images: one shape (circle, square, triangle) of one colour (red, green, blue,",
        "yellow, white, black, orange, purple) at one position (top left, top right, bottom left, bottom",
        "right, center) on a plain background of another of those colours: 840 combinations. Unnamed",
        "variation: shape size (half-extent 7.5-12.5 px), +-3 px placement, +-14 levels of colour per",
        "channel, a faint background gradient, pixel noise, anti-aliased edges. Captions are drawn afresh",
        "each time from nine paraphrases (\"red circle, top left, blue background\", \"a blue background",
        "with a red circle in the top left\", ...; 6% name only three attributes); 10% are replaced by the",
        "empty caption for classifier-free guidance.",
        "",
        f"50 combinations are held out of training entirely (every pair of their attributes still occurs",
        f"in training). The UNet trained on {lat.get('count', '?'):,} encoded images of the other 790",
        "combinations; the VAE on freshly rendered ones.",
        "",
        "## Architecture",
        "",
        "diffusers / transformers classes, `StableDiffusionPipeline` layout, float16 weights:",
        "",
        f"- VAE: `AutoencoderKL`, 64x64x3 -> 4x16x16, block_out_channels {train.VAE_CONFIG['block_out_channels']},"
        f" layers_per_block 1, norm groups {train.VAE_CONFIG['norm_num_groups']}, no mid-block attention;"
        f" {count(vae):,} parameters. scaling_factor {scaling:.5f} = 1 / the measured std of the latents.",
        f"- Text encoder: `CLIPTextModel`, hidden {train.TEXT_CONFIG['hidden_size']}, "
        f"{train.TEXT_CONFIG['num_hidden_layers']} layers, {train.TEXT_CONFIG['num_attention_heads']} heads, quick_gelu,"
        f" 77 positions; {count(text):,} parameters. Tokenizer: CLIP BPE, {state.get('tokenizer', {}).get('vocab_size', '?')}"
        " tokens: the 512 byte-level tokens (any text tokenizes), one merged token per caption word, BOS"
        " `<|startoftext|>`, EOS and pad `<|endoftext|>`.",
        f"- UNet: `UNet2DConditionModel`, sample 16, block_out_channels {train.UNET_CONFIG['block_out_channels']}"
        f" (16x16 down to 2x2), layers_per_block 1, down {' + '.join(train.UNET_CONFIG['down_block_types'])},"
        f" UNetMidBlock2DCrossAttn at 2x2, up {' + '.join(train.UNET_CONFIG['up_block_types'])},"
        f" {train.UNET_CONFIG['attention_head_dim']} heads, cross-attention width"
        f" {train.UNET_CONFIG['cross_attention_dim']}; {count(unet):,} parameters. The 2x2 level is there for"
        " the position words: each of its cells is one quadrant (a three-level first design left position at chance).",
    ] + schedule_line + [
        f"- `stipple_preview.json`: latent -> RGB preview factors fitted by least squares (rms error {rms:.3f} on the"
        "  [-1, 1] scale).",
        "",
        "## Training",
        "",
        f"CPU, torch {torch.__version__}, diffusers {diffusers.__version__}, transformers {transformers.__version__},"
        f" {2} threads, seed {settings.get('seed', 0)}.",
        "",
        (f"- VAE: {v.get('steps', '?')} steps of batch {v.get('batch', '?')}, AdamW, L1 + {v.get('kl_weight', '?')} x KL;"
         f" {v.get('wall_s', 0) / 60:.1f} min. Reconstruction PSNR {lat.get('recon_psnr_db', float('nan')):.1f} dB."
         if not shared else f"- VAE: `{shared}`'s, not trained here. Reconstruction PSNR"
         f" {lat.get('recon_psnr_db', float('nan')):.1f} dB."),
        f"- Encoding the data set: {lat.get('wall_s', 0) / 60:.1f} min.",
        f"- Text encoder + UNet together: {u.get('steps_done', '?')} of {u.get('steps', '?')} steps"
        f"{'' if done else ' (training still running: this export is an intermediate checkpoint)'} of batch"
        f" {u.get('batch', '?')}, AdamW lr {u.get('lr', '?')} (warm-up, cosine decay), EMA {u.get('ema_decay', '?')},"
        f" {'velocity' if objective == 'flow' else 'v-prediction'} MSE with the shape's latent cells weighted 1 + {u.get('shape_weight', '?')}, plus"
        f" {u.get('aux_weight', '?')} x an attribute loss (linear heads, not shipped, read the four attributes from"
        " the text encoder's last-position state, so the padding states the UNet mostly attends to carry all of them);"
        f" {u.get('wall_s', 0) / 60:.1f} min.",
    ] + ([
        f"- Reflow (the 2-rectified flow of Liu et al. 2022): {r.get('pairs', '?')} couples of noise and the image the"
        f" first model's ODE takes it to ({r.get('pair_steps', '?')} Euler steps at CFG {r.get('pair_cfg', '?')}: the guidance"
        f" is baked in, so this model runs at CFG 1), {r.get('pairs_wall_s', 0) / 60:.1f} min; then {r.get('steps_done', '?')}"
        f" of {r.get('steps', '?')} steps of batch {r.get('batch', '?')} on the straight lines between the couples from the"
        f" first model's EMA weights, AdamW lr {r.get('lr', '?')}; {r.get('wall_s', 0) / 60:.1f} min"
        f"{'' if r.get('done') else ' (still running: this export is an intermediate checkpoint)'}."
    ] if r else []) + [
        f"- Total wall time: {total_wall + ((r.get('pairs_wall_s', 0) + r.get('wall_s', 0)) / 60 if r else 0):.0f} min.",
        "",
        "Commands:",
        "",
        ("    nohup .venv-ref/bin/python tools/train_default_model.py >> .venv-train-ckpt/shapes64-train.log 2>&1 &   # same line resumes"
         if not shared else
         f"    nohup .venv-ref/bin/python tools/train_default_model.py --work {r['parent'] if r else '.venv-train-ckpt/' + os.path.basename(os.path.normpath(args.work))}"
         f" --vae-from {shared}" + (" --objective flow" if objective == "flow" else f" --schedule {schedule}")
         + " >> LOG 2>&1 &   # same line resumes"),
    ] + ([
        f"    nohup .venv-ref/bin/python tools/train_reflow_model.py --from {r['parent']} --work"
        f" {os.path.relpath(os.path.abspath(args.work), REPO)} >> LOG 2>&1 &   # after it; same line resumes"
    ] if r else []) + [
        "    .venv-ref/bin/python tools/export_default_model.py" + ("" if objective == "flow" else f" --scheduler {args.scheduler}")
        + ("" if not shared else f" --work {os.path.relpath(os.path.abspath(args.work), REPO)} --out {os.path.relpath(os.path.abspath(args.out), REPO)}")
        + ("" if args.cfg is None else f" --cfg {args.cfg:g} --steps {args.steps}"),
        "    .venv-ref/bin/python tools/judge_shapes.py pipeline" + (f" --model {os.path.relpath(os.path.abspath(args.out), REPO)}" if shared else "")
        + (f" --cfg {args.cfg:g}" if args.cfg is not None else ""),
        "    .venv-ref/bin/python tools/judge_shapes.py stipple" + (f" --model {os.path.relpath(os.path.abspath(args.out), REPO)}" if shared else ""),
        "",
        "## Evaluation",
        "",
        "`tools/judge_shapes.py` on 100 captions (50 held-out combinations, 50 trained ones; canonical",
        f"wording; seeds 2^31 + i, never used in training), 20 steps, CFG {args.cfg if args.cfg is not None else 7:g}, 64x64: background colour from",
        "the border, shape colour from the foreground, position from its centroid, shape from its fill ratio.",
        "",
        "| run | background | shape colour | position | shape |",
        "|---|---|---|---|---|",
        "| target | 95% | 90% | 90% | 80% |",
        figure_row(f"diffusers, {scheduler}", figures),
        figure_row("  held-out combinations only", {"all": figures["held_out"]} if held(figures) else None),
        figure_row("`stipple generate`, default settings", stipple_figures),
        "",
    ]
    if stipple_figures and stipple_figures.get("median_command_s"):
        lines += [f"`stipple generate` end to end (load, 20 steps with CFG, decode, PNG): median "
                  f"{stipple_figures['median_command_s']:.2f} s per image on the 2-core machine.", ""]
    else:
        lines += ["`stipple generate` figures and timing: pending.", ""]
    lines += [f"Exported {datetime.date.today().isoformat()} from step {step}.", ""]
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default=train.DEFAULT_WORK)
    parser.add_argument("--out", default=os.path.join(REPO, "samples", "shapes-64"))
    parser.add_argument("--scheduler", choices=sorted(SCHEDULERS), default="euler_a",
                        help="the model's own sampler (default: %(default)s)")
    parser.add_argument("--raw", action="store_true", help="the raw weights instead of the EMA")
    parser.add_argument("--checkpoint", help="a copy of WORK/unet.pt to export instead of the latest")
    parser.add_argument("--no-judge", action="store_true", help="skip running the judge on diffusers' pipeline")
    parser.add_argument("--stipple-json", help="figures of `judge_shapes.py stipple --json FILE`, for the model card")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cfg", type=float, help="write stipple_defaults.json with this CFG (and --steps)")
    parser.add_argument("--steps", type=int, default=20, help="the steps of stipple_defaults.json (default %(default)s)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    export(args)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Distils the bundled model (samples/shapes-64) into a latent consistency model (Luo et al. 2023,
"Latent Consistency Models") that draws in 1-8 steps with the guidance scale as an input of the
UNet (one pass a step, no unconditional pass). CPU, seeded, resumable. The method follows
diffusers' examples/consistency_distillation/train_lcm_distill_sd_wds.py; the code is our own.

    # distil (about 40 minutes on 2 cores at about 1 s a step of batch 32; rerun the same line to
    # resume; --steps may change on a resume, the learning-rate schedule then follows the new total):
    mkdir -p .venv-train-ckpt
    nohup .venv-ref/bin/python tools/train_lcm_model.py train --steps 900 --batch 32 \\
        >> .venv-train-ckpt/shapes64-lcm.log 2>&1 &

    # write samples/shapes-64-lcm/ from the latest checkpoint (works mid-training too), judging it
    # at 1, 2, 4 and 8 steps for the model card, then judge it alone:
    .venv-ref/bin/python tools/train_lcm_model.py export --cfg 2 --default-steps 2
    .venv-ref/bin/python tools/judge_shapes.py pipeline --model samples/shapes-64-lcm --steps 2 --cfg 2

What one training step does (Algorithm 1 of the paper, the DDIM solver of the diffusers script):
- latents x0 drawn from the stored posteriors of the encoded training images (the teacher's own
  data: tools/train_default_model.py's latents phase with the shipped VAE), a fresh caption
  paraphrase each, 10% replaced by "" as the teacher's training did;
- a solver index n in 0..49 picks t_{n+k} = 20 (n + 1) - 1 (19, 39, ..., 999: the timesteps
  diffusers' LCMScheduler draws from with original_inference_steps 50) and t_n = t_{n+k} - 20
  (clamped at 0); x_{t_{n+k}} = sqrt(a) x0 + sqrt(1 - a) noise;
- w ~ U[--w-min, --w-max], embedded as LatentConsistencyModelPipeline embeds guidance_scale - 1
  (so a pipeline guidance scale of w + 1 asks for what was trained at w);
- the student's consistency function f(x, t) = c_skip(t) x + c_out(t) x0_pred(x, t), with
  LCMScheduler's own boundary scalings (sigma_data 0.5, timestep_scaling 10): stipple's LCM
  sampler and diffusers' LCMScheduler apply exactly these at inference;
- the teacher (frozen, conditional and unconditional in one batch) gives x0 and epsilon from its v
  prediction (x0 = sqrt(a) x - sqrt(1 - a) v, eps = sqrt(a) v + sqrt(1 - a) x), guided as
  cond + w (cond - uncond); one DDIM step takes x_{t_{n+k}} to x_{t_n};
- the target network (an EMA of the student, decay --ema-decay) gives f(x_{t_n}, t_n); the loss is
  the pseudo-Huber distance sqrt(d^2 + c^2) - c (c = --huber-c) between the two, averaged.
The student starts as the teacher: the same weights plus time_embedding.cond_proj (the guidance
embedding's projection) set to zero. The text encoder is the teacher's, frozen and shared.

Work files go to --work (default .venv-train-ckpt/shapes64-lcm, ignored by git): lcm.pt (student,
target, optimiser, step), state.json (settings, steps, wall time, the export's judge figures),
metrics.jsonl. The data and noise of step k come from generators seeded with (seed, k), so a resumed
run draws what an uninterrupted one would. --latents defaults to the linear-schedule run's
encoded set (the same 24,000 images through the same shipped VAE); when that file is missing the
set is encoded into the work folder with train_default_model's functions.

`export` writes --out: the target network's UNet (float16, as the diffusers script ships its
target), LCMScheduler with the teacher's betas and prediction type, LatentConsistencyModelPipeline's
model_index.json, relative symlinks to the teacher's text encoder, tokenizer, VAE, TAESD and
preview factors, stipple_defaults.json (--default-steps, --cfg) and a README.md model card.
"""
import argparse
import copy
import json
import os
import shutil
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train_default_model.py: must precede `import torch`

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes_data as data  # noqa: E402
import train_default_model as tdm  # noqa: E402
from train_default_model import Captions, Run, log, lr_at, save_atomic, step_rng  # noqa: E402
from export_default_model import to_fp16_in_place  # noqa: E402

from diffusers import (AutoencoderKL, DDPMScheduler, LatentConsistencyModelPipeline, LCMScheduler,  # noqa: E402
                       UNet2DConditionModel)
from transformers import CLIPTextModel, CLIPTokenizer  # noqa: E402

REPO = tdm.REPO
DEFAULT_TEACHER = os.path.join(REPO, "samples", "shapes-64")
DEFAULT_WORK = os.path.join(REPO, ".venv-train-ckpt", "shapes64-lcm")
DEFAULT_OUT = os.path.join(REPO, "samples", "shapes-64-lcm")
# The encoded training set of the linear-schedule run: the shipped VAE on the default data seed.
# Looked for under the main checkout too, so a worktree finds it.
LATENT_CANDIDATES = [os.path.join(REPO, ".venv-train-ckpt", "shapes64-linear", "latents.pt"),
                     "/work/main/.venv-train-ckpt/shapes64-linear/latents.pt"]
TIME_COND_PROJ_DIM = 256
# The DDIM solver's timesteps: LCMScheduler's original_inference_steps, which export writes.
SOLVER_STEPS = 50
PHASE = 5  # step_rng's phase key (train_default_model uses 2 and 4)
# What the model folder shares with the teacher, as relative symlinks.
SHARED = ("text_encoder", "tokenizer", "vae", "taesd", "stipple_preview.json")
JUDGE_STEPS = (1, 2, 4, 8)


# ---------------------------------------------------------------------------------------------
# The pieces of the method

def guidance_embedding(w):
    """The UNet's timestep_cond for guidance w: LatentConsistencyModelPipeline's own embedding
    (it embeds guidance_scale - 1), so training and inference cannot disagree."""
    return LatentConsistencyModelPipeline.get_guidance_scale_embedding(None, w, embedding_dim=TIME_COND_PROJ_DIM)


def lcm_scheduler_config(teacher_scheduler):
    """LCMScheduler's config: the teacher's betas and prediction type, 50 distillation steps,
    timestep_scaling 10."""
    c = teacher_scheduler.config
    return dict(num_train_timesteps=c.num_train_timesteps, beta_start=c.beta_start, beta_end=c.beta_end,
                beta_schedule=c.beta_schedule, trained_betas=c.trained_betas, prediction_type=c.prediction_type,
                original_inference_steps=SOLVER_STEPS, timestep_scaling=10.0, clip_sample=False, set_alpha_to_one=True,
                steps_offset=0, timestep_spacing="leading", rescale_betas_zero_snr=c.get("rescale_betas_zero_snr", False))


class Schedule:
    """The teacher's noise schedule and the LCM boundary condition at any timesteps."""

    def __init__(self, teacher_scheduler, solver_steps):
        self.lcm = LCMScheduler.from_config(lcm_scheduler_config(teacher_scheduler))
        self.prediction = self.lcm.config.prediction_type
        ac = self.lcm.alphas_cumprod.float()
        self.alphas_cumprod = ac
        self.root_alpha, self.root_sigma = ac.sqrt(), (1 - ac).sqrt()
        train = self.lcm.config.num_train_timesteps
        self.skip = train // solver_steps
        # The solver's timesteps, t_{n+k} = skip (n + 1) - 1, and alpha_cumprod one solver step on
        # (alphas_cumprod[0] after the first: the diffusers script's DDIM solver).
        self.starts = torch.arange(1, solver_steps + 1) * self.skip - 1
        self.prev_alpha = torch.cat([ac[:1], ac[self.starts[:-1]]])

    def boundary(self, t):
        """(c_skip, c_out) at timesteps t, [B, 1, 1, 1]: LCMScheduler's own function."""
        c_skip, c_out = self.lcm.get_scalings_for_boundary_condition_discrete(t.double())
        return c_skip.float().view(-1, 1, 1, 1), c_out.float().view(-1, 1, 1, 1)

    def x0_and_eps(self, output, t, x):
        """The clean sample and the noise a model output at timesteps t on x stands for."""
        a, s = self.root_alpha[t].view(-1, 1, 1, 1), self.root_sigma[t].view(-1, 1, 1, 1)
        if self.prediction == "v_prediction":
            return a * x - s * output, a * output + s * x
        if self.prediction == "epsilon":
            return (x - s * output) / a, output
        if self.prediction == "sample":
            return output, (x - a * output) / s
        raise ValueError(f"prediction_type {self.prediction!r} is not supported")

    def consistency(self, output, t, x):
        """f(x, t) = c_skip(t) x + c_out(t) x0(x, t)."""
        c_skip, c_out = self.boundary(t)
        return c_skip * x + c_out * self.x0_and_eps(output, t, x)[0]


def pseudo_huber(a, b, c):
    return (torch.sqrt((a - b) ** 2 + c * c) - c).mean()


# ---------------------------------------------------------------------------------------------
# Models and data

def load_teacher(folder):
    tokenizer = CLIPTokenizer.from_pretrained(os.path.join(folder, "tokenizer"))
    text = CLIPTextModel.from_pretrained(os.path.join(folder, "text_encoder"), torch_dtype=torch.float32)
    unet = UNet2DConditionModel.from_pretrained(os.path.join(folder, "unet"), torch_dtype=torch.float32)
    scheduler = DDPMScheduler.from_pretrained(os.path.join(folder, "scheduler"))
    vae_config = AutoencoderKL.load_config(os.path.join(folder, "vae"))
    for m in (text, unet):
        m.requires_grad_(False)
        m.eval()
    return tokenizer, text, unet, scheduler, vae_config["scaling_factor"]


def student_config(teacher_unet):
    config = dict(teacher_unet.config)
    config["time_cond_proj_dim"] = TIME_COND_PROJ_DIM
    return {k: v for k, v in config.items() if not k.startswith("_")}


def build_student(teacher_unet):
    """The teacher's UNet plus a zero guidance projection: it starts computing what the teacher does."""
    student = UNet2DConditionModel.from_config(student_config(teacher_unet))
    missing, unexpected = student.load_state_dict(teacher_unet.state_dict(), strict=False)
    if unexpected or missing != ["time_embedding.cond_proj.weight"]:
        raise SystemExit(f"student/teacher mismatch: missing {missing}, unexpected {unexpected}")
    with torch.no_grad():
        student.time_embedding.cond_proj.weight.zero_()
    return student


def find_latents(args, run):
    """The encoded training set: --latents, else a known one, else encoded now into the work folder."""
    for path in ([args.latents] if args.latents else LATENT_CANDIDATES) + [run.path("latents.pt")]:
        if os.path.exists(path):
            return path
    if args.latents:
        raise SystemExit(f"{args.latents}: no such latents file")
    log("no encoded training set found: encoding 24,000 images with the teacher's VAE")
    vae = AutoencoderKL.from_pretrained(os.path.join(args.teacher, "vae"), torch_dtype=torch.float32)
    vae.eval()
    tdm.encode_dataset(run, argparse.Namespace(seed=0, data_count=24000), vae)
    return run.path("latents.pt")


# ---------------------------------------------------------------------------------------------
# Training

def train(args):
    torch.set_num_threads(args.threads)
    run = Run(args.work)
    free = ("work", "threads", "log_every", "checkpoint_every", "steps", "mode", "latents")
    settings = {k: v for k, v in vars(args).items() if k not in free}
    before = {k: v for k, v in run.state.get("settings", {}).items() if k not in free}
    if before and before != settings:
        sys.exit(f"{run.state_path}: this work folder was started with other settings {before}; "
                 f"use the same options to resume, or another --work")
    latents_path = find_latents(args, run)
    run.state["settings"] = dict(settings, steps=args.steps, latents=latents_path)
    run.save_state()
    log(f"work folder {args.work}, torch {torch.__version__}, {args.threads} threads")

    tokenizer, text, teacher, teacher_scheduler, scaling = load_teacher(args.teacher)
    schedule = Schedule(teacher_scheduler, SOLVER_STEPS)
    dataset = torch.load(latents_path, weights_only=False)
    means, stds, combo_ids = dataset["mean"], dataset["std"], dataset["combo"].long()
    if abs(dataset["scaling_factor"] - scaling) > 1e-3 * scaling:
        log(f"note: {latents_path} was scaled by {dataset['scaling_factor']:.5f}, the teacher's VAE by {scaling:.5f}; "
            "using the VAE's")
    count = means.shape[0]
    captions = Captions(tokenizer)
    with torch.no_grad():
        empty = text(captions([""])).last_hidden_state

    student = build_student(teacher)
    target = copy.deepcopy(student)
    target.requires_grad_(False)
    opt = torch.optim.AdamW(student.parameters(), lr=args.lr, weight_decay=1e-2)
    ckpt = run.path("lcm.pt")
    step, elapsed = tdm.resume(ckpt, "lcm", student=student, target=target, opt=opt)
    total = args.steps
    log(f"lcm: {sum(p.numel() for p in student.parameters()):,} student parameters, {total} steps of batch {args.batch}, "
        f"w in [{args.w_min:g}, {args.w_max:g}], {count} encoded images, {schedule.prediction} teacher")
    student.train()
    window_start, window_steps, losses = time.time(), 0, []
    while step < total:
        t0 = time.time()
        rng, prng, g = step_rng(args.seed, PHASE, step)
        idx = torch.from_numpy(rng.integers(count, size=args.batch))
        x0 = (means[idx].float() + stds[idx].float() * torch.randn((len(idx),) + tuple(means.shape[1:]), generator=g)) * scaling
        texts = ["" if prng.random() < tdm.CFG_DROPOUT else data.random_caption(*data.TRAIN_COMBOS[combo_ids[i]], prng)
                 for i in idx.tolist()]
        n = torch.randint(0, SOLVER_STEPS, (len(idx),), generator=g)
        start = schedule.starts[n]
        end = (start - schedule.skip).clamp(min=0)
        noise = torch.randn(x0.shape, generator=g)
        w = args.w_min + (args.w_max - args.w_min) * torch.rand(len(idx), generator=g)
        x_start = schedule.root_alpha[start].view(-1, 1, 1, 1) * x0 + schedule.root_sigma[start].view(-1, 1, 1, 1) * noise
        w_emb = guidance_embedding(w)

        with torch.no_grad():
            cond = text(captions(texts)).last_hidden_state
            # Teacher: conditional and unconditional in one batch, guided the LCM paper's way, one DDIM step.
            both = teacher(torch.cat([x_start, x_start]), torch.cat([start, start]),
                           torch.cat([cond, empty.expand_as(cond)])).sample
            x0_both, eps_both = schedule.x0_and_eps(both, torch.cat([start, start]), torch.cat([x_start, x_start]))
            wv = w.view(-1, 1, 1, 1)
            x0_c, x0_u = x0_both.chunk(2)
            eps_c, eps_u = eps_both.chunk(2)
            x0_g, eps_g = x0_c + wv * (x0_c - x0_u), eps_c + wv * (eps_c - eps_u)
            prev = schedule.prev_alpha[n].view(-1, 1, 1, 1)
            x_end = prev.sqrt() * x0_g + (1 - prev).sqrt() * eps_g
            aim = schedule.consistency(target(x_end, end, cond, timestep_cond=w_emb).sample, end, x_end)

        pred = schedule.consistency(student(x_start, start, cond, timestep_cond=w_emb).sample, start, x_start)
        loss = pseudo_huber(pred, aim, args.huber_c)
        lr = lr_at(step, total, args.lr, args.warmup, args.lr * 0.1)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for p_t, p_s in zip(target.parameters(), student.parameters()):
                p_t.lerp_(p_s, 1 - args.ema_decay)
        step += 1
        elapsed += time.time() - t0
        losses.append(loss.item())
        window_steps += 1
        if step % args.log_every == 0 or step == total:
            rate = window_steps / (time.time() - window_start)
            mean_loss = float(np.mean(losses))
            log(f"lcm step {step}/{total} loss {mean_loss:.5f} lr {lr:.2e} {rate:.2f} it/s ({1 / rate:.2f} s/step) "
                f"eta {(total - step) / rate / 60:.1f} min")
            run.metric(phase="lcm", step=step, loss=mean_loss, lr=lr, it_s=rate, elapsed=elapsed)
            window_start, window_steps, losses = time.time(), 0, []
        if step % args.checkpoint_every == 0 or step == total:
            save_atomic(dict(student=student.state_dict(), target=target.state_dict(), opt=opt.state_dict(),
                             step=step, elapsed=elapsed, total=total), ckpt)
            run.state["lcm"] = dict(steps_done=step, steps=total, wall_s=round(elapsed), batch=args.batch, lr=args.lr,
                                    w_min=args.w_min, w_max=args.w_max, ema_decay=args.ema_decay, huber_c=args.huber_c,
                                    solver_steps=SOLVER_STEPS, time_cond_proj_dim=TIME_COND_PROJ_DIM,
                                    cfg_dropout=tdm.CFG_DROPOUT, threads=args.threads)
            run.save_state()
    log(f"lcm: done, {step} steps in {elapsed / 60:.1f} min; export with: "
        f".venv-ref/bin/python tools/train_lcm_model.py export --work {args.work}")


# ---------------------------------------------------------------------------------------------
# Export

def link(out, name, teacher):
    """out/name -> the teacher's, relative, replacing what is there."""
    path = os.path.join(out, name)
    if os.path.islink(path) or os.path.isfile(path):
        os.remove(path)
    elif os.path.isdir(path):
        shutil.rmtree(path)
    os.symlink(os.path.relpath(os.path.join(teacher, name), out), path)


def judge_folder(folder, steps, cfg):
    """judge_shapes' figures for the folder at `steps`, guidance `cfg`, on the 100 evaluation captions."""
    import judge_shapes
    items = data.eval_items()
    pipe = judge_shapes.load_pipeline(folder)
    t0 = time.time()
    images = judge_shapes.run_pipeline(pipe, items, steps, cfg)
    wall = time.time() - t0
    pairs = [({c: it[c] for c in judge_shapes.CHECKS}, judge_shapes.judge(im)) for it, im in zip(items, images)]
    held = [p for it, p in zip(items, pairs) if it.get("held_out")]
    return dict(steps=steps, cfg=cfg, wall_s=round(wall, 1), all=judge_shapes.score(pairs),
                held_out=judge_shapes.score(held))


def export(args):
    torch.set_num_threads(args.threads)
    run = Run(args.work)
    ckpt = run.path("lcm.pt")
    if not os.path.exists(ckpt):
        sys.exit(f"{ckpt}: no checkpoint; run `train` first")
    state = torch.load(ckpt, weights_only=False)
    _, _, teacher, teacher_scheduler, _ = load_teacher(args.teacher)
    unet = UNet2DConditionModel.from_config(student_config(teacher))
    unet.load_state_dict(state["target" if args.weights == "target" else "student"])
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    for sub in ("unet", "scheduler"):
        shutil.rmtree(os.path.join(out, sub), ignore_errors=True)
    unet.save_pretrained(os.path.join(out, "unet"), safe_serialization=True)
    weights = os.path.join(out, "unet", "diffusion_pytorch_model.safetensors")
    to_fp16_in_place(weights)  # as the teacher's files: float16, readable by all
    os.chmod(weights, 0o644)
    LCMScheduler.from_config(lcm_scheduler_config(teacher_scheduler)).save_pretrained(os.path.join(out, "scheduler"))
    teacher_dir = os.path.abspath(args.teacher)
    for name in SHARED:
        link(out, name, teacher_dir)
    index = json.load(open(os.path.join(teacher_dir, "model_index.json")))
    index["_class_name"] = "LatentConsistencyModelPipeline"
    index["scheduler"] = ["diffusers", "LCMScheduler"]
    with open(os.path.join(out, "model_index.json"), "w") as f:
        json.dump(index, f, indent=2)
    with open(os.path.join(out, "stipple_defaults.json"), "w") as f:
        json.dump(dict(steps=args.default_steps, cfg=args.cfg), f)
    log(f"export: step {state['step']} ({args.weights} weights) -> {out}")

    figures = []
    if not args.no_judge:
        for steps in JUDGE_STEPS:
            fig = judge_folder(out, steps, args.cfg)
            figures.append(fig)
            log(f"judge {steps} steps, CFG {args.cfg:g}: " + " ".join(f"{c} {v:.0%}" for c, v in fig["all"].items())
                + f" (held-out shape {fig['held_out']['shape']:.0%}), {fig['wall_s']} s")
        run.state["export"] = dict(step=state["step"], cfg=args.cfg, weights=args.weights, figures=figures)
        run.save_state()
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(model_card(run.state, state, args, figures))


def model_card(run_state, ckpt, args, figures):
    s = run_state.get("lcm", {})
    rows = ["| steps | background | shape colour | position | shape | held-out shape | wall s (100 images) |",
            "|---|---|---|---|---|---|---|"]
    for fig in figures:
        a = fig["all"]
        rows.append(f"| {fig['steps']} | {a['background']:.0%} | {a['colour']:.0%} | {a['position']:.0%} | {a['shape']:.0%} "
                    f"| {fig['held_out']['shape']:.0%} | {fig['wall_s']} |")
    judged = "\n".join(rows) if figures else "(not judged: exported with --no-judge)"
    return f"""# stipple sample model: shapes-64-lcm

A latent consistency model (LCM, Luo et al. 2023) distilled from stipple's bundled model
`shapes-64`: it draws the same 64x64 shapes in 1-8 steps, with the guidance scale an input of the
UNet (one UNet pass a step). Run it with diffusers' `LatentConsistencyModelPipeline` or stipple's
`lcm` sampler at {args.default_steps} steps, CFG {args.cfg:g} (`stipple_defaults.json`).

Made by `tools/train_lcm_model.py`; judged by `tools/judge_shapes.py`; the data is
`tools/shapes_data.py`. License: the project's.

## What is shared, what is new

- `text_encoder/`, `tokenizer/`, `vae/`, `taesd/`, `stipple_preview.json`: links to `../shapes-64/`
  (the teacher's; the text encoder was frozen during distillation).
- `unet/`: `UNet2DConditionModel` with the teacher's config plus `time_cond_proj_dim`
  {s.get('time_cond_proj_dim', TIME_COND_PROJ_DIM)} (the guidance-scale embedding of
  `LatentConsistencyModelPipeline.get_guidance_scale_embedding`, of guidance_scale - 1), float16:
  the {args.weights} network at step {ckpt['step']}.
- `scheduler/`: `LCMScheduler` with the teacher's betas (`squaredcos_cap_v2`, 1000 steps) and
  `v_prediction`, original_inference_steps 50, timestep_scaling 10.

## Data

The teacher's training set: 24,000 rendered training images (the 790 training combinations; the
50 held-out combinations never seen) encoded by the shipped VAE, a fresh caption paraphrase per
draw, 10% replaced by the empty caption.

## Method

Consistency distillation with a DDIM solver over 50 of the 1000 timesteps (skip 20), following
diffusers' `train_lcm_distill_sd_wds.py`: the student's consistency function
c_skip(t) x + c_out(t) x0(x, t) (LCMScheduler's boundary scalings, sigma_data 0.5) at t_(n+k) must
match the target network's at t_n on the point one guided teacher DDIM step away; the teacher's
x0 and noise come from its v prediction; guidance cond + w (cond - uncond), w ~ U[{s.get('w_min')}, {s.get('w_max')}]
(pipeline guidance scale w + 1 = {s.get('w_min', 0) + 1:g} to {s.get('w_max', 0) + 1:g}); pseudo-Huber loss,
c = {s.get('huber_c')}; target network = EMA of the student, decay {s.get('ema_decay')}. The student
started as the teacher (guidance projection zero).

## Training

CPU, torch {torch.__version__}, {s.get('threads')} threads, seed {run_state.get('settings', {}).get('seed')}:
{s.get('steps_done')} of {s.get('steps')} steps of batch {s.get('batch')}, AdamW lr {s.get('lr')}
(warm-up, cosine to a tenth), weight decay 0.01, gradient clip 1; {s.get('wall_s', 0) / 60:.1f} min.

## Judged

`tools/judge_shapes.py` on its 100 evaluation captions (50 held-out combinations), CFG {args.cfg:g}:

{judged}

Targets: background 95%, shape colour 90%, position 90%, shape 80%.

## Commands

    .venv-ref/bin/python tools/train_lcm_model.py train --steps {s.get('steps')} --batch {s.get('batch')} --lr {s.get('lr')} \\
        --w-min {s.get('w_min')} --w-max {s.get('w_max')}
    .venv-ref/bin/python tools/train_lcm_model.py export --cfg {args.cfg:g}{"" if args.default_steps == 4 else f" --default-steps {args.default_steps}"}
    .venv-ref/bin/python tools/judge_shapes.py pipeline --model samples/shapes-64-lcm --steps 4 --cfg {args.cfg:g}
"""


# ---------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    t = sub.add_parser("train", help="distil (resumes from the work folder's checkpoint)")
    e = sub.add_parser("export", help="write the model folder from the latest checkpoint")
    for p in (t, e):
        p.add_argument("--work", default=DEFAULT_WORK, help="checkpoints and logs (default: %(default)s)")
        p.add_argument("--teacher", default=DEFAULT_TEACHER, help="the teacher's model folder (default: %(default)s)")
        p.add_argument("--threads", type=int, default=2)
    t.add_argument("--latents", help="encoded training set (default: the shapes64-linear run's, else encoded anew)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--steps", type=int, default=900)
    t.add_argument("--batch", type=int, default=32)
    t.add_argument("--lr", type=float, default=1e-4)
    t.add_argument("--warmup", type=int, default=100)
    # w in [0.5, 1.5] (CFG 1.5-2.5, around the teacher's best, 2): a first run with [1, 4] (CFG 2-5)
    # learned the over-guided teacher and pinched its squares again at 2-8 steps (shape 86-79%).
    t.add_argument("--w-min", type=float, default=0.5, help="guidance w range (pipeline CFG = w + 1)")
    t.add_argument("--w-max", type=float, default=1.5)
    t.add_argument("--ema-decay", type=float, default=0.95, help="target network's EMA decay")
    t.add_argument("--huber-c", type=float, default=0.001)
    t.add_argument("--checkpoint-every", type=int, default=100)
    t.add_argument("--log-every", type=int, default=25)
    e.add_argument("--out", default=DEFAULT_OUT)
    e.add_argument("--cfg", type=float, default=3.0, help="the guidance scale for stipple_defaults.json and the judge")
    e.add_argument("--default-steps", type=int, default=4, help="the steps of stipple_defaults.json (default %(default)s)")
    e.add_argument("--weights", choices=["target", "online"], default="target",
                   help="the target (EMA) network, as the diffusers script ships, or the online student")
    e.add_argument("--no-judge", action="store_true", help="skip the judge runs at 1, 2, 4, 8 steps")
    args = parser.parse_args()
    if args.mode == "train":
        train(args)
    else:
        export(args)


if __name__ == "__main__":
    main()

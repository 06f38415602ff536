#!/usr/bin/env python3
"""Trains stipple's bundled default model from scratch on the CPU: a tiny latent diffusion model for
the 64x64 shapes of tools/shapes_data.py. Seeded, resumable, and sized to finish in under two hours
on two cores.

    # the full run, in the background (about 70 minutes on 2 cores; rerun the same line to resume):
    mkdir -p .venv-train-ckpt
    nohup .venv-ref/bin/python tools/train_default_model.py >> .venv-train-ckpt/shapes64-train.log 2>&1 &

    # then write samples/shapes-64/ from the latest checkpoint (works mid-training too) and judge it:
    .venv-ref/bin/python tools/export_default_model.py
    .venv-ref/bin/python tools/judge_shapes.py pipeline

Work files (checkpoints, the encoded data set, metrics) go to --work, by default
.venv-train-ckpt/shapes64/, which git ignores through the `.venv*/` rule. Running the same
command again continues where it stopped: finished phases are skipped, an interrupted phase goes on
from its last checkpoint (every --checkpoint-every steps, and at the end of each phase) with its
optimiser, EMA and step counter. The data and noise of step k come from generators seeded with
(seed, phase, k), so a resumed run draws exactly what an uninterrupted one would; with the same
thread count, torch's CPU kernels make the weights the same too.

Phases:
1. tokenizer: a CLIP BPE vocabulary for the caption words (vocab.json + merges.txt): the 512
   byte-level tokens (any text still tokenizes), the merges that make each caption word one token,
   then <|startoftext|> and <|endoftext|> (also the pad token).
2. vae: AutoencoderKL, 64x64x3 -> 4x16x16, trained on freshly rendered images with L1 + a small KL
   term. Its mid blocks have no attention, so it is fully convolutional.
3. latents: --data-count training images rendered (training combinations only) and encoded once;
   the posterior mean and std are stored, with the latent cells the shape touches, and the VAE's
   scaling_factor is set to 1 / (std of the latents) so the UNet sees unit-variance latents.
4. unet: CLIPTextModel and UNet2DConditionModel trained together from scratch on
   v-prediction with the cosine (squaredcos_cap_v2) schedule, 1000 steps; each step draws latents
   from the stored posteriors, a fresh caption paraphrase, and replaces 10% of the captions with
   "" for classifier-free guidance. The loss is the v MSE with the shape's cells weighted
   1 + --unet-shape-weight, plus --aux-weight x an attribute loss: linear heads (not exported)
   must read the caption's colour, shape, position and background from the text encoder's state
   at the last position (see ATTRIBUTES for why). EMA weights (decay 0.999) are what gets exported.

Why v-prediction: the squaredcos_cap_v2 schedule ends at an SNR of about 1e-6, where the image is
almost pure noise. An epsilon model there must predict the noise it was given, and recovering the
image from it divides by sqrt(alpha_bar) ~ 1e-3, so the background colour (which is decided at
exactly those first steps) would rest on amplified errors. A v model predicts -x0 at that end and
epsilon at the other, a well-conditioned target all along.

Progress goes to stdout (one line per --log-every steps: step, loss, lr, it/s, ETA) and to
WORK/metrics.jsonl; WORK/state.json records the phases done, their steps and wall time.
"""
import argparse
import json
import math
import os
import random
import sys
import time

# Threads that sleep rather than spin while waiting: on a shared 2-core machine, libgomp's default
# spinning makes a 2-thread run up to 10x slower as soon as another process takes a core (measured:
# 0.17 vs 1.3 VAE steps/s against one busy process; 2.4 vs 2.4-2.7 alone). Must precede `import torch`.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes_data as data  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
from diffusers import AutoencoderKL, UNet2DConditionModel  # noqa: E402
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_WORK = os.path.join(REPO, ".venv-train-ckpt", "shapes64")

# ---------------------------------------------------------------------------------------------
# Architecture (the export script reads these too)

VAE_CONFIG = dict(
    in_channels=3, out_channels=3, latent_channels=4,
    down_block_types=["DownEncoderBlock2D"] * 3, up_block_types=["UpDecoderBlock2D"] * 3,
    block_out_channels=[16, 32, 64], layers_per_block=1, norm_num_groups=8,
    sample_size=64, mid_block_add_attention=False, scaling_factor=1.0,
)
TEXT_HIDDEN = 96
TEXT_CONFIG = dict(  # vocab_size, bos/eos/pad ids come from the tokenizer
    hidden_size=TEXT_HIDDEN, intermediate_size=4 * TEXT_HIDDEN, num_hidden_layers=3, num_attention_heads=4,
    max_position_embeddings=77, hidden_act="quick_gelu", projection_dim=TEXT_HIDDEN,
)
# Four levels, 16x16 -> 8x8 -> 4x4 -> 2x2: at 2x2 each cell is one quadrant and tells which by
# its zero padding, so the mid block's cross-attention can put "top left" in its cell. A first
# design with three levels (down to 4x4) learned colours and shapes but left the position at
# chance (20%) after 2000 steps of batch 48.
UNET_CONFIG = dict(
    sample_size=16, in_channels=4, out_channels=4,
    down_block_types=["CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D", "DownBlock2D"],
    up_block_types=["UpBlock2D", "UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"],
    block_out_channels=[64, 96, 96, 96], layers_per_block=1, cross_attention_dim=TEXT_HIDDEN,
    attention_head_dim=4, norm_num_groups=32,
)
SCHEDULE = dict(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="v_prediction", steps_offset=1)
# --schedule linear: DDPM's linear betas (Ho et al. 2020: 1e-4 to 0.02 over 1000 steps), diffusers'
# `beta_schedule="linear"`, the baseline of the cosine schedule's paper (Nichol & Dhariwal 2021).
LINEAR_SCHEDULE = dict(SCHEDULE, beta_schedule="linear", beta_start=0.0001, beta_end=0.02)
# --objective flow: rectified flow / flow matching (Liu et al. 2022, Lipman et al. 2022) as
# diffusers' FlowMatchEulerDiscreteScheduler runs it: x_t = (1 - sigma) x0 + sigma noise, the UNet
# sees timestep sigma * 1000 and predicts the velocity noise - x0.
FLOW_SCHEDULE = dict(num_train_timesteps=1000, shift=1.0)


def schedule_config(schedule, objective):
    """The scheduler config a run of this --schedule and --objective trains for."""
    if objective == "flow":
        return FLOW_SCHEDULE
    return LINEAR_SCHEDULE if schedule == "linear" else SCHEDULE
CFG_DROPOUT = 0.1
EMA_DECAY = 0.999
# Auxiliary attribute loss on the text encoder (training only, not exported): linear heads read
# the four attributes from the state of the last of the 77 positions. Without it the padding
# states, which take most of the UNet's cross-attention, carried the colours only (their cosine
# similarity between "top left" and "bottom right", or "circle" and "square", captions was 1.000
# after 600 steps), and position stayed at chance.
ATTRIBUTES = (("colour", list(data.COLOURS)), ("shape", list(data.SHAPES)), ("position", list(data.POSITIONS)),
              ("background", list(data.COLOURS)))


# ---------------------------------------------------------------------------------------------
# Small helpers

class Run:
    """The work folder: state.json (phases done, steps, wall time), metrics.jsonl, checkpoints."""

    def __init__(self, work):
        self.work = work
        os.makedirs(work, exist_ok=True)
        self.state_path = os.path.join(work, "state.json")
        self.state = json.load(open(self.state_path)) if os.path.exists(self.state_path) else {}

    def path(self, name):
        return os.path.join(self.work, name)

    def save_state(self):
        with open(self.state_path + ".tmp", "w") as f:
            json.dump(self.state, f, indent=1)
        os.replace(self.state_path + ".tmp", self.state_path)

    def metric(self, **values):
        with open(self.path("metrics.jsonl"), "a") as f:
            f.write(json.dumps(values) + "\n")


def log(*parts):
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


def save_atomic(obj, path):
    torch.save(obj, path + ".tmp")
    os.replace(path + ".tmp", path)


def resume(path, label, **parts):
    """Loads the checkpoint at `path`, when there is one, into `parts` (its key -> an object with
    load_state_dict: model, optimiser, EMA); returns its (step, elapsed seconds), else (0, 0.0)."""
    if not os.path.exists(path):
        return 0, 0.0
    state = torch.load(path, weights_only=False)
    for key, part in parts.items():
        part.load_state_dict(state[key])
    log(f"{label}: resuming at step {state['step']}")
    return state["step"], state["elapsed"]


def optimise(opt, params, loss, lr):
    """One optimiser step on `loss` at learning rate `lr`, gradients clipped to norm 1."""
    for group in opt.param_groups:
        group["lr"] = lr
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()


def step_rng(seed, phase, step):
    """The generators of one training step: numpy (data), random (captions), torch (noise)."""
    key = (seed * 1_000_003 + phase * 7919) * 10_000_019 + step
    g = torch.Generator().manual_seed(key % (2 ** 63))
    return np.random.default_rng(key), random.Random(key), g


def lr_at(step, total, peak, warmup, floor):
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


# ---------------------------------------------------------------------------------------------
# Phase 1: tokenizer

def bytes_to_unicode():
    """GPT-2 / CLIP's reversible byte -> printable character table."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    table, extra = {}, 0
    for b in range(256):
        if b in printable:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def learn_merges(words):
    """BPE merges (in rank order) that make every word in `words` one token ending in </w>:
    repeatedly merge the most frequent adjacent pair (ties: alphabetical), as BPE is trained."""
    pieces = {w: list(w[:-1]) + [w[-1] + "</w>"] for w in words}
    merges = []
    while True:
        counts = {}
        for symbols in pieces.values():
            for pair in zip(symbols, symbols[1:]):
                counts[pair] = counts.get(pair, 0) + 1
        if not counts:
            return merges
        best = min(counts, key=lambda p: (-counts[p], p))
        merges.append(best)
        for w, symbols in pieces.items():
            out, i = [], 0
            while i < len(symbols):
                if i + 1 < len(symbols) and (symbols[i], symbols[i + 1]) == best:
                    out.append(symbols[i] + symbols[i + 1])
                    i += 2
                else:
                    out.append(symbols[i])
                    i += 1
            pieces[w] = out


def write_tokenizer(folder):
    """vocab.json, merges.txt, special_tokens_map.json and tokenizer_config.json in `folder`."""
    os.makedirs(folder, exist_ok=True)
    words = data.caption_words()
    merges = learn_merges(words)
    byte_chars = list(bytes_to_unicode().values())
    tokens = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    assert len(set(tokens)) == len(tokens), "duplicate token"
    with open(os.path.join(folder, "vocab.json"), "w") as f:
        json.dump({t: i for i, t in enumerate(tokens)}, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    special = lambda text: {"content": text, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}  # noqa: E731
    with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": special("<|startoftext|>"), "eos_token": special("<|endoftext|>"),
                   "pad_token": "<|endoftext|>", "unk_token": special("<|endoftext|>")}, f, indent=2)
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"add_prefix_space": False, "bos_token": special("<|startoftext|>"), "do_lower_case": True,
                   "eos_token": special("<|endoftext|>"), "errors": "replace", "model_max_length": 77,
                   "pad_token": "<|endoftext|>", "tokenizer_class": "CLIPTokenizer",
                   "unk_token": special("<|endoftext|>")}, f, indent=2)

    # Every caption word must come out as one token, and odd text must still tokenize.
    tokenizer = CLIPTokenizer.from_pretrained(folder)
    for w in words:
        ids = tokenizer(w, add_special_tokens=False).input_ids
        assert len(ids) == 1, f"{w!r} tokenizes to {tokenizer.convert_ids_to_tokens(ids)}"
    odd = tokenizer("Ünïcode ☃ zebra 42!", add_special_tokens=False).input_ids
    assert odd and tokenizer.unk_token_id not in odd[:-1], "byte fallback failed"
    return len(tokens), len(merges)


def load_tokenizer(run):
    return CLIPTokenizer.from_pretrained(run.path("tokenizer"))


def text_config(tokenizer):
    return CLIPTextConfig(vocab_size=len(tokenizer), bos_token_id=tokenizer.bos_token_id,
                          eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **TEXT_CONFIG)


# ---------------------------------------------------------------------------------------------
# Phase 2: VAE

def to_tensor(images):
    """uint8 [N, 64, 64, 3] -> float [N, 3, 64, 64] in [-1, 1]."""
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 127.5 - 1


def random_images(rng, count):
    """`count` training images and the shapes' pixel coverage (np rng drives the choice of
    combination and seed)."""
    images, coverage = [], []
    for _ in range(count):
        combo = data.TRAIN_COMBOS[rng.integers(len(data.TRAIN_COMBOS))]
        image, alpha = data.render(*combo, int(rng.integers(data.EVAL_SEED_BASE)), with_coverage=True)
        images.append(image)
        coverage.append(alpha)
    return images, torch.from_numpy(np.stack(coverage)).float()[:, None]


def posterior(vae, x):
    """(mean, logvar) of the VAE encoder for images x."""
    moments = vae.quant_conv(vae.encoder(x))
    mean, logvar = moments.chunk(2, dim=1)
    return mean, logvar.clamp(-30, 20)


def train_vae(run, args):
    torch.manual_seed(args.seed)
    vae = AutoencoderKL(**VAE_CONFIG)
    opt = torch.optim.AdamW(vae.parameters(), lr=args.vae_lr, weight_decay=0.0)
    ckpt = run.path("vae.pt")
    step, elapsed = resume(ckpt, "vae", model=vae, opt=opt)
    total = args.vae_steps
    log(f"vae: {sum(p.numel() for p in vae.parameters()):,} parameters, {total} steps of batch {args.vae_batch}")
    vae.train()
    window_start, window_steps, losses = time.time(), 0, []
    while step < total:
        t0 = time.time()
        rng, _, g = step_rng(args.seed, 2, step)
        images, coverage = random_images(rng, args.vae_batch)
        x = to_tensor(images)
        mean, logvar = posterior(vae, x)
        z = mean + torch.exp(0.5 * logvar) * torch.randn(mean.shape, generator=g)
        recon = vae.decode(z).sample
        # The shape is a tenth of the pixels but all of the caption: weight its pixels and edges up.
        weight = 1 + args.vae_shape_weight * F.max_pool2d(coverage, 3, 1, 1)
        rec = ((recon - x).abs() * weight).mean() / weight.mean()
        kl = 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).mean()
        loss = rec + args.vae_kl * kl
        lr = lr_at(step, total, args.vae_lr, 50, args.vae_lr * 0.05)
        for group in opt.param_groups:
            group["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        step += 1
        elapsed += time.time() - t0
        losses.append((rec.item(), kl.item()))
        window_steps += 1
        if step % args.log_every == 0 or step == total:
            rate = window_steps / (time.time() - window_start)
            r, k = np.mean(losses, axis=0)
            psnr = 10 * math.log10(4 / max(((recon - x) ** 2).mean().item(), 1e-10))
            log(f"vae step {step}/{total} l1 {r:.4f} kl {k:.3f} psnr {psnr:.1f} dB lr {lr:.2e} "
                f"{rate:.2f} it/s eta {(total - step) / rate / 60:.1f} min")
            run.metric(phase="vae", step=step, l1=r, kl=k, psnr=psnr, lr=lr, it_s=rate, elapsed=elapsed)
            window_start, window_steps, losses = time.time(), 0, []
        if step % args.checkpoint_every == 0 or step == total:
            save_atomic(dict(model=vae.state_dict(), opt=opt.state_dict(), step=step, elapsed=elapsed), ckpt)
    vae.eval()
    run.state["vae"] = dict(steps=total, wall_s=round(elapsed), batch=args.vae_batch, kl_weight=args.vae_kl,
                            shape_weight=args.vae_shape_weight)
    run.save_state()
    return vae


def load_vae(run):
    """The run's VAE: its own checkpoint, or (--vae-from) the float32 copy of a shipped one."""
    vae = AutoencoderKL(**VAE_CONFIG)
    vae.load_state_dict(torch.load(run.path("vae.pt"), weights_only=False)["model"])
    vae.eval()
    return vae


def load_vae_from(run, folder):
    """--vae-from: a shipped model's VAE (its `vae/` folder), upcast to float32, instead of training
    one, so the new model shares the latent space (and the tiny decoder) of that model. Its
    scaling_factor is kept: the latents phase does not measure a new one. Saved as the run's own
    vae.pt so export and load_vae find it."""
    vae = AutoencoderKL.from_pretrained(folder, torch_dtype=torch.float32)
    vae.eval()
    if "vae" not in run.state:
        save_atomic(dict(model=vae.state_dict(), opt=None, step=0, elapsed=0.0), run.path("vae.pt"))
        run.state["vae"] = dict(from_folder=os.path.relpath(os.path.abspath(folder), REPO), steps=0, wall_s=0,
                                scaling_factor=float(vae.config.scaling_factor))
        run.save_state()
        log(f"vae: from {folder} (scaling_factor {vae.config.scaling_factor})")
    return vae


# ---------------------------------------------------------------------------------------------
# Phase 3: encoded data set

def encode_dataset(run, args, vae):
    t0 = time.time()
    rng = random.Random(args.seed * 31 + 3)
    combos, means, stds, coverage = [], [], [], []
    index = {c: i for i, c in enumerate(data.TRAIN_COMBOS)}
    batch = 256
    psnrs = []
    with torch.no_grad():
        for start in range(0, args.data_count, batch):
            items = [data.sample_training_item(rng) for _ in range(min(batch, args.data_count - start))]
            rendered = [data.render(*combo, seed, with_coverage=True) for combo, seed in items]
            x = to_tensor([image for image, _ in rendered])
            # Where the shape is, on the latent grid (a cell counts when the shape touches it).
            cover = torch.from_numpy(np.stack([alpha for _, alpha in rendered])).float()[:, None]
            coverage.append((F.avg_pool2d(cover, 4) > 0).to(torch.uint8))
            mean, logvar = posterior(vae, x)
            means.append(mean.half())
            stds.append(torch.exp(0.5 * logvar).half())
            combos.extend(index[combo] for combo, _ in items)
            if start == 0:
                recon = vae.decode(mean).sample.clamp(-1, 1)
                psnrs.append(10 * math.log10(4 / ((recon - x) ** 2).mean().item()))
            if (start // batch) % 20 == 0:
                log(f"latents: {start + len(items)}/{args.data_count}")
    mean = torch.cat(means)
    std = torch.cat(stds)
    # The spread of the latents the UNet will see (posterior samples), over all channels.
    latent_std = math.sqrt(mean.float().var().item() + std.float().pow(2).mean().item())
    scaling = run.state["vae"].get("scaling_factor") or 1.0 / latent_std
    save_atomic(dict(mean=mean, std=std, combo=torch.tensor(combos, dtype=torch.int16), coverage=torch.cat(coverage),
                     scaling_factor=scaling),
                run.path("latents.pt"))
    wall = time.time() - t0
    run.state["latents"] = dict(count=args.data_count, latent_std=latent_std, scaling_factor=scaling,
                                channel_means=mean.float().mean(dim=(0, 2, 3)).tolist(),
                                channel_stds=mean.float().std(dim=(0, 2, 3)).tolist(),
                                mean_posterior_std=std.float().mean().item(), recon_psnr_db=psnrs[0], wall_s=round(wall))
    run.save_state()
    log(f"latents: {args.data_count} encoded in {wall:.0f} s; latent std {latent_std:.4f} -> scaling_factor {scaling:.4f}; "
        f"reconstruction PSNR {psnrs[0]:.1f} dB")


# ---------------------------------------------------------------------------------------------
# Phase 4: text encoder + UNet

def cosine_alphas_cumprod(steps=1000, max_beta=0.999):
    """alpha_bar of diffusers' squaredcos_cap_v2 schedule: betas from the cosine alpha_bar(t) =
    cos((t + 0.008) / 1.008 * pi / 2)^2 (Nichol & Dhariwal 2021), each capped at max_beta."""
    f = lambda t: math.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
    betas = [min(1 - f((i + 1) / steps) / f(i / steps), max_beta) for i in range(steps)]
    return torch.cumprod(1 - torch.tensor(betas, dtype=torch.float64), 0).float()


def linear_alphas_cumprod(steps=1000, start=0.0001, end=0.02):
    """alpha_bar of diffusers' "linear" schedule: betas torch.linspace(start, end) in float32."""
    betas = torch.linspace(start, end, steps, dtype=torch.float32)
    return torch.cumprod(1.0 - betas, dim=0)


def alphas_cumprod_for(schedule):
    return linear_alphas_cumprod() if schedule == "linear" else cosine_alphas_cumprod(SCHEDULE["num_train_timesteps"])


class Captions:
    """Token windows (77 ids: BOS, caption, EOS, padded with EOS) of captions, cached."""

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.cache = {}

    def __call__(self, texts):
        missing = [t for t in set(texts) if t not in self.cache]
        if missing:
            ids = self.tokenizer(missing, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
            self.cache.update(zip(missing, ids))
        return torch.stack([self.cache[t] for t in texts])


class EMA:
    """Exponential moving average of parameters (with the usual (1 + n) / (10 + n) warm-up)."""

    def __init__(self, modules, decay):
        self.decay = decay
        self.shadow = [p.detach().clone() for m in modules for p in m.parameters()]
        self.updates = 0

    @torch.no_grad()
    def update(self, modules):
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for s, p in zip(self.shadow, (p for m in modules for p in m.parameters())):
            s.lerp_(p.detach(), 1 - d)

    def state_dict(self):
        return dict(shadow=self.shadow, updates=self.updates)

    def load_state_dict(self, state):
        self.shadow = state["shadow"]
        self.updates = state["updates"]

    @torch.no_grad()
    def copy_to(self, modules):
        for s, p in zip(self.shadow, (p for m in modules for p in m.parameters())):
            p.copy_(s)


def build_denoiser(tokenizer):
    torch.manual_seed(12345)
    text = CLIPTextModel(text_config(tokenizer))
    unet = UNet2DConditionModel(**UNET_CONFIG)
    return text, unet


def attribute_labels(texts):
    """[N, 4] class indices of each caption's attributes (-100 where the caption does not say)."""
    labels = []
    for text in texts:
        said = data.parse_caption(text) if text else {}
        labels.append([names.index(said[key]) if said.get(key) else -100 for key, names in ATTRIBUTES])
    return torch.tensor(labels)


def attribute_loss(heads, hidden, labels):
    """Mean cross-entropy of the attribute heads on the last position's state."""
    logits = heads(hidden[:, -1]).split([len(names) for _, names in ATTRIBUTES], dim=1)
    losses = [F.cross_entropy(l, labels[:, i], ignore_index=-100) for i, l in enumerate(logits)
              if (labels[:, i] >= 0).any()]
    return torch.stack(losses).mean()


def train_unet(run, args):
    tokenizer = load_tokenizer(run)
    captions = Captions(tokenizer)
    dataset = torch.load(run.path("latents.pt"), weights_only=False)
    means, stds, combo_ids, coverage = dataset["mean"], dataset["std"], dataset["combo"].long(), dataset["coverage"]
    scaling = dataset["scaling_factor"]
    count = means.shape[0]
    alphas_cumprod = alphas_cumprod_for(args.schedule)
    flow = args.objective == "flow"

    text, unet = build_denoiser(tokenizer)
    heads = torch.nn.Linear(TEXT_HIDDEN, sum(len(names) for _, names in ATTRIBUTES))
    modules = [text, unet]
    params = [p for m in modules for p in m.parameters()] + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=args.unet_lr, weight_decay=0.01)
    ema = EMA(modules, EMA_DECAY)
    ckpt = run.path("unet.pt")
    step, elapsed = resume(ckpt, "unet", text=text, unet=unet, heads=heads, opt=opt, ema=ema)
    total = args.unet_steps
    log(f"unet: {sum(p.numel() for p in unet.parameters()):,} UNet + {sum(p.numel() for p in text.parameters()):,} "
        f"text-encoder parameters, {total} steps of batch {args.unet_batch}, {count} encoded images")
    for m in modules:
        m.train()
    window_start, window_steps, losses = time.time(), 0, []
    while step < total:
        t0 = time.time()
        rng, prng, g = step_rng(args.seed, 4, step)
        idx = torch.from_numpy(rng.integers(count, size=args.unet_batch))
        x0 = (means[idx].float() + stds[idx].float() * torch.randn((len(idx),) + tuple(means.shape[1:]), generator=g)) * scaling
        texts = []
        for i in idx.tolist():
            if prng.random() < CFG_DROPOUT:
                texts.append("")
            else:
                texts.append(data.random_caption(*data.TRAIN_COMBOS[combo_ids[i]], prng))
        ids = captions(texts)
        if flow:
            # sigma uniform in (0, 1] (rectified flow's uniform time), continuous timesteps.
            sigma = 1 - torch.rand((len(idx),), generator=g)
            t = sigma * FLOW_SCHEDULE["num_train_timesteps"]
            noise = torch.randn(x0.shape, generator=g)
            sv = sigma.view(-1, 1, 1, 1)
            xt = (1 - sv) * x0 + sv * noise
            target = noise - x0  # velocity
        else:
            t = torch.randint(0, SCHEDULE["num_train_timesteps"], (len(idx),), generator=g)
            noise = torch.randn(x0.shape, generator=g)
            a = alphas_cumprod[t].sqrt().view(-1, 1, 1, 1)
            s = (1 - alphas_cumprod[t]).sqrt().view(-1, 1, 1, 1)
            xt = a * x0 + s * noise
            target = a * noise - s * x0  # v
        hidden = text(ids).last_hidden_state
        aux = attribute_loss(heads, hidden, attribute_labels(texts))
        pred = unet(xt, t, hidden).sample
        # The shape's cells (dilated by one) weigh 1 + w: the caption is mostly about them.
        weight = 1 + args.unet_shape_weight * F.max_pool2d(coverage[idx].float(), 3, 1, 1)
        diffusion = ((pred - target) ** 2 * weight).mean() / weight.mean()
        loss = diffusion + args.aux_weight * aux
        lr = lr_at(step, total, args.unet_lr, 200, args.unet_lr * 0.02)
        optimise(opt, params, loss, lr)
        ema.update(modules)
        step += 1
        elapsed += time.time() - t0
        losses.append((diffusion.item(), aux.item()))
        window_steps += 1
        if step % args.log_every == 0 or step == total:
            rate = window_steps / (time.time() - window_start)
            mean_loss, mean_aux = (float(v) for v in np.mean(losses, axis=0))
            log(f"unet step {step}/{total} loss {mean_loss:.4f} attributes {mean_aux:.3f} lr {lr:.2e} {rate:.2f} it/s "
                f"eta {(total - step) / rate / 60:.1f} min")
            run.metric(phase="unet", step=step, loss=mean_loss, attribute_loss=mean_aux, lr=lr, it_s=rate, elapsed=elapsed)
            window_start, window_steps, losses = time.time(), 0, []
        if step % args.checkpoint_every == 0 or step == total:
            save_atomic(dict(text=text.state_dict(), unet=unet.state_dict(), heads=heads.state_dict(),
                             opt=opt.state_dict(), ema=ema.state_dict(),
                             step=step, elapsed=elapsed, total=total), ckpt)
            run.state["unet"] = dict(steps_done=step, steps=total, wall_s=round(elapsed), batch=args.unet_batch,
                                     lr=args.unet_lr, shape_weight=args.unet_shape_weight, aux_weight=args.aux_weight, cfg_dropout=CFG_DROPOUT, ema_decay=EMA_DECAY,
                                     schedule=args.schedule, objective=args.objective,
                                     **schedule_config(args.schedule, args.objective))
            run.save_state()
    run.state["unet"]["done"] = True
    run.save_state()
    log(f"unet: done, {step} steps in {elapsed / 60:.1f} min")


def load_denoiser(run, use_ema=True, checkpoint=None):
    """The text encoder and UNet of the latest checkpoint (or of the file `checkpoint`; EMA weights
    unless use_ema is False), and its step."""
    tokenizer = load_tokenizer(run)
    text, unet = build_denoiser(tokenizer)
    state = torch.load(checkpoint or run.path("unet.pt"), weights_only=False)
    text.load_state_dict(state["text"])
    unet.load_state_dict(state["unet"])
    if use_ema:
        ema = EMA([text, unet], EMA_DECAY)
        ema.load_state_dict(state["ema"])
        ema.copy_to([text, unet])
    text.eval()
    unet.eval()
    return tokenizer, text, unet, state["step"]


# ---------------------------------------------------------------------------------------------

def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default=DEFAULT_WORK, help="checkpoints and logs (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--stop-after", choices=["tokenizer", "vae", "latents", "unet"], help="stop after this phase")
    parser.add_argument("--schedule", choices=["cosine", "linear"], default="cosine",
                        help="noise schedule of the diffusion objective: squaredcos_cap_v2, or DDPM's linear betas")
    parser.add_argument("--objective", choices=["v", "flow"], default="v",
                        help="v-prediction diffusion, or flow matching (velocity noise - x0, sigma * 1000 timesteps)")
    parser.add_argument("--vae-from", help="a model folder's vae/ to use instead of training a VAE (shares its latent space)")
    parser.add_argument("--vae-steps", type=int, default=1600)
    parser.add_argument("--vae-batch", type=int, default=16)
    parser.add_argument("--vae-lr", type=float, default=2e-3)
    parser.add_argument("--vae-shape-weight", type=float, default=8.0, help="extra L1 weight of shape pixels")
    parser.add_argument("--vae-kl", type=float, default=1e-5, help="weight of the mean KL against the mean L1")
    parser.add_argument("--data-count", type=int, default=24000)
    parser.add_argument("--unet-steps", type=int, default=3000)
    parser.add_argument("--unet-batch", type=int, default=48)
    parser.add_argument("--unet-lr", type=float, default=8e-4)
    parser.add_argument("--unet-shape-weight", type=float, default=1.0, help="extra loss weight of the shape's latent cells")
    parser.add_argument("--aux-weight", type=float, default=0.1, help="weight of the text encoder's attribute loss")
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--log-every", type=int, default=25)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    run = Run(args.work)
    # Settings a run may change when resumed: how long the UNet trains (its schedule then follows
    # the new total from the current step on) and how often it saves.
    free = ("work", "threads", "stop_after", "log_every", "checkpoint_every", "unet_steps")
    settings = {k: v for k, v in vars(args).items() if k not in free}
    before = {k: v for k, v in run.state.get("settings", {}).items() if k not in free}
    if before and before != settings:
        sys.exit(f"{run.state_path}: this work folder was started with other settings {before}; "
                 f"use the same options to resume, or another --work")
    run.state["settings"] = dict(settings, unet_steps=args.unet_steps)
    run.save_state()
    log(f"work folder {args.work}, torch {torch.__version__}, {args.threads} threads")

    if "tokenizer" not in run.state:
        size, merges = write_tokenizer(run.path("tokenizer"))
        run.state["tokenizer"] = dict(vocab_size=size, merges=merges)
        run.save_state()
        log(f"tokenizer: {size} tokens ({merges} merges)")
    if args.stop_after == "tokenizer":
        return
    if args.vae_from:
        vae = load_vae_from(run, args.vae_from)
    elif "vae" not in run.state:
        vae = train_vae(run, args)
    else:
        vae = load_vae(run)
    if args.stop_after == "vae":
        return
    if "latents" not in run.state:
        encode_dataset(run, args, vae)
    if args.stop_after == "latents":
        return
    del vae
    unet_state = run.state.get("unet", {})
    if not unet_state.get("done") or unet_state.get("steps_done", 0) < args.unet_steps:
        train_unet(run, args)
    log("training done; export with: .venv-ref/bin/python tools/export_default_model.py --work " + args.work)


if __name__ == "__main__":
    main()

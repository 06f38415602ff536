#!/usr/bin/env python3
"""One reflow round (Liu, Gong and Liu 2022, "Flow straight and fast": the 2-rectified flow) of a
flow-matching run of tools/train_default_model.py (`--objective flow`). CPU, seeded, resumable.

    # after the flow run has finished (here 31 min of pairs, a build sharing the cores, then 18 min
    # of training; rerun the same line to resume):
    nohup .venv-ref/bin/python tools/train_reflow_model.py --from .venv-train-ckpt/shapes64-flow \\
        --work .venv-train-ckpt/shapes64-reflow >> .venv-train-ckpt/shapes64-reflow.log 2>&1 &

    # the work folder is one tools/export_default_model.py reads (its card then says "reflow"):
    .venv-ref/bin/python tools/export_default_model.py --work .venv-train-ckpt/shapes64-reflow \\
        --out .venv-train-ckpt/shapes-64-reflow --cfg 1 --steps 2 --no-judge

The first flow model learns straight lines between noise and images paired at random, so its
learned paths still bend where the lines of many pairs cross. Reflow pairs each noise with the
image the first model's own ODE takes it to, and trains again on the straight lines between those
couples: paths that do not cross, so few Euler steps follow them.

Phases:
1. pairs: --pairs couples (z, x1). The captions are drawn as training draws them (a training
   combination, a fresh paraphrase, 10% ""); z ~ N(0, I) [4, 16, 16]; x1 is the first model's
   (EMA weights) Euler solution from z over --pair-steps steps of FlowMatchEulerDiscreteScheduler's
   timesteps (shift 1), guided at --pair-cfg (cond + cfg (cond - uncond); an empty caption runs
   unguided). The guidance is baked into the pairs, as InstaFlow does: the reflowed model runs at
   CFG 1, one UNet pass a step. Batches are seeded by (seed, batch) and saved as they finish.
2. reflow: the text encoder and UNet start from the first model's EMA weights and train on
   sigma ~ U(0, 1], x_t = (1 - sigma) x1 + sigma z, target velocity z - x1, plus the first run's
   attribute loss (so the text encoder keeps reading the captions), --steps of batch --batch, AdamW
   at --lr (short warm-up, cosine decay), EMA 0.999 started from the first model.

Work files go to --work (ignored by git): pairs-NNN.pt, unet.pt (the checkpoint in the layout
train_default_model.load_denoiser reads), state.json (the first run's settings, tokenizer, VAE and
latents entries, its `unet` entry, and this round's `reflow` entry) and links to the first run's
tokenizer/, vae.pt and latents.pt, so export_default_model.py exports it like any run.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see train_default_model.py: must precede `import torch`

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import shapes_data as data  # noqa: E402
import train_default_model as train  # noqa: E402

PAIRS_PER_FILE = 48


def setup(args):
    """The work folder: the first run's state and links to its tokenizer, VAE and data set."""
    parent = train.Run(args.parent)
    if not parent.state.get("unet", {}).get("done"):
        sys.exit(f"{args.parent}: the flow run has not finished its UNet phase")
    if parent.state.get("settings", {}).get("objective") != "flow":
        sys.exit(f"{args.parent}: not a flow run (train_default_model.py --objective flow)")
    run = train.Run(args.work)
    for name in ("tokenizer", "vae.pt", "latents.pt"):
        link = run.path(name)
        if not os.path.lexists(link):
            os.symlink(os.path.relpath(parent.path(name), args.work), link)
    if "settings" not in run.state:
        for key in ("settings", "tokenizer", "vae", "latents"):
            run.state[key] = parent.state[key]
        run.state["first_unet"] = parent.state["unet"]
    # This run's settings (a resume may change --pairs or --steps; what was done so far stays).
    run.state.setdefault("reflow", {}).update(
        parent=os.path.relpath(os.path.abspath(args.parent), train.REPO), pairs=args.pairs, pair_steps=args.pair_steps,
        pair_cfg=args.pair_cfg, steps=args.steps, batch=args.batch, lr=args.lr, seed=args.seed)
    run.save_state()
    return parent, run


def flow_sigmas(steps):
    """FlowMatchEulerDiscreteScheduler's sigmas for `steps` (shift 1), with the final 0."""
    return torch.cat([torch.linspace(1.0, 1.0 / 1000, steps), torch.zeros(1)])


@torch.no_grad()
def make_pairs(parent, run, args):
    batches = (args.pairs + PAIRS_PER_FILE - 1) // PAIRS_PER_FILE
    missing = [b for b in range(batches) if not os.path.exists(run.path(f"pairs-{b:03d}.pt"))]
    if missing:  # a resumed run whose pairs are all made goes straight to reading them
        tokenizer, text, unet, _ = train.load_denoiser(parent)
        captions = train.Captions(tokenizer)
        empty = text(captions([""])).last_hidden_state
        sigmas = flow_sigmas(args.pair_steps)
    wall = run.state["reflow"].get("pairs_wall_s", 0.0)
    for b in missing:
        path = run.path(f"pairs-{b:03d}.pt")
        t0 = time.time()
        rng, prng, g = train.step_rng(args.seed, 10, b)
        combos = rng.integers(len(data.TRAIN_COMBOS), size=PAIRS_PER_FILE)
        texts = ["" if prng.random() < train.CFG_DROPOUT else data.random_caption(*data.TRAIN_COMBOS[c], prng)
                 for c in combos.tolist()]
        hidden = text(captions(texts)).last_hidden_state
        context = torch.cat([empty.expand_as(hidden), hidden])
        guided = torch.tensor([t != "" for t in texts]).view(-1, 1, 1, 1)
        z = torch.randn((PAIRS_PER_FILE, 4, 16, 16), generator=g)
        x = z.clone()
        for i in range(args.pair_steps):
            t = sigmas[i] * 1000
            both = unet(torch.cat([x, x]), t.expand(2 * PAIRS_PER_FILE), context).sample
            uncond, cond = both.chunk(2)
            v = torch.where(guided, uncond + args.pair_cfg * (cond - uncond), cond)
            x = x + (sigmas[i + 1] - sigmas[i]) * v
        train.save_atomic(dict(z=z, x1=x, texts=texts, combos=torch.from_numpy(combos)), path)
        wall += time.time() - t0
        run.state["reflow"]["pairs_wall_s"] = round(wall)
        run.save_state()
        train.log(f"pairs: {min(args.pairs, (b + 1) * PAIRS_PER_FILE)}/{args.pairs} ({time.time() - t0:.1f} s a batch of {PAIRS_PER_FILE})")
    files = [torch.load(run.path(f"pairs-{b:03d}.pt"), weights_only=False) for b in range(batches)]
    return (torch.cat([f["z"] for f in files])[:args.pairs], torch.cat([f["x1"] for f in files])[:args.pairs],
            [t for f in files for t in f["texts"]][:args.pairs])


def reflow(parent, run, args, z, x1, texts):
    tokenizer, text, unet, _ = train.load_denoiser(parent)  # the EMA weights: the model that made the pairs
    captions = train.Captions(tokenizer)
    heads = torch.nn.Linear(train.TEXT_HIDDEN, sum(len(names) for _, names in train.ATTRIBUTES))
    heads.load_state_dict(torch.load(parent.path("unet.pt"), weights_only=False)["heads"])
    modules = [text, unet]
    params = [p for m in modules for p in m.parameters()] + list(heads.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    ema = train.EMA(modules, train.EMA_DECAY)
    ema.updates = 10_000  # the first model is the EMA's start: full decay from the first step
    ckpt = run.path("unet.pt")
    step, elapsed = train.resume(ckpt, "reflow", text=text, unet=unet, heads=heads, opt=opt, ema=ema)
    total, count = args.steps, len(texts)
    train.log(f"reflow: {count} pairs, {total} steps of batch {args.batch}")
    for m in modules:
        m.train()
    window_start, window_steps, losses = time.time(), 0, []
    while step < total:
        t0 = time.time()
        rng, _, g = train.step_rng(args.seed, 11, step)
        idx = torch.from_numpy(rng.integers(count, size=args.batch))
        batch_texts = [texts[i] for i in idx.tolist()]
        sigma = 1 - torch.rand((len(idx),), generator=g)
        sv = sigma.view(-1, 1, 1, 1)
        xt = (1 - sv) * x1[idx] + sv * z[idx]
        target = z[idx] - x1[idx]
        hidden = text(captions(batch_texts)).last_hidden_state
        aux = train.attribute_loss(heads, hidden, train.attribute_labels(batch_texts))
        velocity = F.mse_loss(unet(xt, sigma * 1000, hidden).sample, target)
        loss = velocity + run.state["settings"]["aux_weight"] * aux
        lr = train.lr_at(step, total, args.lr, 50, args.lr * 0.05)
        train.optimise(opt, params, loss, lr)
        ema.update(modules)
        step += 1
        elapsed += time.time() - t0
        losses.append((velocity.item(), aux.item()))
        window_steps += 1
        if step % args.log_every == 0 or step == total:
            rate = window_steps / (time.time() - window_start)
            mean_loss, mean_aux = (float(v) for v in np.mean(losses, axis=0))
            train.log(f"reflow step {step}/{total} loss {mean_loss:.4f} attributes {mean_aux:.3f} lr {lr:.2e} "
                      f"{rate:.2f} it/s eta {(total - step) / rate / 60:.1f} min")
            run.metric(phase="reflow", step=step, loss=mean_loss, attribute_loss=mean_aux, lr=lr, it_s=rate, elapsed=elapsed)
            window_start, window_steps, losses = time.time(), 0, []
        if step % args.checkpoint_every == 0 or step == total:
            train.save_atomic(dict(text=text.state_dict(), unet=unet.state_dict(), heads=heads.state_dict(),
                                   opt=opt.state_dict(), ema=ema.state_dict(), step=step, elapsed=elapsed, total=total), ckpt)
            run.state["unet"] = run.state["first_unet"]  # the card's first-round figures
            run.state["reflow"].update(steps_done=step, steps=total, wall_s=round(elapsed))
            run.save_state()
    run.state["reflow"]["done"] = True
    run.save_state()
    train.log(f"reflow: done, {step} steps in {elapsed / 60:.1f} min")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="parent", required=True, help="the finished flow run's work folder")
    parser.add_argument("--work", required=True, help="this round's work folder")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pairs", type=int, default=3360)
    parser.add_argument("--pair-steps", type=int, default=20, help="Euler steps of the first model's ODE per pair")
    parser.add_argument("--pair-cfg", type=float, default=2.0, help="the guidance the pairs are drawn with")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch", type=int, default=48)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--checkpoint-every", type=int, default=100)
    parser.add_argument("--log-every", type=int, default=25)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    parent, run = setup(args)
    z, x1, texts = make_pairs(parent, run, args)
    reflow(parent, run, args, z, x1, texts)


if __name__ == "__main__":
    sys.exit(main())

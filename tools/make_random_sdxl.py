#!/usr/bin/env python3
"""Writes a full-size SDXL 1.0 base diffusers folder with random float16 weights (no downloads), for
the SDXL speed and memory measurements (issue 15), then checks that the weights it wrote keep every
activation finite and well inside float16's range.

    .venv-ref/bin/python tools/make_random_sdxl.py --out /work/models/sdxl-fp16-folder
    .venv-ref/bin/python tools/make_random_sdxl.py --check-only --out /work/models/sdxl-fp16-folder

The folder is what `StableDiffusionXLPipeline(...).save_pretrained(out)` writes (diffusers 0.42.1,
transformers 5.25): `model_index.json` (with `force_zeros_for_empty_prompt: true`), `unet/`, `vae/`,
`text_encoder/`, `text_encoder_2/`, `tokenizer/`, `tokenizer_2/`, `scheduler/`. The weights are
plain float16 files (`diffusion_pytorch_model.safetensors`, `model.safetensors`, holding float16),
not `variant="fp16"` ones, so every reader loads them without being told a variant; 6.9 GB in all
(UNet 5.1 GB, text_encoder_2 1.4 GB, text_encoder 0.25 GB, VAE 0.17 GB).

- Architectures: the configs stabilityai/stable-diffusion-xl-base-1.0 publishes (SDXL_* in
  tools/bench_torch.py, which `bench_torch.py --arch sdxl` times): CLIP ViT-L/14 and OpenCLIP
  ViT-bigG/14 with its projection, the 2.6-billion-parameter UNet, the KL VAE with scaling factor
  0.13025 and force_upcast.
- Scheduler: EulerDiscreteScheduler with SDXL base's scheduler_config.json.
- Tokenizers: CLIPTokenizer built from the CLIP BPE merges the project ships
  (Sources/Diffusion/Tokenizer/Resources/bpe_simple_vocab_16e6.txt, the full 49,408-token
  vocabulary, built as tools/make_tokenizer_fixtures.py builds it); `tokenizer` pads with
  <|endoftext|>, `tokenizer_2` with "!", as SDXL's do. transformers 5 saves each as
  tokenizer.json + tokenizer_config.json.
- Weights: each model is built directly in float16 with its libraries' own initialisation
  (PyTorch's default init for diffusers' convolutions and linear layers, norms at 1 and 0;
  transformers' CLIP init, normal std 0.02 and scaled), seeded by --seed; deterministic.
  transformers 5 writes text_encoder/ without the `text_model.` prefix (text_encoder_2/ keeps it).
- Memory and time (measured 2026-12-06 on the 2-core, 24 GB development machine, torch 2.15,
  diffusers 0.42.1, transformers 5.25, `/usr/bin/time -v`): building and saving peak at 7.2 GiB
  (the four models in float16; nothing is ever held in float32), the check at 11.65 GiB (the float32
  UNet); the whole run took 2 min 14 s wall (build 29 s, save 18 s, check 81 s) with peak RSS
  12,217,620 KB. Parameters: UNet 2,567,463,684, text_encoder_2 694,659,840, text_encoder
  123,060,480, VAE 83,653,863 (SDXL 1.0 base's own counts). That run's check: largest |activation|
  text_encoder 4.4, text_encoder_2 5.2, UNet 7.1, VAE decode 20.3.

The check (run after saving, or alone with --check-only) reads the saved files back into float32
models one at a time and runs, on --threads threads: both text encoders on a prompt (as
encode_prompt does), the UNet on a 64x64 latent with that prompt's embeddings (CFG batch of 2,
timestep 500), and the VAE decode of a 64x64 latent / 0.13025. A forward hook on every module
records the largest |value| it outputs; the check fails unless every output is finite and the
largest stays below --max-activation (default 1e4, against float16's 65,504), so engines computing
in float16 (stable-diffusion.cpp) do not overflow on these weights. It prints each network's
largest activation and where, and its output's mean and standard deviation. The float32 models are
filled from the files with plain reads (no memory map), so the check's peak is the float32 UNet
(10.3 GB) and its activations.
"""
import argparse
import gc
import json
import os
import resource
import sys
import tempfile
import time

import torch
from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch import SDXL_TEXT_ENCODER, SDXL_TEXT_ENCODER_2, SDXL_UNET, VAE_CONFIG  # noqa: E402
from make_tokenizer_fixtures import COMMITTED as MERGES_FILE, build_vocab  # noqa: E402

# scheduler/scheduler_config.json of stabilityai/stable-diffusion-xl-base-1.0.
SDXL_SCHEDULER = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", num_train_timesteps=1000,
                      prediction_type="epsilon", interpolation_type="linear", use_karras_sigmas=False,
                      steps_offset=1, timestep_spacing="leading")
PROMPT = "a photograph of an astronaut riding a horse on the moon, highly detailed"


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}, peak RSS {peak_rss_gb():.2f} GB] {message}", flush=True)


def peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def in_half(build):
    """`build()` with float16 as the default dtype: the parameters are created (and initialised) in
    float16 directly, never as a float32 copy."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float16)
    try:
        return build().eval()
    finally:
        torch.set_default_dtype(previous)


def tokenizers(workdir):
    """SDXL's two CLIP tokenizers from the shipped merges: the same vocabulary, padded differently."""
    ids, merges = build_vocab(open(MERGES_FILE, encoding="utf-8").read())
    vocab, merges_path = os.path.join(workdir, "vocab.json"), os.path.join(workdir, "merges.txt")
    with open(vocab, "w", encoding="utf-8") as f:
        json.dump(ids, f, ensure_ascii=False)
    with open(merges_path, "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    return [CLIPTokenizer(vocab, merges_path, pad_token=pad, model_max_length=77)
            for pad in ("<|endoftext|>", "!")]


def build(out, seed):
    torch.manual_seed(seed)
    with tempfile.TemporaryDirectory() as workdir:
        tokenizer, tokenizer_2 = tokenizers(workdir)
    log("tokenizers built")
    text_encoder = in_half(lambda: CLIPTextModel(CLIPTextConfig(**SDXL_TEXT_ENCODER)))
    log("text_encoder built")
    text_encoder_2 = in_half(lambda: CLIPTextModelWithProjection(CLIPTextConfig(**SDXL_TEXT_ENCODER_2)))
    log("text_encoder_2 built")
    vae = in_half(lambda: AutoencoderKL(**VAE_CONFIG["sdxl"]))
    log("vae built")
    unet = in_half(lambda: UNet2DConditionModel(**SDXL_UNET))
    log("unet built")
    for name, model in (("text_encoder", text_encoder), ("text_encoder_2", text_encoder_2), ("vae", vae),
                        ("unet", unet)):
        dtypes = {p.dtype for p in model.parameters()}
        assert dtypes == {torch.float16}, (name, dtypes)
        print(f"  {name}: {sum(p.numel() for p in model.parameters()):,} parameters, float16")
    pipe = StableDiffusionXLPipeline(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer,
        tokenizer_2=tokenizer_2, unet=unet, scheduler=EulerDiscreteScheduler(**SDXL_SCHEDULER),
        force_zeros_for_empty_prompt=True, add_watermarker=False)
    pipe.save_pretrained(out, safe_serialization=True)
    log(f"saved {out}")


class ActivationWatch:
    """Forward hooks on every module of a model, recording the largest |value| any of them outputs
    and whether every output was finite."""

    def __init__(self, model):
        self.largest, self.where, self.nonfinite = 0.0, None, []
        self.handles = [module.register_forward_hook(self.hook(name)) for name, module in model.named_modules()]

    def hook(self, name):
        def record(module, inputs, output):
            for tensor in tensors(output):
                if not tensor.is_floating_point():
                    continue
                if not torch.isfinite(tensor).all():
                    self.nonfinite.append(name or "(model)")
                    continue
                largest = tensor.abs().max().item()
                if largest > self.largest:
                    self.largest, self.where = largest, name or "(model)"
        return record

    def close(self):
        for handle in self.handles:
            handle.remove()


def tensors(output):
    """The tensors in a module's output (a tensor, a tuple or list, or a ModelOutput / dict)."""
    if isinstance(output, torch.Tensor):
        return [output]
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        return [t for item in output for t in tensors(item)]
    return []


def watched(label, model, run, limit, failures, output=lambda result: result):
    """Runs `run()` under an ActivationWatch, prints the figures (of the tensor `output(result)`) and
    returns its result."""
    watch = ActivationWatch(model)
    start = time.perf_counter()
    try:
        result = run()
    finally:
        watch.close()
    seconds = time.perf_counter() - start
    out = output(result)
    log(f"{label}: {seconds:.1f} s, output {tuple(out.shape)} mean {out.mean().item():+.4f} std "
        f"{out.std().item():.4f}; largest |activation| {watch.largest:.1f} in {watch.where}")
    if watch.nonfinite:
        failures.append(f"{label}: non-finite output in {len(watch.nonfinite)} modules, first {watch.nonfinite[0]}")
    elif watch.largest >= limit:
        failures.append(f"{label}: largest |activation| {watch.largest:.1f} in {watch.where} is not below {limit:g}")
    return result


def read_float32(path):
    """A .safetensors file's tensors as float32, read with plain file reads (no memory map, so the
    file's pages do not join this process's resident memory), one tensor at a time."""
    dtypes = {"F16": torch.float16, "F32": torch.float32, "BF16": torch.bfloat16}
    with open(path, "rb") as f:
        size = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(size))
        header.pop("__metadata__", None)
        for name, entry in sorted(header.items(), key=lambda item: item[1]["data_offsets"][0]):
            begin, end = entry["data_offsets"]
            f.seek(8 + size + begin)
            data = bytearray(f.read(end - begin))
            yield name, torch.frombuffer(data, dtype=dtypes[entry["dtype"]]).reshape(entry["shape"]).float()


def load_diffusers_float32(cls, folder):
    """A diffusers model from `folder` in float32, built on the meta device and filled from its file,
    so the float32 model is the only full copy in memory."""
    with torch.device("meta"):
        model = cls.from_config(cls.load_config(folder))
    assert not list(model.buffers()), "to_empty would leave buffers uninitialised"
    model = model.to_empty(device="cpu").eval()
    params = dict(model.named_parameters())
    seen = set()
    with torch.no_grad():
        for name, tensor in read_float32(os.path.join(folder, "diffusion_pytorch_model.safetensors")):
            params[name].copy_(tensor)
            seen.add(name)
    assert seen == set(params), f"missing from the file: {sorted(set(params) - seen)[:5]}"
    return model


def check(out, threads, limit):
    torch.set_num_threads(threads)
    failures = []
    with torch.inference_mode():
        pipe_tokenizers = [CLIPTokenizer.from_pretrained(out, subfolder=sub) for sub in ("tokenizer", "tokenizer_2")]
        ids = [t(PROMPT, padding="max_length", max_length=77, truncation=True, return_tensors="pt").input_ids
               for t in pipe_tokenizers]
        assert pipe_tokenizers[1].pad_token == "!" and ids[1][0, -1].item() == 0, "tokenizer_2 must pad with !"
        hidden = []
        for sub, cls, token_ids in (("text_encoder", CLIPTextModel, ids[0]),
                                    ("text_encoder_2", CLIPTextModelWithProjection, ids[1])):
            model = cls.from_pretrained(out, subfolder=sub, dtype=torch.float32).eval()
            result = watched(sub, model, lambda: model(token_ids, output_hidden_states=True), limit, failures,
                             output=lambda r: r.hidden_states[-2])
            hidden.append(result.hidden_states[-2])
            pooled = getattr(result, "text_embeds", None)
            del model, result
            gc.collect()
        context = torch.cat(hidden, dim=-1).repeat(2, 1, 1)  # as encode_prompt: [2, 77, 2048]
        # The CFG batch: the prompt's embeddings, then the zeros of force_zeros_for_empty_prompt.
        context[1].zero_()
        text_embeds = torch.cat([pooled, torch.zeros_like(pooled)])
        time_ids = torch.tensor([[512.0, 512.0, 0.0, 0.0, 512.0, 512.0]] * 2)
        gen = torch.Generator().manual_seed(0)
        latent = torch.randn((2, 4, 64, 64), generator=gen)
        unet = load_diffusers_float32(UNet2DConditionModel, os.path.join(out, "unet"))
        log("unet read back in float32")
        watched("unet", unet, lambda: unet(latent, torch.tensor([500, 500]), context,
                                           added_cond_kwargs={"text_embeds": text_embeds, "time_ids": time_ids}).sample,
                limit, failures)
        del unet
        gc.collect()
        vae = load_diffusers_float32(AutoencoderKL, os.path.join(out, "vae"))
        latent = torch.randn((1, 4, 64, 64), generator=gen) / vae.config.scaling_factor
        watched("vae decode", vae, lambda: vae.decode(latent).sample, limit, failures)
    if failures:
        print("check failed:\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)
    log("check passed: every activation finite and below the limit")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True, help="the folder to write (or, with --check-only, to check)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="threads for the check's forward passes")
    parser.add_argument("--max-activation", type=float, default=1e4)
    parser.add_argument("--check-only", action="store_true", help="check an existing folder, write nothing")
    parser.add_argument("--no-check", action="store_true", help="write the folder, skip the check")
    args = parser.parse_args()
    log(f"torch {torch.__version__}")
    if not args.check_only:
        if os.path.exists(os.path.join(args.out, "model_index.json")):
            sys.exit(f"{args.out} already holds a pipeline; remove it first")
        build(args.out, args.seed)
        gc.collect()
    if not args.no_check:
        check(args.out, args.threads, args.max_activation)


if __name__ == "__main__":
    main()

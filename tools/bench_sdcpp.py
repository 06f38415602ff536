#!/usr/bin/env python3
"""Runs `stipple generate` and stable-diffusion.cpp (through its Python package) one after the other
on the same single-file SD checkpoint with the same settings, and prints a markdown table per run:
wall time, CPU time, load, prompt, LoRA, per-step and decode times, peak RSS, and the ratio
stipple / stable-diffusion.cpp (below 1: stipple is faster or smaller).

    python3 -m venv .venv-peer && CMAKE_BUILD_PARALLEL_LEVEL=2 .venv-peer/bin/pip install stable-diffusion-cpp-python
    swift build -c release
    python3 tools/bench_sdcpp.py --model MODEL.safetensors [--width W --height H] [--steps 4]
        [--cfg-scale 7] [--threads 2] [--seed 42] [--runs 1] [--weight-type f32|f16|bf16]
        [--sampler euler|euler_a|lcm] [--timestep-spacing default|trailing] [--prediction epsilon|v]
        [--lora PATH[:WEIGHT]]... [--taesd PATH] [--no-negative] [--peer-only | --stipple-only]
        [--stipple .build/release/stipple] [--peer-python .venv-peer/bin/python] [--json OUT.json]
    python3 tools/bench_sdcpp.py --model SD1.safetensors --write-prefixed-copy SD1-ldm.safetensors
    python3 tools/bench_sdcpp.py --model /work/models/sdxl-fp16.safetensors --steps 2 --json sdxl.json

Issue 16's few-step runs (models from tools/make_few_step_models.py; the SD1.5 file for sd.cpp is
the `--write-prefixed-copy` of /work/models/sd15-fp16.safetensors):

    # LCM-LoRA: 4 steps, CFG 1, the lcm sampler, TAESD decode
    python3 tools/bench_sdcpp.py --model /work/bench-sdcpp/sd15-fp16-ldm.safetensors --steps 4 --cfg-scale 1 \
        --sampler lcm --lora /work/models/loras/lcm-lora-sd15-r64.safetensors --taesd /work/models/taesd
    # SD-Turbo architecture: 1 step, CFG 1, Euler a, trailing, TAESD decode
    python3 tools/bench_sdcpp.py --model /work/models/sd-turbo-fp16.safetensors --steps 1 --cfg-scale 1 \
        --sampler euler_a --timestep-spacing trailing --prediction epsilon --taesd /work/models/taesd

Both run as whole processes under `/usr/bin/time -v` (peak RSS and CPU time are each program's own),
never at the same time (they would share the cores); with `--runs N` they alternate. By default:
sampler Euler, default schedule, CPU noise (sd.cpp `rng_type="cpu"`), prompt and negative prompt on
both, so every step is a CFG pair. Stage times come from `stipple generate --timings` and from sd.cpp's
own log lines ("get_learned_condition", "apply_loras", "sampling", "decode_first_stage" completed,
taking N s); load is the time to construct `StableDiffusion`. Nothing of stable-diffusion.cpp's code is in the project: the package
is installed from PyPI into `.venv-peer` (see ../shared/PEERS.md). Images and logs go to `--out-dir`
(default: a new temporary folder, printed). An SD1 file whose text-encoder names lack transformers 4's
`text_model.` (stipple reads it, sd.cpp cannot) is refused; `--write-prefixed-copy` writes one sd.cpp reads.
The same goes for an SDXL file's first text encoder (`conditioner.embedders.0.transformer.`).

Few-step options, each given to both programs the way a user would:

- `--lora PATH[:WEIGHT]` (repeatable; weight 1 when not given): `<lora:NAME:WEIGHT>` (NAME = the
  file name without `.safetensors`) is appended to the prompt of both; stipple gets `--lora-dir`
  and sd.cpp `lora_model_dir` = the LoRA's folder (all LoRAs must share one). sd.cpp applies a
  LoRA to the weights before sampling ("immediately" for unquantised weights) and logs it
  ("apply_loras completed": the "LoRA" row). stipple's `--timings` has no LoRA stage (the row is
  filled if it gains one): it merges between the load and the first step, inside its "prompt"
  stage. The run fails if sd.cpp cannot find the file or applies only part of its tensors ("Only
  (k / n) LoRA tensors have been applied"), or if stipple's PNG does not name every LoRA in its
  `Lora hashes` (A1111's infotext field, written for the LoRAs it used).
- `--taesd PATH`: the final image is decoded by TAESD on both sides. PATH is a folder holding both
  layouts of the same weights (as make_few_step_models.py writes /work/models/taesd) or a file in
  it: stipple gets `--taesd` madebyollin's `taesd_decoder.safetensors` (with `_encoder` beside it;
  the folder itself when it has only diffusers' layout) and `--decoder taesd`; sd.cpp gets
  `taesd_path` = the folder's `diffusion_pytorch_model.safetensors` (diffusers' `AutoencoderTiny`
  names, `decoder.layers.N.*`, the only layout its TAE loader reads). With it sd.cpp does not load
  the model's VAE at all (it skips `first_stage_model.*`); its log must say "using TAE for encoding
  / decoding".
- `--sampler`: stipple's sampler of that name and sd.cpp's `sample_method` (`euler`, `euler_a`,
  `lcm`). sd.cpp's scheduler is set explicitly: `lcm` for the lcm sampler (timesteps 999, 759, 499,
  259 for 4 steps, as diffusers' LCMScheduler), `discrete` otherwise (as before).
- `--timestep-spacing trailing`: stipple `--timestep-spacing trailing` (SD-Turbo's scheduler
  config); sd.cpp has no trailing spacing: it gets `scheduler="sgm_uniform"` (t = linspace(999, 0,
  n + 1) without the last, i.e. trailing up to rounding: 999 for one step, 999/749.25/499.5/249.75
  for four where trailing has 999/749/499/249). Its `discrete` scheduler gives t = 999 too for one
  step.
- `--prediction epsilon|v`: stipple `--prediction`, sd.cpp `prediction="eps"|"v"`. Needed for SD2
  files without metadata: sd.cpp otherwise guesses by running the UNet once on a constant input
  (`is_using_v_parameterization_for_sd2`), which on random weights can guess either way; stipple
  assumes epsilon.
- CFG 1 (or `--no-negative`): no negative prompt is given to either side; at CFG 1 both skip the
  unconditional pass (sd.cpp encodes no negative prompt then, `use_uncond` false), so a step is one
  UNet pass and the table says so.
- `--peer-only` / `--stipple-only`: run one side (the other column shows "—"); e.g. sd.cpp while
  stipple cannot yet read a LoRA.

SDXL single files (the original SGM layout: `conditioner.embedders.0.transformer.` CLIP ViT-L,
`conditioner.embedders.1.model.` OpenCLIP bigG, `model.diffusion_model.` with `label_emb`,
`first_stage_model.`) are told from their tensor names, here as sd.cpp does (a second embedder and a
UNet), and default to 1024x1024 (SD1/SD2 files to 512x512) when --width/--height are not given.
sd.cpp (stable-diffusion-cpp-python 0.4.7) needs nothing else for them: the one file holds both text
encoders, the UNet and the VAE, so no `clip_l_path`/`clip_g_path`/`vae_path`; it uses both encoders'
penultimate layers (its clip_skip -1 means 2 for SDXL) and the size as SDXL's micro-conditioning. Two
things it does on its own, left as a user gets them: without a separate `vae_path` it scales every
convolution of the SDXL VAE by 1/32 on the way in and 32 on the way out (`set_conv2d_scale`, its
guard against SDXL's VAE overflowing in f16; it logs "No valid VAE specified ... using Conv2D scale
0.031"), and the Python package keeps every weight loaded for the whole run
(`free_params_immediately=False`, where its command-line program frees the text encoders after the
prompt and the UNet after sampling) with the VAE encoder loaded too (`vae_decode_only=False`, as for
SD1). Neither engine tiles the VAE here (sd.cpp only when asked; stipple decides by the memory
available, and its tiles are the native size, 1024 pixels for SDXL). At 1024x1024 on two cores a step
takes minutes, so `--steps 2` is enough for the per-step figure.
"""
import argparse
import json
import os
import re
import shlex
import shutil
import struct
import statistics
import subprocess
import sys
import tempfile
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPT = "a red circle on blue"
NEGATIVE = "blurry"
PEER_INSTALL = ("python3 -m venv .venv-peer && CMAKE_BUILD_PARALLEL_LEVEL=2 .venv-peer/bin/pip install "
                "stable-diffusion-cpp-python")
# (key, label, unit) of the table's rows, in order; times in seconds, memory in GB (kbytes / 10^6).
# The step and decode labels are filled in per run (`rows`).
ROWS = [("wall_s", "wall (whole process)", "s"), ("cpu_s", "CPU time (user + sys)", "s"),
        ("load_s", "load", "s"), ("prompt_s", "prompt (text encoder)", "s"), ("lora_s", "LoRA", "s"),
        ("step_s", "per step ({})", "s"), ("decode_s", "{} decode", "s"),
        ("peak_rss_gb", "peak RSS", "GB")]
SAMPLERS = ("euler", "euler_a", "lcm")  # the same name in stipple and sd.cpp


def fail(message):
    print(f"bench_sdcpp: {message}", file=sys.stderr)
    sys.exit(1)


def uses_cfg(args):
    return args.cfg_scale != 1


def negative(args):
    """The negative prompt: none at CFG 1 (neither program runs an unconditional pass then) or with
    --no-negative."""
    return "" if args.no_negative or not uses_cfg(args) else NEGATIVE


def lora_specs(args):
    """[(path, name, weight)] of the --lora options."""
    specs = []
    for spec in args.lora or []:
        path, weight = spec, 1.0
        head, _, tail = spec.rpartition(":")
        if head:
            try:
                path, weight = head, float(tail)
            except ValueError:
                pass
        path = os.path.abspath(path)
        specs.append((path, os.path.basename(path).removesuffix(".safetensors"), weight))
    return specs


def lora_dir(args):
    folders = {os.path.dirname(path) for path, _, _ in lora_specs(args)}
    if len(folders) > 1:
        fail(f"the LoRAs must be in one folder (both programs take one LoRA folder): {sorted(folders)}")
    return folders.pop() if folders else None


def prompt(args):
    """The prompt with an A1111 `<lora:NAME:WEIGHT>` for each --lora, as both programs read it."""
    return PROMPT + "".join(f" <lora:{name}:{weight:g}>" for _, name, weight in lora_specs(args))


def taesd_paths(args):
    """(what stipple's --taesd gets, what sd.cpp's taesd_path gets) for --taesd, or (None, None)."""
    if not args.taesd:
        return None, None
    path = os.path.abspath(args.taesd)
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    original = os.path.join(folder, "taesd_decoder.safetensors")
    diffusers_file = os.path.join(folder, "diffusion_pytorch_model.safetensors")
    if not os.path.exists(diffusers_file):
        fail(f"no {diffusers_file}: stable-diffusion.cpp's taesd_path reads TAESD in diffusers' layout "
             "(decoder.layers.N.*), madebyollin/taesd's diffusion_pytorch_model.safetensors")
    return (original if os.path.exists(original) else folder), diffusers_file


def peer_scheduler(args):
    """sd.cpp's scheduler: lcm for the lcm sampler; sgm_uniform, its nearest to trailing spacing
    (it has no trailing); discrete otherwise."""
    if args.sampler == "lcm":
        return "lcm"
    return "sgm_uniform" if args.timestep_spacing == "trailing" else "discrete"


def rows(args):
    step = "CFG pair" if uses_cfg(args) else "one UNet pass"
    decoder = "TAESD" if args.taesd else "VAE"
    return [(key, label.format(step if key == "step_s" else decoder), unit) for key, label, unit in ROWS]


def timed(command, log_path):
    """Runs `command` under /usr/bin/time -v with its stdout and stderr in `log_path`; returns the
    exit status and wall, CPU and peak-RSS figures of the process."""
    time_path = log_path + ".time"
    print("+ " + shlex.join(command), file=sys.stderr, flush=True)
    with open(log_path, "w") as log:
        status = subprocess.run(["/usr/bin/time", "-v", "-o", time_path] + command,
                                stdout=log, stderr=subprocess.STDOUT).returncode
    text = open(time_path).read()

    def field(name):
        match = re.search(re.escape(name) + r":\s*(\S+)", text)
        return match.group(1) if match else None

    wall = 0.0
    for part in (field("Elapsed (wall clock) time (h:mm:ss or m:ss)") or "0").split(":"):
        wall = wall * 60 + float(part)
    return status, {"wall_s": wall, "cpu_s": float(field("User time (seconds)") or 0) +
                    float(field("System time (seconds)") or 0),
                    "peak_rss_gb": int(field("Maximum resident set size (kbytes)") or 0) / 1e6}


def tail(path, lines=15):
    with open(path, errors="replace") as f:
        return "".join(f.readlines()[-lines:])


def png_texts(path):
    """{keyword: text} of a PNG's tEXt, zTXt and iTXt chunks."""
    texts = {}
    with open(path, "rb") as f:
        data = f.read()
    position = 8
    while position + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[position:position + 8])
        body = data[position + 8:position + 8 + length]
        position += 12 + length
        if kind not in (b"tEXt", b"zTXt", b"iTXt"):
            continue
        key, _, rest = body.partition(b"\0")
        if kind == b"tEXt":
            text = rest.decode("latin-1")
        elif kind == b"zTXt":
            text = zlib.decompress(rest[1:]).decode("latin-1")
        else:
            compressed, rest = rest[0], rest[2:]
            _, _, rest = rest.partition(b"\0")  # language tag
            _, _, rest = rest.partition(b"\0")  # translated keyword
            text = (zlib.decompress(rest) if compressed else rest).decode("utf-8")
        texts[key.decode("latin-1")] = text
    return texts


def check_stipple_loras(args, image):
    """stipple used every LoRA: its PNG's parameters carry `Lora hashes` naming each (A1111's
    infotext field for the LoRAs a run used)."""
    parameters = png_texts(image).get("parameters", "")
    found = re.search(r'Lora hashes: "([^"]*)"', parameters)
    missing = [name for _, name, _ in lora_specs(args) if not found or f"{name}:" not in found.group(1)]
    if missing:
        fail(f"stipple did not apply the LoRA {', '.join(missing)}: no `Lora hashes` naming it in {image}'s "
             "parameters (does this stipple read <lora:NAME:WEIGHT>? --peer-only runs sd.cpp alone)")
    return found.group(1) if found else None


def run_stipple(args, out_dir, index):
    log = os.path.join(out_dir, f"stipple-{index}.log")
    command = [args.stipple, "generate", "--model", args.model, "-p", prompt(args)]
    if negative(args):
        command += ["-n", negative(args)]
    image = os.path.join(out_dir, f"stipple-{index}.png")
    command += ["--seed", str(args.seed), "--steps", str(args.steps), "--cfg-scale", str(args.cfg_scale),
                "--sampler", args.sampler, "-W", str(args.width), "-H", str(args.height),
                "--threads", str(args.threads), "--timings", "-o", image]
    if args.weight_type:
        command += ["--weight-type", args.weight_type]
    if args.timestep_spacing != "default":
        command += ["--timestep-spacing", args.timestep_spacing]
    if args.prediction:
        command += ["--prediction", args.prediction]
    if lora_dir(args):
        command += ["--lora-dir", lora_dir(args)]
    taesd = taesd_paths(args)[0]
    if taesd:
        command += ["--taesd", taesd, "--decoder", "taesd"]
    status, result = timed(command, log)
    if status != 0:
        fail(f"stipple generate failed (exit {status}); its log, {log}, ends:\n{tail(log)}")
    line = next((l for l in open(log) if l.startswith("timings:")), "")
    stages = dict(re.findall(r"(\w+)(?: \(\d+ steps\))? ([\d.]+) s", line.split(";")[0]))
    if "sampling" not in stages or "decode" not in stages:
        fail(f"no timings line in {log} (does this stipple have --timings?)")
    checks = {"lora_hashes": check_stipple_loras(args, image)} if args.lora else {}
    lora = sum(float(v) for k, v in stages.items() if "lora" in k.lower()) if any(
        "lora" in k.lower() for k in stages) else None
    result.update(load_s=float(stages.get("load", 0)), prompt_s=float(stages.get("prompt", 0)), lora_s=lora,
                  step_s=float(stages["sampling"]) / args.steps, decode_s=float(stages["decode"]),
                  stages={k: float(v) for k, v in stages.items()}, checks=checks)
    return result


def run_peer(args, out_dir, index):
    log = os.path.join(out_dir, f"sdcpp-{index}.log")
    child_json = os.path.join(out_dir, f"sdcpp-{index}.json")
    command = [args.peer_python, os.path.abspath(__file__), "--peer-child", child_json, "--model", args.model,
               "--width", str(args.width), "--height", str(args.height), "--steps", str(args.steps),
               "--cfg-scale", str(args.cfg_scale), "--threads", str(args.threads), "--seed", str(args.seed),
               "--sampler", args.sampler, "--timestep-spacing", args.timestep_spacing,
               "--out-dir", out_dir, "--run-index", str(index)]
    for option in ("weight_type", "prediction", "taesd"):
        if getattr(args, option):
            command += ["--" + option.replace("_", "-"), getattr(args, option)]
    for spec in args.lora or []:
        command += ["--lora", spec]
    if args.no_negative:
        command += ["--no-negative"]
    status, result = timed(command, log)
    if status != 0 or not os.path.exists(child_json):
        fail(f"stable-diffusion.cpp failed (exit {status}); its log, {log}, ends:\n{tail(log)}")
    child = json.load(open(child_json))
    text = open(log, errors="replace").read()

    def logged(name):
        found = re.findall(re.escape(name) + r" completed, taking ([\d.]+)s", text)
        return float(found[-1]) if found else None

    sampling, decode, prompt = logged("sampling"), logged("decode_first_stage"), logged("get_learned_condition")
    if sampling is None or decode is None:
        fail(f"no 'sampling/decode_first_stage completed' lines in {log} (another sd.cpp version?)")
    checks = {}
    if args.lora:
        applied = re.findall(r"(Only )?\((\d+) / (\d+)\) LoRA tensors have been applied", text)
        if "Can not find lora" in text or len(applied) != len(args.lora) or any(only for only, _, _ in applied):
            fail(f"stable-diffusion.cpp did not apply every LoRA tensor ({applied or 'no LoRA applied'}); see {log}")
        checks["lora_tensors_applied"] = [f"{a} / {n}" for _, a, n in applied]
    if args.taesd and "using TAE for encoding / decoding" not in text:
        fail(f"stable-diffusion.cpp did not decode with TAESD (no 'using TAE' in {log})")
    if args.prediction:
        checks["prediction"] = re.findall(r"running in ([\w-]+) mode", text)
    result.update(load_s=child["load_s"], prompt_s=prompt, lora_s=logged("apply_loras"),
                  step_s=sampling / args.steps, decode_s=decode, generate_s=child["generate_s"],
                  version=child["version"], checks=checks)
    return result


def peer_child(args):
    """Inside the peer's virtual environment: load the model, make one image, write the timings."""
    import importlib.metadata
    from stable_diffusion_cpp import StableDiffusion
    options = {}
    if lora_dir(args):
        options["lora_model_dir"] = lora_dir(args)
    if args.taesd:
        options["taesd_path"] = taesd_paths(args)[1]
    if args.prediction:
        options["prediction"] = {"epsilon": "eps", "v": "v"}[args.prediction]
    start = time.monotonic()
    sd = StableDiffusion(model_path=args.model, wtype=args.weight_type or "default", n_threads=args.threads,
                         rng_type="cpu", sampler_rng_type="cpu", verbose=True, **options)
    loaded = time.monotonic()
    images = sd.generate_image(prompt=prompt(args), negative_prompt=negative(args), width=args.width,
                               height=args.height, sample_steps=args.steps, cfg_scale=args.cfg_scale,
                               sample_method=args.sampler, scheduler=peer_scheduler(args), seed=args.seed)
    done = time.monotonic()
    images[0].save(os.path.join(args.out_dir, f"sdcpp-{args.run_index}.png"))
    with open(args.peer_child, "w") as f:
        json.dump({"load_s": loaded - start, "generate_s": done - loaded,
                   "version": importlib.metadata.version("stable-diffusion-cpp-python")}, f)


def fmt(value, unit):
    if value is None:
        return "—"
    return f"{value:.2f} {unit}" if unit == "GB" else f"{value:.1f} {unit}" if value >= 10 else f"{value:.2f} {unit}"


def table(title, ours, theirs, table_rows):
    lines = [f"| {title} | stipple | stable-diffusion.cpp | stipple / sd.cpp |", "|---|---|---|---|"]
    ratios = {}
    for key, label, unit in table_rows:
        a, b = ours.get(key), theirs.get(key)
        if a is not None and b:
            ratios[key] = a / b
        ratio = f"{ratios[key]:.2f}" if key in ratios else "—"
        lines.append(f"| {label} | {fmt(a, unit)} | {fmt(b, unit)} | {ratio} |")
    return "\n".join(lines), ratios


def median(results):
    return {key: statistics.median(r[key] for r in results)
            if results and all(r.get(key) is not None for r in results) else None for key, _, _ in ROWS}


# Where each family's CLIP ViT-L names start in a single file: SD1 and SDXL's first encoder.
TEXT_PREFIXES = ("cond_stage_model.transformer.", "conditioner.embedders.0.transformer.")


def read_header(path):
    """The JSON header of a .safetensors file and the offset its data starts at."""
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(size)), 8 + size


def safetensors_names(path):
    """The tensor names of a .safetensors file (none for anything else)."""
    if not path.endswith(".safetensors") or not os.path.isfile(path):
        return []
    return list(read_header(path)[0].keys())


def is_sdxl(names):
    """True for an SDXL single file: a second text encoder beside a UNet (as sd.cpp tells it)."""
    return (any(n.startswith("conditioner.embedders.1.") for n in names)
            and any(n.startswith("model.diffusion_model.input_blocks.") for n in names))


def unprefixed_text(names):
    """The CLIP prefix of a single file whose CLIP ViT-L names lack transformers 4's `text_model.`
    (written from a transformers 5 model), or None: stable-diffusion.cpp cannot load such names."""
    for prefix in TEXT_PREFIXES:
        if any(n.startswith(prefix) for n in names) and not any(n.startswith(prefix + "text_model.") for n in names):
            return prefix
    return None


def write_prefixed_copy(source, target):
    """Copies `source` with `text_model.` put back into its CLIP ViT-L names; the tensors' bytes are
    untouched."""
    header, start = read_header(source)
    prefix = unprefixed_text(list(header.keys()))
    if prefix is None:
        fail(f"{source} has no CLIP names lacking `text_model.`: nothing to do")
    header = {(prefix + "text_model." + k[len(prefix):] if k.startswith(prefix) else k): v for k, v in header.items()}
    data = json.dumps(header, separators=(",", ":")).encode()
    data += b" " * (-len(data) % 8)
    with open(source, "rb") as f, open(target, "wb") as out:
        f.seek(start)
        out.write(struct.pack("<Q", len(data)) + data)
        shutil.copyfileobj(f, out, 1 << 24)


def check_setup(args):
    if not os.path.exists("/usr/bin/time"):
        fail("/usr/bin/time is missing (Debian: apt-get install time); it measures each program's peak RSS")
    if not os.path.exists(args.model):
        fail(f"no model at {args.model} (a single-file SD .safetensors; sd.cpp reads diffusers folders "
             "only when the text encoder keeps transformers 4's `text_model.` names)")
    for path, _, _ in lora_specs(args):
        if not os.path.isfile(path) or not path.endswith(".safetensors"):
            fail(f"no LoRA file {path} (NAME.safetensors, looked up by NAME in <lora:NAME:WEIGHT>)")
    lora_dir(args)
    if args.taesd and not os.path.exists(args.taesd):
        fail(f"no TAESD at {args.taesd}")
    taesd_paths(args)
    if args.sampler == "lcm" and args.timestep_spacing != "default":
        fail("the lcm sampler has its own timesteps (sd.cpp's lcm scheduler); leave --timestep-spacing out")
    prefix = unprefixed_text(safetensors_names(args.model))
    if prefix and not args.stipple_only:
        fail(f"{args.model} names its text encoder without transformers 4's `text_model.` "
             f"({prefix}embeddings...), which stable-diffusion.cpp cannot load. Write a copy with the names "
             f"it expects (same tensors) and pass that:\n    python3 {sys.argv[0]} --model {args.model} "
             "--write-prefixed-copy COPY.safetensors")
    if not args.peer_only and not os.access(args.stipple, os.X_OK):
        fail(f"no stipple binary at {args.stipple}: run `swift build -c release` first (or pass --stipple)")
    if args.stipple_only:
        return
    probe = None
    if os.access(args.peer_python, os.X_OK):
        probe = subprocess.run([args.peer_python, "-c", "import stable_diffusion_cpp"], capture_output=True)
    if probe is None or probe.returncode != 0:
        fail(f"stable-diffusion.cpp is not installed for {args.peer_python}. Install it (builds from "
             f"source, 15-25 minutes on two cores) from the repository root with:\n    {PEER_INSTALL}\n"
             "or pass --peer-python PATH to a Python that has it.")


def describe(args, version):
    """The settings line above the tables."""
    weights = f", weight type {args.weight_type}" if args.weight_type else ", weights as stored"
    sampler = {"euler": "Euler", "euler_a": "Euler a", "lcm": "LCM"}[args.sampler]
    extras = [f"{args.timestep_spacing} spacing (sd.cpp: {peer_scheduler(args)} scheduler)"]
    if args.prediction:
        extras.append(f"{args.prediction} prediction")
    extras += [f"LoRA {name} at {weight:g}" for _, name, weight in lora_specs(args)]
    if args.taesd:
        extras.append("TAESD final decode")
    extras.append("negative prompt" if negative(args) else "no negative prompt")
    peer = f"stable-diffusion-cpp-python {version}" if version else "stable-diffusion.cpp not run"
    return (f"{os.path.basename(args.model)} at {args.width}x{args.height}, {args.steps} {sampler} steps, CFG "
            f"{args.cfg_scale:g}, {args.threads} threads, seed {args.seed}{weights}; {', '.join(extras)}; {peer}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="single-file SD checkpoint (.safetensors)")
    parser.add_argument("--width", type=int, help="default: 1024 for an SDXL file, else 512")
    parser.add_argument("--height", type=int, help="default: 1024 for an SDXL file, else 512")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--cfg-scale", type=float, default=7.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--weight-type", choices=["f32", "f16", "bf16"],
                        help="stipple --weight-type and sd.cpp wtype (default: each keeps its own default)")
    parser.add_argument("--sampler", choices=SAMPLERS, default="euler",
                        help="stipple --sampler and sd.cpp sample_method (default: euler)")
    parser.add_argument("--timestep-spacing", choices=["default", "trailing"], default="default",
                        help="stipple --timestep-spacing; sd.cpp has no trailing: sgm_uniform, the nearest")
    parser.add_argument("--prediction", choices=["epsilon", "v"],
                        help="stipple --prediction and sd.cpp prediction (default: each decides)")
    parser.add_argument("--lora", action="append", metavar="PATH[:WEIGHT]",
                        help="a LoRA file; <lora:NAME:WEIGHT> is appended to the prompt (repeatable)")
    parser.add_argument("--taesd", metavar="PATH",
                        help="decode with TAESD: a folder with both layouts (taesd_decoder.safetensors and "
                             "diffusion_pytorch_model.safetensors) or a file in it")
    parser.add_argument("--no-negative", action="store_true", help="no negative prompt (always so at CFG 1)")
    only = parser.add_mutually_exclusive_group()
    only.add_argument("--peer-only", action="store_true", help="run stable-diffusion.cpp only")
    only.add_argument("--stipple-only", action="store_true", help="run stipple only")
    parser.add_argument("--stipple", default=os.path.join(ROOT, ".build/release/stipple"))
    parser.add_argument("--peer-python", default=os.path.join(ROOT, ".venv-peer/bin/python"),
                        help="a Python with stable-diffusion-cpp-python installed")
    parser.add_argument("--out-dir", help="folder for the images and logs (default: a new temporary one)")
    parser.add_argument("--json", help="also write every run's figures, the medians and the ratios to this file")
    parser.add_argument("--write-prefixed-copy", metavar="COPY",
                        help="write a copy of --model with `text_model.` in its CLIP names, then exit")
    parser.add_argument("--peer-child", help=argparse.SUPPRESS)
    parser.add_argument("--run-index", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.model = os.path.abspath(args.model)
    if args.peer_child:
        return peer_child(args)
    if args.width is None or args.height is None:
        size = 1024 if is_sdxl(safetensors_names(args.model)) else 512
        args.width, args.height = args.width or size, args.height or size
    if args.write_prefixed_copy:
        return write_prefixed_copy(args.model, args.write_prefixed_copy)
    if args.runs < 1 or args.steps < 1:
        fail("--runs and --steps must be at least 1")
    check_setup(args)
    out_dir = args.out_dir or tempfile.mkdtemp(prefix="bench_sdcpp-")
    os.makedirs(out_dir, exist_ok=True)
    print(f"images and logs: {out_dir}", file=sys.stderr)

    sides = [("stipple", run_stipple, []), ("sd.cpp", run_peer, [])]
    sides = [side for side in sides if not (args.peer_only and side[0] == "stipple"
                                            or args.stipple_only and side[0] == "sd.cpp")]
    loads = []
    for index in range(1, args.runs + 1):
        for name, runner, results in sides:
            loads.append(f"{name} {index}: {os.getloadavg()[0]:.2f}")
            results.append(runner(args, out_dir, index))
    results = {name: found for name, _, found in sides}
    ours, theirs = results.get("stipple", []), results.get("sd.cpp", [])

    print(describe(args, theirs[0]["version"] if theirs else None))
    print(f"(1-minute load average before each: {'; '.join(loads)})\n")
    table_rows = rows(args)
    runs = []
    for index in range(args.runs):
        a = ours[index] if ours else {}
        b = theirs[index] if theirs else {}
        text, ratios = table(f"run {index + 1} of {args.runs}", a, b, table_rows)
        print(text + "\n")
        runs.append({"stipple": a or None, "sdcpp": b or None, "ratio": ratios})
    summary = None
    if args.runs > 1:
        text, ratios = table(f"median of {args.runs} runs", median(ours), median(theirs), table_rows)
        print(text + "\n")
        summary = {"stipple": median(ours) if ours else None, "sdcpp": median(theirs) if theirs else None,
                   "ratio": ratios}
    if args.json:
        settings = {k: getattr(args, k) for k in ("model", "width", "height", "steps", "cfg_scale", "threads",
                                                  "seed", "runs", "weight_type", "sampler", "timestep_spacing",
                                                  "prediction", "lora", "taesd", "no_negative", "peer_only",
                                                  "stipple_only")}
        settings.update(prompt=prompt(args), negative_prompt=negative(args), peer_scheduler=peer_scheduler(args),
                        stipple_taesd=taesd_paths(args)[0], peer_taesd=taesd_paths(args)[1])
        with open(args.json, "w") as f:
            json.dump({"settings": settings, "description": describe(args, theirs[0]["version"] if theirs else None),
                       "runs": runs, "median": summary, "load_average": loads, "out_dir": out_dir},
                      f, indent=1, sort_keys=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes Tests/DiffusionTests/Fixtures/prompts/schedules.json: the prompt schedules and AND lists
AUTOMATIC1111's own parser makes, for the Swift parser (PromptSchedule) to equal.

    .venv-ref/bin/pip install lark==1.1.2
    .venv-ref/bin/python tools/make_prompt_schedule_fixtures.py /tmp/a1111 Tests/DiffusionTests/Fixtures/prompts/schedules.json

/tmp/a1111/modules/prompt_parser.py is A1111's file (AUTOMATIC1111/stable-diffusion-webui,
commit 0674fabd0d82c69c02ff362762815c4536687b95, modules/prompt_parser.py), read with the
`read_file` tool and kept out of this repository; get_learned_conditioning_prompt_schedules and
get_multicond_prompt_list run as they are (the torch half of the file is not used). lark 1.1.2 is
the version A1111 pins (requirements_versions.txt).

lark 1.1.2's Earley parser resolves ambiguous parses by the order of a Python set of nodes hashed
from the token strings, so for some prompts (a construct next to unbalanced brackets: `[a:b:2]]`)
the schedule depends on PYTHONHASHSEED, i.e. on the A1111 process. Each case is therefore run in
SEEDS fresh processes with PYTHONHASHSEED 0..SEEDS-1; "schedules" lists every distinct outcome
(one for nearly every prompt: those must be equalled; several: ours must be one of them). A case
where A1111 raises (an empty alternative `[a|]`, an exponent past float range) has "error": the
exception's type name instead.

With `pipeline` instead it writes Tests/DiffusionTests/Fixtures/prompts/schedule_pipeline.safetensors
and schedule-*.png: what diffusers makes of those schedules on the tiny sd1 pipeline of
Fixtures/pipelines (tools/make_pipeline_fixtures.py), for the Swift pipeline to equal:

    .venv-ref/bin/python tools/make_prompt_schedule_fixtures.py pipeline Tests/DiffusionTests/Fixtures/prompts

Prompt editing and alternation: StableDiffusionPipeline with callback_on_step_end swapping
prompt_embeds ([negative, positive], each diffusers' encode_prompt of the text the A1111 schedule
gives) for the next step, A1111's convention: denoiser call i (0-based) takes the first entry ending
at or after i. AND: a hand loop of the same UNet and scheduler, the batch [negative, part 1, ...,
part k] and A1111's combination uncond + sum (part - uncond) x (weight x cfg). The schedules here
are PIPELINE_SCHEDULES, written out from A1111's parser's output (checked against schedules.json
below when it is there). Final latents per case (key = case name) and the PNG.

With `styles A1111_DIR OUT_DIR` it writes styles.csv (A1111's own StyleDatabase.save_styles, from
modules/styles.py at commit 04b4508a66de58c9f3a422fdcad4dd2ec3ad39ce, copied to
A1111_DIR/modules/styles.py as above: utf-8-sig, csv.DictWriter), styles-old.csv (written here by
hand: the old name,text columns, spaces after commas, a blank line, a short row, a quote inside an
unquoted field, CRLF and a repeated name) and styles.json: the styles A1111's StyleDatabase reads
from each file and what apply_styles_to_prompt / apply_negative_styles_to_prompt make of prompts.

    .venv-ref/bin/python tools/make_prompt_schedule_fixtures.py styles /tmp/a1111 Tests/DiffusionTests/Fixtures/prompts

Prompts: A1111's doctests (steps 10, as there), examples from its Features page (prompt editing:
`a [fantasy:cyberpunk:16] landscape`, the 100-step landscape and the general portrait grid, as in the
copy of the page in AUTOMATIC1111/stable-diffusion-webui `Features.md` @02678c1d; alternating words
and composable diffusion after the wiki's later text, which was not fetched), a
corpus of edge cases written here (steps 1, 4 and 20 each) and RANDOM_COUNT prompts drawn from
random.Random(17) over pieces of the grammar (steps 4). Deterministic output (sorted keys).
"""
import json
import os
import random
import subprocess
import sys

SEEDS = 8
RANDOM_COUNT = 400

DOCTESTS = [
    "test", "a [b:3]", "a [b: 3]", "a [[[b]]:2]", "[(a:2):3]", "a [b : c : 1] d", "a[b:[c:d:2]:1]e",
    "a [unbalanced", "a [b:.5] c", "a [{b|d{:.5] c", "((a][:b:c [d:3]", "[a|(b:1.1)]",
]
WIKI = [
    ("a [fantasy:cyberpunk:16] landscape", 20),
    ("fantasy landscape with a [mountain:lake:0.25] and [an oak:a christmas tree:0.75][ in foreground::0.6][ in background:0.25] [shoddy:masterful:0.5]", 100),
    ("[cow|horse] in a field", 20),
    ("[cow|cow|horse|man|siberian tiger|ox|man] in a field", 20),
    ("a [fantasy:cyberpunk:0.5] landscape", 20),
    ("a red crown", 20),
    ("a [blue:green:5] jeweled crown", 20),
] + [
    # The page's own grid prompt, at its column values.
    ("Official portrait of a smiling world war ii general, [male:female:%s], cheerful, happy, detailed face, "
     "20th century, highly detailed, cinematic lighting, digital art painting by greg rutkowski" % when, 20)
    for when in ("0.99", "0.75", "0.5", "0.25")
]
EDGES = [
    "[a:b:0]", "[a:b:1]", "[a:b:1.0]", "[a:b:-1]", "[a:b:999]", "[a:b:0.5]", "[a:b:0.29]", "[a:b:0.99]",
    "[a:b:.5]", "[a:b:1e3]", "[a:b:1e-1]", "[a:b:1.]", "[a:b:+2]", "[a:b: -.5]", "[a:b:2.5]", "[a:b:1E1]",
    "[a:b:1e999]", "[a:b:1e]", "[a:b:2 ]", "[a:b: 2]", "[ a : b : 2 ]", "[a:2]", "[a::2]", "[:b:3]", "[::3]",
    "[:2]", "[a:b]", "[a:b:c]", "[a:b:2:3]", "[a b: 2]", "[a|]", "[|b]", "[|]", "[a|b]", "[a|b|c]",
    "[a (b)|c]", "[(b) a|c]", "[ a|c]", "[a|[b|c]]", "[a:[b|c]:2]", "[[a|b]:3]", "[a|b:2]", "a | b", "a|",
    "[a\\|b]", "\\[a:b:2]", "[a\\:b:2]", "[a:b\\]:2]", "\\(a\\) [b:2]", "a\\", "[a:b:2] \\", "\\\\ [a:2]",
    "[a:b:3", "[a", "a]", "[", "]", "[]", "()", "(:)", "[[a:b:2]", "[a:b:2]]", "[[a:2]:3]", "[a:[b:2]:3]",
    "[a:[b:2]]", "[a:[b:[c:2]]:3]", "[a:(b):2]", "[a:(b:2)]", "(a:[b:c:2])", "([a:b:2]:1.3)", "(a [b:2] c)",
    "[(a:1.2):b:2]", "[a:b:2][c:d:3]", "[a:b:2]x[c|d]", "[a|b] [c|d|e]", "(a:b:2)", "a) [b:2]",
    "a [b:c:2] BREAK d", "[a BREAK b:c:2]", "[a:b BREAK c:3]", "a AND b", "[a AND b:c:2]", "a:1.5",
    "(masterpiece:1.2), [cat:dog:10], (best quality)", "[a:b:2]\n[c|d]", "[\u00e9t\u00e9:hiver:0.5]",
    "[a:b:\u0663]", "[a\tb:c:2]",
]
MULTICOND = [
    "a cat AND a dog", "a cat AND a dog:0.5", "a cat :1.2 AND a dog AND a penguin :2.2", "a cat AND",
    "AND a cat", "a cat ANDa dog", "a catAND a dog", "a cat and a dog", "a cat AND a cat", "a:1 AND b:-0.5",
    "a: 2.", "a :.5", "a:+3", "a:1e3", "a:1.5.2", "[a:b:3] AND [c|d]:0.7", "[a AND b:c:2]", "a\nb:2 AND c",
    "a:2\n", "  spaced out  :  3  ", "", "AND", "a AND AND b", "(a:1.2) AND (b:0.8):0.9", "x:\u0663",
    "a_AND b", "\u00e9AND b", "a AND\u00e9",
]
PIECES = ["a", "b", " ", "[", "[", "]", "]", "(", ")", ":", ":", "|", "2", ".5", "-1", "\\[", "\\:", "1e1",
          "c d", " 3", "(x:1.2)", "[p:q:2]", "[m|n]", "0", "1.0"]

PROBE = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from modules import prompt_parser
cases = json.load(sys.stdin)
out = []
for prompt, steps in cases["schedules"]:
    try:
        out.append(prompt_parser.get_learned_conditioning_prompt_schedules([prompt], steps)[0])
    except Exception as e:
        out.append("error: " + type(e).__name__)
multi = []
for prompt in cases["multicond"]:
    indexes, flat, _ = prompt_parser.get_multicond_prompt_list([prompt])
    multi.append([[flat[i], w] for i, w in indexes[0]])
json.dump({"schedules": out, "multicond": multi}, sys.stdout)
"""


def random_prompts():
    rng = random.Random(17)
    return ["".join(rng.choice(PIECES) for _ in range(rng.randint(2, 12))) for _ in range(RANDOM_COUNT)]


# name, prompt parts [(text, weight)], negative, sampler, steps, cfg, seed, size. The schedules of
# each text (A1111's, at these steps) are in PIPELINE_SCHEDULES.
PIPELINE_CASES = [
    ("edit-euler", [("a red [house:boat:3] by the sea", 1.0)], "blurry, dark", "euler", 8, 7.5, 11, 32),
    ("alternate-pndm", [("a [red|blue] house by the sea", 1.0)], "blurry, dark", None, 6, 7.5, 12, 32),
    ("negative-edit-euler", [("a red house by the sea", 1.0)], "[blurry:dark:0.5]", "euler", 6, 7.5, 13, 32),
    ("and-euler", [("a red house", 1.0), (" a boat at sea", 0.6)], "blurry, dark", "euler", 8, 5.0, 14, 32),
    ("and-edit-euler", [("a [red:blue:2] house", 1.0), (" the sea", -0.5)], "[blurry::3]", "euler", 6, 7.5, 15, 32),
]
PIPELINE_SCHEDULES = {
    ("a red [house:boat:3] by the sea", 8): [[3, "a red house by the sea"], [8, "a red boat by the sea"]],
    ("a [red|blue] house by the sea", 6): [[i, f"a {'red' if i % 2 else 'blue'} house by the sea"] for i in range(1, 7)],
    ("a red house by the sea", 6): [[6, "a red house by the sea"]],
    ("[blurry:dark:0.5]", 6): [[3, "blurry"], [6, "dark"]],
    ("a red house", 8): [[8, "a red house"]],
    (" a boat at sea", 8): [[8, " a boat at sea"]],
    ("blurry, dark", 6): [[6, "blurry, dark"]],
    ("blurry, dark", 8): [[8, "blurry, dark"]],
    ("a [red:blue:2] house", 6): [[2, "a red house"], [6, "a blue house"]],
    (" the sea", 6): [[6, " the sea"]],
    ("[blurry::3]", 6): [[3, "blurry"], [6, ""]],
}


def text_at(schedule, step):
    """A1111's reconstruct_cond_batch: the first entry ending at or after step, else the first."""
    return next((text for end, text in schedule if step <= end), schedule[0][1])


def write_pipeline(out_dir):
    import numpy as np
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionPipeline
    from safetensors.torch import save_file

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_pipeline_fixtures as pipelines

    pipelines.quiet_and_seeded()
    pipe = pipelines.load_pipeline(pipelines.OUT, "sd1")
    encoded = {}

    def encode(text):
        if text not in encoded:
            with torch.inference_mode():
                encoded[text] = pipe.encode_prompt(text, "cpu", 1, False)[0]
        return encoded[text]

    latents = {}
    for name, parts, negative, sampler, steps, cfg, seed, size in PIPELINE_CASES:
        scheduler = EulerDiscreteScheduler.from_config(pipe.scheduler.config) if sampler == "euler" else pipe.scheduler
        runner = StableDiffusionPipeline(**dict(pipe.components, scheduler=scheduler), requires_safety_checker=False)
        runner.set_progress_bar_config(disable=True)
        schedules = [(PIPELINE_SCHEDULES[(text, steps)], weight) for text, weight in parts]
        negative_schedule = PIPELINE_SCHEDULES[(negative, steps)]
        generator = torch.Generator("cpu").manual_seed(seed)
        if len(parts) == 1 and parts[0][1] == 1.0:
            schedule = schedules[0][0]
            kept = []

            def swap(_pipe, i, _t, kwargs, schedule=schedule, kept=kept):
                kept.append(kwargs["latents"].detach().clone())
                return {"prompt_embeds": torch.cat([encode(text_at(negative_schedule, i + 1)), encode(text_at(schedule, i + 1))])}

            with torch.inference_mode():
                images = runner(prompt_embeds=encode(text_at(schedule, 0)),
                                negative_prompt_embeds=encode(text_at(negative_schedule, 0)),
                                num_inference_steps=steps, guidance_scale=cfg, width=size, height=size,
                                generator=generator, output_type="np", callback_on_step_end=swap,
                                callback_on_step_end_tensor_inputs=["latents", "prompt_embeds"]).images
            final = kept[-1]
            pixels = (images[0] * 255).round().astype(np.uint8)
        else:
            final, pixels = and_loop(runner, schedules, negative_schedule, encode, steps, cfg, generator, size)
        pipelines.save_png(pixels, os.path.join(out_dir, f"schedule-{name}.png"))
        latents[name] = final.contiguous()
    path = os.path.join(out_dir, "schedule_pipeline.safetensors")
    save_file(latents, path)
    print(f"{len(latents)} pipeline cases in {path}")


def and_loop(pipe, schedules, negative_schedule, encode, steps, cfg, generator, size):
    """Composable diffusion by hand: one UNet call on [uncond, part 1, ...] per step."""
    import torch
    scheduler, unet, vae = pipe.scheduler, pipe.unet, pipe.vae
    scheduler.set_timesteps(steps)
    shape = (1, unet.config.in_channels, size // pipe.vae_scale_factor, size // pipe.vae_scale_factor)
    latents = torch.randn(shape, generator=generator) * scheduler.init_noise_sigma
    count = len(schedules) + 1
    with torch.inference_mode():
        for i, t in enumerate(scheduler.timesteps):
            model_input = scheduler.scale_model_input(latents, t)
            context = torch.cat([encode(text_at(negative_schedule, i))] + [encode(text_at(s, i)) for s, _ in schedules])
            out = unet(torch.cat([model_input] * count), t, encoder_hidden_states=context).sample
            uncond = out[0:1]
            guided = uncond.clone()
            for index, (_, weight) in enumerate(schedules):
                guided += (out[index + 1:index + 2] - uncond) * (weight * cfg)
            latents = scheduler.step(guided, t, latents, generator=generator).prev_sample
        image = vae.decode(latents / vae.config.scaling_factor).sample
    pixels = ((image[0] / 2 + 0.5).clamp(0, 1).permute(1, 2, 0).float().numpy() * 255).round().astype("uint8")
    return latents, pixels


STYLES = [
    ("cinematic", "cinematic still of {prompt}, film grain", "cartoon, {prompt}, drawing"),
    ("sharp", "  sharp focus, 8k ", ""),
    ("quoted, \"name\"", "a \"quoted\" style,\nwith a line break", "ugly"),
    ("twice", "{prompt} and again {prompt}", ""),
    ("empty", "", "   "),
    ("unicode \u00e9t\u00e9", "\u00e9t\u00e9, [summer:winter:0.5]", "AND nothing"),
]
OLD_STYLES_CSV = ('\ufeffname, text\r\n"old one", "old text, {prompt}"\r\n\r\nshort\r\n'
                  'quote in"side, it"s text\r\nold one, replaced {prompt}\r\n')
APPLIED = [
    ("styles.csv", ["cinematic"], "a cat", "blurry"),
    ("styles.csv", ["sharp"], " a cat ", ""),
    ("styles.csv", ["sharp"], "", "blurry"),
    ("styles.csv", ["cinematic", "sharp", "twice"], "a cat", "blurry"),
    ("styles.csv", ["twice", "cinematic"], "", ""),
    ("styles.csv", ["empty"], "a cat", " blurry "),
    ("styles.csv", ["quoted, \"name\"", "unicode \u00e9t\u00e9"], "a dog", ""),
    ("styles-old.csv", ["old one"], "a cat", "blurry"),
    ("styles-old.csv", ["quote in\"side", "old one"], "a cat", "blurry"),
]


def write_styles(a1111, out_dir):
    sys.path.insert(0, a1111)
    from modules import styles as a1111_styles

    path = os.path.join(out_dir, "styles.csv")
    if os.path.exists(path):
        os.remove(path)  # save_styles opens without truncating
    database = a1111_styles.StyleDatabase(path)
    for name, prompt, negative in STYLES:
        database.styles[name] = a1111_styles.PromptStyle(name, prompt, negative)
    database.save_styles(path)
    if os.path.exists(path + ".bak"):
        os.remove(path + ".bak")
    with open(os.path.join(out_dir, "styles-old.csv"), "w", encoding="utf-8", newline="") as f:
        f.write(OLD_STYLES_CSV)
    files = {}
    for name in ("styles.csv", "styles-old.csv"):
        database = a1111_styles.StyleDatabase(os.path.join(out_dir, name))
        # A field a short row lacks is None (A1111 then fails applying that style; stipple takes "").
        files[name] = [[s.name, s.prompt, s.negative_prompt] for s in database.styles.values()]
    applied = []
    for name, chosen, prompt, negative in APPLIED:
        database = a1111_styles.StyleDatabase(os.path.join(out_dir, name))
        applied.append({"file": name, "styles": chosen, "prompt": prompt, "negative": negative,
                        "result": [database.apply_styles_to_prompt(prompt, chosen),
                                   database.apply_negative_styles_to_prompt(negative, chosen)]})
    with open(os.path.join(out_dir, "styles.json"), "w", encoding="utf-8") as f:
        json.dump({"source": "AUTOMATIC1111/stable-diffusion-webui 04b4508a66de58c9f3a422fdcad4dd2ec3ad39ce modules/styles.py",
                   "files": files, "applied": applied}, f, indent=1, sort_keys=True, ensure_ascii=True)
        f.write("\n")
    print(f"{sum(map(len, files.values()))} styles, {len(applied)} applications -> {out_dir}")


def main():
    if sys.argv[1] == "styles":
        write_styles(sys.argv[2], sys.argv[3])
        return
    if sys.argv[1] == "pipeline":
        write_pipeline(sys.argv[2])
        return
    a1111, output = sys.argv[1], sys.argv[2]
    cases = [(p, 10, "doctest") for p in DOCTESTS] + [(p, s, "wiki") for p, s in WIKI]
    cases += [(p, s, "edge") for p in EDGES for s in (1, 4, 20)]
    cases += [(p, 4, "random") for p in random_prompts()]
    query = json.dumps({"schedules": [[p, s] for p, s, _ in cases], "multicond": MULTICOND})
    runs = []
    for seed in range(SEEDS):
        env = dict(os.environ, PYTHONHASHSEED=str(seed))
        done = subprocess.run([sys.executable, "-c", PROBE, a1111], input=query, capture_output=True, text=True,
                              env=env, check=True)
        runs.append(json.loads(done.stdout))
    schedule_cases = []
    for index, (prompt, steps, kind) in enumerate(cases):
        outcomes = []
        for run in runs:
            if run["schedules"][index] not in outcomes:
                outcomes.append(run["schedules"][index])
        case = {"prompt": prompt, "steps": steps, "kind": kind}
        errors = [o for o in outcomes if isinstance(o, str)]
        if errors:
            assert len(outcomes) == 1, (prompt, outcomes)
            case["error"] = errors[0][len("error: "):]
        else:
            case["schedules"] = sorted(outcomes, key=json.dumps)
        schedule_cases.append(case)
    assert all(run["multicond"] == runs[0]["multicond"] for run in runs)
    multicond = [{"prompt": p, "parts": parts} for p, parts in zip(MULTICOND, runs[0]["multicond"])]
    import lark
    document = {
        "source": "AUTOMATIC1111/stable-diffusion-webui 0674fabd0d82c69c02ff362762815c4536687b95 modules/prompt_parser.py",
        "lark": lark.__version__,
        "hash_seeds": SEEDS,
        "schedules": schedule_cases,
        "multicond": multicond,
    }
    with open(output, "w", encoding="utf-8") as f:
        json.dump(document, f, indent=1, sort_keys=True, ensure_ascii=True)
        f.write("\n")
    ambiguous = sum(1 for c in schedule_cases if len(c.get("schedules", [])) > 1)
    print(f"{len(schedule_cases)} schedules ({ambiguous} depend on the hash seed), {len(multicond)} AND lists -> {output}")


if __name__ == "__main__":
    main()

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

Prompts: A1111's doctests (steps 10, as there), examples written after the wiki's Features page
(prompt editing, alternating words, composable diffusion; the page itself was not fetched), a
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


def main():
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

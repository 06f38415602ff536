#!/usr/bin/env python3
"""Fixtures for ShapesJudgeTests: images with tools/judge_shapes.py's verdicts, so the Swift port of
the judge (Tests/StudioTests/ShapesJudge.swift) can be checked against the Python one.

    .venv-ref/bin/python tools/make_judge_fixtures.py [--model samples/shapes-64]

Writes Tests/StudioTests/Fixtures/judge/: 24 rendered ground-truth images (the first 24 evaluation
items, their own seeds) and 16 images of diffusers' pipeline on --model (evaluation items 24-39:
real model output, with its soft edges and the occasional wrong or missing shape), each a PNG, and
manifest.json with each file's caption and the Python judge's verdict.
"""
import argparse
import json
import os
import sys

from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import judge_shapes as judge  # noqa: E402
import shapes_data as data  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.path.join(REPO, "samples", "shapes-64"))
    parser.add_argument("--out", default=os.path.join(REPO, "Tests", "StudioTests", "Fixtures", "judge"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    items = data.eval_items()
    entries = []
    images = [(f"truth-{i:02d}.png", items[i], data.render(items[i]["colour"], items[i]["shape"], items[i]["position"],
                                                             items[i]["background"], items[i]["seed"])) for i in range(24)]
    pipe = judge.load_pipeline(args.model)
    generated = judge.run_pipeline(pipe, items[24:40])
    images += [(f"model-{i:02d}.png", items[i], generated[i - 24]) for i in range(24, 40)]
    for name, item, image in images:
        Image.fromarray(image).save(os.path.join(args.out, name))
        verdict = judge.judge(image)
        entries.append(dict(file=name, caption=item["caption"], verdict=verdict))
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(entries, f, indent=1)
    print(f"wrote {len(entries)} images to {args.out}")


if __name__ == "__main__":
    main()

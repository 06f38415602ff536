#!/usr/bin/env python3
"""The procedural data set of stipple's bundled default model: 64x64 RGB images of one shape on a
plain background, with plain-English captions, and the train / held-out / evaluation splits.

    .venv-ref/bin/python tools/shapes_data.py --preview /tmp/shapes.png   # a 8x8 grid of samples
    .venv-ref/bin/python tools/shapes_data.py --eval-captions              # the 100 evaluation captions

An image is described by four attributes: a shape (circle, square, triangle), its colour, its
position (top left, top right, bottom left, bottom right, center) and a background colour different
from the shape's, all from the 8 colours below: 8 x 7 x 3 x 5 = 840 combinations. Every image also
varies in ways the captions do not name, so the model cannot memorise pixels: the shape's size
(half-extent 7.5 to 12.5 px), its place (+-3 px around the named position), both colours (+-14
levels per channel), a faint background gradient (up to +-6 levels) and pixel noise (sigma 2
levels). Edges are anti-aliased (drawn at 4x and box-filtered down).

Captions name all four attributes in one of several paraphrases ("a red circle in the top left on a
blue background", "red circle, top left, blue background", "a blue background with a red circle in
the top left", ...). In every paraphrase a colour word is next to the noun it belongs to, so a
causal text encoder can bind it. A few training captions leave one attribute out (the model then
picks it). The caption is drawn afresh each time an image is used, so the attributes, not a fixed
sentence, are what the model learns.

Splits (all fixed by SPLIT_SEED):
- HELD_OUT_COMBOS: 50 of the 840 combinations never shown in training (each of their colour /
  shape / position / background pairs still appears in other training combinations), to test that
  the model composes words rather than recalls combinations.
- eval_items(): 100 evaluation captions in the canonical form: the 50 held-out combinations plus 50
  drawn from the training combinations, each with its own seed from a range training never uses.
- Training images use seeds 0 .. 2^31 - 1 drawn from the training script's generator and only
  training combinations; evaluation seeds start at EVAL_SEED_BASE = 2^31.
"""
import argparse
import random
import re

import numpy as np
from PIL import Image, ImageDraw

SIZE = 64
SUPERSAMPLE = 4

#: Colour name -> canonical RGB. Chosen far apart, so a judge can tell them by nearest colour.
COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 170, 50),
    "blue": (35, 65, 225),
    "yellow": (240, 220, 40),
    "white": (245, 245, 245),
    "black": (18, 18, 18),
    "orange": (245, 135, 20),
    "purple": (135, 45, 185),
}
SHAPES = ("circle", "square", "triangle")
#: Position name -> centre (x, y) in pixels.
POSITIONS = {
    "top left": (16, 16),
    "top right": (48, 16),
    "bottom left": (16, 48),
    "bottom right": (48, 48),
    "center": (32, 32),
}

SPLIT_SEED = 20240611
EVAL_SEED_BASE = 2 ** 31
HELD_OUT_COUNT = 50
EVAL_COUNT = 100

COLOUR_JITTER = 14
SIZE_RANGE = (7.5, 12.5)
PLACE_JITTER = 3.0
GRADIENT = 6.0
NOISE_SIGMA = 2.0


def all_combos():
    """Every (shape colour, shape, position, background colour) with different colours: 840."""
    return [(c, s, p, b) for c in COLOURS for s in SHAPES for p in POSITIONS for b in COLOURS if b != c]


def _held_out():
    """50 combinations left out of training, chosen so that every pair of their attributes (colour
    and shape, colour and background, shape and position, ...) still occurs in training."""
    rng = random.Random(SPLIT_SEED)
    combos = all_combos()
    rng.shuffle(combos)
    held, kept = [], set(combos)

    def pairs(combo):
        return {(i, j, combo[i], combo[j]) for i in range(4) for j in range(i + 1, 4)}

    for combo in combos:
        if len(held) == HELD_OUT_COUNT:
            break
        trial = kept - {combo}
        covered = set().union(*(pairs(k) for k in trial))
        if pairs(combo) <= covered:
            held.append(combo)
            kept = trial
    return tuple(sorted(held))


HELD_OUT_COMBOS = _held_out()
TRAIN_COMBOS = tuple(c for c in all_combos() if c not in set(HELD_OUT_COMBOS))


# ---------------------------------------------------------------------------------------------
# Captions

def canonical_caption(colour, shape, position, background):
    """The form of the issue's example: "a red circle in the top left on a blue background"."""
    return _articles(f"a {colour} {shape} in the {position} on a {background} background")


def _position_phrase(position, rng, bare):
    """"in the top left" / "top left" / "top-left" / "centre"... (bare: without a preposition)."""
    if position == "center":
        word = rng.choices(["center", "centre", "middle"], weights=[8, 1, 1])[0]
    else:
        word = position if rng.random() < 0.85 else position.replace(" ", "-")
    if bare:
        return word
    return rng.choices([f"in the {word}", f"at the {word}"], weights=[4, 1])[0]


TEMPLATES = (
    # (weight, template); {c} shape colour, {s} shape, {P} "in the top left", {p} "top left", {b} background
    (5, "a {c} {s} {P} on a {b} background"),
    (2, "{c} {s}, {p}, {b} background"),
    (2, "a {c} {s} on a {b} background, {p}"),
    (2, "a {b} background with a {c} {s} {P}"),
    (1, "a {c} {s} {P} on {b}"),
    (1, "{p}: {c} {s} on a {b} background"),
    (1, "a {c} {s} {P}, {b} background"),
    (1, "{c} {s} {P}, plain {b} background"),
    (1, "an image of a {c} {s} {P} on a {b} background"),
)
PARTIAL_TEMPLATES = (
    # one attribute left out
    (1, "a {c} {s} {P}"),
    (1, "a {c} {s} on a {b} background"),
    (1, "a {s} {P} on a {b} background"),
)
PARTIAL_FRACTION = 0.06


def random_caption(colour, shape, position, background, rng, allow_partial=True):
    """One of the paraphrases, drawn with `rng` (a random.Random)."""
    if allow_partial and rng.random() < PARTIAL_FRACTION:
        table = PARTIAL_TEMPLATES
    else:
        table = TEMPLATES
    template = rng.choices([t for _, t in table], weights=[w for w, _ in table])[0]
    text = template.format(c=colour, s=shape, b=background, P=_position_phrase(position, rng, False),
                           p=_position_phrase(position, rng, True))
    if text.startswith("a ") and rng.random() < 0.1:
        text = "the " + text[2:]
    return _articles(text)


def _articles(text):
    """"a orange" -> "an orange"."""
    return re.sub(r"\ba (?=orange\b)", "an ", text)


def parse_caption(text):
    """The attributes a caption asks for: dict(colour, shape, position, background); None where the
    caption does not say."""
    t = " " + text.lower().replace("-", " ").replace(",", " , ") + " "
    colours = "|".join(COLOURS)
    shapes = "|".join(SHAPES)
    out = dict(colour=None, shape=None, position=None, background=None)
    m = re.search(rf"\b({colours}) ({shapes})\b", t)
    if m:
        out["colour"], out["shape"] = m.group(1), m.group(2)
    else:
        m = re.search(rf"\b({shapes})\b", t)
        out["shape"] = m.group(1) if m else None
    m = re.search(rf"\b({colours}) background\b", t) or re.search(rf"\bon (?:a |an )?({colours})\b(?! ({shapes}))", t)
    if m:
        out["background"] = m.group(1)
    m = re.search(r"\b(top|bottom|upper|lower) (left|right)\b", t)
    if m:
        out["position"] = {"upper": "top", "lower": "bottom"}.get(m.group(1), m.group(1)) + " " + m.group(2)
    elif re.search(r"\b(center|centre|middle)\b", t):
        out["position"] = "center"
    return out


def caption_words():
    """Every word the captions use, for building the tokenizer's merges."""
    words = set()
    rng = random.Random(0)
    for _ in range(20000):
        combo = rng.choice(all_combos())
        words.update(re.findall(r"[a-z]+", random_caption(*combo, rng)))
    words.update(re.findall(r"[a-z]+", " ".join(list(COLOURS) + list(SHAPES) + list(POSITIONS))))
    return sorted(words)


# ---------------------------------------------------------------------------------------------
# Images

def render(colour, shape, position, background, seed, with_coverage=False):
    """The 64x64 RGB image (uint8 [64, 64, 3]) for these attributes and `seed`; with_coverage: also
    the shape's coverage of each pixel (float [64, 64] in [0, 1])."""
    rng = np.random.default_rng(seed)
    fg = np.clip(np.array(COLOURS[colour], float) + rng.uniform(-COLOUR_JITTER, COLOUR_JITTER, 3), 0, 255)
    bg = np.clip(np.array(COLOURS[background], float) + rng.uniform(-COLOUR_JITTER, COLOUR_JITTER, 3), 0, 255)
    half = rng.uniform(*SIZE_RANGE)
    cx, cy = np.array(POSITIONS[position], float) + rng.uniform(-PLACE_JITTER, PLACE_JITTER, 2)

    # The shape's coverage of each pixel, drawn at 4x and box-filtered down.
    big = SIZE * SUPERSAMPLE
    mask = Image.new("L", (big, big), 0)
    draw = ImageDraw.Draw(mask)
    s = SUPERSAMPLE
    if shape == "circle":
        draw.ellipse([(cx - half) * s, (cy - half) * s, (cx + half) * s, (cy + half) * s], fill=255)
    elif shape == "square":
        h = half * 0.9  # about the circle's area
        draw.rectangle([(cx - h) * s, (cy - h) * s, (cx + h) * s, (cy + h) * s], fill=255)
    else:  # upright triangle filling the lower half of its box's area
        draw.polygon([(cx * s, (cy - half) * s), ((cx + half) * s, (cy + half) * s),
                      ((cx - half) * s, (cy + half) * s)], fill=255)
    alpha = np.asarray(mask.resize((SIZE, SIZE), Image.BOX), float)[..., None] / 255

    # Background: the colour with a faint linear gradient; then the shape; then pixel noise.
    gx, gy = rng.uniform(-GRADIENT, GRADIENT, 2)
    ramp = np.linspace(-1, 1, SIZE)
    gradient = gx * ramp[None, :, None] + gy * ramp[:, None, None]
    image = (bg + gradient) * (1 - alpha) + fg * alpha
    image = image + rng.normal(0, NOISE_SIGMA, image.shape)
    image = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return (image, alpha[..., 0]) if with_coverage else image


def eval_items():
    """The 100 evaluation items: [{"caption", "colour", "shape", "position", "background", "seed",
    "held_out"}], the 50 held-out combinations then 50 training combinations, seeds from 2^31."""
    rng = random.Random(SPLIT_SEED + 1)
    chosen = list(HELD_OUT_COMBOS) + rng.sample(TRAIN_COMBOS, EVAL_COUNT - len(HELD_OUT_COMBOS))
    items = []
    for i, (c, s, p, b) in enumerate(chosen):
        items.append(dict(caption=canonical_caption(c, s, p, b), colour=c, shape=s, position=p, background=b,
                          seed=EVAL_SEED_BASE + i, held_out=i < len(HELD_OUT_COMBOS)))
    return items


def sample_training_item(rng):
    """(combo, seed) for one training image, drawn with `rng` (a random.Random)."""
    return rng.choice(TRAIN_COMBOS), rng.randrange(EVAL_SEED_BASE)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preview", help="write an 8x8 grid of random training images to this PNG")
    parser.add_argument("--eval-captions", action="store_true", help="print the 100 evaluation captions")
    args = parser.parse_args()
    if args.preview:
        rng = random.Random(1)
        grid = np.zeros((8 * SIZE, 8 * SIZE, 3), np.uint8)
        for i in range(64):
            combo, seed = sample_training_item(rng)
            print(random_caption(*combo, rng))
            grid[(i // 8) * SIZE:(i // 8 + 1) * SIZE, (i % 8) * SIZE:(i % 8 + 1) * SIZE] = render(*combo, seed)
        Image.fromarray(grid).save(args.preview)
    if args.eval_captions:
        for item in eval_items():
            print(item["seed"], "held-out" if item["held_out"] else "train   ", item["caption"])
    print(f"{len(all_combos())} combinations, {len(HELD_OUT_COMBOS)} held out, {len(TRAIN_COMBOS)} for training")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the JPEG decoding fixtures of Tests/ImagingTests/Fixtures/jpeg/.

Pillow's encoder writes each JPEG variant the decoder must handle (baseline 4:4:4, 4:2:0 and 4:2:2
colour, progressive, greyscale, CMYK) from one odd-sized picture (odd sizes catch partial MCUs at
the right and bottom edges), and Pillow's own decoder gives the pixels we expect, as raw 8-bit RGB
(`NAME.rgb`; CMYK through Pillow's convert("RGB")). Pillow decodes with libjpeg-turbo too (its
wheels bundle their own copy), with the same defaults as stipple (accurate integer IDCT, fancy
upsampling), so the pixels agree exactly; `manifest.json` lists size and tolerance (0).
Broken files are made from the good ones: cut short (in a scan, between progressive scans, just
before the end marker), garbage after the signature, and two whose frame header declares a size
the data cannot hold (one past stipple's limits, one within them). libjpeg-turbo's jpegtran
transcodes the 4:2:0 file to arithmetic coding (Pillow cannot write it), which stipple refuses.

    .venv-ref/bin/python tools/make_jpeg_fixtures.py Tests/ImagingTests/Fixtures/jpeg
    (any Python with Pillow: python3 -m venv .venv-tools && .venv-tools/bin/pip install pillow;
    jpegtran from Debian's libjpeg-turbo-progs, 2.1.5 here)
"""
import io
import json
import math
import os
import random
import re
import struct
import subprocess
import sys

from PIL import Image, features  # Pillow 13.0.0, libjpeg-turbo 3.2.0

W, H = 37, 23


def picture():
    """Smooth gradients (where chroma upsampling shows), sharp edges and some noise."""
    rnd = random.Random(18)
    image = Image.new("RGB", (W, H))
    pixels = image.load()
    for y in range(H):
        for x in range(W):
            r = int(255 * x / (W - 1))
            g = int(127 + 127 * math.sin(x / 4 + y / 3))
            b = 230 if (x // 6 + y // 5) % 2 else 25
            n = rnd.randint(-12, 12)
            pixels[x, y] = (max(0, min(255, r + n)), g, max(0, min(255, b - n)))
    return image


def encode(image, **options):
    out = io.BytesIO()
    image.save(out, "JPEG", **options)
    return out.getvalue()


def marker_offsets(data, marker):
    """Offsets of a marker (0xFFxx) among the header segments, up to the first SOS."""
    found, i = [], 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        kind = data[i + 1]
        if kind == marker:
            found.append(i)
        if kind == 0xDA:
            break
        i += 2 + struct.unpack(">H", data[i + 2:i + 4])[0]
    return found


def arithmetic(data):
    """The same JPEG transcoded to arithmetic coding by jpegtran (no markers copied)."""
    return subprocess.run(["jpegtran", "-arithmetic", "-copy", "none"], input=data, capture_output=True,
                          check=True).stdout


def with_size(data, width, height):
    """The same JPEG with its SOF (baseline: FFC0) frame header claiming another size."""
    sof = marker_offsets(data, 0xC0)[0]
    return data[:sof + 5] + struct.pack(">HH", height, width) + data[sof + 9:]


def scan_offsets(data):
    """Offsets of every SOS marker (FFDA) in the file (FF DA never occurs inside entropy data)."""
    return [i for i in range(len(data) - 1) if data[i] == 0xFF and data[i + 1] == 0xDA]


def main(folder):
    os.makedirs(folder, exist_ok=True)
    source = picture()
    good = {
        "baseline_444": encode(source, quality=90, subsampling=0),
        "baseline_420": encode(source, quality=90, subsampling=2),
        "baseline_422": encode(source, quality=75, subsampling=1),
        "progressive_420": encode(source, quality=85, subsampling=2, progressive=True),
        "grayscale": encode(source.convert("L"), quality=90),
        "cmyk": encode(source.convert("CMYK"), quality=90),
    }
    manifest = {}
    for name, data in good.items():
        open(os.path.join(folder, name + ".jpg"), "wb").write(data)
        decoded = Image.open(io.BytesIO(data))
        decoded.load()
        rgb = decoded.convert("RGB")
        open(os.path.join(folder, name + ".rgb"), "wb").write(rgb.tobytes())
        # Tolerance 0 for every file, CMYK too: Pillow's CMYK->RGB, (255-K) - MULDIV255(C, 255-K) on
        # the inverted samples, equals stipple's MULDIV255(C', K') for all 65536 pairs.
        manifest[name] = {"width": rgb.width, "height": rgb.height, "mode": decoded.mode, "tolerance": 0}

    baseline = good["baseline_444"]
    progressive = good["progressive_420"]
    scans = scan_offsets(progressive)
    assert len(scans) >= 4, scans
    rnd = random.Random(7)
    broken = {
        # Cut in the middle of the (only) scan: libjpeg alone would fill the rest with grey.
        "broken_truncated": baseline[:len(baseline) // 2],
        # Cut between two scans of a progressive file: every scan read is whole, later ones missing.
        "broken_truncated_progressive": progressive[:scans[len(scans) // 2]],
        # Only the end marker (FFD9) missing.
        "broken_no_end_marker": baseline[:-2],
        # A signature, then noise.
        "broken_garbage": bytes([0xFF, 0xD8, 0xFF]) + bytes(rnd.randrange(256) for _ in range(600)),
        # A frame header claiming 60000x60000 (past the 32768-a-side limit).
        "broken_huge_declared": with_size(baseline, 60000, 60000),
        # 8000x8000: within the limits, but far more blocks than the file has bits.
        "broken_large_declared": with_size(baseline, 8000, 8000),
        # baseline_420 transcoded losslessly to arithmetic coding: refused (libjpeg pads such data
        # with zeros, silently, when it ends early; browsers do not decode it either).
        "unsupported_arithmetic": arithmetic(good["baseline_420"]),
    }
    for name, data in broken.items():
        open(os.path.join(folder, name + ".jpg"), "wb").write(data)
        try:
            Image.open(io.BytesIO(data)).load()
            pillow = "decodes"
        except Exception as error:  # what Pillow makes of it, for the README
            pillow = re.sub(r" at 0x[0-9a-f]+", "", f"{type(error).__name__}: {error}")
        manifest[name] = {"bytes": len(data), "pillow": pillow}

    with open(os.path.join(folder, "manifest.json"), "w") as out:
        json.dump(manifest, out, indent=1, sort_keys=True)
        out.write("\n")
    print(f"Pillow {Image.__version__ if hasattr(Image, '__version__') else ''}"
          f" libjpeg-turbo {features.version_feature('libjpeg_turbo')}: {len(manifest)} fixtures in {folder}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "Tests/ImagingTests/Fixtures/jpeg")

#!/usr/bin/env python3
"""Writes the PNG decoding fixtures of Tests/ImagingTests/Fixtures/png/.

Independent encoders (pypng and Pillow, not libpng through our code) write every PNG variant the
decoder must handle, and for each one the pixels we expect as raw 8-bit RGBA (`NAME.rgba`),
listed in `manifest.json`. 16-bit samples are expected as round(v / 257), the exact 16->8 scaling.
Broken files (truncated, bad signature, zero or absurd dimensions, bad CRC) are crafted by hand.

    python3 -m venv .venv-tools && .venv-tools/bin/pip install pypng pillow
    .venv-tools/bin/python tools/make_png_fixtures.py Tests/ImagingTests/Fixtures/png
"""
import json
import os
import random
import struct
import sys
import zlib

import png  # pypng 0.20220715.0
from PIL import Image, PngImagePlugin  # Pillow 13.0.0

W, H = 13, 7  # odd sizes catch stride and interlace-pass mistakes


def rows_of(fn, channels, maxval):
    rnd = random.Random(fn)
    return [[rnd.randint(0, maxval) for _ in range(W * channels)] for _ in range(H)]


def to8(v, maxval):
    return (v * 255 + maxval // 2) // maxval if maxval != 65535 else (v + 128) // 257


def expected_rgba(rows, channels, maxval, grey, alpha):
    out = bytearray()
    for row in rows:
        for x in range(W):
            px = row[x * channels:(x + 1) * channels]
            if grey:
                g = to8(px[0], maxval)
                rgb = [g, g, g]
            else:
                rgb = [to8(v, maxval) for v in px[:3]]
            a = to8(px[-1], maxval) if alpha else 255
            out += bytes(rgb + [a])
    return bytes(out)


def main(folder):
    os.makedirs(folder, exist_ok=True)
    manifest = {}

    def save(name, rows, channels, maxval, grey, alpha, writer_args, has_alpha=None, expected=None):
        with open(os.path.join(folder, name + ".png"), "wb") as f:
            png.Writer(W, H, **writer_args).write(f, rows)
        exp = expected or expected_rgba(rows, channels, maxval, grey, alpha)
        with open(os.path.join(folder, name + ".rgba"), "wb") as f:
            f.write(exp)
        manifest[name] = {"width": W, "height": H, "hasAlpha": alpha if has_alpha is None else has_alpha}

    # Grey at every bit depth.
    for depth in (1, 2, 4, 8, 16):
        maxval = (1 << depth) - 1
        rows = rows_of("grey%d" % depth, 1, maxval)
        save("grey%d" % depth, rows, 1, maxval, True, False, dict(greyscale=True, bitdepth=depth))
    # Grey + alpha, RGB, RGBA at 8 and 16 bits.
    for depth in (8, 16):
        maxval = (1 << depth) - 1
        save("grey_alpha%d" % depth, rows_of("ga%d" % depth, 2, maxval), 2, maxval, True, True,
             dict(greyscale=True, alpha=True, bitdepth=depth))
        save("rgb%d" % depth, rows_of("rgb%d" % depth, 3, maxval), 3, maxval, False, False,
             dict(greyscale=False, bitdepth=depth))
        save("rgba%d" % depth, rows_of("rgba%d" % depth, 4, maxval), 4, maxval, False, True,
             dict(greyscale=False, alpha=True, bitdepth=depth))
    # Interlaced (Adam7) RGB 8-bit and RGBA 16-bit.
    save("rgb8_interlaced", rows_of("rgb8i", 3, 255), 3, 255, False, False,
         dict(greyscale=False, bitdepth=8, interlace=True))
    save("rgba16_interlaced", rows_of("rgba16i", 4, 65535), 4, 65535, False, True,
         dict(greyscale=False, alpha=True, bitdepth=16, interlace=True))
    # Palettes: 4-bit without transparency, 8-bit with a tRNS alpha table.
    for name, depth, with_alpha in (("palette4", 4, False), ("palette8_trns", 8, True)):
        rnd = random.Random(name)
        size = 1 << depth
        palette = [tuple(rnd.randint(0, 255) for _ in range(4 if with_alpha else 3)) for _ in range(size)]
        rows = [[rnd.randint(0, size - 1) for _ in range(W)] for _ in range(H)]
        exp = bytearray()
        for row in rows:
            for i in row:
                entry = palette[i]
                exp += bytes(list(entry[:3]) + [entry[3] if with_alpha else 255])
        save(name, rows, 1, size - 1, False, with_alpha, dict(palette=palette, bitdepth=depth), expected=bytes(exp))
    # RGB with a tRNS colour key: that one colour becomes transparent.
    rows = rows_of("rgb_trns", 3, 255)
    key = tuple(rows[2][3:6])
    exp = bytearray()
    for row in rows:
        for x in range(W):
            px = tuple(row[x * 3:x * 3 + 3])
            exp += bytes(list(px) + [0 if px == key else 255])
    save("rgb8_trns", rows, 3, 255, False, True, dict(greyscale=False, bitdepth=8, transparent=key), expected=bytes(exp))

    # Text chunks written by Pillow: tEXt (Latin-1), zTXt, and iTXt (UTF-8), as A1111 writes them.
    img = Image.new("RGB", (W, H))
    img.putdata([(x * 19 % 256, y * 37 % 256, (x + y) * 11 % 256) for y in range(H) for x in range(W)])
    info = PngImagePlugin.PngInfo()
    info.add_text("parameters", "a red circle, top left\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 42, Size: 13x7")
    info.add_text("Comment", "café crème", zip=True)
    info.add_itxt("prompt", "{\"text\": \"猫 in a hat ✨\"}", lang="", tkey="")
    img.save(os.path.join(folder, "text_chunks.png"), pnginfo=info)
    with open(os.path.join(folder, "text_chunks.rgba"), "wb") as f:
        f.write(img.convert("RGBA").tobytes())
    manifest["text_chunks"] = {"width": W, "height": H, "hasAlpha": False, "texts": {
        "parameters": info.chunks[0][1].split(b"\0", 1)[1].decode("latin-1"),
        "Comment": "café crème",
        "prompt": "{\"text\": \"猫 in a hat ✨\"}",
    }}

    # Broken files.
    good = open(os.path.join(folder, "rgb8.png"), "rb").read()
    with open(os.path.join(folder, "broken_truncated.png"), "wb") as f:
        f.write(good[: len(good) // 2])
    with open(os.path.join(folder, "broken_not_png.png"), "wb") as f:
        f.write(b"GIF89a this is not a PNG file at all\n")
    with open(os.path.join(folder, "broken_empty.png"), "wb") as f:
        pass

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    def crafted(width, height, idat):
        ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")

    with open(os.path.join(folder, "broken_zero_width.png"), "wb") as f:
        f.write(crafted(0, 7, zlib.compress(b"")))
    with open(os.path.join(folder, "broken_huge.png"), "wb") as f:
        f.write(crafted(100000, 100000, zlib.compress(b"\0" * 64)))
    bad_crc = bytearray(good)
    bad_crc[29] ^= 0xFF  # inside IHDR's CRC
    with open(os.path.join(folder, "broken_bad_crc.png"), "wb") as f:
        f.write(bytes(bad_crc))
    with open(os.path.join(folder, "broken_idat.png"), "wb") as f:
        f.write(crafted(W, H, b"\x78\x9c" + bytes(random.Random(1).randrange(256) for _ in range(40))))

    with open(os.path.join(folder, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True, ensure_ascii=False)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "Tests/ImagingTests/Fixtures/png")

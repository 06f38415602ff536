#!/usr/bin/env python3
"""Writes the image-container fixtures of Tests/ImagingTests/Fixtures/metadata/.

Small images carrying generation texts the way other tools store them outside PNG text chunks:
JPEG and WebP EXIF (A1111/Forge, ComfyUI, Fooocus, SwarmUI), a PNG `eXIf` chunk, ComfyUI's
animated-PNG `comf` chunks, and "stealth" texts hidden in the least significant bits of the
alpha or RGB channels (the stealth-pnginfo extension of A1111, and NovelAI). Each tool's writer is
followed as its source does it (repository and path in README.md beside the fixtures); where the
tool's own package writes the bytes (Pillow, piexif) it is called as the tool calls it. The
stealth writers are our own, written from the extension's and NovelAI's source. Broken files
(truncated EXIF, an IFD cycle, a stealth length past the pixels, a gzip bomb, ...) are made by
hand. `expected.json` lists, per file, the texts (key, value) the reader must find in order.

    .venv-ref/bin/pip install piexif   # 1.1.3; Pillow 13.0.0
    .venv-ref/bin/python tools/make_container_fixtures.py Tests/ImagingTests/Fixtures/metadata

Deterministic: the same Pillow/libjpeg/libwebp write the same bytes (gzip streams use mtime 0,
where the extension stamps the current time).
"""
import gzip
import io
import json
import os
import struct
import sys

import piexif
import piexif.helper
from PIL import Image, PngImagePlugin

A1111 = ("a photo of a café at night, ✨ neon, (masterpiece:1.2)\n"
         "Negative prompt: blurry, lowres\n"
         "Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1234567890, "
         "Size: 16x16, Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.10.1")


def picture(width=16, height=16, mode="RGB"):
    """A deterministic gradient (lossy codecs are fine: only the metadata is checked)."""
    img = Image.new("RGB", (width, height))
    img.putdata([((x * 255) // max(1, width - 1), (y * 255) // max(1, height - 1), (x ^ y) & 0xFF)
                 for y in range(height) for x in range(width)])
    return img.convert(mode) if mode != "RGB" else img


# ---- A1111 / Forge: modules/images.py save_image_with_geninfo ----------------------------------

def a1111_exif(image_path, geninfo):
    """As save_image_with_geninfo does for .jpg/.jpeg/.webp: save, then insert the EXIF."""
    exif_bytes = piexif.dump({
        "Exif": {piexif.ExifIFD.UserComment: piexif.helper.UserComment.dump(geninfo or "", encoding="unicode")},
    })
    piexif.insert(exif_bytes, image_path)


# ---- ComfyUI: comfy_api/latest/_ui.py ImageSaveHelper ------------------------------------------

COMFY_PROMPT = {
    "3": {"class_type": "KSampler", "inputs": {"seed": 42, "steps": 20, "cfg": 8, "sampler_name": "euler",
                                                "scheduler": "normal", "denoise": 1, "model": ["4", 0],
                                                "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "v1-5-pruned-emaonly.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 16, "height": 16, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox in snow", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "watermark", "clip": ["4", 1]}},
}
COMFY_WORKFLOW = {"last_node_id": 7, "nodes": [{"id": 3, "type": "KSampler"}], "links": [], "version": 0.4}


def comfy_webp_exif(img):
    """_create_webp_metadata: prompt in Model (0x0110), extra_pnginfo keys from Make (0x010F) down."""
    exif = img.getexif()
    exif[0x0110] = "prompt:{}".format(json.dumps(COMFY_PROMPT))
    tag = 0x010F
    for key, value in {"workflow": COMFY_WORKFLOW}.items():
        exif[tag] = "{}:{}".format(key, json.dumps(value))
        tag -= 1
    return exif


# ---- Fooocus: modules/private_logger.py log() + modules/meta_parser.py get_exif() -------------

FOOOCUS_JSON = json.dumps({
    "Prompt": "a lighthouse on a cliff", "Negative Prompt": "", "Fooocus V2 Expansion": "",
    "Styles": "['Fooocus V2', 'Fooocus Enhance']", "Performance": "Speed", "Steps": 30,
    "Resolution": "(16, 16)", "Guidance Scale": 4, "Sharpness": 2,
    "ADM Guidance": "(1.5, 0.8, 0.3)", "Base Model": "juggernautXL_v8Rundiffusion.safetensors",
    "Refiner Model": "None", "Refiner Switch": 0.5, "Sampler": "dpmpp_2m_sde_gpu",
    "Scheduler": "karras", "VAE": "Default (model)", "Seed": "1234", "LoRA 1": "sd_xl_offset_example-lora_1.0.safetensors : 0.1",
    "Metadata Scheme": "fooocus", "Version": "Fooocus v2.5.5",
})
FOOOCUS_A1111 = ("a lighthouse on a cliff\nNegative prompt: \nSteps: 30, Sampler: DPM++ 2M SDE Karras, "
                 "Seed: 1234, Size: 16x16, CFG scale: 4, Model: juggernautXL_v8Rundiffusion, Version: Fooocus v2.5.5")


def fooocus_exif(metadata, scheme):
    """get_exif: UserComment, Software and MakerNote set on a plain Image.Exif (so in IFD0)."""
    exif = Image.Exif()
    exif[0x9286] = metadata
    exif[0x0131] = "Fooocus v2.5.5"
    exif[0x927C] = scheme
    return exif


# ---- SwarmUI: src/Utils/Image.cs ConvertTo (ImageSharp) ---------------------------------------
# prof.SetValue(ExifTag.UserComment, metadata): ImageSharp's EncodedString defaults to
# CharacterCode.Unicode, which ExifEncodedStringHelpers encodes as Encoding.Unicode (UTF-16
# little-endian), in a little-endian ("II") TIFF, UserComment in the Exif sub-IFD. No Python
# package writes it that way, so the TIFF is built here.

SWARM_JSON = json.dumps({"sui_image_params": {
    "prompt": "a tiny robot, studio light", "negativeprompt": "", "model": "OfficialStableDiffusion/sd_xl_base_1.0",
    "seed": 77, "steps": 25, "cfgscale": 6.5, "width": 16, "height": 16, "sampler": "euler",
    "scheduler": "normal", "swarm_version": "0.9.6.2"}, "sui_models": []}, indent=2)


def tiff_le(ifd0_entries, exif_entries):
    """A little-endian TIFF: IFD0 (with an ExifIFD pointer when exif_entries) and the Exif IFD.
    Entries are (tag, type, count, payload bytes)."""
    def ifd(entries, offset, next_offset=0):
        entries = sorted(entries)
        head = struct.pack("<H", len(entries))
        data_at = offset + 2 + 12 * len(entries) + 4
        body, extra = b"", b""
        for tag, typ, count, payload in entries:
            if len(payload) <= 4:
                body += struct.pack("<HHI", tag, typ, count) + payload.ljust(4, b"\0")
            else:
                body += struct.pack("<HHII", tag, typ, count, data_at + len(extra))
                extra += payload + (b"\0" if len(payload) % 2 else b"")
        return head + body + struct.pack("<I", next_offset) + extra
    ifd0_size = 2 + 12 * (len(ifd0_entries) + (1 if exif_entries else 0)) + 4 + sum(
        len(p) + len(p) % 2 for _, _, _, p in ifd0_entries if len(p) > 4)
    exif_at = 8 + ifd0_size
    entries0 = list(ifd0_entries) + ([(0x8769, 4, 1, struct.pack("<I", exif_at))] if exif_entries else [])
    out = b"II*\0" + struct.pack("<I", 8) + ifd(entries0, 8)
    assert len(out) == exif_at
    if exif_entries:
        out += ifd(exif_entries, exif_at)
    return out


# ---- stealth pnginfo: ashen-sensored/sd_webui_stealth_pnginfo scripts/stealth_pnginfo.py -------

def stealth_bits(text_bytes, mode, compressed, length_bits=None):
    """prepare_data: signature, 32-bit length in bits (big-endian), then the payload, MSB first."""
    signature = "stealth_{}{}".format("png" if mode == "alpha" else "rgb", "comp" if compressed else "info")
    payload = gzip.compress(text_bytes, mtime=0) if compressed else text_bytes
    bits = "".join(format(b, "08b") for b in signature.encode())
    bits += format(len(payload) * 8 if length_bits is None else length_bits, "032b")
    return bits + "".join(format(b, "08b") for b in payload)


def stealth_embed(img, bits, mode):
    """add_data: columns left to right, each top to bottom; alpha mode sets alpha to 255 first,
    rgb mode spreads the bits over R, G and B."""
    if mode == "alpha":
        img.putalpha(255)
    width, height = img.size
    need = len(bits) if mode == "alpha" else (len(bits) + 2) // 3
    assert need <= width * height, "image too small for the stealth text"
    pixels = img.load()
    index = 0
    for x in range(width):
        for y in range(height):
            if index >= len(bits):
                return img
            values = list(pixels[x, y])
            channels = [3] if mode == "alpha" else [0, 1, 2]
            for c in channels:
                if index < len(bits):
                    values[c] = (values[c] & ~1) | int(bits[index])
                    index += 1
            pixels[x, y] = tuple(values)
    return img


# ---- NovelAI: NovelAI/novelai-image-metadata nai_meta_writer.py ---------------------------------

NOVELAI_TEXTS = {
    "Title": "AI generated image",
    "Description": "1girl, solo, looking at viewer, cherry blossoms",
    "Software": "NovelAI",
    "Source": "Stable Diffusion XL C1E1DE52",
    "Generation time": "3.1",
    "Comment": json.dumps({"prompt": "1girl, solo, looking at viewer, cherry blossoms", "steps": 28,
                           "height": 32, "width": 32, "scale": 5.0, "uncond_scale": 1.0, "cfg_rescale": 0.0,
                           "seed": 3141592653, "n_samples": 1, "noise_schedule": "native",
                           "sampler": "k_euler_ancestral", "uc": "lowres, bad anatomy"}),
}


def novelai_stealth(img, texts):
    """inject_data + serialize_metadata: the texts as a JSON object (Title dropped), gzip'd, after
    "stealth_pngcomp" and the length in bits; alpha is 0xFF everywhere and 0xFE|bit over the
    payload, columns first (the alpha plane transposed)."""
    data = {k: v for k, v in texts.items() if k != "Title"}
    payload = gzip.compress(json.dumps(data).encode(), mtime=0)
    buffer = b"stealth_pngcomp" + struct.pack(">I", len(payload) * 8) + payload
    bits = "".join(format(b, "08b") for b in buffer)
    img = img.convert("RGBA")
    width, height = img.size
    assert len(bits) <= width * height
    pixels = img.load()
    for i in range(width * height):
        x, y = divmod(i, height)
        r, g, b, _ = pixels[x, y]
        pixels[x, y] = (r, g, b, (0xFE | int(bits[i])) if i < len(bits) else 0xFF)
    return img, json.dumps(data)


# ---- hand-made containers (broken ones) ---------------------------------------------------------

def jpeg_with_app1(tiff, width=8, height=8, extra_segments=b""):
    """A baseline JPEG from Pillow with our own APP1 Exif segment (and more) after SOI."""
    buffer = io.BytesIO()
    picture(width, height).save(buffer, "JPEG", quality=90)
    data = buffer.getvalue()
    app1 = b"Exif\0\0" + tiff
    segment = b"\xFF\xE1" + struct.pack(">H", len(app1) + 2) + app1
    return data[:2] + segment + extra_segments + data[2:]


def entry(tag, typ, count, value_or_offset, order="<"):
    return struct.pack(order + "HHII", tag, typ, count, value_or_offset)


def main(folder):
    os.makedirs(folder, exist_ok=True)
    expected = {}

    def path(name):
        return os.path.join(folder, name)

    # A1111 JPEG and WebP (quality 80 is A1111's default jpeg_quality; webp_lossless off).
    picture().save(path("a1111.jpg"), format="JPEG", quality=80)
    a1111_exif(path("a1111.jpg"), A1111)
    expected["a1111.jpg"] = {"size": [16, 16], "container": "jpeg", "texts": [["parameters", A1111]],
                             "where": ["EXIF UserComment (UTF-16BE)"]}
    picture().save(path("a1111.webp"), format="WEBP", quality=80, lossless=False)
    a1111_exif(path("a1111.webp"), A1111)
    expected["a1111.webp"] = {"size": [16, 16], "container": "webp", "texts": [["parameters", A1111]],
                              "where": ["EXIF UserComment (UTF-16BE)"]}

    # ComfyUI's SaveAnimatedWEBP (one frame, lossless default, method "default" = 4).
    img = picture()
    img.save(path("comfyui.webp"), save_all=True, duration=int(1000.0 / 6.0), append_images=[],
             exif=comfy_webp_exif(img), lossless=True, quality=80, method=4)
    expected["comfyui.webp"] = {"size": [16, 16], "container": "webp", "texts": [
        ["prompt", json.dumps(COMFY_PROMPT)], ["workflow", json.dumps(COMFY_WORKFLOW)]],
        "where": ["EXIF Model (ComfyUI)", "EXIF Make (ComfyUI)"]}

    # ComfyUI's SaveAnimatedPNG: `comf` chunks after the image data.
    info = PngImagePlugin.PngInfo()
    info.add(b"comf", b"prompt\0" + json.dumps(COMFY_PROMPT).encode("latin-1"), after_idat=True)
    info.add(b"comf", b"workflow\0" + json.dumps(COMFY_WORKFLOW).encode("latin-1"), after_idat=True)
    picture().save(path("comfyui_animated.png"), pnginfo=info, compress_level=4, save_all=True,
                   duration=int(1000.0 / 6.0), append_images=[picture().transpose(Image.Transpose.FLIP_LEFT_RIGHT)])
    expected["comfyui_animated.png"] = {"size": [16, 16], "container": "png", "texts": [
        ["prompt", json.dumps(COMFY_PROMPT)], ["workflow", json.dumps(COMFY_WORKFLOW)]],
        "where": ["PNG comf chunk (ComfyUI)", "PNG comf chunk (ComfyUI)"]}

    # Fooocus JPEG (its own JSON scheme) and WebP (its A1111 scheme).
    picture().save(path("fooocus.jpg"), quality=95, optimize=True, progressive=True,
                   exif=fooocus_exif(FOOOCUS_JSON, "fooocus"))
    expected["fooocus.jpg"] = {"size": [16, 16], "container": "jpeg", "texts": [
        ["parameters", FOOOCUS_JSON], ["fooocus_scheme", "fooocus"]],
        "where": ["EXIF UserComment", "EXIF MakerNote (Fooocus)"]}
    picture().save(path("fooocus_a1111.webp"), quality=95, lossless=False,
                   exif=fooocus_exif(FOOOCUS_A1111, "a1111"))
    expected["fooocus_a1111.webp"] = {"size": [16, 16], "container": "webp", "texts": [
        ["parameters", FOOOCUS_A1111], ["fooocus_scheme", "a1111"]],
        "where": ["EXIF UserComment", "EXIF MakerNote (Fooocus)"]}

    # SwarmUI JPEG: UNICODE UserComment in UTF-16LE (ImageSharp).
    comment = b"UNICODE\0" + SWARM_JSON.encode("utf-16-le")
    tiff = tiff_le([], [(0x9286, 7, len(comment), comment)])
    picture().save(path("swarmui.jpg"), format="JPEG", quality=100, exif=b"Exif\0\0" + tiff)
    expected["swarmui.jpg"] = {"size": [16, 16], "container": "jpeg", "texts": [["parameters", SWARM_JSON]],
                               "where": ["EXIF UserComment (UTF-16LE)"]}

    # A PNG with an eXIf chunk (Pillow writes one for exif=) carrying an ASCII UserComment, and
    # a JPEG with only a COM comment (what A1111 reads when there is no EXIF).
    ascii_tiff = tiff_le([], [(0x9286, 7, 8 + len(A1111.encode()), b"ASCII\0\0\0" + A1111.encode())])
    picture().save(path("png_exif.png"), exif=b"Exif\0\0" + ascii_tiff)
    expected["png_exif.png"] = {"size": [16, 16], "container": "png", "texts": [["parameters", A1111]],
                                "where": ["PNG eXIf UserComment (ASCII)"]}
    picture().save(path("comment.jpg"), format="JPEG", quality=80, comment=A1111.encode())
    expected["comment.jpg"] = {"size": [16, 16], "container": "jpeg", "texts": [["parameters", A1111]],
                               "where": ["JPEG COM"]}

    # Stealth pnginfo, all four signatures, each on the smallest square (of a multiple of 8) it fits.
    for mode, compressed, name in [("alpha", False, "stealth_alpha.png"), ("alpha", True, "stealth_alpha_comp.png"),
                                   ("rgb", False, "stealth_rgb.png"), ("rgb", True, "stealth_rgb_comp.png")]:
        text = A1111 if compressed else A1111.split("\n")[0] + "\nSteps: 20, Sampler: Euler a, Seed: 7"
        bits = stealth_bits(text.encode(), mode, compressed)
        pixels = len(bits) if mode == "alpha" else (len(bits) + 2) // 3
        side = 8
        while side * side < pixels:
            side += 8
        img = stealth_embed(picture(side, side, "RGBA" if mode == "alpha" else "RGB"), bits, mode)
        img.save(path(name))
        kind = "alpha" if mode == "alpha" else "RGB"
        expected[name] = {"size": [side, side], "container": "png", "texts": [["parameters", text]],
                          "where": ["stealth {}{}".format(kind, " (compressed)" if compressed else "")]}

    # NovelAI: texts stripped (as image hosts do), the alpha channel kept.
    img, _ = novelai_stealth(picture(64, 64), NOVELAI_TEXTS)
    img.save(path("novelai_stealth.png"))
    keys = [k for k in NOVELAI_TEXTS if k != "Title"]
    expected["novelai_stealth.png"] = {"size": [64, 64], "container": "png",
                                       "texts": [[k, NOVELAI_TEXTS[k]] for k in keys],
                                       "where": ["stealth alpha (compressed, NovelAI)"] * len(keys)}

    # ---- broken ----
    # EXIF whose UserComment points past the end of the TIFF; the JPEG itself is fine.
    tiff = b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", 1) + entry(0x8769, 4, 1, 26) + struct.pack("<I", 0)
    tiff += struct.pack("<H", 1) + entry(0x9286, 7, 4000, 44) + struct.pack("<I", 0) + b"UNICODE\0\0a"
    open(path("broken_truncated_exif.jpg"), "wb").write(jpeg_with_app1(tiff))
    # IFD0's next-IFD offset points at itself and the Exif pointer at IFD0 (a cycle), big-endian.
    tiff = b"MM\0*" + struct.pack(">I", 8) + struct.pack(">H", 1) + entry(0x8769, 4, 1, 8, ">") + struct.pack(">I", 8)
    open(path("broken_ifd_cycle.jpg"), "wb").write(jpeg_with_app1(tiff))
    # An IFD claiming 65535 entries in a 30-byte TIFF; a UserComment of odd UTF-16 length.
    tiff = b"II*\0" + struct.pack("<I", 8) + struct.pack("<H", 0xFFFF) + entry(0x9286, 7, 4, 0)
    open(path("broken_huge_count.jpg"), "wb").write(jpeg_with_app1(tiff))
    comment = b"UNICODE\0" + "odd".encode("utf-16-be") + b"!"
    tiff = tiff_le([], [(0x9286, 7, len(comment), comment)])
    open(path("broken_odd_utf16.jpg"), "wb").write(jpeg_with_app1(tiff))
    # A JPEG cut inside its APP1 segment (no frame header follows).
    data = jpeg_with_app1(tiff_le([], [(0x9286, 7, 8 + 40, b"ASCII\0\0\0" + b"x" * 40)]))
    open(path("broken_cut_in_app1.jpg"), "wb").write(data[:30])
    # A WebP whose EXIF chunk claims more bytes than the file has.
    data = open(path("a1111.webp"), "rb").read()
    at = data.find(b"EXIF")
    open(path("broken_webp_chunk.webp"), "wb").write(data[:at + 4] + struct.pack("<I", 0x7FFFFFF0) + data[at + 8:])
    # Stealth: a length in bits far beyond what the pixels can carry; a gzip bomb (2 MiB of zeros).
    bits = stealth_bits(b"x" * 8, "alpha", False, length_bits=0x7FFFFFF8)
    stealth_embed(picture(16, 16, "RGBA"), bits, "alpha").save(path("broken_stealth_length.png"))
    bomb = b"\0" * (2 << 20)
    payload_bits = len(gzip.compress(bomb, mtime=0)) * 8 + 152
    side = int(payload_bits ** 0.5) + 1
    stealth_embed(picture(side, side, "RGBA"), stealth_bits(bomb, "alpha", True), "alpha").save(path("broken_stealth_bomb.png"))
    # Not an image we read (a GIF header).
    open(path("broken_not_image.gif"), "wb").write(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")

    with open(path("expected.json"), "w") as f:
        json.dump(expected, f, indent=1, ensure_ascii=False, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "Tests/ImagingTests/Fixtures/metadata")

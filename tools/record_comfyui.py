#!/usr/bin/env python3
"""Records real exchanges with a running ComfyUI as the fixtures of Tests/RemoteTests/Fixtures/comfyui/.

Drives the server the way stipple's ComfyUI backend does (open `/ws?clientId=...`, POST `/prompt` with
an API-format graph, follow the WebSocket until `executing` with node null for our prompt id, then
GET `/history/{id}` and `/view` the images) and writes one JSON file per scenario in the
recorded-exchange format the RemoteTests replay server serves: every HTTP exchange (method, path
without the query, the query items, what was sent, status, content type, body as `body_json`,
`body_text` or `body_base64`) and every WebSocket frame in the order received (text as received,
binary as base64), with `wait_for` naming the last POST sent before the frame arrived (the frames
the server only sends because of it) and `delay_ms` the real gap to the previous frame, capped at
200 ms so that the tests stay fast. A `/ws` exchange has no `query` (the client makes its own
clientId, which a replay cannot match); the recorded one is in the informational `request_query`.
Nothing is edited after the fact: ids, timestamps, file names
and sizes are the server's.

Made against ComfyUI 0.8.0 (`/work/comfyui/ComfyUI`, commit 618b803d, CPU only) with its own venv
(Python 3, aiohttp 3.14.5, Pillow, safetensors, torch 2.15.0), and a random-weight SD1.5 checkpoint
`models/checkpoints/sd15-fp16-ldm.safetensors`. The exact commands:

    cd /work/comfyui/ComfyUI && nohup ../.venv/bin/python main.py --cpu --listen 127.0.0.1 \\
        --port 8188 > /tmp/comfyui.log 2>&1 &
    # the two LoRA files the scenarios name (a valid rank-4 kohya LoRA, and a broken file)
    /work/comfyui/.venv/bin/python tools/record_comfyui.py make-loras /work/comfyui/ComfyUI/models/loras
    /work/comfyui/.venv/bin/python tools/record_comfyui.py catalog txt2img \\
        --url http://127.0.0.1:8188 --out Tests/RemoteTests/Fixtures/comfyui
    # then the same server restarted with small previews (its default --preview-size 512 makes
    # every preview a 512x512 JPEG of about 37 KB, upscaled from the 8x8 latent; txt2img keeps
    # four of those as the real default, the rest use 64 so that the fixtures stay small)
    kill <its pid>; cd /work/comfyui/ComfyUI && nohup ../.venv/bin/python main.py --cpu \\
        --listen 127.0.0.1 --port 8188 --preview-size 64 > /tmp/comfyui.log 2>&1 &
    /work/comfyui/.venv/bin/python tools/record_comfyui.py txt2img_no_preview \\
        txt2img_ancestral_batch img2img lora interrupt errors execution_error probes \\
        --url http://127.0.0.1:8188 --out Tests/RemoteTests/Fixtures/comfyui

Scenarios run in the order given on a freshly started server (the order matters a little: the
first one that samples loads the checkpoint, later ones see it cached in `execution_cached`).
"""
import argparse
import asyncio
import base64
import io
import json
import os
import sys
import time
import uuid

import aiohttp

SERVER = "ComfyUI 0.8.0"
CHECKPOINT = "sd15-fp16-ldm.safetensors"
LORA = "stipple_tiny_lora.safetensors"
BROKEN_LORA = "stipple_broken_lora.safetensors"
DELAY_CAP_MS = 200
JOB_TIMEOUT_S = 300


class Recorder:
    """One scenario: an HTTP session and WebSockets whose exchanges are appended in order."""

    def __init__(self, url, command):
        self.url = url.rstrip("/")
        self.command = command
        self.exchanges = []
        self.trigger = None  # the last POST sent; frames after it carry it as wait_for
        self.session = None
        self.sockets = []

    async def __aenter__(self):
        self.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120))
        return self

    async def __aexit__(self, *exc):
        for sock in self.sockets:
            await sock.close()
        await self.session.close()

    async def http(self, method, path, query=None, json_body=None, form=None, form_info=None,
                   record=True):
        """Sends one request and records it; returns (status, parsed JSON or raw bytes)."""
        if method == "POST":
            self.trigger = f"POST {path}"
        kwargs = {}
        if query:
            kwargs["params"] = query
        if json_body is not None:
            kwargs["json"] = json_body
        if form is not None:
            kwargs["data"] = form
        async with self.session.request(method, self.url + path, **kwargs) as resp:
            raw = await resp.read()
            status = resp.status
            content_type = resp.headers.get("Content-Type", "")
        entry = {"method": method, "path": path}
        if query:
            entry["query"] = dict(query)
        if json_body is not None:
            entry["request_json"] = json_body
        if form_info is not None:
            entry["request_json"] = form_info
        entry["status"] = status
        entry["content_type"] = content_type
        parsed = raw
        if content_type.startswith("application/json"):
            parsed = json.loads(raw)
            entry["body_json"] = parsed
        elif content_type.startswith("text/") or not raw:
            entry["body_text"] = raw.decode("utf-8")
        else:
            entry["body_base64"] = base64.b64encode(raw).decode("ascii")
        if record:
            self.exchanges.append(entry)
        return status, parsed

    async def open_ws(self, client_id, record=True):
        """Opens /ws?clientId=... and starts recording its frames; returns the Socket."""
        ws = await self.session.ws_connect(self.url + "/ws", params={"clientId": client_id},
                                           max_msg_size=0)
        sock = Socket(self, ws, client_id)
        if record:
            self.exchanges.append({"method": "GET", "path": "/ws",
                                   "request_query": {"clientId": client_id},
                                   "websocket": sock.frames})
        self.sockets.append(sock)
        return sock

    def write(self, path):
        doc = {"server": SERVER, "recorded_by": self.command, "exchanges": self.exchanges}
        with open(path, "w") as f:
            json.dump(doc, f, indent=1, ensure_ascii=False)
            f.write("\n")
        print(f"wrote {path} ({os.path.getsize(path)} bytes)", file=sys.stderr)


class Socket:
    """A recorded WebSocket: every frame goes into `frames` and into a queue for the scenario."""

    def __init__(self, rec, ws, client_id):
        self.rec = rec
        self.ws = ws
        self.client_id = client_id
        self.frames = []
        self.queue = asyncio.Queue()
        self.last = time.monotonic()
        self.task = asyncio.create_task(self._read())

    async def _read(self):
        async for msg in self.ws:
            now = time.monotonic()
            frame = {}
            if msg.type == aiohttp.WSMsgType.TEXT:
                frame["text"] = msg.data
                item = json.loads(msg.data)
            elif msg.type == aiohttp.WSMsgType.BINARY:
                frame["binary_base64"] = base64.b64encode(msg.data).decode("ascii")
                item = {"type": "<binary>", "bytes": msg.data}
            else:
                break
            if self.rec.trigger is not None:
                frame["wait_for"] = self.rec.trigger
            frame["delay_ms"] = min(DELAY_CAP_MS, int(round((now - self.last) * 1000)))
            self.last = now
            self.frames.append(frame)
            await self.queue.put(item)
        await self.queue.put(None)

    async def next(self, timeout=JOB_TIMEOUT_S):
        item = await asyncio.wait_for(self.queue.get(), timeout)
        if item is None:
            raise RuntimeError("WebSocket closed")
        return item

    async def until_done(self, prompt_ids, on_message=None, linger=0.3):
        """Reads until `executing` with node null has come for every prompt id, then lingers."""
        pending = set(prompt_ids)
        seen = []
        while pending:
            item = await self.next()
            seen.append(item)
            if on_message is not None:
                await on_message(item)
            data = item.get("data") if isinstance(item.get("data"), dict) else {}
            if item.get("type") == "executing" and data.get("node") is None:
                pending.discard(data.get("prompt_id"))
        end = time.monotonic() + linger
        while (left := end - time.monotonic()) > 0:
            try:
                item = await asyncio.wait_for(self.queue.get(), left)
            except asyncio.TimeoutError:
                break
            if item is None:
                break
            seen.append(item)
        return seen

    async def close(self):
        await self.ws.close()
        try:
            await asyncio.wait_for(self.task, 5)
        except (asyncio.TimeoutError, Exception):
            pass


def graph(seed=42, steps=4, cfg=7.0, sampler="euler", scheduler="normal", width=64, height=64,
          batch=1, positive="a red circle on a white background", negative="blurry",
          init_image=None, denoise=1.0, lora=None, prefix="stipple"):
    """The API-format graph a client builds: the comfyui_real.png shape, with optional img2img/LoRA."""
    g = {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": CHECKPOINT}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": positive, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": negative, "clip": ["4", 1]}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": width, "height": height, "batch_size": batch}},
        "3": {"class_type": "KSampler",
              "inputs": {"seed": seed, "steps": steps, "cfg": cfg, "sampler_name": sampler,
                         "scheduler": scheduler, "denoise": denoise, "model": ["4", 0],
                         "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": prefix, "images": ["8", 0]}},
    }
    if init_image is not None:
        del g["5"]
        g["10"] = {"class_type": "LoadImage", "inputs": {"image": init_image}}
        g["11"] = {"class_type": "VAEEncode", "inputs": {"pixels": ["10", 0], "vae": ["4", 2]}}
        g["3"]["inputs"]["latent_image"] = ["11", 0]
    if lora is not None:
        g["12"] = {"class_type": "LoraLoader",
                   "inputs": {"lora_name": lora, "strength_model": 0.8, "strength_clip": 0.8,
                              "model": ["4", 0], "clip": ["4", 1]}}
        g["3"]["inputs"]["model"] = ["12", 0]
        g["6"]["inputs"]["clip"] = ["12", 1]
        g["7"]["inputs"]["clip"] = ["12", 1]
    return g


def prompt_body(g, client_id, preview="latent2rgb"):
    body = {"prompt": g, "client_id": client_id}
    if preview is not None:
        body["extra_data"] = {"preview_method": preview}
    return body


async def fetch_results(rec, prompt_id):
    """GET /history/{id}, then /view for every image its outputs list."""
    _, hist = await rec.http("GET", f"/history/{prompt_id}")
    entry = hist.get(prompt_id, {})
    for node_out in entry.get("outputs", {}).values():
        for img in node_out.get("images", []):
            await rec.http("GET", "/view", query={"filename": img["filename"],
                                                  "subfolder": img["subfolder"],
                                                  "type": img["type"]})
    return entry


async def run_job(rec, g, preview="latent2rgb", on_message=None, fetch=True):
    client_id = str(uuid.uuid4())
    sock = await rec.open_ws(client_id)
    await sock.next()  # the status frame every connection starts with
    status, reply = await rec.http("POST", "/prompt", json_body=prompt_body(g, client_id, preview))
    if status != 200:
        raise RuntimeError(f"POST /prompt: {status} {reply}")
    await sock.until_done([reply["prompt_id"]], on_message)
    await sock.close()
    if fetch:
        await fetch_results(rec, reply["prompt_id"])
    return reply["prompt_id"]


# --- scenarios -------------------------------------------------------------------------------

async def s_catalog(rec):
    await rec.http("GET", "/system_stats")
    for node in ("CheckpointLoaderSimple", "KSampler", "LoraLoader", "EmptyLatentImage",
                 "LoadImage"):
        await rec.http("GET", f"/object_info/{node}")
    await rec.http("GET", "/models")
    await rec.http("GET", "/models/checkpoints")
    await rec.http("GET", "/models/loras")
    await rec.http("GET", "/features")


async def s_txt2img(rec):
    await run_job(rec, graph(seed=42))


async def s_txt2img_no_preview(rec):
    await run_job(rec, graph(seed=43), preview=None)


async def s_txt2img_ancestral_batch(rec):
    client_id = str(uuid.uuid4())
    sock = await rec.open_ws(client_id)
    await sock.next()
    ids = []
    for seed in (44, 45):
        g = graph(seed=seed, sampler="euler_ancestral", scheduler="karras", batch=1)
        status, reply = await rec.http("POST", "/prompt",
                                       json_body=prompt_body(g, client_id))
        if status != 200:
            raise RuntimeError(f"POST /prompt: {status} {reply}")
        ids.append(reply["prompt_id"])
    await sock.until_done(ids)
    await sock.close()
    for pid in ids:
        await fetch_results(rec, pid)


def init_png():
    """A 64x64 RGB PNG: a blue disc on a warm gradient (made with Pillow, deterministic)."""
    from PIL import Image, ImageDraw
    img = Image.new("RGB", (64, 64))
    img.putdata([(255 - 2 * y, 120 + x, 60) for y in range(64) for x in range(64)])
    ImageDraw.Draw(img).ellipse((16, 16, 48, 48), fill=(30, 60, 200))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


async def s_img2img(rec):
    png = init_png()
    form = aiohttp.FormData()
    form.add_field("image", png, filename="stipple_init.png", content_type="image/png")
    form.add_field("type", "input")
    form.add_field("overwrite", "false")
    info = {"multipart_form": {"image": {"filename": "stipple_init.png",
                                         "content_type": "image/png", "bytes": len(png)},
                               "type": "input", "overwrite": "false"}}
    status, reply = await rec.http("POST", "/upload/image", form=form, form_info=info)
    if status != 200:
        raise RuntimeError(f"upload: {status}")
    name = reply["name"] if not reply.get("subfolder") else f"{reply['subfolder']}/{reply['name']}"
    await run_job(rec, graph(seed=46, init_image=name, denoise=0.6))


async def s_lora(rec):
    await run_job(rec, graph(seed=47, lora=LORA))


async def s_interrupt(rec):
    client_id = str(uuid.uuid4())
    sock = await rec.open_ws(client_id)
    await sock.next()
    g = graph(seed=48, steps=20)
    status, reply = await rec.http("POST", "/prompt", json_body=prompt_body(g, client_id))
    pid = reply["prompt_id"]
    progress_seen = 0

    async def on_message(item):
        nonlocal progress_seen
        if item.get("type") == "progress":
            progress_seen += 1
            if progress_seen == 2:
                await rec.http("POST", "/interrupt", json_body={"prompt_id": pid})

    await sock.until_done([pid], on_message)
    await sock.close()
    await rec.http("GET", f"/history/{pid}")


async def s_errors(rec):
    bad_ckpt = graph(seed=49)
    bad_ckpt["4"]["inputs"]["ckpt_name"] = "no_such_model.safetensors"
    await rec.http("POST", "/prompt", json_body=prompt_body(bad_ckpt, str(uuid.uuid4())))
    bad_class = graph(seed=49)
    bad_class["8"]["class_type"] = "NoSuchNodeClass"
    await rec.http("POST", "/prompt", json_body=prompt_body(bad_class, str(uuid.uuid4())))
    tiny = graph(seed=49, width=8, height=8)
    await rec.http("POST", "/prompt", json_body=prompt_body(tiny, str(uuid.uuid4())))
    bad_sampler = graph(seed=49, sampler="no_such_sampler")
    await rec.http("POST", "/prompt", json_body=prompt_body(bad_sampler, str(uuid.uuid4())))
    await rec.http("POST", "/prompt", json_body={"client_id": str(uuid.uuid4())})
    await rec.http("GET", "/history/00000000-0000-4000-8000-000000000000")
    await rec.http("GET", "/view", query={"filename": "no_such_image.png", "subfolder": "",
                                          "type": "output"})


async def s_execution_error(rec):
    await run_job(rec, graph(seed=50, lora=BROKEN_LORA))


async def s_probes(rec):
    """Odd corners a backend meets: queue views while running, a deleted queued prompt, an
    interrupt for a prompt that is not running, a reconnect with the same clientId mid-job, a
    connection after the job ended, an exact rerun that ComfyUI answers from its cache."""
    await rec.http("GET", "/prompt")
    await rec.http("GET", "/queue")
    client_id = str(uuid.uuid4())
    sock = await rec.open_ws(client_id)
    await sock.next()
    g = graph(seed=51, steps=3)
    _, reply = await rec.http("POST", "/prompt", json_body=prompt_body(g, client_id))
    pid = reply["prompt_id"]
    _, second = await rec.http("POST", "/prompt",
                               json_body=prompt_body(graph(seed=52), client_id))
    # wait for the first progress of the running job, then look around
    while True:
        item = await sock.next()
        if item.get("type") == "progress":
            break
    await rec.http("GET", "/prompt")
    await rec.http("GET", "/queue")
    await rec.http("GET", f"/history/{pid}")
    await rec.http("POST", "/queue", json_body={"delete": [second["prompt_id"]]})
    await rec.http("GET", "/queue")
    await rec.http("POST", "/interrupt", json_body={"prompt_id": second["prompt_id"]})
    # reconnect with the same clientId while the job runs: the old socket stops getting frames
    again = await rec.open_ws(client_id)
    await again.until_done([pid])
    await asyncio.sleep(0.3)
    await rec.http("GET", f"/history/{second['prompt_id']}")
    await rec.http("GET", f"/history/{pid}")
    late = await rec.open_ws(str(uuid.uuid4()))
    await late.next()
    await asyncio.sleep(0.5)
    # the same graph again: every node cached, no progress, outputs at once
    rerun = await rec.open_ws(str(uuid.uuid4()))
    await rerun.next()
    _, reply3 = await rec.http("POST", "/prompt", json_body=prompt_body(g, rerun.client_id))
    await rerun.until_done([reply3["prompt_id"]])
    await rec.http("GET", f"/history/{reply3['prompt_id']}")


SCENARIOS = {
    "catalog": s_catalog,
    "txt2img": s_txt2img,
    "txt2img_no_preview": s_txt2img_no_preview,
    "txt2img_ancestral_batch": s_txt2img_ancestral_batch,
    "img2img": s_img2img,
    "lora": s_lora,
    "interrupt": s_interrupt,
    "errors": s_errors,
    "execution_error": s_execution_error,
    "probes": s_probes,
}


def make_loras(folder):
    """Writes a valid rank-4 kohya LoRA (one UNet and one text-encoder projection, 16 KB) and a
    file that is not safetensors at all, for LoraLoader to list and to fail on."""
    import torch
    from safetensors.torch import save_file
    gen = torch.Generator().manual_seed(0)
    tensors = {}
    for key, dim in (("lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", 320),
                     ("lora_te_text_model_encoder_layers_0_self_attn_q_proj", 768)):
        tensors[f"{key}.lora_down.weight"] = (torch.randn(4, dim, generator=gen) * 0.05).half()
        tensors[f"{key}.lora_up.weight"] = (torch.randn(dim, 4, generator=gen) * 0.05).half()
        tensors[f"{key}.alpha"] = torch.tensor(4.0).half()
    os.makedirs(folder, exist_ok=True)
    save_file(tensors, os.path.join(folder, LORA),
              metadata={"ss_network_module": "networks.lora", "ss_network_dim": "4",
                        "ss_network_alpha": "4", "ss_base_model_version": "sd_v1"})
    with open(os.path.join(folder, BROKEN_LORA), "wb") as f:
        f.write(b"this is not a safetensors file\n" * 4)
    print(f"wrote {LORA} and {BROKEN_LORA} in {folder}", file=sys.stderr)


async def record(name, url, out):
    command = f"tools/record_comfyui.py {name} --url {url}"
    async with Recorder(url, command) as rec:
        await SCENARIOS[name](rec)
    rec.write(os.path.join(out, f"{name}.json"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("scenario", nargs="+", metavar="SCENARIO",
                    help="one or more of: " + ", ".join(SCENARIOS) + "; or: make-loras FOLDER")
    ap.add_argument("--url", default="http://127.0.0.1:8188")
    ap.add_argument("--out", default="Tests/RemoteTests/Fixtures/comfyui")
    args = ap.parse_args()
    if args.scenario[0] == "make-loras":
        if len(args.scenario) != 2:
            ap.error("make-loras needs the folder")
        make_loras(args.scenario[1])
        return
    unknown = [n for n in args.scenario if n not in SCENARIOS]
    if unknown:
        ap.error(f"unknown scenario: {', '.join(unknown)}")
    os.makedirs(args.out, exist_ok=True)
    for name in args.scenario:
        asyncio.run(record(name, args.url, args.out))


if __name__ == "__main__":
    main()

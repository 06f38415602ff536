#!/usr/bin/env python3
"""Records what an AUTOMATIC1111-compatible server (`/sdapi/v1/...`) answers when driven the way
stipple's A1111 backend drives it, one scenario per fixture file in the replay format of
Tests/RemoteTests/Fixtures (see README.md there): GET the catalog, POST txt2img/img2img while a
second thread polls GET /sdapi/v1/progress every 0.2 s, POST /sdapi/v1/interrupt mid-job, and
send the requests that must fail. Every reply is kept as the server sent it (status, content
type, JSON or text or base64 body), 404s included: what a server lacks is part of its protocol.

Python standard library only (urllib, threading, zlib for the init image). The fixtures of
Tests/RemoteTests/Fixtures/a1111/sdcpp-*.json were recorded against stable-diffusion.cpp's
sd-server (master 97d2990, built from its repository outside this project, CPU backend), started
with a random-weight SD1.5 single file and a LoRA folder holding one small LoRA:

    sd-server -m sd15-fp16-ldm.safetensors --lora-model-dir loras --listen-ip 127.0.0.1 --listen-port 7860 -t 2
    python3 tools/record_a1111.py --url http://127.0.0.1:7860 --prefix sdcpp- \\
        --server "stable-diffusion.cpp sd-server master-97d2990 (CPU)" --lora tiny_style.safetensors \\
        Tests/RemoteTests/Fixtures/a1111 lora catalog txt2img txt2img-batch img2img interrupt errors

`lora` comes first on purpose: on a fresh sd-server a structured LoRA is refused until something
has listed the LoRA folder (GET /sdapi/v1/loras fills the server's cache), and the scenario
records exactly that. Images are 64x64 with 4 steps (the interrupt job 64x64 with 40 steps so it
is still running when /interrupt arrives), so the whole folder stays small.
"""
import argparse
import base64
import json
import os
import struct
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib

TIMEOUT = 600
POLL_SECONDS = 0.2
MAX_BODY = 32 << 20


class Recorder:
    """Sends requests to one server and keeps each exchange, in the order the requests started."""

    def __init__(self, base_url, user=None, password=None):
        self.base_url = base_url.rstrip("/")
        self.auth = None
        if user is not None:
            token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
            self.auth = "Basic " + token
        self.lock = threading.Lock()
        self.exchanges = []

    def call(self, method, path, query=None, json_body=None, raw_body=None, keep_request=True):
        """Sends one request and records it; returns (status, parsed JSON or None, exchange)."""
        url = self.base_url + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        data = None
        headers = {"Accept": "application/json"}
        if json_body is not None:
            data = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        elif raw_body is not None:
            data = raw_body
            headers["Content-Type"] = "application/json"
        if self.auth:
            headers["Authorization"] = self.auth
        exchange = {"method": method, "path": path}
        if query:
            exchange["query"] = dict(query)
        if json_body is not None and keep_request:
            exchange["request_json"] = json_body
        elif raw_body is not None:
            exchange["request_text"] = raw_body.decode("utf-8", "replace")
        with self.lock:
            self.exchanges.append(exchange)
        request = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as reply:
                status, content_type, body = reply.status, reply.headers.get("Content-Type", ""), reply.read(MAX_BODY)
        except urllib.error.HTTPError as error:
            status, content_type, body = error.code, error.headers.get("Content-Type", ""), error.read(MAX_BODY)
        exchange["status"] = status
        exchange["content_type"] = content_type
        parsed = None
        if "json" in content_type:
            try:
                parsed = json.loads(body)
                exchange["body_json"] = parsed
            except ValueError:
                exchange["body_text"] = body.decode("utf-8", "replace")
        elif content_type.startswith("text/") or not body:
            exchange["body_text"] = body.decode("utf-8", "replace")
        else:
            exchange["body_base64"] = base64.b64encode(body).decode()
        return status, parsed, exchange

    def poll_while(self, method, path, job):
        """Runs `job` (a callable doing one long request) while polling GET `path` every 0.2 s."""
        done = threading.Event()
        polls = []

        def poller():
            while not done.is_set():
                polls.append(self.call("GET", path)[2])
                done.wait(POLL_SECONDS)

        thread = threading.Thread(target=poller, daemon=True)
        thread.start()
        try:
            result = job()
        finally:
            done.set()
            thread.join()
        # One more poll after the job: what the server says once it is idle again.
        polls.append(self.call("GET", path)[2])
        self.collapse_polls(path, polls)
        return result

    def collapse_polls(self, path, polls):
        """Keeps a run of identical poll replies once; the last poll is served again (`repeat`)."""
        previous = None
        for exchange in polls:
            key = json.dumps({k: v for k, v in exchange.items()}, sort_keys=True)
            if key == previous:
                with self.lock:
                    self.exchanges.remove(exchange)
            previous = key
        with self.lock:
            kept = [e for e in self.exchanges if e["method"] == "GET" and e["path"] == path]
        if kept:
            kept[-1]["repeat"] = True


def png_rgb(width, height, pixel):
    """A PNG made with zlib alone: 8-bit RGB, `pixel(x, y)` -> (r, g, b)."""
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            rows.extend(pixel(x, y))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows), 9)) + chunk(b"IEND", b"")


def init_image_b64():
    """64x64: a red-to-blue gradient with a green square, so img2img has structure to keep."""
    def pixel(x, y):
        if 20 <= x < 44 and 20 <= y < 44:
            return (40, 200, 60)
        return (255 - x * 4, 32, x * 4)
    return base64.b64encode(png_rgb(64, 64, pixel)).decode()


def txt2img_body(**changes):
    body = {
        "prompt": "a red fox in the snow",
        "negative_prompt": "blurry",
        "seed": 42,
        "steps": 4,
        "cfg_scale": 7.0,
        "width": 64,
        "height": 64,
        "sampler_name": "euler",
        "batch_size": 1,
        "n_iter": 1,
        "send_images": True,
        "save_images": False,
    }
    body.update(changes)
    return body


def decode_info(exchange):
    """A1111 puts a JSON document in a string (`info`); shows what the server put there."""
    body = exchange.get("body_json")
    if isinstance(body, dict) and isinstance(body.get("info"), str):
        try:
            info = json.loads(body["info"])
        except ValueError:
            print("  info is not JSON:", body["info"][:200])
            return
        printable = {k: v for k, v in info.items() if k != "infotexts"}
        print("  info:", json.dumps(printable)[:600])
        for text in info.get("infotexts", []):
            print("  infotext:", text[:300].replace("\n", " | "))


def scenario_catalog(rec, args):
    paths = ["/sdapi/v1/sd-models", "/sdapi/v1/samplers", "/sdapi/v1/schedulers", "/sdapi/v1/loras",
             "/sdapi/v1/options", "/sdapi/v1/progress", "/sdapi/v1/upscalers", "/sdapi/v1/latent-upscale-modes",
             "/sdapi/v1/sd-vae", "/sdapi/v1/cmd-flags", "/sdapi/v1/embeddings", "/sdcpp/v1/capabilities",
             "/v1/models", "/"]
    for path in paths:
        rec.call("GET", path)


def run_generation(rec, path, body):
    holder = {}

    def job():
        holder["result"] = rec.call("POST", path, json_body=body)

    rec.poll_while("GET", "/sdapi/v1/progress", job)
    status, _, exchange = holder["result"]
    print(f"  POST {path} -> {status}")
    decode_info(exchange)
    return exchange


def current_checkpoint(rec):
    status, models, _ = rec.call("GET", "/sdapi/v1/sd-models")
    if status == 200 and isinstance(models, list) and models and isinstance(models[0], dict):
        return models[0].get("title")
    return None


def scenario_txt2img(rec, args):
    title = current_checkpoint(rec)
    override = {"sd_model_checkpoint": title} if title else {}
    run_generation(rec, "/sdapi/v1/txt2img", txt2img_body(override_settings=override, scheduler="discrete"))


def scenario_txt2img_batch(rec, args):
    run_generation(rec, "/sdapi/v1/txt2img", txt2img_body(batch_size=2))
    # n_iter is A1111's "batch count"; a server that ignores it gives one image here.
    run_generation(rec, "/sdapi/v1/txt2img", txt2img_body(n_iter=2, seed=7))


def scenario_img2img(rec, args):
    run_generation(rec, "/sdapi/v1/img2img", txt2img_body(init_images=[init_image_b64()], denoising_strength=0.6))


def scenario_lora(rec, args):
    lora = args.lora
    stem = os.path.splitext(os.path.basename(lora))[0]
    body = txt2img_body(prompt=f"a red fox in the snow <lora:{stem}:0.8>", lora=[{"path": lora, "multiplier": 0.8}])
    run_generation(rec, "/sdapi/v1/txt2img", body)
    rec.call("GET", "/sdapi/v1/loras")
    run_generation(rec, "/sdapi/v1/txt2img", body)


def scenario_interrupt(rec, args):
    holder = {}

    def job():
        holder["result"] = rec.call("POST", "/sdapi/v1/txt2img", json_body=txt2img_body(steps=40))

    def interrupter():
        time.sleep(args.interrupt_after)
        status, _, _ = rec.call("POST", "/sdapi/v1/interrupt")
        print(f"  POST /sdapi/v1/interrupt -> {status}")

    thread = threading.Thread(target=interrupter, daemon=True)
    thread.start()
    started = time.monotonic()
    rec.poll_while("GET", "/sdapi/v1/progress", job)
    thread.join()
    status, _, exchange = holder["result"]
    print(f"  POST txt2img (40 steps) -> {status} after {time.monotonic() - started:.1f} s")
    decode_info(exchange)


def scenario_errors(rec, args):
    for body in (txt2img_body(sampler_name="No Such Sampler"), txt2img_body(width=0), txt2img_body(prompt=""),
                 txt2img_body(steps="four")):
        status, reply, _ = rec.call("POST", "/sdapi/v1/txt2img", json_body=body)
        print(f"  POST txt2img {json.dumps({k: body[k] for k in ('sampler_name', 'width', 'prompt', 'steps')})} -> {status}",
              "" if status == 200 else json.dumps(reply)[:200])
    for raw in (b'{"prompt": "a fox", "steps": 4,', b""):
        status, reply, _ = rec.call("POST", "/sdapi/v1/txt2img", raw_body=raw)
        print(f"  POST txt2img raw {raw[:20]!r} -> {status} {json.dumps(reply)[:200]}")
    for method, path in (("GET", "/sdapi/v1/no-such-endpoint"), ("POST", "/sdapi/v1/skip")):
        status, _, _ = rec.call(method, path)
        print(f"  {method} {path} -> {status}")


SCENARIOS = {
    "catalog": scenario_catalog,
    "txt2img": scenario_txt2img,
    "txt2img-batch": scenario_txt2img_batch,
    "img2img": scenario_img2img,
    "lora": scenario_lora,
    "interrupt": scenario_interrupt,
    "errors": scenario_errors,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="where NAME.json files go")
    parser.add_argument("scenarios", nargs="+", choices=sorted(SCENARIOS))
    parser.add_argument("--url", default="http://127.0.0.1:7860")
    parser.add_argument("--prefix", default="", help="file name prefix, e.g. sdcpp-")
    parser.add_argument("--server", required=True, help='who answers, e.g. "stable-diffusion.cpp sd-server master-97d2990"')
    parser.add_argument("--lora", default="tiny_style.safetensors", help="LoRA path as the server lists it")
    parser.add_argument("--user", help="HTTP basic auth user (--api-auth)")
    parser.add_argument("--password-env", help="environment variable holding the password")
    parser.add_argument("--interrupt-after", type=float, default=1.5, help="seconds into the job to POST /interrupt")
    args = parser.parse_args()
    password = os.environ.get(args.password_env, "") if args.password_env else None
    os.makedirs(args.folder, exist_ok=True)
    for name in args.scenarios:
        print(f"{name}:")
        rec = Recorder(args.url, args.user, password)
        SCENARIOS[name](rec, args)
        fixture = {
            "server": args.server,
            "recorded_by": f"tools/record_a1111.py --url {args.url} {name}",
            "exchanges": rec.exchanges,
        }
        path = os.path.join(args.folder, f"{args.prefix}{name}.json")
        with open(path, "w") as out:
            json.dump(fixture, out, indent=1)
            out.write("\n")
        print(f"  wrote {path} ({os.path.getsize(path)} bytes, {len(rec.exchanges)} exchanges)")


if __name__ == "__main__":
    sys.exit(main())

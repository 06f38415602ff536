#!/usr/bin/env python3
"""Writes Tests/RemoteTests/Fixtures/a1111/a1111-*.json: exchanges with AUTOMATIC1111's web UI API
(v1.10.1, the last release) shaped from its source, for the replay server of RemoteTests. A1111
needs a GPU, torch and gradio, so it cannot run here; instead this script stands up a small
FastAPI app with the same framework versions A1111 pins (fastapi 0.94.0, pydantic 1.10, starlette
0.26.1), so that everything the framework writes (validation errors, 404/405, JSON encoding of the
response models, pydantic v1's coercions) is written by the framework itself, and A1111's own
logic (job state, progress formula, infotext, `info` JSON, error middleware, auth) is re-stated
here from reading its source. Where each piece was read: README.md beside the fixtures.

    python3 -m venv .venv-a1111api
    .venv-a1111api/bin/pip install fastapi==0.94.0 pydantic==1.10.17 httpx==0.24.1 pillow==13.0.0
    .venv-a1111api/bin/python tools/make_a1111_api_fixtures.py Tests/RemoteTests/Fixtures/a1111

Images are real PNGs made with Pillow the way A1111's encode_pil_to_base64 saves them (PNG, text
chunks from image.info, so `parameters` carries the infotext): 64x64 outputs, 16x16 live previews
(the size A1111's default "Approx NN" preview gives for a 64x64 image: twice the latent). Times
come from a simulated clock, so the output is the same on every run.
"""
import base64
import io
import json
import math
import os
import random
import sys
from typing import Any, Dict, List, Optional

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import HTTPException
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from fastapi.testclient import TestClient
from PIL import Image, PngImagePlugin
from pydantic import BaseModel, Field, create_model

SERVER = "AUTOMATIC1111 stable-diffusion-webui v1.10.1 (shaped from source)"
RECORDED_BY = "tools/make_a1111_api_fixtures.py"
VERSION = "v1.10.1"

# --- the catalog (modules/sd_samplers_kdiffusion.py, sd_samplers_timesteps.py, sd_samplers_lcm.py,
#     sd_schedulers.py, sd_models.py CheckpointInfo, extensions-builtin/Lora lora_script.py) ---

SAMPLERS = [  # (name, aliases, options) in A1111 1.10's order; samplers[0] is the fallback for unknown names
    ("DPM++ 2M", ["k_dpmpp_2m"], {"scheduler": "karras"}),
    ("DPM++ SDE", ["k_dpmpp_sde"], {"scheduler": "karras", "second_order": True, "brownian_noise": True}),
    ("DPM++ 2M SDE", ["k_dpmpp_2m_sde"], {"scheduler": "exponential", "brownian_noise": True}),
    ("DPM++ 2M SDE Heun", ["k_dpmpp_2m_sde_heun"], {"scheduler": "exponential", "brownian_noise": True, "solver_type": "heun"}),
    ("DPM++ 2S a", ["k_dpmpp_2s_a"], {"scheduler": "karras", "uses_ensd": True, "second_order": True}),
    ("DPM++ 3M SDE", ["k_dpmpp_3m_sde"], {"scheduler": "exponential", "discard_next_to_last_sigma": True, "brownian_noise": True}),
    ("Euler a", ["k_euler_a", "k_euler_ancestral"], {"uses_ensd": True}),
    ("Euler", ["k_euler"], {}),
    ("LMS", ["k_lms"], {}),
    ("Heun", ["k_heun"], {"second_order": True}),
    ("DPM2", ["k_dpm_2"], {"scheduler": "karras", "discard_next_to_last_sigma": True, "second_order": True}),
    ("DPM2 a", ["k_dpm_2_a"], {"scheduler": "karras", "discard_next_to_last_sigma": True, "uses_ensd": True, "second_order": True}),
    ("DPM fast", ["k_dpm_fast"], {"uses_ensd": True}),
    ("DPM adaptive", ["k_dpm_ad"], {"uses_ensd": True}),
    ("Restart", ["restart"], {"scheduler": "karras", "second_order": True}),
    ("DDIM", ["ddim"], {}),
    ("DDIM CFG++", ["ddim_cfgpp"], {}),
    ("PLMS", ["plms"], {}),
    ("UniPC", ["unipc"], {}),
    ("LCM", ["k_lcm"], {}),
]

SCHEDULERS = [  # (name, label, default_rho, need_inner_model, aliases)
    ("automatic", "Automatic", -1, False, None),
    ("uniform", "Uniform", -1, True, None),
    ("karras", "Karras", 7.0, False, None),
    ("exponential", "Exponential", -1, False, None),
    ("polyexponential", "Polyexponential", 1.0, False, None),
    ("sgm_uniform", "SGM Uniform", -1, True, ["SGMUniform"]),
    ("kl_optimal", "KL Optimal", -1, False, None),
    ("align_your_steps", "Align Your Steps", -1, False, None),
    ("simple", "Simple", -1, True, None),
    ("normal", "Normal", -1, True, None),
    ("ddim", "DDIM", -1, True, None),
    ("beta", "Beta", -1, True, None),
]

MODELS_DIR = "/home/user/stable-diffusion-webui/models"
CHECKPOINTS = [  # the loaded one has been hashed; A1111 reports hash/sha256 null until it has hashed a file
    {"file": "v1-5-pruned-emaonly.safetensors", "sha256": "6ce0161689b3853acaa03779ec93eafe75a02f4ced659bee03f50797806fa2fa"},
    {"file": "sd_xl_base_1.0.safetensors", "sha256": None},
]
LORAS = [
    {"name": "fox_style", "file": "fox_style.safetensors", "metadata": {"ss_network_dim": "8", "ss_network_alpha": "4", "ss_output_name": "fox_style_v2"}},
    {"name": "detail_tweaker", "file": "detail_tweaker.safetensors", "metadata": {}},
]


def checkpoint_title(entry):
    stem = os.path.splitext(entry["file"])[0]
    return f"{entry['file']} [{entry['sha256'][:10]}]" if entry["sha256"] else entry["file"], stem


def options_defaults():
    """A subset of GET /sdapi/v1/options (the real reply has every option, several hundred keys)."""
    title, _ = checkpoint_title(CHECKPOINTS[0])
    return {
        "samples_save": True, "samples_format": "png", "grid_save": True, "grid_format": "png",
        "enable_pnginfo": True, "return_grid": True, "grid_only_if_multiple": True, "n_rows": -1,
        "sd_model_checkpoint": title, "sd_checkpoint_hash": CHECKPOINTS[0]["sha256"], "sd_vae": "Automatic",
        "CLIP_stop_at_last_layers": 1, "randn_source": "GPU", "eta_noise_seed_delta": 0,
        "eta_ancestral": 1.0, "eta_ddim": 0.0, "s_churn": 0.0, "s_noise": 1.0,
        "live_previews_enable": True, "live_previews_image_format": "png", "show_progress_grid": True,
        "show_progress_every_n_steps": 10, "show_progress_type": "Approx NN", "live_preview_content": "Prompt",
        "add_model_hash_to_info": True, "add_model_name_to_info": True, "add_vae_hash_to_info": True,
        "add_vae_name_to_info": True, "add_version_to_infotext": True, "add_user_name_to_info": False,
        "lora_preferred_name": "Alias from file", "jpeg_quality": 80,
    }


# --- job state and progress (modules/shared_state.py State, modules/api/api.py progressapi) ---

class State:
    def __init__(self):
        self.skipped = False
        self.interrupted = False
        self.job = ""
        self.job_no = 0
        self.job_count = 0
        self.job_timestamp = "0"
        self.sampling_step = 0
        self.sampling_steps = 0
        self.current_image = None
        self.current_image_sampling_step = 0
        self.current_latent = None  # here: a function step -> preview image
        self.textinfo = None
        self.time_start = None
        self.now = 1796625000.0  # simulated clock

    def dict(self):
        return {"skipped": self.skipped, "interrupted": self.interrupted, "job": self.job, "job_count": self.job_count,
                "job_timestamp": self.job_timestamp, "job_no": self.job_no, "sampling_step": self.sampling_step,
                "sampling_steps": self.sampling_steps}

    def begin(self, job):
        self.sampling_step = 0
        self.job_count = -1
        self.job_no = 0
        self.job_timestamp = "20261207063000"
        self.current_latent = None
        self.current_image = None
        self.current_image_sampling_step = 0
        self.skipped = False
        self.interrupted = False
        self.textinfo = None
        self.time_start = self.now
        self.job = job

    def end(self):
        self.job = ""
        self.job_count = 0

    def nextjob(self):
        self.job_no += 1
        self.sampling_step = 0
        self.current_image_sampling_step = 0

    def set_current_image(self, every_n_steps):
        """Previews are made when /progress is asked and N steps passed since the last one."""
        if self.current_latent is not None and self.sampling_step - self.current_image_sampling_step >= every_n_steps:
            self.current_image = self.current_latent(self.sampling_step)
            self.current_image_sampling_step = self.sampling_step


# --- images (modules/api/api.py encode_pil_to_base64; processing.py puts the infotext in image.info) ---

def picture(seed, size=64, noise=0.0):
    """A deterministic 64x64 picture for a seed: a sky gradient, a sun, `noise` of grain."""
    rng = random.Random(seed)
    top = (rng.randrange(40, 120), rng.randrange(60, 160), rng.randrange(150, 255))
    sun = (rng.randrange(200, 256), rng.randrange(120, 220), rng.randrange(0, 80))
    cx, cy, r = rng.randrange(16, 48), rng.randrange(12, 36), rng.randrange(6, 12)
    grain = random.Random(seed * 7919 + int(noise * 1000))
    image = Image.new("RGB", (64, 64))
    pixels = image.load()
    for y in range(64):
        for x in range(64):
            if (x - cx) ** 2 + (y - cy) ** 2 <= r * r:
                base = sun
            else:
                t = y / 63
                base = tuple(int(top[i] * (1 - t) + 235 * t) for i in range(3))
            pixels[x, y] = tuple(max(0, min(255, int(c + noise * grain.uniform(-110, 110)))) for c in base)
    return image if size == 64 else image.resize((size, size), Image.BILINEAR)


def encode_png_b64(image):
    with io.BytesIO() as out:
        metadata = PngImagePlugin.PngInfo()
        use_metadata = False
        for key, value in image.info.items():
            if isinstance(key, str) and isinstance(value, str):
                metadata.add_text(key, value)
                use_metadata = True
        image.save(out, format="PNG", pnginfo=metadata if use_metadata else None, quality=80)
        return base64.b64encode(out.getvalue()).decode()


def image_grid(images, batch_size):
    rows = max(1, min(len(images), round(math.sqrt(len(images)))))
    cols = math.ceil(len(images) / rows)
    w, h = images[0].size
    grid = Image.new("RGB", (cols * w, rows * h), color="black")
    for i, img in enumerate(images):
        grid.paste(img, box=(i % cols * w, i // cols * h))
    return grid


# --- infotext (modules/processing.py create_infotext, modules/infotext_utils.py quote) ---

def quote(value):
    text = str(value)
    if "," not in text and "\n" not in text and ":" not in text:
        return text
    return json.dumps(text, ensure_ascii=False)


def infotext(p, seed, params_extra):
    params = {"Steps": p["steps"], "Sampler": p["sampler_name"], "Schedule type": p["scheduler"], "CFG scale": p["cfg_scale"],
              "Seed": seed, "Size": f"{p['width']}x{p['height']}", "Model hash": p["model_hash"], "Model": p["model_name"],
              "Denoising strength": params_extra.get("Denoising strength"),
              "Clip skip": None, "RNG": None if p["randn_source"] == "GPU" else p["randn_source"],
              "ENSD": p["ensd"]}
    params.update({k: v for k, v in params_extra.items()})
    params["Version"] = VERSION
    text = ", ".join(k if k == v else f"{k}: {quote(v)}" for k, v in params.items() if v is not None)
    negative = f"\nNegative prompt: {p['negative_prompt']}" if p["negative_prompt"] else ""
    return f"{p['prompt']}{negative}\n{text}".strip()


# --- the request and response models (modules/api/models.py: fields of the processing classes'
#     __init__, parent defaults winning, plus the API's own; response models as declared) ---

PROCESSING_FIELDS = [  # (name, type, default) in the order of StableDiffusionProcessingTxt2Img.__init__
    ("prompt", str, ""), ("negative_prompt", str, ""), ("styles", List[str], None), ("seed", int, -1),
    ("subseed", int, -1), ("subseed_strength", float, 0), ("seed_resize_from_h", int, -1), ("seed_resize_from_w", int, -1),
    ("sampler_name", str, None), ("scheduler", str, None), ("batch_size", int, 1), ("n_iter", int, 1), ("steps", int, 50),
    ("cfg_scale", float, 7.0), ("width", int, 512), ("height", int, 512), ("restore_faces", bool, None), ("tiling", bool, None),
    ("do_not_save_samples", bool, False), ("do_not_save_grid", bool, False), ("eta", float, None),
    ("denoising_strength", float, None), ("s_min_uncond", float, None), ("s_churn", float, None), ("s_tmax", float, None),
    ("s_tmin", float, None), ("s_noise", float, None), ("override_settings", Dict[str, Any], None),
    ("override_settings_restore_afterwards", bool, True), ("refiner_checkpoint", str, None), ("refiner_switch_at", float, None),
    ("disable_extra_networks", bool, False), ("firstpass_image", str, None), ("comments", dict, None),
]
TXT2IMG_FIELDS = [
    ("enable_hr", bool, False), ("firstphase_width", int, 0), ("firstphase_height", int, 0), ("hr_scale", float, 2.0),
    ("hr_upscaler", str, None), ("hr_second_pass_steps", int, 0), ("hr_resize_x", int, 0), ("hr_resize_y", int, 0),
    ("hr_checkpoint_name", str, None), ("hr_sampler_name", str, None), ("hr_scheduler", str, None), ("hr_prompt", str, ""),
    ("hr_negative_prompt", str, ""), ("force_task_id", str, None),
]
IMG2IMG_FIELDS = [
    ("init_images", list, None), ("resize_mode", int, 0), ("image_cfg_scale", float, None), ("mask", str, None),
    ("mask_blur_x", int, 4), ("mask_blur_y", int, 4), ("mask_blur", int, None), ("mask_round", bool, True),
    ("inpainting_fill", int, 0), ("inpaint_full_res", bool, True), ("inpaint_full_res_padding", int, 0),
    ("inpainting_mask_invert", int, 0), ("initial_noise_multiplier", float, None), ("latent_mask", str, None),
    ("force_task_id", str, None),
]
API_FIELDS = [("sampler_index", str, "Euler"), ("script_name", str, None), ("script_args", list, []), ("send_images", bool, True),
              ("save_images", bool, False), ("alwayson_scripts", dict, {}), ("infotext", str, None)]


def request_model(name, fields):
    return create_model(name, **{n: (Optional[t], Field(default=d, alias=n)) for n, t, d in fields})


Txt2ImgRequest = request_model("StableDiffusionProcessingTxt2Img", PROCESSING_FIELDS + TXT2IMG_FIELDS + API_FIELDS)
Img2ImgRequest = request_model("StableDiffusionProcessingImg2Img", PROCESSING_FIELDS[:21] + [("denoising_strength", float, 0.75)]
                               + PROCESSING_FIELDS[22:] + IMG2IMG_FIELDS + API_FIELDS + [("include_init_images", bool, False)])


class ImagesResponse(BaseModel):
    images: List[str] = Field(default=None, title="Image")
    parameters: dict
    info: str


class ProgressResponse(BaseModel):
    progress: float
    eta_relative: float
    state: dict
    current_image: str = Field(default=None)
    textinfo: str = Field(default=None)


class SamplerItem(BaseModel):
    name: str
    aliases: List[str]
    options: Dict[str, str]


class SchedulerItem(BaseModel):
    name: str
    label: str
    aliases: Optional[List[str]]
    default_rho: Optional[float]
    need_inner_model: Optional[bool]


class SDModelItem(BaseModel):
    title: str
    model_name: str
    hash: Optional[str]
    sha256: Optional[str]
    filename: str
    config: Optional[str]


def sampling_steps(steps, denoising_strength=None):
    """What state.sampling_steps shows: img2img samples int(strength * steps) + 1 steps
    (sd_samplers_common.setup_img2img_steps with the default img2img_fix_steps off)."""
    if denoising_strength is None:
        return steps
    return int(min(denoising_strength, 0.999) * steps) + 1


# --- the app ---

class WebUI:
    """One simulated A1111 process: its state, its options, and the scripted course of the next job."""

    def __init__(self, auth=None):
        self.state = State()
        self.opts = options_defaults()
        self.auth = auth
        self.job_plan = None  # set by a scenario: how far sampling gets, where an interrupt lands
        self.app = FastAPI()
        self.install_middleware()
        self.install_routes()

    def install_middleware(self):
        def handle_exception(request: Request, e: Exception):
            err = {"error": type(e).__name__, "detail": vars(e).get("detail", ""), "body": vars(e).get("body", ""), "errors": str(e)}
            return JSONResponse(status_code=vars(e).get("status_code", 500), content=jsonable_encoder(err))

        @self.app.middleware("http")
        async def exception_handling(request: Request, call_next):
            try:
                return await call_next(request)
            except Exception as e:  # what the route raised, as A1111's api_middleware answers it
                return handle_exception(request, e)

        @self.app.exception_handler(HTTPException)
        async def http_exception_handler(request: Request, e: HTTPException):
            return handle_exception(request, e)

    def route(self, path, endpoint, **kwargs):
        dependencies = [Depends(self.check_auth)] if self.auth else None
        self.app.add_api_route(path, endpoint, dependencies=dependencies, **kwargs)

    def check_auth(self, credentials: HTTPBasicCredentials = Depends(HTTPBasic())):
        user, password = self.auth
        if credentials.username == user and credentials.password == password:
            return True
        raise HTTPException(status_code=401, detail="Incorrect username or password", headers={"WWW-Authenticate": "Basic"})

    def install_routes(self):
        def txt2img(req: Txt2ImgRequest):
            return self.generate(req, img2img=False)

        def img2img(req: Img2ImgRequest):
            return self.generate(req, img2img=True)

        def progress(skip_current_image: bool = False):
            s = self.state
            if s.job_count == 0:
                return ProgressResponse(progress=0, eta_relative=0, state=s.dict(), textinfo=s.textinfo)
            value = 0.01
            if s.job_count > 0:
                value += s.job_no / s.job_count
            if s.sampling_steps > 0:
                value += 1 / s.job_count * s.sampling_step / s.sampling_steps
            since = s.now - s.time_start
            eta_relative = since / value - since
            value = min(value, 1)
            if self.opts["live_previews_enable"] and self.opts["show_progress_every_n_steps"] != -1:
                s.set_current_image(self.opts["show_progress_every_n_steps"])
            current = encode_png_b64(s.current_image) if s.current_image is not None and not skip_current_image else None
            return ProgressResponse(progress=value, eta_relative=eta_relative, state=s.dict(), current_image=current, textinfo=s.textinfo)

        def interrupt():
            self.state.interrupted = True
            return {}

        def skip():
            self.state.skipped = True

        def samplers():
            return [{"name": n, "aliases": a, "options": o} for n, a, o in SAMPLERS]

        def schedulers():
            return [{"name": n, "label": l, "aliases": a, "default_rho": r, "need_inner_model": i} for n, l, r, i, a in SCHEDULERS]

        def sd_models():
            out = []
            for entry in CHECKPOINTS:
                title, stem = checkpoint_title(entry)
                out.append({"title": title, "model_name": stem, "hash": entry["sha256"][:10] if entry["sha256"] else None,
                            "sha256": entry["sha256"], "filename": f"{MODELS_DIR}/Stable-diffusion/{entry['file']}", "config": None})
            return out

        def options():
            return self.opts

        self.route("/sdapi/v1/txt2img", txt2img, methods=["POST"], response_model=ImagesResponse)
        self.route("/sdapi/v1/img2img", img2img, methods=["POST"], response_model=ImagesResponse)
        self.route("/sdapi/v1/progress", progress, methods=["GET"], response_model=ProgressResponse)
        self.route("/sdapi/v1/interrupt", interrupt, methods=["POST"])
        self.route("/sdapi/v1/skip", skip, methods=["POST"])
        self.route("/sdapi/v1/options", options, methods=["GET"])
        self.route("/sdapi/v1/samplers", samplers, methods=["GET"], response_model=List[SamplerItem])
        self.route("/sdapi/v1/schedulers", schedulers, methods=["GET"], response_model=List[SchedulerItem])
        self.route("/sdapi/v1/sd-models", sd_models, methods=["GET"], response_model=List[SDModelItem])

        @self.app.get("/sdapi/v1/loras")  # the built-in Lora extension's route: no auth dependency, no response model
        async def loras():
            return [{"name": l["name"], "alias": l["metadata"].get("ss_output_name", l["name"]),
                     "path": f"{MODELS_DIR}/Lora/{l['file']}", "metadata": l["metadata"]} for l in LORAS]

    def resolve_sampler(self, name, scheduler):
        """sd_samplers.get_sampler_and_scheduler: a "Name Scheduler" suffix splits; unknown names become samplers[0]."""
        labels = {n: l for n, l, *_ in SCHEDULERS}
        found = next((l for n, l, *_ in SCHEDULERS if scheduler in (n, l)), "Automatic")
        name = name or SAMPLERS[0][0]
        for sched_name, label, _, _, aliases in SCHEDULERS:
            for option in [label, sched_name, *(aliases or [])]:
                if name.endswith(" " + option):
                    found, name = label, name[: -(len(option) + 1)]
                    break
        match = next((s for s in SAMPLERS if s[0] == name), SAMPLERS[0])
        if match[2].get("scheduler") == next(n for n, l, *_ in SCHEDULERS if l == found):
            found = "Automatic"
        return match[0], found, labels

    def generate(self, req, img2img):
        s, plan = self.state, self.job_plan or {}
        sampler, scheduler, labels = self.resolve_sampler(req.sampler_name or req.sampler_index, req.scheduler)
        if not req.scheduler and scheduler != "Automatic":
            req_scheduler = scheduler
        else:
            req_scheduler = req.scheduler
        if img2img:
            if req.init_images is None:
                raise HTTPException(status_code=404, detail="Init image not found")
            for encoded in req.init_images:
                try:
                    Image.open(io.BytesIO(base64.b64decode(encoded.split(",")[-1]))).load()
                except Exception as e:
                    raise HTTPException(status_code=500, detail="Invalid encoded image") from e
        if not img2img and req.enable_hr and req.hr_upscaler not in (None, "Latent", "Lanczos", "Nearest", "None"):
            raise Exception(f"could not find upscaler named {req.hr_upscaler}")
        s.begin("scripts_img2img" if img2img else "scripts_txt2img")
        for poll in plan.get("before", []):
            poll()
        # What the sampler's Automatic scheduler resolves to is written into the infotext.
        effective = req_scheduler or "Automatic"
        if effective == "Automatic":
            own = dict((n, o) for n, _, o in SAMPLERS)[sampler].get("scheduler")
            effective = labels[own] if own else "Automatic"
        seed = req.seed if req.seed not in (None, -1) else plan.get("random_seed", 3406771502)
        n_images = req.batch_size * req.n_iter
        all_seeds = [seed + i if not req.subseed_strength else seed for i in range(n_images)]
        title, stem = checkpoint_title(CHECKPOINTS[0])
        p = {"prompt": req.prompt, "negative_prompt": req.negative_prompt, "steps": req.steps, "sampler_name": sampler,
             "scheduler": effective, "cfg_scale": req.cfg_scale, "width": req.width, "height": req.height,
             "model_hash": CHECKPOINTS[0]["sha256"][:10], "model_name": stem, "randn_source": self.opts["randn_source"],
             "ensd": None}
        extra = {}
        steps = sampling_steps(req.steps, req.denoising_strength if img2img else None)
        if img2img:
            extra["Denoising strength"] = req.denoising_strength
        s.job_count = req.n_iter
        images, infotexts = [], []
        for n in range(req.n_iter):
            if s.skipped:
                s.skipped = False
            if s.interrupted:
                break
            if req.n_iter > 1:
                s.job = f"Batch {n + 1} out of {req.n_iter}"
            s.sampling_steps = steps
            s.sampling_step = 0
            seeds = all_seeds[n * req.batch_size:(n + 1) * req.batch_size]
            s.current_latent = lambda step, seed0=seeds[0]: picture(seed0, 16, noise=1 - step / steps)
            reached = steps
            for step in range(steps):
                if s.interrupted:
                    reached = step
                    break
                s.sampling_step = step
                for poll in plan.get("steps", {}).get((n, step), []):
                    poll()
            s.nextjob()
            for poll in plan.get("decoded", {}).get(n, []):
                poll()
            for i, one_seed in enumerate(seeds):
                image = picture(one_seed, noise=max(0.0, 1 - reached / steps) * 0.8)
                text = infotext(p, one_seed, extra)
                image.info["parameters"] = text
                images.append(image)
                infotexts.append(text)
        index_of_first_image = 0
        if len(images) >= 2 and self.opts["return_grid"]:
            grid = image_grid(images, req.batch_size)
            text = infotext(p, all_seeds[0], extra)
            grid.info["parameters"] = text
            images.insert(0, grid)
            infotexts.insert(0, text)
            index_of_first_image = 1
        s.end()
        # get_sigmas records a non-Automatic schedule in extra_generation_params (so "Schedule type" shows in both).
        schedule_extra = dict(extra)
        if effective != "Automatic":
            schedule_extra["Schedule type"] = effective
        info = {
            "prompt": req.prompt, "all_prompts": [req.prompt] * n_images, "negative_prompt": req.negative_prompt,
            "all_negative_prompts": [req.negative_prompt] * n_images, "seed": all_seeds[0], "all_seeds": all_seeds,
            "subseed": plan.get("random_subseed", 1843620114), "all_subseeds": [plan.get("random_subseed", 1843620114) + i for i in range(n_images)],
            "subseed_strength": req.subseed_strength, "width": req.width, "height": req.height, "sampler_name": sampler,
            "cfg_scale": req.cfg_scale, "steps": req.steps, "batch_size": req.batch_size, "restore_faces": False,
            "face_restoration_model": None, "sd_model_name": stem, "sd_model_hash": CHECKPOINTS[0]["sha256"][:10],
            "sd_vae_name": None, "sd_vae_hash": None, "seed_resize_from_w": -1, "seed_resize_from_h": -1,
            "denoising_strength": req.denoising_strength, "extra_generation_params": schedule_extra,
            "index_of_first_image": index_of_first_image, "infotexts": infotexts, "styles": req.styles or [],
            "job_timestamp": s.job_timestamp, "clip_skip": self.opts["CLIP_stop_at_last_layers"],
            "is_using_inpainting_conditioning": False, "version": VERSION,
        }
        parameters = vars(req)
        if img2img and not req.include_init_images:
            parameters = dict(parameters, init_images=None, mask=None)
        images_out = [encode_png_b64(im) for im in images] if req.send_images else []
        return ImagesResponse(images=images_out, parameters=parameters, info=json.dumps(info))


# --- scenarios ---

class Session:
    """Drives one WebUI through a TestClient and keeps the exchanges in the order requests started."""

    def __init__(self, webui, auth=None):
        self.webui = webui
        self.client = TestClient(webui.app)
        self.auth = auth
        self.exchanges = []

    def call(self, method, path, json_body=None, raw=None, auth=None, keep_request=True):
        exchange = {"method": method, "path": path}
        if json_body is not None and keep_request:
            exchange["request_json"] = json_body
        if raw is not None:
            exchange["request_text"] = raw.decode()
        self.exchanges.append(exchange)
        kwargs = {}
        if auth is not None:
            kwargs["auth"] = auth
        elif self.auth is not None:
            kwargs["auth"] = self.auth
        if raw is not None:
            reply = self.client.request(method, path, content=raw, headers={"Content-Type": "application/json"}, **kwargs)
        else:
            reply = self.client.request(method, path, json=json_body, **kwargs)
        exchange["status"] = reply.status_code
        exchange["content_type"] = reply.headers.get("content-type", "")
        try:
            exchange["body_json"] = reply.json()
        except ValueError:
            exchange["body_text"] = reply.text
        return exchange

    def poll(self, at):
        """GET /sdapi/v1/progress at simulated time `at` (seconds after the job began)."""
        def run():
            self.webui.state.now = self.webui.state.time_start + at
            self.call("GET", "/sdapi/v1/progress")
        return run


def txt2img_body(**changes):
    body = {"prompt": "a red fox in the snow", "negative_prompt": "blurry", "seed": 42, "steps": 30, "cfg_scale": 7,
            "width": 64, "height": 64, "sampler_name": "DPM++ 2M", "scheduler": "Karras", "batch_size": 1, "n_iter": 1,
            "send_images": True, "save_images": False,
            "override_settings": {"sd_model_checkpoint": checkpoint_title(CHECKPOINTS[0])[0]}}
    body.update(changes)
    return body


def scenario_catalog():
    session = Session(WebUI())
    for path in ("/sdapi/v1/sd-models", "/sdapi/v1/samplers", "/sdapi/v1/schedulers", "/sdapi/v1/loras",
                 "/sdapi/v1/options", "/sdapi/v1/progress"):
        session.call("GET", path)
    session.exchanges[-1]["repeat"] = True
    return session.exchanges


def plan_polls(session, steps, n_iter=1, per_step=0.08, setup=0.35, every=3, interrupt_at=None):
    """Polls at a 0.2 s client period land on these steps of a job (the simulated sampler does ~12 steps/s)."""
    plan = {"before": [session.poll(0.05)], "steps": {}, "decoded": {}}
    t = setup
    for n in range(n_iter):
        for step in range(steps):
            t += per_step
            if step % every == 1:
                plan["steps"].setdefault((n, step), []).append(session.poll(t))
            if interrupt_at == (n, step):
                def do_interrupt(t=t):
                    session.webui.state.now = session.webui.state.time_start + t + 0.01
                    session.call("POST", "/sdapi/v1/interrupt")
                plan["steps"][(n, step)].append(do_interrupt)
                plan["steps"][(n, step)].append(session.poll(t + 0.05))
                return plan
        plan["decoded"][n] = [session.poll(t + 0.1)]
        t += 0.2
    return plan


def run_job(session, path, body, **plan_args):
    session.call("GET", "/sdapi/v1/progress")  # idle before the job
    steps = sampling_steps(body["steps"], body.get("denoising_strength", 0.75) if "init_images" in body else None)
    session.webui.job_plan = plan_polls(session, steps, n_iter=body.get("n_iter", 1), **plan_args)
    # Session.call lists the POST when it is sent, so it comes before the polls it overlapped.
    session.call("POST", path, json_body=body)
    session.call("GET", "/sdapi/v1/progress")  # idle after the job
    session.exchanges[-1]["repeat"] = True
    return session.exchanges


def scenario_txt2img():
    return run_job(Session(WebUI()), "/sdapi/v1/txt2img", txt2img_body())


def scenario_txt2img_batch():
    return run_job(Session(WebUI()), "/sdapi/v1/txt2img", txt2img_body(n_iter=2, steps=12, seed=-1), every=5)


def scenario_img2img():
    with io.BytesIO() as out:
        picture(1234).save(out, format="PNG")
        init = base64.b64encode(out.getvalue()).decode()
    body = txt2img_body(init_images=[init], denoising_strength=0.6, steps=20)
    return run_job(Session(WebUI()), "/sdapi/v1/img2img", body)


def scenario_interrupt():
    return run_job(Session(WebUI()), "/sdapi/v1/txt2img", txt2img_body(), interrupt_at=(0, 13))


def scenario_errors():
    session = Session(WebUI())
    session.call("POST", "/sdapi/v1/txt2img", json_body=txt2img_body(steps="four"))
    session.call("POST", "/sdapi/v1/txt2img", json_body=txt2img_body(width=None, height="64px", seed=1.5))
    session.call("POST", "/sdapi/v1/txt2img", raw=b'{"prompt": "a fox", "steps": 4,')
    session.call("POST", "/sdapi/v1/txt2img", json_body=txt2img_body(enable_hr=True, hr_upscaler="4x-NoSuchUpscaler"))
    session.call("POST", "/sdapi/v1/img2img", json_body=txt2img_body(init_images=["bm90IGFuIGltYWdl"], denoising_strength=0.6))
    session.call("POST", "/sdapi/v1/img2img", json_body=txt2img_body(denoising_strength=0.6))
    session.call("GET", "/sdapi/v1/no-such-endpoint")
    session.call("GET", "/sdapi/v1/txt2img")
    return session.exchanges


def scenario_sampler_fallback():
    """A1111 1.9+: an unknown sampler name is not an error; the job runs with samplers[0], DPM++ 2M."""
    session = Session(WebUI())
    session.webui.job_plan = {}
    session.call("POST", "/sdapi/v1/txt2img", json_body=txt2img_body(sampler_name="No Such Sampler", scheduler=None, steps=4))
    return session.exchanges


def scenario_auth():
    """Started with --api-auth: no Authorization header, then a wrong password, then the right one.
    The built-in Lora extension's GET /sdapi/v1/loras has no auth dependency and answers anyway."""
    user, password = "stipple", "hunter2"
    session = Session(WebUI(auth=(user, password)))
    for credentials in (None, (user, "wrong"), (user, password)):
        exchange = session.call("GET", "/sdapi/v1/sd-models", auth=credentials)
        if credentials:
            token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
            exchange["request_headers"] = {"Authorization": "Basic " + token}
    session.call("GET", "/sdapi/v1/loras")
    return session.exchanges


def sampler_not_found_1_8():
    """A1111 1.6-1.8 answered an unknown sampler with 404 (api.py validate_sampler_name); the
    shape is the error middleware's. Built by raising that HTTPException in the same app."""
    webui = WebUI()

    def old_txt2img(req: Txt2ImgRequest):
        if req.sampler_name not in [n for n, _, _ in SAMPLERS] + ["DPM++ 2M Karras"]:
            raise HTTPException(status_code=404, detail="Sampler not found")
        return webui.generate(req, img2img=False)

    webui.app.router.routes = [r for r in webui.app.router.routes if getattr(r, "path", "") != "/sdapi/v1/txt2img"]
    webui.route("/sdapi/v1/txt2img", old_txt2img, methods=["POST"], response_model=ImagesResponse)
    session = Session(webui)
    session.call("POST", "/sdapi/v1/txt2img", json_body=txt2img_body(sampler_name="No Such Sampler", steps=4))
    return session.exchanges


SCENARIOS = {
    "catalog": (scenario_catalog, SERVER),
    "txt2img": (scenario_txt2img, SERVER),
    "txt2img-batch": (scenario_txt2img_batch, SERVER),
    "img2img": (scenario_img2img, SERVER),
    "interrupt": (scenario_interrupt, SERVER),
    "errors": (scenario_errors, SERVER),
    "sampler-fallback": (scenario_sampler_fallback, SERVER),
    "auth": (scenario_auth, SERVER + ", started with --api-auth stipple:hunter2"),
    "sampler-not-found-1.8": (sampler_not_found_1_8, "AUTOMATIC1111 stable-diffusion-webui v1.8.0 (shaped from source)"),
}


def main(folder):
    os.makedirs(folder, exist_ok=True)
    for name, (make, server) in SCENARIOS.items():
        fixture = {"server": server, "recorded_by": f"{RECORDED_BY} ({name})", "exchanges": make()}
        path = os.path.join(folder, f"a1111-{name}.json")
        with open(path, "w") as out:
            json.dump(fixture, out, indent=1)
            out.write("\n")
        print(f"{path}: {os.path.getsize(path)} bytes, {len(fixture['exchanges'])} exchanges")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])

#!/usr/bin/env python3
"""Writes the image-metadata fixtures of Tests/DiffusionTests/Fixtures/metadata/: one 8x8 PNG per
generator and variant, carrying the text chunks each tool writes, keyed and typed as it writes
them (Pillow's PngInfo.add_text, which ComfyUI, Fooocus, InvokeAI and A1111 call themselves:
tEXt for Latin-1 text, iTXt otherwise; stable-diffusion.cpp's own tEXt bytes from its
stb_image_write). The texts are shaped from each tool's source, not copied from it; where each
was read is in README.md beside the fixtures.

    /work/main/.venv-ref/bin/python tools/make_metadata_fixtures.py Tests/DiffusionTests/Fixtures/metadata

Pillow 13.0.0 and numpy 2.4.6; the output is the same bytes on every run.
"""
import json
import os
import sys

import numpy as np
from PIL import Image, PngImagePlugin


def f32(x):
    """A C++ float as nlohmann::json prints it (widened to double)."""
    return float(np.float32(x))


def save(folder, name, colour, chunks, compress_level=6):
    """An 8x8 image of one colour with `chunks`: (key, text) via add_text, or (b"tEXt", bytes) raw."""
    info = PngImagePlugin.PngInfo()
    for key, value in chunks:
        if isinstance(key, bytes):
            info.add(key, value)
        else:
            info.add_text(key, value)
    Image.new("RGB", (8, 8), colour).save(os.path.join(folder, name), pnginfo=info, compress_level=compress_level)


# --- AUTOMATIC1111 (modules/processing.py create_infotext; images.py save_image_with_geninfo) ---

A1111 = (
    "masterpiece, a red fox in the snow, (detailed fur:1.2) <lora:fox_style:0.8>\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 25, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 3405691582, Size: 512x768, "
    "Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Clip skip: 2, "
    "ADetailer model: face_yolov8n.pt, ADetailer confidence: 0.3, "
    'Lora hashes: "fox_style: 0123456789ab", Version: v1.10.1'
)

# --- stable-diffusion.cpp (examples/common/common.cpp get_image_params, build_sdcpp_image_metadata_json) ---


def sdcpp_text():
    sdcpp = {
        "schema": "sdcpp.image.params/v1",
        "mode": "img_gen",
        "generator": {"name": "stable-diffusion.cpp", "version": "master-97d2990", "commit": "97d2990"},
        "seed": 42,
        "width": 512,
        "height": 512,
        "prompt": {"positive": "a lovely cat, watercolor", "negative": "blurry"},
        "sampling": {
            "steps": 20, "eta": f32(0), "shifted_timestep": 0, "flow_shift": None, "extra_sample_args": "",
            "guidance": {"txt_cfg": f32(7), "img_cfg": f32(7), "distilled_guidance": f32(3.5),
                         "slg": {"scale": f32(0), "layers": [7, 8, 9], "start": f32(0.01), "end": f32(0.2)}},
            "method": "euler_a", "scheduler": "karras", "custom_sigmas": [],
        },
        "models": {"model": "v1-5-pruned-emaonly.safetensors"},
        "clip_skip": -1, "strength": f32(0.75), "control_strength": f32(0.9), "ip_adapter_strength": f32(1),
        "auto_resize_ref_image": True, "increase_ref_index": False, "rng": "cuda",
        "loras": [{"name": "cat_style", "multiplier": f32(0.7), "is_high_noise": False}],
    }
    # nlohmann::json keeps objects in std::map order (sorted keys) and dump() writes no spaces.
    tail = json.dumps(sdcpp, sort_keys=True, separators=(",", ":"))
    return ("a lovely cat, watercolor <lora:cat_style:0.7>\n"
            "Negative prompt: blurry\n"
            "Steps: 20, CFG scale: 7.000000, Guidance: 3.500000, Eta: 0.000000, Seed: 42, Size: 512x512, "
            "Model: v1-5-pruned-emaonly.safetensors, RNG: cuda, Sampler: euler_a karras, "
            "Version: stable-diffusion.cpp, SDCPP: " + tail)


# --- ComfyUI (nodes.py SaveImage, CLIPTextEncode, EmptyLatentImage, CheckpointLoaderSimple, LoraLoader,
#     KSampler(Advanced), CLIPSetLastLayer; comfy_extras/nodes_custom_sampler.py; nodes_primitive.py) ---


def node(class_type, title=None, **inputs):
    return {"inputs": inputs, "class_type": class_type, "_meta": {"title": title or class_type}}


def comfy_default():
    return {
        "3": node("KSampler", seed=156680208700286, steps=20, cfg=8, sampler_name="euler", scheduler="normal", denoise=1,
                  model=["4", 0], positive=["6", 0], negative=["7", 0], latent_image=["5", 0]),
        "4": node("CheckpointLoaderSimple", "Load Checkpoint", ckpt_name="v1-5-pruned-emaonly.safetensors"),
        "5": node("EmptyLatentImage", "Empty Latent Image", width=512, height=512, batch_size=1),
        "6": node("CLIPTextEncode", "CLIP Text Encode (Prompt)",
                  text="beautiful scenery nature glass bottle landscape, , purple galaxy bottle,", clip=["4", 1]),
        "7": node("CLIPTextEncode", "CLIP Text Encode (Prompt)", text="text, watermark", clip=["4", 1]),
        "8": node("VAEDecode", "VAE Decode", samples=["3", 0], vae=["4", 2]),
        "9": node("SaveImage", "Save Image", filename_prefix="ComfyUI", images=["8", 0]),
    }


def comfy_default_workflow():
    """The UI format of the default graph (what `workflow` holds), trimmed to its nodes and links."""
    def ui(id, type, inputs, outputs, widgets):
        return {"id": id, "type": type, "pos": [100 * id, 100], "size": [315, 100], "flags": {}, "order": id, "mode": 0,
                "inputs": inputs, "outputs": outputs, "properties": {"Node name for S&R": type}, "widgets_values": widgets}
    nodes = [
        ui(3, "KSampler", [], [], [156680208700286, "randomize", 20, 8, "euler", "normal", 1]),
        ui(4, "CheckpointLoaderSimple", [], [], ["v1-5-pruned-emaonly.safetensors"]),
        ui(5, "EmptyLatentImage", [], [], [512, 512, 1]),
        ui(6, "CLIPTextEncode", [], [], ["beautiful scenery nature glass bottle landscape, , purple galaxy bottle,"]),
        ui(7, "CLIPTextEncode", [], [], ["text, watermark"]),
        ui(8, "VAEDecode", [], [], []),
        ui(9, "SaveImage", [], [], ["ComfyUI"]),
    ]
    links = [[1, 4, 0, 3, 0, "MODEL"], [2, 5, 0, 3, 3, "LATENT"], [3, 4, 1, 6, 0, "CLIP"], [4, 6, 0, 3, 1, "CONDITIONING"],
             [5, 4, 1, 7, 0, "CLIP"], [6, 7, 0, 3, 2, "CONDITIONING"], [7, 3, 0, 8, 0, "LATENT"], [8, 4, 2, 8, 1, "VAE"],
             [9, 8, 0, 9, 0, "IMAGE"]]
    return {"last_node_id": 9, "last_link_id": 9, "nodes": nodes, "links": links, "groups": [], "config": {}, "extra": {},
            "version": 0.4}


def comfy_loras():
    graph = comfy_default()
    graph["3"]["inputs"].update(seed=987654321, steps=28, cfg=6.5, sampler_name="dpmpp_2m", scheduler="karras", model=["11", 0])
    graph["4"]["inputs"]["ckpt_name"] = "SD1.5/dreamshaper_8.safetensors"
    graph["10"] = node("LoraLoader", "Load LoRA", lora_name="styles/pixel_art.safetensors", strength_model=0.8, strength_clip=0.6,
                       model=["4", 0], clip=["4", 1])
    graph["11"] = node("LoraLoader", "Load LoRA", lora_name="add_detail.safetensors", strength_model=0.5, strength_clip=0.5,
                       model=["10", 0], clip=["10", 1])
    graph["12"] = node("CLIPSetLastLayer", "CLIP Set Last Layer", stop_at_clip_layer=-2, clip=["11", 1])
    graph["6"]["inputs"].update(text="a pixel art castle, detailed", clip=["12", 0])
    graph["7"]["inputs"].update(text="blurry, jpeg artifacts", clip=["12", 0])
    graph["5"]["inputs"].update(width=512, height=768, batch_size=2)
    return graph


def comfy_refiner():
    """SDXL base + refiner with two KSamplerAdvanced and the SDXL text encoders, as ComfyUI's SDXL refiner example."""
    return {
        "4": node("CheckpointLoaderSimple", "Load Checkpoint - BASE", ckpt_name="sd_xl_base_1.0.safetensors"),
        "5": node("EmptyLatentImage", width=1024, height=1024, batch_size=1),
        "6": node("CLIPTextEncodeSDXL", width=4096, height=4096, crop_w=0, crop_h=0, target_width=1024, target_height=1024,
                  text_g="evening sunset scenery blue sky nature, glass bottle with a galaxy in it",
                  text_l="evening sunset scenery blue sky nature, glass bottle with a galaxy in it", clip=["4", 1]),
        "7": node("CLIPTextEncodeSDXL", width=4096, height=4096, crop_w=0, crop_h=0, target_width=1024, target_height=1024,
                  text_g="text, watermark", text_l="text, watermark", clip=["4", 1]),
        "10": node("KSamplerAdvanced", "KSampler (Advanced) - BASE", add_noise="enable", noise_seed=721897303308196, steps=25, cfg=8,
                   sampler_name="euler", scheduler="normal", start_at_step=0, end_at_step=20, return_with_leftover_noise="enable",
                   model=["4", 0], positive=["6", 0], negative=["7", 0], latent_image=["5", 0]),
        "11": node("KSamplerAdvanced", "KSampler (Advanced) - REFINER", add_noise="disable", noise_seed=0, steps=25, cfg=8,
                   sampler_name="euler", scheduler="normal", start_at_step=20, end_at_step=10000, return_with_leftover_noise="disable",
                   model=["12", 0], positive=["15", 0], negative=["16", 0], latent_image=["10", 0]),
        "12": node("CheckpointLoaderSimple", "Load Checkpoint - REFINER", ckpt_name="sd_xl_refiner_1.0.safetensors"),
        "15": node("CLIPTextEncodeSDXLRefiner", ascore=6, width=2048, height=2048,
                   text="evening sunset scenery blue sky nature, glass bottle with a galaxy in it", clip=["12", 1]),
        "16": node("CLIPTextEncodeSDXLRefiner", ascore=2.5, width=2048, height=2048, text="text, watermark", clip=["12", 1]),
        "17": node("VAEDecode", samples=["11", 0], vae=["12", 2]),
        "19": node("SaveImage", filename_prefix="ComfyUI", images=["17", 0]),
    }


def comfy_custom():
    """SamplerCustom (KSamplerSelect + BasicScheduler), the positive text from a string primitive."""
    return {
        "4": node("CheckpointLoaderSimple", ckpt_name="sd_xl_turbo_1.0_fp16.safetensors"),
        "5": node("EmptyLatentImage", width=512, height=512, batch_size=1),
        "6": node("CLIPTextEncode", text=["20", 0], clip=["4", 1]),
        "7": node("CLIPTextEncode", text="", clip=["4", 1]),
        "13": node("SamplerCustom", add_noise=True, noise_seed=1234, cfg=1.0, model=["4", 0], positive=["6", 0], negative=["7", 0],
                   sampler=["14", 0], sigmas=["22", 0], latent_image=["5", 0]),
        "14": node("KSamplerSelect", sampler_name="euler_ancestral"),
        "20": node("PrimitiveStringMultiline", "Prompt", value="a cinematic shot of a baby racoon wearing an intricate italian priest robe"),
        "22": node("BasicScheduler", scheduler="sgm_uniform", steps=1, denoise=1.0, model=["4", 0]),
        "8": node("VAEDecode", samples=["13", 0], vae=["4", 2]),
        "25": node("PreviewImage", images=["8", 0]),
    }


def comfy_custom_advanced():
    """SamplerCustomAdvanced with RandomNoise, CFGGuider, KSamplerSelect and a BasicScheduler ('beta')."""
    return {
        "4": node("CheckpointLoaderSimple", ckpt_name="v1-5-pruned-emaonly.safetensors"),
        "5": node("EmptyLatentImage", width=640, height=448, batch_size=1),
        "6": node("CLIPTextEncode", text="a lighthouse at dawn, volumetric light", clip=["4", 1]),
        "7": node("CLIPTextEncode", text="lowres", clip=["4", 1]),
        "30": node("RandomNoise", noise_seed=55555),
        "31": node("CFGGuider", cfg=5.5, model=["4", 0], positive=["6", 0], negative=["7", 0]),
        "32": node("KSamplerSelect", sampler_name="dpmpp_2m_sde_gpu"),
        "33": node("BasicScheduler", scheduler="beta", steps=24, denoise=1.0, model=["4", 0]),
        "34": node("SamplerCustomAdvanced", noise=["30", 0], guider=["31", 0], sampler=["32", 0], sigmas=["33", 0],
                   latent_image=["5", 0]),
        "8": node("VAEDecode", samples=["34", 0], vae=["4", 2]),
        "9": node("SaveImage", filename_prefix="ComfyUI", images=["8", 0]),
    }


# --- Fooocus (modules/async_worker.py save_and_log, modules/meta_parser.py, modules/private_logger.py log) ---

FOOOCUS_FULL_PROMPT = ["a cozy cabin in the woods, winter, cinematic", "a cozy cabin in the woods, winter, highly detailed, intricate, sharp focus"]
FOOOCUS_FULL_NEGATIVE = ["unrealistic, saturated, high contrast, big nose, painting, drawing, sketch, cartoon, anime"]
FOOOCUS_HASH = "e6bb9ea85bbf7bf29d1a5d8ae0c0ed30feb3c4bd4e8b9d3e5d7a1a4bd6f0e2a1"
LORA_HASH = "b4dd4cbcb1cbd6d0ed7e5d3c0d04bdd4f1f6a87c1fe3c5d5a1d3b1c5ad2d7e3f"


def fooocus_json():
    res = {
        "prompt": "a cozy cabin in the woods, winter", "negative_prompt": "", "prompt_expansion": "a cozy cabin in the woods, winter, highly detailed, intricate, sharp focus",
        "styles": "['Fooocus V2', 'Fooocus Enhance', 'Fooocus Sharp']", "performance": "Speed", "steps": 30,
        "resolution": "(1152, 896)", "guidance_scale": 4.0, "sharpness": 2.0, "adm_guidance": "(1.5, 0.8, 0.3)",
        "base_model": "juggernautXL_v8Rundiffusion", "refiner_model": "None", "refiner_switch": 0.5,
        "sampler": "dpmpp_2m_sde_gpu", "scheduler": "karras", "vae": "Default (model)", "seed": "8412390771036282316",
        "lora_combined_1": "sd_xl_offset_example-lora_1.0 : 0.1", "metadata_scheme": "fooocus", "version": "Fooocus v2.5.5",
        "full_prompt": FOOOCUS_FULL_PROMPT, "full_negative_prompt": FOOOCUS_FULL_NEGATIVE, "base_model_hash": FOOOCUS_HASH,
        "loras": [["sd_xl_offset_example-lora_1.0", 0.1, LORA_HASH]],
    }
    return json.dumps(dict(sorted(res.items())))


def fooocus_quote(text):
    if "," not in str(text) and "\n" not in str(text) and ":" not in str(text):
        return text
    return json.dumps(text, ensure_ascii=False)


def fooocus_a1111():
    params = {
        "Steps": 30, "Sampler": "DPM++ 2M SDE Karras", "Seed": "8412390771036282316", "Size": "1152x896", "CFG scale": 4.0,
        "Sharpness": 2.0, "ADM Guidance": "(1.5, 0.8, 0.3)", "Model": "juggernautXL_v8Rundiffusion", "Model hash": FOOOCUS_HASH,
        "Performance": "Speed", "Scheduler": "karras", "VAE": "Default (model)",
        "Raw prompt": "a cozy cabin in the woods, winter", "Raw negative prompt": "",
        "Lora hashes": f"sd_xl_offset_example-lora_1.0: {LORA_HASH}", "Lora weights": "sd_xl_offset_example-lora_1.0: 0.1",
        "Version": "Fooocus v2.5.5",
    }
    line = ", ".join(k if k == v else f"{k}: {fooocus_quote(v)}" for k, v in params.items() if v is not None)
    return f"{', '.join(FOOOCUS_FULL_PROMPT)}\nNegative prompt: {', '.join(FOOOCUS_FULL_NEGATIVE)}\n{line}".strip()


# --- InvokeAI (invokeai/app/invocations/metadata.py CoreMetadataInvocation; image_files_disk.py;
#     backend/image_util/pngwriter.py; frontend/install/import_images.py) ---


def invoke_v3():
    meta = {
        "generation_mode": "txt2img", "positive_prompt": "a portrait of an old sailor, dramatic lighting",
        "negative_prompt": "cartoon, blurry", "width": 512, "height": 768, "seed": 3188573863, "rand_device": "cpu",
        "cfg_scale": 7.5, "cfg_rescale_multiplier": 0.0, "steps": 30, "scheduler": "dpmpp_2m_k", "seamless_x": False,
        "seamless_y": False, "clip_skip": 1,
        "model": {"key": "5b6a3b1e-9c1d-4f7e-8a2b-0c3d4e5f6a7b", "hash": "blake3:4ad6a3b9d1e0c7f25b8e3a1c9d0f7e6b5a4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e",
                  "name": "Deliberate v2", "base": "sd-1", "type": "main"},
        "controlnets": [], "ipAdapters": [{"ip_adapter_model": {"name": "ip_adapter_sd15"}, "weight": 0.6}], "t2iAdapters": [],
        "loras": [{"model": {"key": "0d3f", "hash": "blake3:77aa", "name": "add_detail", "base": "sd-1", "type": "lora"}, "weight": 0.75}],
        "app_version": "5.6.0",
    }
    # Pydantic's model_dump_json: compact, UTF-8.
    return json.dumps(meta, separators=(",", ":"), ensure_ascii=False)


INVOKE_V2_PROMPT = "a castle on a hill, oil painting [blurry, lowres]"


def invoke_v2():
    meta = {"model": "stable diffusion", "model_weights": "stable-diffusion-1.5",
            "model_hash": "cc6cb27103417325ff94f52b7a5d2dde45a7515b25c255d8e396c90014281516",
            "app_id": "invoke-ai/InvokeAI", "app_version": "2.3.5",
            "image": {"prompt": [{"prompt": INVOKE_V2_PROMPT, "weight": 1.0}], "steps": 50, "cfg_scale": 7.5, "threshold": 0,
                      "perlin": 0, "height": 512, "width": 512, "seed": 1234, "seamless": False, "hires_fix": False,
                      "type": "txt2img", "postprocessing": None, "sampler": "k_euler_a", "variations": []}}
    return json.dumps(meta)


# --- NovelAI (the tEXt chunks of its PNGs; NovelAI/novelai-image-metadata nai_meta_writer.py) ---


def novelai_comment():
    comment = {
        "prompt": "1girl, solitary, looking at viewer, cherry blossoms, best quality, amazing quality, very aesthetic, absurdres",
        "steps": 28, "height": 1216, "width": 832, "scale": 5.0, "uncond_scale": 1.0, "cfg_rescale": 0.0, "seed": 2906325591,
        "n_samples": 1, "hide_debug_overlay": False, "noise_schedule": "native", "legacy_v3_extend": False,
        "reference_information_extracted_multiple": [], "reference_strength_multiple": [], "sampler": "k_euler_ancestral",
        "controlnet_strength": 1.0, "controlnet_model": None, "dynamic_thresholding": False,
        "dynamic_thresholding_percentile": 0.999, "dynamic_thresholding_mimic_scale": 10.0, "sm": True, "sm_dyn": False,
        "skip_cfg_below_sigma": 0.0, "lora_unet_weights": None, "lora_clip_weights": None,
        "uc": "lowres, {bad}, error, fewer, extra, missing, worst quality, jpeg artifacts, bad quality, watermark, unfinished, displeasing, chromatic aberration, signature, extra digits, artistic error, username, scan, [abstract]",
        "request_type": "PromptGenerateRequest",
        "signed_hash": "fixture-placeholder-not-a-real-signature",
    }
    return json.dumps(comment)


# --- SwarmUI (src/Text2Image/T2IParamInput.cs GenFullMetadataObject, MetadataToString; src/Media/ImageFile.cs) ---


def swarm_parameters():
    data = {
        "sui_image_params": {
            "prompt": "a watercolor painting of a lighthouse, soft light",
            "negativeprompt": "photo, blurry",
            "images": 1, "seed": 1851237587, "steps": 30, "cfgscale": 6.5, "aspectratio": "Custom", "width": 832, "height": 1216,
            "sampler": "dpmpp_2m", "scheduler": "karras", "model": "OfficialStableDiffusion/sd_xl_base_1.0",
            "loras": ["watercolor_v1"], "loraweights": ["0.8"], "clipstopatlayer": -2, "swarm_version": "0.9.6.2",
        },
        "sui_extra_data": {"date": "2026-08-21", "prep_time": "0.02 sec", "generation_time": "7.35 sec"},
        "sui_models": [{"name": "OfficialStableDiffusion/sd_xl_base_1.0.safetensors", "param": "model",
                        "hash": "0x31e35c80fc4829d14f90153f4c74cd59c90b779f6afe05a74cd6120b893f7e5b"}],
    }
    # Newtonsoft's Formatting.Indented (two spaces) with non-ASCII escaped: Python's indent=2 writes the same.
    return json.dumps(data, indent=2)


def main(folder):
    os.makedirs(folder, exist_ok=True)
    save(folder, "a1111_lora.png", (200, 80, 40), [("parameters", A1111)])
    save(folder, "sdcpp.png", (90, 90, 200), [(b"tEXt", b"parameters\0" + sdcpp_text().encode("utf-8"))])
    comfy = lambda graph, workflow=None: [("prompt", json.dumps(graph))] + ([("workflow", json.dumps(workflow))] if workflow else [])
    save(folder, "comfyui_default.png", (30, 60, 90), comfy(comfy_default(), comfy_default_workflow()), compress_level=4)
    save(folder, "comfyui_loras.png", (31, 60, 90), comfy(comfy_loras()), compress_level=4)
    save(folder, "comfyui_refiner.png", (32, 60, 90), comfy(comfy_refiner()), compress_level=4)
    save(folder, "comfyui_custom.png", (33, 60, 90), comfy(comfy_custom()), compress_level=4)
    save(folder, "comfyui_custom_advanced.png", (34, 60, 90), comfy(comfy_custom_advanced()), compress_level=4)
    save(folder, "comfyui_workflow_only.png", (35, 60, 90), [("workflow", json.dumps(comfy_default_workflow()))], compress_level=4)
    save(folder, "fooocus_json.png", (120, 160, 60), [("parameters", fooocus_json()), ("fooocus_scheme", "fooocus")])
    save(folder, "fooocus_a1111.png", (121, 160, 60), [("parameters", fooocus_a1111()), ("fooocus_scheme", "a1111")])
    save(folder, "invokeai_v3.png", (160, 60, 160), [("invokeai_metadata", invoke_v3())])
    save(folder, "invokeai_v2.png", (161, 60, 160),
         [("Dream", f'"{INVOKE_V2_PROMPT}" -s 50 -S 1234 -W 512 -H 512 -C 7.5 -A k_euler_a'), ("sd-metadata", invoke_v2())])
    save(folder, "invokeai_dream.png", (162, 60, 160), [("Dream", '"a red fox in the snow [blurry]" -s50 -W512 -H512 -C7.5 -Ak_lms -S42')])
    save(folder, "novelai.png", (240, 200, 220),
         [("Title", "AI generated image"),
          ("Description", "1girl, solitary, looking at viewer, cherry blossoms, best quality, amazing quality, very aesthetic, absurdres"),
          ("Software", "NovelAI"), ("Source", "Stable Diffusion XL C1E1DE52"), ("Generation time", "5.1"),
          ("Comment", novelai_comment())])
    save(folder, "swarmui.png", (20, 120, 120), [("parameters", swarm_parameters())])


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "Tests/DiffusionTests/Fixtures/metadata")

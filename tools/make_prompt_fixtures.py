#!/usr/bin/env python3
"""Writes Tests/DiffusionTests/Fixtures/prompts/: tiny tokenizer folders as Stable Diffusion
downloads ship them, transformers' token ids for a corpus of prompts, and diffusers' prompt
conditioning for the tiny text encoders of Tests/DiffusionTests/Fixtures/parity/.

    .venv-ref/bin/python tools/make_prompt_fixtures.py Tests/DiffusionTests/Fixtures/prompts

(.venv-ref: torch 2.15 CPU, diffusers 0.42.1, transformers 5.24, tokenizers 0.23, safetensors.)
Run tools/make_parity_fixtures.py first if Fixtures/parity/ is missing; this script reads its
sd1/ and sd2/ text encoders, UNets and VAEs and writes nothing there.

The tokenizer: the real CLIP vocabulary cut to its first 486 merges, so 256 byte-level characters,
the same with </w>, 486 merged tokens, <|startoftext|> (998) and <|endoftext|> (999): exactly the
1,000 tokens of the tiny text encoders. The merges are the first lines of the committed
Sources/Diffusion/Tokenizer/Resources/bpe_simple_vocab_16e6.txt.

Written (all small, deterministic):
  sd1/tokenizer/      vocab.json, merges.txt, special_tokens_map.json, tokenizer_config.json in the
                      layout of runwayml/stable-diffusion-v1-5 (transformers 4 era): bos/eos/unk as
                      AddedToken objects with "normalized": true, pad "<|endoftext|>".
  sd2/tokenizer/      the same with special_tokens_map.json's pad_token "!" (SD2's), while
                      tokenizer_config.json still says "<|endoftext|>" as in the SD2 downloads;
                      special_tokens_map.json wins, so transformers pads with 0.
  sd2-saved/tokenizer/ the sd2 tokenizer as transformers 5's save_pretrained writes it:
                      tokenizer.json + tokenizer_config.json, no vocab.json or merges.txt.
  corpus.json         {"texts": [...], "<folder>": [{"ids": [...] (no BOS/EOS), "window": 77 ids
                      (padding="max_length", max_length=77, truncation=True)}]} for each folder,
                      from transformers' CLIPTokenizer.from_pretrained(folder).
  conditioning.json   the prompts and what each tensor of conditioning.safetensors is.
  conditioning.safetensors  float32 tensors, see conditioning.json.

Conditioning: StableDiffusionPipeline.encode_prompt of diffusers itself (tokenizer padding to
max_length 77 with truncation; clip_skip), for A1111 "Clip skip" 1 (diffusers clip_skip None) and
2 (clip_skip=1). For the long prompt diffusers truncates to the first window. Also, computed here
with the text encoder directly: the second window of the long prompt, and the A1111 docstring's
weighted prompt with A1111's "Original" emphasis (per-token multipliers, then rescaled to the
unweighted mean, the means taken in float64), from the fragments and weights A1111's
parse_prompt_attention docstring lists.
"""
import json
import os
import shutil
import sys
import types

import diffusers
import safetensors.torch
import tokenizers
import torch
import transformers
from diffusers import AutoencoderKL, PNDMScheduler, StableDiffusionPipeline, UNet2DConditionModel
from transformers import CLIPTextModel, CLIPTokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_tokenizer_fixtures import CORPUS, bytes_to_unicode, random_prompts, two_hundred_words  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MERGES_FILE = os.path.join(REPO, "Sources/Diffusion/Tokenizer/Resources/bpe_simple_vocab_16e6.txt")
PARITY = os.path.join(REPO, "Tests/DiffusionTests/Fixtures/parity")
MERGE_COUNT = 1000 - 512 - 2

PLAIN_PROMPTS = [
    "a photograph of an astronaut riding a horse",
    "",
    "masterpiece, best quality, a castle on a hill at sunset, highly detailed",
    "wow!!! a cat! Hello World!",
    "Café NAÏVE 東京 <|endoftext|> done",
    "a cat",
    "a dog",
]
# More than 75 tokens with the tiny vocabulary and no comma (so A1111's comma backtrack cannot move
# the first window's end): diffusers keeps the first window, A1111 makes two.
LONG_PROMPT = " ".join(["portrait of a knight in ornate armor standing in a misty forest at dawn"] * 4)

# A1111's parse_prompt_attention docstring: this prompt and the fragments it parses into, each
# weight the product of its brackets' multipliers in the order they close (the first "(" never does).
WEIGHTED_PROMPT = "a (((house:1.3)) [on] a (hill:0.5), sun, (((sky)))."
WEIGHTED_FRAGMENTS = [
    ("a ", 1.0), ("house", 1.0 * 1.3 * 1.1 * 1.1), (" ", 1.0 * 1.1), ("on", 1.0 * (1 / 1.1) * 1.1),
    (" a ", 1.0 * 1.1), ("hill", 1.0 * 0.5 * 1.1), (", sun, ", 1.0 * 1.1), ("sky", 1.0 * 1.1 * 1.1 * 1.1 * 1.1),
    (".", 1.0 * 1.1),
]
# The docstring's figures.
assert [w for _, w in WEIGHTED_FRAGMENTS] == [1.0, 1.5730000000000004, 1.1, 1.0, 1.1, 0.55, 1.1, 1.4641000000000006, 1.1]

EXTRA_TEXTS = [
    "!", "!!", "wow!!! a cat! hello world!", "a ! b !! c !!! d", "<|endoftext|>!", "x!y",
    "<|STARTOFTEXT|>x<|ENDOFTEXT|>", "A  <|EndOfText|>  b", "<|startoftext|>x<|endoftext|>",
    "ＡＢＣ！", "¡hola! ¿qué?", WEIGHTED_PROMPT, LONG_PROMPT,
]


def added(content):
    return {"content": content, "lstrip": False, "normalized": True, "rstrip": False, "single_word": False}


def write_legacy_folder(folder, vocab, merges, pad):
    """The tokenizer/ files of an SD1.5 / SD2 download (transformers 4 wrote them)."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
    special = {"bos_token": added("<|startoftext|>"), "eos_token": added("<|endoftext|>"),
               "pad_token": pad, "unk_token": added("<|endoftext|>")}
    with open(os.path.join(folder, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump(special, f, indent=2)
        f.write("\n")
    config = {
        "add_prefix_space": False, "bos_token": {"__type": "AddedToken", **added("<|startoftext|>")},
        "do_lower_case": True, "eos_token": {"__type": "AddedToken", **added("<|endoftext|>")},
        "errors": "replace", "model_max_length": 77, "name_or_path": "openai/clip-vit-large-patch14",
        "pad_token": "<|endoftext|>", "special_tokens_map_file": "./special_tokens_map.json",
        "tokenizer_class": "CLIPTokenizer", "unk_token": {"__type": "AddedToken", **added("<|endoftext|>")},
    }
    with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
        f.write("\n")


def tiny_vocabulary():
    with open(MERGES_FILE, encoding="utf-8") as f:
        lines = f.read().split("\n")
    merges = lines[1 : MERGE_COUNT + 1]
    tokens = list(bytes_to_unicode().values())
    tokens = tokens + [t + "</w>" for t in tokens]
    tokens += ["".join(m.split(" ")) for m in merges]
    tokens += ["<|startoftext|>", "<|endoftext|>"]
    vocab = {t: i for i, t in enumerate(tokens)}
    assert len(vocab) == len(tokens) == 1000
    return vocab, merges


def corpus_texts():
    texts = CORPUS + [two_hundred_words()] + random_prompts(count=30, seed=99) + EXTRA_TEXTS + PLAIN_PROMPTS
    return list(dict.fromkeys(texts))


def pipeline(model, tokenizer):
    text_encoder = CLIPTextModel.from_pretrained(os.path.join(PARITY, model, "text_encoder"))
    # diffusers 0.42.1 reaches the final layer norm as `text_encoder.text_model.final_layer_norm`
    # (transformers 4's nesting) when clip_skip is set; transformers 5's CLIPTextModel holds it
    # directly. Give diffusers the path it expects, without registering a module.
    object.__setattr__(text_encoder, "text_model", types.SimpleNamespace(final_layer_norm=text_encoder.final_layer_norm))
    unet = UNet2DConditionModel.from_pretrained(os.path.join(PARITY, model, "unet"))
    vae = AutoencoderKL.from_pretrained(os.path.join(PARITY, model, "vae"))
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=PNDMScheduler(), safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def a1111_skip(clip_skip):
    """A1111's "Clip skip" N is diffusers' clip_skip N - 1 (None for 1)."""
    return None if clip_skip == 1 else clip_skip - 1


def encode_window(text_encoder, window, clip_skip):
    """The text encoder on one 77-token window, A1111 clip skip: [1, 77, hidden]."""
    out = text_encoder(torch.tensor([window]), output_hidden_states=True)
    if clip_skip == 1:
        return out.last_hidden_state
    return text_encoder.final_layer_norm(out.hidden_states[-clip_skip])


def main():
    out_dir = sys.argv[1]
    torch.set_num_threads(1)
    os.makedirs(out_dir, exist_ok=True)
    vocab, merges = tiny_vocabulary()
    write_legacy_folder(os.path.join(out_dir, "sd1/tokenizer"), vocab, merges, "<|endoftext|>")
    write_legacy_folder(os.path.join(out_dir, "sd2/tokenizer"), vocab, merges, "!")
    saved = os.path.join(out_dir, "sd2-saved/tokenizer")
    shutil.rmtree(saved, ignore_errors=True)
    CLIPTokenizer.from_pretrained(os.path.join(out_dir, "sd2/tokenizer")).save_pretrained(saved)
    assert sorted(os.listdir(saved)) == ["tokenizer.json", "tokenizer_config.json"], os.listdir(saved)

    folders = ["sd1", "sd2", "sd2-saved"]
    tokenizers_ = {name: CLIPTokenizer.from_pretrained(os.path.join(out_dir, name, "tokenizer")) for name in folders}
    for name, tok in tokenizers_.items():
        assert (tok.bos_token_id, tok.eos_token_id) == (998, 999), name
        assert tok.pad_token_id == (999 if name == "sd1" else 0), (name, tok.pad_token_id)

    texts = corpus_texts()
    corpus = {"tokenizer": f"transformers {transformers.__version__} CLIPTokenizer, tokenizers {tokenizers.__version__}",
              "texts": texts}
    for name, tok in tokenizers_.items():
        corpus[name] = [{"ids": tok(t, add_special_tokens=False)["input_ids"],
                         "window": tok(t, padding="max_length", max_length=77, truncation=True)["input_ids"]}
                        for t in texts]
    with open(os.path.join(out_dir, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump(corpus, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")

    tensors, described = {}, {}
    doc = {"versions": {"torch": torch.__version__, "diffusers": diffusers.__version__,
                        "transformers": transformers.__version__},
           "plain": PLAIN_PROMPTS, "long": LONG_PROMPT, "weighted": WEIGHTED_PROMPT}
    with torch.no_grad():
        for model in ["sd1", "sd2"]:
            tok = tokenizers_[model]
            pipe = pipeline(model, tok)
            encoder = pipe.text_encoder
            for clip_skip in (1, 2):
                for i, prompt in enumerate(PLAIN_PROMPTS + [LONG_PROMPT]):
                    name = f"{model}.plain{i}.clip{clip_skip}" if prompt != LONG_PROMPT else f"{model}.long.clip{clip_skip}"
                    embeds, _ = pipe.encode_prompt(prompt, "cpu", 1, False, clip_skip=a1111_skip(clip_skip))
                    tensors[name] = embeds.contiguous()
                    described[name] = f"diffusers encode_prompt({prompt!r}, clip_skip={a1111_skip(clip_skip)})"

                # The long prompt's second window: BOS, tokens 75..149, EOS, padding.
                ids = tok(LONG_PROMPT, add_special_tokens=False)["input_ids"]
                assert 75 < len(ids) <= 150 and tok.convert_tokens_to_ids(",</w>") not in ids, len(ids)
                second = [998] + ids[75:] + [999] + [tok.pad_token_id] * (75 - len(ids[75:]))
                name = f"{model}.long.window2.clip{clip_skip}"
                tensors[name] = encode_window(encoder, second, clip_skip).contiguous()
                described[name] = "text encoder on the long prompt's second window"

                # The weighted prompt with A1111's "Original" emphasis.
                window, multipliers = [998], [1.0]
                for text, weight in WEIGHTED_FRAGMENTS:
                    fragment = tok(text, add_special_tokens=False)["input_ids"]
                    window += fragment
                    multipliers += [weight] * len(fragment)
                window += [999] + [tok.pad_token_id] * (77 - len(window) - 1)
                multipliers += [1.0] * (77 - len(multipliers))
                # A1111 takes both means in float32; with sd2 at clip skip 2 the mean (5e-4) is so
                # small next to the values (up to 2.9) that torch's float32 mean is off by 1e-5
                # relative. The means are taken in float64 here, as stipple takes them.
                z = encode_window(encoder, window, clip_skip)
                original_mean = z.double().mean()
                z = z * torch.asarray(multipliers).reshape(1, 77, 1)
                z = z * (original_mean / z.double().mean()).float()
                name = f"{model}.weighted.clip{clip_skip}"
                tensors[name] = z.contiguous()
                described[name] = "A1111 Original emphasis of the weighted prompt"
                doc[f"{model}.weighted.window"] = window
                doc[f"{model}.weighted.multipliers"] = multipliers

            # diffusers' classifier-free guidance: clip_skip applies to the prompt only, the negative
            # prompt always takes the last layer.
            positive, negative = pipe.encode_prompt(PLAIN_PROMPTS[0], "cpu", 1, True, negative_prompt=PLAIN_PROMPTS[2],
                                                    clip_skip=1)
            tensors[f"{model}.cfg.clip2.positive"] = positive.contiguous()
            tensors[f"{model}.cfg.clip2.negative"] = negative.contiguous()
            described[f"{model}.cfg.clip2.positive"] = "encode_prompt(plain[0], negative_prompt=plain[2], clip_skip=1)[0]"
            described[f"{model}.cfg.clip2.negative"] = "... [1]: the negative prompt without clip skip"

    doc["tensors"] = described
    safetensors.torch.save_file(tensors, os.path.join(out_dir, "conditioning.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out_dir, "conditioning.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(texts)} corpus texts and {len(tensors)} tensors to {out_dir}")


if __name__ == "__main__":
    main()

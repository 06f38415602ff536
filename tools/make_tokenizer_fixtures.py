#!/usr/bin/env python3
"""Writes Tests/DiffusionTests/Fixtures/tokenizer/corpus.json: transformers' CLIPTokenizer ids for a
corpus of tricky prompts, which CLIPTokenizer (Sources/Diffusion/Tokenizer/) must reproduce.

    .venv-ref/bin/python tools/make_tokenizer_fixtures.py /tmp/oc/open_clip/bpe_simple_vocab_16e6.txt.gz \
        Tests/DiffusionTests/Fixtures/tokenizer

(.venv-ref: transformers 5.24 + tokenizers 0.23, no ftfy. The .gz comes from the open_clip_torch wheel:
`pip download --no-deps open_clip_torch -d /tmp/oc && unzip /tmp/oc/*.whl -d /tmp/oc`.)

The script builds vocab.json + merges.txt from the .gz exactly like OpenAI's SimpleTokenizer (256
byte-level characters, the same with </w>, one token per merge, <|startoftext|>, <|endoftext|>), loads
them with transformers' CLIPTokenizer, and checks that the committed, truncated merges file
Sources/Diffusion/Tokenizer/Resources/bpe_simple_vocab_16e6.txt is a byte-for-byte prefix of the .gz.

The corpus: hand-written tricky prompts, a 200-word prompt, and 60 seeded random jumbles.

corpus.json: {"tokenizer": versions, "vocab_size": 49408, "bos": 49406, "eos": 49407,
  "entries": [{"text": str, "ids": [int] (no BOS/EOS), "window": [int] x 77 (BOS, up to 75, EOS,
  padded with <|endoftext|>)}]}
"""
import gzip
import json
import os
import random
import sys
import tempfile

import tokenizers
import transformers
from transformers import CLIPTokenizer

MERGE_COUNT = 49152 - 256 - 2
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMITTED = os.path.join(REPO, "Sources/Diffusion/Tokenizer/Resources/bpe_simple_vocab_16e6.txt")


def bytes_to_unicode():
    """OpenAI's table: printable bytes map to themselves, the others to 256 + n."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def build_vocab(merges_text):
    lines = merges_text.split("\n")[1 : MERGE_COUNT + 1]
    merges = [tuple(line.split()) for line in lines]
    vocab = list(bytes_to_unicode().values())
    vocab = vocab + [v + "</w>" for v in vocab]
    vocab += ["".join(m) for m in merges]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    ids = {token: i for i, token in enumerate(vocab)}
    assert len(ids) == len(vocab) == 49408, len(ids)
    return ids, lines


CORPUS = [
    "a photograph of an astronaut riding a horse",
    "A Photograph Of An ASTRONAUT Riding A Horse",
    "",
    "   ",
    "hello",
    "hello world!!!",
    "wait... what?!?! (yes) [no] {maybe} <tag> #hash @at $5 %20 ^_^ ~~ `code`",
    "it's a dog's life, isn't it? they're here, we've won, i'm ok, you'll see, he'd go",
    "IT'S LOUD, DON'T SHOUT, THEY'RE HERE",
    "'s 't 're 've 'm 'll 'd ''s '''quoted''' 'sa 'twas rock'n'roll",
    "1234 3.14 1,000,000 -42 +7 1e-5 0x1F 2nd 3rd 10th 1990s 4k 8K 16:9",
    "café naïve résumé façade Ångström Ça",
    "cafe\u0301 (decomposed e + combining acute) n\u0303",
    "東京の夜景、ネオン 漢字 한국어 中文字符",
    "emoji 😀🎨🚀 👩‍🚀 ❤️ 🇫🇷 flags",
    "Москва ночью, ПРИВЕТ мир",
    "Ελληνικά ΣΟΦΙΑ σοφία ΟΔΥΣΣΕΥΣ",
    "İstanbul ǅ ß ﬁ ﬂ Ⅻ ½ ² ①",
    "multiple   spaces\nnewline\n\n\ttab\r\ncrlf \u00a0nbsp \u3000ideographic \u2003em \u200bzwsp",
    "\t leading and trailing whitespace \n",
    "a <|endoftext|> inside text",
    "a<|endoftext|>b<|startoftext|>c",
    "<|startoftext|>hello<|endoftext|>",
    "<|ENDOFTEXT|> upper case special",
    "!<|endoftext|>! <|endoftext <|endoftext|",
    "supercalifragilisticexpialidocious pneumonoultramicroscopicsilicovolcanoconiosis",
    "a" * 120,
    "ab" * 60 + " " + "xyzzy" * 20,
    "masterpiece, best quality, (red:1.3), [blue], ((very detailed)), (green:0.8)",
    "\\(escaped\\) \\[brackets\\] (nested (parens:1.1):1.2) [from:to:0.5] a|b AND c BREAK d",
    "<lora:foo_bar-v2:0.7> embedding:xyz_123 __wildcard__ {a|b|c}",
    "snake_case kebab-case CamelCase dot.separated path/to/file.png http://example.com/?q=1&x=2",
    "don’t “curly” ‘quotes’ — em dash – en dash … ellipsis",
    "ﬀ ℌ ℃ ™ © ® ° ± × ÷ µ",
    "\u0000 \u0007 \u001b[31m control chars \u007f \u0085 \u000b \u000c \u001c \u001f \u180e \ufeff end",
    "<|EndOfText|>!! x <|startoftext|>!!<|STARTOFTEXT|>?? <|endoftext|>",
    "trailing punctuation.",
    "l33t sp34k h4x0r",
    "a,b,c;d:e!f?g",
]


def two_hundred_words():
    words = ("portrait of a knight in ornate armor standing in a misty forest at dawn, volumetric light, "
             "highly detailed, 8k, trending on artstation, by greg rutkowski and alphonse mucha").split()
    out = [words[i % len(words)] for i in range(200)]
    return " ".join(out)


def random_prompts(count=60, seed=1234):
    """Seeded jumbles of letters, digits, punctuation, whitespace and other scripts."""
    rng = random.Random(seed)
    pools = [
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " \t\n\u00a0\u2009",
        "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "éèêëàâäôöûüçñÅØæœßÉÀÇ", "абвгдежзийклмнопрстуфхцчшщъыьэюяЖЩ",
        "αβγδεζηθικλμνξοπρστυφχψωΣΩ", "日本語東京夜景猫犬", "😀🎨🚀✨🌸\u200d\ufe0f", "\u0301\u0308\u0327",
        "ǅǈǋİıŉ½²①Ⅻ", "'s 're 'll 'd",
    ]
    prompts = []
    for _ in range(count):
        length = rng.randint(1, 60)
        prompts.append("".join(rng.choice(rng.choice(pools)) for _ in range(length)))
    return prompts


def main():
    gz_path, out_dir = sys.argv[1], sys.argv[2]
    with gzip.open(gz_path, "rb") as f:
        full = f.read()
    with open(COMMITTED, "rb") as f:
        committed = f.read()
    assert full.startswith(committed), "the committed merges file is not a prefix of the .gz"
    assert committed.count(b"\n") == MERGE_COUNT + 1, committed.count(b"\n")

    ids, lines = build_vocab(full.decode("utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump(ids, f, ensure_ascii=False)
        with open(os.path.join(tmp, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "\n".join(lines) + "\n")
        # transformers 5 reads vocab.json + merges.txt through from_pretrained (the constructor's
        # vocab_file / merges_file arguments are ignored).
        tok = CLIPTokenizer.from_pretrained(tmp)
    assert len(tok) == 49408, len(tok)
    assert tok.bos_token_id == 49406 and tok.eos_token_id == 49407 and tok.pad_token_id == 49407

    corpus = CORPUS + [two_hundred_words()] + random_prompts()
    entries = []
    for text in corpus:
        plain = tok(text, add_special_tokens=False)["input_ids"]
        window = tok(text, padding="max_length", max_length=77, truncation=True)["input_ids"]
        assert len(window) == 77
        entries.append({"text": text, "ids": plain, "window": window})

    os.makedirs(out_dir, exist_ok=True)
    doc = {
        "tokenizer": f"transformers {transformers.__version__} CLIPTokenizer, tokenizers {tokenizers.__version__}",
        "vocab_size": len(tok),
        "bos": tok.bos_token_id,
        "eos": tok.eos_token_id,
        "entries": entries,
    }
    with open(os.path.join(out_dir, "corpus.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {len(entries)} entries to {out_dir}/corpus.json")


if __name__ == "__main__":
    main()

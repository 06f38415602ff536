#!/usr/bin/env bash
# Fuzzes stipple's parsers with libFuzzer (issue 12): builds the fuzz/ package with
# -sanitize=fuzzer,address and runs each target for SECONDS (default 600), one after the other.
#
#   tools/fuzz.sh [SECONDS] [TARGET...]
#
# Targets (default: all): safetensors png jpeg image-texts infotext metadata prompt-syntax tokenizer config
# terminal-replies keys. Per target it prints executions, exec/s, coverage (libFuzzer's cov:
# and ft:) and crashes. Everything it writes is under fuzz/.work/<target>/ (gitignored):
#   corpus/     the corpus, kept and grown from run to run (delete it to start over)
#   seeds/      the seeds, copied afresh each run: fuzz/corpus/<target>/ plus the test fixtures
# (fuzz/dict/<target>.dict, when there is one, is passed as -dict)
#   artifacts/  crash-*, leak-*, oom-* and timeout-* inputs
#   log         libFuzzer's output
# Exit status: 0 when no target crashed, 1 when one did (its artifact is named), 2 on a build or
# usage error.
#
# Environment: FUZZ_BUILD=0 skips the build; FUZZ_ARGS adds libFuzzer flags to every target
# (e.g. FUZZ_ARGS="-max_len=32768 -timeout=2" to look for slow inputs); FUZZ_JOBS (default 2)
# is swift build's -j.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
package="$root/fuzz"
work="$package/.work"
all_targets=(safetensors png jpeg image-texts infotext metadata prompt-syntax tokenizer config settings terminal-replies keys)

seconds=${1:-600}
if ! [[ $seconds =~ ^[0-9]+$ ]]; then
    echo "usage: tools/fuzz.sh [SECONDS] [TARGET...]  (targets: ${all_targets[*]})" >&2
    exit 2
fi
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")
for target in "${targets[@]}"; do
    [[ " ${all_targets[*]} " == *" $target "* ]] || { echo "fuzz.sh: no target '$target' (${all_targets[*]})" >&2; exit 2; }
done

# Input size caps: big enough for every interesting structure, small enough that no input does
# legitimately huge work. (Infotext's field scan is linear now; its regex used to be quadratic.)
max_len() {
    case $1 in
        png | jpeg | image-texts) echo 16384 ;;
        infotext | metadata) echo 32768 ;;
        tokenizer) echo 2048 ;;
        *) echo 4096 ;;
    esac
}

# Flags of one target. config: TOMLKit 0.6.0 leaks a few hundred bytes per parse (TOMLTable(string:),
# its string getter's strdup, tableGetKeys; the C++ side of a dependency, read once per process
# by stipple), which LeakSanitizer would report on the first input; leak detection is off there so
# the fuzzer looks for crashes.
target_flags() {
    case $1 in
        config) echo "-detect_leaks=0" ;;
        *) echo "" ;;
    esac
}

# The environment of one target: for config also no LeakSanitizer report at exit (the same leaks,
# summed over the run: about 90 MB after 1.2 million inputs).
target_env() {
    case $1 in
        config) echo "ASAN_OPTIONS=detect_leaks=0" ;;
        *) echo "ASAN_OPTIONS=${ASAN_OPTIONS:-}" ;;
    esac
}

# The seeds of a target: its committed handwritten seeds plus the test fixtures that fit.
seed() {
    local target=$1 dir=$2
    rm -rf "$dir" && mkdir -p "$dir"
    cp "$package/corpus/$target/"* "$dir/" 2>/dev/null || true
    local fixtures="$root/Tests"
    case $target in
        safetensors)  # the format's cases, and single-file checkpoints (the smaller SD1 and SDXL ones)
            cp "$fixtures/DiffusionTests/Fixtures/safetensors/"* "$fixtures/DiffusionTests/Fixtures/single_file/sd1-fp16.safetensors" \
               "$fixtures/DiffusionTests/Fixtures/sdxl/sdxl-fp16.safetensors" "$fixtures/DiffusionTests/Fixtures/sdxl/sdxl-refiner.safetensors" "$dir/" ;;
        png) cp "$fixtures/ImagingTests/Fixtures/png/"*.png "$dir/" ;;
        jpeg)  # the decoding fixtures (the broken ones too) and the metadata fixtures' JPEGs
            cp "$fixtures/ImagingTests/Fixtures/jpeg/"*.jpg "$fixtures/ImagingTests/Fixtures/metadata/"*.jpg "$dir/" ;;
        image-texts)  # every container fixture, the broken ones too, and the PNG text fixture
            cp "$fixtures/ImagingTests/Fixtures/metadata/"*.{jpg,webp,png,gif} "$fixtures/ImagingTests/Fixtures/png/text_chunks.png" "$dir/" ;;
        metadata)
            # Each text chunk of the metadata fixtures, its keyword's index (fuzz-metadata's list) first.
            python3 - "$dir" "$fixtures/DiffusionTests/Fixtures/metadata" <<'EOF'
import os, struct, sys, zlib
out, folder = sys.argv[1:]
keys = ["prompt", "parameters", "invokeai_metadata", "sd-metadata", "Dream", "Comment", "workflow"]
for name in sorted(os.listdir(folder)):
    if not name.endswith(".png"):
        continue
    data = open(os.path.join(folder, name), "rb").read()
    offset = 8
    while offset + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[offset:offset + 8])
        body = data[offset + 8:offset + 8 + length]
        offset += 12 + length
        if kind not in (b"tEXt", b"iTXt", b"zTXt"):
            continue
        key, _, text = body.partition(b"\0")
        if kind == b"zTXt":
            text = zlib.decompress(text[1:])
        elif kind == b"iTXt":
            text = text[2:].split(b"\0", 2)[2]
        key = key.decode("latin-1")
        if key in keys and len(text) < 32000:
            open(os.path.join(out, f"{name[:-4]}-{key}"), "wb").write(bytes([keys.index(key)]) + text)
EOF
            ;;
        terminal-replies | keys) cp "$fixtures/TerminalTests/Fixtures/"*.reply "$dir/" ;;
        prompt-syntax | tokenizer | infotext)
            # One file per text of the tokenizer and prompt fixtures, the sample prompts.
            python3 - "$dir" "$target" "$fixtures/DiffusionTests/Fixtures" "$root/samples/prompts.txt" <<'EOF'
import json, sys, os
out, target, fixtures, samples = sys.argv[1:]
texts = []
try:
    texts += json.load(open(f"{fixtures}/prompts/corpus.json"))["texts"]
except Exception: pass
try:
    texts += [e["text"] for e in json.load(open(f"{fixtures}/tokenizer/corpus.json"))["entries"]]
except Exception: pass
try:
    conditioning = json.load(open(f"{fixtures}/prompts/conditioning.json"))
    texts += conditioning["plain"] + [conditioning["long"], conditioning["weighted"]]
except Exception: pass
try:
    texts += [line.rstrip("\n") for line in open(samples) if line.strip()]
except Exception: pass
if target == "infotext":  # prompts as the first line of an infotext
    texts = [t + "\nNegative prompt: " + t[::-1] + "\nSteps: 20, Sampler: Euler a, Seed: 1, Size: 512x512" for t in texts[:40]]
for i, text in enumerate(dict.fromkeys(texts)):
    data = text.encode()
    if len(data) <= 2048:
        open(os.path.join(out, f"fixture-{i:04d}"), "wb").write(data)
EOF
            ;;
    esac
}

if [[ ${FUZZ_BUILD:-1} != 0 ]]; then
    echo "== building fuzz/ (release, -sanitize=fuzzer,address)"
    # -Xcc instruments the C targets too (PNGBridge and JPEGBridge, which own every libpng and
    # libjpeg call); libpng and libjpeg-turbo themselves are the system libraries, not instrumented.
    build() {
        (cd "$package" && swift build -c release -j "${FUZZ_JOBS:-2}" \
            -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library \
            -Xcc -fsanitize=fuzzer-no-link,address)
    }
    # An incremental build of the path dependency (stipple itself) can miss source files added
    # to it since (SwiftPM keeps the old file list): on failure, build once more from scratch.
    if ! build; then
        echo "== build failed; building fuzz/ again from a clean .build"
        rm -rf "$package/.build"
        build || exit 2
    fi
fi
bin="$package/.build/release"

# libFuzzer reports crashes itself (Swift traps are SIGILL); the Swift backtracer would race it.
export SWIFT_BACKTRACE=enable=no
crashed=0
summary=()
for target in "${targets[@]}"; do
    dir="$work/$target"
    mkdir -p "$dir/corpus" "$dir/artifacts"
    seed "$target" "$dir/seeds"
    echo "== $target: ${seconds}s, -max_len=$(max_len "$target")  (log: ${dir#"$root/"}/log)"
    before=$(ls "$dir/artifacts" | wc -l)
    status=0
    # shellcheck disable=SC2086
    dict=()
    [[ -f $package/dict/$target.dict ]] && dict=(-dict="$package/dict/$target.dict")
    env "$(target_env "$target")" "$bin/fuzz-$target" "$dir/corpus" "$dir/seeds" "${dict[@]}" \
        -max_total_time="$seconds" -max_len="$(max_len "$target")" -timeout=10 -rss_limit_mb=2560 \
        -print_final_stats=1 -artifact_prefix="$dir/artifacts/" $(target_flags "$target") ${FUZZ_ARGS:-} >"$dir/log" 2>&1 || status=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$dir/log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[0-9]+[a-zA-Z]*' "$dir/log" | tail -1)
    new=$(ls "$dir/artifacts" | wc -l)
    line="$target: ${execs:-?} execs, ${rate:-?} exec/s, ${cov:-no coverage line}, crashes: $((new - before))"
    if [[ $status != 0 ]]; then
        crashed=1
        artifact=$(ls -t "$dir/artifacts" | head -1)
        line+=" (exit $status; artifact ${dir#"$root/"}/artifacts/$artifact)"
        grep -m1 -E 'ERROR: (libFuzzer|AddressSanitizer)|Fatal error|SUMMARY' "$dir/log" || true
    fi
    echo "$line"
    summary+=("$line")
done

echo "== summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
exit $crashed

#!/usr/bin/env bash
# Proves the README's quick start on a fresh Debian 12 (bookworm) machine with Swift.
#
# Builds a clean bookworm root with debootstrap (cached under .fresh-root/), adds only what Swift's
# own installation guide for Debian 12 lists, makes this machine's Swift toolchain (/opt/swift) and
# its SwiftPM package mirror visible read-only, clones the repository into the root and runs there,
# as root and with no terminal on standard input:
#   scripts/test        the whole suite (it installs the Debian packages it needs with apt-get)
#   scripts/run         inside tmux: waits for the studio screen, shows it, quits with Ctrl-Q and
#                       checks the exit status is 0
# Every run starts from the cached pristine root, so nothing a previous run installed remains.
#
#   tools/fresh-machine-check.sh [--rebuild] [--repo PATH] [--ref REF] [--keep]
#     --rebuild     debootstrap the base root again (otherwise .fresh-root/base.tar is reused)
#     --repo PATH   the repository to clone (default: the one this script is in)
#     --ref REF     the commit or branch to check out (default: that repository's HEAD; only
#                   committed work is checked)
#     --keep        leave the run's root in .fresh-root/run for inspection (mounts are removed)
#   MIRROR=URL      the Debian mirror (default: the first bookworm URI in this machine's apt sources)
#
# Needs root (chroot, mount) and network access to the Debian mirror; installs debootstrap on the
# host when missing. Exit status 0 only when both commands succeeded.
set -euo pipefail

script_dir="$(cd "$(dirname "$0")" && pwd)"
repo="$(git -C "$script_dir/.." rev-parse --show-toplevel)"
ref=""
rebuild=0
keep=0
while [ $# -gt 0 ]; do
    case "$1" in
        --rebuild) rebuild=1 ;;
        --repo) repo="$(cd "$2" && git rev-parse --show-toplevel)"; shift ;;
        --ref) ref="$2"; shift ;;
        --keep) keep=1 ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "fresh-machine-check: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

if [ "$(id -u)" -ne 0 ]; then
    exec sudo --preserve-env=MIRROR,CI "$0" "$@"
fi

log() { printf '[fresh %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
started=$(date +%s)

# What Swift's installation guide for Debian 12 has you install next to the toolchain (the list
# of the official swift:bookworm image), plus python3 and unzip from the generic Linux list.
# Nothing stipple-specific: scripts/packages.sh must bring the rest.
SWIFT_DEPENDENCIES="binutils gcc git libc6-dev libcurl4-openssl-dev libedit2 libicu-dev
    libncurses-dev libpython3-dev libsqlite3-dev libstdc++-12-dev libxml2-dev libz3-dev
    pkg-config python3 tzdata unzip uuid-dev zlib1g-dev ca-certificates"

cache="$repo/.fresh-root"
base_tar="$cache/base.tar"
stamp="$cache/base.stamp"
root="$cache/run"
mkdir -p "$cache"

if [ -z "${MIRROR:-}" ]; then
    MIRROR="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null \
        | awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}')"
    [ -n "$MIRROR" ] || MIRROR="$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' \
        /etc/apt/sources.list 2>/dev/null || true)"
    [ -n "$MIRROR" ] || MIRROR="http://deb.debian.org/debian"
fi
security_mirror="${MIRROR%/debian}/debian-security"

# --- mounts, always undone -------------------------------------------------------------------
mounted=()
mount_in() {  # mount_in TARGET MOUNT-ARGS...
    local target="$1"; shift
    mkdir -p "$target"
    mount "$@" "$target"
    mounted+=("$target")
}
unmount_all() {
    local i
    for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
        umount -R "${mounted[i]}" 2>/dev/null || umount -lR "${mounted[i]}" 2>/dev/null || true
    done
    mounted=()
}
# Processes still running inside the root (the tmux server, a studio that did not quit) were
# started by this script; end them by their ids so the mounts can go.
end_processes_in() {
    local dir="$1" link pid
    for link in /proc/[0-9]*/root; do
        pid="${link#/proc/}"; pid="${pid%/root}"
        [ "$(readlink "$link" 2>/dev/null)" = "$dir" ] && kill -9 "$pid" 2>/dev/null || true
    done
}
cleanup() {
    local status=$?
    [ -d "$root" ] && end_processes_in "$(readlink -f "$root")"
    [ -d "$cache/base" ] && end_processes_in "$(readlink -f "$cache/base")"
    unmount_all
    if [ "$keep" -eq 0 ]; then rm -rf "$root"; fi
    rm -rf "$cache/base"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

mount_system() {  # mount_system ROOT: /proc, /sys, /dev (with /dev/pts for tmux)
    mount_in "$1/proc" -t proc proc
    mount_in "$1/sys" -t sysfs sysfs
    mount_in "$1/dev" --rbind /dev
    mount --make-rslave "$1/dev"
}

in_root() {  # in_root ROOT COMMAND...: a clean environment, no terminal on standard input
    local dir="$1"; shift
    chroot "$dir" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" CI="${CI:-}" \
        PATH=/opt/swift/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        DEBIAN_FRONTEND=noninteractive "$@" </dev/null
}

# --- the base root: Debian 12 + Swift's documented dependencies, cached -----------------------
wanted_stamp="bookworm $MIRROR $(echo $SWIFT_DEPENDENCIES)"
if [ "$rebuild" -eq 1 ] || [ ! -f "$base_tar" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$wanted_stamp" ]; then
    if ! command -v debootstrap >/dev/null; then
        log "installing debootstrap on the host"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
    fi
    rm -rf "$cache/base" "$base_tar" "$stamp"
    log "debootstrap bookworm from $MIRROR"
    debootstrap --merged-usr bookworm "$cache/base" "$MIRROR" >"$cache/debootstrap.log" 2>&1 \
        || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
    cat >"$cache/base/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $security_mirror bookworm-security main
EOF
    cp /etc/resolv.conf "$cache/base/etc/resolv.conf"
    mount_system "$cache/base"
    log "installing Swift's dependencies: $(echo $SWIFT_DEPENDENCIES)"
    in_root "$cache/base" apt-get update -qq
    in_root "$cache/base" apt-get install -y -qq --no-install-recommends $SWIFT_DEPENDENCIES >/dev/null
    in_root "$cache/base" apt-get clean
    unmount_all
    tar -C "$cache/base" -cpf "$base_tar.part" .
    mv "$base_tar.part" "$base_tar"
    echo "$wanted_stamp" >"$stamp"
    rm -rf "$cache/base"
fi

# --- this run's root -------------------------------------------------------------------------
rm -rf "$root"
mkdir -p "$root"
tar -C "$root" -xpf "$base_tar"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount_system "$root"
# The toolchain, read-only, where this machine has it.
mount_in "$root/opt/swift" --bind -o ro /opt/swift
mount -o remount,bind,ro "$root/opt/swift"
# The SwiftPM package mirror: git on this machine rewrites github.com addresses to a local folder
# (git config --system url.<folder>.insteadOf); the same folders and the same rewrites inside.
: >"$root/etc/gitconfig"
while read -r key value; do
    folder="${key#url.}"; folder="${folder%.insteadof}"
    case "$folder" in
        /*) if [ -d "$folder" ] && ! mountpoint -q "$root$folder"; then
                mount_in "$root$folder" --bind -o ro "$folder"
                mount -o remount,bind,ro "$root$folder"
            fi
            git config --file "$root/etc/gitconfig" --add "url.$folder.insteadOf" "$value" ;;
    esac
done < <(git config --system --get-regexp '^url\..*\.insteadof$' || true)

commit="$(git -C "$repo" rev-parse --verify "${ref:-HEAD}^{commit}")"
if [ -z "$ref" ] && [ -n "$(git -C "$repo" status --porcelain --untracked-files=no)" ]; then
    log "note: $repo has uncommitted changes; only the commit is checked"
fi
log "cloning $repo at $(git -C "$repo" log -1 --format='%h %s' "$commit" | cut -c1-100)"
git clone --quiet --no-checkout "$repo" "$root/root/stipple"
git -C "$root/root/stipple" checkout --quiet "$commit"

# --- scripts/test ----------------------------------------------------------------------------
log "scripts/test (log: .fresh-root/test.log)"
test_started=$(date +%s)
set +e
in_root "$root" /bin/bash -c 'cd /root/stipple && scripts/test' >"$cache/test.log" 2>&1
test_status=$?
set -e
test_seconds=$(($(date +%s) - test_started))
tail -n 15 "$cache/test.log" >&2
log "scripts/test exited with $test_status after ${test_seconds}s"

# --- scripts/run in tmux ---------------------------------------------------------------------
log "scripts/run in tmux (its build log is in the pane)"
run_started=$(date +%s)
tmux_in() { in_root "$root" tmux -L fresh "$@"; }
rm -f "$root/tmp/studio-exit"
tmux_in new-session -d -s studio -x 120 -y 40 \
    'cd /root/stipple && scripts/run; echo $? > /tmp/studio-exit'
seen=0
for _ in $(seq 1 720); do  # up to an hour: the release build comes first
    if tmux_in capture-pane -p -t studio 2>/dev/null | grep -q "Parameters"; then seen=1; break; fi
    [ -f "$root/tmp/studio-exit" ] && break
    sleep 5
done
run_status=1
if [ "$seen" -eq 1 ]; then
    sleep 2
    log "the studio's screen:"
    tmux_in capture-pane -p -t studio >&2
    tmux_in send-keys -t studio C-q
    for _ in $(seq 1 60); do [ -f "$root/tmp/studio-exit" ] && break; sleep 0.5; done
    if [ -f "$root/tmp/studio-exit" ]; then
        run_status="$(cat "$root/tmp/studio-exit")"
        log "the studio quit on Ctrl-Q with exit status $run_status"
    else
        log "the studio did not quit within 30 s of Ctrl-Q"
        tmux_in capture-pane -p -t studio >&2 || true
    fi
else
    log "the studio screen never appeared; the pane:"
    tmux_in capture-pane -p -S -40 -t studio >&2 || true
    [ -f "$root/tmp/studio-exit" ] && log "scripts/run exited with $(cat "$root/tmp/studio-exit")"
fi
tmux_in kill-server 2>/dev/null || true
run_seconds=$(($(date +%s) - run_started))

total=$(($(date +%s) - started))
log "summary: scripts/test $test_status (${test_seconds}s), scripts/run $run_status (${run_seconds}s), wall ${total}s"
[ "$test_status" -eq 0 ] && [ "$run_status" = "0" ]

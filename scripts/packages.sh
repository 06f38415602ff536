# Sourced by the other scripts: makes sure the Debian packages stipple needs are installed.
#   ensure_packages PKG...   installs the missing ones with apt-get (through sudo when not root)

# The four libraries stipple links (OpenBLAS, libpng, libjpeg-turbo, ncursesw); for the tests, libsixel-bin (sixel2png, an independent
# decoder of our sixel output), tmux (the studio's end-to-end test drives the real binary in it),
# and the terminfo entries the terminal-detection tests read through ncurses: xterm-direct comes
# with ncurses-term, xterm-kitty with kitty-terminfo (a fresh Debian 12 has neither; ncurses-base
# carries only xterm-256color, dumb and a few others). tools/fresh-machine-check.sh proves the list.
STIPPLE_BUILD_PACKAGES="pkg-config libopenblas-dev libpng-dev libjpeg62-turbo-dev libncursesw5-dev"
STIPPLE_TEST_PACKAGES="libsixel-bin tmux ncurses-term kitty-terminfo"

ensure_packages() {
    local missing=()
    local package
    for package in "$@"; do
        if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
            missing+=("$package")
        fi
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "stipple: please install the packages ${missing[*]} (or your system's equivalents)" >&2
        return 1
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        sudo="sudo"
    fi
    echo "stipple: installing ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

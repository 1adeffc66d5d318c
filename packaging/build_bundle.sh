#!/usr/bin/env bash
# Build the one-folder LesionViewer app with PyInstaller.
#   packaging/build_bundle.sh [DIST_DIR] [WORK_DIR]
# DIST_DIR defaults to dist/ (the app lands in DIST_DIR/LesionViewer/), WORK_DIR to build/pyinstaller/.
# Run it inside the project's virtual environment. LESIONVIEWER_BUNDLE_CUDA=1 keeps the CUDA
# libraries torch loads only on a GPU (a larger bundle that can use a GPU).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST="${1:-$ROOT/dist}"
WORK="${2:-$ROOT/build/pyinstaller}"
PYTHON="${PYTHON:-python}"
PYINSTALLER_VERSION="6.22.3"

if ! "$PYTHON" -c "import PyInstaller, sys; sys.exit(PyInstaller.__version__ != '$PYINSTALLER_VERSION')" 2>/dev/null; then
    "$PYTHON" -m pip install --quiet "pyinstaller==$PYINSTALLER_VERSION"
fi

start=$(date +%s)
# nice: the build is long and CPU-bound; keep the machine usable meanwhile
nice -n 10 "$PYTHON" -m PyInstaller --noconfirm --clean --log-level WARN \
    --distpath "$DIST" --workpath "$WORK" "$ROOT/packaging/lesionviewer.spec"
end=$(date +%s)

echo "built $DIST/LesionViewer in $((end - start)) s ($(du -sh "$DIST/LesionViewer" | cut -f1))"
echo "check it with: $DIST/LesionViewer/LesionViewer --self-test"

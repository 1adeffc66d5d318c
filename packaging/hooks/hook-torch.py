"""Our PyInstaller hook for torch; replaces pyinstaller-hooks-contrib's for this build.

Differences from the contrib hook, to keep a CPU bundle small and the build short:
- every torch submodule is collected (torch._dynamo imports its parts by name at run time, and the
  detector's first call reaches it), except torch's own test helpers;
- no hidden imports of the ``nvidia.*`` packages, whose hooks would collect every CUDA library.
  Binary dependency analysis still collects the CUDA libraries torch's own libraries link
  against (they must be present for ``import torch``); the ones torch only loads when a GPU is
  used (cuDNN engines, cuSOLVER, NVRTC builtins, torch_cuda_linalg) are left out.
Set ``LESIONVIEWER_BUNDLE_CUDA=1`` to collect everything, as the contrib hook does, for a GPU bundle.
"""
import os

from PyInstaller.utils.hooks import PY_DYLIB_PATTERNS, collect_data_files, collect_dynamic_libs, collect_submodules

module_collection_mode = "pyz+py"  # torch reads the source of some of its functions (jit, inspect)
warn_on_missing_hiddenimports = False

datas = collect_data_files(
    "torch",
    excludes=["**/*.h", "**/*.hpp", "**/*.cuh", "**/*.lib", "**/*.cpp", "**/*.pyi", "**/*.cmake",
              "**/include/**", "**/share/cmake/**", "**/test/**", "**/testing/_internal/**"],
)
_TEST_ONLY = ("torch.testing._internal", "torch.utils.tensorboard", "torch.utils.benchmark")
hiddenimports = collect_submodules("torch", filter=lambda name: not name.startswith(_TEST_ONLY))
binaries = collect_dynamic_libs("torch", search_patterns=PY_DYLIB_PATTERNS + ["*.so.*"])
# Symlinks from torch/lib to the top level confuse torch about where its libraries are.
bindepend_symlink_suppression = ["**/torch/lib/*.so*"]

if os.environ.get("LESIONVIEWER_BUNDLE_CUDA") == "1":
    from importlib import metadata

    import packaging.requirements
    from _pyinstaller_hooks_contrib.utils import nvidia_cuda

    requirements = [packaging.requirements.Requirement(r) for r in metadata.distribution("torch").requires or []]
    hiddenimports += nvidia_cuda.infer_hiddenimports_from_requirements(
        [r.name for r in requirements if r.marker is None or r.marker.evaluate()])
else:
    LAZY_CUDA_LIBRARIES = ("libtorch_cuda_linalg", "libcaffe2_nvrtc")
    binaries = [(src, dest) for src, dest in binaries
                if not os.path.basename(src).startswith(LAZY_CUDA_LIBRARIES)]

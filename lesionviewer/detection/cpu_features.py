"""What the processor offers the detector: native bf16 arithmetic and the CPUs this process may use.

Example:
    >>> native_bf16("flags : fpu avx512f avx512_bf16 amx_tile"), native_bf16("flags : fpu avx2")
    (True, False)
"""
from __future__ import annotations

import os


def native_bf16(cpuinfo: str | None = None) -> bool:
    """Whether the CPU multiplies bf16 natively (AVX512-BF16 or AMX-BF16 in ``/proc/cpuinfo``'s flags).

    Without native support, bf16 autocast on the CPU emulates the arithmetic and is slower than
    float32. ``cpuinfo`` is the file's text (read when None; False where there is no such file).

    Example:
        >>> native_bf16("flags : sse avx512f")
        False
    """
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                cpuinfo = handle.read()
        except OSError:
            return False
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, which containers and ``taskset`` narrow).

    Example:
        >>> usable_cpus() >= 1
        True
    """
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1

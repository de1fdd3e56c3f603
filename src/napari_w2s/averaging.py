"""Noise levels by frame averaging: the W2S protocol, custom levels and random subsets.

The W2S data set makes its noise levels from 400 consecutive frames of one field of view:

* ``avg1`` is the single frame at index 249;
* ``avgN`` (N = 2, 4, 8, 16) is the mean of the first N frames (indices 0 .. N-1);
* the clean image is the mean of all T frames, named ``avg{T}`` (``avg400`` in W2S).

:func:`iter_noise_levels` reads the stack once, in blocks of frames, so memory depends on the
frame size and the number of levels, never on T. Integer stacks are summed exactly in integers.
It is a generator that yields a :class:`~napari_w2s.progress.Progress` of frames done (for
progress bars and cooperative cancel) and returns a :class:`NoiseLevels`; :func:`noise_levels`
runs it to the end.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._parallel import n_threads, thread_pool
from ._validate import check_values
from .errors import W2SInputError
from .progress import Progress, relay

W2S_LEVELS: tuple[int, ...] = (1, 2, 4, 8, 16)  # the one definition of the W2S noise levels
W2S_LEVEL_NAMES: tuple[str, ...] = tuple(f"avg{n}" for n in W2S_LEVELS)
W2S_AVG1_FRAME = 249
W2S_FRAMES = 400
MODES = ("w2s", "first", "random")
_BLOCK_BYTES = 32 * 2**20


def noise_level_option(value: str | None, option: str = "--noise-level") -> str | None:
    """A user's noise-level choice, the same for every command and widget: ``None`` (blind),
    ``"auto"`` (from the image's signal-to-noise ratio, see ``restore.zoo.auto_level``) or one
    of :data:`W2S_LEVEL_NAMES` (``4`` and ``avg4`` alike)."""
    if value is None or value in ("blind", ""):
        return None
    if value == "auto":
        return "auto"
    level = value if value.startswith("avg") else f"avg{value}"
    if level not in W2S_LEVEL_NAMES:
        raise W2SInputError(
            f"{option} {value!r}: use auto, blind or one of {', '.join(map(str, W2S_LEVELS))}"
        )
    return level


@dataclass(frozen=True)
class NoiseLevels:
    """Averaged images, one per level, in the stack's units (float32).

    Attributes
    ----------
    images : dict of str to ndarray
        ``"avgN"`` names to images (shape of one frame), the clean ``avg{T}`` last.
    frames : dict of str to list of int
        The frame indices each level averaged.
    clean : str
        Name of the clean level, ``f"avg{n_frames}"``.
    n_frames : int
        Frames in the stack.
    notes : list of str
        What the function did that a user should know (e.g. a fallback for a short stack).
    """

    images: dict[str, np.ndarray]
    frames: dict[str, list[int]]
    clean: str
    n_frames: int
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.images[name]

    def names(self) -> list[str]:
        return list(self.images)


def parse_levels(text: str) -> tuple[int, ...]:
    """``"1,2,4,8,16"`` to ``(1, 2, 4, 8, 16)``; a clear error for anything else."""
    try:
        levels = tuple(int(v) for v in text.replace(" ", "").split(",") if v)
    except ValueError:
        raise W2SInputError(
            f"levels {text!r} must be whole numbers separated by commas, e.g. 1,2,4,8,16"
        ) from None
    if not levels:
        raise W2SInputError("give at least one level, e.g. --levels 1,2,4,8,16")
    return levels


def level_frames(
    n_frames: int,
    levels: Sequence[int] = W2S_LEVELS,
    mode: str = "w2s",
    seed: int | None = None,
    avg1_frame: int = W2S_AVG1_FRAME,
) -> tuple[dict[str, list[int]], list[str]]:
    """Which frames each level averages, and notes on any fallback.

    Parameters
    ----------
    n_frames : int
        Frames in the stack (T).
    levels : sequence of int
        Numbers of frames to average, each between 1 and T.
    mode : {"w2s", "first", "random"}
        ``"w2s"``: the W2S protocol (``avg1`` = frame ``avg1_frame``, ``avgN`` = frames 0..N-1).
        ``"first"``: every level from frame 0. ``"random"``: N distinct frames drawn with
        ``seed``, independently per level.
    seed : int, optional
        Seed of the random mode.
    avg1_frame : int
        The single frame of ``avg1`` in the ``"w2s"`` mode. A stack too short for it uses the
        frame at the same relative position (``avg1_frame * T // 400``) and says so in the notes.

    Returns
    -------
    frames : dict
        ``"avgN"`` to sorted frame indices, with the clean ``avg{T}`` (all frames) last.
    notes : list of str
    """
    if mode not in MODES:
        raise W2SInputError(f"unknown averaging mode {mode!r}; choose one of {', '.join(MODES)}")
    if n_frames < 2:
        raise W2SInputError(
            "noise levels need a stack of frames (T, Y, X); this image has a single frame"
        )
    levels = sorted(set(int(n) for n in levels))
    bad = [n for n in levels if n < 1 or n > n_frames]
    if bad:
        raise W2SInputError(
            f"level avg{bad[-1]} needs {bad[-1]} frames but the stack has {n_frames}; "
            f"choose levels between 1 and {n_frames}"
        )
    if avg1_frame < 0:
        raise W2SInputError(f"the avg1 frame {avg1_frame} is negative; frames count from 0")
    notes: list[str] = []
    rng = np.random.default_rng(seed)
    frames: dict[str, list[int]] = {}
    for n in levels:
        if mode == "random":
            frames[f"avg{n}"] = sorted(int(i) for i in rng.choice(n_frames, n, replace=False))
        elif n == 1 and mode == "w2s":
            index = avg1_frame
            if not 0 <= avg1_frame < n_frames:
                index = min(n_frames - 1, avg1_frame * n_frames // W2S_FRAMES)
                notes.append(
                    f"the stack has {n_frames} frames, too few for the W2S avg1 frame "
                    f"{avg1_frame}; avg1 is frame {index}, at the same relative position"
                )
            frames["avg1"] = [index]
        else:
            frames[f"avg{n}"] = list(range(n))
    frames[f"avg{n_frames}"] = list(range(n_frames))
    return frames, notes


def iter_noise_levels(
    data: Any,
    levels: Sequence[int] = W2S_LEVELS,
    mode: str = "w2s",
    seed: int | None = None,
    avg1_frame: int = W2S_AVG1_FRAME,
    block_frames: int | None = None,
) -> Generator[Progress, None, NoiseLevels]:
    """Average a stack into noise levels in one streaming pass; a generator.

    Parameters
    ----------
    data : array-like
        Frames on the first axis: ``(T, Y, X)`` or ``(T, C, Y, X)``; numpy, memory-mapped or
        dask. Read in blocks of ``block_frames`` frames (default: about 32 MiB per block).
    levels, mode, seed, avg1_frame
        See :func:`level_frames`.
    block_frames : int, optional
        Frames read at a time.

    Yields
    ------
    Progress
        Frames done so far of all frames (``unit="frame"``), after each block.

    Returns
    -------
    NoiseLevels
        Via ``StopIteration.value``; :func:`noise_levels` unwraps it.
    """
    if getattr(data, "ndim", 0) < 3:
        raise W2SInputError("noise levels need a stack of frames (T, Y, X); got a single 2-D image")
    n_frames = int(data.shape[0])
    frames, notes = level_frames(n_frames, levels, mode, seed, avg1_frame)
    dtype = np.dtype(data.dtype)
    if dtype.kind not in "uif":
        raise W2SInputError(f"pixel type {dtype} is not a number type")
    acc_dtype = np.int64 if dtype.kind in "ui" else np.float64
    if dtype.kind == "u" and dtype.itemsize <= 2:
        acc_dtype = np.uint32 if n_frames < 2**16 else np.uint64
    frame_shape = tuple(int(s) for s in data.shape[1:])
    frame_bytes = max(1, int(np.prod(frame_shape)) * dtype.itemsize)
    if block_frames is None:
        block_frames = max(1, _BLOCK_BYTES // frame_bytes)

    clean = f"avg{n_frames}"
    # three kinds of level: prefixes 0..N-1 (snapshots of the running sum), single frames
    # (copied as they pass), and arbitrary subsets (random mode: summed separately)
    prefix, single, subset = {}, {}, {}
    for name, idx in frames.items():
        if name == clean:
            continue
        if len(idx) == 1:
            single[name] = idx[0]
        elif idx == list(range(len(idx))):
            prefix[name] = len(idx)
        else:
            subset[name] = np.asarray(idx)
    total = np.zeros(frame_shape, acc_dtype)
    sums = {name: np.zeros(frame_shape, acc_dtype) for name in prefix}
    snapshots: dict[int, list[np.ndarray]] = {}
    for name, n in prefix.items():
        snapshots.setdefault(n, []).append(sums[name])
    subset_acc = {name: np.zeros(frame_shape, acc_dtype) for name in subset}
    bands = _row_bands(frame_shape)
    pool = thread_pool() if len(bands) > 1 else None

    for start in range(0, n_frames, block_frames):
        stop = min(n_frames, start + block_frames)
        block = np.asarray(data[start:stop])
        for name, index in single.items():
            if start <= index < stop:
                sums[name] = block[index - start].astype(
                    np.float64 if dtype.kind == "f" else acc_dtype
                )
        for name, idx in subset.items():
            inside = idx[(idx >= start) & (idx < stop)] - start
            for i in inside:
                np.add(subset_acc[name], block[i], out=subset_acc[name], casting="unsafe")
        if pool is None:
            _accumulate(block, start, total, snapshots, bands[0])
        else:  # numpy releases the GIL: row bands add up in parallel
            list(pool.map(lambda band: _accumulate(block, start, total, snapshots, band), bands))
        yield Progress(stop, n_frames, "frame")

    sums.update(subset_acc)
    images: dict[str, np.ndarray] = {}
    for name in frames:
        acc = total if name == clean else sums[name]
        mean = acc / np.float64(len(frames[name]))
        # NaN and Inf propagate into every sum: one check of each mean covers all its frames
        check_values(mean, "the stack")
        images[name] = mean.astype(np.float32)
    return NoiseLevels(images=images, frames=frames, clean=clean, n_frames=n_frames, notes=notes)


def _row_bands(frame_shape: tuple[int, ...]) -> list[tuple[slice, ...]]:
    """Split frames into row bands, one per worker thread (one band for small frames)."""
    rows = frame_shape[-2]
    n = min(n_threads(), rows) if int(np.prod(frame_shape)) >= 2**16 else 1
    edges = np.linspace(0, rows, n + 1).astype(int)
    lead = (slice(None),) * (len(frame_shape) - 2)
    return [(*lead, slice(a, b), slice(None)) for a, b in zip(edges[:-1], edges[1:])]


def _accumulate(
    block: np.ndarray,
    start: int,
    total: np.ndarray,
    snapshots: dict[int, list[np.ndarray]],
    band: tuple[slice, ...],
) -> None:
    """Add the frames of ``block`` to ``total`` in one row band, snapshotting prefix sums."""
    acc = total[band]
    for i in range(block.shape[0]):
        np.add(acc, block[i][band], out=acc, casting="unsafe")
        for target in snapshots.get(start + i + 1, ()):
            target[band] = acc


def noise_levels(
    data: Any,
    levels: Sequence[int] = W2S_LEVELS,
    mode: str = "w2s",
    seed: int | None = None,
    avg1_frame: int = W2S_AVG1_FRAME,
    block_frames: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> NoiseLevels:
    """Average a stack into noise levels (see :func:`iter_noise_levels`).

    ``progress(done, total)`` is called after each block of frames.

    Examples
    --------
    >>> import numpy as np
    >>> stack = np.arange(400 * 4, dtype=np.uint16).reshape(400, 2, 2)
    >>> lv = noise_levels(stack)
    >>> lv.names()
    ['avg1', 'avg2', 'avg4', 'avg8', 'avg16', 'avg400']
    >>> float(lv["avg1"][0, 0]), float(lv["avg2"][0, 0])
    (996.0, 2.0)
    """
    gen = iter_noise_levels(data, levels, mode, seed, avg1_frame, block_frames)
    return relay(gen, None if progress is None else lambda p: progress(int(p.done), int(p.total)))

"""The W2S averaging protocol, custom and random levels, streaming memory, bad inputs."""

from __future__ import annotations

import tracemalloc

import dask.array as da
import numpy as np
import pytest

from napari_w2s import W2SInputError
from napari_w2s.averaging import iter_noise_levels, level_frames, noise_levels, parse_levels
from tests.conftest import Reads, ramp_stack


def test_w2s_protocol_exact_values():
    stack = ramp_stack(frames=400, h=3, w=4)  # frame t = 100 t + pixel index
    lv = noise_levels(stack)
    assert lv.names() == ["avg1", "avg2", "avg4", "avg8", "avg16", "avg400"]
    assert lv.clean == "avg400" and lv.n_frames == 400 and lv.notes == []
    base = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(lv["avg1"], 24900 + base)  # frame 249
    for n in (2, 4, 8, 16):  # mean of frames 0..n-1 = 100 * (n - 1) / 2
        np.testing.assert_allclose(lv[f"avg{n}"], 50 * (n - 1) + base)
        assert lv.frames[f"avg{n}"] == list(range(n))
    np.testing.assert_allclose(lv["avg400"], 50 * 399 + base)
    assert all(img.dtype == np.float32 for img in lv.images.values())


@pytest.mark.parametrize("block", [1, 3, 7, 16, 1000])
def test_block_size_does_not_change_the_result(block):
    rng = np.random.default_rng(0)
    stack = rng.integers(0, 4000, (300, 5, 7)).astype(np.uint16)
    lv = noise_levels(stack, levels=(1, 3, 5, 16), mode="first", block_frames=block)
    for name, frames in lv.frames.items():
        np.testing.assert_allclose(lv[name], stack[frames].mean(axis=0), rtol=1e-6)


def test_random_subsets_are_seeded():
    stack = ramp_stack(frames=64, h=2, w=2)
    a = noise_levels(stack, levels=(2, 8), mode="random", seed=11)
    b = noise_levels(stack, levels=(2, 8), mode="random", seed=11)
    c = noise_levels(stack, levels=(2, 8), mode="random", seed=12)
    assert a.frames == b.frames and a.frames != c.frames
    assert len(set(a.frames["avg8"])) == 8
    np.testing.assert_allclose(a["avg8"], stack[a.frames["avg8"]].mean(axis=0))


def test_short_stack_falls_back_and_says_so():
    stack = ramp_stack(frames=100, h=2, w=2)
    lv = noise_levels(stack)
    assert lv.frames["avg1"] == [62]  # 249 * 100 // 400
    assert len(lv.notes) == 1 and "frame 62" in lv.notes[0]
    assert lv.clean == "avg100"


def test_custom_frame_for_avg1():
    lv = noise_levels(ramp_stack(frames=20, h=2, w=2), levels=(1,), avg1_frame=3)
    assert lv.frames["avg1"] == [3] and lv.notes == []


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"levels": (1, 32)}, "avg32 needs 32 frames but the stack has 20"),
        ({"levels": (0,)}, "choose levels between 1 and 20"),
        ({"mode": "median"}, "unknown averaging mode"),
    ],
)
def test_bad_levels(kwargs, match):
    with pytest.raises(W2SInputError, match=match):
        noise_levels(ramp_stack(frames=20), **kwargs)


def test_single_image_is_refused():
    with pytest.raises(W2SInputError, match="single 2-D image"):
        noise_levels(np.zeros((8, 8), np.uint16))
    with pytest.raises(W2SInputError, match="single frame"):
        level_frames(1)


def test_nan_is_refused():
    stack = np.ones((20, 4, 4), np.float32)
    stack[13, 1, 1] = np.nan
    with pytest.raises(W2SInputError, match="NaN"):
        noise_levels(stack, levels=(1, 2))


def test_channels_are_averaged_separately():
    stack = np.stack([ramp_stack(20, 4, 4), 2 * ramp_stack(20, 4, 4)], axis=1)  # T, C, Y, X
    lv = noise_levels(stack, levels=(4,))
    assert lv["avg4"].shape == (2, 4, 4)
    np.testing.assert_allclose(lv["avg4"][1], 2 * lv["avg4"][0])


def test_dask_input_and_progress():
    stack = ramp_stack(frames=40, h=4, w=4)
    seen = []
    lv = noise_levels(
        da.from_array(stack, chunks=(5, 4, 4)),
        levels=(1, 2),
        block_frames=10,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen == [(10, 40), (20, 40), (30, 40), (40, 40)]
    np.testing.assert_allclose(lv["avg40"], stack.mean(axis=0))


def test_generator_can_be_stopped_between_blocks():
    data = Reads(ramp_stack(frames=40, h=4, w=4))
    gen = iter_noise_levels(data, levels=(1,), block_frames=8)
    first = next(gen)
    assert (first.done, first.total, first.unit) == (8, 40, "frame")
    gen.close()  # a cancelled worker: nothing else is read
    assert data.reads == [slice(0, 8)]


def test_uint16_sums_are_exact_for_large_values():
    stack = np.full((400, 2, 2), 65535, np.uint16)
    stack[0] = 0
    lv = noise_levels(stack)
    assert lv["avg400"][0, 0] == pytest.approx(65535 * 399 / 400, rel=1e-7)
    assert lv["avg2"][0, 0] == pytest.approx(65535 / 2)


def test_memory_does_not_grow_with_frames(tmp_path):
    def peak(frames: int) -> int:
        path = tmp_path / f"s{frames}.npy"
        arr = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint16, shape=(frames, 64, 64))
        arr[:] = 7
        arr.flush()
        del arr
        data = np.load(path, mmap_mode="r")
        tracemalloc.start()
        noise_levels(data, block_frames=16)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    small, large = peak(64), peak(1024)
    assert large < 1.2 * small, (small, large)


def test_parse_levels():
    assert parse_levels("1, 2,4") == (1, 2, 4)
    with pytest.raises(W2SInputError, match="whole numbers"):
        parse_levels("1,two")
    with pytest.raises(W2SInputError, match="at least one"):
        parse_levels(",")

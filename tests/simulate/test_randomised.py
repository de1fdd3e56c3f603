"""The randomised training source, camera-independent noise levels and the generalisation benchmark."""

from __future__ import annotations

import numpy as np
import pytest

from napari_w2s.analysis.snr import estimate_snr
from napari_w2s.progress import drain
from napari_w2s.simulate.randomised import (
    EVALUATION_RANGES,
    HELD_OUT,
    Ranges,
    draw_settings,
    fwhm_px,
    make_view,
    shifted_settings,
)


def test_training_draws_cover_the_ranges_and_never_a_held_out_setting():
    rng = np.random.default_rng(0)
    draws = [draw_settings(rng) for _ in range(1500)]
    assert not [s for s in draws if any(h.contains(s) for h in HELD_OUT)]
    assert {s["camera"] for s in draws} == {"scmos", "emccd", "ccd"}
    peaks = [s["peak_photons"] for s in draws]
    assert min(peaks) < 8 and max(peaks) > 3000  # 5-5000 photons, log-uniform
    fw = [fwhm_px(s["na"], s["emission_nm"], s["lr_pixel_nm"]) for s in draws]
    assert Ranges().fwhm_px[0] <= min(fw) and max(fw) <= Ranges().fwhm_px[1]
    kinds = set().union(*(s["mix"] for s in draws))
    assert {"nuclei", "membranes", "network", "filaments"} <= kinds
    # the held-out sets' settings do fall inside their regions
    for h in HELD_OUT:
        assert h.contains(shifted_settings(h.name, rng)), h.name


def test_a_view_follows_the_w2s_protocol():
    s = draw_settings(np.random.default_rng(2), EVALUATION_RANGES)
    s.update(
        camera="scmos",
        gain=2.0,
        offset=300.0,
        read_noise_adu=3.0,
        peak_photons=200.0,
        background_photons=5.0,
        mix={"filaments": 1.0},
        export="raw",
    )
    v = make_view(s, 64, 5)
    assert set(v.levels) == {"avg1", "avg2", "avg4", "avg8", "avg16"}
    err = {k: float(np.std(img - v.clean)) for k, img in v.levels.items()}
    # averaging N frames divides the noise by about sqrt(N)
    assert 3.0 < err["avg1"] / err["avg16"] < 5.0, err
    assert v.sim.shape == (128, 128) and 250 < float(v.clean.min()) < 400  # offset 300 ADU
    down = v.sim.reshape(64, 2, 64, 2).mean((1, 3))
    assert np.corrcoef(down.ravel(), v.clean.ravel())[0, 1] > 0.8  # SIM is sharper than WF
    assert abs(float(down.mean() - v.clean.mean())) < 1e-2 * float(v.clean.std())


def test_views_come_raw_offset_subtracted_or_in_8_bits():
    rng = np.random.default_rng(5)
    draws = [draw_settings(rng, Ranges(w2s_like=0.0))["export"] for _ in range(400)]
    share = {k: draws.count(k) / 400 for k in ("raw", "offset-subtracted", "8-bit")}
    assert 0.65 < share["raw"] < 0.85 and 0.08 < share["offset-subtracted"] < 0.22, share
    s = draw_settings(np.random.default_rng(2), EVALUATION_RANGES)
    s.update(camera="scmos", gain=2.0, offset=300.0, read_noise_adu=3.0, peak_photons=100.0)
    sub = make_view({**s, "export": "offset-subtracted"}, 48, 1)
    assert float(sub.levels["avg1"].min()) == 0.0 and float(np.median(sub.clean)) < 150
    eight = make_view({**s, "export": "8-bit", "eight_bit_max": 200.0}, 48, 1)
    v = eight.levels["avg1"]
    assert v.max() <= 255 and np.all(v == np.rint(v)) and 150 < float(eight.clean.max()) < 210


def test_random_source_normalises_each_view_and_refreshes_the_pool():
    from napari_w2s.training.random_source import RandomSource

    src = RandomSource("jdsr", None, patch=32, seed=1, size=48, pool=3, refresh=2)
    x, y = src.batch(6)
    assert x.shape == (6, 1, 32, 32) and y.shape == (6, 1, 64, 64)
    assert src.views_drawn == 3 + 2
    src.batch(2)
    assert src.views_drawn == 3 + 4
    # each stored input maps to [0, 1] between its own 1 and 99.8 percentiles
    img, affine = src.pool[0].inputs["avg4"]
    z = affine.forward(img)
    assert np.percentile(z, 1) == pytest.approx(0, abs=1e-5)
    assert np.percentile(z, 99.8) == pytest.approx(1, abs=1e-5)
    spec = RandomSource("denoise", ["avg1"], patch=32, seed=1, size=48, pool=2, shift="low-light")
    spec.batch(1)
    assert spec.scale == 1 and spec.levels == ["avg1"]


def test_random_source_pixel_weights_undo_the_noisy_inputs_normalisation():
    """A noisy input's own range is inflated by its noise, so its normalisation shrinks the
    target; the weight is 1 / the target's range in that input's units, larger for avg1 than
    for avg16 of the same view, and a batch's weights have mean 1."""
    from napari_w2s.training.random_source import RandomSource

    src = RandomSource("jdsr", None, patch=32, seed=4, size=48, pool=12, refresh=0)
    src.batch(16)
    assert src.last_weights.shape == (16,)
    assert float(src.last_weights.mean()) == pytest.approx(1.0, abs=1e-5)
    for e in src.pool:
        for lv, w in e.weights.items():
            img, affine = e.inputs[lv]
            lo, hi = np.percentile(affine.forward(e.target), [1, 99.8])
            assert w == pytest.approx(1 / np.clip(hi - lo, 0.1, 10), rel=1e-5)
    ratio = [e.weights["avg1"] / e.weights["avg16"] for e in src.pool]
    assert np.median(ratio) > 1.05 and min(ratio) > 0.95, ratio


def test_train_on_random_data_from_shipped_weights(tmp_path):
    from napari_w2s.models.weights import read_card
    from napari_w2s.training.trainer import TrainConfig, iter_train

    cfg = TrainConfig(
        model="dncnn",
        data="random",
        out=str(tmp_path / "r"),
        levels=["avg1"],
        iterations=2,
        batch=2,
        patch=32,
        eval_views=1,
        random_size=48,
        random_pool=2,
        init="dncnn",
        pixel_weights="target-range",
        pixel_loss="l1",
        command="pytest",
    )
    card = read_card(drain(iter_train(cfg)))
    assert card.training["loss"]["pixel_weights"] == "target-range"
    assert card.training["loss"]["pixel"] == "l1"  # asked for; DnCNN's paper loss is MSE
    assert card.normalisation == {"kind": "percentile", "low": 1.0, "high": 99.8}
    rec = card.training["recipe"]
    assert rec["source"] == "randomised simulation" and set(rec["held_out"]) == {
        h.name for h in HELD_OUT
    }
    assert card.training["initialised_from"]["file"] == "dncnn-blind-compact.safetensors"
    snr = card.training["input_snr"]
    assert 0 < snr["p10"] <= snr["p50"] <= snr["p90"] and snr["images"] == 4
    assert card.metrics["split"] == "random, held-out seed" and card.metrics["avg1"]["rmse"] > 0


def test_cli_refuses_an_unknown_specialist_set(tmp_path, capsys):
    from napari_w2s.cli import main

    code = main(
        [
            "train",
            "--model",
            "care",
            "--data",
            "random:mars",
            "--out",
            str(tmp_path),
            "--iterations",
            "1",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "random:mars" in err and err.count("\n") == 1


def test_snr_is_camera_independent_and_orders_the_levels():
    s = draw_settings(np.random.default_rng(3))
    s.update(peak_photons=100.0, background_photons=2.0)
    v = make_view(s, 96, 1)
    snr = [estimate_snr(v.levels[f"avg{n}"]) for n in (1, 4, 16)]
    assert snr[0] < snr[1] < snr[2], snr
    x = v.levels["avg1"]
    assert estimate_snr(4.0 * x + 1000.0) == pytest.approx(snr[0], rel=1e-9)
    assert estimate_snr(np.full((32, 32), 5.0)) == 0.0


def test_snr_of_a_large_image_from_a_subsample(monkeypatch):
    """Above MAX_PIXELS the SNR is taken on every s-th pixel / 2 x 2 block: the same number as
    from every pixel (within 1 %), still camera-independent."""
    from napari_w2s.analysis import snr as S

    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:640, 0:600]
    img = 200 + 90 * np.sin(yy / 23) * np.cos(xx / 31) + rng.normal(0, 8, (640, 600))
    full = S.estimate_snr(img)
    monkeypatch.setattr(S, "MAX_PIXELS", 100 * 100)  # stride 7 here
    assert S._stride(img.shape) == 7
    assert S.estimate_snr(img) == pytest.approx(full, rel=0.01)
    assert S.estimate_snr(img) != full  # the subsample, not the whole image
    assert S.estimate_snr(4.0 * img + 300.0) == pytest.approx(S.estimate_snr(img), rel=1e-9)


def test_auto_level_picks_the_specialist_for_noisy_images_only(monkeypatch):
    from napari_w2s.restore import zoo

    cards = [
        {"name": "jdsr", "noise_level": "blind", "training": {}, "file": "b"},
        {
            "name": "jdsr",
            "noise_level": "avg1",
            "file": "a",
            "training": {"input_snr": {"p10": 5.0, "p50": 14.0, "p90": 60.0}},
        },
    ]
    monkeypatch.setattr(zoo, "shipped", lambda: cards)
    s = draw_settings(np.random.default_rng(3))
    s.update(
        peak_photons=30.0,
        background_photons=2.0,
        camera="scmos",
        gain=1.0,
        offset=100.0,
        read_noise_adu=2.0,
    )
    v = make_view(s, 96, 1)
    assert estimate_snr(v.levels["avg1"]) < 14 < estimate_snr(v.clean)
    for g, o in ((1.0, 0.0), (0.25, 1000.0), (4.0, 300.0)):
        assert zoo.auto_level("jdsr", g * v.levels["avg1"] + o) == "avg1"
        assert zoo.auto_level("jdsr", g * v.clean + o) is None
    assert zoo.auto_level("bicubic", v.levels["avg1"]) is None


def test_x2_consistency_sees_bias_and_grids():
    from napari_w2s.analysis.x2_check import x2_consistency
    from napari_w2s.restore.engine import resolve

    x = make_view(draw_settings(np.random.default_rng(6)), 64, 2).levels["avg16"]
    up = resolve("bicubic").run(x)
    ok = x2_consistency(x, up)
    assert ok["mean_shift_std"] < 0.01 and ok["corr"] > 0.99 and ok["grid_phase_std"] < 0.01
    grid = up + 0.1 * float(up.std()) * np.tile([[1, -1], [-1, 1]], (64, 64))
    assert x2_consistency(x, grid)["grid_phase_std"] > 0.05
    assert x2_consistency(x, up + float(x.std()))["mean_shift_std"] == pytest.approx(1.0, rel=1e-3)


def test_generalisation_benchmark_scores_in_the_inputs_units(tmp_path):
    from napari_w2s.benchmark.generalisation import iter_generalisation

    report = drain(
        iter_generalisation(
            tmp_path,
            views=1,
            size=48,
            sets=("camera", "w2s-like"),
            methods=("jdsr", "bicubic"),
            levels=("avg1", "avg16"),
        )
    )
    t = report["tables"]
    for name in ("camera", "w2s-like"):
        b1, b16 = t[name]["bicubic"]["avg1"], t[name]["bicubic"]["avg16"]
        assert b1["rmse"] > b16["rmse"] > 0  # the noisier input is further from SIM
    rows = {(c["set"], c["level"]): c for c in report["checks"]}
    assert rows[("camera", "avg1")]["vs_bicubic"] == pytest.approx(
        t["camera"]["jdsr"]["avg1"]["rmse"] / t["camera"]["bicubic"]["avg1"]["rmse"]
    )
    assert (tmp_path / "generalisation.md").read_text().count("| camera | avg") == 2


def test_a_quick_generalisation_draw_leaves_out_the_component_tables(tmp_path):
    """A validation draw (another seed, no denoiser or SR tables) scores only the rows asked
    for, and its report has no empty sections."""
    from napari_w2s.benchmark.generalisation import iter_generalisation

    report = drain(
        iter_generalisation(
            tmp_path,
            views=1,
            size=48,
            seed=777,
            sets=("camera",),
            methods=("bicubic",),
            levels=("avg1",),
            denoisers=(),
            sr=(),
        )
    )
    assert list(report["tables"]["camera"]) == ["bicubic"] and report["sr"] == {"camera": {}}
    (per_view,) = report["per_view"]["camera"]["bicubic"]["avg1"]  # one view: its (rmse, ssim)
    assert per_view == pytest.approx(
        list(report["tables"]["camera"]["bicubic"]["avg1"].values())[:2]
    )
    text = (tmp_path / "generalisation.md").read_text()
    assert "## camera" in text and "## Denoisers" not in text and "## SR networks" not in text


def test_small_test_views_always_hold_structure_to_score_against():
    """At 48 px, seed 778 first draws a scene without structure (a constant SIM, which the
    benchmark cannot score: it stopped with a traceback); such a view is drawn again."""
    from napari_w2s.benchmark.generalisation import _score, views_of

    for name in ("camera", "low-light"):
        (view,) = views_of(name, 1, 48, 778)
        assert float(np.ptp(view["target"])) > 0
        rmse, ssim = _score(view["inputs"]["avg16"].repeat(2, 0).repeat(2, 1), view)
        assert np.isfinite(rmse) and np.isfinite(ssim)


def test_paired_difference_of_jdsr_and_a_pipeline_has_its_standard_error():
    from napari_w2s.benchmark.generalisation_report import checks, paired_difference

    jdsr = [(0.30, 0.70, 1.0), (0.40, 0.60, 1.0), (0.50, 0.50, 1.0), (0.20, 0.80, 1.0)]
    seq = [(0.31, 0.69, 2.0), (0.42, 0.61, 2.0), (0.50, 0.52, 2.0), (0.21, 0.79, 2.0)]
    d = paired_difference(jdsr, seq)
    dr = np.array([-0.01, -0.02, 0.0, -0.01])
    ds = np.array([0.01, -0.01, -0.02, 0.01])
    assert d["views"] == 4
    assert d["rmse"] == pytest.approx(dr.mean()) and d["ssim"] == pytest.approx(ds.mean())
    assert d["rmse_se"] == pytest.approx(dr.std(ddof=1) / 2)
    assert d["ssim_se"] == pytest.approx(ds.std(ddof=1) / 2)
    # checks() attaches it to the best sequential pipeline's row (by mean RMSE)
    mean = lambda v: {"rmse": np.mean([x[0] for x in v]), "ssim": np.mean([x[1] for x in v])}  # noqa: E731
    per_view = {"camera": {"jdsr": {"avg1": jdsr}, "ridnet+rcan": {"avg1": seq}}}
    tables = {"camera": {m: {"avg1": mean(v["avg1"])} for m, v in per_view["camera"].items()}}
    (row,) = checks(tables, ["avg1"], per_view=per_view)
    assert row["best_sequential"] == "ridnet+rcan" and not row["beats_sequential"]
    assert row["vs_sequential"] == d


def test_a_fifth_of_the_draws_are_the_embedded_w2s_like_microscope():
    from napari_w2s.simulate.view import ViewParams

    rng = np.random.default_rng(8)
    draws = [draw_settings(rng) for _ in range(600)]
    w2s = [s for s in draws if s.get("w2s_like")]
    assert 0.15 < len(w2s) / 600 < 0.25
    base = ViewParams()
    for s in w2s:
        assert (s["camera"], s["gain"], s["na"], s["lr_pixel_nm"]) == ("emccd", 4.0, 1.49, 64.0)
        assert 0.7 * base.peak_photons <= s["peak_photons"] <= 1.4 * base.peak_photons
        assert s["emission_nm"] in (525.0, 600.0, 680.0) and s["export"] == "raw"
    # the evaluation sets never contain them: they stay what they were before the share existed
    ev = [draw_settings(np.random.default_rng(8), EVALUATION_RANGES) for _ in range(50)]
    assert not any(s.get("w2s_like") for s in ev)


def test_gan_models_train_on_any_patch_size_that_the_discriminator_can_take(tmp_path, capsys):
    """The discriminator follows the HR patch (2 x 16 = 32 here), not the paper's fixed 128."""
    from napari_w2s.cli import main
    from napari_w2s.models.weights import read_card
    from napari_w2s.training.trainer import TrainConfig, iter_train

    cfg = TrainConfig(
        model="esrgan",
        data="random",
        out=str(tmp_path / "g"),
        iterations=2,
        batch=2,
        patch=16,
        eval_views=1,
        random_size=32,
        random_pool=2,
        command="pytest",
    )
    card = read_card(drain(iter_train(cfg)))
    assert card.name == "esrgan" and card.metrics["clean"]["rmse"] > 0
    code = main(
        [
            "train",
            "--model",
            "esrgan",
            "--data",
            "random",
            "--out",
            str(tmp_path / "h"),
            "--patch",
            "20",
            "--iterations",
            "1",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "multiple of 32" in err and err.count("\n") == 1


def test_training_draws_scenes_dominated_by_one_kind_and_evaluation_never_does():
    def dominated(s):
        w = sorted(s["mix"].values())
        return len(w) > 1 and w[-2] < 0.1 * w[-1]

    rng = np.random.default_rng(7)
    draws = [draw_settings(rng, Ranges(w2s_like=0.0)) for _ in range(1200)]
    share = sum(map(dominated, draws)) / len(draws)
    # half of the views, less those of a single kind (a third): about a third dominated
    assert 0.25 < share < 0.42, share
    mains = {max(s["mix"], key=s["mix"].get) for s in draws if dominated(s)}
    assert "nuclei" in mains and len(mains) == 6, mains
    assert not [s for s in draws if any(h.contains(s) for h in HELD_OUT)]
    rng = np.random.default_rng(7)
    assert not any(dominated(draw_settings(rng, EVALUATION_RANGES)) for _ in range(600))


def test_the_w2s_like_share_of_a_training_run_can_be_set_and_is_recorded():
    from napari_w2s.training.random_source import RandomSource
    from napari_w2s.training.sources import recipe, training_ranges
    from napari_w2s.training.trainer import TrainConfig

    cfg = TrainConfig(model="dncnn", data="random", out="x", random_w2s_share=0.6)
    ranges = training_ranges(cfg)
    assert (
        ranges.w2s_like == 0.6
        and training_ranges(TrainConfig("dncnn", "random", "x")).w2s_like == 0.2
    )
    src = RandomSource("denoise", ["avg1"], patch=16, seed=3, size=16, pool=1, ranges=ranges)
    draws = [draw_settings(src.rng, src.ranges).get("w2s_like", False) for _ in range(300)]
    assert 0.5 < sum(draws) / 300 < 0.7
    assert recipe(cfg, src)["ranges"]["w2s_like"] == 0.6
    with pytest.raises(Exception, match="from 0 to 1"):
        training_ranges(TrainConfig("dncnn", "random", "x", random_w2s_share=1.5))


def _report(seed: int, jdsr: list, seq: list, specialist: dict | None = None) -> dict:
    """A hand-made generalisation report of one set, one level: per-view (rmse, ssim)."""
    from napari_w2s.benchmark.generalisation_report import _mean

    rows = {"jdsr": jdsr, "ridnet+rcan": seq}
    tables = {"camera": {r: {"avg1": _mean([(*v, 0.0) for v in pv])} for r, pv in rows.items()}}
    if specialist:
        tables["camera"]["specialist care"] = {"avg1": specialist}
    return {
        "views": len(jdsr),
        "size": 128,
        "seed": seed,
        "levels": ["avg1"],
        "tables": tables,
        "per_view": {"camera": {r: {"avg1": pv} for r, pv in rows.items()}},
        "specialists": {"camera": "care-camera.safetensors"} if specialist else {},
    }


def test_two_runs_on_one_draw_are_compared_view_by_view():
    """Choosing between weights: candidate A's JDSR against B's, paired over the same views."""
    from napari_w2s.benchmark.generalisation_report import compare_reports

    a = _report(
        778, [[0.30, 0.70], [0.40, 0.60], [0.50, 0.52]], [[0.31, 0.7], [0.4, 0.6], [0.5, 0.5]]
    )
    b = _report(
        778, [[0.33, 0.69], [0.40, 0.61], [0.53, 0.50]], [[0.31, 0.7], [0.4, 0.6], [0.5, 0.5]]
    )
    c = compare_reports(a, b)
    (cell,) = c["cells"]
    assert cell["rmse"] == pytest.approx(-0.02) and cell["ssim"] == pytest.approx(0.02 / 3)
    assert cell["rmse_se"] == pytest.approx(np.std([-0.03, 0.0, -0.03], ddof=1) / np.sqrt(3))
    assert c["rmse_ratio"] == pytest.approx(0.40 / 0.42) and c["lower_rmse"] == 1
    assert c["higher_ssim"] == 1
    # against another row of the same report: JDSR - RIDNet + RCAN
    assert compare_reports(a, a, "jdsr", "ridnet+rcan")["cells"][0]["rmse"] == pytest.approx(
        -0.01 / 3
    )
    with pytest.raises(ValueError, match="different draws"):
        compare_reports(a, _report(777, *[[[0.3, 0.7]] * 3] * 2))
    with pytest.raises(ValueError, match="per-view"):
        compare_reports(a, {k: v for k, v in b.items() if k != "per_view"})


def test_a_rerun_takes_the_specialists_of_an_earlier_report_of_the_same_draw():
    from napari_w2s.benchmark.generalisation_report import markdown, with_specialists_from

    spec = {"rmse": 0.32, "ssim": 0.65, "seconds": 0.1}
    earlier = _report(777, [[0.3, 0.7]] * 2, [[0.31, 0.69]] * 2, specialist=spec)
    new = _report(777, [[0.34, 0.7]] * 2, [[0.31, 0.69]] * 2)
    with_specialists_from(new, earlier, "earlier.json")
    (row,) = new["checks"]
    assert row["vs_specialist"] == pytest.approx(0.34 / 0.32) and row["vs_specialist_ok"]
    assert row["beats_sequential"] is False  # the new JDSR's own rows, not the earlier ones
    assert new["specialists"] == {"camera": "care-camera.safetensors"}
    assert "(earlier.json)" in markdown(new)
    with pytest.raises(ValueError, match="another draw"):
        with_specialists_from(_report(778, [[0.3, 0.7]] * 2, [[0.3, 0.7]] * 2), earlier)
    # the same draw with every network averaged over 8 orientations: other scores, refused
    averaged = {**new, "orientations": 8}
    assert "averaged over 8 orientations" in markdown(averaged)
    assert "orientations" not in markdown(new)
    with pytest.raises(ValueError, match="other orientations averaged"):
        with_specialists_from(averaged, earlier)


def test_an_auto_row_runs_what_noise_level_auto_would_choose(tmp_path, monkeypatch):
    """``jdsr@auto``: per input, the per-level model its SNR asks for; with none shipped, the
    noise-blind model (the same scores as the ``jdsr`` row); with one, that model's scores."""
    from napari_w2s.benchmark import generalisation as g
    from napari_w2s.restore import zoo

    def draw():
        return drain(
            g.iter_generalisation(
                tmp_path,
                views=1,
                size=48,
                sets=("low-light",),
                methods=("jdsr", "jdsr@auto"),
                levels=("avg1",),
                denoisers=(),
                sr=(),
            )
        )

    t = draw()["per_view"]["low-light"]
    assert t["jdsr@auto"]["avg1"] == t["jdsr"]["avg1"]
    asked = []

    def level(method, image):
        asked.append((method, float(np.std(image))))
        return "avg1"

    monkeypatch.setattr(zoo, "auto_level", level)
    # a per-level JDSR: the shipped weights, changed, with a card for avg1
    from dataclasses import replace

    import torch

    from napari_w2s.models.weights import load_model, save_model

    model, card = load_model(zoo.find_weights("jdsr"))
    with torch.no_grad():
        next(model.parameters()).mul_(0.5)
    per_level = save_model(
        model, tmp_path / "jdsr-avg1.safetensors", replace(card, noise_level="avg1")
    )
    shipped = zoo.find_weights
    monkeypatch.setattr(
        zoo, "find_weights", lambda m, lv=None: per_level if lv == "avg1" else shipped(m, lv)
    )
    t = draw()["per_view"]["low-light"]
    assert [m for m, _ in asked] == ["jdsr"] and asked[0][1] > 0  # once, on the input itself
    assert t["jdsr@auto"]["avg1"] != t["jdsr"]["avg1"]  # the per-level model's scores


def test_jdsr_against_the_pipeline_by_the_inputs_snr():
    """Input by input, binned by the estimated SNR: where JDSR's edge holds and where not."""
    from napari_w2s.benchmark.generalisation_report import by_snr, markdown

    report = _report(
        778,
        [[0.50, 0.40], [0.48, 0.45], [0.30, 0.70], [0.20, 0.80]],
        [[0.49, 0.42], [0.47, 0.44], [0.33, 0.66], [0.24, 0.75]],
    )
    report["input_snr"] = {"camera": {"avg1": [7.0, 7.5, 30.0, 40.0]}}
    bins = by_snr(report, bins=(0, 10, float("inf")))
    low, high = bins
    assert low["snr"] == [0, 10] and low["inputs"] == 2 and low["higher_rmse"] == 2
    assert low["rmse"] == pytest.approx(0.01) and low["ssim"] == pytest.approx(-0.005)
    assert low["ssim_se"] == pytest.approx(np.std([-0.02, 0.01], ddof=1) / np.sqrt(2))
    assert (
        high["inputs"] == 2 and high["rmse"] == pytest.approx(-0.035) and high["higher_rmse"] == 0
    )
    assert "by the input's SNR" in markdown({**report, "checks": []})
    assert by_snr({**report, "input_snr": {}}) == []  # a report written before SNRs were kept

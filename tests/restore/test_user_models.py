"""The user's model folder: listed next to the shipped models, picked by file stem."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from napari_w2s.errors import W2SInputError
from napari_w2s.restore import zoo


def install_copy(folder, stem="jdsr-mine", method="jdsr"):
    """A user model: a copy of a shipped model under another stem."""
    src = zoo.find_weights(method)
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, folder / f"{stem}.safetensors")
    card = json.loads(src.with_suffix(".json").read_text())
    card["training"]["initialised_from"] = {"file": src.name}
    (folder / f"{stem}.json").write_text(json.dumps(card))
    return folder / f"{stem}.safetensors"


@pytest.fixture
def user_dir(tmp_path, monkeypatch):
    folder = tmp_path / "models"
    monkeypatch.setenv("NAPARI_W2S_MODELS", str(folder))
    return folder


def test_user_models_are_listed_and_found_by_stem(user_dir, capsys):
    from napari_w2s.cli import main

    assert zoo.user_models() == []
    path = install_copy(user_dir)
    (user_dir / "broken.json").write_text("{")
    (user_dir / "broken.safetensors").write_bytes(b"x")
    shutil.copy(path, user_dir / "jdsr.safetensors")  # a method's name: never shadows it
    shutil.copy(path.with_suffix(".json"), user_dir / "jdsr.json")
    cards = zoo.user_models()
    assert [c["stem"] for c in cards] == ["jdsr-mine"] and cards[0]["source"] == "user"
    assert zoo.find_weights("jdsr-mine") == path
    assert zoo.find_weights("jdsr").parent == zoo.ZOO  # a method name means the shipped weights
    assert main(["models", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    mine = [r for r in rows if r.get("source") == "user"]
    assert [r["name"] for r in mine] == ["jdsr-mine"] and mine[0]["method"] == "jdsr"
    assert main(["models"]) == 0
    assert "jdsr-mine" in capsys.readouterr().out


def test_restore_with_a_user_model_by_stem(user_dir):
    from napari_w2s.restore.engine import resolve

    install_copy(user_dir)
    pipe = resolve("jdsr-mine", device="cpu")
    assert pipe.scale == 2 and pipe.steps[0].weights.name == "jdsr-mine.safetensors"
    out = pipe.run(np.random.default_rng(0).random((24, 24)).astype(np.float32))
    assert out.shape == (48, 48)
    pipe = resolve("jdsr", device="cpu", weights="jdsr-mine")  # --weights by stem
    assert pipe.steps[0].weights.name == "jdsr-mine.safetensors"


def test_a_corrupted_user_model_is_refused(user_dir):
    from napari_w2s.restore.engine import resolve

    path = install_copy(user_dir)
    raw = bytearray(path.read_bytes())
    raw[-10] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(W2SInputError, match="do not match their model card"):
        resolve("jdsr-mine", device="cpu")


def test_check_stem():
    assert zoo.check_stem("jdsr-mine-1") == "jdsr-mine-1"
    for bad in ("jdsr", "jdsr-blind-compact", "Big Name", "", "a+b"):
        with pytest.raises(W2SInputError):
            zoo.check_stem(bad)

"""`w2s batch --scheduler`: files as tasks on a Dask cluster (LocalCluster on loopback), the same
results as a local run."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tifffile

from napari_w2s.batch import run_batch
from napari_w2s.cli import main
from tests.batch.test_batch import good_folder, partials

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.filterwarnings("ignore:Port .* is already in use")


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=False,
        dashboard_address=None,
        protocol="tcp://",
        host="127.0.0.1",
    ) as c:
        yield c


def test_cluster_run_equals_local_run(tmp_path, cluster, capsys):
    src = good_folder(tmp_path / "in", n=5)
    (src / "broken.tif").write_bytes(b"not a tiff at all")
    local = run_batch(src, "*", tmp_path / "local", "pure-let")
    code = main(
        [
            "batch",
            str(src),
            str(tmp_path / "remote"),
            "--method",
            "pure-let",
            "--scheduler",
            cluster.scheduler_address,
            "--json",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 3 and "broken.tif" in err
    rep = json.loads(out)
    assert rep["scheduler"] == cluster.scheduler_address
    assert rep["counts"] == local.counts() == {"done": 5, "skipped": 0, "failed": 1, "pending": 0}
    names = sorted(p.name for p in (tmp_path / "local").glob("*.ome.tif"))
    assert len(names) == 5
    assert names == sorted(p.name for p in (tmp_path / "remote").glob("*.ome.tif"))
    for name in names:
        np.testing.assert_array_equal(
            tifffile.imread(tmp_path / "local" / name), tifffile.imread(tmp_path / "remote" / name)
        )
    assert partials(tmp_path / "remote") == []
    # a second run on the cluster skips what is done
    again = run_batch(
        src, "*", tmp_path / "remote", "pure-let", scheduler=cluster.scheduler_address
    )
    assert again.counts()["skipped"] == 5


def test_worker_processes(tmp_path):
    """Tasks pickled to a separate worker process (as on a real cluster)."""
    src = good_folder(tmp_path / "in", n=3)
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=2,
        processes=True,
        dashboard_address=None,
        worker_dashboard_address=None,
        host="127.0.0.1",
    ) as c:
        report = run_batch(src, "*", tmp_path / "out", "bicubic", scheduler=c.scheduler_address)
    assert report.ok and report.counts()["done"] == 3
    assert {f.worker.split(":")[1] for f in report.files} != {str(os.getpid())}


def test_unreachable_scheduler_is_a_user_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("napari_w2s.batch.cluster.CONNECT_TIMEOUT_S", 1)
    src = good_folder(tmp_path / "in", n=2)
    code = main(
        [
            "batch",
            str(src),
            str(tmp_path / "out"),
            "--method",
            "bicubic",
            "--scheduler",
            "tcp://127.0.0.1:9",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and "cannot connect to the Dask scheduler" in err and err.count("\n") == 1
    assert not any((tmp_path / "out").glob("*.ome.tif"))

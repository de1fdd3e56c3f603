"""``w2s doctor``: what this installation runs on, in one report (for bug reports).

Versions come from the installed packages' metadata (:mod:`importlib.metadata`): napari and the
Qt binding are *not* imported, so the report takes about as long as importing torch (under 3 s).
torch is imported, because the devices and the choice of ``auto`` can only be asked from it.

Sections: ``python``, ``packages``, ``qt`` (the bindings installed and the one qtpy would take),
``devices`` (CUDA devices with names and memory, MPS, CPU threads), ``auto`` (the device
``--device auto`` picks and why), ``display`` (``$DISPLAY`` / ``$WAYLAND_DISPLAY``, Xvfb on the
PATH, the OpenGL libraries), ``weights`` (each shipped model and whether its sha256 matches its
card), and ``problems`` (one line each, empty when all is well).
"""

from __future__ import annotations

import os
import platform
import shutil
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

PACKAGES = (
    "napari-w2s",
    "torch",
    "numpy",
    "scipy",
    "scikit-image",
    "tifffile",
    "dask",
    "safetensors",
    "napari",
    "npe2",
    "magicgui",
    "qtpy",
    "superqt",
    "vispy",
    "bioimageio.core",
    "bm3d",
    "distributed",
    "pytest-xvfb",
)
#: Qt bindings in the order qtpy tries them when ``QT_API`` is not set
QT_BINDINGS = ("PyQt5", "PySide2", "PyQt6", "PySide6")
XVFB_HINT = (
    "install a display server for headless use: apt-get install xvfb libgl1 libegl1 "
    "(the full list is in docs/installation.md)"
)


def version(dist: str) -> str | None:
    """The installed version of a distribution, or None."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def qt_info() -> dict:
    """Qt bindings installed and the one qtpy would use (from metadata and ``QT_API``)."""
    installed = {name: version(name) for name in QT_BINDINGS if version(name)}
    api = os.environ.get("QT_API", "").strip().lower()
    chosen = None
    if api:
        chosen = next((n for n in installed if n.lower() == api), None)
    if chosen is None and installed:
        chosen = next(iter(installed))
    return {
        "installed": installed,
        "QT_API": api or None,
        "binding": chosen,
        "version": installed.get(chosen) if chosen else None,
    }


def cpu_info() -> dict:
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    return {
        "logical_cpus": os.cpu_count(),
        "usable_cpus": affinity,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }


def device_info() -> tuple[dict, dict]:
    """(``devices``, ``auto``): what torch sees, and what ``--device auto`` picks and why."""
    cpu = cpu_info()
    try:
        import torch
    except Exception as err:  # torch is a dependency, but a broken install is what doctor is for
        return {"cpu": cpu, "error": f"torch cannot be imported: {err}"}, {
            "device": None,
            "why": "no torch",
        }
    from .restore.device import available_devices, choose_device, describe

    cuda: dict[str, Any] = {
        "available": bool(torch.cuda.is_available()),
        "built_with": torch.version.cuda,
        "devices": [],
    }
    if cuda["available"]:
        for i in range(torch.cuda.device_count()):
            p = torch.cuda.get_device_properties(i)
            cuda["devices"].append(
                {
                    "index": i,
                    "name": p.name,
                    "memory_gib": round(p.total_memory / 2**30, 1),
                    "capability": f"{p.major}.{p.minor}",
                }
            )
    mps_backend = getattr(torch.backends, "mps", None)
    mps = {
        "available": bool(mps_backend is not None and mps_backend.is_available()),
        "built": bool(mps_backend is not None and mps_backend.is_built()),
    }
    cpu["torch_threads"] = torch.get_num_threads()
    from .restore.device import cpu_has_native_bf16

    cpu["native_bfloat16"] = cpu_has_native_bf16()  # --precision bfloat16 runs at speed
    devices = {"cuda": cuda, "mps": mps, "cpu": cpu}
    available = available_devices()
    dev = choose_device("auto")
    if dev.type == "cuda":
        why = "CUDA is available (auto prefers CUDA, then MPS, then the CPU)"
    elif dev.type == "mps":
        why = "no CUDA; Apple MPS is available (auto prefers CUDA, then MPS, then the CPU)"
    else:
        reasons = []
        if torch.version.cuda is None:
            reasons.append(f"this torch ({torch.__version__}) is built without CUDA")
        else:
            reasons.append("torch has CUDA but sees no usable GPU (driver, CUDA_VISIBLE_DEVICES?)")
        if not mps["available"]:
            reasons.append("no Apple MPS")
        why = "; ".join(reasons) + " -> the CPU"
    return devices, {
        "device": str(dev),
        "description": describe(dev),
        "why": why,
        "available": available,
    }


def display_info() -> dict:
    """A display (or Xvfb to make one) and the OpenGL libraries napari's canvas needs."""
    import ctypes.util

    libs = {}
    for name in ("GL", "EGL", "OSMesa"):
        try:
            libs[name] = ctypes.util.find_library(name)
        except Exception:  # find_library runs ldconfig/gcc; never fail the report for it
            libs[name] = None
    display = os.environ.get("DISPLAY") or None
    wayland = os.environ.get("WAYLAND_DISPLAY") or None
    xvfb = shutil.which("Xvfb")
    return {
        "DISPLAY": display,
        "WAYLAND_DISPLAY": wayland,
        "QT_QPA_PLATFORM": os.environ.get("QT_QPA_PLATFORM") or None,
        "xvfb": xvfb,
        "opengl": libs,
        "gui_possible": bool(display or wayland or xvfb or sys.platform in ("darwin", "win32")),
    }


def weights_info() -> list[dict]:
    """Each shipped model with its sha256 checked against its card."""
    from .models.weights import sha256_file
    from .restore.zoo import shipped

    out = []
    for card in shipped():
        path = Path(card["file"])
        try:
            ok = bool(card.get("sha256")) and sha256_file(path) == card["sha256"]
            state = (
                "ok"
                if ok
                else ("no checksum in the card" if not card.get("sha256") else "MISMATCH")
            )
        except OSError as err:
            ok, state = False, f"unreadable ({err.strerror})"
        out.append(
            {
                "file": path.name,
                "method": card.get("name"),
                "noise_level": card.get("noise_level"),
                "size_kib": round(path.stat().st_size / 1024) if path.exists() else None,
                "sha256_ok": ok,
                "state": state,
            }
        )
    return out


def report() -> dict:
    """The whole report (a JSON-ready dict)."""
    t0 = time.perf_counter()
    packages = {name: version(name) for name in PACKAGES}
    devices, auto = device_info()
    display = display_info()
    weights = weights_info()
    problems = []
    if packages["napari"] is None:
        problems.append("napari is not installed: the plugin needs pip install 'napari-w2s[all]'")
    qt = qt_info()
    if packages["napari"] and not qt["installed"]:
        problems.append("no Qt binding: pip install pyqt6 (or 'napari[all]')")
    if not display["gui_possible"]:
        problems.append(
            f"no display and no Xvfb: the napari viewer and the GUI tests cannot run; {XVFB_HINT}"
        )
    elif not display["opengl"].get("GL") and not display["opengl"].get("EGL"):
        problems.append(
            "no OpenGL library found (libGL / libEGL): napari's canvas needs one; "
            "apt-get install libgl1 libegl1"
        )
    bad = [w["file"] for w in weights if not w["sha256_ok"]]
    if bad:
        problems.append(
            f"shipped weights do not match their cards: {', '.join(bad)}; reinstall napari-w2s"
        )
    if "error" in devices:
        problems.append(devices["error"])
    return {
        "python": {
            "version": platform.python_version(),
            "implementation": platform.python_implementation(),
            "executable": sys.executable,
            "platform": platform.platform(),
            "napari_w2s_from": str(Path(__file__).resolve().parent),
        },
        "packages": packages,
        "qt": qt,
        "devices": devices,
        "auto": auto,
        "display": display,
        "weights": weights,
        "problems": problems,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def format_report(r: dict) -> str:
    """The report as text (what ``w2s doctor`` prints)."""
    lines = [
        f"python     {r['python']['version']} ({r['python']['executable']})",
        f"napari_w2s {r['packages']['napari-w2s']} from {r['python']['napari_w2s_from']}",
        f"platform   {r['python']['platform']}",
    ]
    pk = r["packages"]
    lines.append("packages   " + ", ".join(f"{k} {v}" for k, v in pk.items() if v))
    missing = [k for k, v in pk.items() if not v]
    if missing:
        lines.append("not installed: " + ", ".join(missing))
    qt = r["qt"]
    lines.append(
        f"qt         {qt['binding'] or 'none'} {qt['version'] or ''}".rstrip()
        + (
            f" (installed: {', '.join(f'{k} {v}' for k, v in qt['installed'].items())})"
            if len(qt["installed"]) > 1
            else ""
        )
        + (f", QT_API={qt['QT_API']}" if qt["QT_API"] else "")
    )
    dv = r["devices"]
    if "error" in dv:
        lines.append(f"devices    {dv['error']}")
    else:
        cuda = dv["cuda"]
        if cuda["devices"]:
            for d in cuda["devices"]:
                lines.append(
                    f"cuda:{d['index']}     {d['name']}, {d['memory_gib']} GiB, "
                    f"compute {d['capability']}"
                )
        else:
            lines.append(
                f"cuda       none (torch built with CUDA {cuda['built_with']})"
                if cuda["built_with"]
                else "cuda       none (CPU-only torch)"
            )
        lines.append(f"mps        {'available' if dv['mps']['available'] else 'no'}")
    cpu = dv["cpu"]
    lines.append(
        f"cpu        {cpu['usable_cpus']} usable of {cpu['logical_cpus']} logical CPUs, "
        f"torch uses {cpu.get('torch_threads', '?')} threads"
        + (f" (OMP_NUM_THREADS={cpu['OMP_NUM_THREADS']})" if cpu["OMP_NUM_THREADS"] else "")
        + (
            "; native bfloat16 (--precision bfloat16 is faster)"
            if cpu.get("native_bfloat16")
            else ""
        )
    )
    auto = r["auto"]
    lines.append(f"auto       {auto.get('description') or auto['device']}: {auto['why']}")
    ds = r["display"]
    where = (
        ds["DISPLAY"]
        and f"DISPLAY={ds['DISPLAY']}"
        or ds["WAYLAND_DISPLAY"]
        and f"WAYLAND_DISPLAY={ds['WAYLAND_DISPLAY']}"
        or "none"
    )
    gl = ", ".join(f"{k}: {v or 'missing'}" for k, v in ds["opengl"].items())
    lines.append(f"display    {where}; Xvfb {ds['xvfb'] or 'not found'}; {gl}")
    for w in r["weights"]:
        lines.append(f"weights    {w['file']} ({w['size_kib']} KiB): sha256 {w['state']}")
    if r["problems"]:
        lines += [f"problem    {p}" for p in r["problems"]]
    else:
        lines.append("problems   none found")
    lines.append(f"({r['seconds']} s)")
    return "\n".join(lines)

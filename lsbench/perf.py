"""Write ``reports/performance.md`` from the pytest-benchmark JSON of ``make bench``.

``make bench`` runs the performance suite (``tests/bench/test_performance.py``) with
``--benchmark-json`` and then ``python -m lsbench.perf BENCH_JSON --out reports/performance.md``.
Every figure in the report is computed here from that JSON: medians over the timed rounds (wall
clock), per image where one timed call processes several images (the call's time divided by its
number of images, said so in each table), ratios of medians, the fitted exponent of time against
pixel count, and each target of issues 8 and 17 with whether it is met. The JSON also records the machine,
its load average before and after the run, the thread settings and the library versions, which the
report states first: timings taken on a busy machine are marked as such.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from lsbench.atomic import atomic_write_text

__all__ = ["build_report", "fit_exponent", "main"]

CLASSIC = ("drlse", "li", "lic", "l2s")
BACKENDS = ("numpy", "numba", "torch")
#: the sizes over which the time exponent is fitted (issue 17: 128^2 to 1024^2)
EXPONENT_SIDES = (128, 256, 512, 1024)
_NAMES = {"cv": "Chan–Vese", "drlse": "DRLSE", "li": "RSF (li)", "lic": "LIC", "l2s": "L2S"}


def fit_exponent(sides: Sequence[int], seconds: Sequence[float]) -> float:
    """Least-squares slope of ``log(seconds)`` against ``log(pixels)`` (``pixels = side^2``)."""
    x = np.log(np.asarray(sides, dtype=float) ** 2)
    y = np.log(np.asarray(seconds, dtype=float))
    if len(x) < 2 or not np.all(np.isfinite(y)):
        return math.nan
    return float(np.polyfit(x, y, 1)[0])


class _Bench:
    """One benchmark of the JSON: median seconds per call, per image, and its extra info."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.name = raw.get("name", "")
        self.info = raw.get("extra_info") or {}
        stats = raw.get("stats") or {}
        self.median = float(stats.get("median", math.nan))
        self.min = float(stats.get("min", math.nan))
        self.rounds = int(stats.get("rounds", 0))
        self.images = int(self.info.get("images") or 1)

    @property
    def per_image(self) -> float:
        return self.median / self.images

    def get(self, key: str, default: Any = None) -> Any:
        return self.info.get(key, default)


def _find(benches: list[_Bench], **match: Any) -> _Bench | None:
    for b in benches:
        if all(b.get(k) == v for k, v in match.items()):
            return b
    return None


def _s(x: float) -> str:
    if x is None or not math.isfinite(x):
        return "–"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 1:
        return f"{x:.2f}"
    if x >= 0.01:
        return f"{x:.3f}"
    return f"{x * 1e3:.2f} ms".replace(" ms", "e-3")


def _ms(x: float) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{x * 1e3:.1f}"


def _pct(x: float | None) -> str:
    return "–" if x is None or not math.isfinite(x) else f"{100 * x:.2f}"


def _ratio(a: float | None, b: float | None) -> float:
    if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)) or b <= 0:
        return math.nan
    return a / b


def _x(r: float) -> str:
    return "–" if not math.isfinite(r) else f"{r:.2f}x"


def _yes(ok: bool | None) -> str:
    return "–" if ok is None else ("**yes**" if ok else "**no**")


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], align: str = "") -> list[str]:
    align = align or "l" + "r" * (len(header) - 1)
    sep = ["---:" if a == "r" else "---" for a in align]
    return ["| " + " | ".join(header) + " |", "| " + " | ".join(sep) + " |",
            *["| " + " | ".join(map(str, r)) + " |" for r in rows], ""]


def build_report(data: dict[str, Any], source: str = "") -> str:
    """The markdown of ``reports/performance.md`` for one pytest-benchmark JSON document."""
    benches = [_Bench(b) for b in data.get("benchmarks", [])]
    machine = data.get("machine_info") or {}
    extra = machine.get("lsbench") or {}
    commit = data.get("commit_info") or {}
    cpu = (machine.get("cpu") or {}).get("brand_raw", machine.get("processor", ""))
    load0 = extra.get("load_average_at_start") or []
    load1 = extra.get("load_average_at_end") or []
    cores = extra.get("logical_cores") or (machine.get("cpu") or {}).get("count")
    # other work before the suite started; the end load includes the suite's own threads, so it
    # flags a busy machine only beyond what the suite itself can add (one run queue per core)
    busy = bool(load0 and cores and (load0[0] > 0.5 * cores or (load1 or [0])[0] > 1.5 * cores))
    out = ["# Performance", "",
           "Written by `python -m lsbench.perf` from the pytest-benchmark results of `make bench` "
           f"({source or 'benchmark JSON'}); every number below is measured, medians of the timed rounds "
           "(wall clock, `time.perf_counter`). Regenerate on a quiet machine with `make bench`.", ""]
    env = extra.get("env") or {}
    versions = extra.get("versions") or {}
    out += _table(["", ""], [
        ["measured", str(data.get("datetime", ""))[:19].replace("T", " ") + " UTC"],
        ["commit", f"{extra.get('git_commit') or commit.get('id', '')[:7]}" + (" (uncommitted changes)" if commit.get("dirty") else "")],
        ["machine", f"{cpu}, {cores} logical cores, {machine.get('system', '')} {machine.get('release', '')}"],
        ["GPU", extra.get("cuda") or "none (CPU only)"],
        ["load average (1, 5, 15 min)", f"{_loads(load0)} at start, {_loads(load1)} at end"
         + (" — **the machine was busy: timings are contended**" if busy else "")],
        ["threads", _threads_text(extra, env)],
        ["versions", ", ".join(f"{k} {v}" for k, v in versions.items())],
        ["suite wall time", f"{extra.get('wall_seconds', '–')} s"],
    ], "ll")

    out += _targets(benches, extra.get("cuda") or "")
    out += _cv_skimage(benches)
    out += _cv_batch(benches)
    out += _classic(benches)
    out += _scaling(benches)
    out += _learned(benches)
    out += _instance(benches)
    out += _demo(benches)
    return "\n".join(out).rstrip() + "\n"


def _threads_text(extra: dict[str, Any], env: dict[str, Any]) -> str:
    numba = extra.get("numba") or {}
    parts = [f"torch {extra.get('torch_threads', '–')} (the `*-torch` methods: "
             f"{extra.get('torch_method_threads', 'torch default')})"]
    if numba:
        parts.append(f"numba {numba.get('threads', '–')} at 256² when the suite ended "
                     f"({numba.get('threading_layer', '–')} layer; each row's *threads* are those its calls chose)")
    return "; ".join(parts) + "; " + ", ".join(f"{k}={v or 'unset'}" for k, v in env.items())


def _loads(values: Sequence[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values) if values else "–"


# -- the targets of issues 8 and 17 --------------------------------------------------------------------------
def _targets(benches: list[_Bench], gpu: str) -> list[str]:
    rows = []
    for side in (256, 512):
        sk = _find(benches, table="cv_skimage", side=side, impl="skimage")
        nb = _find(benches, table="cv_skimage", side=side, impl="numba")
        nb1 = _find(benches, table="cv_skimage", side=side, impl="numba-1-thread")
        if sk and nb:
            r, r1 = _ratio(sk.median, nb.median), _ratio(sk.median, nb1.median) if nb1 else math.nan
            same = bool(nb.get("identical_masks")) and (nb1 is None or bool(nb1.get("identical_masks")))
            diff = max(float(x.get("phi_max_abs_diff", math.nan)) for x in (nb, nb1) if x is not None)
            rows.append(["17", f"compiled Chan–Vese >= 10x scikit-image at {side}², >= 6x on one thread, identical "
                               "masks, phi within 1e-12",
                         f"{_x(r)}, one thread {_x(r1)}; masks identical: {same}; max |phi - phi_skimage| {diff:.1e}",
                         _yes(r >= 10 and r1 >= 6 and same and diff <= 1e-12)])
    skl = _find(benches, table="cv_batch", impl="skimage-loop")
    cpu = [b for b in benches if b.get("table") == "cv_batch" and b.get("impl") not in ("skimage-loop", None)
           and b.get("device", "cpu") == "cpu"]
    paired = _find(benches, table="cv_batch_paired")
    if skl and cpu:
        best = min(cpu, key=lambda b: b.per_image)
        r = _ratio(skl.per_image, best.per_image)
        measured, ok = f"{_x(r)} ({best.get('impl')})", r >= 20
        if paired is not None:  # the ratio side by side in time decides; the unpaired one is shown beside it
            rp = float(paired.get("ratio_median", math.nan))
            rounds = ", ".join(_x(x) for x in paired.get("round_ratios") or [])
            measured, ok = (f"{_x(rp)} paired ({paired.get('impl')}; rounds {rounds}); unpaired {measured}",
                            rp >= 20)
        rows.append(["17", "batched Chan–Vese on the CPU (best backend, 32 x 128²) >= 20x scikit-image's per-image "
                           "throughput", measured, _yes(ok)])
    for m in CLASSIC:
        n = _find(benches, table="classic", method=m, backend="numpy", side=256)
        c = _find(benches, table="classic", method=m, backend="numba", side=256)
        if n is None or c is None:
            continue
        r = _ratio(n.per_image, c.per_image)
        rows.append(["17", f"{_NAMES[m]}: compiled >= 4x NumPy at 256², < 0.3 s per image",
                     f"{_x(r)}, {_s(c.per_image)} s", _yes(r >= 4 and c.per_image < 0.3)])
        a, floor = c.get("agreement_per_image"), c.get("numpy_self_agreement_per_image")
        if a is not None and floor is not None:
            worse = sum(x < f for x, f in zip(a, floor, strict=False))
            mean, floor_mean = c.get("agreement_mean"), c.get("numpy_self_agreement_mean")
            rows.append(["17", f"{_NAMES[m]}: compiled masks agree with NumPy's at least as well as NumPy with itself "
                               "from a 1e-12-perturbed start (256², mean over the images)",
                         f"mean {_pct(mean)} % vs {_pct(floor_mean)} % ({worse} of {len(a)} images below their own "
                         "floor)", _yes(mean >= floor_mean)])
    for method in ("cv", *CLASSIC):
        for backend in BACKENDS:
            e = _exponent(benches, method, backend)
            if math.isfinite(e):
                rows.append(["17", f"{_NAMES[method]} ({backend}): time exponent on pixel count <= 1.1 (128²..1024²)",
                             f"{e:.2f}", _yes(e <= 1.1)])
    rows.append(["17", "torch backends on the GPU (batch of 256 at 256²)",
                 gpu or "not measured: no GPU in this run (none was lent to the session that ran it)",
                 "–" if not gpu else "measured"])
    for m in CLASSIC:
        t = _find(benches, table="classic", method=m, backend="torch", side=256)
        if t is not None and t.get("agreement_mean") is not None:
            a = t.get("agreement_mean")
            rows.append(["8", f"{_NAMES[m]}: NumPy and torch masks agree on >= 99.9 % of pixels (256²)",
                         f"mean {_pct(a)} %, min {_pct(t.get('agreement_min'))} % (NumPy against itself from phi0 + "
                         f"1e-12 noise: mean {_pct(t.get('numpy_self_agreement_mean'))} %)", _yes(a >= 0.999)])
    if not rows:
        return []
    return ["## Targets", "", *_table(["issue", "target", "measured", "met"], rows, "llll")]


def _exponent(benches: list[_Bench], method: str, backend: str, sides: Sequence[int] = EXPONENT_SIDES) -> float:
    pts = [(s, b.per_image) for s in sides
           if (b := _find(benches, table="scaling", method=method, backend=backend, side=s)) is not None]
    if len(pts) < 2:
        return math.nan
    return fit_exponent([p[0] for p in pts], [p[1] for p in pts])


# -- sections ------------------------------------------------------------------------------------------------
def _cv_skimage(benches: list[_Bench]) -> list[str]:
    rows = []
    for side in (128, 256, 512):
        sk = _find(benches, table="cv_skimage", side=side, impl="skimage")
        if sk is None:
            continue
        cells = [f"{side}²", _ms(sk.median)]
        for impl in ("numpy", "numba", "numba-1-thread"):
            b = _find(benches, table="cv_skimage", side=side, impl=impl)
            cells += [_ms(b.median) if b else "–", _x(_ratio(sk.median, b.median)) if b else "–"]
        found = [b for impl in ("numpy", "numba", "numba-1-thread")
                 if (b := _find(benches, table="cv_skimage", side=side, impl=impl)) is not None]
        cells.append(str(all(bool(b.get("identical_masks")) for b in found)) if found else "–")
        diffs = [float(b.get("phi_max_abs_diff", math.nan)) for b in found]
        cells.append(f"{max(diffs):.1e}" if diffs else "–")
        rows.append(cells)
    if not rows:
        return []
    nb = _find(benches, table="cv_skimage", impl="numba", side=256)
    threads = nb.get("threads") if nb else "–"
    return ["## Chan–Vese against scikit-image", "",
            f"`lsbench.classic.chan_vese` (NumPy backend, and the compiled numba backend) and "
            f"`skimage.segmentation.chan_vese` on `skimage.data.camera()` resized (float64), {CV_ITER_TEXT}; "
            f"milliseconds per image (median). *numba* runs on the default threads (`LSBENCH_NUM_THREADS`, else "
            f"the cores other processes leave free, at most 4: {threads} at 256² in this run, one below 160²), *1 thread* sets `LSBENCH_NUM_THREADS=1`; scikit-image and "
            "the NumPy backend run on one thread. *identical* compares the masks of all three backends with "
            "scikit-image's element by element, *max |Δphi|* their level sets.", "",
            *_table(["side", "scikit-image ms", "numpy ms", "speed-up", "numba ms", "speed-up", "numba 1 thread ms",
                     "speed-up", "identical masks", "max |Δphi|"], rows)]


CV_ITER_TEXT = "200 iterations, `tol=0`, `mu=0.25`, `dt=0.5`"


def _cv_batch(benches: list[_Bench]) -> list[str]:
    base = _find(benches, table="cv_batch", impl="skimage-loop")
    rows = []
    for impl, label in (("skimage-loop", "scikit-image, one image at a time"),
                        ("numpy-loop", "lsbench NumPy, one image at a time"),
                        ("numba-batch", "lsbench numba, batch of 32 (chan_vese_batch, images in parallel)"),
                        ("torch-compiled", "lsbench torch, batch of 32, torch.compile"),
                        ("torch-eager", "lsbench torch, batch of 32, eager")):
        b = _find(benches, table="cv_batch", impl=impl)
        if b is None:
            continue
        rows.append([label, b.get("device", "cpu"), str(b.get("threads", "–")), _ms(b.per_image), f"{1.0 / b.per_image:.1f}",
                     _x(_ratio(base.per_image, b.per_image)) if base else "–",
                     _pct(b.get("agreement_mean")), _pct(b.get("agreement_min")), str(b.get("polarity_flips", "–"))])
    if not rows:
        return []
    paired = _find(benches, table="cv_batch_paired")
    paired_text = []
    if paired is not None:
        paired_text = [f"Paired rounds ({paired.get('impl')}, {paired.get('threads', '–')} threads): each round "
                       "times the batch, the scikit-image loop, then the batch again; its ratio is the loop's time "
                       "over the mean of the two batches, so both sides of a ratio ran under the same load. Round "
                       f"ratios {', '.join(_x(x) for x in paired.get('round_ratios') or [])}, median "
                       f"{_x(float(paired.get('ratio_median', math.nan)))} (scikit-image "
                       f"{_ms(float(paired.get('skimage_per_image_median', math.nan)))} ms / image, batch "
                       f"{_ms(float(paired.get('numba_per_image_median', math.nan)))} ms / image, medians); the "
                       "target row uses this ratio.", ""]
    return ["## Chan–Vese: batches against the scikit-image loop", "",
            f"32 synthetic test images (128², float32), {CV_ITER_TEXT}; per image = time of the whole "
            "batch (or loop) / 32. Agreement with scikit-image's masks is per pixel, of the partition (a mask or "
            "its complement: with `lambda1 == lambda2` the model does not know which phase is the object, and "
            "from the checkerboard which one ends up `phi > 0` is decided by rounding; *flips* counts them).", "",
            *_table(["implementation", "device", "threads", "ms / image", "images / s", "vs scikit-image",
                     "agree mean %", "agree min %", "flips"], rows), *paired_text]


def _classic(benches: list[_Bench]) -> list[str]:
    rows = []
    for m in CLASSIC:
        for side in (128, 256):
            n = _find(benches, table="classic", method=m, backend="numpy", side=side)
            for backend in ("numba", "torch"):
                c = _find(benches, table="classic", method=m, backend=backend, side=side)
                if c is None:
                    continue
                precision = f"{c.get('dtype', '')}, {c.get('device', '')}" if backend == "torch" else "float64, cpu"
                rows.append([_NAMES[m], f"{side}²", _s(n.per_image) if n else "–", backend, str(c.get("threads", "–")),
                             precision, _s(c.per_image), _x(_ratio(n.per_image, c.per_image)) if n else "–",
                             _pct(c.get("agreement_mean")), _pct(c.get("agreement_min")),
                             _pct(c.get("numpy_self_agreement_mean")), _pct(c.get("numpy_self_agreement_min"))])
    if not rows:
        return []
    return ["## DRLSE, RSF, LIC, L2S: seconds per image", "",
            "Registered default parameters, the 8 synthetic test images of the suite (one every 45) from their "
            "initial regions, upsampled bilinearly to 256². NumPy and numba: one image at a time (numba on its "
            "default threads, one below 160²); torch: the 8 images as one batch (`predict_batch`, `torch.compile`, "
            "the registered one CPU thread), per image = batch time / 8. *agree*: share of pixels on which the "
            "backend's masks and the NumPy backend's agree; *NumPy self* (256²): the NumPy backend against itself "
            "started from its initial level set plus 1e-12 Gaussian noise, i.e. how much rounding alone moves that "
            "method's masks (the floor another implementation can be held to).", "",
            *_table(["method", "side", "numpy s / image", "backend", "threads", "precision", "s / image",
                     "speed-up vs numpy", "agree mean %", "agree min %", "NumPy self mean %", "NumPy self min %"], rows)]


def _scaling(benches: list[_Bench]) -> list[str]:
    rows = []
    sides = sorted({int(b.get("side")) for b in benches if b.get("table") == "scaling"})
    for m in ("cv", *CLASSIC):
        for backend in BACKENDS:
            cells = []
            for s in sides:
                b = _find(benches, table="scaling", method=m, backend=backend, side=s)
                cells.append(_ms(b.per_image) if b else "–")
            if all(c == "–" for c in cells):
                continue
            e = _exponent(benches, m, backend)
            rows.append([_NAMES[m], backend, *cells, "–" if not math.isfinite(e) else f"{e:.2f}"])
    if not rows:
        return []
    it = next((b.get("iterations") for b in benches if b.get("table") == "scaling"), "")
    return ["## Time against image size", "",
            f"{it} iterations at every size (`tol=0` where the method has a tolerance), 2 images per call "
            "(torch: one batch of 2 on one thread; NumPy and numba: one image at a time, `LSBENCH_NUM_THREADS=1`, "
            "so that the compiled kernels' switch to threads at 160² stays out of the fit), milliseconds per "
            "image; *exponent*: least-squares slope of log(time) against log(pixels) over 128² to 1024² (1 = "
            "linear in the pixel count).", "",
            *_table(["method", "backend", *[f"{s}² ms" for s in sides], "exponent"], rows)]


def _learned(benches: list[_Bench]) -> list[str]:
    rows = []
    for m in ("rls", "rls-conv", "fconnet"):
        cells = [m]
        for batch in (1, 64):
            b = _find(benches, table="learned", method=m, batch=batch)
            cells.append(f"{1.0 / b.per_image:.0f}" if b else "–")
        if cells[1:] != ["–", "–"]:
            rows.append(cells)
    if not rows:
        return []
    dev = next((b.get("device") for b in benches if b.get("table") == "learned"), "cpu")
    return ["## Learned methods: images per second", "",
            f"`predict_batch` of freshly initialised models (throughput does not depend on the weights) on "
            f"128² synthetic images, everything the harness times included (grey conversion, resizing, the "
            f"network, masks back to 128²), device {dev}; images/s = batch size / median time.", "",
            *_table(["method", "batch 1", "batch 64"], rows)]


def _instance(benches: list[_Bench]) -> list[str]:
    rows = [[b.get("method"), _s(b.get("seconds_per_image_median", math.nan)), str(b.get("images")),
             str(b.get("n_failed"))] for b in benches if b.get("table") == "instance"]
    head = ["## Instance methods (CRLS, Mask R-CNN) on shapes", ""]
    if not rows:
        return [*head, "No instance-segmentation method was registered when the suite ran (CRLS and Mask R-CNN "
                       "are measured automatically once they are registered).", ""]
    return [*head, "`lsbench run` on the first 16 images of the shapes test split, registered defaults; median "
                   "seconds per image (batch 1; building the method and any training excluded).", "",
            *_table(["method", "s / image", "images", "failed"], rows)]


def _demo(benches: list[_Bench]) -> list[str]:
    b = _find(benches, table="demo")
    if b is None:
        return []
    return ["## `make demo`", "",
            f"`{b.get('command')}`: {b.median:.1f} s wall time for the whole command (a fresh dataset root, "
            f"so it includes building the synthetic set; {b.get('images')} images, Table 2 and the figures).", ""]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lsbench.perf", description=__doc__.splitlines()[0])
    parser.add_argument("json", help="pytest-benchmark JSON written by make bench (--benchmark-json)")
    parser.add_argument("--out", default="reports/performance.md", help="markdown file to write")
    args = parser.parse_args(argv)
    path = Path(args.json)
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        print(f"Error: cannot read the benchmark results {path}: {exc}", file=sys.stderr)
        return 1
    if not isinstance(data, dict) or not data.get("benchmarks"):
        print(f"Error: {path} holds no benchmarks (was make bench interrupted?)", file=sys.stderr)
        return 1
    text = build_report(data, source=path.name)
    out = Path(args.out)
    atomic_write_text(out, text)
    print(f"wrote {out} ({len(data['benchmarks'])} benchmarks, {_dt.datetime.now():%Y-%m-%d %H:%M})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

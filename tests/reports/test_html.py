"""The one-page HTML report opens in headless Chromium with every table and image rendered."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd
import pytest

from lsbench.datasets import load
from lsbench.harness.runner import MethodRequest, run_benchmark
from lsbench.registry import METHODS
from tests.instance_fixtures import TinyShapes, perfect

# Appended to a copy of the page (never to the report itself): counts what the browser rendered.
_CHECK = """<script>
window.addEventListener("load", function () {
  var imgs = Array.from(document.images), tables = Array.from(document.querySelectorAll("table"));
  function shown(i) { return i.complete && i.naturalWidth > 100 && i.getBoundingClientRect().height > 0; }
  var out = {images: imgs.length, tables: tables.length, images_ok: imgs.filter(shown).length,
    tables_ok: tables.filter(function (t) {
      return t.rows.length > 1 && t.getBoundingClientRect().height > 0; }).length};
  function texts(cells) { return Array.from(cells).map(function (c) { return c.textContent; }); }
  var details = {figures: imgs.filter(shown).map(function (i) { return i.closest("figure").dataset.figure; }),
    tables: Object.fromEntries(tables.map(function (t) {
      return [t.dataset.table, {header: texts(t.tHead.rows[t.tHead.rows.length - 1].cells),
                                rows: Array.from(t.tBodies[0].rows).map(function (r) { return texts(r.cells); })}];
    }))};
  var pre = document.createElement("pre"); pre.id = "lsbench-check"; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
  var more = document.createElement("pre"); more.id = "lsbench-details"; more.textContent = JSON.stringify(details);
  document.body.appendChild(more);
});
</script>"""


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium, installed with apt-get when absent (needs root)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe:
        return exe
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.skip("chromium is absent and cannot be installed here (needs root and apt-get)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium"]
    if subprocess.run(install, env=env, capture_output=True, timeout=1200).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, timeout=600)
        done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=1200)
        assert done.returncode == 0, f"apt-get install chromium failed:\n{done.stderr[-2000:]}"
    exe = shutil.which("chromium")
    assert exe, "chromium installed but not on PATH"
    return exe


def _render(chromium: str, page: Path, details: dict | None = None) -> dict:
    """What headless Chromium rendered of ``page``: counts of images and tables, and their rendered state;
    ``details`` (when given) receives the figures shown and each table's header and cell texts."""
    probe = page.with_name("browser-check.html")
    probe.write_text(page.read_text().replace("</body>", _CHECK + "</body>"))
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
             "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()],
            capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="lsbench-check">([^<]*)</pre>', out.stdout)
    assert found, f"no check output from chromium (rc {out.returncode}):\n{out.stderr[-2000:]}"
    if details is not None:
        import html

        more = re.search(r'<pre id="lsbench-details">([^<]*)</pre>', out.stdout)
        details.update(json.loads(html.unescape(more.group(1))))
    return json.loads(found.group(1))


def _assert_self_contained(page: Path) -> None:
    text = page.read_text()
    assert not re.search(r"""(src|href)=["'](https?:|//|file:)""", text)
    assert "<script" not in text and "<link" not in text


def test_binary_run_page_renders(chromium, tmp_path, data_root):
    """Every table and figure renders; the accuracy-against-time plot and the bootstrap interval columns are
    on the page as the browser shows it, each interval bracketing its mean; no time-vs-size plot (every
    synthetic image is 128 x 128)."""
    ds = load("synthetic", root=data_root, split="test")
    res = run_benchmark([MethodRequest("cv", {"max_iter": 30}), MethodRequest("skimage-cv", {"max_iter": 30})], ds,
                        out=tmp_path, run_id="h", limit=6, progress=False, html=True, trace_samples=1)
    page = res.run_dir / "index.html"
    _assert_self_contained(page)
    pngs = sorted((res.run_dir / "figures").glob("*.png"))
    assert {p.stem for p in pngs} == {"fig7_grid", "convergence", "fmeasure_box", "accuracy_vs_time"}
    details: dict = {}
    seen = _render(chromium, page, details)
    assert seen == {"images": len(pngs), "images_ok": len(pngs), "tables": 2, "tables_ok": 2}
    assert "accuracy_vs_time" in details["figures"]
    table = details["tables"]["table2"]
    mean, low, high = (table["header"].index(h) for h in ("FM (GT) %", "95 % CI low", "CI high"))
    rows = {r[0]: r for r in table["rows"]}
    for method in ("cv", "skimage-cv"):
        lo, mid, hi = (float(rows[method][k]) for k in (low, mean, high))
        assert lo <= mid <= hi and hi > lo


def test_instance_run_page_renders(chromium, tmp_path, monkeypatch):
    monkeypatch.setattr(METHODS, "_entries", dict(METHODS._entries))
    METHODS.add("perfect", lambda: perfect, kind="instance")
    res = run_benchmark([MethodRequest("perfect")], TinyShapes(n=4), out=tmp_path, run_id="hi", progress=False,
                        html=True)
    page = res.run_dir / "index.html"
    _assert_self_contained(page)
    seen = _render(chromium, page)
    # Table 3 (+ AP definitions, per class) and Table 4; figures: the instance overlays (one image size: no
    # time-vs-size plot)
    assert seen == {"images": 1, "images_ok": 1, "tables": 4, "tables_ok": 4}


def test_committed_reference_page_renders(chromium, tmp_path):
    from tests.reports.test_reference import RUNS

    REFERENCE = RUNS[0]  # the first committed Table 2 run folder
    page = tmp_path / "index.html"
    shutil.copy(REFERENCE / "index.html", page)
    _assert_self_contained(page)
    n_png = len(list((REFERENCE / "figures").glob("*.png")))
    n_tables = page.read_text().count("<table")  # Table 2, its per-family table, learned throughput
    assert n_tables >= 2
    details: dict = {}
    assert _render(chromium, page, details) == {"images": n_png, "images_ok": n_png, "tables": n_tables,
                                                "tables_ok": n_tables}
    # the reference run's page shows the accuracy-against-time plot and the interval columns
    assert "accuracy_vs_time" in details["figures"]
    table = details["tables"]["table2"]
    mean, low, high = (table["header"].index(h) for h in ("FM (GT) %", "95 % CI low", "CI high"))
    measured = [r for r in table["rows"] if r[mean] != "–"]
    summary = pd.read_csv(REFERENCE / "summary.csv")
    assert len(measured) == int((summary.query("metric == 'f_measure'")["n"] > 0).sum()) >= 9
    assert all(float(r[low]) < float(r[mean]) < float(r[high]) for r in measured)


def test_single_object_figures_name_the_dataset_split_and_protocol(tmp_path, data_root, monkeypatch):
    """Each figure of a single-object run carries the run's dataset (with its version), split and
    protocol as its title, and the page's captions end with the same words: a figure copied out of
    the report still says what each method was given."""
    import lsbench.reports.figures as figures

    titles: dict[str, str] = {}
    save = figures.save_figure

    def recording_save(fig, stem):
        titles[Path(stem).name] = fig._suptitle.get_text() if fig._suptitle is not None else ""
        return save(fig, stem)

    monkeypatch.setattr(figures, "save_figure", recording_save)
    ds = load("synthetic", root=data_root, split="test")
    res = run_benchmark([MethodRequest("otsu")], ds, out=tmp_path, run_id="p", limit=2, progress=False, html=True,
                        protocol="blind")
    label = f"synthetic v{ds.version} / test, protocol blind"
    assert titles and set(titles.values()) == {label}, titles
    page = (res.run_dir / "index.html").read_text()
    assert page.count(f"Run: {label}. (<code>figures/") == len(titles)  # each figcaption

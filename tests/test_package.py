"""`import lsbench` is lazy (subpackages and `lsbench.segment` on first access, never torch), and classic
use works without the optional extras, whose absence is a one-line error naming the extra to install.

Both run in a fresh interpreter (a subprocess), where what is imported can be observed; "without the
extras" puts a finder first on ``sys.meta_path`` that refuses their top-level modules, so ``import torch``
raises ``ModuleNotFoundError`` and ``"torch" not in sys.modules``, as on a machine without torch (a
``sys.modules[name] = None`` entry would differ: SciPy's array-API helpers look torch up there). The real thing, ``pip install .`` into a
fresh virtual environment, is ``tests/bench/test_fresh_install.py`` (``make bench``).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

from lsbench.datasets import fixtures
from lsbench.optional import EXTRAS

ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, env: dict[str, str] | None = None, timeout: float = 300) -> dict:
    """Run ``code`` in a fresh interpreter with this checkout first on the path; its last stdout line is JSON."""
    full_env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
                "OMP_NUM_THREADS": "1", **(env or {})}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                          env=full_env, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_import_lsbench_is_lazy_and_never_imports_torch():
    out = _python("""
import json, sys
import numpy as np
import lsbench
after_import = sorted(m for m in sys.modules if m.startswith("lsbench."))
chan_vese = lsbench.classic.chan_vese
reachable = [name for name in ("classic", "metrics", "datasets", "levelset", "reports", "registry", "rundir",
                               "harness", "export", "optional") if getattr(lsbench, name).__name__ == "lsbench." + name]
image = np.zeros((16, 16), np.float32)
image[4:12, 4:12] = 1
mask = lsbench.segment(image, "cv", max_iter=30)
try:
    lsbench.no_such_thing
    missing = "no error"
except AttributeError as exc:
    missing = str(exc)
print(json.dumps({"after_import": after_import, "reachable": reachable, "pixels": int(mask.sum()),
                  "same": bool((chan_vese(image, max_iter=30) == mask).all()),
                  "f": lsbench.metrics.f_measure(mask, image > 0), "missing": missing, "dir": dir(lsbench),
                  "heavy": sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision", "dask",
                                                                                 "distributed", "pycocotools"))}))
""")
    assert out["heavy"] == []
    assert "lsbench.classic" not in out["after_import"] and "lsbench.api" not in out["after_import"]
    assert len(out["reachable"]) == 10 and out["pixels"] == 64 and out["same"] and out["f"] == 1.0
    assert out["missing"] == "module 'lsbench' has no attribute 'no_such_thing'"
    assert {"classic", "segment", "metrics", "Sample", "__version__"} <= set(out["dir"])


def test_classic_use_works_without_extras_and_each_extra_is_named(tmp_path, data_root):
    """Classic methods, metrics, reports, the folder dataset and `lsbench segment` run with torch, Dask
    and pycocotools absent; everything that needs one says which extra to install, in one line."""
    folder = tmp_path / "mine"
    fixtures.write_folder(folder)
    coco = tmp_path / "coco"
    fixtures.write_coco2014(coco)
    blocked = sorted({m for _, modules in EXTRAS.values() for m in modules})
    out = _python(f"""
import importlib.abc, json, sys
class Absent(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in {blocked!r}:
            raise ModuleNotFoundError(f"No module named {{fullname!r}}", name=fullname)
        return None
sys.meta_path.insert(0, Absent())
from click.testing import CliRunner
from lsbench.cli import main
runs = {str(tmp_path / "runs")!r}
calls = {{
    "synthetic": ["run", "--methods", "cv", "--limit", "2", "--executor", "local", "--no-progress", "--out", runs,
                  "--run-id", "a"],
    "folder": ["run", "--methods", "cv,drlse", "--dataset", "folder", "--root", {str(folder)!r}, "--no-progress",
               "--executor", "local", "--no-figures", "--out", runs, "--run-id", "b"],
    "report": ["report", runs + "/a", "--html"],
    "segment": ["segment", {str(folder / "images" / "cell-b.png")!r}, "--out", runs + "/seg", "--no-progress"],
    "rls": ["run", "--methods", "rls", "--limit", "1", "--out", runs],
    "cv-torch": ["run", "--methods", "cv-torch", "--limit", "1", "--out", runs],
    "train": ["train", "rls-conv", "--epochs", "1"],
    "dask": ["run", "--methods", "cv", "--limit", "1", "--executor", "dask", "--out", runs],
    "coco": ["run", "--methods", "maskrcnn", "--dataset", "coco2014", "--root", {str(coco)!r}, "--out", runs],
    "list": ["list", "methods", "-v"],
}}
result = {{}}
for key, args in calls.items():
    r = CliRunner().invoke(main, args)
    result[key] = [r.exit_code, r.output]
result["heavy"] = sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r} and sys.modules[m] is not None)
print(json.dumps(result))
""", env={"LSBENCH_DATA": str(data_root)})
    assert out["heavy"] == []
    for key in ("synthetic", "folder", "report", "segment", "list"):
        assert out[key][0] == 0, (key, out[key][1])
    assert "| `cv` |" in out["synthetic"][1] and "| `drlse` |" in out["folder"][1]
    assert (tmp_path / "runs" / "a" / "index.html").is_file() and (tmp_path / "runs" / "seg" / "cell-b.png").is_file()
    expected = {"rls": "Error: rls needs PyTorch: pip install 'lsbench[torch]'",
                "cv-torch": "Error: cv-torch needs PyTorch: pip install 'lsbench[torch]'",
                "train": "Error: training rls-conv needs PyTorch: pip install 'lsbench[torch]'",
                "dask": "Error: --executor dask needs Dask's distributed scheduler: pip install 'lsbench[dask]'",
                "coco": "Error: reading COCO annotations needs pycocotools: pip install 'lsbench[coco]'"}
    for key, line in expected.items():
        code, output = out[key]
        assert code == 1 and output.strip().splitlines()[-1] == line, (key, output)
        assert "Traceback" not in output
    assert "(l2s-torch needs PyTorch: pip install 'lsbench[torch]')" in out["list"][1]


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower()


def test_pyproject_core_has_no_extra_and_torch_is_not_capped():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_name(r) for r in project["dependencies"]}
    extras = project["optional-dependencies"]
    assert core.isdisjoint({"torch", "torchvision", "dask", "distributed", "pycocotools", "faster-coco-eval"})
    assert {"numpy", "scipy", "scikit-image", "pillow", "pandas", "matplotlib", "click", "tqdm"} <= core
    assert {_name(r) for r in extras["torch"]} == {"torch", "torchvision"}
    assert {_name(r) for r in extras["dask"]} >= {"dask"} and {_name(r) for r in extras["coco"]} == {"pycocotools"}
    for requirement in [*project["dependencies"], *(r for reqs in extras.values() for r in reqs)]:
        if _name(requirement) in ("torch", "torchvision"):
            assert "<" not in requirement, requirement  # a cap here would leak into every user's install
    (everything,) = extras["all"]
    assert set(re.fullmatch(r"lsbench\[(.*)\]", everything).group(1).split(",")) == set(EXTRAS) - {"coco-fast"}
    assert set(EXTRAS) <= set(extras)

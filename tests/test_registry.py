import subprocess
import sys
import textwrap
from importlib import metadata

import pytest

from lsbench.registry import METHODS, Registry, UnknownNameError


def test_register_build_and_defaults():
    reg = Registry("thing")

    @reg.register("a", kind="binary", summary="first")
    def make_a(x: int = 1, y: str = "s"):
        return (x, y)

    assert reg.names() == ["a"]
    assert reg.build("a", x=3) == (3, "s")
    assert reg.get("a").defaults() == {"x": 1, "y": "s"}
    with pytest.raises(ValueError, match="no parameter"):
        reg.build("a", z=1)


def test_duplicate_and_unknown_names():
    reg = Registry("thing")
    reg.add("a", lambda: 1)
    with pytest.raises(ValueError, match="already registered"):
        reg.add("a", lambda: 2)
    with pytest.raises(UnknownNameError, match="valid things: a"):
        reg.get("b")
    with pytest.raises(ValueError, match="invalid"):
        reg.add("x,y", lambda: 1)


def test_builtin_methods_registered():
    assert {"cv", "skimage-cv"} <= set(METHODS.names())
    assert METHODS.get("cv").defaults()["init"] == "checkerboard"
    assert METHODS.get("cv").defaults()["polarity"] == "sample"


class _FakeEP:
    def __init__(self, name, value, obj=None, exc=None):
        self.name, self.value, self._obj, self._exc, self.dist = name, value, obj, exc, None

    def load(self):
        if self._exc:
            raise self._exc
        return self._obj


def test_entry_point_plugins_and_broken_plugin(monkeypatch):
    def good_factory(alpha: float = 1.0):
        return alpha

    eps = [_FakeEP("plugin-good", "pkg:good", obj=good_factory),
           _FakeEP("plugin-bad", "pkg:bad", exc=ImportError("no module named pkg"))]
    monkeypatch.setattr(metadata, "entry_points", lambda group=None: eps if group == "lsbench.methods" else [])
    reg = Registry("method", entry_point_group="lsbench.methods")
    with pytest.warns(RuntimeWarning, match="plugin-bad"):
        names = reg.names()
    assert names == ["plugin-good"]
    assert "plugin-bad" in reg.plugin_errors and "ImportError" in reg.plugin_errors["plugin-bad"]
    assert reg.get("plugin-good").source.startswith("plugin")


def test_classic_methods_never_import_torch():
    code = textwrap.dedent("""
        import sys
        from lsbench.registry import METHODS
        seg = METHODS.build("cv", max_iter=5)
        import numpy as np
        from lsbench.types import Sample
        seg(Sample("x", np.random.default_rng(0).random((16, 16)).astype("float32")))
        from click.testing import CliRunner
        from lsbench.cli import main
        CliRunner().invoke(main, ["list", "methods"])
        print("torch" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

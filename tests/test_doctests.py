"""Run the ``Examples`` sections of the public method functions and building blocks as doctests.

Each module below must hold at least the listed number of examples (so that deleting them fails
here too), and every example must print what its docstring says. The torch modules are skipped
when torch is not installed; they run with one torch thread (tiny tensors: threads only add
overhead), restored afterwards.
"""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest

# module -> minimum number of doctest examples (``>>>`` lines) it holds
NUMPY_MODULES = {
    "lsbench.classic.chan_vese": 9,
    "lsbench.classic.drlse": 10,
    "lsbench.classic.rsf": 17,
    "lsbench.classic.l2s": 9,
    "lsbench.levelset.init": 35,
    "lsbench.levelset.ops": 59,
    "lsbench.levelset.polarity": 28,
    "lsbench.metrics.binary": 40,
    "lsbench.metrics.instance": 21,
    "lsbench.metrics.masks": 20,
    "lsbench.optional": 5,
    "lsbench.datasets.folder": 15,
    "lsbench": 5,
    "lsbench.api": 10,
    "lsbench.export": 8,
    "lsbench.training": 3,
    "lsbench.checkpoint_commands": 7,
    "lsbench.harness.selection": 4,
    "lsbench.reports.uncertainty": 4,
    "lsbench.progress": 2,
    "lsbench.cpu": 11,
    "lsbench.classic.backend": 6,
    "lsbench.harness.convergence": 9,
}
# the compiled kernels' modules (skipped without numba)
COMPILED_MODULES = {
    "lsbench.classic.compiled._kernels": 5,
    "lsbench.classic.compiled.l2s": 3,
}
TORCH_MODULES = {
    "lsbench.torchclassic.chan_vese": 9,
    "lsbench.torchclassic.drlse": 9,
    "lsbench.torchclassic.rsf": 16,
    "lsbench.torchclassic.l2s": 8,
    "lsbench.learned.rls": 10,
    "lsbench.learned.fconnet": 5,
    "lsbench.learned.maps": 8,
    "lsbench.crls.roi_warp": 7,
}


# module -> minimum number of examples, for modules whose examples use the module's own names
# (run with the module's globals): the validators, the NAME=VALUE parser, the two kinds of error, the
# protocols, the baselines and the table helpers
OWN_NAMES_MODULES = {
    "lsbench.errors": 3,
    "lsbench.harness.runner": 2,
    "lsbench.levelset.validate": 8,
    "lsbench.params": 5,
    "lsbench.segmenter": 12,
    "lsbench.durations": 6,
    "lsbench.reference": 7,
    "lsbench.reports.claims": 3,
    "lsbench.protocols": 14,
    "lsbench.baselines": 9,
    "lsbench.reports.tables": 5,
    "lsbench.atomic": 16,
    "lsbench.datasets.io": 1,
    "lsbench.harness.artifacts": 2,
    "lsbench.levelset.iteration": 1,
    "lsbench.methods": 3,
    "lsbench.rundir": 4,
}
# the same for modules that need torch (skipped without it)
TORCH_OWN_NAMES_MODULES = {
    "lsbench.device": 2,
    "lsbench.crls.heads": 2,
    "lsbench.crls.model": 2,
    "lsbench.learned.crossval": 7,
    "lsbench.learned.loop": 3,
    "lsbench.torchops.ops": 3,
}


def _run(name: str, minimum: int, own_names: bool = False) -> None:
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    with np.printoptions(legacy=False, precision=8, suppress=False, linewidth=75):
        for test in finder.find(module, name, globs=None if own_names else {}):
            runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} doctest examples failed in {name}"
    assert result.attempted >= minimum, (
        f"{name} holds {result.attempted} doctest examples, expected at least {minimum}")


@pytest.mark.parametrize("name", sorted(NUMPY_MODULES))
def test_numpy_doctests(name: str) -> None:
    _run(name, NUMPY_MODULES[name])


@pytest.mark.parametrize("name", sorted(OWN_NAMES_MODULES))
def test_doctests_with_module_names(name: str) -> None:
    _run(name, OWN_NAMES_MODULES[name], own_names=True)


@pytest.mark.parametrize("name", sorted(COMPILED_MODULES))
def test_compiled_doctests(name: str) -> None:
    pytest.importorskip("numba")
    _run(name, COMPILED_MODULES[name])


@pytest.mark.parametrize(("name", "own_names"), [(n, False) for n in sorted(TORCH_MODULES)]
                         + [(n, True) for n in sorted(TORCH_OWN_NAMES_MODULES)])
def test_torch_doctests(name: str, own_names: bool) -> None:
    torch = pytest.importorskip("torch")
    if name.startswith("lsbench.crls."):
        pytest.importorskip("torchvision")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _run(name, (TORCH_OWN_NAMES_MODULES if own_names else TORCH_MODULES)[name], own_names=own_names)
    finally:
        torch.set_num_threads(threads)


def test_every_module_with_examples_runs_them() -> None:
    """Each module of lsbench that holds a ``>>>`` example is listed above (so its examples run), except
    examples all marked ``+SKIP``."""
    import pathlib

    import lsbench

    listed = set(NUMPY_MODULES) | set(OWN_NAMES_MODULES) | set(COMPILED_MODULES) | set(TORCH_MODULES)
    listed |= set(TORCH_OWN_NAMES_MODULES)
    root = pathlib.Path(lsbench.__file__).parent
    missing = []
    for path in sorted(root.rglob("*.py")):
        examples = [line for line in path.read_text().splitlines() if line.strip().startswith(">>>")]
        if not examples or all("doctest: +SKIP" in line for line in examples):
            continue
        name = ".".join(("lsbench", *path.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
        if name not in listed:
            missing.append(name)
    assert not missing, f"modules with examples that no doctest runs: {missing}"


def test_every_method_function_has_an_example() -> None:
    """The public method functions of lsbench.classic (and their torch twins) carry an example."""
    import lsbench.classic as classic

    names = [getattr(classic, n) for n in classic.__all__]
    torchclassic = pytest.importorskip("lsbench.torchclassic")
    names += [getattr(torchclassic, n) for n in torchclassic.__all__]
    missing = [f.__qualname__ for f in names if ">>>" not in (f.__doc__ or "")]
    assert not missing, f"no doctest example in: {', '.join(missing)}"

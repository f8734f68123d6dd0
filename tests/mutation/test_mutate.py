"""The mutation runner's own operators, sampling and mapping (fast; the run itself is ``make mutation``)."""

from __future__ import annotations

import doctest
import json
from pathlib import Path

import pytest

from tests.mutation import mutate
from tests.mutation.mutate import MODULE_TESTS, enumerate_mutants, sample_mutants

REPO = Path(__file__).resolve().parents[2]

SOURCE = '''"""Docstring 1 + 2."""

__all__ = ["f"]


def f(a: int = 3, b: float = 0.5) -> float:
    """f's docstring."""
    if a < 0:
        raise ValueError(f"a must be >= 0, got {a - 1}")
    a += 1
    return -a * b if a and not b else g(a, b) ** 2 == 2.0
'''


def test_each_operator_yields_its_mutant_and_nothing_else():
    got = {(m.operator, m.original, m.mutated) for m in enumerate_mutants("m.py", SOURCE)}
    expected = {
        ("constant", "3", "(4)"), ("constant", "0.5", "(1.0)"),  # defaults
        ("compare", "a < 0", "(a <= 0)"), ("constant", "0", "(1)"),
        ("arith", "a += 1", "a -= 1"), ("constant", "1", "(2)"),
        ("arith", "-a * b", "(-a / b)"), ("unary", "-a", "(a)"),
        ("bool", "a and not b", "(a or not b)"), ("unary", "not b", "(b)"),
        ("swap-args", "g(a, b)", "(g(b, a))"), ("arith", "g(a, b) ** 2", "(g(a, b) * 2)"),
        ("constant", "2", "(3)"), ("constant", "2.0", "(4.0)"),
        ("compare", "g(a, b) ** 2 == 2.0", "(g(a, b) ** 2 != 2.0)"),
    }
    # docstrings, annotations, __all__ and the raise statement (its f-string included) stay untouched
    assert got == expected


def test_a_mutant_replaces_only_its_segment_and_compiles():
    for m in enumerate_mutants("m.py", SOURCE):
        text = m.apply(SOURCE)
        compile(text, "m.py", "exec")
        assert text != SOURCE
        assert text.splitlines()[: m.line - 1] == SOURCE.splitlines()[: m.line - 1]
    unary = next(m for m in enumerate_mutants("m.py", SOURCE) if m.original == "-a")
    assert unary.apply(SOURCE).splitlines()[-1] == "    return (a) * b if a and not b else g(a, b) ** 2 == 2.0"


def test_non_ascii_text_before_a_mutant_keeps_the_offsets_right():
    source = 'x = "é ü"; y = a + b\n'
    (m,) = [m for m in enumerate_mutants("m.py", source) if m.operator == "arith"]
    assert m.apply(source) == 'x = "é ü"; y = (a - b)\n'


def test_string_arguments_and_isinstance_are_not_swapped():
    source = 'check("sigma", sigma)\nisinstance(x, int)\nh(x, y)\n'
    assert [m.original for m in enumerate_mutants("m.py", source) if m.operator == "swap-args"] == ["h(x, y)"]


def test_the_sample_is_seeded_sized_and_in_source_order():
    population = enumerate_mutants("m.py", SOURCE)
    a = sample_mutants(population, 5, seed=0)
    assert a == sample_mutants(population, 5, seed=0)
    assert len(a) == 5 and a == sorted(a, key=lambda m: (m.line, m.col, m.operator, m.mutated))
    assert any(sample_mutants(population, 5, seed=s) != a for s in range(1, 5))
    assert sample_mutants(population, 0, seed=0) == population
    assert sample_mutants(population, 100, seed=0) == population


@pytest.mark.parametrize("module", list(MODULE_TESTS))
def test_every_mapped_module_and_test_file_exists_and_has_mutants(module):
    assert (REPO / module).is_file()
    for arg in MODULE_TESTS[module]:
        if arg.startswith("tests/"):
            assert (REPO / arg).is_file(), arg
    assert enumerate_mutants(module, (REPO / module).read_text())


def test_the_issue_s_modules_are_all_mapped():
    wanted = [*Path(REPO, "lsbench/classic").rglob("*.py"), *Path(REPO, "lsbench/torchclassic").glob("*.py"),
              REPO / "lsbench/learned/rls.py", REPO / "lsbench/learned/maps.py", REPO / "lsbench/cpu.py", *Path(REPO, "lsbench/metrics").glob("*.py")]
    # the package __init__ files only re-export (and register numba's cache locator): nothing to mutate
    modules = {str(p.relative_to(REPO)) for p in wanted if p.name != "__init__.py"}
    assert modules == set(MODULE_TESTS)


def test_bad_arguments_are_one_line_errors(capsys):
    with pytest.raises(SystemExit) as exc:
        mutate.main(["--modules", "lsbench/nosuch.py", "--list"])
    assert exc.value.code == 2
    assert "unknown module(s) lsbench/nosuch.py" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        mutate.main(["--per-module", "-1", "--list"])


def test_list_prints_the_sample_without_running_anything(capsys):
    assert mutate.main(["--modules", "lsbench/metrics/catalog.py", "--per-module", "2", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(line.startswith("lsbench/metrics/catalog.py:") for line in lines)


def test_the_docstring_example_holds():
    assert doctest.testmod(mutate).failed == 0


def test_summarize_merges_runs_into_one_table_per_module(tmp_path, capsys):
    def run(path, mutants, load):
        path.write_text(json.dumps({"seed": 0, "per_module": 4, "per_compiled_module": 2, "load": load,
                                    "mutants": mutants}))
        return path

    def mutant(module, line, outcome):
        return {"module": module, "line": line, "col": 0, "end_line": line, "end_col": 1, "operator": "arith",
                "original": "a + b", "mutated": "(a - b)", "population": 9, "outcome": outcome, "seconds": 1.0}

    a = run(tmp_path / "a.json", [mutant("lsbench/metrics/binary.py", 3, "killed"),
                                  mutant("lsbench/metrics/binary.py", 5, "survived")], "1.00")
    b = run(tmp_path / "b.json", [mutant("lsbench/classic/drlse.py", 7, "timeout"),
                                  mutant("lsbench/metrics/binary.py", 5, "killed")], "2.00")  # remeasured
    assert mutate.main(["--summarize", str(a), str(b)]) == 0
    out = capsys.readouterr().out
    assert "| `lsbench/classic/drlse.py` | 1 (9) | 0 | 0 | 1 | 0 |" in out  # MODULE_TESTS order
    assert "| `lsbench/metrics/binary.py` | 2 (9) | 2 | 0 | 0 | 0 |" in out
    assert out.index("classic/drlse.py") < out.index("metrics/binary.py")
    assert "## Survivors (0)" in out and "load at start: 1.00" in out and "load at start: 2.00" in out
    with pytest.raises(SystemExit):
        mutate.main(["--summarize", str(tmp_path / "nosuch.json")])

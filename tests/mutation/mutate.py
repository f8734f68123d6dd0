"""A small mutation runner for lsbench's numerical modules (``make mutation``; issue 15).

Each *mutant* is one small change to one source file (an operator swapped, a constant changed, a
unary minus dropped, two call arguments swapped). A mutant is **killed** when the fast tests mapped
to its module fail (or error), **survived** when they all pass (a wrong method that every test
passes: write a test, or explain why the change is equivalent), **timeout** when the tests run
past the per-mutant limit (a mutant that made a loop run forever: counted apart, as killed by
most tools), and **invalid** when the mutated source does not compile.

Why not mutmut: mutmut 3 rewrites every function into a "trampoline" that dispatches to mutants
at run time; the compiled kernels of :mod:`lsbench.classic.compiled` are numba-jitted functions,
which cannot call such Python dispatchers, and their machine code is cached on disk keyed by the
package's sources. This runner instead writes each mutant as a plain source file into a copy of
the tree (a pristine copy, restored after every mutant, numba's cache included), so jitted code
is mutated like any other and the checkout is never edited. It also runs only the test files
mapped to the mutated module (:data:`MODULE_TESTS`, explicit), stops at the first failure
(``pytest -x``), and samples a seeded number of mutants per module so that a run is bounded.

Operators (each applied to one AST node; the node's source segment is replaced by the unparsed
mutated node, in parentheses, so the rest of the file stays verbatim):

* arithmetic: ``+ <-> -``, ``* <-> /``, ``// -> /``, ``** -> *`` (also in ``+=`` etc.);
* comparison: ``< <-> <=``, ``> <-> >=``, ``== <-> !=``, ``is <-> is not``, ``in <-> not in``;
* boolean: ``and <-> or``, ``not x -> x``;
* unary minus dropped: ``-x -> x``;
* constants: an int ``n -> n + 1``, a float ``c -> 2 c`` (``0.0 -> 1.0``), ``True <-> False``;
* call arguments: the first two positional arguments swapped.

Not mutated: docstrings and other strings, annotations, decorators, ``raise`` / ``assert``
statements (error messages; the bad-input checks have their own tests in tests/test_bad_inputs.py)
and ``__all__``.

Usage (``make mutation`` runs the first line)::

    python -m tests.mutation.mutate                       # MUTANTS_PER_MODULE (6) per module, seed 0
    python -m tests.mutation.mutate --per-module 0        # every mutant (hours)
    python -m tests.mutation.mutate --modules lsbench/metrics/binary.py --list   # show the mutants

It writes ``reports/.mutation/results.json`` (every mutant: module, line, operator, original and
mutated source, outcome, seconds) and ``reports/.mutation/summary.md`` (the per-module table and
the survivors), and prints a progress line per mutant after an estimate of the whole run.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

#: each mutated module and the fast test files (relative to the repository) that guard it
MODULE_TESTS: dict[str, list[str]] = {
    "lsbench/classic/_common.py": ["tests/classic/test_common.py", "tests/classic/test_chan_vese.py", "tests/classic/test_drlse.py",
                                   "tests/classic/test_rsf.py", "tests/classic/test_l2s.py"],
    "lsbench/classic/backend.py": ["tests/classic/test_backends.py", "tests/test_cpu.py"],
    "lsbench/cpu.py": ["tests/test_cpu.py"],
    "lsbench/classic/chan_vese.py": ["tests/classic/test_chan_vese.py", "tests/classic/test_backends.py",
                                    "tests/classic/test_row_bands.py"],
    "lsbench/classic/drlse.py": ["tests/classic/test_drlse.py", "tests/classic/test_backends.py",
                                "tests/classic/test_row_bands.py"],
    "lsbench/classic/rsf.py": ["tests/classic/test_rsf.py", "tests/classic/test_backends.py",
                               "tests/classic/test_row_bands.py"],
    "lsbench/classic/l2s.py": ["tests/classic/test_l2s.py", "tests/classic/test_backends.py",
                               "tests/classic/test_row_bands.py"],
    # a mutated kernel recompiles (the package's numba cache is keyed by all its sources): only the
    # backend-parity tests of the method that calls it run, each compiling just that method's kernels
    "lsbench/classic/compiled/_kernels.py": ["tests/classic/test_compiled_kernels.py", "tests/classic/test_backends.py",
                                             "-k", "not l2s and not lic and not rsf"],
    "lsbench/classic/compiled/chan_vese.py": ["tests/classic/test_backends.py", "-k", "chan_vese"],
    "lsbench/classic/compiled/drlse.py": ["tests/classic/test_backends.py", "-k", "drlse"],
    "lsbench/classic/compiled/rsf.py": ["tests/classic/test_backends.py", "tests/classic/test_compiled_kernels.py",
                                        "-k", "rsf or lic"],
    "lsbench/classic/compiled/l2s.py": ["tests/classic/test_backends.py", "tests/classic/test_compiled_kernels.py",
                                        "-k", "l2s or legendre or max_abs or accumulate or border_changes or curvature_from"],
    "lsbench/torchclassic/_batch.py": ["tests/torchclassic/test_batched.py"],
    "lsbench/torchclassic/chan_vese.py": ["tests/torchclassic/test_batched.py"],
    "lsbench/torchclassic/drlse.py": ["tests/torchclassic/test_batched.py"],
    "lsbench/torchclassic/rsf.py": ["tests/torchclassic/test_batched.py"],
    "lsbench/torchclassic/l2s.py": ["tests/torchclassic/test_batched.py"],
    "lsbench/learned/rls.py": ["tests/learned/test_rls.py"],
    "lsbench/learned/maps.py": ["tests/learned/test_maps.py", "tests/learned/test_rls.py"],
    "lsbench/metrics/binary.py": ["tests/metrics/test_binary.py"],
    "lsbench/metrics/masks.py": ["tests/metrics/test_coco.py", "tests/metrics/test_instance.py"],
    "lsbench/metrics/coco.py": ["tests/metrics/test_coco.py", "tests/metrics/test_scoring.py"],
    "lsbench/metrics/instance.py": ["tests/metrics/test_instance.py"],
    "lsbench/metrics/scoring.py": ["tests/metrics/test_scoring.py"],
    "lsbench/metrics/catalog.py": ["tests/metrics/test_scoring.py"],
}

#: the default sample per module (``$MUTANTS_PER_MODULE`` overrides it; 0 = every mutant)
MUTANTS_PER_MODULE = 6
#: seconds added to the limit of a mutant of lsbench/classic/compiled/: it recompiles its method's
#: kernels (one to three minutes on a busy two-core machine), which the unmutated, cached run does not
COMPILE_ALLOWANCE_S = 600
#: the default sample per module of compiled kernels, each of which recompiles (minutes):
#: ``$MUTANTS_PER_COMPILED_MODULE`` overrides it
MUTANTS_PER_COMPILED_MODULE = 2

_BINOP_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
               ast.FloorDiv: ast.Div, ast.Pow: ast.Mult}
_CMP_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
             ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}

_NO_SWAP = {"isinstance", "issubclass", "hasattr", "getattr", "setattr", "range"}


@dataclass(frozen=True)
class Mutant:
    """One change: ``original`` (the source segment at ``line``:``col``..``end_line``:``end_col``)
    becomes ``mutated``."""

    module: str
    line: int
    col: int
    end_line: int
    end_col: int
    operator: str
    original: str
    mutated: str

    @property
    def key(self) -> str:
        return f"{self.module}:{self.line}:{self.col}:{self.operator}:{self.mutated}"

    def apply(self, source: str) -> str:
        """``source`` with this mutant's segment replaced."""
        lines = source.splitlines(keepends=True)
        offsets = [0]
        for text in lines:
            offsets.append(offsets[-1] + len(text.encode()))
        data = source.encode()
        start = offsets[self.line - 1] + self.col
        end = offsets[self.end_line - 1] + self.end_col
        return (data[:start] + self.mutated.encode() + data[end:]).decode()


def _skipped_nodes(tree: ast.AST) -> set[int]:
    """ids of the nodes under docstrings, annotations, decorators, raise/assert and ``__all__``."""
    skip: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, (ast.Raise, ast.Assert)):
            mark(node)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            for d in node.decorator_list:
                mark(d)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                mark(node.returns)
                for a in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
                          node.args.vararg, node.args.kwarg]:
                    if a is not None:
                        mark(a.annotation)
        elif isinstance(node, ast.AnnAssign):
            mark(node.annotation)
        elif isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                                  for t in node.targets):
            mark(node)
        elif isinstance(node, ast.JoinedStr):
            mark(node)
    return skip


def _variants(node: ast.AST) -> list[tuple[str, ast.AST]]:
    """The mutated copies of ``node`` (operator name, new node); [] for a node no operator applies to."""
    out: list[tuple[str, ast.AST]] = []
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAP:
        out.append(("arith", ast.BinOp(node.left, _BINOP_SWAP[type(node.op)](), node.right)))
    elif isinstance(node, ast.AugAssign) and type(node.op) in _BINOP_SWAP:
        out.append(("arith", ast.AugAssign(node.target, _BINOP_SWAP[type(node.op)](), node.value)))
    elif isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            if type(op) in _CMP_SWAP:
                ops = list(node.ops)
                ops[i] = _CMP_SWAP[type(op)]()
                out.append(("compare", ast.Compare(node.left, ops, node.comparators)))
    elif isinstance(node, ast.BoolOp):
        out.append(("bool", ast.BoolOp(ast.Or() if isinstance(node.op, ast.And) else ast.And(), node.values)))
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
        out.append(("unary", node.operand))
    elif isinstance(node, ast.Constant) and not isinstance(node.value, (str, bytes)):
        value = node.value
        if isinstance(value, bool):
            out.append(("constant", ast.Constant(not value)))
        elif isinstance(value, int):
            out.append(("constant", ast.Constant(value + 1)))
        elif isinstance(value, float):
            out.append(("constant", ast.Constant(value * 2.0 if value != 0.0 else 1.0)))
    elif isinstance(node, ast.Call) and len(node.args) >= 2 and not any(
            isinstance(a, ast.Starred) for a in node.args[:2]):
        a, b = node.args[0], node.args[1]
        # not the builtins whose swapped arguments only raise, nor calls naming a parameter or a
        # registry entry by a string (check_positive("sigma", sigma), METRICS.add("binary", ...))
        plain = not (isinstance(node.func, ast.Name) and node.func.id in _NO_SWAP) and not any(
            isinstance(x, ast.Constant) and isinstance(x.value, str) for x in (a, b))
        if plain and ast.dump(a) != ast.dump(b):
            out.append(("swap-args", ast.Call(node.func, [b, a, *node.args[2:]], node.keywords)))
    return out


def enumerate_mutants(module: str, source: str) -> list[Mutant]:
    """Every mutant of ``source`` (the text of ``module``), in source order.

    >>> [m.mutated for m in enumerate_mutants("m.py", "x = a + 1\\n")]
    ['(a - 1)', '(2)']
    """
    tree = ast.parse(source)
    docstrings = {id(b[0].value) for b in [getattr(n, "body", None) for n in ast.walk(tree)]
                  if isinstance(b, list) and b and isinstance(b[0], ast.Expr)
                  and isinstance(b[0].value, ast.Constant) and isinstance(b[0].value.value, str)}
    skip = _skipped_nodes(tree) | docstrings
    data = source.encode()
    offsets = [0]
    for text in source.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(text.encode()))
    mutants = []
    for node in ast.walk(tree):
        if id(node) in skip or not hasattr(node, "lineno") or node.end_lineno is None:
            continue
        original = data[offsets[node.lineno - 1] + node.col_offset:
                        offsets[node.end_lineno - 1] + node.end_col_offset].decode()
        for operator, new in _variants(node):
            text = ast.unparse(new)  # new shares its children with the tree: never relocate it
            if not isinstance(node, ast.stmt):
                text = f"({text})"
            mutants.append(Mutant(module, node.lineno, node.col_offset, node.end_lineno, node.end_col_offset,
                                  operator, original, text))
    mutants.sort(key=lambda m: (m.line, m.col, m.operator, m.mutated))
    return mutants


def sample_mutants(mutants: list[Mutant], per_module: int, seed: int) -> list[Mutant]:
    """A seeded sample of ``per_module`` mutants (all of them for 0 or fewer than asked), source order."""
    if per_module <= 0 or len(mutants) <= per_module:
        return list(mutants)
    rng = random.Random(f"{seed}:{mutants[0].module}")
    return sorted(rng.sample(mutants, per_module), key=lambda m: (m.line, m.col, m.operator, m.mutated))


def _copy_tree(dest: Path) -> None:
    """The files the tests need (the package, the tests, the baselines, pyproject.toml), numba's on-disk cache
    included so that unmutated kernels do not recompile."""
    ignore = shutil.ignore_patterns("*.pyc", ".pytest_cache", ".mutation")
    shutil.copytree(REPO / "lsbench", dest / "lsbench", ignore=ignore)
    shutil.copytree(REPO / "tests", dest / "tests", ignore=ignore)
    shutil.copytree(REPO / "baselines", dest / "baselines", ignore=ignore)  # the presets some tests read
    shutil.copy2(REPO / "pyproject.toml", dest / "pyproject.toml")


def _run_tests(root: Path, tests: list[str], timeout: float, env: dict[str, str]) -> tuple[str, float, str]:
    """Run ``tests`` under ``root``: ("passed" | "failed" | "timeout", seconds, the output's tail)."""
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-m", "not slow and not bench",
           "--no-header", *tests]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        out, _ = proc.communicate()
        return "timeout", time.monotonic() - start, out[-2000:]
    return ("passed" if proc.returncode == 0 else "failed"), time.monotonic() - start, out[-2000:]


def _summary(results: list[dict], note: str) -> str:
    """The markdown summary of ``results`` (mutant dicts as in results.json): the per-module table,
    ``note`` (the sample and the load), and the survivors."""
    modules = list(dict.fromkeys(r["module"] for r in results))
    lines = ["| module | mutants (of) | killed | survived | timeout | invalid |", "|---|---|---|---|---|---|"]
    totals = [0, 0, 0, 0, 0]
    for module in modules:
        rs = [r for r in results if r["module"] == module]
        counts = [len(rs)] + [sum(r["outcome"] == o for r in rs) for o in ("killed", "survived", "timeout", "invalid")]
        totals = [a + b for a, b in zip(totals, counts, strict=True)]
        lines.append(f"| `{module}` | {counts[0]} ({rs[0]['population']}) | " + " | ".join(map(str, counts[1:])) + " |")
    lines.append("| **total** | " + " | ".join(f"**{c}**" for c in totals) + " |")
    survivors = [r for r in results if r["outcome"] == "survived"]
    lines += ["", note, "",
              f"## Survivors ({len(survivors)})", ""]
    for r in survivors:
        lines.append(f"- `{r['module']}:{r['line']}` ({r['operator']}): `{r['original']}` -> `{r['mutated']}`")
    return "\n".join(lines) + "\n"


def _note(seed: int, per_module: int, per_compiled_module: int, load: str) -> str:
    return (f"Seed {seed}, {per_module or 'all'} mutants per module ({per_compiled_module or 'all'} per module "
            f"of compiled kernels), load at start: {load}.")


def summarize(paths: list[Path]) -> str:
    """One summary of several runs' results.json (e.g. runs over different modules, side by side);
    a mutant measured twice keeps its last outcome."""
    by_key: dict[str, dict] = {}
    notes = []
    for path in paths:
        run = json.loads(path.read_text())
        notes.append(_note(run["seed"], run["per_module"], run["per_compiled_module"], run["load"]))
        for r in run["mutants"]:
            by_key[f"{r['module']}:{r['line']}:{r['col']}:{r['operator']}:{r['mutated']}"] = r
    order = {m: i for i, m in enumerate(MODULE_TESTS)}
    results = sorted(by_key.values(), key=lambda r: (order.get(r["module"], len(order)), r["line"], r["col"]))
    return _summary(results, " ".join(dict.fromkeys(notes)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-module", type=int, default=int(os.environ.get("MUTANTS_PER_MODULE", MUTANTS_PER_MODULE)),
                        help="mutants sampled per module, 0 = all (default: $MUTANTS_PER_MODULE or %(default)s)")
    parser.add_argument("--per-compiled-module", type=int,
                        default=int(os.environ.get("MUTANTS_PER_COMPILED_MODULE", MUTANTS_PER_COMPILED_MODULE)),
                        help="mutants sampled per module of lsbench/classic/compiled/ (default: "
                             "$MUTANTS_PER_COMPILED_MODULE or %(default)s)")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("MUTATION_SEED", 0)))
    parser.add_argument("--modules", default="", help="comma-separated module paths (default: every mapped one)")
    parser.add_argument("--timeout-factor", type=float, default=4.0,
                        help="a mutant's limit: this times its module's unmutated test time, plus 60 s "
                             "(plus COMPILE_ALLOWANCE_S for a compiled kernel)")
    parser.add_argument("--out", type=Path, default=REPO / "reports/.mutation")
    parser.add_argument("--list", action="store_true", help="print the sampled mutants and stop")
    parser.add_argument("--summarize", type=Path, nargs="+", metavar="RESULTS_JSON",
                        help="print one summary of these runs' results.json files and stop")
    args = parser.parse_args(argv)
    if args.summarize:
        missing = [str(p) for p in args.summarize if not p.is_file()]
        if missing:
            parser.error(f"no such results file: {', '.join(missing)}")
        print(summarize(args.summarize), end="")
        return 0
    if args.per_module < 0 or args.per_compiled_module < 0:
        parser.error(f"--per-module and --per-compiled-module must be >= 0, got {args.per_module}, "
                     f"{args.per_compiled_module}")
    modules = [m for m in args.modules.split(",") if m] or list(MODULE_TESTS)
    unknown = [m for m in modules if m not in MODULE_TESTS]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(MODULE_TESTS)}")

    plan: list[tuple[Mutant, int]] = []
    for module in modules:
        population = enumerate_mutants(module, (REPO / module).read_text())
        per_module = args.per_compiled_module if "/compiled/" in module else args.per_module
        plan += [(m, len(population)) for m in sample_mutants(population, per_module, args.seed)]
    if args.list:
        for m, _ in plan:
            print(f"{m.module}:{m.line} [{m.operator}] {m.original!r} -> {m.mutated!r}")
        return 0

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
           "NUMBA_NUM_THREADS": os.environ.get("NUMBA_NUM_THREADS", "1"),
           "LSBENCH_NUM_THREADS": os.environ.get("LSBENCH_NUM_THREADS", "1")}
    env.pop("NUMBA_CACHE_DIR", None)  # the copy's kernels cache in its own __pycache__, restored below after each mutant
    args.out.mkdir(parents=True, exist_ok=True)
    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="lsbench-mutation-") as tmp:
        root = Path(tmp) / "tree"
        _copy_tree(root)
        env["PYTHONPATH"] = str(root)
        cache = root / "lsbench/classic/compiled/__pycache__"
        pristine_cache = Path(tmp) / "numba-cache"
        baseline: dict[str, float] = {}
        print(f"mutation run: {len(plan)} mutants over {len(modules)} modules (seed {args.seed}, "
              f"{args.per_module or 'all'} per module, {args.per_compiled_module or 'all'} per compiled one), load {load}; timing each module's tests unmutated first",
              flush=True)
        timed: dict[tuple[str, ...], float] = {}
        for module in modules:
            tests = tuple(MODULE_TESTS[module])
            if tests not in timed:
                outcome, timed[tests], tail = _run_tests(root, list(tests), 3600, env)
                if outcome != "passed":
                    print(f"error: the tests of {module} fail unmutated:\n{tail}", file=sys.stderr)
                    return 1
            baseline[module] = timed[tests]
            print(f"  {module}: tests pass unmutated in {baseline[module]:.0f} s", flush=True)
        if cache.is_dir():  # the kernels are compiled and cached now: keep that state
            shutil.copytree(cache, pristine_cache)
        estimate = sum(baseline[m.module] for m, _ in plan)
        print(f"estimate: at most ~{estimate / 60:.0f} min (each mutant's tests until the first failure; "
              f"a mutated kernel also recompiles)", flush=True)
        started = time.monotonic()
        for i, (mutant, population) in enumerate(plan, 1):
            path = root / mutant.module
            original = path.read_text()
            stat = path.stat()
            mutated = mutant.apply(original)
            try:
                compile(mutated, mutant.module, "exec")
            except SyntaxError:
                outcome, seconds = "invalid", 0.0
            else:
                path.write_text(mutated)
                try:
                    limit = args.timeout_factor * baseline[mutant.module] + 60
                    if "/compiled/" in mutant.module:
                        limit += COMPILE_ALLOWANCE_S
                    status, seconds, _ = _run_tests(root, MODULE_TESTS[mutant.module], limit, env)
                    outcome = {"passed": "survived", "failed": "killed", "timeout": "timeout"}[status]
                finally:
                    path.write_text(original)
                    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
                    if "/compiled/" in mutant.module and pristine_cache.is_dir():
                        shutil.rmtree(cache)
                        shutil.copytree(pristine_cache, cache)
            results.append({**asdict(mutant), "population": population, "outcome": outcome,
                            "seconds": round(seconds, 1)})
            elapsed = time.monotonic() - started
            print(f"[{i}/{len(plan)}] {outcome:8s} {seconds:5.0f} s  {mutant.module}:{mutant.line} "
                  f"[{mutant.operator}] {mutant.original!r} -> {mutant.mutated!r}  (elapsed {elapsed / 60:.1f} min)",
                  flush=True)
            (args.out / "results.json").write_text(json.dumps(
                {"seed": args.seed, "per_module": args.per_module,
                 "per_compiled_module": args.per_compiled_module, "load": load, "mutants": results}, indent=1))
    summary = _summary(results, _note(args.seed, args.per_module, args.per_compiled_module, load))
    (args.out / "summary.md").write_text(summary)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

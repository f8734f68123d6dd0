"""The benchmark harness: run methods over datasets, time and score them, write run directories."""

from lsbench.harness.runner import MethodRequest, RunResult, resume_benchmark, run_benchmark
from lsbench.rundir import summarize

__all__ = ["MethodRequest", "RunResult", "resume_benchmark", "run_benchmark", "summarize"]

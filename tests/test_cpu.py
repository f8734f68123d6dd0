"""lsbench.cpu: how OpenMP's idle threads wait, and the cores other processes leave free."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

from lsbench import cpu
from lsbench.classic import backend


def _meter(stats, own, clock, cpus=lambda: {0, 1}, sleeps=None):
    return cpu.LoadMeter(stat=iter(stats).__next__, own=iter(own).__next__, clock=iter(clock).__next__,
                         cpus=cpus, sleep=(sleeps.append if sleeps is not None else lambda s: None))


def test_others_is_the_cpus_busy_time_less_this_process_over_the_window():
    # two CPUs: 1.2 + 0.9 busy seconds in 0.7 s, of which this process used 0.7 s -> (2.1 - 0.7) / 0.7 = 2 cores
    m = _meter([{0: 5.0, 1: 7.0}, {0: 6.2, 1: 7.9}], [1.0, 1.7], [10.0, 10.7])
    assert m.others() == pytest.approx(2.0)


def test_only_the_cpus_this_process_may_use_count():
    m = _meter([{0: 0.0, 1: 0.0, 2: 0.0}, {0: 0.5, 1: 0.0, 2: 1.0}], [0.0, 0.0], [0.0, 1.0], cpus=lambda: {0, 1})
    assert m.others() == pytest.approx(0.5)  # CPU 2's second is someone else's business


def test_this_process_alone_reads_as_no_load_and_never_below_zero():
    m = _meter([{0: 0.0}, {0: 0.3}], [0.0, 0.4], [0.0, 0.5], cpus=lambda: {0})  # clock ticks: own > busy
    assert m.others() == 0.0


def test_the_first_reading_waits_for_the_shortest_window_then_never_again():
    sleeps: list[float] = []
    m = _meter([{0: 0.0}, {0: 0.0}, {0: 0.05}, {0: 0.2}], [0.0] * 4, [0.0, 0.04, 0.1, 0.12], cpus=lambda: {0},
               sleeps=sleeps)
    assert m.others() == pytest.approx(0.5)  # 0.05 busy seconds in the 0.1 s after the wait
    assert sleeps == [pytest.approx(cpu.MIN_WINDOW_S - 0.04)]
    assert m.others() == pytest.approx(0.2 / 0.12)  # same window, now 0.12 s long: no sleep
    assert len(sleeps) == 1


def test_a_window_is_renewed_once_it_is_long_enough():
    w = cpu.WINDOW_S
    m = _meter([{0: 0.0}, {0: w}, {0: w}, {0: w + 0.3 * w}], [0.0] * 4, [0.0, w, w + 0.5 * w, 2 * w],
               cpus=lambda: {0})
    assert m.others() == pytest.approx(1.0)  # a full window: the next one starts here
    assert m.others() == pytest.approx(0.0)  # idle since
    assert m.others() == pytest.approx(0.3)  # 0.3 w busy in the new window's w


def test_no_proc_stat_reads_as_no_load():
    def missing():
        raise OSError("no /proc/stat")

    m = cpu.LoadMeter(stat=missing, own=lambda: 0.0, clock=time.monotonic, cpus=lambda: None)
    assert m.others() == 0.0


def test_read_proc_stat_sums_the_busy_fields_of_each_cpu(tmp_path):
    ticks = os.sysconf("SC_CLK_TCK")
    stat = tmp_path / "stat"
    #            user nice system idle iowait irq softirq steal guest guest_nice
    stat.write_text("cpu  9 9 9 9 9 9 9 9 0 0\n"
                    "cpu0 100 20 30 5000 700 4 6 40 100 0\n"
                    "cpu1 1 0 0 9999 9999 0 0 0 0 0\n"
                    "intr 12345\n")
    busy = cpu.read_proc_stat(str(stat))
    assert busy == {0: pytest.approx(200 / ticks), 1: pytest.approx(1 / ticks)}  # idle, iowait, guest left out


@pytest.mark.skipif(not os.path.exists("/proc/stat"), reason="needs Linux's /proc/stat")
def test_a_busy_neighbour_process_is_measured_and_this_process_is_not():
    child = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time() + 30\nwhile time.time() < t: pass"])
    try:
        time.sleep(0.3)  # the child is running
        meter = cpu.LoadMeter()
        end = time.monotonic() + 0.6
        while time.monotonic() < end:  # this process busy too: it must not count
            pass
        assert meter.others() >= 0.6
    finally:
        child.kill()
        child.wait()


def test_free_cores_counts_a_core_busy_from_more_than_half_a_core(monkeypatch):
    monkeypatch.setattr(cpu, "_allowed_cpus", lambda: {0, 1})
    for others, free in ((0.0, 2), (0.5, 2), (0.6, 1), (1.4, 1), (7.0, 1)):
        monkeypatch.setattr(cpu._METER, "others", lambda o=others: o)
        assert cpu.free_cores() == free


def test_num_threads_takes_free_cores_unless_the_user_said(monkeypatch):
    monkeypatch.delenv("LSBENCH_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(backend, "free_cores", lambda: 3)
    assert backend.num_threads(backend.PARALLEL_MIN_PIXELS) == 3
    monkeypatch.setattr(backend, "free_cores", lambda: 6)
    assert backend.num_threads(backend.PARALLEL_MIN_PIXELS) == 4  # at most 4
    assert backend.num_threads(backend.PARALLEL_MIN_PIXELS - 1) == 1
    monkeypatch.setenv("LSBENCH_NUM_THREADS", "5")
    monkeypatch.setattr(backend, "free_cores", lambda: 1)
    assert backend.num_threads(backend.PARALLEL_MIN_PIXELS) == 5  # the user's count, whatever the load


def test_small_images_do_not_read_the_load(monkeypatch):
    monkeypatch.delenv("LSBENCH_NUM_THREADS", raising=False)

    def unexpected():
        raise AssertionError("read the load for a one-thread image")

    monkeypatch.setattr(backend, "free_cores", unexpected)
    assert backend.num_threads(64 * 64) == 1


def test_configure_openmp_keeps_what_the_user_set(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    cpu.configure_openmp()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
    assert os.environ["GOMP_SPINCOUNT"] == str(cpu.SPIN_COUNT)
    monkeypatch.setenv("GOMP_SPINCOUNT", "7")
    cpu.configure_openmp()
    assert os.environ["GOMP_SPINCOUNT"] == "7"


def test_importing_the_compiled_kernels_configures_openmp_before_numba_starts_it():
    code = ("import os; import lsbench.classic.compiled; "
            "print(os.environ['OMP_WAIT_POLICY'], os.environ['GOMP_SPINCOUNT'])")
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["PASSIVE", str(cpu.SPIN_COUNT)]


def test_thread_choices_count_each_image_as_chosen(monkeypatch):
    """What a benchmark reports: every count num_threads returned, as often as it returned it,
    including a change of the free cores between images; a reset empties the record."""
    monkeypatch.delenv("LSBENCH_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    backend.thread_choices(reset=True)
    free = iter([2, 2, 1])
    monkeypatch.setattr(backend, "free_cores", lambda: next(free))
    for _ in range(3):
        backend.num_threads(backend.PARALLEL_MIN_PIXELS)
    backend.num_threads(10)
    assert backend.thread_choices() == {2: 2, 1: 2}
    assert backend.thread_choices(reset=True) == {2: 2, 1: 2}
    assert backend.thread_choices() == {}
    monkeypatch.setenv("LSBENCH_NUM_THREADS", "3")
    backend.num_threads(backend.PARALLEL_MIN_PIXELS)
    assert backend.thread_choices(reset=True) == {3: 1}


def test_one_classic_call_records_its_thread_choice(monkeypatch):
    """A compiled method asks once per image: the record of a 168^2 L2S run on the user's count."""
    from lsbench.classic import l2s

    monkeypatch.setenv("LSBENCH_NUM_THREADS", "2")
    image = np.zeros((168, 168))
    image[40:120, 50:130] = 1.0
    backend.thread_choices(reset=True)
    l2s(image, max_iter=2, backend="numba")
    assert backend.thread_choices(reset=True) == {2: 1}

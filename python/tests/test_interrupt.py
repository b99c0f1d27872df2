"""Ctrl-C during a long call: KeyboardInterrupt within a fraction of a second, and the
next call runs normally, to the same bits as before the interruption. Each case runs in
a child interpreter that sends itself SIGINT one second into the call."""
import os
import subprocess
import sys
import textwrap

import pytest

from conftest import PYTHON_DIR

CHILD = textwrap.dedent("""
    import os, signal, sys, threading, time
    sys.path.insert(0, {python_dir!r})
    import gengap
    import numpy as np

    s = gengap.Schedule("ou")
    target = gengap.GaussianMixture.two_modes(3.0)
    score = gengap.mixture_score(target, s)
    if {python_score!r}:
        model = score
        score = lambda x, t: model(x, t)[0]
    small = lambda: gengap.sample_reverse_sde(score, 64, 1, s, steps=50, seed=5)["samples"]
    before = small()

    threading.Timer(1.0, lambda: os.kill(os.getpid(), signal.SIGINT)).start()
    start = time.perf_counter()
    try:
        gengap.sample_reverse_sde(score, 20000, 1, s, steps=200000, seed=1)  # minutes of work
        print("not interrupted"); sys.exit(3)
    except KeyboardInterrupt:
        latency = time.perf_counter() - start - 1.0
    after = small()
    print(f"latency {{latency:.3f}}")
    sys.exit(0 if np.array_equal(before, after) and latency < 2.0 else 4)
""")


@pytest.mark.parametrize("python_score", [False, True], ids=["score_model", "python_callable"])
def test_ctrl_c_interrupts_a_long_call_and_the_next_call_is_unchanged(python_score):
    code = CHILD.format(python_dir=PYTHON_DIR, python_score=python_score)
    child = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ))
    assert child.returncode == 0, child.stdout + child.stderr
    assert "latency" in child.stdout
    print(child.stdout.strip())

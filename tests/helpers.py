"""Shared test helpers."""

import os
import subprocess
import sys


def run_x64(script: str, timeout: int = 300) -> str:
    """Run ``script`` in a fresh interpreter with float64 enabled; return its stdout (asserting success)."""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, "JAX_ENABLE_X64": "1"})
    assert out.returncode == 0, out.stderr
    return out.stdout

"""Tests of `pip install ./python`: the package builds its engine with Go and
works from any directory once installed."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap

import pytest

from _helpers import PYTHON_DIR, REPOSITORY_DIR

# The whole install: a venv, build dependencies from the package index, a
# Go build (fast with a warm Go build cache) and the wheel install.
INSTALL_TIMEOUT = 80

# Uses only the installed package: a queue, a reader of a subprocess, a
# writer to a file, a link and a spilled ContentWrapper.
USAGE_SCRIPT = textwrap.dedent(
    """
    import os, subprocess, sys
    import queuelink

    package_dir = os.path.dirname(queuelink.__file__)
    print("package", package_dir)
    print("library", os.path.exists(os.path.join(package_dir, "libqueuelink.so")))

    lines = queuelink.Queue()
    process = subprocess.Popen(["seq", "3"], stdout=subprocess.PIPE, text=True)
    with queuelink.QueueHandleAdapterReader(lines, handle=process.stdout) as reader:
        reader.wait(timeout=10)
        print("lines", [lines.get(timeout=5) for _ in range(3)])
    process.wait(timeout=10)

    source = queuelink.Queue()
    with queuelink.link(source, "out.txt") as result:
        source.put("written\\n")
        source.put(queuelink.ContentWrapper("é" * 10, threshold=4))
        source.join()
    with open("out.txt", encoding="utf-8") as file:
        print("file", repr(file.read()))
    """
)


def _clean_env() -> dict[str, str]:
    env = dict(os.environ)
    # The installed package must not come from the checkout.
    env.pop("PYTHONPATH", None)
    env.pop("QUEUELINK_LIBRARY", None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return env


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("go") is None and "GO" not in os.environ, reason="needs Go to build the engine")
def test_pip_install_works_from_other_directory(tmp_path):
    venv = tmp_path / "venv"
    env = _clean_env()
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
        check=True,
        timeout=60,
        env=env,
    )
    python = str(venv / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", PYTHON_DIR],
        cwd=REPOSITORY_DIR,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT,
        env=env,
    )
    assert install.returncode == 0, install.stdout + install.stderr

    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    result = subprocess.run(
        [python, "-c", USAGE_SCRIPT],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    output = dict(line.split(" ", 1) for line in result.stdout.splitlines())
    assert output["package"].startswith(str(venv)), output["package"]
    assert output["library"] == "True"
    assert output["lines"] == "['1\\n', '2\\n', '3\\n']"
    assert output["file"] == repr("written\n" + "é" * 10)
    assert result.stderr == ""

"""Build step of the queuelink package: compiles the engine with Go.

``pip install ./python`` (from the repository root) runs ``go build
-buildmode=c-shared`` on ``capi/`` of the repository that contains this
folder and puts the resulting libqueuelink.so inside the installed
package, where queuelink._ffi loads it. It needs Go (the version in
go.mod) on PATH, or its path in the GO environment variable, and the Go
modules of go.mod, which ``go`` fetches from the module proxy unless they
are in the module cache already. Everything else is in pyproject.toml.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import tempfile

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

PYTHON_DIR = os.path.dirname(os.path.abspath(__file__))
REPOSITORY_DIR = os.path.dirname(PYTHON_DIR)
LIBRARY_NAME = "libqueuelink.so"


def soname_major() -> str:
    """Return QL_VERSION_MAJOR from include/queuelink.h."""
    with open(os.path.join(REPOSITORY_DIR, "include", "queuelink.h"), encoding="utf-8") as header:
        for line in header:
            fields = line.split()
            if fields[:2] == ["#define", "QL_VERSION_MAJOR"]:
                return fields[2]
    raise RuntimeError("queuelink: include/queuelink.h defines no QL_VERSION_MAJOR")


def find_go() -> str:
    """Return the go command: $GO, go on PATH, or /usr/local/go/bin/go."""
    configured = os.environ.get("GO")
    if configured:
        return configured
    found = shutil.which("go") or shutil.which("go", path="/usr/local/go/bin")
    if found is None:
        raise SystemExit(
            "queuelink: building the engine needs Go, but no `go` command was found; "
            "install Go (see go.mod for the version) or set GO to its path"
        )
    return found


def build_library(target: str) -> None:
    """Build libqueuelink.so from the repository's Go sources into target."""
    if not os.path.isfile(os.path.join(REPOSITORY_DIR, "go.mod")) or not os.path.isdir(
        os.path.join(REPOSITORY_DIR, "capi")
    ):
        raise SystemExit(
            f"queuelink: the Go sources of the engine are missing: {REPOSITORY_DIR} has no "
            f"go.mod and capi/; install from a checkout of the repository with "
            f"`pip install ./python`"
        )
    os.makedirs(os.path.dirname(target), exist_ok=True)
    # The version script exports only the ql_ functions (see the file). The
    # package loads the library by path, so its SONAME only has to match
    # the Makefile's build.
    exports = os.path.join(REPOSITORY_DIR, "capi", "exports.map")
    command = [
        find_go(),
        "build",
        "-buildmode=c-shared",
        f"-ldflags=-extldflags=-Wl,--version-script={exports},-soname,libqueuelink.so.{soname_major()}",
        "-o",
        os.path.abspath(target),
        "./capi",
    ]
    print("queuelink: " + " ".join(command), flush=True)
    subprocess.run(command, cwd=REPOSITORY_DIR, check=True)
    # go build writes a C header for cgo next to the library; the public
    # header is include/queuelink.h, so the generated one is not installed.
    generated_header = os.path.splitext(target)[0] + ".h"
    if os.path.exists(generated_header):
        os.remove(generated_header)


class BuildPyWithEngine(build_py):
    """build_py that also builds the engine library into the package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            # An editable install imports the package from python/queuelink.
            target = os.path.join(PYTHON_DIR, "queuelink", LIBRARY_NAME)
        else:
            target = os.path.join(self.build_lib, "queuelink", LIBRARY_NAME)
        build_library(target)


class BinaryDistribution(Distribution):
    """A distribution with a compiled library, so wheels get a platform tag."""

    def has_ext_modules(self) -> bool:
        return True


def temporary_build_dir() -> str:
    """Return a build directory outside the source tree, removed at exit, so
    that building leaves no build/ folder in the checkout."""
    path = tempfile.mkdtemp(prefix="queuelink-build-")
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


setup(
    cmdclass={"build_py": BuildPyWithEngine},
    distclass=BinaryDistribution,
    options={"build": {"build_base": temporary_build_dir()}},
)

"""Building the project's Docker image without Docker Hub, for the image test (``tests/test_docker.py``).

CI machines reach PyPI and Debian but not Docker Hub, so ``tensorflow/tensorflow:2.21.0-gpu`` cannot be pulled.
The image test builds the project's own ``Dockerfile`` unchanged except for its base (``--build-arg BASE=…``): a
stand-in made here of Debian bookworm's Python 3.11 (``debootstrap``) with TensorFlow 2.21.0 from PyPI, which is
what the real base holds too (Ubuntu's Python with TensorFlow from PyPI, plus CUDA libraries that a CPU run does
not load). Tools: ``buildah`` (builds without a daemon) and ``debootstrap``; ``.ci/run`` installs both.

The stand-in is built once per machine (about 3 minutes) and kept in the local image store; the project image is
built on top of it in about a minute. ``python -m harness.image`` builds both by hand and prints the tag.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .processes import ROOT

STANDIN = "localhost/cnnviz-tf-standin:2.21.0"
IMAGE = "localhost/cnnviz:ci"
DEBIAN = "http://deb.debian.org/debian"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")  # the host's: PyPI may sit behind the host's proxy CA
STANDIN_FILE = """\
FROM localhost/cnnviz-debian:bookworm
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt PIP_NO_CACHE_DIR=1
RUN rm -f /usr/lib/python3*/EXTERNALLY-MANAGED && ln -sf /usr/bin/python3 /usr/local/bin/python \\
 && python -m pip install --no-compile tensorflow==2.21.0
"""


def tools_missing() -> list[str]:
    return [t for t in ("buildah", "podman", "debootstrap") if shutil.which(t) is None]


def _run(cmd: list[str], log, **kw) -> None:
    log.write(f"$ {' '.join(cmd)}\n")
    log.flush()
    subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT, **kw)


def exists(tag: str) -> bool:
    return subprocess.run(["buildah", "inspect", "--type", "image", tag], capture_output=True).returncode == 0


def build_standin(log) -> None:
    """Debian bookworm with Python 3.11 and TensorFlow 2.21.0, tagged :data:`STANDIN` (skipped when present)."""
    if exists(STANDIN):
        return
    with tempfile.TemporaryDirectory(prefix="cnnviz-standin-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        _run(["debootstrap", "--variant=minbase", "--include=python3,python3-pip,python3-venv,ca-certificates",
              "bookworm", str(rootfs), DEBIAN], log)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        _run(["podman", "import", "-", "localhost/cnnviz-debian:bookworm"], log, stdin=tar.stdout)
        tar.wait()
        shutil.rmtree(rootfs, ignore_errors=True)
        (Path(tmp) / "Containerfile").write_text(STANDIN_FILE)
        shutil.copy(CA_BUNDLE, Path(tmp) / "ca-certificates.crt")
        _run(["buildah", "bud", "--isolation", "chroot", "--network", "host", "--layers=false", "-t", STANDIN, tmp],
             log)


def build_image(log) -> str:
    """The project's Dockerfile on the stand-in base, tagged :data:`IMAGE`; returns the tag."""
    build_standin(log)
    _run(["buildah", "bud", "--isolation", "chroot", "--network", "host", "--build-arg", f"BASE={STANDIN}",
          "-t", IMAGE, str(ROOT)], log)
    return IMAGE


def main() -> int:
    missing = tools_missing()
    if missing:
        print(f"missing: {', '.join(missing)} (apt-get install buildah podman debootstrap)", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("harness.image builds as root (debootstrap, buildah's chroot isolation)", file=sys.stderr)
        return 2
    print(build_image(sys.stdout))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The agent's container image, built once per test run from this checkout (Docker's layer cache makes a
build with unchanged inputs take seconds), and the `docker run` flags the README documents."""
from __future__ import annotations

import os
import re
import shlex
import subprocess

import pytest

from tests.helpers.docker_env import require_docker

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD_SECONDS = 1200  # from nothing: the Debian base, BCC with LLVM, the wheels


@pytest.fixture(scope="session")
def agent_image() -> str:
    require_docker()
    build = os.path.join(ROOT, "scripts", "build-image.sh")
    result = subprocess.run([build], capture_output=True, text=True, timeout=BUILD_SECONDS)
    assert result.returncode == 0, f"{build} failed:\n{result.stdout}\n{result.stderr}"
    return subprocess.run([build, "--print"], capture_output=True, text=True, check=True).stdout.strip()


def documented_run_flags() -> list[str]:
    """The options of the README's `docker run` line for the agent, without the ones that name or detach
    the container (-d, --name, --restart) and without the image."""
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    match = re.search(r"^sudo docker run -d --name intuition (.*?)\n\s*intuition:latest\n", readme, re.S | re.M)
    assert match, "the README has no `sudo docker run -d --name intuition ... intuition:latest` block"
    words = shlex.split(match.group(1).replace("\\\n", " ").rstrip(" \\"))
    restart = words.index("--restart")
    return words[:restart] + words[restart + 2:]

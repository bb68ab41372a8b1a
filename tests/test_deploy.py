"""docker-compose.yml is valid and keeps Redis's data on disk.

No Docker engine runs on the test machines, so the compose file is checked
with ``docker-compose config``, which validates and normalises it offline.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"


def docker_compose(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (scripts/setup installs it)")
    return subprocess.run(
        [binary, "--file", str(COMPOSE_FILE), "--no-ansi", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def service_command(normalised: str, service: str) -> list[str]:
    """The command list of ``service`` in ``docker-compose config`` output.

    That output has a fixed layout: services at two spaces of indentation,
    their keys at four, list items at four after ``- ``.
    """
    lines = normalised.splitlines()
    start = lines.index("services:")
    block = lines[lines.index(f"  {service}:", start) + 1 :]
    command: list[str] = []
    in_command = False
    for line in block:
        if not line.startswith("    "):
            break
        if line.startswith("    command:"):
            in_command = True
        elif in_command and line.startswith("    - "):
            command.append(line[len("    - ") :].strip("'\""))
        else:
            in_command = False
    return command


def test_compose_file_is_valid() -> None:
    result = docker_compose("config", "--quiet")
    assert result.returncode == 0, result.stderr


def test_compose_services_and_volumes() -> None:
    services = docker_compose("config", "--services")
    volumes = docker_compose("config", "--volumes")

    assert services.returncode == 0, services.stderr
    assert sorted(services.stdout.split()) == ["helpline", "redis"]
    assert sorted(volumes.stdout.split()) == ["helpline-data", "redis-data"]


def test_redis_keeps_an_append_only_file() -> None:
    result = docker_compose("config")
    assert result.returncode == 0, result.stderr

    command = service_command(result.stdout, "redis")
    assert command[0] == "redis-server"
    option = command.index("--appendonly")
    assert command[option + 1] == "yes"


def test_helpline_uses_the_compose_redis() -> None:
    result = docker_compose("config")
    assert result.returncode == 0, result.stderr

    assert "HELPLINE_REDIS_URL: redis://redis:6379/0" in result.stdout
    assert service_command(result.stdout, "helpline")[:2] == ["helpline", "run"]

"""The deployment files: docker-compose.yml is valid and keeps Redis's data
on disk; the Prometheus configuration scrapes a node where it listens; the
Grafana dashboard asks only for series a running Helpline exports.

No Docker engine runs on the test machines, so the compose file is checked
with ``docker-compose config``, which validates and normalises it offline.
No Prometheus or Grafana runs either: their files are checked against what
those read, and the dashboard's queries against a real node's ``/metrics``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from gateway.config import Settings
from tests.fixtures.app import RunningHelpline

REPO = Path(__file__).resolve().parent.parent
COMPOSE_FILE = REPO / "docker-compose.yml"
PROMETHEUS_FILE = REPO / "deploy" / "prometheus.yml"
DASHBOARD_FILE = REPO / "deploy" / "grafana" / "helpline.json"
METRIC_NAME = re.compile(r"\bhelpline_[a-z0-9_]+")
#: What each kind of series adds to its family's name in the exposition.
SUFFIXES = {
    "counter": ("_total", "_created"),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("_count", "_sum", "_created"),
}


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


# Prometheus and Grafana


def test_prometheus_scrapes_the_default_listen_address() -> None:
    config = yaml.safe_load(PROMETHEUS_FILE.read_text())

    [job] = config["scrape_configs"]
    assert job["job_name"] == "helpline"
    assert job.get("metrics_path", "/metrics") == "/metrics"
    [static] = job["static_configs"]
    assert static["targets"] == [Settings().http]
    for duration in (config["global"]["scrape_interval"], job.get("scrape_timeout")):
        assert duration is None or re.fullmatch(r"[0-9]+(ms|s|m|h)", duration)


def panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, those inside collapsed rows too."""
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])


def dashboard_queries(dashboard: dict[str, Any]) -> list[str]:
    """The PromQL of every panel target and template variable."""
    queries = [
        target["expr"]
        for panel in panels(dashboard)
        for target in panel.get("targets", [])
    ]
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            queries.append(query["query"] if isinstance(query, dict) else query)
    return queries


def test_dashboard_imports_with_a_prometheus_input() -> None:
    dashboard = json.loads(DASHBOARD_FILE.read_text())

    [source] = dashboard["__inputs"]
    assert (source["name"], source["pluginId"]) == ("DS_PROMETHEUS", "prometheus")
    assert dashboard["id"] is None and dashboard["uid"] == "helpline"
    ids = [panel["id"] for panel in panels(dashboard)]
    assert len(ids) == len(set(ids))
    for panel in panels(dashboard):
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${DS_PROMETHEUS}"
            assert METRIC_NAME.search(target["expr"]), target["expr"]
    titles = {panel["title"] for panel in panels(dashboard)}
    assert {
        "Service level",
        "Average speed of answer",
        "Abandonment",
        "Deflection",
        "Interactions by tier",
        "Cost and savings",
        "Queue length",
        "Agents by status",
    } <= titles


def exported_names(exposition: str) -> set[str]:
    """Every series name an exposition has, with its kind's suffixes; a
    family with labels and no samples yet counts too (its HELP and TYPE
    lines are there)."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names.add(family.name)
        names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


@pytest.mark.parametrize("redis_url", ["server"], indirect=True)
async def test_dashboard_asks_only_for_exported_series(
    helpline: RunningHelpline,
) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(helpline.url + "/metrics") as response:
            assert response.status == 200
            exposition = await response.text()
    exported = exported_names(exposition)
    windows = {
        sample.labels["window"]
        for family in text_string_to_metric_families(exposition)
        if family.name == "helpline_interactions"
        for sample in family.samples
    }
    dashboard = json.loads(DASHBOARD_FILE.read_text())
    [choice] = [v for v in dashboard["templating"]["list"] if v["name"] == "window"]
    assert {option["value"] for option in choice["options"]} == windows

    used = {
        name
        for query in dashboard_queries(dashboard)
        for name in METRIC_NAME.findall(query)
    }
    assert used - exported == set()
    assert "helpline_ws_request_seconds_bucket" in used
    assert "helpline_queue_length" in used
    assert "helpline_service_level_ratio" in used


# Vendored browser code


CHART_DIR = REPO / "web" / "vendor" / "chart"


@pytest.mark.parametrize("redis_url", ["server"], indirect=True)
async def test_chart_js_is_served_as_vendored(helpline: RunningHelpline) -> None:
    """The file the console loads is the one its README names by sha512, and
    a wheel ships it (package data)."""
    readme = (CHART_DIR / "README.md").read_text()
    named = re.search(r"its sha512 \| `([0-9a-f]{128})`", readme)
    assert named is not None
    vendored = (CHART_DIR / "chart.umd.min.js").read_bytes()
    assert hashlib.sha512(vendored).hexdigest() == named.group(1)

    async with aiohttp.ClientSession() as http:
        url = helpline.url + "/static/vendor/chart/chart.umd.min.js"
        async with http.get(url) as response:
            assert response.status == 200
            assert await response.read() == vendored

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    shipped = project["tool"]["setuptools"]["package-data"]["web"]
    assert any(fnmatch.fnmatch("vendor/chart/chart.umd.min.js", p) for p in shipped)

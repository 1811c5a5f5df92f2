"""docker-compose.yml, the Dockerfile, the Procfile and the monitoring files, checked honestly
without a Docker daemon: what they name exists, every command they run is a real `paygate`
command line, the services the gateway needs are there, and no port is used twice. Where a
daemon exists, `docker compose config -q` must pass too."""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
import yaml

from device_agents.cli import main as agent_cli
from gateway.entrypoints.cli import main as paygate_cli

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CLIS = {"paygate": paygate_cli, "paygate-agent": agent_cli}
COMPOSE_ENV = {"POSTGRES_PASSWORD": "x", "PAYGATE_VAULT_KEYS": "v1:x", "PAYGATE_INDEX_KEY": "x"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


def _procfile() -> dict[str, str]:
    lines = (REPO / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip() and not line.startswith("#"))


def _commands_in(shell: str) -> list[list[str]]:
    """The paygate / paygate-agent command lines in a shell line ("a && exec b; c")."""
    lexer = shlex.shlex(shell, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    found, words = [], []
    for token in [*lexer, ";"]:
        if token.strip(";&|"):
            words.append(token)
            continue
        while words and words[0] in ("exec", "do", "then"):
            words = words[1:]
        if words and words[0] in CLIS:
            found.append(words)
        words = []
    return found


def _resolve(words: list[str]) -> tuple[click.Command, list[str], list[str], click.Context | None]:
    """(the command reached, the words naming it, the rest, its parent context)."""
    command: click.Command = CLIS[words[0]]
    path, args, parent = [], words[1:], None
    while isinstance(command, click.Group):
        context = click.Context(command, info_name=command.name, parent=parent)
        sub = command.get_command(context, args[0]) if args else None
        if sub is None:
            raise click.UsageError(f"{' '.join(words)}: {command.name} has no subcommand {args[:1]}")
        command, path, args, parent = sub, [*path, args[0]], args[1:], context
    return command, path, args, parent


def _parse(words: list[str]) -> None:
    """Parse the whole command line as the CLI would (unknown options, bad values and missing
    required ones fail here) without running it."""
    command, _path, args, parent = _resolve(words)
    command.make_context(command.name, list(args), parent=parent)


def _check_command(words: list[str], monkeypatch) -> None:
    _command, path, _args, _parent = _resolve(words)
    help_run = subprocess.run([str(BIN / words[0]), *path, "--help"], capture_output=True, text=True, timeout=60)
    assert help_run.returncode == 0, (words, help_run.stderr)
    monkeypatch.setenv("PAYGATE_API_KEY", "sk_test_placeholder")
    _parse(words)


def test_every_build_context_and_mounted_file_exists(compose):
    for name, service in compose["services"].items():
        build = service.get("build")
        if build is not None:
            context = REPO / (build if isinstance(build, str) else build.get("context", "."))
            dockerfile = context / ("Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile"))
            assert context.is_dir() and dockerfile.is_file(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith((".", "/")):
                assert (REPO / source).exists(), f"{name}: {source}"
            else:
                assert source in compose.get("volumes", {}), f"{name}: undeclared volume {source}"


def test_every_command_is_a_real_paygate_command_line(compose, monkeypatch):
    lines = [service["command"] for service in compose["services"].values()
             if "command" in service and service["command"][0] in CLIS]
    lines += [words for shell in _procfile().values() for words in _commands_in(shell)]
    assert len(lines) >= 12
    for words in lines:
        _check_command(words, monkeypatch)


def test_a_misspelt_option_would_be_caught(monkeypatch):
    with pytest.raises(click.UsageError):
        _parse(["paygate", "worker", "--metrics-prot", "9101"])
    with pytest.raises(click.UsageError):
        _parse(["paygate", "certs", "setpu"])


def test_every_service_the_gateway_needs_is_there(compose):
    services = compose["services"]
    assert {"postgres", "mosquitto", "certs", "migrate", "gateway", "haproxy", "worker", "ingest-1", "ingest-2",
            "agents"} <= set(services)
    assert services["gateway"]["deploy"]["replicas"] == 2
    assert services["migrate"]["command"] == ["paygate", "db", "upgrade"]
    assert services["worker"]["command"][:2] == ["paygate", "worker"] and "--queue" not in services["worker"]["command"]
    ingest_names = {services[name]["command"][services[name]["command"].index("--name") + 1] for name in ("ingest-1", "ingest-2")}
    assert len(ingest_names) == 2  # one broker session each, sharing the subscription
    for name in ("gateway", "worker", "ingest-1", "ingest-2"):
        depends = services[name]["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
    for name in ("postgres", "mosquitto", "gateway"):
        assert services[name]["healthcheck"]["test"], name
    assert "postgres-data" in compose["volumes"]
    env = services["gateway"]["environment"]
    assert env["PAYGATE_MQTT_URL"] == "mqtts://mosquitto:8883" and "@postgres:5432/" in env["PAYGATE_DATABASE_URL"]
    # The broker reads the config the certs service renders into the shared directory.
    certs_dir = services["certs"]["command"][services["certs"]["command"].index("--dir") + 1]
    assert services["mosquitto"]["command"] == ["mosquitto", "-c", f"{certs_dir}/mosquitto.conf"]
    assert env["PAYGATE_PKI_DIR"] == certs_dir


def test_no_published_port_is_used_twice(compose):
    published = [str(port).split(":")[-2] for service in compose["services"].values() for port in service.get("ports", [])]
    assert len(published) == len(set(published)), published
    procfile_ports = []
    for shell in _procfile().values():
        procfile_ports += re.findall(r"--bind \S+:(\d+)", shell) + re.findall(r"--metrics-port (\d+)", shell)
    procfile_ports += re.findall(r"^\s*bind \S+:(\d+)", (REPO / "deploy/haproxy/local.cfg").read_text(), re.M)
    assert len(procfile_ports) == len(set(procfile_ports)), procfile_ports


def test_load_balancers_and_scrapes_point_at_what_runs(compose):
    local = (REPO / "deploy/haproxy/local.cfg").read_text()
    procfile = _procfile()
    gateway_ports = sorted(re.findall(r"--bind 127.0.0.1:(\d+)", " ".join(procfile.values())))
    assert sorted(re.findall(r"server \S+ 127.0.0.1:(\d+)", local)) == gateway_ports
    assert "gateway:8000" in (REPO / "deploy/haproxy/compose.cfg").read_text()
    assert "0.0.0.0:8000" in compose["services"]["gateway"]["command"]
    local_scrape = yaml.safe_load((REPO / "deploy/prometheus/prometheus.local.yml").read_text())
    targets = {t.split(":")[1] for job in local_scrape["scrape_configs"] for c in job["static_configs"] for t in c["targets"]}
    metrics_ports = set(re.findall(r"--metrics-port (\d+)", " ".join(procfile.values())))
    assert targets == metrics_ports | set(gateway_ports)
    scrape = yaml.safe_load((REPO / "deploy/prometheus/prometheus.yml").read_text())
    targets = {t for job in scrape["scrape_configs"] for c in job.get("static_configs", []) for t in c["targets"]}
    for target in targets:
        host, port = target.split(":")
        assert port in compose["services"][host]["command"], target


def test_the_dashboard_asks_for_metrics_that_exist():
    from prometheus_client import REGISTRY

    import gateway.observability.metrics  # noqa: F401  (registers the families)

    known = {sample_name for collector in list(REGISTRY._collector_to_names) for sample_name in REGISTRY._collector_to_names[collector]}
    dashboard = json.loads((REPO / "deploy/grafana/paygate-dashboard.json").read_text())
    used = {name for panel in dashboard["panels"] for target in panel["targets"]
            for name in re.findall(r"\bpaygate_[a-z_]+", target["expr"])}
    assert used and used <= known, used - known


def test_the_image_builds_in_stages_runs_unprivileged_and_holds_no_secret():
    dockerfile = (REPO / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+(?:\s+AS\s+(\S+))?", dockerfile, re.M | re.I)
    assert len(stages) >= 2
    final = dockerfile.split("\nFROM ")[-1]
    users = re.findall(r"^USER\s+(\S+)", final, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert not re.search(r"^(ENV|ARG)\b.*(VAULT_KEYS|INDEX_KEY|PASSWORD|SECRET)", dockerfile, re.M)
    assert "COPY --from=" in final
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {"certs", "var", ".env", ".venv"} <= set(ignored)


def _docker_daemon() -> bool:
    docker = shutil.which("docker")
    return bool(docker) and subprocess.run([docker, "info"], capture_output=True, timeout=30).returncode == 0


@pytest.mark.skipif(not _docker_daemon(), reason="no Docker daemon here: the checks above stand in for it")
def test_docker_compose_accepts_the_file():
    result = subprocess.run(["docker", "compose", "config", "-q"], cwd=REPO, env={**os.environ, **COMPOSE_ENV},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_honcho_reads_the_same_processes():
    from honcho.environ import parse_procfile

    processes = parse_procfile((REPO / "Procfile").read_text()).processes
    assert list(processes) == list(_procfile())
    assert {"broker", "gateway-1", "gateway-2", "haproxy", "worker", "ingest-1", "ingest-2", "agents"} <= set(processes)
    assert "deploy/haproxy/local.cfg" in processes["haproxy"] and (REPO / "deploy/haproxy/local.cfg").is_file()


def test_start_order_conditions_are_ones_compose_knows_and_can_meet(compose):
    services = compose["services"]
    known_keys = {"build", "image", "command", "environment", "volumes", "ports", "depends_on", "healthcheck", "deploy",
                  "restart", "user", "profiles"}
    for name, service in services.items():
        assert set(service) <= known_keys, (name, set(service) - known_keys)
        for target, rule in (service.get("depends_on") or {}).items():
            assert target in services, (name, target)
            condition = rule["condition"]
            assert condition in ("service_started", "service_healthy", "service_completed_successfully"), (name, condition)
            if condition == "service_healthy":
                assert services[target].get("healthcheck"), f"{name} waits for {target} to be healthy: it has no health check"
            if condition == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} is one-shot: it must not restart"
        assert not set(service.get("profiles", [])) or name in ("agents", "prometheus", "grafana"), name

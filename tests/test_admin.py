"""Installing and running sla-bridge as an admin: init, plugins, the systemd unit, the wheel."""

from __future__ import annotations

import json
import shutil
import subprocess
import tarfile
import sys
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from sla_bridge.cli import cli
from sla_bridge.demo import example_config_text

ROOT = Path(__file__).resolve().parent.parent
UNIT = ROOT / "packaging" / "sla-bridge.service"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


# --- init --------------------------------------------------------------------------------------------------------

def test_init_writes_the_annotated_example_and_it_checks(tmp_path: Path) -> None:
    path = tmp_path / "etc" / "sla-bridge" / "config.toml"  # parents are created
    code, out, err = run("init", str(path))
    assert code == 0 and out == ""
    assert path.read_text(encoding="utf-8") == example_config_text()
    assert f"sla-bridge check-config {path} --connect" in err
    assert run("check-config", str(path))[0] == 0


def test_init_never_overwrites(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("# my contract, filled in\n", encoding="utf-8")
    code, _, err = run("init", str(path))
    assert code == 2
    assert f"{path}: already exists; not overwritten" in err and "sla-bridge init -" in err
    assert path.read_text(encoding="utf-8") == "# my contract, filled in\n"


def test_init_dash_prints_the_example_and_store_sets_where_the_state_goes(tmp_path: Path) -> None:
    code, out, _ = run("init", "-")
    assert code == 0 and out == example_config_text()
    path = tmp_path / "c.toml"
    assert run("init", str(path), "--store", "/var/lib/sla-bridge/sla-bridge.sqlite")[0] == 0
    text = path.read_text(encoding="utf-8")
    assert 'store = "/var/lib/sla-bridge/sla-bridge.sqlite"' in text and 'store = "sla-bridge.sqlite"' not in text
    code, out, _ = run("check-config", str(path), "--json")
    assert code == 0 and json.loads(out)["ok"] is True


def test_init_default_path_is_config_toml_in_the_current_directory(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert run("init")[0] == 0
    assert (tmp_path / "config.toml").exists()


# --- plugins -----------------------------------------------------------------------------------------------------

PLUGIN = '''
from sla_bridge.adapters.base import TransientError
from sla_bridge.hookspecs import hookimpl


class Acme:
    def __init__(self, name, section, config):
        self.name = name

    def changed_since(self, cursor):
        raise TransientError(f"{self.name}: GET /api/tickets: HTTP 503 [maintenance]")


@hookimpl
def sla_bridge_register_adapters(registry):
    registry.add("acme", Acme)


@hookimpl
def sla_bridge_breach(ticket, clock, evaluation):
    pass
'''


@pytest.fixture
def acme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed third-party plugin: a distribution ``acme-tracker`` 1.2 with an entry point."""
    site = tmp_path / "site"
    (site / "acme_tracker-1.2.dist-info").mkdir(parents=True)
    (site / "acme_tracker.py").write_text(PLUGIN, encoding="utf-8")
    (site / "acme_tracker-1.2.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: acme-tracker\nVersion: 1.2\n", encoding="utf-8")
    (site / "acme_tracker-1.2.dist-info" / "entry_points.txt").write_text(
        "[sla_bridge]\nacme = acme_tracker\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(site))
    return site


def test_plugins_lists_the_built_in_adapters() -> None:
    code, out, _ = run("plugins", "--json")
    assert code == 0
    found = json.loads(out)
    assert {a["type"] for a in found["adapters"]} >= {"memory", "redmine", "jira", "zammad"}
    redmine = next(a for a in found["adapters"] if a["type"] == "redmine")
    assert (redmine["plugin"], redmine["distribution"], redmine["builtin"]) == \
        ("sla_bridge.adapters.redmine", "sla-bridge", True)
    code, out, _ = run("plugins")
    assert code == 0 and "[trackers.NAME]" in out and "built in" in out


def test_plugins_lists_entry_points_with_their_distribution_and_version(acme: Path) -> None:
    code, out, _ = run("plugins", "--json")
    assert code == 0, out
    found = json.loads(out)
    assert {"type": "acme", "plugin": "acme", "distribution": "acme-tracker", "version": "1.2", "builtin": False} \
        in found["adapters"]
    plugin = next(p for p in found["plugins"] if p["name"] == "acme")
    assert plugin["entry_point"] == "acme = acme_tracker"
    assert plugin["hooks"] == ["sla_bridge_breach", "sla_bridge_register_adapters"]
    code, out, _ = run("plugins")
    assert "acme-tracker" in out and "entry point acme = acme_tracker" in out


def test_plugins_refuses_an_adapter_type_registered_twice(acme: Path) -> None:
    (acme / "acme_tracker.py").write_text(PLUGIN.replace('registry.add("acme"', 'registry.add("redmine"'),
                                          encoding="utf-8")
    sys.modules.pop("acme_tracker", None)
    code, _, err = run("plugins")
    assert code == 2 and "adapter type 'redmine' is registered twice" in err


def test_plugins_reports_a_plugin_that_fails_to_load(acme: Path) -> None:
    (acme / "acme_tracker.py").write_text("raise RuntimeError('needs acme-sdk')\n", encoding="utf-8")
    sys.modules.pop("acme_tracker", None)
    code, _, err = run("plugins")
    assert code == 2 and "a plugin failed to load: RuntimeError: needs acme-sdk" in err


def test_a_failed_pass_is_logged_as_an_error_with_its_reason(acme: Path, tmp_path: Path) -> None:
    config = tmp_path / "sla.toml"
    config.write_text((ROOT / "config.example.toml").read_text(encoding="utf-8") + """
[trackers.ac]
adapter = "acme"
closing_status = "closed"
agents = ["login:sam"]
statuses = { new = ["new"], waiting_for_customer = ["waiting"], resolved = ["resolved"], closed = ["closed"] }
""", encoding="utf-8")
    code, out, err = run("--log-format", "json", "sync", str(config))
    assert code == 1
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    failed = [e for e in lines if e["level"] == "error"]
    assert len(failed) == 1 and failed[0]["adapter"] == "ac"
    assert failed[0]["message"] == ("ac: pass failed: ac: tracker unavailable, will retry next pass:"
                                    " GET /api/tickets: HTTP 503 [maintenance]")
    assert failed[0]["summary"]["complete"] is False
    assert "ac: 0 tickets evaluated" in out and "1 error," in out


# --- the systemd unit --------------------------------------------------------------------------------------------

def unit_settings() -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def test_the_unit_runs_serve_as_a_dedicated_user_with_hardening() -> None:
    s = unit_settings()
    assert s["ExecStart"] == ["/usr/bin/env sla-bridge serve /etc/sla-bridge/config.toml"]
    assert s["User"] == ["sla-bridge"] and s["Restart"] == ["on-failure"]
    assert s["EnvironmentFile"] == ["-/etc/sla-bridge/secrets.env"]
    assert s["StateDirectory"] == ["sla-bridge"]
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "PrivateTmp": "yes",
                       "ProtectHome": "yes"}.items():
        assert s[key] == [value], key


@pytest.mark.skipif(shutil.which("systemd-analyze") is None,
                    reason="systemd-analyze is not installed here (a systemd machine checks the unit)")
def test_the_unit_passes_systemd_analyze_verify() -> None:
    result = subprocess.run(["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Unknown key" not in result.stderr and "ignoring" not in result.stderr, result.stderr


# --- the wheel ---------------------------------------------------------------------------------------------------

def test_the_wheel_carries_the_example_config_and_the_command(tmp_path: Path) -> None:
    """``pip wheel . -w dist --no-deps`` as the README says, from a copy of the sources."""
    source = tmp_path / "src-copy"
    shutil.copytree(ROOT / "src", source / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    for name in ("pyproject.toml", "README.md", "setup.py", "MANIFEST.in", "packaging/build_backend.py"):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    result = subprocess.run([sys.executable, "-m", "pip", "wheel", ".", "-w", str(tmp_path / "dist"), "--no-deps",
                             "-q"], cwd=source, capture_output=True, text=True, timeout=600)
    if result.returncode != 0 and ("No matching distribution" in result.stderr
                                   or "Could not find a version" in result.stderr):
        pytest.skip(f"the build backend cannot be installed here (no package index): {result.stderr[-300:]}")
    assert result.returncode == 0, result.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("sla_bridge-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert "sla_bridge/data/config.example.toml" in names and "sla_bridge/cli/__main__.py" in names
        points = archive.read(next(n for n in names if n.endswith(".dist-info/entry_points.txt"))).decode()
    assert "sla-bridge = sla_bridge.cli:main" in points
    assert wheel.name.endswith("-py3-none-any.whl") and not [n for n in names if n.endswith(".so")]


def test_the_source_distribution_carries_what_the_build_needs(tmp_path: Path) -> None:
    """An sdist made by the project's own backend holds setup.py and the backend, and a wheel
    builds from it (as `pip install sla-bridge-*.tar.gz` would)."""
    result = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, 'packaging');"
                             " import build_backend as b; print(b.build_sdist(sys.argv[1]))", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    sdist = tmp_path / result.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"setup.py", "pyproject.toml", "MANIFEST.in", "packaging/build_backend.py",
            "src/sla_bridge/engine/clocks.py"} <= names
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", str(sdist), "-w", str(tmp_path / "dist"),
                            "--no-deps", "-q"], capture_output=True, text=True, timeout=600)
    if built.returncode != 0 and ("No matching distribution" in built.stderr
                                  or "Could not find a version" in built.stderr):
        pytest.skip(f"the build backend cannot be installed here (no package index): {built.stderr[-300:]}")
    assert built.returncode == 0, built.stderr[-2000:]
    assert [w.name for w in (tmp_path / "dist").glob("*.whl")] == ["sla_bridge-0.1.0-py3-none-any.whl"]


# --- the docs say what the code does ---------------------------------------------------------------------------------

def test_the_readme_memory_tracker_trial_works(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Try your own contract, with no tracker", 1)[1]
    tracker = section.split("cat >> contract.toml <<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0]
    assert "adapter = \"memory\"" in tracker
    shutil.copy(ROOT / "src" / "sla_bridge" / "data" / "demo-tickets.json", tmp_path / "demo-tickets.json")
    contract = tmp_path / "contract.toml"
    assert run("init", str(contract))[0] == 0
    contract.write_text(contract.read_text(encoding="utf-8") + tracker + "\n", encoding="utf-8")
    code, out, err = run("check-config", str(contract))
    assert code == 0, out + err
    code, out, _ = run("sync", str(contract), "--dry-run", "--at", "2025-05-21T12:00")
    assert code == 0 and "try: first connection: nothing synced before; 8 tickets would change" in out


def test_jira_deadline_field_is_optional_in_the_code_and_in_every_doc() -> None:
    from sla_bridge.adapters.jira_options import JiraOptions

    assert not JiraOptions.model_fields["deadline_field"].is_required()
    jira = (ROOT / "docs" / "jira.md").read_text(encoding="utf-8")
    assert "| `deadline_field` | none |" in jira and "optional: a **Date Time Picker**" in jira
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    jira_section = readme.split("## Jira", 1)[1].split("\n## ", 1)[0]
    assert "optional\n  `deadline_field`" in jira_section or "optional `deadline_field`" in jira_section

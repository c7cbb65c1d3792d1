"""What a sync's process imports: only what a sync needs (memory), and the holidays as before.

Each check runs in a fresh interpreter, since this one has imported everything already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import memory_config

ROOT = Path(__file__).resolve().parent.parent

# Not needed by `sla-bridge sync` (reports, charts, templates, the service, the Jira client):
# a sync's process must not carry them (a few to some 40 MiB each).
NOT_FOR_SYNC = ("jira", "numpy", "matplotlib", "jinja2", "apscheduler", "prometheus_client", "waitress", "pytest")


def _run(code: str, *args: str, cwd: Path | None = None) -> dict[str, object]:
    """Run `code` in a fresh interpreter; it prints one JSON object last."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), *sys.path])}
    done = subprocess.run([sys.executable, "-c", code, *args], check=False, capture_output=True, text=True, timeout=300,
                          env=env, cwd=cwd)
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


SYNC = """
import json, sys
from sla_bridge.cli import main
try:
    main(["sync", sys.argv[1], "--json", "--at", "2026-10-14T15:00:00+02:00"])
except SystemExit as exc:
    code = exc.code
else:
    code = 0
countries = sys.modules["holidays.countries"]
print(json.dumps({"exit": code, "modules": sorted(sys.modules),
                  "countries_whole": "Germany" in vars(countries)}))
"""


def test_sync_imports_only_what_it_needs(tmp_path: Path) -> None:
    config = memory_config(tmp_path)
    result = _run(SYNC, str(config), cwd=tmp_path)
    assert result["exit"] == 0
    modules = result["modules"]
    assert isinstance(modules, list)
    loaded = {name.partition(".")[0] for name in modules}
    assert not loaded & set(NOT_FOR_SYNC), sorted(loaded & set(NOT_FOR_SYNC))
    # The calendar is French (config.example.toml): holidays' module for France only, not the
    # ~250 countries the package's __init__ imports.
    countries = sorted(name for name in modules if name.startswith("holidays.countries."))
    assert countries == ["holidays.countries.france"]
    assert result["countries_whole"] is False


HOLIDAYS = """
import json, sys
from datetime import date
if sys.argv[1] == "whole":
    import holidays.countries  # the package imported the usual way first: every country
import holidays
from sla_bridge.calendar import WHOLE_DAY, BusinessCalendar
from sla_bridge.config import load_config

cfg = load_config(sys.argv[2])
found = {"config": [[d.isoformat(), why] for d, why in cfg.calendar.holidays_between(date(2020, 1, 1),
                                                                                   date(2030, 12, 31))]}
for country, subdivision in [("FR", None), ("FR", "57"), ("FR", "67"), ("DE", "BY"), ("US", "CA"), ("GB", None)]:
    cal = BusinessCalendar(weekly={d: [WHOLE_DAY] for d in range(7)}, country=country, subdivision=subdivision)
    found[f"{country}-{subdivision}"] = [[d.isoformat(), cal.closure_reason(d)]
                                         for d in (date.fromordinal(o) for o in range(date(2020, 1, 1).toordinal(),
                                                                                       date(2031, 1, 1).toordinal()))
                                         if cal.closure_reason(d) is not None]
found["raw"] = sorted([d.isoformat(), n] for d, n in holidays.country_holidays(
    "FR", subdiv="6AE", years=range(2024, 2028), language="en_US").items())
countries = sorted(m for m in sys.modules if m.startswith("holidays.countries."))
# The package stays usable as before: a name from it, then its whole list.
from holidays.countries import Japan
whole = len([m for m in sys.modules if m.startswith("holidays.countries.")])
print(json.dumps({"found": found, "countries": countries, "japan": Japan.__module__, "whole": whole,
                  "dir": "Germany" in dir(sys.modules["holidays.countries"])}))
"""


def test_holidays_loaded_on_demand_are_the_same(tmp_path: Path) -> None:
    config = memory_config(tmp_path)
    whole = _run(HOLIDAYS, "whole", str(config), cwd=tmp_path)
    lazy = _run(HOLIDAYS, "lazy", str(config), cwd=tmp_path)
    assert lazy["found"] == whole["found"]
    found = lazy["found"]
    assert isinstance(found, dict)
    assert ["2026-07-14", "public holiday: National Day"] in found["config"]
    assert any(d == "2026-12-26" for d, _ in found["FR-57"])  # Alsace-Moselle: St Stephen's Day
    assert not any(d == "2026-12-26" for d, _ in found["FR-None"])
    assert lazy["countries"] == ["holidays.countries.france", "holidays.countries.germany",
                                 "holidays.countries.united_kingdom", "holidays.countries.united_states"]
    assert isinstance(whole["countries"], list) and len(whole["countries"]) > 200
    assert lazy["japan"] == whole["japan"] == "holidays.countries.japan"
    assert lazy["whole"] == whole["whole"]
    assert lazy["dir"] is whole["dir"] is True

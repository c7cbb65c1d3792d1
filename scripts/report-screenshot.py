#!/usr/bin/env python3
"""Regenerate docs/report.png: the demo's HTML compliance report, as headless Chromium shows it.

    .venv/bin/python scripts/report-screenshot.py              # English labels, docs/report.png
    .venv/bin/python scripts/report-screenshot.py --language fr --out docs/report-fr.png

It runs `sla-bridge demo` into a temporary directory, writes the report of the
demo's weeks with a fixed `--at` (so the "generated" line does not move), and asks
Chromium (Debian's `chromium` package) for a screenshot. Nothing is drawn by hand.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def sla_bridge(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, "-m", "sla_bridge.cli", *args], check=True, env=env, cwd=ROOT,
                   stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--language", choices=["en", "fr"], default="en")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "report.png")
    parser.add_argument("--size", default="1200,1650", help="browser window WIDTH,HEIGHT in pixels")
    args = parser.parse_args()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        sys.exit("no Chromium: apt-get install -y chromium")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SLA_BRIDGE_DEMO_DIR": tmp, "PYTHONPATH": str(ROOT / "src")}
        sla_bridge("demo", env=env)
        config = Path(tmp) / "config.toml"
        text = config.read_text(encoding="utf-8")
        config.write_text(re.sub(r'(?m)^language = ".*"$', f'language = "{args.language}"', text), encoding="utf-8")
        html = Path(tmp) / "report.html"
        sla_bridge("report", str(config), "--from", "2025-04-28", "--to", "2025-05-23", "--at", "2025-06-02T09:00",
                   "--format", "html", "--out", str(html), env=env)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                        "--force-device-scale-factor=1", f"--window-size={args.size}",
                        f"--user-data-dir={Path(tmp) / 'profile'}", f"--screenshot={args.out.resolve()}",
                        html.as_uri()], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

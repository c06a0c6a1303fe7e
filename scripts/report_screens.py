"""Screenshots of the report's summary at a phone's width (420 px) and a desktop's (1400 px): what a CX lead sees
first, for reviews and the issue's closing note. Headless Chromium renders the report as
tests/analyst/test_report.py does: inside a frame of the given width (headless windows have a minimum width, and
the frame is its own viewport, so the page's media queries apply); the shot is cut at the summary's end.

    python scripts/report_screens.py [--run OUTPUT_FOLDER] [--out experiments/report_screens]

Without --run, a small demo run (3,000 synthetic customers, small models, no MLflow) is made in a temporary
folder. The PNGs are palette images (a few tens of KB)."""

from __future__ import annotations

import argparse
import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

WIDTHS = (420, 1400)
FRAME_HEIGHT = 3000  # taller than any summary; the shot is cut at the summary's bottom
SMALL_MODELS = ["nps.candidates=configured", "nps.params.n_estimators=60", "nps.cv_folds=3",
                "response.params.n_estimators=50", "churn.params.n_estimators=60", "churn.measure_nps_lift=false",
                "drivers.reason_params.n_estimators=40"]
# the summary section's bottom edge inside the frame, printed into the DOM for --dump-dom to read
PROBE = """<script>const f=document.getElementById('r');f.addEventListener('load',()=>{const d=f.contentDocument;
const s=d.getElementById('summary');const o=document.createElement('pre');o.id='probe';o.textContent=JSON.stringify({
bottom:s?Math.ceil(s.getBoundingClientRect().bottom+12):null,width:d.documentElement.clientWidth});
document.body.appendChild(o);});</script>"""


def chromium(profile: Path, *args: str) -> subprocess.CompletedProcess:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        sys.exit("chromium is not installed (scripts/setup_system.sh installs it)")
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
           "--disable-background-networking", "--disable-component-update", f"--user-data-dir={profile}",
           "--hide-scrollbars", "--virtual-time-budget=5000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=True)


def framed(report: Path, width: int, page: Path) -> Path:
    """A page holding the report in a frame `width` px wide, with the probe."""
    page.write_text('<!DOCTYPE html><html><body style="margin:0;background:#fff"><iframe id="r" style="width:'
                    f'{width}px;height:{FRAME_HEIGHT}px;border:0" srcdoc="'
                    f'{html.escape(report.read_text(encoding="utf-8"), quote=True)}"></iframe>{PROBE}</body></html>',
                    encoding="utf-8")
    return page


def shoot(report: Path, width: int, out: Path, work: Path) -> dict:
    """The summary at `width` px as a small PNG at `out`; returns its size and the measured summary height."""
    from PIL import Image

    page = framed(report, width, work / f"frame_{width}.html")
    window = f"--window-size={max(width, 600)},{FRAME_HEIGHT}"
    dom = chromium(work / "profile", window, "--dump-dom", page.as_uri()).stdout
    found = re.search(r'<pre id="probe">([^<]*)</pre>', dom)
    if not found:
        sys.exit(f"the probe did not run at {width} px")
    probe = json.loads(html.unescape(found.group(1)))
    if probe["bottom"] is None:
        sys.exit(f"{report} has no summary section (id='summary')")
    raw = work / f"raw_{width}.png"
    chromium(work / "profile", window, f"--screenshot={raw}", page.as_uri())
    with Image.open(raw) as shot:
        summary = shot.convert("RGB").crop((0, 0, width, min(probe["bottom"], shot.height)))
        summary.quantize(colors=64).save(out, optimize=True)
    return {"file": out.name, "width": width, "height": summary.height, "bytes": out.stat().st_size,
            "frame_width": probe["width"]}


def demo_run(base: Path) -> Path:
    """A small demo run (report.html included) under `base`; its output folder."""
    from cxpredict.cli.app import main

    overrides = [a for o in SMALL_MODELS for a in ("--set", o)]
    code = main(["demo", "--customers", "3000", "--no-tracking", "--out", str(base / "outputs"),
                 "--data", str(base / "data"), *overrides])
    if code != 0:
        sys.exit(f"cxpredict demo failed (exit {code})")
    return base / "outputs"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", type=Path, help="an output folder with report.html (default: a small demo run)")
    parser.add_argument("--out", type=Path, default=Path("experiments/report_screens"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="report_screens_") as tmp:
        work = Path(tmp)
        run = args.run or demo_run(work)
        report = run / "report.html"
        if not report.is_file():
            sys.exit(f"{report} not found: pass --run an output folder of `cxpredict demo` or `cxpredict report`")
        args.out.mkdir(parents=True, exist_ok=True)
        shots = [shoot(report, w, args.out / f"summary_{w}px.png", work) for w in WIDTHS]
    print(json.dumps(shots, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

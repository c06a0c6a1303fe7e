"""Screenshots of a report: the summary at a phone's width (420 px) and a desktop's (1400 px), what a CX lead sees
first, and any other section cut out of report.html with the page's styles (e.g. the text section and the drivers
table for issue 22), for reviews and closing notes. Headless Chromium renders the page as tests/analyst/test_report.py
does: inside a frame of the given width (headless windows have a minimum width, and the frame is its own viewport, so
the page's media queries apply); the shot is cut at the element's end.

    python scripts/report_screens.py [--run OUTPUT_FOLDER] [--out experiments/report_screens]
    python scripts/report_screens.py --run OUTPUT_FOLDER --section text --section drivers --width 1100 --out DIR

Without --run, a small demo run (3,000 synthetic customers, small models, no MLflow) is made in a temporary
folder. The PNGs are palette images (a few tens of KB); a section is saved as <section>_<width>px.png.
scripts/text_real_screens.py shoots the Yelp before/after pictures of issue 22 with `shoot`."""

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
SECTION_HEIGHT = 12000  # a section alone, measured first: the frame is then made exactly as tall as it
SMALL_MODELS = ["nps.candidates=configured", "nps.params.n_estimators=60", "nps.cv_folds=3",
                "response.params.n_estimators=50", "churn.params.n_estimators=60", "churn.measure_nps_lift=false",
                "drivers.reason_params.n_estimators=40"]
# an element's bottom edge inside the frame, printed into the DOM for --dump-dom to read
PROBE = """<script>const f=document.getElementById('r');f.addEventListener('load',()=>{const d=f.contentDocument;
const s=d.getElementById(%s);const o=document.createElement('pre');o.id='probe';o.textContent=JSON.stringify({
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


def section_alone(page: str, section: str) -> str:
    """The report page with its head (styles) and only `<section id=section>` in the body: a section cut out."""
    start = page.find(f'<section id="{section}">')
    if start < 0:
        raise ValueError(f"the report has no section '{section}'")
    ends = [i for i in (page.find('<section id="', start + 1), page.find("</body>", start)) if i >= 0]
    head = page[: page.index("<body>") + len("<body>")]
    return f"{head}{page[start:min(ends)]}</body></html>"


def framed(page_html: str, width: int, page: Path, element: str, height: int) -> Path:
    """A page holding `page_html` in a frame `width` x `height` px, with the probe of `element`."""
    page.write_text('<!DOCTYPE html><html><body style="margin:0;background:#fff"><iframe id="r" style="width:'
                    f'{width}px;height:{height}px;border:0" srcdoc="{html.escape(page_html, quote=True)}"></iframe>'
                    f"{PROBE % json.dumps(element)}</body></html>", encoding="utf-8")
    return page


def _bottom(page: Path, width: int, height: int, work: Path, element: str) -> dict:
    dom = chromium(work / "profile", f"--window-size={max(width, 600)},{height}", "--dump-dom", page.as_uri()).stdout
    found = re.search(r'<pre id="probe">([^<]*)</pre>', dom)
    if not found:
        sys.exit(f"the probe did not run at {width} px")
    probe = json.loads(html.unescape(found.group(1)))
    if probe["bottom"] is None:
        sys.exit(f"the page has no element id='{element}'")
    return probe


def shoot(report: Path, width: int, out: Path, work: Path, section: str = "summary") -> dict:
    """`section` at `width` px as a small PNG at `out`; returns its size and the measured height. The summary is
    shot with the page's title above it; any other section alone (the page's styles, only that section)."""
    from PIL import Image

    page_html = report.read_text(encoding="utf-8")
    height = FRAME_HEIGHT
    if section != "summary":
        page_html, height = section_alone(page_html, section), SECTION_HEIGHT
    page = framed(page_html, width, work / f"frame_{section}_{width}.html", section, height)
    probe = _bottom(page, width, height, work, section)
    if section != "summary":  # the frame as tall as the section: the window need not be 12,000 px tall
        height = min(probe["bottom"], SECTION_HEIGHT)
        page = framed(page_html, width, page, section, height)
    raw = work / f"raw_{section}_{width}.png"
    chromium(work / "profile", f"--window-size={max(width, 600)},{height}", f"--screenshot={raw}", page.as_uri())
    with Image.open(raw) as shot:
        cut = shot.convert("RGB").crop((0, 0, width, min(probe["bottom"], shot.height)))
        cut.quantize(colors=64).save(out, optimize=True)
    return {"file": out.name, "section": section, "width": width, "height": cut.height,
            "bytes": out.stat().st_size, "frame_width": probe["width"]}


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
    parser.add_argument("--section", action="append", default=[],
                        help="a section's id in report.html (text, drivers, ...), repeatable; default: the summary")
    parser.add_argument("--width", type=int, action="append", default=[],
                        help=f"frame width in px, repeatable (default {WIDTHS})")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="report_screens_") as tmp:
        work = Path(tmp)
        run = args.run or demo_run(work)
        report = run / "report.html"
        if not report.is_file():
            sys.exit(f"{report} not found: pass --run an output folder of `cxpredict demo` or `cxpredict report`")
        args.out.mkdir(parents=True, exist_ok=True)
        shots = [shoot(report, w, args.out / f"{s}_{w}px.png", work, s)
                 for s in args.section or ["summary"] for w in args.width or WIDTHS]
    print(json.dumps(shots, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

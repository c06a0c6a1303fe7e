"""scripts/report_screens.py: the summary of a report at 420 and 1400 px, cut at the summary's end, as small PNGs
(skips without chromium, like the report's own rendering tests)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest


def _fake_run(folder: Path) -> Path:
    """The report tests' run folder with every piece the report reads, and its report.html."""
    spec = importlib.util.spec_from_file_location("report_tests", Path(__file__).parent / "analyst" / "test_report.py")
    tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tests)
    run = tests._fake_run(folder)
    tests.report.write_report(run, run / "report.html")
    return run


def test_both_widths_are_shot_and_cut_at_the_summary(script_module, tmp_path, capsys):
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("chromium is not installed (scripts/setup_system.sh installs it)")
    from PIL import Image

    screens = script_module("report_screens")
    out = tmp_path / "screens"
    assert screens.main(["--run", str(_fake_run(tmp_path / "run")), "--out", str(out)]) == 0
    sizes = {}
    for width in screens.WIDTHS:
        with Image.open(out / f"summary_{width}px.png") as image:
            sizes[width] = image.size
            pixels = list(image.convert("L").getdata())
        assert sizes[width][0] == width and 300 < sizes[width][1] < screens.FRAME_HEIGHT  # cut, not the whole page
        assert len(set(pixels)) > 4, "the shot is blank"
        assert (out / f"summary_{width}px.png").stat().st_size < 200_000
    assert sizes[420][1] > sizes[1400][1], "on a phone the cards stack, so the summary is taller"
    assert '"width": 420' in capsys.readouterr().out


def test_a_section_is_cut_out_with_the_page_styles_and_shot_to_its_end(script_module, tmp_path, capsys):
    screens = script_module("report_screens")
    run = _fake_run(tmp_path / "run")
    page = (run / "report.html").read_text(encoding="utf-8")
    alone = screens.section_alone(page, "drivers")
    assert alone.count("<section") == 1 and '<section id="drivers">' in alone and "<style>" in alone
    with pytest.raises(ValueError, match="no section 'nowhere'"):
        screens.section_alone(page, "nowhere")
    if not (shutil.which("chromium") or shutil.which("chromium-browser")):
        pytest.skip("chromium is not installed (scripts/setup_system.sh installs it)")
    from PIL import Image

    out = tmp_path / "screens"
    assert screens.main(["--run", str(run), "--out", str(out), "--section", "drivers", "--width", "1100"]) == 0
    with Image.open(out / "drivers_1100px.png") as image:
        assert image.mode == "P" and image.size[0] == 1100
        assert 200 < image.size[1] < screens.SECTION_HEIGHT, "cut at the section's end, not the frame's"
        assert len(set(image.convert("L").getdata())) > 4, "the shot is blank"
    assert '"section": "drivers"' in capsys.readouterr().out

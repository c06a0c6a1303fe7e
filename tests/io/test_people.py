"""The files people read: work orders (due dates, stated reasons, deferred apart), the segment summary, the CSV
dialect and per-kind rounding, Excel-safe text, columns.csv, the one driver ranking."""

from __future__ import annotations

import csv
import datetime as dt

import numpy as np
import pandas as pd
import pytest

from cxpredict.actions.playbook import check_playbook
from cxpredict.columns import COLUMN_DOCS, COLUMNS
from cxpredict.io import people
from cxpredict.io.people import (
    PeopleOutputs,
    load_scored,
    rank_drivers,
    reason_in_words,
    top_drivers,
    work_orders,
    write_people_outputs,
)
from cxpredict.io.sheets import PeopleStyle, output_format

AS_OF = dt.date(2026, 10, 31)


def test_finish_scored_adds_the_people_columns_and_leaves_the_batch_as_it_was(acted):
    frame, pb = acted
    before = frame.copy()
    finished = people.finish_scored(frame, pb, PeopleStyle(as_of=AS_OF))
    assert {"as_of", "scored_on", "to_contact"} <= set(finished.columns)
    finished.iloc[0, 0] = "changed"
    pd.testing.assert_frame_equal(frame, before)


def test_work_orders_are_due_first_then_priority_with_deferred_last(acted):
    frame, pb = acted
    style = PeopleStyle(as_of=AS_OF, currency="EUR")
    orders = work_orders(frame, pb, style)
    flagged = {r.name for r in pb.rules if r.raises_work_order}
    assert len(orders) == frame["rule"].astype("str").isin(flagged).sum() > 0
    assert set(orders["strategy"].astype("str")) <= {"retention", "win-back"}
    assert not orders["deferred"].iloc[0] and orders["deferred"].is_monotonic_increasing
    for _, block in orders.groupby(["deferred", "due_at"]):
        assert block["priority"].is_monotonic_decreasing
    in_capacity = orders[~orders["deferred"]]
    assert in_capacity["due_at"].is_monotonic_increasing
    # due = end of the as-of day + SLA hours
    first = orders.iloc[0]
    assert first["due_at"] == pd.Timestamp("2026-11-01") + pd.Timedelta(hours=float(first["sla_hours"]))
    assert {"customer_id", "due_at", "value", "stated_reasons", "reason", "top_drivers"} <= set(orders.columns)


def test_respondents_are_quoted_silent_customers_predicted(acted):
    frame, _ = acted
    style = PeopleStyle(labels={"network": "Network coverage"}, currency="EUR")
    words = reason_in_words(frame, style)
    resp = frame["is_respondent"].to_numpy()
    assert words[resp].str.startswith("Answered").all()
    assert words[resp].str.contains("saying: Network coverage, Billing", regex=False).all()
    assert not words[resp].str.contains("likely reason").any(), "respondents get their own words, not a guess"
    assert words[~resp].str.startswith("Predicted").all()
    assert words.str.contains(" EUR").all(), "value at risk with the currency"


def test_written_csv_is_excel_safe_utf8_bom_rounded_and_documented(acted, tmp_path):
    frame, pb = acted
    frame = frame.copy()
    frame["driver_1"] = frame["driver_1"].astype("str")
    frame.loc[0, "driver_1"] = '=HYPERLINK("http://x","y")'
    frame.loc[0, "customer_id"] = "@SUM(1+1)"
    paths = write_people_outputs(frame, pb, tmp_path, PeopleStyle(as_of=AS_OF))
    assert paths["scored"].read_bytes().startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(paths["scored"].open(encoding="utf-8-sig")))
    assert rows[0]["driver_1"] == '\'=HYPERLINK("http://x","y")'  # inert: a leading apostrophe
    assert rows[0]["customer_id"] == "'@SUM(1+1)"
    assert not any(v.startswith(("=", "+", "@")) for r in rows for v in r.values())
    # probabilities at 3 decimals, money at 2, integers as integers, dates as ISO days
    assert all(len(r["churn_prob"].split(".")[-1]) <= 3 for r in rows)
    assert float(rows[0]["churn_prob"]) == pytest.approx(frame.loc[0, "churn_prob"], abs=5e-4)
    assert all(len(r["value"].split(".")[-1]) <= 2 for r in rows)
    assert all(r["sla_hours"] == "" or r["sla_hours"].isdigit() for r in rows)
    assert {r["as_of"] for r in rows} == {"2026-10-31"} and rows[0]["scored_on"] == dt.date.today().isoformat()
    header = list(rows[0])
    assert header == [c for c in COLUMNS if c in header]  # documented columns, in documented order
    assert "segment_class" not in header and "to_contact" in header
    for name in ("work_orders", "work_orders_deferred", "segment_summary"):
        assert paths[name].read_bytes().startswith(b"\xef\xbb\xbf")
    dictionary = pd.read_csv(paths["columns"], encoding="utf-8-sig")
    assert set(dictionary["file"]) == {"scored", "work_orders", "segment_summary"}
    assert set(dictionary.loc[dictionary["file"] == "scored", "column"]) == set(header)
    assert dictionary["meaning"].notna().all()
    assert not list(tmp_path.glob(".*tmp*"))  # atomic writes leave no temporary files


def test_european_dialect_reads_back_as_numbers(acted, tmp_path):
    frame, pb = acted
    style = PeopleStyle(delimiter=";", decimal=",", as_of=AS_OF)
    paths = write_people_outputs(frame, pb, tmp_path, style)
    header, first = paths["scored"].read_text(encoding="utf-8-sig").splitlines()[:2]
    assert header.startswith("customer_id;as_of;") and "," in first and "." not in first.split(";")[-1]
    back = load_scored(paths["scored"])
    assert pd.api.types.is_float_dtype(back["churn_prob"])
    assert back["churn_prob"].to_numpy() == pytest.approx(frame["churn_prob"].to_numpy(), abs=5e-4)
    # the file holds what the people see (3 decimals): the playbook checks the same on it as on the rounded frame
    assert check_playbook(pb, back).counts["customers"].tolist() == \
        check_playbook(pb, style.tidy(frame)).counts["customers"].tolist()


def test_deferred_rows_go_to_their_own_file_and_teams_get_theirs(acted, tmp_path):
    frame, pb = acted
    style = PeopleStyle(as_of=AS_OF, files_per_team=True)
    paths = write_people_outputs(frame, pb, tmp_path, style)
    now, later = (pd.read_csv(paths[n], encoding="utf-8-sig") for n in ("work_orders", "work_orders_deferred"))
    orders = work_orders(frame, pb, style)
    assert len(now) == int((~orders["deferred"]).sum()) and len(later) == int(orders["deferred"].sum()) > 0
    assert "deferred" not in now.columns
    scored = pd.read_csv(paths["scored"], encoding="utf-8-sig")
    assert int(scored["to_contact"].sum()) == len(now), "to_contact marks exactly the work orders to do now"
    teams = sorted(p.stem for p in (tmp_path / "work_orders_by_team").iterdir())
    assert teams == sorted(now["owner_team"].astype(str).unique())
    assert sum(len(pd.read_csv(p, encoding="utf-8-sig")) for p in (tmp_path / "work_orders_by_team").iterdir()) \
        == len(now)


def test_column_dictionary_covers_contract_columns():
    contract = ["customer_id", "is_respondent", "observed_score", "observed_class", "predicted_score",
                "p_detractor", "p_passive", "p_promoter", "predicted_class", "churn_prob", "value",
                "value_at_risk", "risk_band", "value_band", "segment", "strategy", "action", "channel",
                "owner_team", "sla_hours", "priority", "deferred"]
    assert [c for c in COLUMN_DOCS if c in contract] == contract
    assert all(COLUMN_DOCS[c] for c in contract)


def test_batched_outputs_match_whole_frame_and_scored_file_checks_back(acted, tmp_path):
    frame, pb = acted
    style = PeopleStyle(as_of=AS_OF)
    whole = write_people_outputs(frame, pb, tmp_path / "whole", style)
    people = PeopleOutputs(pb, style)
    for lo in range(0, len(frame), 150):
        people.add(frame.iloc[lo:lo + 150])
    batched = people.write(tmp_path / "batched")
    for name in ("work_orders", "work_orders_deferred", "segment_summary", "columns"):
        assert batched[name].read_bytes() == whole[name].read_bytes(), name
    queue = people.queue()
    assert sum(t["to_contact"] + t["deferred"] for t in queue.values()) == len(work_orders(frame, pb))
    scored = load_scored(whole["scored"])
    assert check_playbook(pb, scored).counts["customers"].tolist() == \
        check_playbook(pb, style.tidy(frame)).counts["customers"].tolist()



@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_spooled_work_orders_written_in_chunks_equal_one_whole_write(acted, tmp_path, monkeypatch, fmt):
    """Work orders kept on disk (only their sort keys in memory) and written a few rows at a time give the bytes
    of one sort and one write of every order, per file and per team."""
    frame, pb = acted
    style = PeopleStyle(fmt=fmt, as_of=AS_OF, files_per_team=True)
    monkeypatch.setattr(people, "ORDERS_CHUNK", 7)
    (tmp_path / "spool").mkdir()
    spooled = PeopleOutputs(pb, style, spool=tmp_path / "spool")
    for lo in range(0, len(frame), 97):
        spooled.add(frame.iloc[lo:lo + 97])
    assert len(list((tmp_path / "spool").iterdir())) == len(range(0, len(frame), 97))
    assert not any(isinstance(o, pd.DataFrame) for o in spooled.orders._frames)  # in memory: the keys only
    assert list(spooled.orders.keys().columns) == ["deferred", "due_at", "priority", "team", "part", "row"]
    paths = spooled.write(tmp_path / "spooled")
    orders = work_orders(frame, pb, style)
    keep = [c for c in people.WORK_ORDER_COLUMNS if c in orders.columns]
    deferred = orders["deferred"].to_numpy()
    expected = {"work_orders": orders[~deferred], "work_orders_deferred": orders[deferred],
                **{f"work_orders_{team}": part for team, part in
                   orders[~deferred].groupby(orders["owner_team"].astype("str")[~deferred])}}
    assert len(orders[deferred]) > 7 and set(expected) <= set(paths)
    for name, part in expected.items():
        whole = style.write(part[keep].reset_index(drop=True), tmp_path / f"whole-{name}.{fmt}")
        if fmt == "csv":
            assert paths[name].read_bytes() == whole.read_bytes(), name
        else:  # the same values; a Parquet row group per chunk (one below ORDERS_CHUNK orders: the same bytes)
            pd.testing.assert_frame_equal(pd.read_parquet(paths[name]), pd.read_parquet(whole), check_exact=True)
    assert spooled.queue() == PeopleOutputs(pb, style).add(frame).queue()
    monkeypatch.setattr(people, "ORDERS_CHUNK", len(orders))
    one_chunk = spooled.write(tmp_path / "one_chunk")["work_orders_deferred"]
    whole = style.write(orders[deferred][keep].reset_index(drop=True), tmp_path / f"whole.{fmt}")
    assert one_chunk.read_bytes() == whole.read_bytes()


def test_output_format_follows_the_extension_and_rejects_a_mismatch(tmp_path):
    from cxpredict.errors import ConfigError

    assert output_format(tmp_path / "s.xlsx") == "xlsx" and output_format(tmp_path / "s.csv", "csv") == "csv"
    with pytest.raises(ConfigError, match="name the file s.xlsx"):
        output_format(tmp_path / "s.csv", "xlsx")
    with pytest.raises(ConfigError, match="unknown extension"):
        output_format(tmp_path / "s.txt")


def test_one_driver_ranking_orders_by_the_what_if():
    glob = pd.DataFrame({"driver": ["Support", "Network", "Other"], "actionable": [True, True, False],
                         "mean_abs_attribution": [0.9, 0.7, 0.1]})
    what_if = pd.DataFrame({"driver": ["All actionable drivers", "Network", "Support", "Other"],
                            "change_points": [-9.0, -5.0, -2.0, -1.0]})
    ranked = rank_drivers({"kda_global": glob, "kda_what_if": what_if})
    assert ranked["driver"].tolist() == ["Network", "Support", "Other"] and ranked["rank"].tolist() == [1, 2, 3]
    again = rank_drivers({"kda_global": ranked, "kda_what_if": what_if})
    assert again["driver"].tolist() == ranked["driver"].tolist(), "ranking a ranked table changes nothing"


# --------------------------------------------------------------------------------------------- LibreOffice
ODS = {"table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
       "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
       "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0"}


def _open_in_calc(path, tmp_path, infilter: str | None = None) -> list[dict[str, tuple[str, str]]]:
    """Open a file in LibreOffice Calc as a user would (headless), save it as ODS and read each cell back as
    (type, value): 'float', 'percentage', 'date', 'string', ... Rows as dicts keyed by the header row."""
    import shutil
    import subprocess
    import xml.etree.ElementTree as ET
    import zipfile

    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice is None:
        pytest.skip("LibreOffice (soffice) is not installed; scripts/setup_system.sh installs libreoffice-calc")
    out = tmp_path / "calc"
    cmd = [soffice, "--headless", "--norestore", f"-env:UserInstallation={(tmp_path / 'lo-profile').as_uri()}",
           *([f"--infilter={infilter}"] if infilter else []), "--convert-to", "ods", "--outdir", str(out), str(path)]
    subprocess.run(cmd, capture_output=True, timeout=180, check=False)
    ods = out / f"{path.stem}.ods"
    assert ods.is_file(), f"LibreOffice did not convert {path.name}"
    root = ET.fromstring(zipfile.ZipFile(ods).read("content.xml"))
    t, o = "{%s}" % ODS["table"], "{%s}" % ODS["office"]
    table = root.find(f".//{t}table")
    rows = []
    for row in table.iter(f"{t}table-row"):
        cells = []
        for cell in row.iter(f"{t}table-cell"):
            kind = cell.get(f"{o}value-type", "")
            value = cell.get(f"{o}value") or cell.get(f"{o}date-value") or "".join(cell.itertext())
            cells += [(kind, value)] * int(cell.get(f"{t}number-columns-repeated", "1"))
        rows.append(cells)
        if len(rows) > 6:
            break
    header = [v for _, v in rows[0]]
    return [dict(zip(header, r)) for r in rows[1:]]


GERMAN_CSV = "CSV:59,34,76,1,,1031"  # ';' separated, '"' quoted, UTF-8, from line 1, German locale (decimal ',')


@pytest.mark.slow
def test_european_csv_opens_with_numbers_as_numbers_in_libreoffice(acted, tmp_path):
    frame, pb = acted
    euro = write_people_outputs(frame, pb, tmp_path / "euro", PeopleStyle(delimiter=";", decimal=",", as_of=AS_OF))
    rows = _open_in_calc(euro["scored"], tmp_path, GERMAN_CSV)
    first = frame.iloc[0]
    assert rows[0]["churn_prob"][0] == "float" and float(rows[0]["churn_prob"][1]) == pytest.approx(
        first["churn_prob"], abs=5e-4)
    assert rows[0]["value"][0] == "float" and float(rows[0]["value"][1]) == pytest.approx(first["value"], abs=5e-3)
    assert rows[0]["as_of"] == ("date", "2026-10-31")
    # the control: the default dialect in the same German Calc does not give these numbers
    plain = write_people_outputs(frame, pb, tmp_path / "plain", PeopleStyle(as_of=AS_OF))
    german = _open_in_calc(plain["scored"], tmp_path / "plain", "CSV:44,34,76,1,,1031")
    assert not (german[0]["churn_prob"][0] == "float"
                and float(german[0]["churn_prob"][1]) == pytest.approx(first["churn_prob"], abs=5e-4))


@pytest.mark.slow
def test_xlsx_opens_with_percentages_money_and_dates_in_libreoffice(acted, tmp_path):
    frame, pb = acted
    paths = write_people_outputs(frame, pb, tmp_path, PeopleStyle(fmt="xlsx", currency="EUR", as_of=AS_OF))
    rows = _open_in_calc(paths["scored"], tmp_path)
    first = frame.iloc[0]
    assert rows[0]["Churn probability"][0] == "percentage"
    assert float(rows[0]["Churn probability"][1]) == pytest.approx(first["churn_prob"], rel=1e-9), "full precision"
    assert rows[0]["Customer value"][0] in ("float", "currency")
    assert float(rows[0]["Customer value"][1]) == pytest.approx(first["value"], rel=1e-9)
    assert rows[0]["Data as of"] == ("date", "2026-10-31")
    orders = _open_in_calc(paths["work_orders"], tmp_path / "orders")
    assert orders[0]["Due by"][0] == "date" and orders[0]["Customer ID"][0] == "string"


def test_queue_shows_control_customers_apart_from_capacity(acted):
    """Capacity is settled before groups, so control customers within capacity take places no work order fills:
    the queue counts them per team, and to_contact + control + deferred is every routed customer of the team."""
    frame, pb = acted
    frame = frame.assign(group=np.where(np.arange(len(frame)) % 3 == 0, "control", "treated"))
    people = PeopleOutputs(pb, PeopleStyle(as_of=AS_OF))
    for lo in range(0, len(frame), 150):
        people.add(frame.iloc[lo:lo + 150])
    queue = people.queue()
    routed = frame[frame["rule"].astype("str").isin([r.name for r in pb.rules if r.raises_work_order])]
    held = routed[(routed["group"] == "control") & ~routed["deferred"]]
    assert sum(t["control"] for t in queue.values()) == len(held) > 0
    for team, t in queue.items():
        mine = routed[routed["owner_team"].astype("str") == team]
        treated_deferred = int((mine["deferred"] & (mine["group"] == "treated")).sum())
        assert t["to_contact"] + t["control"] + t["deferred"] == len(mine) - int(
            (mine["deferred"] & (mine["group"] == "control")).sum())
        assert t["deferred"] == treated_deferred


def test_labels_are_mapped_once_per_value_as_row_by_row():
    """Driver and reason labels are computed per distinct value: the same text as labelling every row."""
    style = PeopleStyle(labels={"network": "Network quality", "Billing": "Bills"})
    frame = pd.DataFrame({"driver_1": pd.array(["network", None, "Billing", "network", ""], dtype="str"),
                          "driver_2": pd.array([None, "Billing", "usage_trend", "network", None], dtype="str")})
    by_row = [", ".join(style.label(v) for v in row if isinstance(v, str) and v)
              for row in frame.astype(object).where(frame.notna(), None).itertuples(index=False)]
    assert top_drivers(frame, style).tolist() == by_row
    codes = pd.Series(["network;Billing", None, "", " usage_trend ;", "network;Billing"], dtype="str")
    labelled = people._labelled(codes, style)
    assert labelled.dtype == "str" and labelled.isna().tolist() == [False, True, True, False, False]
    assert labelled.dropna().tolist() == ["Network quality, Bills", "Usage trend", "Network quality, Bills"]


def test_money_is_formatted_once_per_whole_amount_as_value_by_value():
    """Value at risk in the reason sentence: the same text as `style.money` per row (half-even rounding, a negative
    amount that rounds to zero stays "-0", non-finite values "unknown"), with or without a currency."""
    rng = np.random.default_rng(4)
    values = np.concatenate([rng.gamma(2, 300, 5000), [-0.3, -0.0, 0.0, 0.5, 1.5, 2.5, -2.5, np.nan, np.inf, -np.inf,
                                                       1e20, 12345678.5, 0.49999999999999994]])
    for style in (PeopleStyle(currency="EUR"), PeopleStyle()):
        series = pd.Series(values, index=np.arange(len(values)) * 3)
        expected = [style.money(v) if np.isfinite(v) else "unknown" for v in values]
        got = people._money(series, style)
        assert got.tolist() == expected and got.dtype == "str" and got.index.equals(series.index)

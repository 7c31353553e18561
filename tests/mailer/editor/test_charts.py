"""The dashboard's SVG charts (pure): well-formed XML with a title and a description, values
placed on the scale, gaps for unknown days, an empty chart that says so, escaped labels; and the
console's numbers in Latin or Arabic-Indic digits."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mailer.editor import charts
from mailer.editor.figures import Figures

SVG = "{http://www.w3.org/2000/svg}"
DAYS = [date(2026, 11, 1) + timedelta(days=i) for i in range(30)]
FIG = Figures("latin", "ar")


def parse(markup: str) -> ET.Element:
    return ET.fromstring(markup)  # noqa: S314  (our own output, checked for well-formedness)


def line(values: list[float | None], **kw: object) -> str:
    return charts.line_chart("c1", "عنوان", "وصف", DAYS[: len(values)], [charts.Series("س", values)],
                             fmt=FIG.number, day_label=FIG.short_day, **kw)  # type: ignore[arg-type]


def test_nice_ceiling_and_ticks() -> None:
    assert [charts.nice_ceiling(v) for v in (0, -3, 0.7, 1, 3, 7, 11, 240, 0.0031)] == [1, 1, 1, 1, 5, 10, 20, 250, 0.005]
    assert charts.ticks(20) == [0, 5, 10, 15, 20]
    assert charts.ticks(5) == [0, 1, 2, 3, 4, 5] and charts.ticks(0.005) == pytest.approx([0, 0.001, 0.002, 0.003, 0.004, 0.005])
    assert charts.ticks(250) == [0, 50, 100, 150, 200, 250] and charts.ticks(1) == [0, 0.25, 0.5, 0.75, 1]


def test_a_line_chart_is_valid_svg_with_title_desc_and_a_point_per_known_day() -> None:
    root = parse(line([1, 5, None, 20, 10]))
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert root.get("aria-labelledby") == "c1-title c1-desc"
    assert root.find(f"{SVG}title").text == "عنوان" and root.find(f"{SVG}desc").text == "وصف"  # type: ignore[union-attr]
    circles = root.findall(f".//{SVG}g[@class='series']/{SVG}circle")
    assert len(circles) == 4
    # the unknown day breaks the line: two runs of two points
    assert [len(p.get("points", "").split()) for p in root.iter(f"{SVG}polyline")] == [2, 2]
    # the scale tops at 20 (a nice ceiling of the maximum): 20 sits on the top edge, 0 on the bottom
    ys = {c.find(f"{SVG}title").text.split(": ")[-1]: float(c.get("cy", "0")) for c in circles}  # type: ignore[union-attr]
    assert ys["20"] == charts.TOP
    assert ys["10"] == pytest.approx((charts.TOP + charts.HEIGHT - charts.BOTTOM) / 2)
    labels = [t.text for t in root.findall(f".//{SVG}g[@class='values']/{SVG}text")]
    assert labels == ["0", "5", "10", "15", "20"]


def test_points_say_their_day_and_value_in_arabic() -> None:
    arabic = Figures("arabic", "ar")
    svg = charts.bar_chart("b", "ر", "و", DAYS[:3], charts.Series("رسائل", [1200, 0, 3]),
                           fmt=arabic.number, day_label=arabic.short_day)
    titles = [t.text for t in parse(svg).iter(f"{SVG}title")]
    assert "١ نوفمبر: ١٬٢٠٠" in titles
    assert len(parse(svg).findall(f".//{SVG}rect[@height]")) >= 3


def test_bars_scale_to_the_largest_day() -> None:
    root = parse(charts.bar_chart("b", "t", "d", DAYS[:4], charts.Series("s", [50, 100, None, 25]),
                                  fmt=FIG.number, day_label=FIG.short_day))
    bars = root.findall(f".//{SVG}g[@class='series']/{SVG}rect")
    heights = [float(b.get("height", "0")) for b in bars]
    full = charts.HEIGHT - charts.BOTTOM - charts.TOP
    assert heights == pytest.approx([full / 2, full, full / 4])  # no bar for the unknown day


def test_an_empty_series_makes_a_chart_that_says_so() -> None:
    for svg in (line([None, None, None]), line([]),
                charts.bar_chart("b", "t", "d", [], charts.Series("s", []), fmt=FIG.number, day_label=FIG.short_day)):
        root = parse(svg)
        assert root.find(f".//{SVG}text[@class='empty']").text == charts.EMPTY  # type: ignore[union-attr]
        assert root.find(f"{SVG}title") is not None


def test_a_guide_line_is_drawn_with_its_label() -> None:
    root = parse(line([0.0005, 0.002], guides=[charts.Guide(0.003, "حدّ Gmail")]))
    guide = root.find(f".//{SVG}g[@class='guide']")
    assert guide is not None and "حدّ Gmail" in (guide.find(f"{SVG}text").text or "")  # type: ignore[union-attr]


def test_labels_are_escaped() -> None:
    svg = charts.line_chart("x", "<script>alert(1)</script>", "a & b", DAYS[:2],
                            [charts.Series('"><script>', [1, 2])], fmt=FIG.number, day_label=FIG.short_day)
    root = parse(svg)
    assert root.find(f"{SVG}title").text == "<script>alert(1)</script>"  # type: ignore[union-attr]
    assert not list(root.iter("script")) and not list(root.iter(f"{SVG}script"))


def test_a_series_of_the_wrong_length_is_refused() -> None:
    with pytest.raises(ValueError, match="3 values for 2 days"):
        charts.line_chart("x", "t", "d", DAYS[:2], [charts.Series("s", [1, 2, 3])], fmt=FIG.number,
                          day_label=FIG.short_day)


def test_an_unsafe_id_is_refused() -> None:
    with pytest.raises(ValueError, match="ident"):
        charts.line_chart('a" onload="x', "t", "d", DAYS[:1], [charts.Series("s", [1])], fmt=FIG.number,
                          day_label=FIG.short_day)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(min_value=0, max_value=1e9)), min_size=1, max_size=90))
def test_any_series_makes_well_formed_svg_inside_the_frame(values: list[float | None]) -> None:
    root = parse(line(values) if len(values) <= 30 else charts.line_chart(
        "h", "t", "d", [DAYS[0] + timedelta(days=i) for i in range(len(values))], [charts.Series("s", values)],
        fmt=FIG.number, day_label=FIG.short_day))
    for circle in root.iter(f"{SVG}circle"):
        assert charts.LEFT <= float(circle.get("cx", "-1")) <= charts.WIDTH - charts.RIGHT
        assert charts.TOP <= float(circle.get("cy", "-1")) <= charts.HEIGHT - charts.BOTTOM


def test_figures_in_latin_and_arabic_indic_digits() -> None:
    latin, arabic = Figures("latin"), Figures("arabic")
    assert (latin.number(1234567), arabic.number(1234567)) == ("1,234,567", "١٬٢٣٤٬٥٦٧")
    assert (latin.percent(0.0012), arabic.percent(0.0012)) == ("0.12%", "٠٫١٢٪")
    assert (latin.percent(0.003), arabic.percent(None)) == ("0.3%", "—")
    assert latin.short_day(date(2026, 12, 1)) == "1 ديسمبر"
    assert arabic.long_day(date(2026, 12, 1)) == "الثلاثاء، ١ ديسمبر ٢٠٢٦"

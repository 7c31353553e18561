"""Numbers, rates and days as the console writes them in Arabic: Latin or Arabic-Indic digits
(``MAILER_DIGITS``), the Arabic decimal and percent signs with Arabic-Indic digits, Arabic month
names (Babel). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date

from mailer.core.arabic import digits, gregorian_date


@dataclass(frozen=True)
class Figures:
    """The writing of numbers and days for one site (its ``digits`` and ``date_locale``)."""

    style: str = "latin"  # latin | arabic
    locale: str = "ar"

    def number(self, value: float) -> str:
        """A count (thousands grouped), or a value with up to two decimals."""
        text = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}".rstrip("0").rstrip(".")
        if self.style == "arabic":
            text = text.replace(",", "\u066c").replace(".", "\u066b")
        return digits(text, self.style)

    def percent(self, rate: float | None, places: int = 2) -> str:
        """``rate`` (a fraction) as a percentage, e.g. 0.0012 -> "0.12%" or "٠٫١٢٪"; None -> "—"."""
        if rate is None:
            return "—"
        text = f"{rate * 100:.{places}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        if self.style == "arabic":
            return digits(text.replace(".", "\u066b"), self.style) + "\u066a"
        return text + "%"

    def short_day(self, day: date) -> str:
        """E.g. "1 ديسمبر", for a chart's axis."""
        return digits(format_date(day, format="d MMMM", locale=self.locale), self.style)

    def long_day(self, day: date) -> str:
        """E.g. "الثلاثاء، 1 ديسمبر 2026", for tables and warnings."""
        return gregorian_date(day, locale=self.locale, style=self.style)

    def moment(self, at: datetime, tz: ZoneInfo) -> str:
        """E.g. "الثلاثاء، 1 ديسمبر 2026، 12:05", in the site's time zone (the page says which)."""
        local = at.astimezone(tz)
        return f"{self.long_day(local.date())}، {digits(local.strftime('%H:%M'), self.style)}"

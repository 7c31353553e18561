"""A number typed by a person or sent by a client is ASCII digits: "²" passes str.isdigit() and
int() refuses it (a 500 where a refusal naming the field belongs), "٣" passes both and would name
a row the person never typed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mailer.core.errors import InvalidInput
from mailer.core.settings import Settings
from mailer.editor.previews import _number
from mailer.web.console import _checked_query


@pytest.mark.parametrize("typed", ["²", "٣", "３"])
def test_an_editor_reference_in_other_digits_is_refused(typed: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        _number(typed, "an edition number", "رقم العدد غير صالح.")
    assert refused.value.field == "ref"


@pytest.mark.parametrize("typed", ["²", "٣", "３"])
def test_a_console_section_in_other_digits_is_refused(typed: str, make_settings: Callable[..., Settings]) -> None:
    with pytest.raises(InvalidInput) as refused:
        _checked_query("", "", "", "", typed, "", make_settings())
    assert refused.value.field == "section"
    assert _checked_query("", "", "", "", "3", "", make_settings()).section_id == 3

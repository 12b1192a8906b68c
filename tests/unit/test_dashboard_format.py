"""The dashboard page's number formats: one per unit."""

import pytest

from aether.services.dashboard_html import count, mb, ms, pct, usd


@pytest.mark.parametrize(
    ("value", "shown"), [(None, "n/a"), (1.919, "1.9 ms"), (12.4, "12 ms"), (1378.06, "1,378 ms")]
)
def test_milliseconds(value, shown):
    assert ms(value) == shown


@pytest.mark.parametrize(("value", "shown"), [(None, "n/a"), (0.016, "1.6%"), (0.0, "0.0%"), (1.0, "100%")])
def test_percentages(value, shown):
    assert pct(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.000368, "$0.000368"), (0.0123, "$0.0123"), (0.5, "$0.500"), (0.0, "$0"), (1234.5, "$1,234.50")],
)
def test_dollars(value, shown):
    assert usd(value) == shown


def test_counts_and_megabytes():
    assert (count(1234), count(None), mb(312.4)) == ("1,234", "n/a", "312 MB")

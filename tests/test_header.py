"""wrk's header lines, printed before the load without numpy (``_header``): the duration as
``units.format_time_s`` (x87 long double) prints it, for every duration a run can have."""

from __future__ import annotations

import math

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from pyload._header import duration_text
from pyload.units import LONGDOUBLE_IS_X87, format_time_s

pytestmark = pytest.mark.skipif(
    not LONGDOUBLE_IS_X87, reason="wrk's rounding needs the x87 80-bit long double"
)


def test_every_whole_duration_up_to_a_day_and_the_halves_around_the_minute() -> None:
    for seconds in range(86_401):
        assert duration_text(seconds) == format_time_s(seconds), seconds
    for seconds in (0.5, 1.5, 2.5, 50.5, 50.999999, 51.0, 89.99, 90.0, 150.0, 150.0000001):
        assert duration_text(seconds) == format_time_s(seconds), seconds


@given(st.floats(min_value=0.0, max_value=1e12, allow_nan=False, allow_infinity=False))
@example(30.0 * 61)  # 30.5 minutes: half to even
@example(math.nextafter(51.0, 0.0))  # just under the minute's threshold
@example(math.nextafter(150.0, math.inf))  # just over a half
def test_any_fractional_duration(seconds: float) -> None:
    assert duration_text(seconds) == format_time_s(seconds)

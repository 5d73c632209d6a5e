"""The soak's RSS growth read from the saw-tooth's troughs, not from two samples that fall anywhere on it."""

from __future__ import annotations

from rejoinder.soak.report import trough_growth


def test_a_flat_saw_tooth_has_no_trough_growth_whatever_two_samples_say() -> None:
    saw = [(60.0 + 10 * i, 2740.0 + (i % 3) * 60) for i in range(56)]  # troughs flat at 2740
    assert saw[-1][1] - saw[0][1] == 60.0  # what the single-sample figure would say
    assert trough_growth(saw) == 0.0


def test_troughs_that_rise_are_growth() -> None:
    rising = [(60.0 + 10 * i, 2740.0 + i + (i % 3) * 60) for i in range(55)]
    assert trough_growth(rising) == 48.0  # lowest of the last minute (i=48) minus the first's (i=0)


def test_too_short_a_run_has_no_trough_figure() -> None:
    assert trough_growth([(60.0, 1.0), (150.0, 2.0)]) is None

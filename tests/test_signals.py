from __future__ import annotations

from typing import Any

import pytest
from django.dispatch import Signal

from django_sepsms.signals import send_after_commit

pytestmark = pytest.mark.django_db


def test_a_signal_nobody_listens_to_costs_no_commit_callback(
    django_capture_on_commit_callbacks: Any,
) -> None:
    signal = Signal()
    with django_capture_on_commit_callbacks() as callbacks:
        send_after_commit(signal, object, value=1)
    assert callbacks == []


def test_receivers_run_after_commit_and_a_failing_one_breaks_nothing(
    django_capture_on_commit_callbacks: Any, caplog: pytest.LogCaptureFixture
) -> None:
    signal, seen = Signal(), []

    def broken(**kwargs: Any) -> None:
        raise RuntimeError("receiver bug")

    def working(**kwargs: Any) -> None:
        seen.append(kwargs["value"])

    signal.connect(broken, weak=False)
    signal.connect(working, weak=False)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        send_after_commit(signal, object, value=1)
        assert seen == []
    assert len(callbacks) == 1
    assert seen == [1]
    assert "receiver bug" in caplog.text

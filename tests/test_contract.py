"""The provider's values, read in contract.py, are each understood by the app."""

from __future__ import annotations

from django_sepsms import contract
from django_sepsms.models import Message
from django_sepsms.tracking.status import MESSAGE_RANK, PROVIDER_DELIVERY_STATUS


def test_every_delivery_status_of_the_provider_is_mapped() -> None:
    assert set(contract.DELIVERY_STATUSES) <= set(PROVIDER_DELIVERY_STATUS)


def test_every_message_status_of_the_provider_is_a_message_status() -> None:
    assert set(contract.MESSAGE_STATUSES) <= set(Message.Status.values)
    assert set(contract.MESSAGE_STATUSES) <= set(MESSAGE_RANK)


def test_only_4xx_answers_to_a_post_prove_nothing_was_done() -> None:
    assert all(contract.post_was_refused(s) for s in (400, 401, 402, 403, 404, 422, 429))
    assert not any(contract.post_was_refused(s) for s in (500, 502, 503, 504))

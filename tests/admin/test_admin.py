"""The delivery log in the admin: masking, search, actions, dashboard, query counts, retention."""

from __future__ import annotations

import datetime as dt
import re
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from django_sepsms import send_otp, send_sms
from django_sepsms.admin import messages as admin_messages
from django_sepsms.models import Message, OtpChallenge, Recipient, WebhookEvent
from django_sepsms.simulator import Simulator

pytestmark = pytest.mark.django_db

MODELS = ["message", "messagebatch", "recipient", "otpchallenge", "webhookevent", "phonenumber"]


def staff(full_phones: bool = False) -> Any:
    user = get_user_model().objects.create_user(
        username=f"staff{int(full_phones)}", password="pw", is_staff=True
    )
    codenames = [f"view_{m}" for m in MODELS]
    if full_phones:
        codenames.append("view_full_phone")
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def support(client: Client) -> Client:
    client.force_login(staff())
    return client


@pytest.fixture
def boss() -> Client:
    client = Client()
    client.force_login(staff(full_phones=True))
    return client


@pytest.mark.parametrize("model", MODELS)
def test_every_changelist_renders(support: Client, model: str, sms_outbox: list[Any]) -> None:
    send_sms("Hello", ["0812345678"])
    send_otp("0812345678")
    assert support.get(reverse(f"admin:sepsms_{model}_changelist")).status_code == 200


def test_logs_are_read_only(support: Client, sms_outbox: list[Any]) -> None:
    msg = send_sms("Hello", ["0812345678"])
    assert support.get(reverse("admin:sepsms_message_add")).status_code == 403
    page = support.get(reverse("admin:sepsms_message_change", args=[msg.pk]))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()


def test_numbers_are_masked_without_the_permission(
    support: Client, boss: Client, sms_outbox: list[Any]
) -> None:
    msg = send_sms("Hello", ["0812345678"])
    challenge = send_otp("0812345678")
    recipient = Recipient.objects.get(message=msg)
    urls = [
        reverse("admin:sepsms_message_change", args=[msg.pk]),
        reverse("admin:sepsms_recipient_changelist"),
        reverse("admin:sepsms_recipient_change", args=[recipient.pk]),
        reverse("admin:sepsms_otpchallenge_changelist"),
        reverse("admin:sepsms_otpchallenge_change", args=[challenge.pk]),
    ]
    for url in urls:
        body = support.get(url).content.decode()
        assert "66812345678" not in body, url
        assert "0xx-xxx-xx78" in body, url
        assert challenge.code_hash not in body
    assert "081-234-5678" in boss.get(urls[0]).content.decode()
    assert "081-234-5678" in boss.get(urls[1]).content.decode()


@pytest.mark.parametrize("term", ["0812345678", "+66 81-234-5678", "66812345678"])
def test_search_messages_by_phone_in_any_format(
    support: Client, term: str, sms_outbox: list[Any]
) -> None:
    wanted = send_sms("Wanted", ["0812345678"])
    send_sms("Other", ["0912345678"])
    page = support.get(reverse("admin:sepsms_message_changelist"), {"q": term})
    ids = [m.pk for m in page.context["cl"].result_list]
    assert ids == [wanted.pk]


def test_search_by_provider_uuid_and_ref_no(support: Client, sms_outbox: list[Any]) -> None:
    msg = send_sms("Hello", ["0812345678"])
    batch = msg.batches.get()
    url = reverse("admin:sepsms_message_changelist")
    for term in (batch.provider_uuid, batch.ref_no):
        assert term
        assert [m.pk for m in support.get(url, {"q": term}).context["cl"].result_list] == [msg.pk]
    assert list(support.get(url, {"q": "nothing"}).context["cl"].result_list) == []


def test_recipient_search_and_message_page_paginates(
    support: Client, sms_outbox: list[Any]
) -> None:
    msg = send_sms("Hello", [f"08123{i:05d}" for i in range(120)])
    page = support.get(reverse("admin:sepsms_recipient_changelist"), {"q": "081-230-0007"})
    assert [r.phone for r in page.context["cl"].result_list] == ["66812300007"]
    detail = support.get(reverse("admin:sepsms_message_change", args=[msg.pk]), {"recipients": 3})
    assert detail.context["recipient_page"].number == 3
    assert len(detail.context["recipient_rows"]) == 20


def test_message_page_costs_the_same_for_10_and_2000_recipients(
    support: Client, sms_outbox: list[Any]
) -> None:
    """One page of rows is read and the total is the message's own: no ``COUNT`` of them."""
    small = send_sms("Hello", [f"08124{i:05d}" for i in range(10)])
    big = send_sms("Hello", [f"08125{i:05d}" for i in range(2000)])
    pages = {}
    for msg in (small, big):
        url = reverse("admin:sepsms_message_change", args=[msg.pk])
        support.get(url)
        with CaptureQueriesContext(connection) as ctx:
            response = support.get(url)
        assert response.status_code == 200
        pages[msg.recipient_count] = (response, ctx.captured_queries)
    (few, few_queries), (many, many_queries) = pages[10], pages[2000]
    assert len(many_queries) == len(few_queries)
    counted = [q["sql"] for q in many_queries if "COUNT(" in q["sql"].upper()]
    assert not [sql for sql in counted if "sepsms_recipient" in sql], counted
    assert len(few.context["recipient_rows"]) == 10
    assert len(many.context["recipient_rows"]) == admin_messages.RECIPIENTS_PER_PAGE
    assert many.content.decode().count("<tr><td>") == admin_messages.RECIPIENTS_PER_PAGE
    assert "Recipients (2000)" in many.content.decode()
    assert not few.context["recipients_beyond"]
    assert "?message__id__exact=" not in few.content.decode()


def test_message_page_links_to_the_rest_of_its_recipients(
    support: Client, sms_outbox: list[Any]
) -> None:
    shown = admin_messages.RECIPIENTS_PER_PAGE * admin_messages.RECIPIENT_PAGES
    msg = send_sms("Hello", [f"08126{i:05d}" for i in range(shown + 5)])
    send_sms("Other", ["0812345678"])
    url = reverse("admin:sepsms_message_change", args=[msg.pk])
    last = support.get(url, {"recipients": 9999})
    assert last.context["recipient_page"].number == admin_messages.RECIPIENT_PAGES
    assert last.context["recipients_beyond"]
    link = reverse("admin:sepsms_recipient_changelist") + f"?message__id__exact={msg.pk}"
    assert f'href="{link}"' in last.content.decode()
    listed = support.get(link)
    assert listed.status_code == 200
    assert {r.message_id for r in listed.context["cl"].result_list} == {msg.pk}
    assert listed.context["cl"].queryset.count() == shown + 5


def _queries(client: Client, url: str, params: dict[str, str] | None = None) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url, params or {}).status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("message", {}),
        ("message", {"status__exact": "completed"}),
        ("message", {"q": "0812345678"}),
        ("recipient", {}),
        ("recipient", {"status__exact": "success"}),
        ("recipient", {"q": "0812345678"}),
    ],
)
def test_query_count_does_not_grow_with_rows(
    support: Client, model: str, params: dict[str, str], sms_outbox: list[Any]
) -> None:
    url = reverse(f"admin:sepsms_{model}_changelist")
    send_sms("Hello", ["0812345678"])
    _queries(support, url, params)  # fills the cached list of sender names
    few = _queries(support, url, params)
    for i in range(30):
        send_sms("Hello", ["0812345678", f"09123{i:05d}"])
    assert _queries(support, url, params) == few


def test_refresh_status_action(sim: Simulator, support: Client) -> None:
    msg = send_sms("Hello", ["0812345678"])
    sim.deliver_now(msg.batches.get().provider_uuid)
    staff_user = get_user_model().objects.get(username="staff0")
    staff_user.user_permissions.add(Permission.objects.get(codename="change_message"))
    response = support.post(
        reverse("admin:sepsms_message_changelist"),
        {"action": "refresh_status", "_selected_action": [msg.pk]},
        follow=True,
    )
    assert response.status_code == 200
    msg.refresh_from_db()
    assert msg.status == Message.Status.COMPLETED
    assert msg.delivered_count == 1


def test_resend_failed_and_export(boss: Client, sms_outbox: list[Any]) -> None:
    msg = send_sms(
        "Hello {name}", ["0812345678", "0912345678"], variables={"0912345678": {"name": "Malee"}}
    )
    Recipient.objects.filter(phone="66912345678").update(status=Recipient.Status.FAILED)
    url = reverse("admin:sepsms_message_changelist")
    boss_user = get_user_model().objects.get(username="staff1")
    boss_user.user_permissions.add(Permission.objects.get(codename="change_message"))
    boss.post(url, {"action": "resend_failed", "_selected_action": [msg.pk]})
    copy = Message.objects.get(resent_from=msg)
    assert list(copy.recipients.values_list("phone", flat=True)) == ["66912345678"]
    assert sms_outbox[-1].message == "Hello Malee"
    export = boss.post(url, {"action": "export_csv", "_selected_action": [msg.pk, copy.pk]})
    assert isinstance(export, StreamingHttpResponse)
    lines = b"".join(export.streaming_content).decode().splitlines()
    assert lines[0] == (
        "Message,Created,Sender name,Phone number,Delivery status,Transaction id,Error code,Reason"
    )
    assert len(lines) == 4
    assert any("091-234-5678" in line for line in lines)


def test_unconfirmed_sends_are_recorded_never_sent_only_after_confirming(
    boss: Client, sim: Simulator
) -> None:
    from django_sepsms.backends.sepsms import SepsmsBackend
    from django_sepsms.models import MessageBatch
    from django_sepsms.sending import NOT_SENT_CODE

    sim.fail_next("/message/send", status=502)  # the provider may have it
    unconfirmed = send_sms(
        "Hello", ["0812345678", "0912345678"], backend=SepsmsBackend(), fail_silently=True
    )
    accepted = send_sms("Hello", ["0812345678"])
    assert unconfirmed.status == Message.Status.UNCONFIRMED
    user = get_user_model().objects.get(username="staff1")
    user.user_permissions.add(Permission.objects.get(codename="change_message"))
    url = reverse("admin:sepsms_message_changelist")
    chosen = {"action": "mark_not_sent", "_selected_action": [unconfirmed.pk, accepted.pk]}

    page = boss.post(url, chosen)
    assert page.status_code == 200
    assert f"#{unconfirmed.pk}" in page.content.decode()
    assert f"#{accepted.pk} " not in page.content.decode()  # nothing to record there
    unconfirmed.refresh_from_db()
    assert unconfirmed.status == Message.Status.UNCONFIRMED  # nothing changes before "yes"

    done = boss.post(url, {**chosen, "post": "yes"}, follow=True)
    assert "2 recipients recorded as never sent." in done.content.decode()
    unconfirmed.refresh_from_db()
    assert unconfirmed.status == Message.Status.FAILED
    assert unconfirmed.failed_count == 2
    assert set(unconfirmed.recipients.values_list("status", "error_code")) == {
        (Recipient.Status.FAILED, NOT_SENT_CODE)
    }
    assert MessageBatch.objects.get(message=accepted).status == Message.Status.PENDING
    # Now, and only now, "Resend to the failed recipients" takes them.
    boss.post(url, {"action": "resend_failed", "_selected_action": [unconfirmed.pk]})
    copy = Message.objects.get(resent_from=unconfirmed)
    assert copy.recipient_count == 2
    assert copy.status == Message.Status.PENDING


def test_recording_never_sent_acts_on_what_it_showed_even_for_select_all(
    boss: Client, sim: Simulator
) -> None:
    from django_sepsms.backends.sepsms import SepsmsBackend

    sim.fail_next("/message/send", status=502, times=3)
    for _ in range(3):
        send_sms("Hello", ["0812345678"], backend=SepsmsBackend(), fail_silently=True)
    user = get_user_model().objects.get(username="staff1")
    user.user_permissions.add(Permission.objects.get(codename="change_message"))
    url = reverse("admin:sepsms_message_changelist")
    first = Message.objects.order_by("pk").first()
    assert first is not None
    chosen = {"action": "mark_not_sent", "_selected_action": [first.pk], "select_across": "1"}
    page = boss.post(url, chosen).content.decode()
    assert page.count('name="_selected_action"') == 3  # all three, as listed
    form = dict(re.findall(r'name="(action|post)" value="([^"]+)"', page))
    pks = re.findall(r'name="_selected_action" value="(\d+)"', page)
    boss.post(url, {**form, "_selected_action": pks})
    assert set(Message.objects.values_list("status", flat=True)) == {Message.Status.FAILED}


def test_only_senders_may_record_sends_as_never_sent(support: Client, sim: Simulator) -> None:
    from django_sepsms.backends.sepsms import SepsmsBackend

    sim.fail_next("/message/send", status=502)
    msg = send_sms("Hello", ["0812345678"], backend=SepsmsBackend(), fail_silently=True)
    url = reverse("admin:sepsms_message_changelist")
    support.post(url, {"action": "mark_not_sent", "_selected_action": [msg.pk], "post": "yes"})
    msg.refresh_from_db()
    assert msg.status == Message.Status.UNCONFIRMED


def test_resending_a_campaign_keeps_each_numbers_values(
    boss: Client, sms_outbox: list[Any]
) -> None:
    from django_sepsms import send_bulk

    report = send_bulk(
        "Hi {name}",
        [("0812345678", {"name": "Somchai"}), {"phone": "0912345678", "name": "Malee"}],
    )
    Recipient.objects.update(status=Recipient.Status.FAILED)
    user = get_user_model().objects.get(username="staff1")
    user.user_permissions.add(Permission.objects.get(codename="change_message"))
    sms_outbox.clear()
    boss.post(
        reverse("admin:sepsms_message_changelist"),
        {"action": "resend_failed", "_selected_action": [report.message.pk]},
    )
    assert sorted(sms.message for sms in sms_outbox) == [
        "Hi Malee",
        "Hi Somchai",
    ]


def test_dashboard(support: Client, sms_outbox: list[Any]) -> None:
    send_sms("Hello", ["0812345678", "0912345678"])
    send_otp("0812345678")
    Recipient.objects.filter(phone="66912345678").update(
        status=Recipient.Status.FAILED, error_code="dr.failed"
    )
    Message.objects.filter(kind=Message.Kind.SMS).update(failed_count=1, delivered_count=1)
    page = support.get(reverse("admin:sepsms_dashboard"))
    body = page.content.decode()
    assert page.status_code == 200
    assert "<svg" in body
    assert page.context["balance"] == 1_000_000
    # OTP texts are SMS too: 2 + 1 sent, the code delivered.
    assert page.context["totals"] == {"sent": 3, "delivered": 2, "failed": 1}
    assert page.context["funnel"]["sent"] == 1
    assert "0xx-xxx-xx78" in body
    assert "dr.failed" in body
    assert (
        support.get(reverse("admin:sepsms_message_changelist"))
        .content.decode()
        .count(reverse("admin:sepsms_dashboard"))
    )


def test_purge_deletes_and_anonymises_in_batches(sms_outbox: list[Any]) -> None:
    old = send_sms("Old news", ["0812345678", "0912345678"])
    send_sms("Fresh", ["0812345678"])
    old_challenge = send_otp("0612345678")
    WebhookEvent.objects.create(
        event="dr.success",
        dedupe_key="k",
        signed_at=timezone.now(),
        payload={"msisdn": "66812345678"},
        msisdn="66812345678",
    )
    long_ago = timezone.now() - dt.timedelta(days=400)
    Message.objects.filter(pk__in=[old.pk, old_challenge.message_id]).update(created_at=long_ago)
    OtpChallenge.objects.update(created_at=long_ago)
    WebhookEvent.objects.update(received_at=long_ago)

    out = StringIO()
    call_command("sepsms_purge", "--days", "365", "--dry-run", stdout=out)
    assert (
        "2 message(s), 3 recipient(s), 1 OTP challenge(s) and 1 webhook event(s)" in out.getvalue()
    )
    assert Message.objects.count() == 3

    call_command(
        "sepsms_purge", "--days", "365", "--anonymise", "--batch-size", "1", stdout=StringIO()
    )
    old.refresh_from_db()
    assert old.text == "[removed]"
    assert not Recipient.objects.filter(message=old, phone__startswith="66").exists()
    assert OtpChallenge.objects.get().phone == "~78"
    assert WebhookEvent.objects.get().payload == {}

    call_command("sepsms_purge", "--days", "365", stdout=StringIO())
    assert list(Message.objects.values_list("text", flat=True)) == ["Fresh"]
    assert OtpChallenge.objects.count() == 0
    assert WebhookEvent.objects.count() == 0

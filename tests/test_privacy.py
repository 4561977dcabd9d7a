"""No full number reaches staff without ``sepsms.view_full_phone``, the logs or anonymised rows.

Every check looks for the number in each form it may take: ``66812345678``,
``0812345678`` and ``812345678`` (all contain the last), ``081-234-5678`` and
``+66 81 234 5678``. Masked forms (``66*******78``) are fine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.http import StreamingHttpResponse
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from django_sepsms import send_otp, send_sms
from django_sepsms.admin import dashboard
from django_sepsms.backends.locmem import LocmemBackend
from django_sepsms.exceptions import ProviderValidationError
from django_sepsms.models import Message, OtpChallenge, PhoneNumber, Recipient, WebhookEvent
from django_sepsms.testing import sign_webhook, webhook_body
from django_sepsms.tracking.sync import sync_messages

pytestmark = pytest.mark.django_db

PHONE = "66812345678"
FORMS = ("812345678", "081-234-5678", "081 234 5678", "+66 81 234 5678", "+66812345678")
MODELS = ["message", "messagebatch", "recipient", "otpchallenge", "webhookevent", "phonenumber"]
LOCMEM = {
    "BACKEND": "django_sepsms.backends.locmem.LocmemBackend",
    "ORIGIN": "TESTSHOP",
    "WEBHOOK_SECRETS": ["whsec_test_current"],
    "ALLOW_LOCAL_BACKEND_IN_PRODUCTION": True,
}


def leaks(text: str, forms: tuple[str, ...] = FORMS) -> list[str]:
    """The forms of the number found in ``text`` (an empty list: none)."""
    return [form for form in forms if form in text]


def staff(full_phones: bool = False, *extra: str) -> Any:
    user = get_user_model().objects.create_user(
        username=f"staff{int(full_phones)}", password="pw", is_staff=True
    )
    codenames = [f"view_{m}" for m in MODELS] + list(extra)
    if full_phones:
        codenames.append("view_full_phone")
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def support() -> Client:
    """Staff who may see every sepsms list, and the numbers only masked."""
    client = Client()
    client.force_login(staff(False, "change_phonenumber"))
    return client


@pytest.fixture
def boss() -> Client:
    client = Client()
    client.force_login(staff(True, "change_phonenumber", "add_phonenumber"))
    return client


def deliver_report(client: Client, **fields: Any) -> Any:
    payload = {"smsUuid": "", "msisdn": PHONE, "txId": "tx-1", "status": "success", **fields}
    body = webhook_body(payload)
    headers = sign_webhook(body, "whsec_test_current", event="dr.success")
    return client.post("/sepsms/webhook/", body, content_type="application/json", **headers)


def number_named_account() -> Any:
    """An account made before phone-login accounts were given opaque names."""
    user = get_user_model().objects.create_user(username=PHONE)
    PhoneNumber.objects.create(user=user, phone=PHONE, verified_at=timezone.now())
    return user


# -- what was seen -----------------------------------------------------------------------


def test_dedupe_key_holds_no_number(support: Client, boss: Client, sms_outbox: Any) -> None:
    with override_settings(SEPSMS=LOCMEM):
        msg = send_sms("Hi", ["0812345678"])
        uuid = msg.batches.get().provider_uuid
        assert deliver_report(Client(), smsUuid=uuid).json() == {"status": "ok"}
    event = WebhookEvent.objects.get()
    assert leaks(event.dedupe_key) == []
    page = support.get(reverse("admin:sepsms_webhookevent_change", args=[event.pk]))
    assert page.status_code == 200
    assert leaks(page.content.decode()) == []
    assert event.dedupe_key in boss.get(page.wsgi_request.path).content.decode()


def test_the_number_in_a_report_key_is_a_keyed_digest() -> None:
    from django_sepsms.webhooks.storage import dedupe_key

    report = {"smsUuid": "sms-1", "msisdn": PHONE, "txId": "tx-1", "status": "success"}
    key = dedupe_key("dr.success", report, b"")
    assert leaks(key) == []
    assert key.startswith("dr.success:sms-1:")
    assert key.endswith(":tx-1:success")
    # Every way of writing the number is one key; another number, another key.
    assert dedupe_key("dr.success", {**report, "msisdn": "081-234-5678"}, b"") == key
    assert dedupe_key("dr.success", {**report, "msisdn": "0912345678"}, b"") != key
    # Not a plain digest, which trying every mobile number would undo.
    assert hashlib.sha256(PHONE.encode()).hexdigest()[:32] not in key
    with override_settings(SECRET_KEY="another-secret-key"):
        assert dedupe_key("dr.success", report, b"") != key


def test_a_key_stored_by_an_older_version_is_masked(support: Client, boss: Client) -> None:
    event = WebhookEvent.objects.create(
        event="dr.success",
        dedupe_key=f"dr.success:sms-1:{PHONE}:tx-1:success",
        signed_at=timezone.now(),
        payload={"msisdn": PHONE},
    )
    url = reverse("admin:sepsms_webhookevent_change", args=[event.pk])
    body = support.get(url).content.decode()
    assert leaks(body) == []
    assert "dr.success:sms-1:66*******78:tx-1:success" in body
    assert event.dedupe_key in boss.get(url).content.decode()


def test_phone_login_accounts_are_not_named_by_the_number(client: Client, sms_outbox: Any) -> None:
    with override_settings(SEPSMS={**LOCMEM, "LOGIN_CREATE_USERS": True}):
        client.post("/sepsms/login/", {"phone": "081-234-5678"})
        code = re.search(r"\b(\d{6,8})\b", sms_outbox[-1].message)
        assert code
        assert client.post("/sepsms/login/verify/", {"code": code.group(1)}).status_code == 302
    user = PhoneNumber.objects.get(phone=PHONE).user
    assert str(client.session["_auth_user_id"]) == str(user.pk)
    assert leaks(user.get_username()) == []
    assert leaks(str(user)) == []
    assert user.get_username().startswith("phone-")


def test_new_account_names_fit_the_user_model(monkeypatch: pytest.MonkeyPatch) -> None:
    from django_sepsms.auth import PhoneBackend

    model = get_user_model()
    field = model._meta.get_field(model.USERNAME_FIELD)
    monkeypatch.setattr(field, "max_length", 10)
    short = PhoneBackend().new_username(PHONE)
    assert len(short) == 10
    assert leaks(short) == []
    monkeypatch.undo()
    # A model whose USERNAME_FIELD is another field gets the name there.
    monkeypatch.setattr(model, "USERNAME_FIELD", "email")

    def create_user(**fields: Any) -> Any:
        assert set(fields) == {"email"}
        return model._default_manager.create(username=fields["email"] + "!", **fields)

    monkeypatch.setattr(model._default_manager, "create_user", create_user)
    user = PhoneBackend().create_user(PHONE)
    assert user.email.startswith("phone-")
    assert PhoneNumber.objects.get(phone=PHONE).user == user


def test_a_taken_name_is_replaced_not_fatal() -> None:
    from django_sepsms.auth import PhoneBackend

    get_user_model().objects.create_user(username="phone-taken")
    names = iter(["phone-taken", "phone-free", "phone-again"])

    class Backend(PhoneBackend):
        def new_username(self, phone: str) -> str:
            return next(names)

    user = Backend().create_user(PHONE)
    assert user.get_username() == "phone-free"
    assert PhoneNumber.objects.get(phone=PHONE).user == user
    # Signed up a moment ago by another request: that account is the one.
    assert Backend().create_user(PHONE) == user


def test_the_documented_rename_gives_old_accounts_opaque_names() -> None:
    from itertools import takewhile
    from pathlib import Path

    number_named_account()
    kept = get_user_model().objects.create_user(username="somchai")
    PhoneNumber.objects.create(user=kept, phone="66912345678", verified_at=timezone.now())
    doc = (Path(__file__).parent.parent / "docs" / "admin.rst").read_text(encoding="utf-8")
    section = doc.split("Accounts named by their number", 1)[1]
    lines = section.split(".. code-block:: python\n", 1)[1].splitlines()
    block = takewhile(lambda line: not line or line.startswith("   "), lines)
    exec("\n".join(line[3:] for line in block), {})
    renamed = PhoneNumber.objects.get(phone=PHONE).user
    assert renamed.get_username().startswith("phone-")
    kept.refresh_from_db()
    assert kept.get_username() == "somchai"


def test_user_labels_are_masked_next_to_their_number(support: Client, boss: Client) -> None:
    user = number_named_account()
    number = PhoneNumber.objects.get()
    challenge = OtpChallenge.objects.create(
        reference="ABC123",
        phone=PHONE,
        purpose="login",
        mode=OtpChallenge.Mode.LOCAL,
        user=user,
        expires_at=timezone.now(),
    )
    urls = [
        reverse("admin:sepsms_phonenumber_changelist"),
        reverse("admin:sepsms_phonenumber_change", args=[number.pk]),
        reverse("admin:sepsms_otpchallenge_changelist"),
        reverse("admin:sepsms_otpchallenge_change", args=[challenge.pk]),
    ]
    for url in urls:
        page = support.get(url)
        assert page.status_code == 200, url
        body = page.content.decode()
        assert leaks(body) == [], url
        assert "0xx-xxx-xx78" in body, url
    # In full: as people read it, and as typed in the phone number's own field.
    for url, shown in zip(
        urls, ["081-234-5678", PHONE, "081-234-5678", "081-234-5678"], strict=True
    ):
        assert shown in boss.get(url).content.decode(), url


def test_anonymise_leaves_no_number_in_any_column(sms_outbox: Any) -> None:
    with override_settings(SEPSMS={**LOCMEM, "OTP_RESEND_COOLDOWN": 0}):
        msg = send_sms("Hi {name}", ["0812345678"], variables={"0812345678": {"name": "Som"}})
        send_otp("0812345678")
        uuid = msg.batches.get().provider_uuid
        deliver_report(Client(), smsUuid=uuid)
        deliver_report(Client(), smsUuid="not-yet-sent", txId="tx-2")
        body = webhook_body({"destination": PHONE, "reference": "R1"})
        headers = sign_webhook(body, "whsec_test_current", event="otp.unknown")
        Client().post("/sepsms/webhook/", body, content_type="application/json", **headers)
    Message.objects.filter(pk=msg.pk).update(error_message=f"Refused: {PHONE}")
    WebhookEvent.objects.update(error="No recipient 0812345678")
    long_ago = timezone.now() - dt.timedelta(days=400)
    Message.objects.update(created_at=long_ago)
    OtpChallenge.objects.update(created_at=long_ago)
    WebhookEvent.objects.update(received_at=long_ago)
    assert WebhookEvent.objects.count() == 3

    call_command("sepsms_purge", "--days", "365", "--anonymise", stdout=StringIO())

    found = []
    for model in apps.get_app_config("sepsms").get_models():
        columns = [f.attname for f in model._meta.concrete_fields]
        for row in model._default_manager.values(*columns):
            for column, value in row.items():
                if value is not None and leaks(str(value)):
                    found.append(f"{model.__name__}.{column}={value!r}")
    assert found == []
    # The rows stay, for statistics.
    assert Recipient.objects.get(message=msg).status == Recipient.Status.SUCCESS
    assert WebhookEvent.objects.count() == 3


def test_anonymise_also_clears_rows_an_older_version_left_a_number_in() -> None:
    WebhookEvent.objects.create(
        event="dr.success",
        dedupe_key=f"dr.success:sms-1:{PHONE}:tx-1:success",
        signed_at=timezone.now(),
        payload={},
    )
    WebhookEvent.objects.update(received_at=timezone.now() - dt.timedelta(days=400))
    out = StringIO()
    call_command("sepsms_purge", "--days", "365", "--anonymise", stdout=out)
    assert "1 webhook event(s)" in out.getvalue()
    assert leaks(WebhookEvent.objects.get().dedupe_key) == []
    out = StringIO()
    call_command("sepsms_purge", "--days", "365", "--anonymise", stdout=out)
    assert "0 webhook event(s)" in out.getvalue()


# -- everywhere else an admin page may show one ----------------------------------------


def test_view_only_staff_see_the_account_label_masked(boss: Client) -> None:
    number_named_account()
    number = PhoneNumber.objects.get()
    viewer = Client()
    viewer.force_login(staff(False))  # may view phone numbers, not change them
    url = reverse("admin:sepsms_phonenumber_change", args=[number.pk])
    body = viewer.get(url).content.decode()
    assert 'name="_save"' not in body
    assert leaks(body) == []
    assert "0xx-xxx-xx78" in body


def test_payload_numbers_are_masked_for_staff_without_the_permission(
    support: Client, boss: Client
) -> None:
    payload = {
        "msisdn": PHONE,
        "destination": "0812345678",
        "recipients": [PHONE, {"to": 66812345678}],
        "note": "reached +66 81 234 5678 at last",
        "variables": {PHONE: {"name": "Som"}},
        "count": 3,
    }
    event = WebhookEvent.objects.create(
        event="sms.unknown",
        dedupe_key="sms.unknown:sha256:0",
        signed_at=timezone.now(),
        payload=payload,
        error="No recipient 081-234-5678",
    )
    url = reverse("admin:sepsms_webhookevent_change", args=[event.pk])
    body = support.get(url).content.decode()
    assert leaks(body) == []
    assert body.count("66*******78") >= 3
    assert "&quot;count&quot;: 3" in body
    full = boss.get(url).content.decode()
    assert "+66 81 234 5678" in full
    assert "081-234-5678" in full


def test_numbers_in_texts_and_errors_are_masked(support: Client, sms_outbox: Any) -> None:
    with override_settings(SEPSMS=LOCMEM):
        msg = send_sms("Your friend 081-234-5678 invited you", ["0912345678"])
    Message.objects.filter(pk=msg.pk).update(error_message=f"Refused: {PHONE}")
    msg.batches.update(error_message=f"Refused: {PHONE}")
    for url in (
        reverse("admin:sepsms_message_changelist"),
        reverse("admin:sepsms_message_change", args=[msg.pk]),
        reverse("admin:sepsms_messagebatch_change", args=[msg.batches.get().pk]),
    ):
        body = support.get(url).content.decode()
        assert leaks(body) == [], url
        assert "66912345678" not in body, url


def test_search_results_filters_and_export_are_masked(support: Client, sms_outbox: Any) -> None:
    with override_settings(SEPSMS=LOCMEM):
        msg = send_sms("Hello", ["0812345678"])
        send_otp("0812345678")
    number_named_account()
    pages = [
        (reverse(f"admin:sepsms_{model}_changelist"), {"q": "0812345678"}) for model in MODELS
    ] + [
        (reverse("admin:sepsms_recipient_changelist"), {"status__exact": "success"}),
        (reverse("admin:sepsms_otpchallenge_changelist"), {"status__exact": "pending"}),
        (reverse("admin:sepsms_message_changelist"), {"origin": "TESTSHOP"}),
    ]
    for url, params in pages:
        page = support.get(url, params)
        assert page.status_code == 200, url
        # The search box shows back what the viewer typed; nothing else may.
        assert leaks(page.content.decode(), ("66812345678", "081-234-5678")) == [], url
    found = sum(len(support.get(url, p).context["cl"].result_list) for url, p in pages[:6])
    assert found >= 5  # message, recipient, OTP, phone number: the search works masked
    export = support.post(
        reverse("admin:sepsms_message_changelist"),
        {"action": "export_csv", "_selected_action": [msg.pk]},
    )
    assert isinstance(export, StreamingHttpResponse)
    csv = b"".join(export.streaming_content).decode()
    assert leaks(csv) == []
    assert "0xx-xxx-xx78" in csv


def test_dashboard_is_masked(support: Client, sms_outbox: Any) -> None:
    with override_settings(SEPSMS=LOCMEM):
        send_sms("Hello", ["0812345678"])
    Recipient.objects.update(status=Recipient.Status.FAILED, error_code=f"refused.{PHONE}")
    body = support.get(reverse("admin:sepsms_dashboard")).content.decode()
    assert leaks(body) == []
    assert "66*******78" in body


def test_every_model_names_itself_without_the_number(sms_outbox: Any) -> None:
    with override_settings(SEPSMS=LOCMEM):
        send_sms("Hello", ["0812345678"])
        send_otp("0812345678")
        deliver_report(Client(), smsUuid="sms-x")
    number_named_account()
    for model in apps.get_app_config("sepsms").get_models():
        rows = list(model._default_manager.all())
        assert rows, model
        for row in rows:
            assert leaks(str(row)) == [], (model, str(row))
            assert leaks(repr(row)) == [], (model, repr(row))


def test_admin_history_names_rows_without_the_number(boss: Client, support: Client) -> None:
    user = get_user_model().objects.create_user(username="somchai")
    add = boss.post(
        reverse("admin:sepsms_phonenumber_add"),
        {"user": user.pk, "phone": "081-234-5678", "is_primary": "on"},
    )
    assert add.status_code == 302, add.content.decode()[:2000]
    number = PhoneNumber.objects.get()
    assert number.phone == PHONE
    change = support.post(
        reverse("admin:sepsms_phonenumber_change", args=[number.pk]),
        {"user": user.pk, "is_primary": ""},
    )
    assert change.status_code == 302
    entries = list(LogEntry.objects.values_list("object_repr", "change_message"))
    assert len(entries) == 2
    assert leaks(repr(entries)) == []
    history = support.get(reverse("admin:sepsms_phonenumber_history", args=[number.pk]))
    assert history.status_code == 200
    assert leaks(history.content.decode()) == []
    index = support.get(reverse("admin:index")).content.decode()
    assert leaks(index) == []


def test_provider_errors_shown_by_admin_actions_are_masked(sms_outbox: Any) -> None:
    sender = Client()
    sender.force_login(staff(False, "change_message"))
    with override_settings(SEPSMS={**LOCMEM, "BACKEND": f"{__name__}.QuotingBackend"}):
        msg = send_sms("Hi", ["0812345678"])
        page = sender.post(
            reverse("admin:sepsms_message_changelist"),
            {"action": "refresh_status", "_selected_action": [msg.pk]},
            follow=True,
        )
    shown = [str(m) for m in page.context["messages"]]
    assert any("Recipient 66*******78 is not valid" in m for m in shown), shown
    assert leaks(page.content.decode()) == []


# -- error pages: no API key, pin or code among the locals ------------------------------

# Built at run time: the pages also show the source lines around each frame.
KEY = "sk_live_" + "Zq7x9W2mB4"
PIN = "918" + "273"


def _error_page(call: Any, monkeypatch: pytest.MonkeyPatch, debug: bool) -> str:
    """Django's 500 page (HTML and text) for ``call()`` failing deep inside the HTTP client,
    where the request's headers and body are locals."""
    import sys

    from django.views.debug import ExceptionReporter

    def broken(
        self: Any, method: str, url: str, body: Any = None, headers: Any = None, **kw: Any
    ) -> Any:
        raise RuntimeError("forced")

    monkeypatch.setattr("urllib3.connection.HTTPConnection.request", broken)
    with override_settings(DEBUG=debug):
        try:
            call()
        except RuntimeError:
            reporter = ExceptionReporter(None, *sys.exc_info())
            return reporter.get_traceback_html() + reporter.get_traceback_text()
    raise AssertionError("the call did not fail")


def _backend(**options: Any) -> Any:
    from django_sepsms.backends.sepsms import SepsmsBackend

    return SepsmsBackend(api_key=KEY, base_url="http://127.0.0.1:9", max_retries=0, **options)


@pytest.mark.parametrize("debug", [False, True])
def test_the_error_page_never_shows_the_api_key(
    monkeypatch: pytest.MonkeyPatch, debug: bool
) -> None:
    from django_sepsms.backends.base import OutgoingSms

    sms = OutgoingSms("Hello", [PHONE], "TESTSHOP")
    for call in (_backend().get_balance, lambda: _backend().send_message(sms)):
        page = _error_page(call, monkeypatch, debug)
        assert "forced" in page
        assert "urllib3" in page  # the frames below the backend are there...
        assert KEY not in page  # ...without the key their headers carry


def test_the_error_page_never_shows_a_pin_or_a_code(monkeypatch: pytest.MonkeyPatch) -> None:
    from django_sepsms.backends.base import OutgoingSms

    page = _error_page(lambda: _backend().verify_otp("REF123", PIN), monkeypatch, False)
    assert PIN not in page
    sms = OutgoingSms(f"Your code is {PIN} (Ref: REF123)", [PHONE], "TESTSHOP")
    page = _error_page(lambda: _backend().send_message(sms), monkeypatch, False)
    assert PIN not in page
    assert leaks(page) == []


def test_values_the_backends_exchange_show_no_number_or_text() -> None:
    from django_sepsms.backends.base import OtpSendResult, OutgoingSms, RecipientStatusResult

    shown = [
        repr(OutgoingSms(f"Your code is {PIN}", [PHONE, "66912345678"], "TESTSHOP")),
        repr(OtpSendResult("REF", "uuid", PHONE, timezone.now(), 300)),
        repr(RecipientStatusResult(PHONE, "success", "tx-1")),
        repr(_backend()),
    ]
    for text in shown:
        assert leaks(text) == [], text
        assert PIN not in text
        assert KEY not in text
    assert "66*******78" in shown[0]


# -- logs: masked numbers only ----------------------------------------------------------


def _flow_send_sms(sim: Any) -> None:
    from django_sepsms.exceptions import SepsmsError

    with override_settings(SEPSMS=LOCMEM):
        send_sms("Hi", ["0812345678"])
    sim.blocked_numbers = {"66912345678"}
    sim.failing_numbers = {PHONE}
    send_sms("Hi", ["0812345678", "0912345678"])
    for status, process in ((500, True), (503, False), (422, False)):
        sim.fail_next("/message", status=status, process=process)
        with pytest.raises(SepsmsError):
            send_sms("Hi", ["0812345678"])
    with pytest.raises(ValidationError):  # a number of no allowed kind
        send_sms("Hi", ["0212345678"])


def _flow_phone_login(sim: Any) -> None:
    user = get_user_model().objects.create_user(username="somchai")
    PhoneNumber.objects.create(user=user, phone=PHONE, verified_at=timezone.now())
    settings = {**LOCMEM, "OTP_RESEND_COOLDOWN": 0, "LOGIN_CREATE_USERS": False}
    with override_settings(SEPSMS=settings):
        client = Client()
        client.post("/sepsms/login/", {"phone": "081-234-5678"})
        client.post("/sepsms/login/verify/", {"code": "000000"})
        Client().post("/sepsms/login/", {"phone": "0898765432"})  # unknown: a decoy
        Client().post("/sepsms/login/", {"phone": "0212345678"})  # refused
    # Through the provider, and while it fails.
    client = Client()
    client.post("/sepsms/login/", {"phone": "081-234-5678"})
    client.post("/sepsms/login/verify/", {"code": sim.last_otp_code(PHONE) or "000000"})
    sim.fail_next("/otp", status=503)
    Client().post("/sepsms/login/", {"phone": "0812345678"})


def _flow_api(sim: Any) -> None:
    from rest_framework.test import APIClient

    api = APIClient()
    with override_settings(SEPSMS={**LOCMEM, "OTP_RESEND_COOLDOWN": 0}):
        sent = api.post(reverse("sepsms:api-otp"), {"phone": "081-234-5678"}, format="json")
        body = sent.json()
        verify = {"reference": body.get("reference", ""), "flow_token": body.get("flow_token")}
        api.post(reverse("sepsms:api-otp-verify"), {**verify, "pin": "000000"}, format="json")
        api.post(reverse("sepsms:api-otp"), {"phone": "0212345678"}, format="json")
    sent = api.post(reverse("sepsms:api-otp"), {"phone": "0812345678"}, format="json").json()
    pin = sim.last_otp_code(PHONE) or "000000"
    verify = {"reference": sent.get("reference", ""), "flow_token": sent.get("flow_token")}
    api.post(reverse("sepsms:api-otp-verify"), {**verify, "pin": pin}, format="json")
    sim.fail_next("/otp", status=500, process=True)
    api.post(reverse("sepsms:api-otp"), {"phone": "0912345678"}, format="json")


def _flow_webhook(sim: Any) -> None:
    with override_settings(SEPSMS=LOCMEM):
        msg = send_sms("Hi", ["0812345678"])
        uuid = msg.batches.get().provider_uuid
        deliver_report(Client(), smsUuid=uuid)  # applied
        deliver_report(Client(), smsUuid=uuid)  # a duplicate
        deliver_report(Client(), smsUuid="not-sent-yet", txId="tx-9")  # waiting
        deliver_report(Client(), smsUuid=uuid, status="expired")  # disagrees with its event
        body = b'{"msisdn": "66812345678", "status": '  # genuine but not JSON
        headers = sign_webhook(body, "whsec_test_current", event="dr.success")
        Client().post("/sepsms/webhook/", body, content_type="application/json", **headers)
        bad = webhook_body({"msisdn": PHONE})
        headers = sign_webhook(bad, "not-the-secret", event="dr.success")
        Client().post("/sepsms/webhook/", bad, content_type="application/json", **headers)


def _flow_sync(sim: Any) -> None:
    sim.failing_numbers = {PHONE}
    msg = send_sms("Hi", ["0812345678", "0912345678", "0612345678"])
    sim.deliver_now(msg.batches.get().provider_uuid)
    call_command("sepsms_sync", stdout=StringIO(), stderr=StringIO())
    sim.fail_next("/message", status=404, code="message.not_found")
    Message.objects.update(status=Message.Status.PROCESSING)
    call_command("sepsms_sync", stdout=StringIO(), stderr=StringIO())


class QuotingBackend(LocmemBackend):
    """A provider whose error messages quote the number, as some do."""

    def get_message_status(self, uuid: str) -> Any:
        raise ProviderValidationError(f"Recipient {PHONE} is not valid.", code="validation")

    def get_balance(self) -> int:
        raise ProviderValidationError(f"Recipient {PHONE} is not valid.", code="validation")


def _flow_provider_errors(sim: Any) -> None:
    with override_settings(SEPSMS={**LOCMEM, "BACKEND": f"{__name__}.QuotingBackend"}):
        send_sms("Hi", ["0812345678"])
        Message.objects.update(status=Message.Status.PROCESSING)
        call_command("sepsms_sync", stdout=StringIO(), stderr=StringIO())
        sync_messages(Message.objects.all())
        dashboard.credit_balance()


FLOWS = {
    "send_sms": _flow_send_sms,
    "phone_login": _flow_phone_login,
    "api": _flow_api,
    "webhook": _flow_webhook,
    "sync": _flow_sync,
    "provider_errors": _flow_provider_errors,
}


@pytest.mark.parametrize("flow", list(FLOWS))
def test_no_full_number_in_logs(
    flow: str, sim: Any, caplog: pytest.LogCaptureFixture, sms_outbox: Any
) -> None:
    import logging

    caplog.set_level(logging.DEBUG, logger="django_sepsms")
    FLOWS[flow](sim)
    records = [r for r in caplog.records if r.name.startswith("django_sepsms")]
    assert records  # the flow did log
    found = []
    for record in records:
        rendered = logging.Formatter().format(record)  # the message and any traceback
        if leaks(rendered, (*FORMS, "66912345678", "0912345678", "898765432", "212345678")):
            found.append(f"{record.name} {record.pathname}:{record.lineno}: {rendered}")
    assert found == []

"""sepsms_balance, sepsms_send and sepsms_sync against the simulator."""

from __future__ import annotations

import socket
from datetime import datetime
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from django_sepsms import send_sms
from django_sepsms.backends.base import BaseBackend, OutgoingSms, SendResult
from django_sepsms.management.commands.sepsms_send import ProgressBar
from django_sepsms.models import Message, Recipient
from django_sepsms.simulator import Simulator
from tests.helpers import http_settings

pytestmark = pytest.mark.django_db


def run(*args: Any) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def run_failing(*args: Any, match: str) -> tuple[str, str, str]:
    """Run a command that must fail; its output and the error's text."""
    out, err = StringIO(), StringIO()
    with pytest.raises(CommandError, match=match) as info:
        call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue(), str(info.value)


def write_csv(path: Path, count: int) -> Path:
    path.write_text("phone\n" + "".join(f"08123{i:05d}\n" for i in range(count)))
    return path


class NoBalanceBackend(BaseBackend):
    """A backend that sends but cannot tell the balance (the base class's default)."""

    def send_message(self, sms: OutgoingSms) -> SendResult:
        return SendResult(uuid="no-balance", total_msisdn=len(sms.recipients))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_balance(sim: Simulator) -> None:
    sim.credits = 18420
    assert run("sepsms_balance")[0].strip() == "18,420 credits"


def test_balance_error(sim: Simulator) -> None:
    with (
        override_settings(SEPSMS=http_settings(sim, API_KEY="sk_sep_wrong")),
        pytest.raises(CommandError, match=r"auth\.invalid_credentials"),
    ):
        run("sepsms_balance")


def test_send_to_arguments(sim: Simulator) -> None:
    out, _ = run("sepsms_send", "สวัสดี", "0812345678", "+66 91 234 5678")
    msg = Message.objects.get()
    assert f"Message #{msg.pk} Pending: 2 recipient(s), about 2 credit(s)" in out
    assert "2 credit(s) charged" in out
    assert len(sim.messages) == 1


def test_send_dry_run_estimates_and_sends_nothing(sim: Simulator) -> None:
    out, _ = run("sepsms_send", "ก" * 71, "0812345678", "0912345678", "--dry-run")
    assert "2 recipient(s), about 4 credit(s)" in out
    assert "Nothing was sent" in out
    assert Message.objects.count() == 0
    assert [r.path for r in sim.requests] == ["/api/v2/message/credit/balance"]


def test_send_csv_with_variables_and_refused_rows(sim: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text(
        "phone,name\n0812345678,Somchai\nnot a number,X\n\n+66912345678,Malee\n", encoding="utf-8"
    )
    out, err = run("sepsms_send", "Hi {name}", "--csv", str(path), "--campaign", "c1")
    assert "Refused 'not a number'" in err
    assert "1 refused" in out
    assert "2 recipient(s) recorded" in out
    request = sim.requests[-1].json
    assert request["recipients"] == ["66812345678", "66912345678"]
    assert request["variables"] == {
        "66812345678": {"name": "Somchai"},
        "66912345678": {"name": "Malee"},
    }


def test_send_headerless_csv(sim: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "numbers.csv"
    path.write_text("0812345678\n0912345678\n", encoding="utf-8")
    run("sepsms_send", "Hi", "--csv", str(path))
    assert sim.requests[-1].json["recipients"] == ["66812345678", "66912345678"]


def test_send_errors(sim: Simulator, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="not a valid mobile"):
        run("sepsms_send", "Hi", "12345")
    with pytest.raises(CommandError, match="No such file"):
        run("sepsms_send", "Hi", "--csv", str(tmp_path / "missing.csv"))
    with pytest.raises(CommandError, match="ISO 8601"):
        run("sepsms_send", "Hi", "0812345678", "--at", "tomorrow")
    sim.credits = 0
    with pytest.raises(CommandError, match="Failed"):
        run("sepsms_send", "Hi", "0812345678")


def test_send_scheduled(sim: Simulator) -> None:
    run("sepsms_send", "Hi", "0812345678", "--at", "2030-01-01T09:00:00+07:00")
    assert sim.requests[-1].json["scheduledTime"] == "2030-01-01T09:00:00+07:00"


def test_progress_bar_draws_on_a_terminal() -> None:
    class Tty(StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    bar = ProgressBar(4, stream, width=4)
    bar.advance(2)
    bar.advance(2)
    assert stream.getvalue() == "\r[##--] 2/4\r[####] 4/4\n"
    quiet = StringIO()
    ProgressBar(4, quiet).advance(4)
    assert quiet.getvalue() == ""


def test_sync_refreshes_open_messages(sim: Simulator) -> None:
    sim.failing_numbers = {"66912345678"}
    msg = send_sms("Hi", ["0812345678", "0912345678"])
    sim.deliver_now(msg.batches.get().provider_uuid)
    out, _ = run("sepsms_sync")
    assert "1 message(s) checked, 2 recipient status(es) changed." in out
    msg.refresh_from_db()
    assert msg.status == Message.Status.COMPLETED
    assert (msg.delivered_count, msg.failed_count) == (1, 1)
    assert dict(msg.recipients.values_list("phone", "status")) == {
        "66812345678": Recipient.Status.SUCCESS,
        "66912345678": Recipient.Status.FAILED,
    }
    assert all(msg.recipients.values_list("tx_id", flat=True))
    # Final messages are not asked about again.
    before = len(sim.requests)
    assert "0 message(s) checked" in run("sepsms_sync")[0]
    assert len(sim.requests) == before


def test_sync_by_id_and_errors(sim: Simulator) -> None:
    msg = send_sms("Hi", ["0812345678"])
    sim.fail_next("/message/", status=500, times=10)
    _, err, error = run_failing("sepsms_sync", str(msg.pk), match="could not be checked")
    assert f"#{msg.pk}:" in err
    assert error == "1 message(s) could not be checked."


def test_sync_fails_after_checking_every_other_message(sim: Simulator) -> None:
    broken = send_sms("Hi", ["0812345678"])
    fine = send_sms("Hi", ["0912345678"])
    sim.deliver_now(fine.batches.get().provider_uuid)
    sim.fail_next(f"/message/{broken.batches.get().provider_uuid}", status=500, times=10)
    out, err, _ = run_failing("sepsms_sync", match=r"1 message\(s\) could not be checked")
    assert "2 message(s) checked, 1 recipient status(es) changed." in out
    assert f"#{broken.pk}: [500" in err
    fine.refresh_from_db()
    assert fine.status == Message.Status.COMPLETED
    assert fine.recipients.get().status == Recipient.Status.SUCCESS


def test_sync_reports_unconfirmed_messages(sim: Simulator) -> None:
    from django_sepsms.backends.sepsms import SepsmsBackend

    sim.delay_next("/message/send", seconds=1.0, process=True)
    send_sms("Hi", ["0812345678"], backend=SepsmsBackend(timeout=0.3), fail_silently=True)
    out, _ = run("sepsms_sync")
    assert "Unconfirmed" in out


def test_send_csv_campaign_resumes(sim: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_text("".join(f"08123{i:05d}\n" for i in range(30)), encoding="utf-8")
    with override_settings(SEPSMS=http_settings(sim, BATCH_SIZE=10)):
        run("sepsms_send", "Hi", "--csv", str(path), "--campaign", "again")
        out, _ = run("sepsms_send", "Hi", "--csv", str(path), "--campaign", "again")
    assert "0 recipient(s) recorded, 30 in all" in out
    assert len(sim.messages) == 3


def test_send_csv_dry_run_reports_refused_lines(sim: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "customers.csv"
    path.write_text("phone\n0812345678\nbad\n", encoding="utf-8")
    out, err = run("sepsms_send", "Hi", "--csv", str(path), "--dry-run")
    assert "Refused line 3" in err
    assert "1 recipient(s)" in out


def test_send_csv_without_credit_fails_and_keeps_the_record(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.credits = 0
    path = write_csv(tmp_path / "numbers.csv", 2)
    out, _, error = run_failing("sepsms_send", "Hi", "--csv", str(path), match="Failed")
    msg = Message.objects.get()
    assert error == (
        f"Message #{msg.pk} Failed: {msg.error_message}; "
        "2 recipient(s) failed and 0 unconfirmed, of 2."
    )
    assert "credit.insufficient" in error
    assert f"Message #{msg.pk} Failed: 2 recipient(s) recorded, 2 in all" in out
    assert msg.recipient_count == 2
    assert set(msg.recipients.values_list("status", "error_code")) == {
        (Recipient.Status.FAILED, "credit.insufficient")
    }


def test_send_csv_partly_failed_is_an_error(sim: Simulator, tmp_path: Path) -> None:
    sim.credits = 1  # the first batch only
    path = write_csv(tmp_path / "numbers.csv", 3)
    with override_settings(SEPSMS=http_settings(sim, BATCH_SIZE=1, SEND_CONCURRENCY=1)):
        _, _, error = run_failing("sepsms_send", "Hi", "--csv", str(path), match="Pending")
    assert "2 recipient(s) failed and 0 unconfirmed, of 3." in error
    msg = Message.objects.get()
    statuses = list(msg.recipients.order_by("phone").values_list("status", flat=True))
    assert statuses == [Recipient.Status.PENDING, Recipient.Status.FAILED, Recipient.Status.FAILED]


def test_send_csv_unconfirmed_is_an_error(sim: Simulator, tmp_path: Path) -> None:
    sim.delay_next("/message/send", seconds=1.0, process=True)
    path = write_csv(tmp_path / "numbers.csv", 2)
    with override_settings(SEPSMS=http_settings(sim, TIMEOUT=0.3)):
        _, _, error = run_failing("sepsms_send", "Hi", "--csv", str(path), match="Unconfirmed")
    assert "0 recipient(s) failed and 2 unconfirmed, of 2." in error
    assert Message.objects.get().status == Message.Status.UNCONFIRMED


@pytest.mark.parametrize("use_csv", [False, True], ids=["arguments", "csv"])
@pytest.mark.parametrize("dry_run", [False, True], ids=["send", "dry-run"])
@pytest.mark.parametrize(
    ("at", "match"),
    [
        ("tomorrow", "--at is not an ISO 8601 time: tomorrow"),
        ("2030-01-01T09:00:00", "--at must include a time zone"),
    ],
    ids=["unparseable", "naive"],
)
def test_send_refuses_a_bad_at_on_both_paths(
    sim: Simulator, tmp_path: Path, use_csv: bool, dry_run: bool, at: str, match: str
) -> None:
    source = ["--csv", str(write_csv(tmp_path / "n.csv", 1))] if use_csv else ["0812345678"]
    args = ["sepsms_send", "Hi", *source, "--at", at] + (["--dry-run"] if dry_run else [])
    run_failing(*args, match=match)
    assert Message.objects.count() == 0
    assert sim.requests == []


def test_send_csv_scheduled(sim: Simulator, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "numbers.csv", 1)
    run("sepsms_send", "Hi", "--csv", str(path), "--at", "2030-01-01T09:00:00+07:00")
    sent = datetime.fromisoformat(sim.requests[-1].json["scheduledTime"])
    assert sent == datetime.fromisoformat("2030-01-01T09:00:00+07:00")


def test_dry_run_prints_the_balance(sim: Simulator) -> None:
    sim.credits = 18420
    out, err = run("sepsms_send", "ก" * 71, "0812345678", "--dry-run")
    assert "about 2 credit(s)" in out
    assert "Balance: 18,420 credits\n" in out
    assert err == ""
    assert Message.objects.count() == 0


def test_dry_run_warns_when_the_estimate_exceeds_the_balance(
    sim: Simulator, tmp_path: Path
) -> None:
    sim.credits = 3
    path = write_csv(tmp_path / "numbers.csv", 2)
    out, err = run("sepsms_send", "ก" * 71, "--csv", str(path), "--dry-run")
    assert "2 recipient(s), about 4 credit(s)" in out
    assert "Balance: 3 credits\n" in out
    assert "The estimate (4 credits) exceeds the balance (3 credits)" in err
    assert [r.path for r in sim.requests] == ["/api/v2/message/credit/balance"]


@pytest.mark.parametrize(
    ("settings", "reason"),
    [
        ({"API_KEY": "sk_sep_readonly"}, "auth.forbidden_scope"),
        ({"BASE_URL": "http://127.0.0.1:{port}/api/v2", "MAX_RETRIES": 0}, "connect"),
        ({"BACKEND": "tests.management.test_commands.NoBalanceBackend"}, "has no credit balance"),
    ],
    ids=["no-scope", "network", "not-supported"],
)
def test_dry_run_with_an_unknown_balance_still_succeeds(
    sim: Simulator, settings: dict[str, Any], reason: str
) -> None:
    settings = {
        k: v.format(port=closed_port()) if k == "BASE_URL" else v for k, v in settings.items()
    }
    with override_settings(SEPSMS=http_settings(sim, **settings)):
        out, err = run("sepsms_send", "Hi", "0812345678", "--dry-run")
    assert "Dry run: 1 recipient(s), about 1 credit(s)" in out
    assert "Balance: unknown (" in out
    assert reason in out
    assert err == ""

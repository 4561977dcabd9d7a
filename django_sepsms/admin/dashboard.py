"""Figures for the admin dashboard: credit, traffic per day, the OTP funnel, failures."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from django.core.cache import caches
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

from ..conf import sepsms_settings
from ..exceptions import SepsmsError, error_code_of
from ..models import FAILED_RECIPIENT_STATUSES, Message, OtpChallenge, Recipient
from ..phone import format_local, mask_phones_in
from ..sending import get_balance
from .columns import badge
from .failures import failure_reason

logger = logging.getLogger("django_sepsms")

DAYS = 30
BALANCE_CACHE_SECONDS = 300
_BALANCE_KEY = "sepsms:dashboard:balance"


def credit_balance() -> tuple[int | None, str]:
    """The balance, asked of the provider at most every five minutes."""
    cache = caches[sepsms_settings.CACHE]
    cached = cache.get(_BALANCE_KEY)
    if cached is not None:
        return int(cached), ""
    try:
        balance = get_balance()
    except SepsmsError as exc:
        # A provider's message may quote a number.
        logger.warning("Dashboard could not read the balance: %s", mask_phones_in(str(exc)))
        return None, error_code_of(exc)
    cache.set(_BALANCE_KEY, balance, BALANCE_CACHE_SECONDS)
    return balance, ""


def daily_traffic(days: int = DAYS) -> list[dict[str, Any]]:
    """Recipients sent, delivered and failed per day (from the messages' counters)."""
    today = timezone.localdate()
    start = today - timedelta(days=days - 1)
    rows = (
        Message.objects.filter(created_at__date__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(
            sent=Sum("recipient_count"),
            delivered=Sum("delivered_count"),
            failed=Sum("failed_count"),
        )
    )
    by_day: dict[date, dict[str, Any]] = {row["day"]: dict(row) for row in rows}
    result = []
    for offset in range(days):
        day: date = start + timedelta(days=offset)
        row = by_day.get(day, {})
        result.append(
            {
                "day": day,
                "sent": int(row.get("sent") or 0),
                "delivered": int(row.get("delivered") or 0),
                "failed": int(row.get("failed") or 0),
            }
        )
    return result


def traffic_chart(rows: list[dict[str, Any]], width: int = 760, height: int = 220) -> SafeString:
    """A bar chart as inline SVG: no script, no CDN."""
    top = max([r["sent"] for r in rows] + [1])
    pad_left, pad_bottom = 40, 24
    plot_w, plot_h = width - pad_left - 8, height - pad_bottom - 10
    step = plot_w / max(len(rows), 1)
    bar = max(step / 3 - 1, 1)
    series = (("sent", "#93c5fd", 0), ("delivered", "#16a34a", 1), ("failed", "#dc2626", 2))
    rects = []
    for i, row in enumerate(rows):
        for key, colour, slot in series:
            h = plot_h * row[key] / top
            x = pad_left + i * step + slot * bar
            rects.append(
                (
                    f"{x:.1f}",
                    f"{10 + plot_h - h:.1f}",
                    f"{bar:.1f}",
                    f"{h:.1f}",
                    colour,
                    f"{row['day']:%d %b} {key}: {row[key]}",
                )
            )
    last = len(rows) - 1
    labels = [
        (f"{pad_left + i * step:.1f}", height - 6, f"{row['day']:%d/%m}")
        for i, row in enumerate(rows)
        if (last - i) % 5 == 0  # today always labelled
    ]
    return format_html(
        '<svg viewBox="0 0 {w} {h}" width="{w}" role="img" aria-label="{title}">'
        '<line x1="{l}" y1="10" x2="{l}" y2="{b}" stroke="#9ca3af"/>'
        '<line x1="{l}" y1="{b}" x2="{w}" y2="{b}" stroke="#9ca3af"/>'
        '<text x="2" y="16">{top}</text><text x="2" y="{b}">0</text>{rects}{labels}</svg>',
        w=width,
        h=height,
        l=pad_left,
        b=10 + plot_h,
        top=top,
        title=_("Recipients per day"),
        rects=format_html_join(
            "",
            '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>',
            rects,
        ),
        labels=format_html_join("", '<text x="{}" y="{}">{}</text>', labels),
    )


def otp_funnel(days: int = 7) -> dict[str, Any]:
    """Codes sent and verified: a sudden drop in the rate is the mark of SMS pumping."""
    since = timezone.now() - timedelta(days=days)
    counts = OtpChallenge.objects.filter(created_at__gte=since).aggregate(
        sent=Count("id", filter=~Q(status=OtpChallenge.Status.SEND_FAILED)),
        verified=Count("id", filter=Q(status=OtpChallenge.Status.VERIFIED)),
        failed_to_send=Count("id", filter=Q(status=OtpChallenge.Status.SEND_FAILED)),
    )
    sent = counts["sent"] or 0
    rate = round(100 * (counts["verified"] or 0) / sent) if sent else None
    return {**counts, "days": days, "rate": rate}


def latest_failures(limit: int = 10, *, full_phones: bool = False) -> list[dict[str, Any]]:
    """The newest failed recipients, numbers masked unless ``full_phones``."""
    rows = (
        Recipient.objects.filter(status__in=FAILED_RECIPIENT_STATUSES)
        .order_by("-id")
        .values("message_id", "phone", "status", "error_code", "status_changed_at")[:limit]
    )
    labels = dict(Recipient.Status.choices)
    return [
        {
            **r,
            "phone": format_local(r["phone"], masked=not full_phones),
            "error_code": r["error_code"] if full_phones else mask_phones_in(r["error_code"]),
            "reason": failure_reason(r["status"], r["error_code"]),
            "badge": badge(r["status"], str(labels.get(r["status"], r["status"]))),
        }
        for r in rows
    ]


def context(*, full_phones: bool = False) -> dict[str, Any]:
    """Everything the dashboard's template shows."""
    balance, balance_error = credit_balance()
    rows = daily_traffic()
    return {
        "balance": balance,
        "balance_error": balance_error,
        "chart": traffic_chart(rows),
        "totals": {k: sum(r[k] for r in rows) for k in ("sent", "delivered", "failed")},
        "funnel": otp_funnel(),
        "failures": latest_failures(full_phones=full_phones),
    }

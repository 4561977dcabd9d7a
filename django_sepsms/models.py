"""What the app records: messages, their recipients, OTP challenges, webhooks, phones."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .phone import format_local

PHONE_MAX_LENGTH = 16


class Message(models.Model):
    """One call to :func:`~django_sepsms.send_sms`: a text for one or more numbers."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        #: Handed to the backend; the answer is not recorded yet.
        SENDING = "sending", _("Sending")
        PENDING = "pending", _("Pending")
        SCHEDULED = "scheduled", _("Scheduled")
        PROCESSING = "processing", _("Processing")
        COMPLETED = "completed", _("Completed")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")
        #: The provider may or may not have accepted it (the request timed out
        #: after it was sent). ``sepsms_sync`` finds out; it is never resent blindly.
        UNCONFIRMED = "unconfirmed", _("Unconfirmed")

    class Kind(models.TextChoices):
        SMS = "sms", _("SMS")
        OTP = "otp", _("One-time code")

    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.SMS)
    origin = models.CharField(_("sender name"), max_length=32)
    text = models.TextField(_("text"))
    variables = models.JSONField(_("variables"), null=True, blank=True)
    scheduled_at = models.DateTimeField(_("scheduled for"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    recipient_count = models.PositiveIntegerField(_("recipients"), default=0)
    estimated_credit = models.PositiveIntegerField(_("estimated credits"), default=0)
    total_credit = models.PositiveIntegerField(_("credits"), null=True, blank=True)
    blocked_count = models.PositiveIntegerField(_("blocked"), default=0)
    delivered_count = models.PositiveIntegerField(_("delivered"), default=0)
    failed_count = models.PositiveIntegerField(_("failed"), default=0)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    error_message = models.CharField(_("error message"), max_length=255, blank=True)
    campaign_key = models.CharField(
        _("campaign key"), max_length=64, unique=True, null=True, blank=True
    )
    resent_from = models.ForeignKey(
        "self",
        verbose_name=_("resent from"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="resends",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-created_at", "-id"]
        permissions = [("view_full_phone", _("Can see phone numbers in full"))]
        indexes = [
            models.Index(fields=["status", "id"], name="sepsms_msg_status_id"),
            models.Index(fields=["origin", "created_at"], name="sepsms_msg_origin_created"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.get_status_display()} ({self.recipient_count})"

    @property
    def provider_uuid(self) -> str | None:
        """The provider's uuid of the first request (most messages have one)."""
        batch = self.batches.order_by("position").first()
        return batch.provider_uuid if batch else None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_MESSAGE_STATUSES


FINAL_MESSAGE_STATUSES = frozenset(
    {Message.Status.COMPLETED, Message.Status.FAILED, Message.Status.CANCELLED}
)


class MessageBatch(models.Model):
    """One ``/message/send`` request: up to ``BATCH_SIZE`` recipients of a message."""

    message = models.ForeignKey(
        Message, verbose_name=_("message"), on_delete=models.CASCADE, related_name="batches"
    )
    position = models.PositiveIntegerField(_("position"), default=0)
    provider_uuid = models.CharField(
        _("provider uuid"), max_length=64, unique=True, null=True, blank=True
    )
    ref_no = models.CharField(_("reference number"), max_length=64, blank=True, db_index=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Message.Status.choices, default=Message.Status.QUEUED
    )
    recipient_count = models.PositiveIntegerField(_("recipients"), default=0)
    total_credit = models.PositiveIntegerField(_("credits"), null=True, blank=True)
    blocked_count = models.PositiveIntegerField(_("blocked"), default=0)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    error_message = models.CharField(_("error message"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    sent_at = models.DateTimeField(_("sent"), null=True, blank=True)

    class Meta:
        verbose_name = _("message batch")
        verbose_name_plural = _("message batches")
        ordering = ["message_id", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "position"], name="sepsms_batch_unique_position"
            )
        ]

    def __str__(self) -> str:
        return f"#{self.message_id}/{self.position} {self.get_status_display()}"


#: The statuses nearly every recipient takes in turn (recorded, accepted,
#: delivered); the index of statuses holds only the others.
COMMON_RECIPIENT_STATUSES = ("queued", "pending", "success")


class Recipient(models.Model):
    """One number of one message, with what happened to it."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        SUCCESS = "success", _("Delivered")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")
        REFUNDED = "refunded", _("Refunded")
        UNCONFIRMED = "unconfirmed", _("Unconfirmed")

    # Both foreign keys are served by the composite indexes below, which start
    # with them: separate indexes would only slow down recording big sends.
    message = models.ForeignKey(
        Message,
        verbose_name=_("message"),
        on_delete=models.CASCADE,
        related_name="recipients",
        db_index=False,
    )
    batch = models.ForeignKey(
        MessageBatch,
        verbose_name=_("batch"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="recipients",
        db_index=False,
    )
    phone = models.CharField(_("phone number"), max_length=PHONE_MAX_LENGTH)
    variables = models.JSONField(_("variables"), null=True, blank=True)
    status = models.CharField(
        _("delivery status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    tx_id = models.CharField(_("transaction id"), max_length=64, blank=True)
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    status_changed_at = models.DateTimeField(_("status changed"), null=True, blank=True)

    class Meta:
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")
        ordering = ["message_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["message", "phone"], name="sepsms_rcpt_unique_phone")
        ]
        # Every recorded number writes these indexes, and so does every status
        # change (a status is in an index, so no update is heap-only): keep them
        # few and narrow. Each row passes through the common statuses, which
        # the statuses' index leaves out; it holds the rare ones, newest first,
        # that the dashboard and the admin's filters look for among millions.
        indexes = [
            models.Index(fields=["batch", "phone"], name="sepsms_rcpt_batch_phone"),
            models.Index(
                fields=["tx_id"], name="sepsms_rcpt_tx_id", condition=~models.Q(tx_id="")
            ),
            models.Index(fields=["phone"], name="sepsms_rcpt_phone"),
            models.Index(
                fields=["id", "status"],
                name="sepsms_rcpt_rare_status",
                condition=~models.Q(status__in=COMMON_RECIPIENT_STATUSES),
            ),
        ]

    def __str__(self) -> str:
        return f"{format_local(self.phone, masked=True)} {self.get_status_display()}"


FAILED_RECIPIENT_STATUSES = (
    Recipient.Status.FAILED,
    Recipient.Status.EXPIRED,
    Recipient.Status.REFUNDED,
)


class OtpChallenge(models.Model):
    """One code sent to one number, identified by its reference.

    The code itself is never stored: in local mode only a keyed hash of it.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        VERIFIED = "verified", _("Verified")
        EXHAUSTED = "exhausted", _("Too many attempts")
        EXPIRED = "expired", _("Expired")
        CANCELLED = "cancelled", _("Replaced by a new code")
        SEND_FAILED = "send_failed", _("Could not be sent")
        #: The provider may have sent it: the request timed out, or a 5xx came
        #: back. Never sent again before the cooldown; in local mode its code
        #: still verifies, in provider mode its reference was never learnt.
        UNCONFIRMED = "unconfirmed", _("Sent, not confirmed")

    class Mode(models.TextChoices):
        PROVIDER = "provider", _("Provider")
        LOCAL = "local", _("Local")

    reference = models.CharField(_("reference"), max_length=32)
    phone = models.CharField(_("phone number"), max_length=PHONE_MAX_LENGTH)
    purpose = models.CharField(_("purpose"), max_length=32, default="verify")
    mode = models.CharField(_("mode"), max_length=8, choices=Mode.choices)
    provider_uuid = models.CharField(_("provider uuid"), max_length=64, blank=True)
    code_hash = models.CharField(_("code hash"), max_length=128, blank=True, editable=False)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    max_attempts = models.PositiveSmallIntegerField(_("maximum attempts"), default=5)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sepsms_otp_challenges",
    )
    message = models.ForeignKey(
        Message,
        verbose_name=_("message"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="otp_challenges",
    )
    error_code = models.CharField(_("error code"), max_length=64, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))
    verified_at = models.DateTimeField(_("verified"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    #: When a verification token made for this challenge was exchanged for a
    #: login; a token whose challenge has one is refused (single use).
    token_used_at = models.DateTimeField(_("token used"), null=True, blank=True)

    class Meta:
        verbose_name = _("OTP challenge")
        verbose_name_plural = _("OTP challenges")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["reference", "created_at"], name="sepsms_otp_ref_created"),
            models.Index(fields=["phone", "created_at"], name="sepsms_otp_phone_created"),
            models.Index(fields=["status", "created_at"], name="sepsms_otp_status_created"),
        ]

    def __str__(self) -> str:
        phone = format_local(self.phone, masked=True)
        return f"{self.reference} {phone} {self.get_status_display()}"


class WebhookEvent(models.Model):
    """One genuine webhook delivery, stored once whatever the provider's retries."""

    class Outcome(models.TextChoices):
        APPLIED = "applied", _("Applied")
        NO_CHANGE = "no_change", _("No change (older or equal status)")
        WAITING = "waiting", _("Waiting for its message")
        STORED = "stored", _("Stored")
        FAILED = "failed", _("Failed")

    event = models.CharField(_("event"), max_length=64)
    dedupe_key = models.CharField(_("deduplication key"), max_length=160)
    signed_at = models.DateTimeField(_("provider timestamp"))
    received_at = models.DateTimeField(_("received"), auto_now_add=True, db_index=True)
    payload = models.JSONField(_("payload"))
    outcome = models.CharField(
        _("outcome"), max_length=16, choices=Outcome.choices, default=Outcome.STORED
    )
    sms_uuid = models.CharField(_("message uuid"), max_length=64, blank=True)
    tx_id = models.CharField(_("transaction id"), max_length=64, blank=True)
    msisdn = models.CharField(_("phone number"), max_length=PHONE_MAX_LENGTH, blank=True)
    error = models.CharField(_("error"), max_length=255, blank=True)
    applied_at = models.DateTimeField(_("applied"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook event")
        verbose_name_plural = _("webhook events")
        ordering = ["-received_at", "-id"]
        # Every delivery writes these indexes: keep them few. A unique
        # constraint (not unique=True) spares PostgreSQL a second, LIKE index;
        # only events still waiting for their message need finding by uuid/number.
        constraints = [
            models.UniqueConstraint(fields=["dedupe_key"], name="sepsms_wh_unique_dedupe_key")
        ]
        indexes = [
            models.Index(
                fields=["sms_uuid"],
                name="sepsms_wh_waiting_uuid",
                condition=models.Q(outcome="waiting"),
            ),
            models.Index(
                fields=["msisdn"],
                name="sepsms_wh_waiting_msisdn",
                condition=models.Q(outcome="waiting"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.get_outcome_display()}"


class PhoneNumber(models.Model):
    """A number a user has proved is theirs. One account per number."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="sepsms_phone_numbers",
    )
    phone = models.CharField(_("phone number"), max_length=PHONE_MAX_LENGTH, unique=True)
    is_primary = models.BooleanField(_("primary"), default=True)
    verified_at = models.DateTimeField(_("verified"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("phone number")
        verbose_name_plural = _("phone numbers")
        ordering = ["-verified_at", "-id"]

    def __str__(self) -> str:
        return format_local(self.phone, masked=True)

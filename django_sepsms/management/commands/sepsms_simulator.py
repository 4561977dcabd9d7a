"""``manage.py sepsms_simulator``: run the local SEPSMS API v2 simulator until Ctrl-C."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import contract
from ...simulator import Simulator
from ...simulator.webhooks import DEFAULT_WEBHOOK_SECRET

DEFAULT_API_KEY = contract.API_KEY_PREFIX + "simulator"
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def serve_until_interrupted(simulator: Simulator) -> None:
    """Block until Ctrl-C; the simulator serves from its own threads."""
    while True:
        time.sleep(3600)


class Command(BaseCommand):
    help = (
        "Run a local simulator of the SEPSMS REST API v2 with an SMS inbox page. "
        "For development and tests only: never expose it publicly."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1", help="Default: 127.0.0.1.")
        parser.add_argument("--port", type=int, default=8025, help="Default: 8025; 0 = any.")
        parser.add_argument(
            "--api-key",
            action="append",
            dest="api_keys",
            metavar="KEY",
            help=f"Accepted API key, with every scope (repeatable). Default: {DEFAULT_API_KEY}.",
        )
        parser.add_argument("--credits", type=int, default=100_000, help="Starting balance.")
        parser.add_argument("--webhook-url", help="POST signed webhooks to this URL.")
        parser.add_argument(
            "--webhook-secret",
            action="append",
            dest="webhook_secrets",
            metavar="SECRET",
            help=f"Webhook signing secret (repeatable). Default: {DEFAULT_WEBHOOK_SECRET}.",
        )
        parser.add_argument(
            "--delivery-delay",
            type=float,
            default=0.0,
            metavar="SECONDS",
            help="Seconds between hand-off and delivery reports. Default: 0.",
        )
        for flag, dest, what in (
            ("--fail-number", "fail_numbers", "Deliveries to this number fail"),
            ("--block-number", "block_numbers", "Sends to this number are refused (blockedCount)"),
        ):
            parser.add_argument(
                flag,
                action="append",
                dest=dest,
                default=[],
                metavar="MSISDN",
                help=f"{what} (repeatable).",
            )
        parser.add_argument(
            "--duplicate-webhooks", action="store_true", help="Deliver every webhook twice."
        )
        parser.add_argument(
            "--reverse-webhooks",
            action="store_true",
            help="Deliver each message's webhooks in reverse order, once it is final.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["credits"] < 0:
            raise CommandError("--credits cannot be negative.")
        if options["delivery_delay"] < 0:
            raise CommandError("--delivery-delay cannot be negative.")
        keys: list[str] = options["api_keys"] or [DEFAULT_API_KEY]
        secrets: list[str] = options["webhook_secrets"] or []
        simulator = Simulator(
            host=options["host"],
            port=options["port"],
            api_keys=dict.fromkeys(keys, contract.SCOPES),
            credits=options["credits"],
            webhook_url=options["webhook_url"],
            webhook_secrets=secrets,
            delivery_delay=options["delivery_delay"],
            failing_numbers=options["fail_numbers"],
            blocked_numbers=options["block_numbers"],
            webhook_duplicates=options["duplicate_webhooks"],
            webhook_reverse=options["reverse_webhooks"],
        )
        try:
            simulator.start()
        except OSError as exc:
            raise CommandError(
                f"Cannot listen on {options['host']}:{options['port']}: {exc}"
            ) from exc
        try:
            self._print_banner(simulator, options["webhook_url"], secrets)
            serve_until_interrupted(simulator)
        except KeyboardInterrupt:
            pass
        finally:
            simulator.stop()
        self.stdout.write("Simulator stopped.")

    def _print_banner(
        self, simulator: Simulator, webhook_url: str | None, secrets: list[str]
    ) -> None:
        settings: dict[str, Any] = {"BASE_URL": simulator.base_url, "API_KEY": simulator.api_key}
        if webhook_url:
            settings["WEBHOOK_SECRETS"] = secrets or [DEFAULT_WEBHOOK_SECRET]
            webhooks = f"POST {webhook_url} (signed)"
        else:
            webhooks = "off (use --webhook-url)"
        write = self.stdout.write
        write(self.style.SUCCESS("SEPSMS API v2 simulator running"))
        write(f"  API base URL: {simulator.base_url}")
        write(f"  Inbox:        {simulator.inbox_url}")
        write(f"  Webhooks:     {webhooks}")
        write(f"  Control:      {simulator.inbox_url}_sim/switches (faults: see the docs)")
        write("Paste into your settings:")
        write(f"  SEPSMS = {json.dumps(settings, ensure_ascii=False)}")
        if simulator.host not in _LOOPBACK_HOSTS:
            self.stderr.write(
                f"Listening on {simulator.host}: the control endpoints and the inbox need no "
                "key and show OTP codes. Never expose the simulator publicly."
            )
        write("For local development and tests only. Quit with CONTROL-C.")

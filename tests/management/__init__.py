"""The tests of ``django_sepsms.management.commands``: sepsms_balance, sepsms_send and
sepsms_sync."""

"""The tests of ``django_sepsms.tracking``: what happened to sent messages, from delivery
reports and from the provider (sync)."""

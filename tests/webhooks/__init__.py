"""The tests of ``django_sepsms.webhooks``: the signed receiver, under real traffic, fuzzing
and a stranger's bytes."""

"""The tests of ``django_sepsms.admin``: the delivery log, its actions and dashboard, also in a
real browser, and the phone numbers."""

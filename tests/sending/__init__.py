"""The tests of ``django_sepsms.sending``: one message, campaigns and background delivery,
and the rows they write."""

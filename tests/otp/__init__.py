"""The tests of ``django_sepsms.otp``: codes and their checks, the phone pages (also in a
real browser), concurrency, ambiguous sends and the absence of an enumeration oracle."""

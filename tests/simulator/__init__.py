"""The SEPSMS simulator on its own, over real HTTP (no database).

One test module per module of ``django_sepsms.simulator`` that the tests exercise.
"""

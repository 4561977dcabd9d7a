"""A project with django-allauth's phone login on the mixin of ``django_sepsms.contrib.allauth``.

Its tests (``flows.py``) run under ``--ds=tests.allauth_project.settings`` in a
process of their own: ``tests/test_allauth.py`` starts it.
"""

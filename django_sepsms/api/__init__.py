"""The JSON API (Django REST framework): ask for a code, check it.

Install the ``drf`` extra and include ``django_sepsms.urls``; the two endpoints
are ``sepsms:api-otp`` (``api/otp/``) and ``sepsms:api-otp-verify``
(``api/otp/verify/``). This package is the only part of django-sepsms that
imports ``rest_framework`` (``tokens``, the verification tokens the API hands
out, does not, so a project's own views can use them without it). With
drf-spectacular installed the views carry OpenAPI descriptions.
"""

"""The tests of ``django_sepsms.api``: the JSON API, its schema under schemathesis, hostile
bodies and single-use tokens."""

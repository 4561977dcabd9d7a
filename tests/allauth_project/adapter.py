"""The project's account adapter, as docs/allauth.rst shows it (after the marker)."""

# --- the adapter ---
from allauth.account.adapter import DefaultAccountAdapter

from django_sepsms.contrib.allauth import SepsmsPhoneAdapterMixin


class AccountAdapter(SepsmsPhoneAdapterMixin, DefaultAccountAdapter):
    """allauth's adapter, its phone hooks on django-sepsms."""

"""Numbers in templates, in the form people read: ``{% load sepsms_phone %}``.

``{{ number|phone_local }}`` shows ``081-234-5678``; ``{{ number|phone_masked }}``
shows ``0xx-xxx-xx78``. Both take a stored number (``66xxxxxxxxx``); see
:func:`django_sepsms.phone.format_local`.
"""

from __future__ import annotations

from django import template

from ..phone import format_local

register = template.Library()


@register.filter(is_safe=True)
def phone_local(value: object) -> str:
    """``value`` as ``081-234-5678``."""
    return format_local(str(value or ""))


@register.filter(is_safe=True)
def phone_masked(value: object) -> str:
    """``value`` as ``0xx-xxx-xx78``."""
    return format_local(str(value or ""), masked=True)

"""django-sepsms: SMS, OTP and phone login for Django through SEPSMS."""

from __future__ import annotations

import sys
import warnings
from importlib import import_module
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec
from importlib.util import spec_from_loader
from types import ModuleType
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Messages sent with the locmem backend (``django_sepsms.backends.locmem``).
outbox: list[Any] = []

_LAZY = {
    "send_sms": "django_sepsms.sending",
    "send_bulk": "django_sepsms.sending",
    "get_backend": "django_sepsms.backends.loading",
    "get_balance": "django_sepsms.sending",
    "send_otp": "django_sepsms.otp",
    "verify_otp": "django_sepsms.otp",
    # The async twins, as Django names them.
    "asend_sms": "django_sepsms.sending",
    "asend_bulk": "django_sepsms.sending",
    "aget_balance": "django_sepsms.sending",
    "asend_otp": "django_sepsms.otp",
    "averify_otp": "django_sepsms.otp",
}

__all__ = [
    "__version__",
    "aget_balance",
    "asend_bulk",
    "asend_otp",
    "asend_sms",
    "averify_otp",
    "get_backend",
    "get_balance",
    "outbox",
    "send_bulk",
    "send_otp",
    "send_sms",
    "verify_otp",
]

if TYPE_CHECKING:
    from .backends.loading import get_backend
    from .otp import asend_otp, averify_otp, send_otp, verify_otp
    from .sending import aget_balance, asend_sms, get_balance, send_sms
    from .sending.bulk import asend_bulk, send_bulk


def __getattr__(name: str) -> Any:
    # Imported on first use: this package is imported before apps are ready.
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'django_sepsms' has no attribute {name!r}")


#: Modules that moved when the package was regrouped by capability, by their
#: old paths. Importing an old path still works, with a ``DeprecationWarning``.
MOVED_MODULES = {
    "django_sepsms.bulk": "django_sepsms.sending.bulk",
    "django_sepsms.flows": "django_sepsms.otp.flows",
    "django_sepsms.tasks": "django_sepsms.sending.tasks",
    "django_sepsms.tokens": "django_sepsms.api.tokens",
}


class _MovedModules(MetaPathFinder, Loader):
    """Finds each old path of :data:`MOVED_MODULES`: a module that hands on the new one's names."""

    def find_spec(
        self, fullname: str, path: Any = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        return spec_from_loader(fullname, self) if fullname in MOVED_MODULES else None

    def create_module(self, spec: ModuleSpec) -> None:
        return None

    def exec_module(self, module: ModuleType) -> None:
        new = MOVED_MODULES[module.__name__]
        # Python leaves the import system's own frames out of the count.
        warnings.warn(
            f"{module.__name__} moved to {new}: import it from there.",
            DeprecationWarning,
            stacklevel=2,
        )
        target = import_module(new)
        module.__doc__ = target.__doc__
        module.__getattr__ = lambda name: getattr(target, name)  # type: ignore[method-assign]
        module.__dir__ = lambda: dir(target)  # type: ignore[method-assign]


if not any(isinstance(finder, _MovedModules) for finder in sys.meta_path):
    sys.meta_path.append(_MovedModules())

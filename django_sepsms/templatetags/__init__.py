"""Template tags of the app: ``{% load sepsms_phone %}``."""

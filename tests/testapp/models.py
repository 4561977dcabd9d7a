"""A custom user model with a UUID primary key, to prove the app needs no default User;
and a model with django-phonenumber-field's ``PhoneNumberField``."""

from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from phonenumber_field.modelfields import PhoneNumberField


class User(AbstractUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)


# As docs/sending.rst shows it (tests/sending/test_phonenumbers.py checks it is the same).
class Customer(models.Model):
    name = models.CharField(max_length=100)
    phone = PhoneNumberField(region="TH")

"""Phone numbers in the admin: added and changed normalized, validated and verified, one
account per number; staff who see numbers masked may only say which number is primary."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from django_sepsms.models import PhoneNumber

pytestmark = pytest.mark.django_db

PHONE = "66812345678"
FULL_FORMS = ("812345678", "081-234-5678", "+66 81 234 5678")
ADD = reverse("admin:sepsms_phonenumber_add")
LONG_AGO = timezone.now() - dt.timedelta(days=30)


def staff_client(name: str, *codenames: str, superuser: bool = False) -> Client:
    user_model = get_user_model()
    if superuser:
        user = user_model.objects.create_superuser(username=name, password="pw")
    else:
        user = user_model.objects.create_user(username=name, password="pw", is_staff=True)
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture(params=["superuser", "boss"])
def boss(request: pytest.FixtureRequest) -> Client:
    """Staff who see numbers in full and may add and change them (a superuser, or granted)."""
    if request.param == "superuser":
        return staff_client("root", superuser=True)
    return staff_client(
        "boss", "view_phonenumber", "add_phonenumber", "change_phonenumber", "view_full_phone"
    )


@pytest.fixture
def support() -> Client:
    """Staff who may add and change numbers, but see them only masked."""
    return staff_client("support", "view_phonenumber", "add_phonenumber", "change_phonenumber")


def account(name: str = "somchai") -> Any:
    return get_user_model().objects.create_user(username=name)


def recorded(user: Any, phone: str = PHONE) -> PhoneNumber:
    return PhoneNumber.objects.create(user=user, phone=phone, verified_at=LONG_AGO)


def change_url(number: PhoneNumber) -> str:
    return reverse("admin:sepsms_phonenumber_change", args=[number.pk])


def phone_errors(page: Any) -> list[str]:
    assert page.status_code == 200, page.status_code  # the form again, not a 302 or a 500
    return list(page.context["adminform"].form.errors.get("phone", []))


def inputs(page: Any) -> set[str]:
    return set(re.findall(r'<(?:input|select|textarea)[^>]*name="([^"]+)"', page.content.decode()))


@pytest.mark.parametrize("typed", ["081-234-5678", "+66 81 234 5678", "0812345678", "66812345678"])
def test_a_number_added_is_stored_normalized_and_verified(boss: Client, typed: str) -> None:
    user = account()
    assert {"user", "phone", "is_primary"} <= inputs(boss.get(ADD))
    before = timezone.now()
    response = boss.post(ADD, {"user": user.pk, "phone": typed, "is_primary": "on"})
    assert response.status_code == 302, phone_errors(response)
    number = PhoneNumber.objects.get()
    assert (number.user, number.phone, number.is_primary) == (user, PHONE, True)
    assert before <= number.verified_at <= timezone.now()


@pytest.mark.parametrize("typed", ["12345", "021234567", "0812345678910", "not a number"])
def test_a_number_that_is_not_a_mobile_number_is_a_form_error(boss: Client, typed: str) -> None:
    response = boss.post(ADD, {"user": account().pk, "phone": typed, "is_primary": "on"})
    assert phone_errors(response) == [f"“{typed}” is not a valid mobile phone number."]
    assert not PhoneNumber.objects.exists()


def test_an_empty_number_is_a_form_error(boss: Client) -> None:
    response = boss.post(ADD, {"user": account().pk, "phone": "", "is_primary": "on"})
    assert phone_errors(response) == ["This field is required."]


def test_a_number_another_account_has_is_a_form_error(boss: Client) -> None:
    owner = recorded(account("malee")).user
    response = boss.post(ADD, {"user": account().pk, "phone": "081-234-5678", "is_primary": "on"})
    assert phone_errors(response) == ["This number belongs to another account."]
    assert list(PhoneNumber.objects.values_list("user", flat=True)) == [owner.pk]


def test_a_number_the_account_already_has_is_a_form_error(boss: Client) -> None:
    user = recorded(account()).user
    response = boss.post(ADD, {"user": user.pk, "phone": "+66812345678", "is_primary": "on"})
    assert phone_errors(response) == ["This account already has this number."]
    assert PhoneNumber.objects.count() == 1


def test_changing_to_a_number_another_account_has_is_a_form_error(boss: Client) -> None:
    number = recorded(account())
    recorded(account("malee"), "66912345678")
    response = boss.post(
        change_url(number), {"user": number.user_id, "phone": "0912345678", "is_primary": "on"}
    )
    assert phone_errors(response) == ["This number belongs to another account."]
    number.refresh_from_db()
    assert number.phone == PHONE


def test_a_changed_number_is_normalized_and_verified_again(boss: Client) -> None:
    number = recorded(account())
    page = boss.get(change_url(number))
    assert PHONE in page.content.decode()
    before = timezone.now()
    response = boss.post(
        change_url(number), {"user": number.user_id, "phone": "091-234-5678", "is_primary": "on"}
    )
    assert response.status_code == 302, phone_errors(response)
    number.refresh_from_db()
    assert number.phone == "66912345678"
    assert number.verified_at >= before


def test_other_changes_keep_the_number_and_when_it_was_verified(boss: Client) -> None:
    number = recorded(account())
    other = account("malee")
    response = boss.post(
        change_url(number), {"user": other.pk, "phone": "081-234-5678", "is_primary": ""}
    )
    assert response.status_code == 302, phone_errors(response)
    number.refresh_from_db()
    assert (number.user, number.phone, number.is_primary) == (other, PHONE, False)
    assert number.verified_at == LONG_AGO


def test_masked_staff_may_not_add_numbers(support: Client) -> None:
    # Typing numbers to see which are taken would tell them who has an account.
    assert support.get(ADD).status_code == 403
    response = support.post(ADD, {"user": account().pk, "phone": "0812345678", "is_primary": "on"})
    assert response.status_code == 403
    assert not PhoneNumber.objects.exists()
    changelist = support.get(reverse("admin:sepsms_phonenumber_changelist")).content.decode()
    assert ADD not in changelist


def test_masked_staff_change_only_which_number_is_primary(support: Client) -> None:
    number = recorded(account(PHONE))  # an account named by its number, as older versions did
    page = support.get(change_url(number))
    body = page.content.decode()
    assert page.status_code == 200
    assert PHONE not in body
    assert not [form for form in FULL_FORMS if form in body]
    assert "0xx-xxx-xx78" in body
    assert "is_primary" in inputs(page)
    assert not {"phone", "user"} & inputs(page)

    # A number they cannot read, moved to another account, would decide who signs in as whom.
    other = account("malee")
    response = support.post(
        change_url(number), {"user": other.pk, "phone": "0912345678", "is_primary": ""}
    )
    assert response.status_code == 302
    number.refresh_from_db()
    assert (number.user.get_username(), number.phone) == (PHONE, PHONE)
    assert number.is_primary is False
    assert number.verified_at == LONG_AGO


def test_the_raw_id_field_is_only_for_viewers_who_see_numbers(
    boss: Client, support: Client
) -> None:
    """As the admin page says: a masked viewer gets the account as a masked label,
    never a raw-id field; a viewer who sees numbers gets the field, label in full."""
    number = recorded(account(PHONE))  # named by its number, as older versions did
    masked = support.get(change_url(number)).content.decode()
    assert 'name="user"' not in masked
    assert re.search(r'<div class="readonly">0xx-xxx-xx78</div>', masked)
    full = boss.get(change_url(number)).content.decode()
    assert re.search(r'<input type="text" name="user" value="[^"]+"', full)
    assert f"<strong>{PHONE}</strong>" in full  # the label beside the raw id

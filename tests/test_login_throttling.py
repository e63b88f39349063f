"""Sign-in throttling on both login pages (django-axes): per user name and per address,
the same answer whether the user name exists or not."""

import pytest
from django.urls import reverse

LOGIN_PAGES = [reverse("login"), "/admin/login/"]


@pytest.fixture(autouse=True)
def small_limit(settings):
    settings.AXES_FAILURE_LIMIT = 5


def attempt(client, url, username, password, address="10.0.0.1"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=address)


@pytest.mark.parametrize("url", LOGIN_PAGES)
def test_the_right_password_is_refused_after_too_many_wrong_ones(client, staff, url):
    for _ in range(4):
        assert attempt(client, url, "staff", "wrong").status_code == 200
    assert attempt(client, url, "staff", "wrong").status_code == 429  # the fifth failure
    locked = attempt(client, url, "staff", "pw-staff")
    assert locked.status_code == 429
    assert b"Too many attempts" in locked.content
    assert "_auth_user_id" not in client.session


def test_a_user_name_that_does_not_exist_is_answered_the_same(client, staff):
    url = reverse("login")
    for _ in range(5):
        attempt(client, url, "staff", "wrong", address="10.0.0.2")
        attempt(client, url, "nobody", "wrong", address="10.0.0.3")
    real = attempt(client, url, "staff", "wrong", address="10.0.0.2")
    ghost = attempt(client, url, "nobody", "wrong", address="10.0.0.3")
    assert real.status_code == ghost.status_code == 429
    assert real.content.replace(b"staff", b"") == ghost.content.replace(b"nobody", b"")


def test_one_address_trying_many_user_names_is_stopped(client, owner):
    url = reverse("login")
    for n in range(5):
        attempt(client, url, f"guess{n}", "wrong", address="10.0.0.9")
    assert attempt(client, url, "owner", "pw-owner", address="10.0.0.9").status_code == 429
    # the owner, from their own address, is not locked out by someone else's guesses
    response = attempt(client, url, "owner", "pw-owner", address="10.0.0.10")
    assert response.status_code == 302


def test_behind_a_proxy_the_forwarded_address_counts(client, owner, settings):
    settings.DJANGO_PROXY_COUNT = 1
    url = reverse("login")
    for n in range(5):
        client.post(
            url,
            {"username": f"guess{n}", "password": "wrong"},
            REMOTE_ADDR="127.0.0.1",
            HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 203.0.113.7",  # the first entry is the client's word
        )
    blocked = client.post(
        url,
        {"username": "owner", "password": "pw-owner"},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="203.0.113.7",
    )
    assert blocked.status_code == 429
    other = client.post(
        url,
        {"username": "owner", "password": "pw-owner"},
        REMOTE_ADDR="127.0.0.1",
        HTTP_X_FORWARDED_FOR="198.51.100.1",
    )
    assert other.status_code == 302

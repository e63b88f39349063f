"""Who is signing in, as login throttling (django-axes) counts them."""

from django.conf import settings


def client_ip(request) -> str | None:
    """The client's address. Behind DJANGO_PROXY_COUNT trusted proxies, each of which
    appends to X-Forwarded-For, it is the entry that many from the right: the entries to
    its left are the client's own word, and would let it pick a fresh address per try."""
    count = settings.DJANGO_PROXY_COUNT
    if count:
        forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [a for a in forwarded if a]
        if len(forwarded) >= count:
            return forwarded[-count]
    return request.META.get("REMOTE_ADDR")

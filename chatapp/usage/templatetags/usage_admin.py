import datetime as dt
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils import timezone

from chatapp.llm import catalogue
from chatapp.usage import selectors
from chatapp.usage.services import price_for

register = template.Library()

FLAG_DAYS = 30  # the admin index flags models used without a price in this many days


@register.inclusion_tag("admin/usage/unpriced_models.html")
def unpriced_models_flag():
    """The admin index's warning, each model with a link to add its price: models used
    lately without a price, whose costs are not counted, and models offered in the
    picker that have no price today (right after a sync adds them, before any call)."""
    since = timezone.localdate() - dt.timedelta(days=FLAG_DAYS - 1)
    add_url = reverse("admin:usage_modelprice_add")

    def add_price_url(model: str) -> str:
        return f"{add_url}?{urlencode({'model': model})}"

    used = selectors.unpriced_models_since(day=since)
    flagged = {row["model"] for row in used}
    # The picker's models: a few, each price read through the cache the replies use.
    offered = [
        model.id
        for model in catalogue.offered()
        if model.id not in flagged and price_for(model.id) is None
    ]
    return {
        "days": FLAG_DAYS,
        "models": [{**row, "add_price_url": add_price_url(row["model"])} for row in used],
        "offered": [{"model": model, "add_price_url": add_price_url(model)} for model in offered],
    }

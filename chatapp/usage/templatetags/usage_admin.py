import datetime as dt
from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils import timezone

from chatapp.usage import selectors

register = template.Library()

FLAG_DAYS = 30  # the admin index flags models used without a price in this many days


@register.inclusion_tag("admin/usage/unpriced_models.html")
def unpriced_models_flag():
    """The admin index's warning: models used lately without a price, whose costs are not
    counted, each with a link to add its price."""
    since = timezone.localdate() - dt.timedelta(days=FLAG_DAYS - 1)
    add_url = reverse("admin:usage_modelprice_add")
    return {
        "days": FLAG_DAYS,
        "models": [
            {**row, "add_price_url": f"{add_url}?{urlencode({'model': row['model']})}"}
            for row in selectors.unpriced_models_since(day=since)
        ],
    }

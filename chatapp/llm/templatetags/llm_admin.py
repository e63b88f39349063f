from django import template

from chatapp.llm import catalogue
from chatapp.llm.models import SyncFailure

register = template.Library()


@register.inclusion_tag("admin/llm/catalogue_notice.html")
def catalogue_notice():
    """The admin index's word on the model list: never synced from the Models API (the
    built-in list is in use), the API not reached at the last sync (when and why), or
    no model offered."""
    known = catalogue.models()
    return {
        "synced": any(model.synced for model in known),
        "offered": len(catalogue.offered()),
        "failure": SyncFailure.objects.filter(pk=1).first(),
    }

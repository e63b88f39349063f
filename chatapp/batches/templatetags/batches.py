from decimal import Decimal

from django import template
from django.utils.html import format_html, format_html_join

register = template.Library()

RESULT_KINDS = (
    ("succeeded", "succeeded"),
    ("errored", "errored"),
    ("expired", "expired"),
    ("canceled", "canceled"),
)


@register.filter
def usd(amount: Decimal | None) -> str:
    """$0.0123: four decimals, as the usage pages show money."""
    if amount is None:
        return "—"
    return f"${amount:,.4f}"


@register.simple_tag
def result_counts(job) -> str:
    """ "12 succeeded · 1 errored", the kinds that have any; "—" before the first."""
    shown = [(getattr(job, name), label) for name, label in RESULT_KINDS if getattr(job, name)]
    if not shown:
        return "—"
    return format_html_join(
        " · ", '<span class="count-{}">{} {}</span>', ((label, n, label) for n, label in shown)
    )


@register.simple_tag
def row_status(request) -> str:
    """A row's result as a badge (and nothing more: the reason is shown beside it)."""
    kind = request.result or "waiting"
    return format_html('<span class="status-badge status-{}">{}</span>', kind, kind.capitalize())

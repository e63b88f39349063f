"""The usage app in the admin: prices (history kept), the site policy, budgets, the ledger
read-only, the latest upstream rate limits, and the usage report (UsageRecordAdmin's
`report/` view)."""

from functools import partial

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from chatapp.readonly_admin import ReadOnlyAdmin

from . import report, selectors
from .models import (
    ModelPrice,
    UpstreamRateLimit,
    UsagePolicy,
    UsageRecord,
    UserBudget,
)
from .selectors import Scope
from .services import month_start


class ModelPriceForm(forms.ModelForm):
    class Meta:
        model = ModelPrice
        fields = [
            "model",
            "effective_from",
            "input_per_mtok",
            "output_per_mtok",
            "cache_write_5m_per_mtok",
            "cache_write_1h_per_mtok",
            "cache_read_per_mtok",
            "web_search_per_1k",
            "batch_multiplier",
        ]

    def clean(self):
        data = super().clean()
        if self.instance.pk and self.has_changed():
            used = selectors.price_use_counts([self.instance.pk]).get(self.instance.pk, 0)
            if used:
                raise forms.ValidationError(
                    "This price has already been used to cost %(calls)s calls, which keep "
                    "pointing at it, so it cannot be changed. To change the price of "
                    "%(model)s, add a new price row for it with a later “effective from” "
                    "date instead.",
                    code="price_in_use",
                    params={"calls": f"{used:,}", "model": self.instance.model},
                )
        return data


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    form = ModelPriceForm
    list_display = [*ModelPriceForm.Meta.fields, "in_use"]
    list_filter = ["model"]
    search_fields = ["model"]
    ordering = ["model", "-effective_from"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(in_use=selectors.price_in_use())

    @admin.display(boolean=True, description="used by calls")
    def in_use(self, obj):
        return obj.in_use

    def get_deleted_objects(self, objs, request):
        """A price that calls were costed with is kept (the foreign key is PROTECT): say so,
        with the number of calls, instead of listing every one of them."""
        prices = list(objs)
        used = selectors.price_use_counts(price.pk for price in prices)
        if used:
            protected = [
                f"{price} has costed {used[price.pk]:,} calls and is kept with them; "
                f"add a new price for {price.model} with a later effective date instead."
                for price in prices
                if price.pk in used
            ]
            return [], {}, set(), protected
        return super().get_deleted_objects(prices, request)


@admin.register(UsagePolicy)
class UsagePolicyAdmin(admin.ModelAdmin):
    """The one policy row: created with the settings' defaults on first use, never added
    or deleted here; the list goes straight to it."""

    list_display = [
        "__str__",
        "default_monthly_budget_usd",
        "max_tokens_cap",
        "requests_per_minute",
    ]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        policy = UsagePolicy.current()
        return redirect(
            reverse(
                "admin:usage_usagepolicy_change",
                args=[policy.pk],
                current_app=self.admin_site.name,
            )
        )


class NoPriceStyle:
    """Loads the style of the "no price" flag (static/usage/report.css)."""

    class Media:
        css = {"all": ["usage/report.css"]}


@admin.register(UserBudget)
class UserBudgetAdmin(NoPriceStyle, admin.ModelAdmin):
    list_display = ["user", "limit", "spent_this_month", "unpriced_this_month"]
    list_select_related = ["user"]
    search_fields = ["user__username", "user__email"]
    autocomplete_fields = ["user"]

    def get_queryset(self, request):
        since = month_start().date()
        return super().get_queryset(request).annotate(**selectors.month_spend(since=since))

    @admin.display(description="monthly limit", ordering="monthly_limit_usd")
    def limit(self, obj):
        if obj.monthly_limit_usd is None:
            return "site default"
        return f"${obj.monthly_limit_usd:,.2f}"

    @admin.display(description="spent this month (settled)", ordering="month_cost")
    def spent_this_month(self, obj):
        if obj.month_unpriced and not obj.month_cost:
            return format_html('<strong class="usage-no-price">{}</strong>', report.NO_PRICE)
        return report.money(obj.month_cost or report.ZERO)

    @admin.display(description="calls without a price this month", ordering="month_unpriced")
    def unpriced_this_month(self, obj):
        if not obj.month_unpriced:
            return 0
        return format_html(
            '<strong class="usage-no-price">{} (no price)</strong>', obj.month_unpriced
        )


@admin.register(UpstreamRateLimit)
class UpstreamRateLimitAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "observed_at", "header_count"]
    fields = ["observed_at", "headers_table"]
    readonly_fields = fields

    @admin.display(description="headers")
    def header_count(self, obj):
        return len(obj.headers or {})

    @admin.display(description="anthropic-ratelimit-* headers")
    def headers_table(self, obj):
        if not obj.headers:
            return "None observed yet."
        return format_html(
            "<table><thead><tr><th>header</th><th>value</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", sorted(obj.headers.items())),
        )


@admin.register(UsageRecord)
class UsageRecordAdmin(NoPriceStyle, ReadOnlyAdmin):
    list_display = [
        "created_at",
        "user",
        "model",
        "purpose",
        "status",
        "input_tokens",
        "output_tokens",
        "cache_write_5m_tokens",
        "cache_write_1h_tokens",
        "cache_read_input_tokens",
        "web_search_requests",
        "cost_display",
        "time_to_first_token_ms",
        "request_id",
    ]
    list_filter = ["model", "purpose", "status", "is_batch", "created_at"]
    search_fields = ["user__username", "request_id"]
    list_select_related = ["user"]
    # The ledger has millions of rows: no second COUNT(*) of the unfiltered table per page.
    show_full_result_count = False

    @admin.display(description="cost", ordering="cost")
    def cost_display(self, obj):
        if obj.cost is None:
            if obj.status == UsageRecord.Status.RESERVED:
                return "—"
            return format_html('<strong class="usage-no-price">{}</strong>', report.NO_PRICE)
        return report.money(obj.cost)

    # --- the usage report ---------------------------------------------------------------

    def get_urls(self):
        return [
            path(
                "report/",
                self.admin_site.admin_view(self.report_view),
                name="usage_usagerecord_report",
            ),
            *super().get_urls(),
        ]

    def _report_url(self) -> str:
        return reverse("admin:usage_usagerecord_report", current_app=self.admin_site.name)

    def _report_link(self, period: report.Period, **params) -> str:
        return report.page_link(self._report_url(), period, **params)

    def _scope(self, request):
        """The drill-down level from ?user=<id>[&conversation=<id>|none]: the scope, the
        user and the conversation (404 for ids that do not exist or do not match)."""
        user_param = request.GET.get("user")
        conversation_param = request.GET.get("conversation")
        if not user_param:
            if conversation_param:
                raise Http404("A conversation is chosen within a user.")
            return Scope(), None, None
        try:
            user_id = int(user_param)
        except ValueError:
            raise Http404("No such user.") from None
        user = selectors.user_get(user_id=user_id)
        if user is None:
            raise Http404("No such user.")
        if not conversation_param:
            return Scope(user_id=user_id), user, None
        if conversation_param == "none":
            return Scope(user_id=user_id, one_conversation=True), user, None
        try:
            conversation_id = int(conversation_param)
        except ValueError:
            raise Http404("No such conversation.") from None
        conversation = selectors.conversation_of_user(
            user_id=user_id, conversation_id=conversation_id
        )
        if conversation is None:
            raise Http404("No such conversation of this user.")
        scope = Scope(user_id=user_id, one_conversation=True, conversation_id=conversation_id)
        return scope, user, conversation

    def report_view(self, request):
        """Staff only (admin_view), and only for those who may view the ledger. A fixed
        number of queries at every level: see report.summary and report.main_table."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = report.PeriodForm({"range": report.DEFAULT_RANGE, **request.GET.dict()})
        scope, user, conversation = self._scope(request)
        # The drill-down level's GET parameters, kept by every link of the page.
        drill = {
            "user": scope.user_id,
            "conversation": (scope.conversation_id or "none") if scope.one_conversation else None,
        }
        wants_csv = request.GET.get("format") == "csv"
        if not form.is_valid():
            if wants_csv:
                errors = "; ".join(e for errs in form.errors.values() for e in errs)
                return HttpResponseBadRequest(errors, content_type="text/plain; charset=utf-8")
            return self._render_report(
                request, form=form, user=user, conversation=conversation, scope=scope, drill=drill
            )

        period = form.period()
        if period.key != "custom":  # show the named range's dates in the form
            form = report.PeriodForm(
                initial={"range": period.key, "start": period.start, "end": period.end}
            )
        link = partial(report.page_link, self._report_url(), period)
        if wants_csv:  # no links in a CSV
            table = report.main_table(period=period, scope=scope, link=report.no_link, page=None)
            name = ["usage", period.slug]
            if user is not None:
                name.append(f"user-{user.pk}")
            if scope.one_conversation:
                name.append(f"conversation-{scope.conversation_id or 'none'}")
            response = HttpResponse(table.csv(), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = f'attachment; filename="{"_".join(name)}.csv"'
            return response

        try:
            # Past the last page shows none; past MAX_PAGE is no page anyone reaches, and
            # its offset would overflow the database's integers.
            page = min(max(int(request.GET.get("page", 1)), 1), report.MAX_PAGE)
        except ValueError:
            page = 1
        table = report.main_table(period=period, scope=scope, link=link, page=page)
        pages = report.Pages.of(table, page, lambda number: link(**drill, page=number))
        summary = report.summary(period=period, scope=scope)
        rate_limit = selectors.upstream_rate_limit()
        today = timezone.localdate()
        return self._render_report(
            request,
            form=form,
            user=user,
            conversation=conversation,
            scope=scope,
            period=period,
            summary=summary,
            table=table,
            pages=pages,
            rate_limit=rate_limit,
            rate_limit_headers=sorted((rate_limit.headers or {}).items()) if rate_limit else [],
            sum_columns=report.SUM_COLUMNS,
            csv_url=link(**drill, format="csv"),
            range_links=[
                (label, self._report_link(report.Period.named(key, today), **drill))
                for key, label in report.RANGES.items()
                if key != "custom"
            ],
            drill=drill,
            add_price_url=reverse("admin:usage_modelprice_add", current_app=self.admin_site.name),
        )

    def _render_report(self, request, *, form, user, conversation, **context):
        period, scope = context.get("period"), context.get("scope")
        crumbs = [("Usage report", self._report_link(period) if period else self._report_url())]
        if user is not None:
            user_link = self._report_link(period, user=user.pk) if period else ""
            crumbs.append((user.get_username(), user_link))
        if scope is not None and scope.one_conversation:
            crumbs.append((str(conversation) if conversation else "(no conversation)", ""))
        crumbs[-1] = (crumbs[-1][0], "")  # the page itself
        below = " / ".join(name for name, _ in crumbs[1:])
        return TemplateResponse(
            request,
            "admin/usage/report.html",
            {
                **self.admin_site.each_context(request),
                "title": f"Usage report: {below}" if below else "Usage report",
                "opts": self.model._meta,
                "form": form,
                "report_user": user,
                "conversation": conversation,
                "crumbs": crumbs,
                **context,
            },
        )

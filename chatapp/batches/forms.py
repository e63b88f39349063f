"""The upload form of the batch jobs page. Its field names (`file`, `model`, `system`,
`max_tokens`) are the page's contract (README: POST /batches/)."""

from django import forms
from django.conf import settings

from chatapp.usage.services import usage_policy

from .params import JobSettings, schema_parse
from .services import batch_models


class BatchJobForm(forms.Form):
    file = forms.FileField(
        label="File of prompts",
        help_text="CSV with a header row (a prompt column, and optionally custom_id and "
        "system), or JSONL (one object a line with the same keys). UTF-8.",
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.jsonl,.ndjson,.json,.txt"}),
    )
    model = forms.ChoiceField(label="Model")
    system = forms.CharField(
        label="System prompt",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For every row without a system prompt of its own.",
    )
    max_tokens = forms.IntegerField(label="Max tokens per answer", min_value=1)
    cache_system = forms.BooleanField(
        label="Cache the shared system prompt for an hour",
        required=False,
        help_text="Worth it for a long system prompt: after the first request writes it, "
        "the others read it at a tenth of the input price.",
    )
    output_schema = forms.CharField(
        label="JSON schema for structured output (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        help_text='Each answer is then JSON of this shape, and each of its "properties" '
        "becomes a column of the CSV download.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.models = {model.id: model for model in batch_models()}
        self.fields["model"].choices = [(model.id, model.label) for model in self.models.values()]
        self.fields["max_tokens"].initial = settings.BATCH_DEFAULT_MAX_TOKENS
        # The page says which models take a schema.
        self.structured_labels = [
            model.label for model in self.models.values() if model.supports("structured_outputs")
        ]
        self._describe()

    def full_clean(self):
        super().full_clean()
        self._describe()

    def _describe(self) -> None:
        """Each control names its hint and its errors (templates/batches/_field.html)."""
        for name, field in self.fields.items():
            ids = [f"id_{name}_hint"] if field.help_text else []
            errors = (self._errors or {}).get(name, [])  # none until validated
            ids += [f"id_{name}_error{n}" for n in range(1, len(errors) + 1)]
            attrs = field.widget.attrs
            attrs.pop("aria-invalid", None)
            if ids:
                attrs["aria-describedby"] = " ".join(ids)
            if errors:
                attrs["aria-invalid"] = "true"

    def clean_output_schema(self):
        text = self.cleaned_data["output_schema"].strip()
        if not text:
            return None
        try:
            return schema_parse(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None

    def clean(self):
        data = super().clean()
        model = self.models.get(data.get("model"))
        if model is None:
            return data
        max_tokens = data.get("max_tokens")
        if max_tokens is not None:
            cap = min(model.max_output_tokens, usage_policy().max_tokens_cap)
            if max_tokens > cap:
                self.add_error(
                    "max_tokens",
                    f"At most {cap:,} with {model.label} (the model's limit and the site's).",
                )
        if data.get("output_schema") is not None and not model.supports("structured_outputs"):
            self.add_error(
                "output_schema", f"{model.label} does not take a schema (structured outputs)."
            )
        if data.get("cache_system") and not data.get("system"):
            self.add_error("cache_system", "There is no shared system prompt to cache.")
        return data

    def job_settings(self) -> JobSettings:
        data = self.cleaned_data
        return JobSettings(
            model=data["model"],
            max_tokens=data["max_tokens"],
            system=data["system"],
            cache_system=data["cache_system"],
            output_schema=data["output_schema"],
        )

from django import forms
from django.conf import settings

from chatapp.llm import catalogue
from chatapp.usage.services import usage_policy

from .models import Conversation, Feedback


class TrueFalseField(forms.Field):
    """A yes or no: `true`/`false` (as the tab and docs/protocol.md send it), `on`/`off`
    or `1`/`0`; not sent is `false`. Anything else is an error, never a yes."""

    TRUE = ("true", "on", "1")
    FALSE = ("false", "off", "0", "")

    def __init__(self, **kwargs):
        super().__init__(required=False, **kwargs)

    def to_python(self, value):
        if isinstance(value, bool) or value is None:
            return bool(value)
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise forms.ValidationError(f"Give true or false, not {str(value)[:40]!r}.", code="invalid")


class StopSequencesField(forms.CharField):
    """Stop sequences, one per line, at most CHAT_MAX_STOP_SEQUENCES; empty lines are
    skipped, and a line of spaces alone (which the API refuses) is an error."""

    widget = forms.Textarea

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        if isinstance(value, list):
            return value
        lines = (super().to_python(value) or "").replace("\r\n", "\n").split("\n")
        for number, line in enumerate(lines, 1):
            if line and not line.strip():
                raise forms.ValidationError(
                    f"Line {number} holds only spaces: a stop sequence needs a visible character.",
                    code="blank",
                )
        return [line for line in lines if line]

    def validate(self, value):
        limit = settings.CHAT_MAX_STOP_SEQUENCES
        if len(value) > limit:
            raise forms.ValidationError(
                f"At most {limit} stop sequences; you gave {len(value)}.", code="too_many"
            )
        for line in value:
            if len(line) > 200:
                raise forms.ValidationError(
                    "Each stop sequence is at most 200 characters.", code="too_long"
                )


class ConversationSettingsForm(forms.ModelForm):
    model = forms.ChoiceField(choices=catalogue.model_choices)
    max_tokens = forms.IntegerField(min_value=1)
    stop_sequences = StopSequencesField(required=False, strip=False)
    pinned = TrueFalseField()
    thinking = TrueFalseField()
    web_search = TrueFalseField()
    effort = forms.ChoiceField(
        choices=[("", "the model's default"), *((e, e) for e in catalogue.EFFORT_LEVELS)],
        required=False,
    )

    class Meta:
        model = Conversation
        fields = [
            "title",
            "pinned",
            "model",
            "system_prompt",
            "max_tokens",
            "stop_sequences",
            "thinking",
            "effort",
            "web_search",
        ]

    def __init__(self, *args, sent=None, **kwargs):
        super().__init__(*args, **kwargs)
        # The fields the request named (`partial`): a setting the model no longer takes
        # (after a sync) is only refused when it or the model is being changed.
        self.sent = set(self.data) if sent is None else set(sent)
        current = self.instance.model
        if current and not catalogue.is_known_model(current):
            # A conversation on a model no longer offered can still be renamed or pinned;
            # choosing that model again is no change.
            self.fields["model"].choices = [*catalogue.model_choices(), (current, current)]

    def clean_title(self):
        title = self.cleaned_data.get("title") or ""
        if "title" in self.sent and not title.strip():
            raise forms.ValidationError("A title can't be empty.", code="required")
        return title

    def clean_system_prompt(self):
        system = self.cleaned_data.get("system_prompt") or ""
        limit = settings.CHAT_MAX_SYSTEM_CHARS
        if len(system) > limit:
            raise forms.ValidationError(
                f"The system prompt is {len(system):,} characters long; the limit is {limit:,}.",
                code="too_long",
            )
        return system

    def clean(self):
        data = super().clean()
        model = catalogue.get(data.get("model") or "")
        max_tokens = data.get("max_tokens")

        def checked(name: str) -> bool:
            return bool(model) and bool({name, "model"} & self.sent)

        # A new max_tokens must leave room for the thinking budget of a model that thinks.
        budget = checked("max_tokens") and bool(model.thinking_types)
        if data.get("thinking") and (checked("thinking") or budget):
            try:
                model.thinking_param(max_tokens or 0)
            except ValueError as exc:
                self.add_error("thinking", str(exc))
        if data.get("effort") and checked("effort"):
            try:
                model.check_effort(data["effort"])
            except ValueError as exc:
                self.add_error("effort", str(exc))
        if model and data.get("web_search") and not model.web_search:
            if "web_search" in self.changed_data:
                self.add_error("web_search", f"{model.label} does not search the web.")
            elif "model" in self.sent:  # kept from before a change of model: it goes off
                data["web_search"] = False
        if checked("max_tokens") and max_tokens and max_tokens > model.max_output_tokens:
            self.add_error(
                "max_tokens",
                f"{model.label} writes at most {model.max_output_tokens:,} tokens per reply.",
            )
        elif max_tokens and "max_tokens" in self.changed_data:
            cap = usage_policy().max_tokens_cap
            if max_tokens > cap:
                self.add_error("max_tokens", f"The site's limit is {cap:,} tokens per reply.")
        return data

    def save(self, commit=True):
        """Writes the fields that changed, and not `updated_at`: a rename or a pin is not
        activity, and does not move the conversation up the list."""
        conversation = super().save(commit=False)
        changed = list(self.changed_data)
        if "web_search" not in changed and conversation.web_search != self.initial["web_search"]:
            changed.append("web_search")  # turned off with a change of model (clean)
        if "title" in changed:
            conversation.title_set_by_user = True  # never replaced by a generated title
            changed.append("title_set_by_user")
        if commit and changed:
            Conversation.objects.filter(pk=conversation.pk).update(
                **{name: getattr(conversation, name) for name in changed}
            )
        return conversation

    @classmethod
    def partial(cls, data, *, instance: Conversation) -> "ConversationSettingsForm":
        """A form for a change that sends only the fields it changes."""
        current = {name: getattr(instance, name) for name in cls.Meta.fields}
        return cls({**current, **data.dict()}, instance=instance, sent=data.keys())


class FeedbackForm(forms.Form):
    rating = forms.ChoiceField(choices=[("", "none"), *Feedback.Rating.choices], required=False)
    comment = forms.CharField(required=False, max_length=2000)

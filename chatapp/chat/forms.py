from django import forms

from chatapp.llm.catalogue import MODELS, MODELS_BY_ID, model_choices

from .models import Conversation


class ConversationSettingsForm(forms.ModelForm):
    model = forms.ChoiceField(choices=model_choices)
    max_tokens = forms.IntegerField(
        min_value=1, max_value=max(model.max_output_tokens for model in MODELS)
    )

    class Meta:
        model = Conversation
        fields = ["title", "model", "system_prompt", "max_tokens"]

    def clean(self):
        data = super().clean()
        model = MODELS_BY_ID.get(data.get("model"))
        max_tokens = data.get("max_tokens")
        if model and max_tokens and max_tokens > model.max_output_tokens:
            self.add_error(
                "max_tokens",
                f"{model.label} writes at most {model.max_output_tokens:,} tokens per reply.",
            )
        return data

    @classmethod
    def partial(cls, data, *, instance: Conversation) -> "ConversationSettingsForm":
        """A form for a change that sends only the fields it changes."""
        current = {name: getattr(instance, name) for name in cls.Meta.fields}
        return cls({**current, **data.dict()}, instance=instance)

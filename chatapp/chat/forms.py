from django import forms

from chatapp.llm.catalogue import model_choices

from .models import Conversation


class ConversationSettingsForm(forms.ModelForm):
    model = forms.ChoiceField(choices=model_choices)
    max_tokens = forms.IntegerField(min_value=1, max_value=64_000)

    class Meta:
        model = Conversation
        fields = ["title", "model", "system_prompt", "max_tokens"]

    @classmethod
    def partial(cls, data, *, instance: Conversation) -> "ConversationSettingsForm":
        """A form for a change that sends only the fields it changes."""
        current = {name: getattr(instance, name) for name in cls.Meta.fields}
        return cls({**current, **data.dict()}, instance=instance)

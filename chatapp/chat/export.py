"""A conversation as Markdown: its active branch, as a person would read it."""

from .models import Conversation, Message


def export_markdown(conversation: Conversation, path: list[Message]) -> str:
    lines = [f"# {conversation.title or f'Conversation {conversation.pk}'}", ""]
    lines.append(f"Model: {conversation.model}  ")
    lines.append(f"Exported branch of {len(path)} messages.")
    if conversation.system_prompt:
        lines += ["", "## System prompt", "", conversation.system_prompt]
    for message in path:
        who = "You" if message.role == Message.Role.USER else "Claude"
        when = message.created_at.strftime("%Y-%m-%d %H:%M UTC") if message.created_at else ""
        lines += ["", f"## {who} · {when}", "", message.text or "*(no text)*"]
        if message.status in (Message.Status.STOPPED, Message.Status.ERROR):
            note = message.error_message or message.status
            lines += ["", f"> {note}"]
    return "\n".join(lines) + "\n"

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
        lines += ["", f"## {who} · {when}", ""]
        files = [b["attachment"] for b in message.content if isinstance(b.get("attachment"), dict)]
        lines += [f"*Attached: {file.get('name')} ({file.get('kind')})*  " for file in files]
        lines += [f"*Searched the web for “{query}”*  " for query in _searches(message)]
        if files or _searches(message):
            lines.append("")
        lines.append(message.text or "*(no text)*")
        sources = _sources(message)
        if sources:
            lines += ["", "Sources:", *(f"{n}. {source}" for n, source in enumerate(sources, 1))]
        if message.status in (Message.Status.STOPPED, Message.Status.ERROR):
            note = message.error_message or message.status
            lines += ["", f"> {note}"]
    return "\n".join(lines) + "\n"


def _searches(message: Message) -> list[str]:
    return [
        str((block.get("input") or {}).get("query", ""))
        for block in message.content
        if block.get("type") == "server_tool_use" and block.get("name") == "web_search"
    ]


def _sources(message: Message) -> list[str]:
    """What the reply cites, once each, in order: a web page as a link, a document by
    its title (and pages)."""
    seen = []
    for block in message.content:
        for citation in block.get("citations") or ():
            if citation.get("type") == "web_search_result_location":
                source = f"[{citation.get('title') or citation.get('url')}]({citation.get('url')})"
            else:
                source = (
                    citation.get("document_title")
                    or f"document {citation.get('document_index', 0) + 1}"
                )
                if citation.get("type") == "page_location":
                    start, end = citation.get("start_page_number"), citation.get("end_page_number")
                    source += (
                        f", p. {start}" if end in (None, start + 1) else f", pp. {start}-{end - 1}"
                    )
            if source not in seen:
                seen.append(source)
    return seen

"""An e-mail file (`.eml`, RFC 5322) read with the standard library's `email`: the headers worth
keeping (from, to, cc, date, subject), then the body (the plain-text part, else the HTML part's
visible text), then the attachments listed by name, type and size; their contents are not read."""

from __future__ import annotations

from email import policy
from email.message import EmailMessage
from email.parser import BytesParser

from engine.documents.decode import Undecodable, decode
from engine.documents.htmltext import html_to_text

HEADERS = ("From", "To", "Cc", "Date", "Subject")


def looks_like_email(data: bytes) -> bool:
    """At least one of the headers above in the first 8 KB, before the first blank line."""
    head = data[:8192].replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].lower()
    return any(line.split(b":", 1)[0].strip() in {h.lower().encode() for h in HEADERS}
               for line in head.splitlines() if b":" in line)


def email_to_text(data: bytes) -> tuple[str, tuple[str, ...]]:
    """(text, notes): the text the extraction reads, and one note per attachment."""
    message = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(message, EmailMessage)
    lines = [f"{name}: {value}" for name in HEADERS if (value := _header(message, name))]
    body = _body(message)
    attachments = [_describe(part) for part in message.iter_attachments()
                   if isinstance(part, EmailMessage)]
    text = "\n".join(lines) + "\n\n" + body.strip()
    if attachments:
        text += "\n\nAttachments:\n" + "\n".join(f"- {a}" for a in attachments)
    return text.strip(), tuple(f"attachment: {a}" for a in attachments)


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except (ValueError, IndexError):  # a malformed header the policy cannot parse
        value = message.get_all(name, failobj=[""])[0] if name in message else ""
    return " ".join(str(value or "").split())


def _body(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    payload = part.get_payload(decode=True)
    raw = payload if isinstance(payload, bytes) else str(payload or "").encode()
    try:
        text, _ = decode(raw, part.get_content_charset() or "")
    except Undecodable:
        text = raw.decode("utf-8", errors="replace")
    if part.get_content_subtype() == "html":
        return html_to_text(text)
    return text.replace("\r\n", "\n")


def _describe(part: EmailMessage) -> str:
    payload = part.get_payload(decode=True)
    size = len(payload) if isinstance(payload, bytes) else 0
    name = part.get_filename() or "(no name)"
    kind = part.get_content_type()
    readable = " — text, not read yet" if part.get_content_maintype() == "text" else ""
    return f"{name} ({kind}, {size:,} bytes){readable}"

"""Smooch messaging shorthand in composer text, turned into an explicit v1 message.

Smooch parses a markdown-like shorthand (smooch-api.md §7) in business-system text:
``%[Label](https://…)`` link, ``%[Label](reply:PAYLOAD)`` quick reply,
``%[Label](postback:PAYLOAD)``, ``%[Label](location)``, ``$[Label](25.00)`` payment and
``![](https://…/image.jpg)`` image. Parsing it here, instead of leaving it to the
server, lets the composer preview the buttons before sending, send them as explicit
``actions`` / ``mediaUrl`` fields, and refuse what the server would reject or what
would hurt the end user (``javascript:`` links, mixed reply buttons, "49,99" amounts)
with a sentence the agent understands.

Text without any shorthand comes back unchanged.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Final

from smooch_desktop.core.validation import http_url_problem

ActionDict = dict[str, str | int]

# A target may contain one level of balanced parentheses, as in Wikipedia URLs.
_TARGET: Final = r"(?:[^()\n]|\([^()\n]*\))*"
_TOKEN: Final = re.compile(
    rf"""
      (?P<image>!\[[^\]\n]*\]\((?P<image_url>{_TARGET})\))
    | (?P<button>%\[(?P<button_label>[^\]\n]*)\]\((?P<button_target>{_TARGET})\))
    | (?P<buy>\$\[(?P<buy_label>[^\]\n]*)\]\((?P<buy_amount>[^()\n]*)\))
    | (?P<template>%\(\(.*?\)\)%|%\{{\{{.*?\}}\}}%|&\(\(.*?\)\)&)
    """,
    re.VERBOSE,
)
_AMOUNT: Final = re.compile(r"\$?\s*(\d+)(?:\.(\d{1,2}))?")
_SPACE_RUN: Final = re.compile(r"[ \t]{2,}")

#: Action types that may only appear together (smooch-api.md §3.3).
_QUICK_REPLY_TYPES: Final = frozenset({"reply", "locationRequest"})

MIXED_REPLY_PROBLEM: Final = "Reply buttons can't be mixed with other button types."
MIXED_LOCATION_PROBLEM: Final = "A location request button can only be combined with reply buttons."


@dataclass(frozen=True)
class ParsedMessage:
    """The structured message behind a composer text.

    ``text`` is what remains once the shorthand is taken out (tidied: no empty lines or
    double spaces left where buttons were); ``actions`` are v1 action objects;
    ``media_url`` makes it an image message; ``problems`` are sentences for the agent —
    a message with problems should not be sent.
    """

    text: str
    actions: list[ActionDict] = field(default_factory=list)
    media_url: str | None = None
    problems: list[str] = field(default_factory=list)
    has_shorthand: bool = False

    @property
    def message_type(self) -> str:
        return "image" if self.media_url else "text"

    def to_message_fields(self) -> dict[str, object]:
        """Return the MessagePost fields ``type``, ``text``, ``actions``, ``mediaUrl``.

        ``text`` is left out when empty (an image or buttons alone are valid messages);
        the caller adds ``role``, ``name``, ``email`` and the rest. The returned dict is
        a copy: changing it does not change this message.
        """
        fields: dict[str, object] = {"type": self.message_type}
        if self.text:
            fields["text"] = self.text
        if self.media_url:
            fields["mediaUrl"] = self.media_url
        if self.actions:
            fields["actions"] = copy.deepcopy(self.actions)
        return fields


def _parse_amount(raw: str, label: str) -> tuple[int | None, str | None]:
    """Return ``(cents, None)`` or ``(None, problem)`` for a payment button amount."""
    value = raw.strip()
    if "," in value:
        return None, (
            f'Write the amount of the "{label}" payment button with a dot for cents and '
            f'no thousands separator, as in 1000.00 (found "{value}").'
        )
    match = _AMOUNT.fullmatch(value)
    if match is None:
        return None, (
            f'The amount of the "{label}" payment button must be a number like 25.00 '
            f'(found "{value}").'
        )
    try:
        cents = int(Decimal(f"{match.group(1)}.{match.group(2) or '0'}") * 100)
    except InvalidOperation:  # pragma: no cover - the regex only lets digits through
        return None, f'The amount of the "{label}" payment button is not a number.'
    if cents <= 0:
        return None, f'The amount of the "{label}" payment button must be more than 0.'
    return cents, None


def _button(label: str, target: str) -> tuple[ActionDict | None, str | None]:
    """Return the action for ``%[label](target)``, or a problem."""
    if not label:
        return None, "A button needs a label between the brackets, as in %[Yes](reply:yes)."
    target = target.strip()
    lowered = target.lower()
    for kind in ("reply", "postback"):
        if lowered.startswith(f"{kind}:"):
            payload = target[len(kind) + 1 :].strip()
            if not payload:
                return None, f'The "{label}" {kind} button needs a payload after "{kind}:".'
            return {"type": kind, "text": label, "payload": payload}, None
    if lowered == "location":
        return {"type": "locationRequest", "text": label}, None
    if not target:
        return None, f'The "{label}" button needs a link, as in %[{label}](https://example.com).'
    problem = http_url_problem(target, f'The link of the "{label}" button')
    if problem is not None:
        return None, problem
    return {"type": "link", "text": label, "uri": target}, None


def _mixing_problem(actions: list[ActionDict]) -> str | None:
    kinds = {str(action["type"]) for action in actions}
    if not (kinds & _QUICK_REPLY_TYPES) or kinds <= _QUICK_REPLY_TYPES:
        return None
    return MIXED_REPLY_PROBLEM if "reply" in kinds else MIXED_LOCATION_PROBLEM


def _tidy(lines: list[str | None]) -> str:
    """Join lines, dropping removed ones (None) and the blank lines they leave behind."""
    kept: list[str] = []
    for line in lines:
        if line is None:
            continue
        if not line.strip() and kept and not kept[-1].strip():
            continue
        kept.append(line)
    while kept and not kept[0].strip():
        kept.pop(0)
    while kept and not kept[-1].strip():
        kept.pop()
    return "\n".join(kept)


def parse_shorthand(text: str) -> ParsedMessage:
    """Parse the shorthand in ``text`` into a :class:`ParsedMessage`.

    Elements are read in the order they appear, so buttons keep the agent's order.
    Invalid elements are still taken out of the text (Smooch would interpret them) and
    reported in ``problems``. Templates (``%((template:…))%``) stay in the text and are
    reported: they can't be previewed or sent as a structured message from here.
    """
    actions: list[ActionDict] = []
    problems: list[str] = []
    media_urls: list[str] = []
    found_any = False

    def replace(match: re.Match[str]) -> str:
        nonlocal found_any
        found_any = True
        if match.group("template") is not None:
            problems.append(
                "Message templates (%((template:…))%) can't be sent from Smooch Desktop; "
                "remove the template or send it from your business system."
            )
            return match.group(0)
        if match.group("image") is not None:
            url = match.group("image_url").strip()
            problem = (
                http_url_problem(url, "The image address")
                if url
                else ("An image needs an address, as in ![](https://example.com/photo.jpg).")
            )
            if problem is not None:
                problems.append(problem)
            else:
                media_urls.append(url)
            return ""
        if match.group("buy") is not None:
            label = match.group("buy_label").strip()
            if not label:
                problems.append(
                    "A payment button needs a label between the brackets, as in $[Buy now](25.00)."
                )
                return ""
            cents, problem = _parse_amount(match.group("buy_amount"), label)
            if problem is not None:
                problems.append(problem)
            elif cents is not None:
                actions.append({"type": "buy", "text": label, "amount": cents})
            return ""
        action, problem = _button(match.group("button_label").strip(), match.group("button_target"))
        if problem is not None:
            problems.append(problem)
        elif action is not None:
            actions.append(action)
        return ""

    lines: list[str | None] = []
    for line in text.split("\n"):
        replaced = _TOKEN.sub(replace, line)
        if replaced == line:
            lines.append(line)
            continue
        tidied = _SPACE_RUN.sub(" ", replaced).strip()
        lines.append(tidied or None)

    if not found_any:
        return ParsedMessage(text=text)

    if len(media_urls) > 1:
        problems.append(f"Only one image can be sent per message (found {len(media_urls)}).")
    mixing = _mixing_problem(actions)
    if mixing is not None:
        problems.append(mixing)
    remaining = _tidy(lines)
    if not remaining and not media_urls and not actions and not problems:
        problems.append("The message has no text, image or buttons left to send.")
    return ParsedMessage(
        text=remaining,
        actions=actions,
        media_url=media_urls[0] if media_urls else None,
        problems=problems,
        has_shorthand=True,
    )

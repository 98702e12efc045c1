"""The one way to put text from outside the app on screen: literally, and within bounds.

Qt guesses "rich text" (``Qt.mightBeRichText``) for any string that starts like HTML:
labels with the default ``AutoText`` format, tooltips, message boxes. Rich text can load
images from local files (``<img src="/dev/zero">`` reads without end). Menus treat ``&`` as
a mnemonic, and desktop notifications interpret a markup subset in their body.

*Outside text* is anything the app did not write itself: from the server (user names,
messages, error descriptions, URLs), from end users, from settings files (profile names,
identities, recent users), from the command line or the environment. It reaches the
screen only through this module:

* :func:`inline` — for outside text put inside an app sentence: control characters shown
  as visible symbols, bidirectional overrides isolated (an RTL override in a name can't
  reverse the rest of the sentence), optionally cut to a length.
* :func:`literal` — for outside text shown as itself (a message bubble, a sender's name, a
  card title, a notification): controls *and* explicit direction controls (embeddings,
  overrides, isolates) shown by name, ``[RLO]``, as the conversation list does. An
  isolate only keeps an override from spreading; inside it the override still shows a
  name or a message reversed (``‮gpj.exe`` reads as ``exe.jpg``). Natural right-to-left
  text needs none of these controls and is laid out right to left as it is; joiners
  (ZWJ in emoji sequences, ZWNJ in Persian) and the plain marks (LRM, RLM, ALM) stay.
* :class:`PlainLabel` — a ``QLabel`` that is always plain text; with ``wrap`` it breaks
  overlong words so a 20,000-character word can't widen the window.
* :class:`ElidedLabel` — one or a few lines, each elided to the label's width; the full
  text is in its tooltip and "Copy all" in its context menu.
* :func:`plain_tooltip` / :func:`set_plain_tooltip` — tooltips (widgets, actions, item
  views' ``ToolTipRole``): escaped, wrapped and bounded.
* :func:`menu_text` — menu and action texts (``&`` doubled, length bounded).
* :func:`message_box` / :func:`question` — message boxes in plain text; an overlong text
  is shortened and the whole of it is under "Show Details…".
* :func:`notification_text` — the body of a desktop notification.

App-authored rich text (the About box, a bold caption) is made with :func:`app_rich_label`
so that it is marked as such (``APP_RICH_TEXT`` property) and never mixed with outside text.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, Final

from PySide6.QtCore import QSize, Qt
from PySide6.QtWidgets import QLabel, QSizePolicy, QWidget

if TYPE_CHECKING:
    # Loaded where used: every PySide6 type costs start-up time on first access, and
    # menus and message boxes are not needed to paint the window.
    from PySide6.QtGui import QAction, QContextMenuEvent, QFontMetrics, QResizeEvent
    from PySide6.QtWidgets import QMessageBox

#: Dynamic property on the few labels whose rich text the app wrote itself.
APP_RICH_TEXT: Final = "smoochAppRichText"

#: Tooltips show at most this many characters of outside text (then "…").
TOOLTIP_LIMIT: Final = 1000
#: Message boxes show at most this many characters; the whole text is under Details.
MESSAGE_LIMIT: Final = 600
#: Notification bodies are cut here (notification servers truncate anyway).
NOTIFICATION_LIMIT: Final = 200
#: Menu entries are cut here.
MENU_LIMIT: Final = 80
#: A run of this many characters without a break opportunity gets a soft break.
SOFT_BREAK_RUN: Final = 40
#: An ElidedLabel never asks for more width than this (it shrinks to any width).
ELIDED_HINT_WIDTH: Final = 420

_ELLIPSIS: Final = "…"
_ZWSP: Final = "\u200b"
_FSI: Final = "\u2068"  # first strong isolate
_PDI: Final = "\u2069"  # pop directional isolate
#: Bidi embedding, override and isolate controls (and marks, which are harmless alone).
_BIDI_CONTROLS: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Explicit direction controls by name (what :func:`literal` shows instead of obeying them).
DIRECTION_NAMES: Final = {
    "\u202a": "[LRE]",
    "\u202b": "[RLE]",
    "\u202c": "[PDF]",
    "\u202d": "[LRO]",
    "\u202e": "[RLO]",
    "\u2066": "[LRI]",
    "\u2067": "[RLI]",
    "\u2068": "[FSI]",
    "\u2069": "[PDI]",
}
_DIRECTION_TABLE: Final = str.maketrans(DIRECTION_NAMES)
_TOOLTIP_OPEN: Final = "<p style='white-space:pre-wrap'>"
_TOOLTIP_CLOSE: Final = "</p>"
_LONG_RUN: Final = re.compile(r"[^\s\u200b]{" + str(SOFT_BREAK_RUN + 1) + ",}")


#: ASCII names of the C0 controls, shown as [NUL], [ESC] …: readable in any font (the
#: Unicode "control pictures" ␀ ␛ are missing from common fonts, DejaVu included).
_C0_NAMES: Final = [
    "NUL",
    "SOH",
    "STX",
    "ETX",
    "EOT",
    "ENQ",
    "ACK",
    "BEL",
    "BS",
    "HT",
    "LF",
    "VT",
    "FF",
    "CR",
    "SO",
    "SI",
    "DLE",
    "DC1",
    "DC2",
    "DC3",
    "DC4",
    "NAK",
    "SYN",
    "ETB",
    "CAN",
    "EM",
    "SUB",
    "ESC",
    "FS",
    "GS",
    "RS",
    "US",
]


def _visible_char(char: str) -> str:
    code = ord(char)
    if code < 0x20:
        return f"[{_C0_NAMES[code]}]"
    if code == 0x7F:
        return "[DEL]"
    if 0x80 <= code < 0xA0 or 0xD800 <= code < 0xE000:
        return "\ufffd"  # C1 controls, lone surrogates
    return char


_CONTROLS: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROLS_ONE_LINE: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def visible_controls(text: str, *, one_line: bool = False) -> str:
    """Control characters (NUL, ESC, C1, lone surrogates) as visible names ([NUL]).

    Tabs and line breaks stay, unless ``one_line``: then each becomes a space.
    """
    pattern = _CONTROLS_ONE_LINE if one_line else _CONTROLS
    return pattern.sub(
        lambda m: _one_line_char(m.group()) if one_line else _visible_char(m.group()), text
    )


def _one_line_char(char: str) -> str:
    return " " if char in "\t\n\r" else _visible_char(char)


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, ending in "…" if it was longer."""
    if limit <= 0 or len(text) <= limit:
        return text
    return text[: max(0, limit - 1)] + _ELLIPSIS


def inline(text: str, limit: int = 0, *, one_line: bool = False) -> str:
    """Outside text ready to put inside an app sentence.

    Controls become visible symbols; text with bidirectional controls is wrapped in an
    isolate (FSI … PDI), which also ends any override it leaves open, so it can't reorder
    the sentence around it; with ``limit``, cut to that many characters.
    """
    shown = visible_controls(shorten(text, limit), one_line=one_line)
    if any(char in _BIDI_CONTROLS for char in shown):
        return _FSI + shown + _PDI
    return shown


def literal(text: str, limit: int = 0, *, one_line: bool = False) -> str:
    """Outside text shown as itself: controls and explicit direction controls by name.

    ``[NUL]``, ``[RLO]``… instead of obeying them, so no override, embedding or isolate
    from outside can reorder what is shown; everything else (right-to-left letters,
    joiners, marks) is left as it is. With ``limit``, cut to that many characters first.
    """
    return visible_controls(shorten(text, limit), one_line=one_line).translate(_DIRECTION_TABLE)


def breakable(text: str) -> str:
    """``text`` with a zero-width space in every run of more than 40 unbreakable characters.

    Qt wraps plain text only at break opportunities; without them one long word (a URL,
    a 20,000-character name) makes a wrapped label, a message box or a tooltip that wide.
    """

    def soften(match: re.Match[str]) -> str:
        run = match.group()
        return _ZWSP.join(run[i : i + SOFT_BREAK_RUN] for i in range(0, len(run), SOFT_BREAK_RUN))

    return _LONG_RUN.sub(soften, text)


def _escape(text: str) -> str:
    """``<``, ``>`` and ``&`` as entities (``html.escape`` without loading ``html`` at start-up)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


# Tooltips ------------------------------------------------------------------------------------
def plain_tooltip(text: str) -> str:
    """A tooltip that shows ``text`` literally, wrapped, and at most 1,000 characters of it.

    Tooltips have no text-format switch, so the text is escaped into a paragraph that
    keeps its line breaks. "" stays "" (no tooltip).
    """
    if not text:
        return ""
    body = breakable(inline(shorten(text, TOOLTIP_LIMIT)))
    return _TOOLTIP_OPEN + _escape(body) + _TOOLTIP_CLOSE


def is_plain_tooltip(tip: str) -> bool:
    """Whether ``tip`` came from :func:`plain_tooltip` (escaped: no markup of its own)."""
    if not (tip.startswith(_TOOLTIP_OPEN) and tip.endswith(_TOOLTIP_CLOSE)):
        return False
    import html

    inner = tip[len(_TOOLTIP_OPEN) : -len(_TOOLTIP_CLOSE)]
    return "<" not in inner and _escape(html.unescape(inner)) == inner


def tooltip_text(tip: str) -> str:
    """The text a tooltip from :func:`plain_tooltip` shows (for tests and accessibility)."""
    if is_plain_tooltip(tip):
        import html

        return html.unescape(tip[len(_TOOLTIP_OPEN) : -len(_TOOLTIP_CLOSE)]).replace(_ZWSP, "")
    return tip


def set_plain_tooltip(target: QWidget | QAction, text: str) -> None:
    """Give a widget or an action a tooltip showing outside ``text`` literally."""
    target.setToolTip(plain_tooltip(text))


# Menus ---------------------------------------------------------------------------------------
def menu_text(text: str) -> str:
    """Outside text for a menu entry or action: one line, bounded, ``&`` not a mnemonic."""
    return inline(text, MENU_LIMIT, one_line=True).replace("&", "&&")


# Notifications -------------------------------------------------------------------------------
def notification_text(text: str, *, markup: bool | None = None) -> str:
    """The body of a desktop notification: bounded, literal (:func:`literal`: no
    override from an end user reverses it) and, where markup is read, escaped.

    freedesktop notification servers read a markup subset (``<b>``, ``<a href>``,
    ``<img src>``) in the body; there ``<``, ``>`` and ``&`` are escaped. On other
    platforms the body is plain. ``markup`` defaults to "on Linux and the BSDs".
    """
    if markup is None:
        markup = not sys.platform.startswith(("win", "darwin"))
    body = literal(text, NOTIFICATION_LIMIT)
    return _escape(body) if markup else body


# Labels --------------------------------------------------------------------------------------
class PlainLabel(QLabel):
    """A label that never interprets markup; ``wrap`` breaks lines, long words included."""

    def __init__(self, text: str = "", parent: QWidget | None = None, *, wrap: bool = False):
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self._wrap = wrap
        self.setWordWrap(wrap)
        self._full = ""
        if text:
            self.setText(text)

    def setText(self, text: str) -> None:
        self._full = text
        shown = visible_controls(text)
        super().setText(breakable(shown) if self._wrap else shown)

    def text(self) -> str:
        """The text as given (on screen: soft breaks and control symbols)."""
        return self._full

    def full_text(self) -> str:
        return self._full


def elide_words(text: str, metrics: QFontMetrics, width: int) -> str:
    """``text`` cut to ``width`` pixels after a whole word, with "…" (a single word too
    long for the width is cut where it must be)."""
    shown = metrics.elidedText(text, Qt.TextElideMode.ElideRight, max(1, width))
    if shown == text or not shown.endswith(_ELLIPSIS):
        return shown
    kept = shown[: -len(_ELLIPSIS)]
    if len(kept) < len(text) and not text[len(kept)].isspace():
        space = kept.rstrip().rfind(" ")
        if space > 0:
            kept = kept[:space]
    return kept.rstrip(" ,;:·—-") + _ELLIPSIS


class ElidedLabel(QLabel):
    """Plain text in at most ``max_lines`` lines, each elided to the width it gets.

    It never asks for more than ``ELIDED_HINT_WIDTH`` pixels and can shrink to a few
    characters, so a 20,000-character name can't widen the window. When something is cut,
    the tooltip shows the whole text (unless the owner set a tooltip of its own) and the
    context menu's "Copy all" copies all of it.
    """

    def __init__(
        self,
        text: str = "",
        parent: QWidget | None = None,
        *,
        max_lines: int = 1,
        mode: Qt.TextElideMode = Qt.TextElideMode.ElideRight,
        words: bool = False,
    ) -> None:
        """``words``: cut after a whole word (``ElideRight`` only), not mid-word."""
        super().__init__(parent)
        self._words = words
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(False)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self._max_lines = max(1, max_lines)
        self._mode = mode
        self._full = ""
        self._lines: list[str] = []
        self._auto_tip = ""
        self._elided = False
        self.setText(text)

    def setText(self, text: str) -> None:
        self._full = text
        lines = visible_controls(text).split("\n")
        if len(lines) > self._max_lines:
            lines = lines[: self._max_lines]
            lines[-1] += " " + _ELLIPSIS
        self._lines = lines
        self._relayout()
        self.updateGeometry()

    def text(self) -> str:
        """The whole text as given (what the label shows may be elided)."""
        return self._full

    def shown_text(self) -> str:
        """What the label shows now (elided to its width)."""
        return super().text()

    def full_text(self) -> str:
        return self._full

    def is_elided(self) -> bool:
        return self._elided

    def _relayout(self) -> None:
        metrics = self.fontMetrics()
        width = max(1, self.contentsRect().width())
        if self._words:
            shown = [elide_words(line, metrics, width) for line in self._lines]
        else:
            shown = [metrics.elidedText(line, self._mode, width) for line in self._lines]
        self._elided = shown != self._lines or len(self._lines) < self._full.count("\n") + 1
        super().setText("\n".join(shown))
        tip = plain_tooltip(self._full) if self._elided else ""
        if self.toolTip() in ("", self._auto_tip):
            super().setToolTip(tip)
        self._auto_tip = tip

    def setToolTip(self, tip: str) -> None:
        self._auto_tip = ""
        super().setToolTip(tip)

    def sizeHint(self) -> QSize:
        metrics = self.fontMetrics()
        natural = max((metrics.horizontalAdvance(line) for line in self._lines), default=0)
        margins = self.contentsMargins()
        extra = margins.left() + margins.right() + 2 * self.margin() + 2
        height = len(self._lines) * metrics.lineSpacing() + margins.top() + margins.bottom()
        return QSize(min(natural + extra, ELIDED_HINT_WIDTH), max(height, metrics.height()))

    def minimumSizeHint(self) -> QSize:
        hint = self.sizeHint()
        return QSize(min(hint.width(), self.fontMetrics().averageCharWidth() * 6), hint.height())

    def resizeEvent(self, event: QResizeEvent) -> None:
        super().resizeEvent(event)
        self._relayout()

    def contextMenuEvent(self, event: QContextMenuEvent) -> None:
        from PySide6.QtGui import QGuiApplication
        from PySide6.QtWidgets import QMenu

        menu = QMenu(self)
        copy = menu.addAction("Copy &all")
        copy.triggered.connect(lambda: QGuiApplication.clipboard().setText(self._full))
        menu.exec(event.globalPos())
        menu.deleteLater()


def app_rich_label(html_text: str, parent: QWidget | None = None) -> QLabel:
    """A label showing rich text the app wrote itself (never with outside text in it)."""
    label = QLabel(parent)
    label.setTextFormat(Qt.TextFormat.RichText)
    label.setProperty(APP_RICH_TEXT, True)
    label.setText(html_text)
    return label


# Message boxes ------------------------------------------------------------------------------
def message_box(
    parent: QWidget | None,
    icon: QMessageBox.Icon,
    title: str,
    text: str,
    buttons: QMessageBox.StandardButton | None = None,
    default: QMessageBox.StandardButton | None = None,
    informative: str = "",
) -> QMessageBox:
    """A message box in plain text; a text over 600 characters is shortened on screen and
    shown whole under "Show Details…". ``buttons`` defaults to OK."""
    from PySide6.QtWidgets import QMessageBox

    box = QMessageBox(parent)
    box.setIcon(icon)
    box.setWindowTitle(inline(title, MENU_LIMIT, one_line=True))
    box.setTextFormat(Qt.TextFormat.PlainText)
    box.setText(breakable(inline(shorten(text, MESSAGE_LIMIT))))
    if informative:
        box.setInformativeText(breakable(inline(shorten(informative, MESSAGE_LIMIT))))
    if len(text) > MESSAGE_LIMIT or len(informative) > MESSAGE_LIMIT:
        box.setDetailedText(visible_controls("\n\n".join(t for t in (text, informative) if t)))
    for name in ("qt_msgbox_label", "qt_msgbox_informativelabel"):
        label = box.findChild(QLabel, name)
        if label is not None:
            label.setWordWrap(True)  # wraps before it is shown, too (soft breaks above)
    box.setStandardButtons(buttons if buttons is not None else QMessageBox.StandardButton.Ok)
    if default is not None and default != QMessageBox.StandardButton.NoButton:
        box.setDefaultButton(default)
    return box


def question(
    parent: QWidget | None,
    title: str,
    text: str,
    buttons: QMessageBox.StandardButton | None = None,
    default: QMessageBox.StandardButton | None = None,
) -> QMessageBox.StandardButton:
    """``QMessageBox.question`` in plain text (modal; Yes/No by default); the button chosen."""
    from PySide6.QtWidgets import QMessageBox

    if buttons is None:
        buttons = QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No
    box = message_box(parent, QMessageBox.Icon.Question, title, text, buttons, default)
    try:
        return QMessageBox.StandardButton(box.exec())
    finally:
        box.deleteLater()


def warning(parent: QWidget | None, title: str, text: str) -> None:
    """``QMessageBox.warning`` in plain text (modal)."""
    from PySide6.QtWidgets import QMessageBox

    box = message_box(parent, QMessageBox.Icon.Warning, title, text)
    try:
        box.exec()
    finally:
        box.deleteLater()

"""The helpers of ``ui/plain.py``: outside text shown literally and within bounds."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction
from PySide6.QtGui import Qt as GuiQt
from PySide6.QtWidgets import QMessageBox

from smooch_desktop.ui import plain

LONG = "W" * 20_000


def test_inline_shows_controls_and_isolates_bidi_overrides() -> None:
    assert plain.inline("nul\x00byte\x1b") == "nul[NUL]byte[ESC]"
    assert plain.inline("a\nb") == "a\nb"
    assert plain.inline("a\nb", one_line=True) == "a b"
    assert plain.inline("\u202eevil") == "\u2068\u202eevil\u2069"
    assert plain.inline("👩\u200d👩\u200d👧 & <b>") == "👩\u200d👩\u200d👧 & <b>"
    assert plain.inline(LONG, 10) == "W" * 9 + "…"


def test_breakable_gives_long_words_break_opportunities_only() -> None:
    assert plain.breakable("short words stay as they are") == "short words stay as they are"
    broken = plain.breakable(LONG)
    assert broken.replace("\u200b", "") == LONG
    assert max(len(part) for part in broken.split("\u200b")) == plain.SOFT_BREAK_RUN


@pytest.mark.parametrize(
    "text", ['<img src="/dev/zero">', "<b>x</b> & y", "a &lt; b", LONG, "\x00", "“quoted”"]
)
def test_plain_tooltip_is_escaped_bounded_and_recognised(text: str) -> None:
    tip = plain.plain_tooltip(text)
    assert plain.is_plain_tooltip(tip)
    assert "<img" not in tip and "<b>" not in tip
    assert len(plain.tooltip_text(tip)) <= plain.TOOLTIP_LIMIT + 2  # + bidi isolate
    assert plain.tooltip_text(tip).startswith(plain.inline(text)[:50])
    assert plain.plain_tooltip("") == ""
    assert not plain.is_plain_tooltip("<p style='white-space:pre-wrap'><img src=x></p>")
    assert not plain.is_plain_tooltip('<img src="/dev/zero">')


def test_menu_text_doubles_ampersands_and_stays_short(qapp: Any) -> None:
    assert plain.menu_text("Tom & Jerry") == "Tom && Jerry"
    action = QAction(plain.menu_text("Tom & Jerry"))
    assert action.iconText() == "Tom & Jerry"  # shown with its ampersand, no mnemonic
    assert len(plain.menu_text(LONG)) == plain.MENU_LIMIT
    assert "\n" not in plain.menu_text("two\nlines")


def test_notification_text_is_escaped_where_markup_is_read() -> None:
    body = plain.notification_text('<img src="/dev/zero"> & <b>x</b>', markup=True)
    assert body == '&lt;img src="/dev/zero"&gt; &amp; &lt;b&gt;x&lt;/b&gt;'
    assert plain.notification_text("<b>x</b>", markup=False) == "<b>x</b>"
    assert len(plain.notification_text(LONG, markup=False)) == plain.NOTIFICATION_LIMIT


def test_elided_label_fits_and_keeps_the_full_text(qtbot: Any) -> None:
    label = plain.ElidedLabel(max_lines=2)
    qtbot.addWidget(label)
    label.setText(f'<img src="/dev/zero"> {LONG}\nsecond line\nthird line')
    assert label.textFormat() == Qt.TextFormat.PlainText
    assert label.sizeHint().width() <= plain.ELIDED_HINT_WIDTH
    assert label.minimumSizeHint().width() < 100
    label.resize(300, label.sizeHint().height())
    label.show()
    qtbot.waitExposed(label)
    assert label.is_elided()
    assert label.shown_text().count("\n") == 1 and "…" in label.shown_text()
    assert label.text() == label.full_text()
    assert plain.is_plain_tooltip(label.toolTip())
    assert label.full_text().endswith("third line")
    label.setToolTip("the owner's own")  # an explicit tooltip wins over the automatic one
    label.setText("short")
    assert label.toolTip() == "the owner's own"
    assert not label.is_elided()


def test_plain_label_wraps_a_20000_character_word(qtbot: Any) -> None:
    label = plain.PlainLabel(wrap=True)
    qtbot.addWidget(label)
    label.setText(f"No user with ID “{LONG}”.")
    assert label.textFormat() == Qt.TextFormat.PlainText
    assert label.minimumSizeHint().width() < 800
    assert label.full_text() == f"No user with ID “{LONG}”."


def test_app_rich_label_is_marked(qtbot: Any) -> None:
    label = plain.app_rich_label("<b>Title</b>")
    qtbot.addWidget(label)
    assert label.property(plain.APP_RICH_TEXT) is True
    assert label.textFormat() == Qt.TextFormat.RichText


def test_message_box_is_plain_bounded_with_the_whole_text_in_details(qtbot: Any) -> None:
    text = f'Delete “<img src="/dev/zero">{LONG}”?'
    box = plain.message_box(None, QMessageBox.Icon.Question, "Delete", text)
    qtbot.addWidget(box)
    assert box.textFormat() == Qt.TextFormat.PlainText
    assert not GuiQt.mightBeRichText(box.windowTitle())
    assert len(box.text()) < plain.MESSAGE_LIMIT + 40  # + soft breaks
    assert box.detailedText() == text
    assert box.minimumSizeHint().width() < 1280

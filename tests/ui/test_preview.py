"""The live preview beside the composer: it follows the text (shorthand parsed as Send
parses it), the attached structured message and the sender, shows shorthand problems while
typing, and makes no API request."""

from __future__ import annotations

import pytest
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot
from ui_stack import SENDER_NAME, UiStack

from smooch_desktop.core.structured import StructuredAction, StructuredItem, StructuredMessage
from smooch_desktop.sandbox import DEMO_ALICE_ID
from smooch_desktop.ui.main_window import MainWindow
from smooch_desktop.ui.preview import PLACEHOLDER, ComposerPreview

pytestmark = pytest.mark.qt_log_ignore("propagateSizeHints")


def preview_of(window: MainWindow) -> ComposerPreview:
    assert window.preview is not None
    return window.preview


def test_the_preview_follows_the_text_as_it_is_typed_without_api_calls(
    stack: UiStack, window: MainWindow, qtbot: QtBot
) -> None:
    stack.open_user(window, DEMO_ALICE_ID)
    stack.barrier()
    calls = len(stack.sandbox.log())
    preview = preview_of(window)
    assert preview.shown == [] and preview.view.placeholder() == PLACEHOLDER
    window.composer.edit.setFocus()
    QTest.keyClicks(
        window.composer.edit, "Pick one ![](https://example.com/a.png) %[Yes](reply:YES)"
    )
    (shown,) = preview.shown
    assert (shown.type, shown.text, shown.media_url) == (
        "image",
        "Pick one",
        "https://example.com/a.png",
    )
    assert shown.actions == ({"type": "reply", "text": "Yes", "payload": "YES"},)
    assert shown.author_name == SENDER_NAME and shown.is_business
    assert shown.avatar_url == window.sender_panel.preview_url()
    assert preview.model.rowCount() == 1
    assert preview.problem_text() == ""
    stack.barrier()
    # Only the typing indicator went out (as before): the preview asked the API nothing.
    new = [call["path"] for call in stack.sandbox.log()[calls:]]
    assert new and all(path.endswith("/activity") for path in new), new

    QTest.keyClicks(window.composer.edit, " %[Site](javascript:alert(1))")
    assert 'The link of the "Site" button must use https or http' in preview.problem_text()
    assert not preview.problems.isHidden()
    window.composer.set_text("")
    assert preview.shown == [] and preview.problems.isHidden()


def test_the_attached_structure_follows_the_text_and_the_sender_name(
    stack: UiStack, window: MainWindow, qtbot: QtBot, api_version: str
) -> None:
    preview = preview_of(window)
    assert window.attachment is not None
    share = StructuredAction("share")
    window.attachment.attach(
        StructuredMessage("carousel", items=(StructuredItem("Red", actions=(share,)),))
    )
    window.composer.set_text("Look:")
    assert [m.type for m in preview.shown] == ["text", "carousel"]
    assert preview.shown[1].items == (
        {"title": "Red", "description": "", "mediaUrl": "", "actions": [{"type": "share"}]},
    )
    # The rules of the version in use: v2 has no share button.
    assert ("share" in preview.problem_text()) == (api_version == "v2")
    window.sender_panel.name_edit.setText("")
    QTest.keyClicks(window.sender_panel.name_edit, "Bo")
    assert {m.author_name for m in preview.shown} == {"Bo"}
    window.attachment.clear()
    assert [m.type for m in preview.shown] == ["text"]

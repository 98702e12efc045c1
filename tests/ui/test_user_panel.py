"""User panel on its own: debounce, lookups over real HTTP, stale answers, recent IDs.

The panel looks users up through the session's adapter; every test that does runs on
v1.1 and v2 (``api_version``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pytestqt.qtbot import QtBot

from smooch_desktop.api.auth import Credentials
from smooch_desktop.api.factory import ApiVersion
from smooch_desktop.api.models import AppUser, Client
from smooch_desktop.api.protocol import ConversationApi
from smooch_desktop.sandbox import DEMO_ALICE_ID, DEMO_PAGING_USER_ID, FaultConfig
from smooch_desktop.ui.controller import connect_api
from smooch_desktop.ui.user_panel import (
    USER_SETTLE_MS,
    UserPanel,
    describe_last_seen,
    describe_user,
)
from smooch_desktop.ui.workers import TaskQueue


@pytest.fixture
def api(sandbox: Any, api_version: str) -> Iterator[ConversationApi]:
    """The adapter a session of ``api_version`` gets (as the controller builds it)."""
    client = connect_api(
        ApiVersion(api_version),
        sandbox.base_url,
        sandbox.app_id,
        Credentials(sandbox.key_id, sandbox.secret),
        sandbox.base_url + "/avatar",
    )
    yield client
    client.close()


@pytest.fixture
def tasks(qtbot: QtBot, leak_guard: None) -> Iterator[TaskQueue]:
    queue = TaskQueue("api")
    yield queue
    assert queue.stop(5000)
    queue.deleteLater()


@pytest.fixture
def panel(qtbot: QtBot, tasks: TaskQueue, api: ConversationApi) -> UserPanel:
    widget = UserPanel(tasks, lambda: api)
    qtbot.addWidget(widget)
    widget.show()
    qtbot.waitExposed(widget)
    return widget


#: The GET of a user itself: v1.1 …/appusers/{id}; v2 …/users/{id} (then its clients and
#: conversations, which are not lookups of their own).
_USER_PATH = re.compile(r"/(appusers|users)/[^/]+$")


def lookups(sandbox: Any) -> list[str]:
    return [
        e["path"] for e in sandbox.log() if e["method"] == "GET" and _USER_PATH.search(e["path"])
    ]


def retype(qtbot: QtBot, panel: UserPanel, text: str) -> None:
    panel.line_edit.setFocus()
    QTest.keyClick(panel.line_edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(panel.line_edit, text)


def test_the_id_is_looked_up_once_after_it_settles(
    panel: UserPanel, tasks: TaskQueue, sandbox: Any, qtbot: QtBot
) -> None:
    changes: list[str] = []
    panel.userChanged.connect(changes.append)
    started = time.monotonic()
    with qtbot.waitSignal(panel.userLoaded, timeout=5000) as loaded:
        retype(qtbot, panel, DEMO_ALICE_ID)
        assert changes == []  # nothing while typing
    assert time.monotonic() - started >= USER_SETTLE_MS / 1000 * 0.9
    assert changes == [DEMO_ALICE_ID]
    assert isinstance(loaded.args[0], AppUser)
    assert panel.current_user() == loaded.args[0]
    assert len(lookups(sandbox)) == 1
    # Confirming the same ID with Return is no change and no new lookup.
    QTest.keyClick(panel.line_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: not tasks.is_busy(), timeout=5000)  # a lookup would be done now
    assert changes == [DEMO_ALICE_ID]
    assert len(lookups(sandbox)) == 1
    # Retyping it lets go of the user while the field names someone else, then comes back.
    with qtbot.waitSignal(panel.userLoaded, timeout=5000):
        retype(qtbot, panel, DEMO_ALICE_ID)
    assert changes == [DEMO_ALICE_ID, "", DEMO_ALICE_ID]


def test_return_commits_at_once(panel: UserPanel, qtbot: QtBot, api_version: str) -> None:
    retype(qtbot, panel, DEMO_PAGING_USER_ID)
    with qtbot.waitSignal(panel.userChanged, timeout=100) as changed:
        QTest.keyClick(panel.line_edit, Qt.Key.Key_Return)
    assert changed.args == [DEMO_PAGING_USER_ID]
    assert panel.info.text() == "Looking up the user…"
    qtbot.waitUntil(lambda: panel.current_user() is not None, timeout=5000)
    # v1.1 flags the client; v2 names it as the first client association of the user in
    # the conversation's participants: the panel says the same on both.
    assert "\nios (primary) · seen" in panel.info.text()


def test_an_answer_for_a_user_no_longer_selected_is_dropped(
    panel: UserPanel, tasks: TaskQueue, sandbox: Any, qtbot: QtBot
) -> None:
    sandbox.set_faults(FaultConfig(latency_ms=150))
    loaded: list[str] = []
    panel.userLoaded.connect(lambda user: loaded.append(user.user_id))
    retype(qtbot, panel, DEMO_ALICE_ID)
    QTest.keyClick(panel.line_edit, Qt.Key.Key_Return)
    retype(qtbot, panel, DEMO_PAGING_USER_ID)
    QTest.keyClick(panel.line_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: loaded == [DEMO_PAGING_USER_ID], timeout=5000)
    qtbot.waitUntil(lambda: len(lookups(sandbox)) == 2, timeout=5000)
    qtbot.waitUntil(lambda: not tasks.is_busy(), timeout=5000)  # both answers are in
    assert loaded == [DEMO_PAGING_USER_ID]
    assert "Alice" not in panel.info.text()


def test_clearing_the_field_deselects_the_user(panel: UserPanel, qtbot: QtBot) -> None:
    with qtbot.waitSignal(panel.userLoaded, timeout=5000):
        retype(qtbot, panel, DEMO_ALICE_ID)
        QTest.keyClick(panel.line_edit, Qt.Key.Key_Return)
    with qtbot.waitSignal(panel.userChanged, timeout=2000) as changed:
        QTest.keyClick(panel.line_edit, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
        QTest.keyClick(panel.line_edit, Qt.Key.Key_Delete)
    assert changed.args == [""]
    assert panel.current_user() is None
    assert panel.info.text() == "Type or pick a user to reply to."


def test_a_server_failure_is_reported_in_words(
    panel: UserPanel, sandbox: Any, qtbot: QtBot
) -> None:
    sandbox.set_faults(FaultConfig(error_rate=1.0, seed=4))  # a 500
    with qtbot.waitSignal(panel.lookupFailed, timeout=5000) as failed:
        retype(qtbot, panel, DEMO_ALICE_ID)
        QTest.keyClick(panel.line_edit, Qt.Key.Key_Return)
    assert failed.args[0].startswith("Couldn't look the user up:")
    assert "500" in failed.args[0]
    assert panel.error.text() == failed.args[0]
    assert not panel.error.isHidden()
    # Fixing the ID clears the message.
    sandbox.set_faults(FaultConfig())
    with qtbot.waitSignal(panel.userLoaded, timeout=5000):
        retype(qtbot, panel, DEMO_PAGING_USER_ID)
        QTest.keyClick(panel.line_edit, Qt.Key.Key_Return)
    assert panel.error.isHidden()


def test_recent_ids_fill_the_list_and_keep_what_is_typed(panel: UserPanel, qtbot: QtBot) -> None:
    retype(qtbot, panel, "half-typ")
    panel.set_recent([DEMO_PAGING_USER_ID, DEMO_ALICE_ID])
    combo = panel.combo
    assert [combo.itemText(i) for i in range(combo.count())] == [
        DEMO_PAGING_USER_ID,
        DEMO_ALICE_ID,
    ]
    assert combo.currentText() == "half-typ"
    with qtbot.waitSignal(panel.userLoaded, timeout=5000) as loaded:
        combo.setCurrentIndex(1)
        combo.activated.emit(1)
    assert loaded.args[0].user_id == DEMO_ALICE_ID


def test_names_and_ids_with_markup_are_shown_literally(
    panel: UserPanel, sandbox: Any, qtbot: QtBot
) -> None:
    sandbox.store.create_user(sandbox.app_id, {"userId": "<b>vip</b>", "givenName": "<i>Eve</i>"})
    with qtbot.waitSignal(panel.userLoaded, timeout=5000):
        retype(qtbot, panel, "<b>vip</b>")
        QTest.keyClick(panel.line_edit, Qt.Key.Key_Return)
    assert panel.info.textFormat() is Qt.TextFormat.PlainText
    assert panel.info.text().startswith("<i>Eve</i>")
    with qtbot.waitSignal(panel.lookupFailed, timeout=5000):
        retype(qtbot, panel, "<b>nobody</b>")
        QTest.keyClick(panel.line_edit, Qt.Key.Key_Return)
    assert panel.error.textFormat() is Qt.TextFormat.PlainText
    assert "“<b>nobody</b>”" in panel.error.text()


def test_describe_last_seen() -> None:
    now = 1_000_000.0
    assert describe_last_seen(0, now) == "never seen"
    assert describe_last_seen(now - 30, now) == "seen just now"
    assert describe_last_seen(now - 600, now) == "seen 10 min ago"
    assert describe_last_seen(now - 5 * 3600, now) == "seen 5 h ago"
    assert describe_last_seen(now - 3 * 86400, now) == "seen 3 days ago"
    assert describe_last_seen(now + 100, now) == "seen just now"  # clock skew


def test_describe_user_lists_name_email_and_channels() -> None:
    user = AppUser(
        id="u1",
        given_name="Ann",
        surname="Lee",
        email="ann@example.com",
        clients=(
            Client("c1", "web", primary=True),
            Client("c2", "sms", status="blocked"),
        ),
    )
    first, second = describe_user(user).split("\n")
    assert first == "Ann Lee — ann@example.com"
    assert second.startswith("web (primary) · sms (blocked) · ")
    assert describe_user(AppUser(id="u2")).endswith("no channels · never seen")

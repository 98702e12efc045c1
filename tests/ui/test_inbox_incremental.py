"""The conversation list updates one changed row in place instead of resetting the model.

A page applied to one conversation (a new message, marked read) re-reads that row only
(``InboxPane.refresh_key``) and moves it where the store's order puts it: the model
emits ``rowsMoved`` / ``dataChanged``, never ``modelReset``, so the selection and the
scroll position stay. The result must always equal a full re-read of the store, with or
without a filter typed. The pane here is attached to a real ``InboxStore`` file with a
session whose poller is stopped at once (no request is made: what changes the list is
the page each test applies, as the window's own poll would).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QListView
from pytestqt.qtbot import QtBot

from smooch_desktop.api.models import HistoryPage, Message
from smooch_desktop.core.inbox import (
    ConversationKey,
    FollowReason,
    InboxRow,
    InboxStore,
    Preview,
)
from smooch_desktop.ui.inbox.model import InboxListModel, sort_key
from smooch_desktop.ui.inbox.pane import InboxPane
from smooch_desktop.ui.main_window import Session
from smooch_desktop.ui.workers import TaskQueue

PROFILE = "incremental"
USERS = 40
BASE = time.time() + 86_400.0  # later than the follow times (now)


class NoApi:
    """The poller is stopped before it asks anything."""

    server_clock = None  # no clock: times are the local ones (not a request)

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"no request expected ({name})")


class Signals:
    """Counts what the list model emitted."""

    def __init__(self, model: InboxListModel) -> None:
        self.resets = 0
        self.moves: list[tuple[int, int]] = []
        model.modelReset.connect(self._reset)
        model.rowsMoved.connect(self._moved)

    def _reset(self) -> None:
        self.resets += 1

    def _moved(self, _p: QModelIndex, start: int, _end: int, _d: QModelIndex, row: int) -> None:
        self.moves.append((start, row))


def user(n: int) -> str:
    return f"user-{n:02d}"


def page(n: int, *texts: tuple[str, float]) -> HistoryPage:
    return HistoryPage(
        tuple(
            Message(id=f"{user(n)}-{i}", role="user", text=text, received=at)
            for i, (text, at) in enumerate(texts)
        )
    )


@pytest.fixture
def listed(qtbot: QtBot, tmp_path: Path) -> Iterator[tuple[InboxPane, InboxStore]]:
    store = InboxStore(tmp_path / "inbox.sqlite3")
    for n in range(USERS):
        key = ConversationKey(PROFILE, user(n))
        store.follow(key, FollowReason.OPENED, display_name=f"Name {n}", email=f"u{n}@x.org")
        store.apply_history(key, page(n, (f"hello {n}", BASE - n * 60)))
    tasks = TaskQueue("inbox-incremental")
    pane = InboxPane(tasks, None)
    qtbot.addWidget(pane)
    pane.attach(store, Session("Test", NoApi(), "localhost", "", PROFILE), None)
    assert pane.poller is not None
    pane.poller.stop()
    yield pane, store
    pane.shutdown()
    tasks.stop()
    store.close()


def refs(pane: InboxPane) -> list[str]:
    return [row.key.user_ref for row in pane.model.rows()]


def store_refs(store: InboxStore, query: str = "") -> list[str]:
    return [row.key.user_ref for row in store.conversations(PROFILE, query)]


def new_message(pane: InboxPane, n: int, text: str, at: float) -> None:
    """What the window's poll of the open conversation does (``historyLoaded``)."""
    pane._on_history(user(n), "", page(n, (f"hello {n}", BASE - n * 60), (text, at)))


def test_a_conversation_with_a_new_message_moves_to_the_top_and_the_selection_stays(
    listed: tuple[InboxPane, InboxStore],
) -> None:
    pane, store = listed
    assert refs(pane) == store_refs(store)
    pane.view.setCurrentIndex(pane.model.index(5, 0))
    selected = pane.current_key()
    signals = Signals(pane.model)

    new_message(pane, 30, "news", BASE + 10)

    assert refs(pane)[0] == user(30)
    assert pane.model.row(0).preview.text == "news"
    assert refs(pane) == store_refs(store)
    assert signals.resets == 0
    assert signals.moves == [(30, 0)]
    assert pane.current_key() == selected  # the row selected before, moved one down
    assert pane.view.currentIndex().row() == 6
    assert pane.view.selectionModel().isSelected(pane.view.currentIndex())


def test_the_selected_row_itself_moves_and_stays_selected(
    listed: tuple[InboxPane, InboxStore],
) -> None:
    pane, store = listed
    pane.view.setCurrentIndex(pane.model.index(12, 0))
    key = pane.current_key()
    assert key is not None and key.user_ref == user(12)
    signals = Signals(pane.model)
    new_message(pane, 12, "mine", BASE + 10)
    assert pane.current_key() == key
    assert pane.view.currentIndex().row() == 0
    assert signals.resets == 0
    assert refs(pane) == store_refs(store)


def test_a_change_in_place_repaints_that_row_only(
    listed: tuple[InboxPane, InboxStore], qtbot: QtBot
) -> None:
    pane, store = listed
    key = ConversationKey(PROFILE, user(7))
    signals = Signals(pane.model)
    # An end-user message at the same time as the last one: same place, new preview.
    with qtbot.waitSignal(pane.model.dataChanged) as changed:
        store.apply_history(key, page(7, (f"hello {7}", BASE - 7 * 60), ("edited", BASE - 7 * 60)))
        pane.refresh_key(key)
    top, bottom = changed.args[0], changed.args[1]
    assert (top.row(), bottom.row()) == (7, 7)
    assert signals.resets == 0 and signals.moves == []
    assert pane.model.row(7).preview.text == "edited"


def test_the_filter_stays_and_a_row_it_hides_is_not_shown(
    listed: tuple[InboxPane, InboxStore],
) -> None:
    pane, store = listed
    pane.filter_edit.setText("Name 1")  # Name 1, Name 10..19
    shown = refs(pane)
    assert shown == store_refs(store, "Name 1") and len(shown) == 11
    new_message(pane, 3, "not matching", BASE + 20)  # hidden by the filter
    assert refs(pane) == shown
    new_message(pane, 15, "matching", BASE + 30)
    assert refs(pane)[0] == user(15)
    assert refs(pane) == store_refs(store, "Name 1")
    assert pane.filter_edit.text() == "Name 1"
    pane.filter_edit.clear()
    assert refs(pane)[:2] == [user(15), user(3)]


def test_unread_and_marking_read_update_the_row_and_the_total(
    listed: tuple[InboxPane, InboxStore],
) -> None:
    pane, store = listed
    key = ConversationKey(PROFILE, user(20))
    update = store.apply_history(key, page(20, (f"hello {20}", BASE - 20 * 60), ("ping", BASE + 5)))
    pane._on_polled(key, update)
    assert refs(pane)[0] == user(20)
    assert pane.model.row(0).unread == store.get(key).unread > 0  # type: ignore[union-attr]
    assert pane.unread_total == store.unread_total(PROFILE)
    assert store.mark_read(key)  # as the read receipt does, once the agent sees it
    pane.refresh_key(key)
    assert pane.model.row(0).unread == 0
    assert pane.unread_total == store.unread_total(PROFILE)


def test_random_updates_always_match_a_full_re_read(
    listed: tuple[InboxPane, InboxStore],
) -> None:
    pane, store = listed
    rnd = random.Random(7)
    view_selected = pane.model.index(0, 0)
    pane.view.setCurrentIndex(view_selected)
    selected = pane.current_key()
    for step in range(60):
        n = rnd.randrange(USERS)
        # Often a tie in time with another conversation: the user id decides the order.
        at = BASE + rnd.choice([step, step, -n * 60, 100])
        new_message(pane, n, f"step {step}", at)
        assert refs(pane) == store_refs(store), step
        assert pane.current_key() == selected
    assert [sort_key(r) for r in pane.model.rows()] == sorted(
        sort_key(r) for r in pane.model.rows()
    )


def row(ref: str, at: float, text: str = "") -> InboxRow:
    return InboxRow(
        ConversationKey(PROFILE, ref),
        "",
        "",
        "",
        Preview(text, "user", "", at),
        at,
        0,
        "",
        FollowReason.OPENED,
        False,
    )


@pytest.mark.parametrize(
    ("order", "moved"),
    # rowsMoved's (start, destination): the destination counts the rows before the move.
    [("bcade", (0, 3)), ("acdeb", (1, 5)), ("abced", (4, 3)), ("bacde", (1, 0))],
)
def test_the_model_moves_one_row_and_resets_for_anything_else(
    qtbot: QtBot, order: str, moved: tuple[int, int]
) -> None:
    model = InboxListModel()
    view = QListView()
    qtbot.addWidget(view)
    view.setModel(model)
    model.set_rows([row(c, 0) for c in "abcde"])
    view.setCurrentIndex(model.index(2, 0))  # "c"
    signals = Signals(model)
    model.set_rows([row(c, 0) for c in order])
    assert [r.key.user_ref for r in model.rows()] == list(order)
    assert signals.resets == 0
    assert signals.moves == [moved]
    assert model.row(view.currentIndex().row()).key.user_ref == "c"
    # Two rows moved, or a row added: a reset.
    model.set_rows([row(c, 0) for c in "edcba"])
    model.set_rows([row(c, 0) for c in "edcbaf"])
    assert signals.resets == 2

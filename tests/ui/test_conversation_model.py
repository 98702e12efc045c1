"""The conversation's list model (ui/conversation/model.py): order, dedupe, minimal updates.

Every model here is watched by Qt's own QAbstractItemModelTester (its complaints are Qt
warnings, which fail the test through ``qt_log_level_fail``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator

import pytest
from conversation_support import T0, keys, local, msg
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtTest import QAbstractItemModelTester
from pytestqt.qtbot import QtBot

from smooch_desktop.core.outbox import EntryState
from smooch_desktop.ui.conversation.items import (
    FLAG_FIRST_IN_GROUP,
    FLAG_STARTS_DAY,
    ConversationItem,
)
from smooch_desktop.ui.conversation.model import ConversationModel, ItemRole


@pytest.fixture
def model() -> Iterator[ConversationModel]:
    m = ConversationModel()
    tester = QAbstractItemModelTester(m, QAbstractItemModelTester.FailureReportingMode.Warning)
    yield m
    del tester


class Recorder:
    """Collects a model's structural signals."""

    def __init__(self, m: ConversationModel) -> None:
        self.events: list[tuple[str, int, int]] = []
        m.rowsInserted.connect(self.inserted)
        m.rowsRemoved.connect(self.removed)
        m.modelReset.connect(self.reset)
        m.dataChanged.connect(self.changed)

    def inserted(self, _p: QModelIndex, first: int, last: int) -> None:
        self.events.append(("insert", first, last))

    def removed(self, _p: QModelIndex, first: int, last: int) -> None:
        self.events.append(("remove", first, last))

    def reset(self) -> None:
        self.events.append(("reset", 0, 0))

    def changed(self, a: QModelIndex, b: QModelIndex, _roles: object = None) -> None:
        self.events.append(("changed", a.row(), b.row()))


def test_rows_sorted_by_time_with_pending_local_items_at_the_bottom(
    model: ConversationModel,
) -> None:
    history = [msg(n) for n in (5, 1, 3, 2, 4)]
    model.set_messages(history)
    assert keys(model) == ["m1", "m2", "m3", "m4", "m5"]
    # Queued earlier than the newest history message, still shown below it, in queue order.
    model.upsert_local(local("c2", queued_at=T0 + 150))
    model.upsert_local(local("c1", queued_at=T0 + 100))
    assert keys(model) == ["m1", "m2", "m3", "m4", "m5", "c1", "c2"]
    model.merge_messages([msg(6)])
    assert keys(model) == ["m1", "m2", "m3", "m4", "m5", "m6", "c1", "c2"]
    assert model.oldest_received() == T0 + 60
    index = model.index(5)
    assert model.data(index, Qt.ItemDataRole.DisplayRole) == "message 6"
    assert model.data(index, ItemRole) == model.item(5)
    tooltip = model.data(index, Qt.ItemDataRole.ToolTipRole)
    assert "Alice Martin" in tooltip
    assert "Queued" in model.data(model.index(6), Qt.ItemDataRole.ToolTipRole)
    assert len(model) == 8


def test_row_flags_group_messages_and_mark_new_days(model: ConversationModel) -> None:
    day = 86400
    model.set_messages(
        [
            msg(1, at=T0),
            msg(2, at=T0 + 60),  # same author, a minute later: same group
            msg(3, at=T0 + 120, role="business"),  # other side: new group
            msg(4, at=T0 + 2 * day),  # another day
        ]
    )
    flags = [model.row_flags(r) for r in range(4)]
    assert flags[0] == FLAG_STARTS_DAY | FLAG_FIRST_IN_GROUP
    assert flags[1] == 0
    assert flags[2] == FLAG_FIRST_IN_GROUP
    assert flags[3] & FLAG_STARTS_DAY


def test_prepend_older_inserts_at_zero_without_reset(model: ConversationModel) -> None:
    model.set_messages([msg(n) for n in range(100, 120)])
    model.has_older = True
    recorder = Recorder(model)
    older = [msg(n) for n in range(80, 101)]  # m100 is already shown
    model.prepend_older(older)
    assert recorder.events[0] == ("insert", 0, 19)
    assert not [e for e in recorder.events if e[0] in ("reset", "remove")]
    assert keys(model) == [f"m{n}" for n in range(80, 120)]
    assert model.oldest_received() == T0 + 80 * 60


def test_prepend_older_with_equal_times_goes_above(model: ConversationModel) -> None:
    model.set_messages([msg(2, at=T0)])
    model.prepend_older([msg(1, at=T0)])
    assert keys(model) == ["m1", "m2"]


def test_merge_skips_known_ids_and_duplicates(model: ConversationModel) -> None:
    model.set_messages([msg(1), msg(2)])
    recorder = Recorder(model)
    model.merge_messages([msg(2), msg(3), msg(3), msg(1)])
    assert keys(model) == ["m1", "m2", "m3"]
    assert recorder.events == [("insert", 2, 2)]
    model.merge_messages([msg(1), msg(2), msg(3)])
    assert recorder.events == [("insert", 2, 2)]


def test_merge_replaces_the_local_item_with_its_server_copy(model: ConversationModel) -> None:
    model.set_messages([msg(1), msg(2)])
    model.upsert_local(local("c1", EntryState.UNKNOWN, queued_at=T0 + 1000))
    assert keys(model) == ["m1", "m2", "c1"]
    recorder = Recorder(model)
    server_copy = msg(3, role="business", text="local c1", at=T0 + 1001, client_id="c1")
    model.merge_messages([server_copy])
    assert keys(model) == ["m1", "m2", "m3"]
    assert recorder.events == [("changed", 2, 2)]  # in place: no remove + insert
    assert model.find_client("c1") == 2
    assert not model.item(2).is_local  # the server's copy: a history row
    # Polling again, or the outbox reporting "sent" late, never shows it twice.
    model.merge_messages([server_copy])
    assert model.upsert_local(local("c1", EntryState.SENT, server_id="m3")) is None
    assert model.upsert_local(local("c1", EntryState.FAILED, error_text="late")) is None
    assert keys(model) == ["m1", "m2", "m3"]


def test_merge_moves_a_replaced_item_into_time_order(model: ConversationModel) -> None:
    model.set_messages([msg(1), msg(5)])
    model.upsert_local(local("c1", EntryState.SENDING))
    model.upsert_local(local("c2", EntryState.QUEUED))
    model.merge_messages([msg(3, role="business", client_id="c1")])
    assert keys(model) == ["m1", "m3", "m5", "c2"]


def test_upsert_local_state_transitions(model: ConversationModel) -> None:
    model.set_messages([msg(1), msg(2)])
    recorder = Recorder(model)
    assert model.upsert_local(local("c1", EntryState.QUEUED, next_attempt_at=time.time() + 12)) == 2
    assert model.has_countdowns()
    assert model.upsert_local(local("c1", EntryState.SENDING)) == 2
    failed = local("c1", EntryState.FAILED, error_text="invalid_auth: Invalid JWT")
    assert model.upsert_local(failed) == 2
    assert model.item(2).error_text == "invalid_auth: Invalid JWT"
    assert "Failed: invalid_auth: Invalid JWT" in model.data(
        model.index(2), Qt.ItemDataRole.ToolTipRole
    )
    assert not model.has_countdowns()
    assert recorder.events == [("insert", 2, 2), ("changed", 2, 2), ("changed", 2, 2)]
    # Sent: it takes the server id and stays where it is (it is the newest).
    assert model.upsert_local(local("c1", EntryState.SENT, server_id="srv-9")) == 2
    assert model.item(2).key == "srv-9"
    assert model.find_server("srv-9") == 2
    assert model.remove_local("nope") is False
    assert model.remove_local("c1") is True
    assert keys(model) == ["m1", "m2"]
    with pytest.raises(ValueError):
        model.upsert_local(ConversationItem(key="m9", text="not local"))


def test_sent_item_already_in_history_is_dropped(model: ConversationModel) -> None:
    model.set_messages([msg(1), msg(2)])
    model.upsert_local(local("c1", EntryState.SENDING))
    # History (without our metadata, e.g. another adapter) already has the message.
    assert model.upsert_local(local("c1", EntryState.SENT, server_id="m2")) is None
    assert keys(model) == ["m1", "m2"]
    assert model.find_client("c1") is None


def test_sent_item_moves_from_the_queue_into_history(model: ConversationModel) -> None:
    model.set_messages([msg(1), msg(3)])
    model.upsert_local(local("c1", EntryState.SENDING, queued_at=T0 + 500))
    model.upsert_local(local("c2", EntryState.QUEUED, queued_at=T0 + 600))
    # The server stamped it between m1 and m3.
    model.upsert_local(local("c1", EntryState.SENT, server_id="s1", queued_at=T0 + 120))
    assert keys(model) == ["m1", "s1", "m3", "c2"]


def test_clear_and_has_older_signal(qtbot: QtBot, model: ConversationModel) -> None:
    with qtbot.waitSignal(model.hasOlderChanged) as blocker:
        model.has_older = True
    assert blocker.args == [True]
    model.set_messages([msg(1)])
    assert model.has_older is True  # the owner decides
    model.clear()
    assert len(model) == 0
    assert model.has_older is False
    assert model.oldest_received() is None


def test_ten_thousand_items_are_fast(qapp: object) -> None:
    model = ConversationModel()  # no tester here: it re-checks every row on each change
    rnd = random.Random(7)
    page = [msg(n, role=rnd.choice(["user", "business"])) for n in range(20_000, 30_000)]
    rnd.shuffle(page)
    start = time.perf_counter()
    model.set_messages(page)
    assert time.perf_counter() - start < 1.0
    assert len(model) == 10_000
    recv = [item.received for item in model.items()]
    assert recv == sorted(recv)

    start = time.perf_counter()
    for n in range(200):
        model.upsert_local(local(f"c{n}", queued_at=T0 + 10**7 + n))
    model.merge_messages([msg(n) for n in range(29_990, 30_100)])  # 100 new, 10 known
    for n in range(0, 200, 2):
        model.upsert_local(
            local(f"c{n}", EntryState.FAILED, error_text="boom", queued_at=T0 + 10**7 + n)
        )
    model.prepend_older([msg(n) for n in range(10_000, 20_000)])
    elapsed = time.perf_counter() - start
    assert len(model) == 20_000 + 100 + 200
    assert model.find_client("c199") == len(model) - 1
    assert elapsed < 2.0

"""Nothing typed is stranded or lost: profile ids, old files, files deleted under the app.

* The outbox, drafts and recent users are keyed by a stable profile id; files and
  settings written before ids (by the base schema, from the SQL dumps in ``data/``) are
  migrated to the id the profile gets, so nothing is left under an old name.
* The unaddressed draft (typed before a user is picked) is kept like any draft.
* An outbox or drafts file deleted or replaced while open is written back on the next
  write (or at close), and the owner is told where.
* A full disk is SQLite's real SQLITE_FULL, reached with ``PRAGMA max_page_count``.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from pathlib import Path

import pytest

from smooch_desktop.api.models import OutgoingMessage, Sender
from smooch_desktop.core.drafts import DraftStore
from smooch_desktop.core.outbox import EntryState, Outbox

DATA = Path(__file__).parent / "data"
SENDER = Sender("Ada", "ada@example.com")


def from_dump(path: Path, dump: str) -> Path:
    """A database file exactly as the base code (schema 1) left it, from its SQL dump."""
    conn = sqlite3.connect(path)
    conn.executescript((DATA / dump).read_text(encoding="utf-8"))
    conn.close()
    return path


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def msg(text: str) -> OutgoingMessage:
    return OutgoingMessage(text, SENDER)


# --- ids and migration -------------------------------------------------------------------------


def test_profile_ids_are_stable_for_a_name_and_random_for_new_profiles() -> None:
    from smooch_desktop.core.profiles import legacy_profile_id, new_profile_id

    assert legacy_profile_id("Prod") == legacy_profile_id("Prod")
    assert legacy_profile_id("Prod") != legacy_profile_id("prod")
    assert legacy_profile_id("Prod") != "Prod"
    assert new_profile_id() != new_profile_id()


def test_an_outbox_written_by_schema_1_is_migrated_to_profile_ids(tmp_path: Path) -> None:
    from smooch_desktop.core.profiles import legacy_profile_id

    path = from_dump(tmp_path / "outbox.sqlite3", "outbox_v1.sql")
    assert user_version(path) == 1
    with Outbox(path) as outbox:
        entries = outbox.all_entries()
        assert {e.profile for e in entries} == {
            legacy_profile_id("Prod"),
            legacy_profile_id("Sandbox"),
            legacy_profile_id("Gone profile"),
        }
        # Schema 3 on: every earlier entry went to the user's main conversation.
        assert {e.conversation_id for e in entries} == {""}
        prod = outbox.all_entries(legacy_profile_id("Prod"))
        assert [(e.user_ref, e.message.text, e.state) for e in prod] == [
            ("alice", "Queued for Alice", EntryState.QUEUED),
            ("alice", "In flight to Alice", EntryState.SENDING),
            ("bob", "Rejected for Bob", EntryState.FAILED),
            ("bob", "Delivered to Bob", EntryState.SENT),
        ]
        assert prod[2].error_text == "Nope" and prod[3].server_id == "srv-1"
        # Nothing is left under a name, and the engine finds the open ones by id.
        assert outbox.all_entries("Prod") == []
        assert [e.message.text for e in outbox.active(legacy_profile_id("Sandbox"))] == [
            "Maybe arrived for Carol"
        ]
        # New entries continue after the old ones.
        assert outbox.enqueue(legacy_profile_id("Prod"), "alice", msg("new")).seq == 7
        assert [e.message.text for e in outbox.recover()] == ["In flight to Alice"]
    assert user_version(path) == 5
    with Outbox(path) as again:  # migrated once: reopening changes nothing
        assert len(again.all_entries(legacy_profile_id("Prod"))) == 5


def test_drafts_written_by_schema_1_are_migrated_to_profile_ids(tmp_path: Path) -> None:
    from smooch_desktop.core.profiles import legacy_profile_id

    path = from_dump(tmp_path / "drafts.sqlite3", "drafts_v1.sql")
    with DraftStore(path) as drafts:
        assert drafts.load(legacy_profile_id("Prod"), "alice") == "Half-written reply to Alice"
        assert drafts.all(legacy_profile_id("Sandbox")) == {"carol": "Draft for Carol"}
        assert drafts.load("Prod", "alice") == ""
        assert drafts.load_unaddressed() == ""
        drafts.save_unaddressed("typed before picking a user")
    assert user_version(path) == 3
    with DraftStore(path) as again:
        assert again.load_unaddressed() == "typed before picking a user"


def test_a_profile_saved_without_an_id_finds_its_old_messages_drafts_and_recent_users(
    tmp_path: Path,
) -> None:

    from PySide6.QtCore import QSettings

    from smooch_desktop.ui.settings import AppSettings, settings_path

    # Settings as the base code wrote them: no id, recent users under the name.
    path = settings_path()
    assert path is not None
    raw = QSettings(str(path), QSettings.Format.IniFormat)
    raw.setValue("connection/profiles", '[{"name": "Prod", "region": "eu", "app_id": "a1"}]')
    raw.setValue("recent/" + b"Prod".hex(), '["alice", "bob"]')
    raw.sync()
    outbox_path = from_dump(tmp_path / "outbox.sqlite3", "outbox_v1.sql")
    drafts_path = from_dump(tmp_path / "drafts.sqlite3", "drafts_v1.sql")

    settings = AppSettings()
    [profile] = settings.profiles()
    assert profile.name == "Prod" and profile.id
    assert settings.recent_users(profile.id) == ["alice", "bob"]
    with Outbox(outbox_path) as outbox, DraftStore(drafts_path) as drafts:
        assert len(outbox.active(profile.id)) == 2
        assert drafts.load(profile.id, "alice") == "Half-written reply to Alice"
    # The id is stored: a rename keeps it (and so everything keyed by it).
    settings.sync()
    renamed = AppSettings()
    renamed.upsert_profile(dataclasses.replace(profile, name="Production"))
    assert [(p.name, p.id) for p in AppSettings().profiles()] == [("Production", profile.id)]
    assert AppSettings().recent_users(profile.id) == ["alice", "bob"]


# --- the unaddressed draft ---------------------------------------------------------------------


def test_the_unaddressed_draft_survives_reopening_and_moves_to_a_user(tmp_path: Path) -> None:
    path = tmp_path / "drafts.sqlite3"
    with DraftStore(path) as drafts:
        drafts.save_unaddressed("Dear customer,")
    with DraftStore(path) as drafts:
        assert drafts.load_unaddressed() == "Dear customer,"
        assert drafts.count("p1") == 0  # belongs to no profile
        drafts.address("p1", "alice", "Dear customer,\nold draft")
        assert drafts.load_unaddressed() == ""
        assert drafts.load("p1", "alice") == "Dear customer,\nold draft"
        drafts.save_unaddressed("  ")
        assert drafts.load_unaddressed() == ""


# --- what a profile holds, and forgetting it ---------------------------------------------------


def test_profile_data_counts_open_messages_and_drafts_and_forgets_them(tmp_path: Path) -> None:
    from smooch_desktop.core.profiles import ProfileData

    with Outbox(tmp_path / "o.sqlite3") as outbox, DraftStore(tmp_path / "d.sqlite3") as drafts:
        queued = [outbox.enqueue("p1", "alice", msg(f"q{i}")) for i in range(2)]
        failed = outbox.enqueue("p1", "bob", msg("f"))
        outbox.mark_sending(failed.client_id)
        outbox.mark_failed(failed.client_id, status=400, code="x", text="no", retryable=False)
        sent = outbox.enqueue("p1", "bob", msg("s"))
        outbox.mark_sending(sent.client_id)
        outbox.mark_sent(sent.client_id, "srv", 1.0)
        other = outbox.enqueue("p2", "alice", msg("other profile"))
        drafts.save("p1", "carol", "draft")
        drafts.save("p2", "carol", "other draft")

        data = ProfileData(outbox, drafts)
        summary = data.unsent("p1")
        assert summary.states == {"queued": 2, "failed": 1}
        assert summary.things() == "3 unsent messages and 1 draft"
        assert summary.details() == "2 waiting to be sent, 1 failed"
        assert data.unsent("nobody").empty

        assert data.forget("p1").messages == 3
        assert outbox.all_entries("p1") == [] and drafts.count("p1") == 0
        assert outbox.get(queued[0].client_id) is None
        assert outbox.get(other.client_id) is not None  # other profiles untouched
        assert drafts.load("p2", "carol") == "other draft"


# --- files deleted or replaced while open ------------------------------------------------------


def _delete_main(path: Path) -> None:
    path.unlink()


def _delete_all_three(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _replace_with_empty_file(path: Path) -> None:
    tmp = path.with_name("other")
    tmp.write_bytes(b"")
    os.replace(tmp, path)


def _replace_with_garbage(path: Path) -> None:
    tmp = path.with_name("other")
    tmp.write_bytes(b"not a database at all" * 100)
    os.replace(tmp, path)


def _delete_the_whole_folder(path: Path) -> None:
    for child in path.parent.iterdir():
        child.unlink()
    path.parent.rmdir()


LOSSES = [
    _delete_main,
    _delete_all_three,
    _replace_with_empty_file,
    _replace_with_garbage,
    _delete_the_whole_folder,
]


@pytest.mark.parametrize("lose", LOSSES)
def test_an_outbox_deleted_or_replaced_while_open_is_written_back(
    tmp_path: Path, lose: object
) -> None:
    path = tmp_path / "data" / "outbox.sqlite3"
    warnings: list[str] = []
    outbox = Outbox(path)
    outbox.on_rewritten = warnings.append
    before = outbox.enqueue("p1", "alice", msg("accepted before"))
    failed = outbox.enqueue("p1", "bob", msg("failed before"))
    outbox.mark_sending(failed.client_id)
    outbox.mark_failed(failed.client_id, status=400, code="x", text="no", retryable=False)
    assert callable(lose)
    lose(path)
    after = outbox.enqueue("p1", "alice", msg("accepted after"))  # the write that notices
    outbox.mark_sending(after.client_id)  # later writes go to the new file
    outbox.close()
    with Outbox(path) as reopened:  # what the next start finds
        assert reopened.recovered_from is None
        found = {e.client_id: e for e in reopened.all_entries()}
        assert set(found) == {before.client_id, failed.client_id, after.client_id}
        assert found[failed.client_id].state is EntryState.FAILED
        assert found[after.client_id].state is EntryState.SENDING
        assert reopened.enqueue("p1", "alice", msg("next")).seq > found[after.client_id].seq
    assert len(warnings) == 1
    assert str(path) in warnings[0] and "deleted or replaced" in warnings[0]
    assert "3 unsent messages" in warnings[0]
    if lose in (_replace_with_empty_file, _replace_with_garbage):
        assert ".replaced-" in warnings[0]  # what was put there is kept, and named


def test_an_outbox_deleted_while_idle_is_written_back_when_the_app_quits(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    warnings: list[str] = []
    outbox = Outbox(path)
    outbox.on_rewritten = warnings.append
    kept = outbox.enqueue("p1", "alice", msg("queued, nothing else happens"))
    _delete_all_three(path)
    outbox.close()
    with Outbox(path) as reopened:
        assert [e.client_id for e in reopened.all_entries()] == [kept.client_id]
    assert len(warnings) == 1


def test_an_outbox_that_cannot_be_written_back_keeps_everything_and_says_so(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    path = data / "outbox.sqlite3"
    warnings: list[str] = []
    outbox = Outbox(path)
    outbox.on_rewritten = warnings.append
    first = outbox.enqueue("p1", "alice", msg("one"))
    _delete_main(path)
    blocker = path.with_name(f"{path.name}.restoring")
    blocker.mkdir()  # the copy can't be made (as on a full disk): nothing may be lost
    second = outbox.enqueue("p1", "alice", msg("two"))
    third = outbox.enqueue("p1", "alice", msg("three"))
    assert len(warnings) == 1 and "could not be written again" in warnings[0]
    assert {e.client_id for e in outbox.all_entries()} >= {first.client_id, third.client_id}
    blocker.rmdir()
    outbox.enqueue("p1", "alice", msg("four"))  # the next write succeeds in writing it back
    assert len(warnings) == 2 and "written again" in warnings[1]
    outbox.close()
    with Outbox(path) as reopened:
        texts = [e.message.text for e in reopened.all_entries()]
        assert texts == ["one", "two", "three", "four"]
        assert second.client_id in {e.client_id for e in reopened.all_entries()}


@pytest.mark.parametrize("lose", LOSSES)
def test_a_drafts_file_deleted_or_replaced_while_open_is_written_back(
    tmp_path: Path, lose: object
) -> None:
    path = tmp_path / "data" / "drafts.sqlite3"
    warnings: list[str] = []
    drafts = DraftStore(path)
    drafts.on_rewritten = warnings.append
    drafts.save("p1", "alice", "before")
    assert callable(lose)
    lose(path)
    drafts.save("p1", "bob", "after")
    drafts.close()
    with DraftStore(path) as reopened:
        assert reopened.all("p1") == {"alice": "before", "bob": "after"}
    assert len(warnings) == 1 and str(path) in warnings[0]


# --- a full disk (real SQLITE_FULL) ------------------------------------------------------------


def test_recovery_on_a_full_disk_raises_sqlite_full_and_works_once_there_is_room(
    tmp_path: Path,
) -> None:
    """The core raises (the UI shows it and retries, see tests/ui/test_kept_text_ui.py)."""
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path) as outbox:
        for i in range(40):
            outbox.mark_sending(outbox.enqueue("p1", f"u{i % 3}", msg(f"m{i}")).client_id)
    with Outbox(path) as outbox:
        fill_up(outbox)
        with pytest.raises(sqlite3.OperationalError) as info:
            outbox.recover()
        assert info.value.sqlite_errorcode == sqlite3.SQLITE_FULL
        make_room(outbox)
        assert len(outbox.recover()) == 40


def fill_up(store: Outbox | DraftStore) -> None:
    """From now on the file can't grow: every write that needs a page fails SQLITE_FULL."""
    conn = store._conn
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    conn.execute(f"PRAGMA max_page_count = {pages}")


def make_room(store: Outbox | DraftStore) -> None:
    store._conn.execute("PRAGMA max_page_count = 1073741823")

"""Typed wrapper around QSettings: profiles, sender identities, recent users, UI state.

Only non-secret values live here; secrets go through :mod:`smooch_desktop.core.secrets`.
The file location honours ``SMOOCH_DESKTOP_CONFIG_DIR`` so tests never touch the
developer's real settings.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from PySide6.QtCore import QByteArray, QSettings

from smooch_desktop import appinfo

if TYPE_CHECKING:
    from smooch_desktop.core.profiles import Profile

MAX_RECENT_USERS = 15


class SenderIdentity(NamedTuple):
    """How the business appears to the user: name, email (Gravatar), avatar override.

    A NamedTuple rather than a frozen dataclass: this module is imported before the first
    paint, and a dataclass costs about 0.35 ms to define (plus the ``dataclasses`` import).
    """

    label: str
    name: str = ""
    email: str = ""
    avatar_url: str = ""

    @classmethod
    def from_dict(cls, raw: Any) -> SenderIdentity | None:
        if not isinstance(raw, dict) or not isinstance(raw.get("label"), str):
            return None
        known = {k: str(v) for k, v in raw.items() if k in cls._fields}
        return cls(**known)


def settings_path() -> Path | None:
    override = os.environ.get("SMOOCH_DESKTOP_CONFIG_DIR")
    return Path(override) / f"{appinfo.APP_ID}.ini" if override else None


class AppSettings:
    """The app's settings; one instance, created after the QApplication names are set."""

    def __init__(self, qsettings: QSettings | None = None) -> None:
        if qsettings is None:
            path = settings_path()
            if path is not None:
                qsettings = QSettings(str(path), QSettings.Format.IniFormat)
            else:
                qsettings = QSettings(
                    QSettings.Format.IniFormat,
                    QSettings.Scope.UserScope,
                    appinfo.ORGANIZATION,
                    appinfo.APP_ID,
                )
        self._s = qsettings

    @property
    def file_name(self) -> str:
        return self._s.fileName()

    def sync(self) -> None:
        """Write pending changes; raise OSError naming the file if that failed."""
        self._s.sync()
        if self._s.status() != QSettings.Status.NoError:
            raise OSError(f"Settings could not be saved to {self._s.fileName()}.")

    # JSON lists keep the INI readable and avoid QSettings' type guessing.
    def _get_json(self, key: str, default: Any) -> Any:
        raw = self._s.value(key, "")
        if not isinstance(raw, str) or not raw:
            return default
        try:
            return json.loads(raw)
        except ValueError:
            return default

    def _set_json(self, key: str, value: Any) -> None:
        self._s.setValue(key, json.dumps(value, ensure_ascii=False))

    # Profiles -----------------------------------------------------------------------------
    def profiles(self) -> list[Profile]:
        from smooch_desktop.core.profiles import Profile  # lazy: not needed to paint

        raw = self._get_json("connection/profiles", [])
        items = [Profile.from_dict(p) for p in raw] if isinstance(raw, list) else []
        found = [p for p in items if p is not None]
        if isinstance(raw, list) and any(
            isinstance(p, dict) and isinstance(p.get("name"), str) and not p.get("id") for p in raw
        ):
            self.save_profiles(found)  # ids given on load are stored from now on
        return found

    def profile_by_id(self, profile_id: str) -> Profile | None:
        return next((p for p in self.profiles() if p.id == profile_id), None)

    def save_profiles(self, profiles: list[Profile]) -> None:
        self._set_json("connection/profiles", [p.to_dict() for p in profiles])

    def upsert_profile(self, profile: Profile) -> None:
        """Add ``profile`` or replace the one with its id (or, for an old one, its name)."""
        rest = [p for p in self.profiles() if p.id != profile.id and p.name != profile.name]
        self.save_profiles([*rest, profile])

    def active_profile_name(self) -> str:
        value = self._s.value("connection/active", "")
        return value if isinstance(value, str) else ""

    def set_active_profile_name(self, name: str) -> None:
        self._s.setValue("connection/active", name)

    def sandbox_api_version(self) -> str:
        """The API version last chosen for the ``--sandbox`` connection ("" = never chosen).

        Not a secret and not a profile: the sandbox's host, app and key belong to each run.
        """
        value = self._s.value("sandbox/apiVersion", "")
        return value if isinstance(value, str) else ""

    def set_sandbox_api_version(self, version: str) -> None:
        self._s.setValue("sandbox/apiVersion", version)

    # Sender identities --------------------------------------------------------------------
    def identities(self) -> list[SenderIdentity]:
        raw = self._get_json("sender/identities", [])
        items = [SenderIdentity.from_dict(i) for i in raw] if isinstance(raw, list) else []
        return [i for i in items if i is not None]

    def save_identities(self, identities: list[SenderIdentity]) -> None:
        self._set_json("sender/identities", [i._asdict() for i in identities])

    def current_identity(self) -> SenderIdentity:
        found = SenderIdentity.from_dict(self._get_json("sender/current", None))
        return found or SenderIdentity(label="")

    def set_current_identity(self, identity: SenderIdentity) -> None:
        self._set_json("sender/current", identity._asdict())

    # Recent users (by profile id; "recent/<name as hex>" before ids) ---------------------------
    def recent_users(self, profile_id: str) -> list[str]:
        self._migrate_recent()
        raw = self._get_json(f"recentUsers/{_key(profile_id)}", [])
        return [u for u in raw if isinstance(u, str)] if isinstance(raw, list) else []

    def add_recent_user(self, profile_id: str, user_ref: str) -> list[str]:
        items = [user_ref, *(u for u in self.recent_users(profile_id) if u != user_ref)]
        items = items[:MAX_RECENT_USERS]
        self._set_json(f"recentUsers/{_key(profile_id)}", items)
        return items

    def last_user(self, profile_id: str) -> tuple[str, str]:
        """(user ref, conversation id) open when the profile's window last closed."""
        raw = self._get_json(f"lastUser/{_key(profile_id)}", [])
        if isinstance(raw, list) and len(raw) == 2 and all(isinstance(v, str) for v in raw):
            return str(raw[0]), str(raw[1])
        return "", ""

    def set_last_user(self, profile_id: str, user_ref: str, conversation_id: str = "") -> None:
        """Remember what is open, to reopen it at the next start ("" forgets it)."""
        self._set_json(f"lastUser/{_key(profile_id)}", [user_ref, conversation_id])

    def live_updates(self, profile_id: str) -> dict[str, Any]:
        """The profile's live-update choice as saved (``ui/inbox/live_updates.py`` reads
        it); never a secret."""
        raw = self._get_json(f"liveUpdates/{_key(profile_id)}", {})
        return raw if isinstance(raw, dict) else {}

    def set_live_updates(self, profile_id: str, value: dict[str, Any]) -> None:
        self._set_json(f"liveUpdates/{_key(profile_id)}", value)

    def _migrate_recent(self) -> None:
        """Move lists keyed by a profile's name to the id that profile has (once)."""
        if getattr(self, "_recent_migrated", False):
            return
        from smooch_desktop.core.profiles import legacy_profile_id  # lazy: not needed to paint

        self._recent_migrated = True
        self._s.beginGroup("recent")
        try:
            old_keys = [k for k in self._s.childKeys() if isinstance(k, str)]
        finally:
            self._s.endGroup()
        for key in old_keys:
            try:
                name = "" if key == "default" else bytes.fromhex(key).decode("utf-8")
            except ValueError:
                continue  # not a key this app wrote; leave it alone
            new_key = f"recentUsers/{_key(legacy_profile_id(name))}"
            if not self._s.contains(new_key):
                self._s.setValue(new_key, self._s.value(f"recent/{key}", ""))
            self._s.remove(f"recent/{key}")

    # Preferences and window state ---------------------------------------------------------
    def send_with_ctrl_enter(self) -> bool:
        return self._s.value("composer/ctrlEnter", "false") in ("true", True)

    def set_send_with_ctrl_enter(self, value: bool) -> None:
        self._s.setValue("composer/ctrlEnter", "true" if value else "false")

    def do_not_disturb(self) -> bool:
        return self._s.value("notifications/doNotDisturb", "false") in ("true", True)

    def set_do_not_disturb(self, value: bool) -> None:
        self._s.setValue("notifications/doNotDisturb", "true" if value else "false")

    def bytes_value(self, key: str) -> QByteArray | None:
        value = self._s.value(key)
        return value if isinstance(value, QByteArray) else None

    def set_bytes_value(self, key: str, value: QByteArray) -> None:
        self._s.setValue(key, value)


def _key(profile: str) -> str:
    """A settings key fragment that survives any string (profile ids are plain already)."""
    return profile.encode("utf-8").hex() or "default"

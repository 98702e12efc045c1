"""The modules inside ``ui/`` that must stay Qt-free: plain data, maths and logic the
widgets use, tested without a display.

One list for the two tests that enforce it: ``tests/unit/test_import_rules.py`` (no Qt
import in their source) and ``tests/unit/test_qt_free.py`` (they import with Qt blocked).
"""

from __future__ import annotations

QT_FREE_UI_MODULES = (
    "smooch_desktop.ui.connection.form",
    "smooch_desktop.ui.connection.messages",
    "smooch_desktop.ui.connection.probe",
    "smooch_desktop.ui.connection.secret_saver",
    "smooch_desktop.ui.conversation.content",
    "smooch_desktop.ui.conversation.items",
    "smooch_desktop.ui.conversation.row_layout",
    "smooch_desktop.ui.conversation.text_layout",
)

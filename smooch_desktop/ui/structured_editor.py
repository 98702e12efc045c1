"""The structured-message editor: a carousel, a list or buttons of every type, previewed.

:class:`StructuredEditor` is a dialog that edits a
:class:`~smooch_desktop.core.structured.StructuredMessage`: its type, text, image or file
address, its own buttons and its cards (title, description, image, 1 to 3 buttons). It
checks the message by the rules of the API version in use on every change (the rules are
:mod:`smooch_desktop.core.structured`'s; nothing is checked here), puts each problem
under the field or button row it concerns once that field was edited (all of them after
a first "Insert"), and shows the message in a :class:`~smooch_desktop.ui.preview.
MessagePreview` as the user will see it. Cancel changes nothing.

:class:`StructureAttachment` is the composer's pending structured message: the editor's
"Insert" attaches it, the composer's line shows it with Edit and Remove, and
``MainWindow.send_current`` sends it (after the composer's text, if any). It lives in
memory only: it is not part of the draft, so quitting or a crash loses it (the
composer's text is kept as before).

No network, no storage: widgets and wiring only.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Final

from PySide6.QtCore import QObject, Qt, Signal, Slot
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QScrollArea,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from smooch_desktop.core.structured import (
    ACTION_NAMES,
    EDITABLE_TYPES,
    MAX_ITEM_ACTIONS,
    MAX_ITEMS,
    MESSAGE_ACTION_TYPES,
    TYPE_NAMES,
    V1,
    Problem,
    StructuredAction,
    StructuredItem,
    StructuredMessage,
    composer_preview,
)
from smooch_desktop.ui.conversation.delegate import ImageLookup
from smooch_desktop.ui.preview import MessagePreview
from smooch_desktop.ui.sender_panel import error_label, show_error

if TYPE_CHECKING:
    from smooch_desktop.ui.avatar_loader import AvatarLoader
    from smooch_desktop.ui.composer import Composer
    from smooch_desktop.ui.sender_panel import SenderPanel

_BAD_FIELD: Final = "border: 1px solid #c62828;"
#: What the target field holds, per button type (its placeholder).
_TARGET_HINTS: Final = {
    "link": "https://example.com",
    "webview": "https://example.com/form",
    "postback": "payload, e.g. MORE_INFO",
    "reply": "payload, e.g. YES",
    "buy": "amount, e.g. 25.00",
}
_MAX_MESSAGE_ACTIONS: Final = 10


def _type_name(kind: str) -> str:
    return TYPE_NAMES.get(kind, kind).capitalize()


class _Fields:
    """Where each problem path is shown: its widget (marked red) and its error label."""

    def __init__(self) -> None:
        self.widgets: dict[str, QWidget] = {}
        self.labels: dict[str, QLabel] = {}

    def add(self, path: str, widget: QWidget | None, label: QLabel) -> None:
        if widget is not None:
            self.widgets[path] = widget
        self.labels[path] = label

    def label_for(self, path: str) -> tuple[str, QLabel | None]:
        """The label of ``path`` or of its nearest parent that has one."""
        parts = path.split(".")
        while parts:
            key = ".".join(parts)
            if key in self.labels:
                return key, self.labels[key]
            parts.pop()
        return "", None


class StructuredEditor(QDialog):
    """Edits a structured message; ``value()`` is the message after "Insert".

    ``version`` names the API version whose rules apply; ``sender_name`` and
    ``avatar_url`` are how the preview shows the author.
    """

    def __init__(
        self,
        message: StructuredMessage | None = None,
        *,
        version: str = V1,
        image_lookup: ImageLookup | None = None,
        sender_name: str = "",
        avatar_url: str = "",
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("structuredEditor")
        self.setWindowTitle("Cards and buttons")
        self._version = version or V1
        self._sender = (sender_name, avatar_url)
        self._show_all = False
        self._touched: set[str] = set()
        self._fields = _Fields()
        self._message = message or StructuredMessage("text", actions=(StructuredAction("reply"),))

        self.type_combo = QComboBox()
        self.type_combo.setObjectName("structureType")
        for kind in EDITABLE_TYPES:
            self.type_combo.addItem(_type_name(kind), kind)
        type_label = QLabel("&Type:")
        type_label.setBuddy(self.type_combo)
        top = QHBoxLayout()
        top.addWidget(type_label)
        top.addWidget(self.type_combo, 1)

        self.form_host = QWidget()
        self.form_host.setObjectName("structureForm")
        self.form_layout = QVBoxLayout(self.form_host)
        self.form_layout.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(self.form_host)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addLayout(top)
        left_layout.addWidget(scroll, 1)
        self.preview = MessagePreview(
            image_lookup,
            caption=f"Preview (API {self._version} rules)",
        )
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(self.preview)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setChildrenCollapsible(False)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.insert_button = self.buttons.addButton(
            "&Insert", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.insert_button.setObjectName("structureInsert")
        self.insert_button.setDefault(True)
        self.buttons.rejected.connect(self.reject)
        self.insert_button.clicked.connect(self._on_insert)
        layout = QVBoxLayout(self)
        layout.addWidget(split, 1)
        layout.addWidget(self.buttons)
        self.resize(980, 620)

        self.type_combo.setCurrentIndex(max(0, self.type_combo.findData(self._message.type)))
        self.type_combo.currentIndexChanged.connect(self._on_type_changed)
        self._rebuild()

    # Value ---------------------------------------------------------------------------------
    def value(self) -> StructuredMessage:
        """The message as the fields say now."""
        return self._message

    def problems(self) -> list[Problem]:
        return self._message.problems(self._version)

    # Building the form ------------------------------------------------------------------------
    def _clear_form(self) -> None:
        while self.form_layout.count():
            item = self.form_layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:  # out of the dialog (and its focus chain) at once
                widget.hide()
                widget.setParent(None)
                widget.deleteLater()
        self._fields = _Fields()

    def _rebuild(self, focus: str = "") -> None:
        """Lay the form out again for the current value (type, cards or buttons changed)."""
        self._clear_form()
        chain: list[QWidget] = [self.type_combo]
        message = self._message
        kind = message.type
        if kind in ("text", "image", "file"):
            box = QWidget()
            form = QFormLayout(box)
            form.setContentsMargins(0, 0, 0, 0)
            self.text_edit = QPlainTextEdit(message.text)
            self.text_edit.setObjectName("structureText")
            self.text_edit.setTabChangesFocus(True)
            self.text_edit.setFixedHeight(70)
            self.text_edit.setAccessibleName("Text" if kind == "text" else "Caption")
            self.text_edit.textChanged.connect(self._on_text_edited)
            self._add_row(form, "Te&xt:" if kind == "text" else "Ca&ption:", self.text_edit, "text")
            chain.append(self.text_edit)
            if kind in ("image", "file"):
                self.media_edit = QLineEdit(message.media_url)
                self.media_edit.setObjectName("structureMediaUrl")
                self.media_edit.setPlaceholderText(
                    f"https://example.com/{'photo.jpg' if kind == 'image' else 'file.pdf'}"
                )
                self.media_edit.textEdited.connect(self._on_media_edited)
                self._add_row(form, "&Address:", self.media_edit, "media_url")
                chain.append(self.media_edit)
            self.form_layout.addWidget(box)
        if kind != "carousel" or message.actions:  # shown to be removed if a carousel has any
            allowed = self._item_types() if kind == "list" else MESSAGE_ACTION_TYPES
            title = "Buttons of the list" if kind == "list" else "Buttons"
            chain += self._action_group(
                title, "actions", message.actions, allowed, _MAX_MESSAGE_ACTIONS, None
            )
        if kind in ("carousel", "list"):
            for index, item in enumerate(message.items):
                chain += self._item_group(index, item)
            self.add_card = QPushButton("Add &card")
            self.add_card.setObjectName("structureAddCard")
            self.add_card.setEnabled(len(message.items) < MAX_ITEMS)
            self.add_card.clicked.connect(self._add_card)
            cards_error = error_label()
            self._fields.add("items", None, cards_error)
            self.form_layout.addWidget(self.add_card, 0, Qt.AlignmentFlag.AlignLeft)
            self.form_layout.addWidget(cards_error)
            chain.append(self.add_card)
        self.form_layout.addStretch(1)
        chain += [self.insert_button, *self.buttons.buttons()]
        for first, second in itertools.pairwise(dict.fromkeys(chain)):
            if first is not second:
                QWidget.setTabOrder(first, second)
        self._revalidate()
        if focus and focus in self._fields.widgets:
            self._fields.widgets[focus].setFocus(Qt.FocusReason.OtherFocusReason)

    def _add_row(self, form: QFormLayout, text: str, field: QWidget, path: str) -> None:
        label = QLabel(text)
        label.setBuddy(field)
        error = error_label()
        column = QWidget()
        stack = QVBoxLayout(column)
        stack.setContentsMargins(0, 0, 0, 0)
        stack.setSpacing(2)
        stack.addWidget(field)
        stack.addWidget(error)
        form.addRow(label, column)
        self._fields.add(path, field, error)

    def _item_types(self) -> tuple[str, ...]:
        from smooch_desktop.core.structured import ITEM_ACTION_TYPES_V1, ITEM_ACTION_TYPES_V2

        return ITEM_ACTION_TYPES_V2 if self._version == "v2" else ITEM_ACTION_TYPES_V1

    def _item_group(self, index: int, item: StructuredItem) -> list[QWidget]:
        where = f"items.{index}"
        group = QGroupBox(f"Card {index + 1}")
        group.setObjectName(f"structureCard{index}")
        form = QFormLayout(group)
        title = QLineEdit(item.title)
        title.setObjectName("cardTitle")
        title.setMaxLength(1000)
        title.textEdited.connect(lambda text, i=index: self._edit_item(i, "title", text))
        description = QLineEdit(item.description)
        description.setObjectName("cardDescription")
        description.setMaxLength(1000)
        description.textEdited.connect(
            lambda text, i=index: self._edit_item(i, "description", text)
        )
        image = QLineEdit(item.media_url)
        image.setObjectName("cardImage")
        image.setPlaceholderText("https://example.com/photo.jpg (optional)")
        image.textEdited.connect(lambda text, i=index: self._edit_item(i, "media_url", text))
        self._add_row(form, "T&itle:", title, f"{where}.title")
        self._add_row(form, "&Description:", description, f"{where}.description")
        self._add_row(form, "I&mage:", image, f"{where}.media_url")
        self.form_layout.addWidget(group)
        chain: list[QWidget] = [title, description, image]
        chain += self._action_group(
            f"Buttons of card {index + 1}",
            f"{where}.actions",
            item.actions,
            self._item_types(),
            MAX_ITEM_ACTIONS,
            form,
        )
        remove = QPushButton(f"Remove card {index + 1}")
        remove.setObjectName("removeCard")
        remove.setEnabled(len(self._message.items) > 1)
        remove.clicked.connect(lambda _c=False, i=index: self._remove_card(i))
        form.addRow(remove)
        chain.append(remove)
        return chain

    def _action_group(
        self,
        title: str,
        where: str,
        actions: tuple[StructuredAction, ...],
        allowed: tuple[str, ...],
        limit: int,
        form: QFormLayout | None,
    ) -> list[QWidget]:
        box = QWidget()
        box.setObjectName("actionGroup")
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 0, 0, 0)
        caption = QLabel(title)
        caption.setStyleSheet("font-weight: bold;")
        column.addWidget(caption)
        chain: list[QWidget] = []
        for index, action in enumerate(actions):
            chain += self._action_row(column, f"{where}.{index}", action, allowed)
        add = QPushButton("Add &button" if where == "actions" else "Add button")
        add.setObjectName("addButton")
        add.setEnabled(len(actions) < limit)
        add.clicked.connect(lambda _c=False, w=where: self._add_action(w))
        group_error = error_label()
        self._fields.add(where, None, group_error)
        column.addWidget(add, 0, Qt.AlignmentFlag.AlignLeft)
        column.addWidget(group_error)
        chain.append(add)
        if form is not None:
            form.addRow(box)
        else:
            self.form_layout.addWidget(box)
        return chain

    def _action_row(
        self, column: QVBoxLayout, where: str, action: StructuredAction, allowed: tuple[str, ...]
    ) -> list[QWidget]:
        row = QWidget()
        row.setObjectName("actionRow")
        line = QHBoxLayout(row)
        line.setContentsMargins(0, 0, 0, 0)
        kind = QComboBox()
        kind.setObjectName("actionType")
        kind.setAccessibleName("Button type")
        for key in allowed:
            kind.addItem(ACTION_NAMES[key].capitalize(), key)
        if kind.findData(action.type) < 0:  # e.g. share after a switch to v2: shown, refused
            kind.addItem(ACTION_NAMES.get(action.type, action.type).capitalize(), action.type)
        kind.setCurrentIndex(kind.findData(action.type))
        kind.currentIndexChanged.connect(
            lambda _i, w=where, c=kind: self._edit_action(w, "type", str(c.currentData()))
        )
        label = QLineEdit(action.text)
        label.setObjectName("actionLabel")
        label.setAccessibleName("Button label")
        label.setPlaceholderText("Label")
        label.setEnabled(action.type != "share")
        label.textEdited.connect(lambda text, w=where: self._edit_action(w, "text", text))
        target = QLineEdit(action.target)
        target.setObjectName("actionTarget")
        target.setAccessibleName(_TARGET_HINTS.get(action.type, "Target"))
        target.setPlaceholderText(_TARGET_HINTS.get(action.type, ""))
        target.setVisible(action.type in _TARGET_HINTS)
        target.textEdited.connect(lambda text, w=where: self._edit_action(w, "target", text))
        line.addWidget(kind)
        line.addWidget(label, 1)
        line.addWidget(target, 2)
        widgets: list[QWidget] = [kind, label, target]
        extra: QLineEdit | None = None
        if action.type == "webview":
            extra = QLineEdit(action.fallback)
            extra.setObjectName("actionFallback")
            extra.setAccessibleName("Fallback address")
            extra.setPlaceholderText("fallback https://…")
            extra.textEdited.connect(lambda text, w=where: self._edit_action(w, "fallback", text))
        elif action.type == "buy":
            extra = QLineEdit(action.currency)
            extra.setObjectName("actionCurrency")
            extra.setAccessibleName("Currency")
            extra.setPlaceholderText("usd")
            extra.setMaxLength(3)
            extra.setFixedWidth(60)
            extra.textEdited.connect(lambda text, w=where: self._edit_action(w, "currency", text))
        if extra is not None:
            line.addWidget(extra, 1)
            widgets.append(extra)
        remove = QPushButton("✕")
        remove.setObjectName("removeButton")
        remove.setAccessibleName("Remove this button")
        remove.setToolTip("Remove this button")
        remove.setFixedWidth(32)
        remove.clicked.connect(lambda _c=False, w=where: self._remove_action(w))
        line.addWidget(remove)
        widgets.append(remove)
        error = error_label()
        column.addWidget(row)
        column.addWidget(error)
        self._fields.add(where, row, error)
        for name, widget in (("type", kind), ("text", label), ("target", target)):
            self._fields.add(f"{where}.{name}", widget, error)
        if extra is not None:
            self._fields.add(
                f"{where}.{'fallback' if action.type == 'webview' else 'currency'}", extra, error
            )
        return [w for w in widgets if not w.isHidden() or w is not target]

    # Editing ---------------------------------------------------------------------------------
    def _set(self, message: StructuredMessage, path: str) -> None:
        self._message = message
        self._touched.add(path)
        self._revalidate()

    @Slot()
    def _on_text_edited(self) -> None:
        self._set(replace(self._message, text=self.text_edit.toPlainText()), "text")

    @Slot(str)
    def _on_media_edited(self, text: str) -> None:
        self._set(replace(self._message, media_url=text), "media_url")

    @Slot(int)
    def _on_type_changed(self, _index: int) -> None:
        kind = str(self.type_combo.currentData())
        message = self._message.with_type(kind)
        if kind == "carousel":  # untouched empty buttons would only be refused there
            kept = tuple(a for a in message.actions if a.text.strip() or a.target.strip())
            message = replace(message, actions=kept)
        if kind in ("carousel", "list") and not message.items:
            message = replace(message, items=(_new_card(self._version),))
        self._message = message
        self._rebuild()

    def _edit_item(self, index: int, name: str, value: str) -> None:
        items = list(self._message.items)
        item = items[index]
        if name == "title":
            items[index] = replace(item, title=value)
        elif name == "description":
            items[index] = replace(item, description=value)
        else:
            items[index] = replace(item, media_url=value)
        self._set(replace(self._message, items=tuple(items)), f"items.{index}.{name}")

    def _actions_at(self, where: str) -> tuple[StructuredAction, ...]:
        if where == "actions":
            return self._message.actions
        index = int(where.split(".")[1])
        return self._message.items[index].actions

    def _with_actions(self, where: str, actions: tuple[StructuredAction, ...]) -> StructuredMessage:
        if where == "actions":
            return replace(self._message, actions=actions)
        index = int(where.split(".")[1])
        items = list(self._message.items)
        items[index] = replace(items[index], actions=actions)
        return replace(self._message, items=tuple(items))

    def _edit_action(self, path: str, name: str, value: str) -> None:
        where, _, index_text = path.rpartition(".")
        index = int(index_text)
        actions = list(self._actions_at(where))
        actions[index] = replace(actions[index], **{name: value})
        message = self._with_actions(where, tuple(actions))
        if name == "type":
            self._message = message
            self._touched.add(f"{path}.type")
            self._rebuild(focus=f"{path}.type")
        else:
            self._set(message, f"{path}.{name}")

    def _add_action(self, where: str) -> None:
        actions = self._actions_at(where)
        kind = "postback" if where != "actions" or self._message.type == "list" else "reply"
        if actions:
            kind = actions[-1].type
        self._message = self._with_actions(where, (*actions, StructuredAction(kind)))
        self._rebuild(focus=f"{where}.{len(actions)}.text")

    def _remove_action(self, path: str) -> None:
        where, _, index_text = path.rpartition(".")
        actions = list(self._actions_at(where))
        del actions[int(index_text)]
        self._message = self._with_actions(where, tuple(actions))
        self._rebuild()

    @Slot()
    def _add_card(self) -> None:
        items = (*self._message.items, _new_card(self._version))
        self._message = replace(self._message, items=items)
        self._rebuild(focus=f"items.{len(items) - 1}.title")

    def _remove_card(self, index: int) -> None:
        items = list(self._message.items)
        del items[index]
        self._message = replace(self._message, items=tuple(items))
        self._rebuild()

    # Problems and preview ------------------------------------------------------------------------
    def _revalidate(self) -> None:
        problems = self.problems()
        shown: dict[int, list[str]] = {}
        labels: dict[int, QLabel] = {}
        marked: set[str] = set()
        for problem in problems:
            key, label = self._fields.label_for(problem.field)
            if label is None:
                continue
            visible = self._show_all or any(
                t == problem.field
                or t.startswith(problem.field + ".")
                or problem.field.startswith(t + ".")
                or t == key
                for t in self._touched
            )
            if not visible:
                continue
            labels[id(label)] = label
            shown.setdefault(id(label), []).append(problem.message)
            marked.add(problem.field)
        for label in {id(lb): lb for lb in self._fields.labels.values()}.values():
            show_error(label, "\n".join(shown.get(id(label), [])))
        for path, widget in self._fields.widgets.items():
            if isinstance(widget, QLineEdit | QPlainTextEdit | QComboBox):
                widget.setStyleSheet(_BAD_FIELD if path in marked else "")
        preview = composer_preview("", self._message, self._version)
        self.preview.show_messages(
            preview.messages,
            preview.problems,
            sender_name=self._sender[0],
            avatar_url=self._sender[1],
        )

    @Slot()
    def _on_insert(self) -> None:
        problems = self.problems()
        if not problems:
            self.accept()
            return
        self._show_all = True
        self._revalidate()
        widget = self._fields.widgets.get(problems[0].field)
        if widget is None:
            _key, label = self._fields.label_for(problems[0].field)
            widget = label
        if widget is not None:
            widget.setFocus(Qt.FocusReason.OtherFocusReason)


def _new_card(version: str) -> StructuredItem:
    del version  # every version takes a postback button in a card
    return StructuredItem(actions=(StructuredAction("postback"),))


class StructureAttachment(QObject):
    """The composer's pending structured message (None: nothing attached).

    Signals:
        changed(): attached, replaced or removed.
    """

    changed = Signal()

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.pending: StructuredMessage | None = None
        self.editor: StructuredEditor | None = None
        self._composer: Composer | None = None
        self._sender_panel: SenderPanel | None = None
        self._avatars: AvatarLoader | None = None
        self._version: Callable[[], str] = lambda: V1
        self._window: QWidget | None = None
        #: Why the editor can't open now ("" when it can), e.g. no user chosen yet.
        self.guard: Callable[[], str] = lambda: ""

    def bind(
        self,
        composer: Composer,
        sender_panel: SenderPanel,
        avatars: AvatarLoader,
        version: Callable[[], str],
        window: QWidget,
    ) -> None:
        """Answer the composer's "Cards & buttons…", "Edit…" and "Remove"."""
        self._composer = composer
        self._sender_panel = sender_panel
        self._avatars = avatars
        self._version = version
        self._window = window
        composer.structureEditorRequested.connect(self.open_editor)
        composer.structureRemoveRequested.connect(self.clear)
        composer.set_structure_available(True)

    def attach(self, message: StructuredMessage | None) -> None:
        self.pending = message
        if self._composer is not None:
            self._composer.show_structure(message.summary() if message is not None else "")
        self.changed.emit()

    @Slot()
    def clear(self) -> None:
        self.attach(None)

    @Slot()
    def open_editor(self) -> StructuredEditor | None:
        """Open the editor on the attached message (or a new one); Insert attaches it.

        None, with the reason under the composer, when :attr:`guard` says it can't now.
        """
        reason = self.guard()
        if reason:
            if self._composer is not None:
                self._composer.show_error(reason)
            return None
        if self.editor is not None:
            self.editor.raise_()
            self.editor.activateWindow()
            return self.editor
        panel = self._sender_panel
        editor = StructuredEditor(
            self.pending,
            version=self._version() or V1,
            image_lookup=self._avatars.pixmap if self._avatars is not None else None,
            sender_name=panel.name_edit.text().strip() if panel is not None else "",
            avatar_url=panel.preview_url() if panel is not None else "",
            parent=self._window,
        )
        editor.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        editor.accepted.connect(self._on_accepted)
        editor.finished.connect(self._on_finished)
        if self._avatars is not None:
            self._avatars.imageReady.connect(editor.preview.refresh_images)
        self.editor = editor
        editor.open()
        return editor

    @Slot()
    def _on_accepted(self) -> None:
        if self.editor is not None:
            self.attach(self.editor.value())

    @Slot(int)
    def _on_finished(self, _result: int) -> None:
        self.editor = None
        if self._composer is not None:
            self._composer.edit.setFocus()


__all__ = ["StructureAttachment", "StructuredEditor"]

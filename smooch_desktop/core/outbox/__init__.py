"""The outbox: messages the user sent, kept on disk until delivered (or given up on).

* :mod:`.entry` — one message in it: :class:`EntryState`, :class:`OutboxEntry`, its wire
  id and stored JSON. Plain values, no file.
* :mod:`.attachments` — files waiting to be sent: the checks before an upload and the
  private copies the entries name.
* :mod:`.store` — :class:`Outbox`, the SQLite store: transactions, the state machine,
  recovery and pruning.

The names below are the package's public entry points; import them from here.
"""

from smooch_desktop.core.outbox.attachments import (
    Attachment,
    AttachmentFiles,
    AttachmentRefused,
    limit_for,
    size_in_words,
)
from smooch_desktop.core.outbox.entry import (
    ACTIVE_STATES,
    OPEN_STATES,
    EntryState,
    OutboxEntry,
    message_from_json,
    message_to_json,
    wire_id_for,
)
from smooch_desktop.core.outbox.store import (
    DEFAULT_FILE_NAME,
    SENT_RETENTION_S,
    EntryNotFound,
    Outbox,
    OutboxError,
    OutboxStateError,
    OutboxTooNew,
)

__all__ = [
    "ACTIVE_STATES",
    "DEFAULT_FILE_NAME",
    "OPEN_STATES",
    "SENT_RETENTION_S",
    "Attachment",
    "AttachmentFiles",
    "AttachmentRefused",
    "EntryNotFound",
    "EntryState",
    "Outbox",
    "OutboxEntry",
    "OutboxError",
    "OutboxStateError",
    "OutboxTooNew",
    "limit_for",
    "message_from_json",
    "message_to_json",
    "size_in_words",
    "wire_id_for",
]

"""A local, Smooch-compatible API server: the app's offline default and every test's peer.

It speaks the v1/v1.1 API the app uses (same paths, auth, bodies, status codes, error
envelopes and paging), ships a demo app with users who already wrote in, injects faults on
demand, logs every API call for inspection and shows each end user's view in a browser.
Qt-free by design: it must run in tests, headless CI and as a standalone tool.

A request's way through: ``server.py`` (Werkzeug's threaded server) → ``dispatch.py``
(namespace; for the API: faults, auth, request log) → ``routes.py`` (method + path → a
handler function) → ``api_handlers.py`` / ``control_handlers.py`` / ``page_handlers.py``,
which read bodies within limits (``bodies.py``), check them (``validation.py``) and keep
state in ``store.py``. Every refusal is an ``errors.ErrorReply``.

Typical use::

    with SandboxServer(port=0) as srv:
        requests.post(f"{srv.base_url}/v1.1/apps/{srv.app_id}/appusers/alice@example.com/messages",
                      auth=(srv.key_id, srv.secret), json={"role": "appMaker", "text": "Hi"})
"""

from smooch_desktop.sandbox.demo import (
    DEMO_AGENT_EMAIL,
    DEMO_AGENT_NAME,
    DEMO_ALICE_ID,
    DEMO_ANONYMOUS_ID,
    DEMO_APP_ID,
    DEMO_ENCODED_USER_ID,
    DEMO_KEY_ID,
    DEMO_NO_CLIENTS_USER_ID,
    DEMO_PAGING_MESSAGE_COUNT,
    DEMO_PAGING_USER_ID,
    DEMO_SECRET,
)
from smooch_desktop.sandbox.dispatch import SandboxApp
from smooch_desktop.sandbox.faults import FaultConfig
from smooch_desktop.sandbox.server import SandboxServer
from smooch_desktop.sandbox.store import TYPING_TIMEOUT, NotFound, SandboxStore

__all__ = [
    "DEMO_AGENT_EMAIL",
    "DEMO_AGENT_NAME",
    "DEMO_ALICE_ID",
    "DEMO_ANONYMOUS_ID",
    "DEMO_APP_ID",
    "DEMO_ENCODED_USER_ID",
    "DEMO_KEY_ID",
    "DEMO_NO_CLIENTS_USER_ID",
    "DEMO_PAGING_MESSAGE_COUNT",
    "DEMO_PAGING_USER_ID",
    "DEMO_SECRET",
    "TYPING_TIMEOUT",
    "FaultConfig",
    "NotFound",
    "SandboxApp",
    "SandboxServer",
    "SandboxStore",
]

"""A local, Smooch-compatible API server: the app's offline default and every test's peer.

It speaks the v1/v1.1 API the app uses and Sunshine Conversations v2 (same paths, auth,
bodies, status codes, error envelopes and paging as the real ones), ships a demo app with
users who already wrote in, injects faults on demand, logs every API call for inspection
and shows each end user's view in a browser. Qt-free by design: it must run in tests,
headless CI and as a standalone tool.

v2 endpoints, at ``/v2/apps/{appId}/…`` and the Zendesk-host form ``/sc/v2/apps/{appId}/…``:
``POST /users``, ``GET /users/{userIdOrExternalId}``,
``GET /users/{userIdOrExternalId}/clients``, ``POST /conversations``,
``GET /conversations?filter[userId]=…`` (or ``filter[userExternalId]``, paged),
``GET /conversations/{conversationId}``, ``POST`` and ``GET``
``/conversations/{conversationId}/messages`` (cursor paging, 100 per page),
``POST /conversations/{conversationId}/activity`` and ``POST /attachments``. Both versions
share one store: a v1.1 appUser is the v2 user and their conversation the v2 default
personal conversation, so a message sent through one version shows in the other.

A request's way through: ``server.py`` (Werkzeug's threaded server) → ``dispatch.py``
(namespace; for the API: faults, auth, request log) → ``routes.py`` (method + path → a
handler function) → ``api_handlers.py`` (v1/v1.1) / ``v2_handlers.py`` /
``control_handlers.py`` / ``page_handlers.py``, which read bodies within limits
(``bodies.py``), check them (``validation.py``, ``v2_validation.py``) and keep state in
``store.py`` (v2 answers are shaped by ``v2_view.py``). Every refusal is an
``errors.ErrorReply``, sent in the envelope of the request's API version. Webhooks
registered through the API (``webhook_api.py``) are sent like Smooch's, off the request
threads (``webhooks.py``, bodies in ``webhook_payloads.py``).

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

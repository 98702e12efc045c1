"""``smooch-sandbox`` / ``python -m smooch_desktop.sandbox``: run the sandbox standalone.

Prints ``key=value`` lines on stdout (flushed at once, so a parent process can read the
port of ``--port 0`` before the first request), then serves until SIGINT/SIGTERM and exits
0. Bad flags are argparse errors (exit 2, no traceback); a port already in use exits 1.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType

from smooch_desktop.sandbox.faults import FaultConfig
from smooch_desktop.sandbox.server import SandboxServer, is_loopback

DEFAULT_PORT = 8808


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 1")
    return value


def _non_negative(kind: Callable[[str], float | int]) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a valid number") from None
        if value < 0 or value != value:  # negative or NaN
            raise argparse.ArgumentTypeError(f"{text!r} must be >= 0")
        return value

    return parse


def _port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 65535")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The command line (exposed for tests and ``--help`` docs)."""
    parser = argparse.ArgumentParser(
        prog="smooch-sandbox",
        description="Local Smooch-compatible API server with demo data and fault injection.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"0 = any free port (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--allow-remote", action="store_true", help="allow a non-loopback --host (no TLS!)"
    )
    parser.add_argument(
        "--allow-remote-webhooks",
        action="store_true",
        help="send webhooks to non-loopback targets too (anyone who can reach the API can"
        " then make the sandbox post anywhere)",
    )
    parser.add_argument("--data-dir", help="persist the sandbox state in this directory")
    parser.add_argument("--no-demo", action="store_true", help="demo app credentials, no users")
    faults = parser.add_argument_group("fault injection (API requests only)")
    faults.add_argument("--latency-ms", type=_non_negative(int), default=0)
    faults.add_argument("--error-rate", type=_rate, default=0.0, help="fraction answered 500/503")
    faults.add_argument("--rate-limit-rate", type=_rate, default=0.0, help="fraction answered 429")
    faults.add_argument(
        "--retry-after", type=_non_negative(float), default=None, help="Retry-After seconds"
    )
    faults.add_argument("--drop-before-rate", type=_rate, default=0.0)
    faults.add_argument("--drop-after-rate", type=_rate, default=0.0)
    faults.add_argument("--hang-rate", type=_rate, default=0.0)
    faults.add_argument(
        "--error-after-store-rate",
        type=_rate,
        default=0.0,
        help="fraction processed (message stored), then answered 502/503/504 like a proxy",
    )
    faults.add_argument("--seed", type=int, default=None, help="deterministic fault sequence")
    parser.add_argument("-v", "--verbose", action="store_true", help="log requests to stderr")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``smooch-sandbox`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.allow_remote and not is_loopback(args.host):
        parser.error(f"--host {args.host} is not a loopback address; add --allow-remote")
    if args.verbose:  # otherwise warnings still reach stderr via logging's last resort
        logging.basicConfig(
            level=logging.DEBUG, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
    faults = FaultConfig(
        latency_ms=int(args.latency_ms),
        error_rate=args.error_rate,
        rate_limit_rate=args.rate_limit_rate,
        retry_after=args.retry_after,
        drop_before_rate=args.drop_before_rate,
        drop_after_rate=args.drop_after_rate,
        hang_rate=args.hang_rate,
        error_after_store_rate=args.error_after_store_rate,
        seed=args.seed,
    )
    try:
        server = SandboxServer(
            host=args.host,
            port=args.port,
            faults=faults,
            data_dir=args.data_dir,
            demo=not args.no_demo,
            allow_remote=args.allow_remote,
            allow_remote_webhooks=args.allow_remote_webhooks,
        )
        server.start()
    except (OSError, ValueError) as exc:
        print(f"smooch-sandbox: cannot start: {exc}", file=sys.stderr, flush=True)
        return 1

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for line in (
            f"base_url={server.base_url}",
            f"app_id={server.app_id}",
            f"key_id={server.key_id}",
            f"secret={server.secret}",
            f"pages={server.base_url}/",
        ):
            print(line, flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The Telegram emulator's command line: serve one emulated Bot API until interrupted.

    python -m sandbox.telegram_emulator --port 8091 --token T [--token T2] [--seed 0]
        [--no-flood-limits] [--balance-url URL] [--log-level INFO]

(``python -m sandbox.telegram_cli`` is the same.) Prints the base URL and the chat page's.
"""

from __future__ import annotations

import argparse
import logging
import threading

from sandbox.telegram_emulator import TelegramEmulator

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    """Parse ``argv`` (default: the command line) and serve until interrupted."""
    parser = argparse.ArgumentParser(description="Emulated Telegram Bot API server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8091)
    parser.add_argument("--token", action="append", required=True, help="bot token (repeatable)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-flood-limits", action="store_true")
    parser.add_argument("--balance-url", help="credits for the chat page, with {user_id}")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper())
    emulator = TelegramEmulator(
        args.token, host=args.host, port=args.port, seed=args.seed,
        flood_limits=not args.no_flood_limits, balance_url=args.balance_url,
    ).start()
    print(f"telegram emulator listening on {emulator.url}; chat page {emulator.chat_url()}",
          flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        emulator.stop()


if __name__ == "__main__":
    main()

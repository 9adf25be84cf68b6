"""Logging for the whole process: console plus a rotating file under the data directory,
one line per event, secrets redacted on every handler. Every line's time is IST, marked
``IST``, whatever the machine's time zone (``IstFormatter``): ``/logs`` shows what the
owner's clock says.

Call ``setup_logging`` once from the composition root (bot.py commands), main thread.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from agent.timeutil import IST

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LOG_FILE = "agent.log"

# Shapes of secrets that may reach a log line even when we never log them on purpose:
# a Telegram bot token (in PTB/httpx URLs) and Kite's access/request tokens in URLs or
# headers.
_PATTERNS = (
    re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b"),
    re.compile(r"(?i)(access_token|request_token|api_secret|checksum)=[^&\s\"']+"),
    re.compile(r"(?i)(authorization:?\s*token\s+[^:\s]+:)\S+"),
)


class IstFormatter(logging.Formatter):
    """``FORMAT`` with the time in IST: '2026-11-23 09:15:00,123 IST' (the default
    formatter uses the machine's local zone, which a server in UTC makes 03:45)."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        at = datetime.fromtimestamp(record.created, IST)
        if datefmt:
            return at.strftime(datefmt)
        return f"{at:%Y-%m-%d %H:%M:%S},{int(record.msecs):03d} IST"


class RedactingFilter(logging.Filter):
    """Replaces known secret values and secret-shaped strings with '***'."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        text = _PATTERNS[0].sub("***", text)
        text = _PATTERNS[1].sub(lambda m: f"{m.group(1)}=***", text)
        return _PATTERNS[2].sub(lambda m: f"{m.group(1)}***", text)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = self.redact(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if clean != message or record.args:
            record.msg, record.args = clean, ()
        return True


def setup_logging(data_dir: Path | None, level: str = "INFO", secrets: Iterable[str] = (),
                  console: bool = True, console_level: str | None = None) -> RedactingFilter:
    """Configure the root logger; returns the redaction filter (add secrets to it later,
    e.g. after a login, through ``filter.secrets``)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)
    redactor = RedactingFilter(secrets)
    formatter = IstFormatter(FORMAT)
    if console:
        stream = logging.StreamHandler()
        stream.setLevel(console_level or level)
        stream.setFormatter(formatter)
        stream.addFilter(redactor)
        root.addHandler(stream)
    if data_dir is not None:
        logs = data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        file_handler = logging.handlers.RotatingFileHandler(
            logs / LOG_FILE, maxBytes=5_000_000, backupCount=5, encoding="utf-8")
        file_handler.setFormatter(formatter)
        file_handler.addFilter(redactor)
        root.addHandler(file_handler)
    # httpx logs every request URL at INFO, and PTB's URLs hold the bot token.
    for noisy in ("httpx", "httpcore", "urllib3", "apscheduler.executors.default",
                  "aiohttp.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # KiteTicker logs every close, a normal one included, at ERROR; the feed adapter logs
    # connects and drops itself, with the reason.
    logging.getLogger("kiteconnect.ticker").setLevel(logging.CRITICAL)
    return redactor


def log_path(data_dir: Path) -> Path:
    return data_dir / "logs" / LOG_FILE

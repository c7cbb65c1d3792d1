"""Secrets never leave the process: every revealed value is masked wherever text goes out.

A token reaches a log line, an error, the ``--json`` summary or the store only
through text built from an exception or a message. Rather than trust each such
path, every secret revealed from the configuration is registered here, and
``scrub`` masks it (and its HTTP Basic-auth base64 forms, and any credential
after ``Basic``/``Bearer``/``Token token=``) in text before it leaves: the logging
record factory, the sync summary, the store and the CLI's error line all call it.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
from typing import Any, Callable

MASK = "***"
_lock = threading.Lock()
_values: set[str] = set()
_pattern: re.Pattern[str] | None = None
_CREDENTIAL = re.compile(r"(?i)\b(Basic|Bearer|Token token=)(\s*)([A-Za-z0-9+/=._~\-]{6,})")


def register(value: str, user: str | None = None) -> None:
    """Mask `value` from now on; with `user`, also the base64 of ``user:value`` (Basic auth)."""
    forms = {value}
    if user is not None:
        forms.add(base64.b64encode(f"{user}:{value}".encode()).decode("ascii"))
    global _pattern
    with _lock:
        if forms <= _values:
            return
        _values.update(v for v in forms if len(v) >= 4)  # a 1-3 character "secret" would mask everything
        ordered = sorted(_values, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None


def scrub(text: str) -> str:
    """`text` with every registered secret, and any credential after an auth scheme, masked."""
    if not isinstance(text, str):
        text = str(text)
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(MASK, text)
    return _CREDENTIAL.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)


class ScrubbedTexts(list[str]):
    """A list of messages for people (a summary's errors): scrubbed as they are added."""

    def append(self, text: str) -> None:
        super().append(scrub(text))

    def extend(self, texts: Any) -> None:
        super().extend(scrub(t) for t in texts)

    def __iadd__(self, texts: Any) -> "ScrubbedTexts":  # type: ignore[override,misc]
        self.extend(texts)
        return self


_installed = False


def install_log_scrubbing() -> None:
    """Every log record is scrubbed where it is made: its message and its traceback text."""
    global _installed
    if _installed:
        return
    _installed = True
    previous: Callable[..., logging.LogRecord] = logging.getLogRecordFactory()
    formatter = logging.Formatter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            record.msg, record.args = scrub(record.getMessage()), ()
        except Exception:  # noqa: BLE001 - a bad format string is logging's problem, not ours
            record.msg, record.args = scrub(str(record.msg)), ()
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = scrub(formatter.formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)

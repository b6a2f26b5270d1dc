"""The one masking function for secrets: passwords in storage URLs and connection strings.

Every message, report, log line and stored attribute that may carry a storage URL passes
through `redact` (CLI error lines, `StoreRef.display`, the stored `ador_spec.study.storage`,
report HTML, the dashboard note and `/api/studies`). Standard library only, so the CLI's error
path can use it without importing Optuna.
"""

from __future__ import annotations

import re

# `scheme://user:password@host` (any scheme: postgresql, postgres, mysql+pymysql, …): the part
# between the first ':' after the user and the last '@' before the host is the password.
_URL_CREDENTIALS = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]*://[^\s:/@'\"]*):[^\s'\"]*@")
# `password=…` / `passwd=…` / `pwd=…` in a query string or a libpq DSN (also quoted).
_KEY_VALUE = re.compile(
    r"(?i)\b(password|passwd|pwd|pass)(\s*=\s*)('[^']*'|\"[^\"]*\"|[^\s&;,)]*)"
)
MASK = "***"


def redact(text: str) -> str:
    """`text` with every password of a storage URL or connection string masked.

    The one masking function of the project: storage URLs in messages, reports, logs and
    stored attrs (`ador_spec.study.storage`) all pass through it. Handles
    `postgresql://user:pw@host`, `postgres://`, `mysql://…`, `?password=…` / `&password=…`
    query parameters and libpq-style `password=…` in driver error messages.
    """
    if not text:
        return text
    text = _URL_CREDENTIALS.sub(lambda m: f"{m.group(1)}:{MASK}@", text)
    return _KEY_VALUE.sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)

"""Which environment variable names look like they hold a secret. Shared by the config
(`[session] env` may not list one) and the engine's environment filter
(`process.command_env`), so the config does not import the engine (like `tags.py`)."""

from __future__ import annotations

import re

_SECRET_WORDS = frozenset({
    "KEY", "KEYS", "APIKEY", "TOKEN", "TOKENS", "SECRET", "SECRETS", "PASS", "PASSWD",
    "PASSWORD", "PASSPHRASE", "PWD", "PW", "CREDENTIAL", "CREDENTIALS", "CREDS", "AUTH",
    "PAT", "SK", "DSN", "URL", "URI", "WEBHOOK", "COOKIE", "SESSION", "PRIVATE", "CERT",
    "SIGNATURE", "SALT", "BEARER", "OAUTH", "JWT", "LICENSE"})
"""Name segments (between `_`) that make a variable look secret: `DB_PASS`, `STRIPE_SK`,
`GITHUB_PAT`, `DATABASE_URL` (URLs carry passwords), `SLACK_WEBHOOK_URL`."""
_SECRET_INFIX = re.compile(r"(APIKEY|API_KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL|"
                           r"PRIVATEKEY|ACCESSKEY|WEBHOOK)", re.IGNORECASE)
"""Whole words inside a longer segment (`GITHUBTOKEN`, `MYSQLPASSWORD`)."""


def looks_secret(name: str) -> bool:
    """Whether a variable's name suggests it holds a credential. Segments are compared whole
    so that `GIT_AUTHOR_NAME` (AUTHOR, not AUTH) or `KEYBOARD_LAYOUT` are not secrets."""
    upper = name.upper()
    if any(part in _SECRET_WORDS for part in re.split(r"[^A-Z0-9]+", upper) if part):
        return True
    return bool(_SECRET_INFIX.search(upper))

"""Who may use the app. Without configuration it is local-only (bound to localhost, no sign-in). With an [auth]
section in .streamlit/secrets.toml it requires st.login (OIDC), lets in only the [access] allow-list, and lets
only the editors import. Streamlit signs the sign-in cookie with [auth] cookie_secret, so whoever knows that secret
can make a cookie for any address: with an unsafe one (secret_problem) the app shows one error and nothing else, and
the server refuses to start (dashboard/server.py)."""

from __future__ import annotations

import collections
import itertools
import math
import re
import tomllib
from pathlib import Path

import streamlit as st

GENERATE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
MIN_SECRET_LENGTH = 32
MIN_DISTINCT_CHARACTERS = 10
MIN_BITS_PER_CHARACTER = 3.0  # Shannon entropy of the secret's own character frequencies
MAX_CONSECUTIVE_RUN = 7  # "abcdefgh", "98765432": 8 characters each one code point from the last
# Words that mark a value someone typed or copied from an example rather than generated. Six letters or more, so a
# generated secret holds one by chance about once in two million (43 random URL-safe characters, any case).
PLACEHOLDER_WORDS = (
    "random",
    "secret",
    "change",
    "replace",
    "example",
    "placeholder",
    "password",
    "cookie",
    "default",
    "sample",
    "qwerty",
    "letmein",
    "streamlit",
)


def _secrets() -> dict:
    try:
        return st.secrets.to_dict()
    except Exception:  # no secrets file: Streamlit raises its own not-found error type
        return {}


def _secrets_files() -> list[Path]:
    from streamlit import config

    return [Path(entry) for entry in config.get_option("secrets.files") or []]


_SHOWS_NOTHING = ", so sign-in cannot be read and the dashboard shows nothing until the file is fixed"


def secrets_file_problem() -> str | None:
    """A secrets file that exists but cannot be read as TOML, in one line naming it (line and column), or None.
    Streamlit then logs it and runs as if there were no secrets, which would turn sign-in off: the app refuses
    instead."""
    for path in _secrets_files():
        if not path.is_file():
            continue
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            return (
                f"{path}: the secrets file cannot be read ({getattr(error, 'strerror', None) or error}){_SHOWS_NOTHING}"
            )
        except tomllib.TOMLDecodeError as error:
            at = re.search(r"\(at line (\d+), column (\d+)\)", str(error))
            where = f"{path}, line {at[1]}, column {at[2]}" if at else str(path)
            reason = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(error)) or "invalid"
            return f"{where}: the secrets file is not valid TOML ({reason}){_SHOWS_NOTHING}"
    return None


def auth_configured() -> bool:
    """Sign-in is configured: an [auth] section, or a secrets file that cannot be read (it may hold one, so the app
    fails closed)."""
    return bool(_secrets().get("auth")) or secrets_file_problem() is not None


def _bits_per_character(text: str) -> float:
    counts = collections.Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _longest_consecutive_run(text: str) -> int:
    """The longest stretch in which each character is one code point above (or each one below) the previous."""
    longest = run = 1
    step = 0
    for previous, current in itertools.pairwise(text):
        delta = ord(current) - ord(previous)
        run = run + 1 if delta in (1, -1) and delta == step else (2 if delta in (1, -1) else 1)
        step = delta
        longest = max(longest, run)
    return longest


def secret_problem(secret) -> str | None:
    """Why `secret` is unsafe as a cookie secret, or None. Never quotes the secret. Rules, in this order: a text value
    of at least 32 characters; none of PLACEHOLDER_WORDS in it (any case); at least 10 different characters; at least
    3.0 bits of Shannon entropy per character; not one block repeated; no run of 8 consecutive characters."""
    if not isinstance(secret, str):
        return "not a text value"
    if len(secret) < MIN_SECRET_LENGTH:
        return f"shorter than {MIN_SECRET_LENGTH} characters (it has {len(secret)})"
    lowered = secret.lower()
    for word in PLACEHOLDER_WORDS:
        if word in lowered:
            return f'a placeholder, not a generated value (it contains the word "{word}")'
    distinct = len(set(secret))
    if distinct < MIN_DISTINCT_CHARACTERS:
        return f"made of too few different characters ({distinct}; at least {MIN_DISTINCT_CHARACTERS})"
    bits = _bits_per_character(secret)
    if bits < MIN_BITS_PER_CHARACTER:
        return f"too predictable ({bits:.1f} bits per character; at least {MIN_BITS_PER_CHARACTER:.1f})"
    if re.fullmatch(r"(.+?)\1+", secret, flags=re.S):
        return "a shorter block that repeats"
    if _longest_consecutive_run(secret) > MAX_CONSECUTIVE_RUN:
        return f"holding a run of consecutive characters (more than {MAX_CONSECUTIVE_RUN}, like abcdefgh)"
    return None


def _where_cookie_secret_is() -> str:
    """The secrets file (and line) that gives [auth] cookie_secret: the last of secrets.files that has one, as
    Streamlit lets later files override earlier ones."""
    found = "the [auth] section of the secrets"
    for path in _secrets_files():
        try:
            text = path.read_text(encoding="utf-8")
            if "cookie_secret" not in tomllib.loads(text).get("auth", {}):
                continue
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, AttributeError):
            continue
        found = str(path)
        for number, line in enumerate(text.splitlines(), start=1):
            if re.match(r"\s*(auth\s*\.\s*)?cookie_secret\s*=", line):
                found = f"{path}, line {number}"
                break
    return found


def signin_problem() -> str | None:
    """Why sign-in cannot be trusted, in one line saying where, why and what to do, or None: a secrets file that
    cannot be read, or an [auth] section whose cookie_secret is missing or unsafe."""
    unreadable = secrets_file_problem()
    if unreadable:
        return unreadable
    auth = _secrets().get("auth")
    if not auth:
        return None
    if not isinstance(auth, dict) or "cookie_secret" not in auth:
        problem = "missing"
    else:
        problem = secret_problem(auth["cookie_secret"])
    if problem is None:
        return None
    return (
        f"{_where_cookie_secret_is()}: [auth] cookie_secret is {problem}. Whoever knows it can sign in as anyone, so "
        f"the dashboard shows nothing until it is replaced with a generated one: {GENERATE}"
    )


def _matches(email: str, entries) -> bool:
    """An address matches an entry that is the same address or '@domain' (case-insensitive)."""
    email = (email or "").strip().lower()
    for entry in entries or []:
        entry = str(entry).strip().lower()
        if entry and (email == entry or (entry.startswith("@") and email.endswith(entry))):
            return True
    return False


def gate() -> None:
    """Stop the page unless the visitor may see it. Does nothing when no sign-in is configured."""
    if not auth_configured():
        return
    problem = signin_problem()
    if problem:
        st.error(problem, icon=":material/lock:")
        st.stop()
    if not st.user.is_logged_in:
        st.title("Ketamine outcomes")
        st.write("Sign in to see your clinic's outcomes.")
        st.button("Sign in", on_click=st.login, type="primary", icon=":material/login:")
        st.stop()
    email = st.user.get("email", "")
    if not email_allowed(email):
        st.error(
            f"{email or 'This account'} is not on this dashboard's allow-list. Ask the clinic's "
            "administrator to add you."
        )
        st.button("Sign out", on_click=st.logout)
        st.stop()
    with st.sidebar:
        st.caption(f"Signed in as {email}")
        st.button("Sign out", on_click=st.logout, key="sign_out")


def email_allowed(email) -> bool:
    """Whether a signed-in address is on the [access] allow-list."""
    return _matches(email if isinstance(email, str) else "", _secrets().get("access", {}).get("allow", []))


def can_import() -> bool:
    """Local-only: whoever can reach localhost may import. With sign-in: only the editors."""
    if not auth_configured():
        return True
    return _matches(st.user.get("email", ""), _secrets().get("access", {}).get("editors", []))


def data_page_notice() -> None:
    if not auth_configured():
        st.caption(
            ":material/lock: Running local-only: no sign-in is configured and the server listens on "
            "localhost only. To share it on a network, configure sign-in (see the README)."
        )
    elif not can_import():
        st.info("You can view the data but not import: importing is for the editors listed in the settings.")

"""Argument types for the CLI: ids are checked before anything is read (a GUID, or argparse refuses it)."""

from __future__ import annotations

import argparse

from shared.domain.secret_names import GUID_PATTERN


def connection_id(text: str) -> str:
    if not GUID_PATTERN.fullmatch(text):
        raise argparse.ArgumentTypeError("a connection id is a GUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)")
    return text.lower()


def user_id(text: str) -> str:
    if not GUID_PATTERN.fullmatch(text):
        raise argparse.ArgumentTypeError("a user id is the user's Entra object id (a GUID)")
    return text.lower()

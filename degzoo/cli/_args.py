"""Small parsing helpers shared by the sub-commands."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from degzoo.errors import InvalidParameterError


def parse_value(text: str) -> Any:
    """``3`` → 3, ``0.1`` → 0.1, ``true`` → True, ``[5,20]`` → [5, 20], anything else → the string."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def parse_flags(extra: Sequence[str]) -> dict[str, Any]:
    """Turn leftover ``--bits 3 --delay-max 40`` into ``{"bits": 3, "delay_max": 40}``."""
    out: dict[str, Any] = {}
    items = list(extra)
    while items:
        flag = items.pop(0)
        if not flag.startswith("--") or len(flag) < 3:
            raise InvalidParameterError(f"unexpected argument {flag!r}; task parameters look like --bits 3")
        key, _, value = flag[2:].partition("=")
        if not value:
            if not items or items[0].startswith("--"):
                raise InvalidParameterError(f"task parameter {flag} needs a value")
            value = items.pop(0)
        out[key.replace("-", "_")] = parse_value(value)
    return out


def parse_control(spec: str) -> tuple[str, dict[str, Any]]:
    """``l1:weight=1e-3`` → ("l1", {"weight": 0.001}); ``aux`` → ("aux", {})."""
    name, _, rest = spec.partition(":")
    params: dict[str, Any] = {}
    for item in filter(None, rest.split(",")):
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidParameterError(f"control {spec!r}: write parameters as name:key=value,key=value")
        params[key.strip()] = parse_value(value.strip())
    return name.strip(), params


# Python keywords in library messages -> the options of this command line
_CLI_WORDS = {"revision": "--revision", "token": "--token", "cache_dir": "--cache-dir",
              "endpoint": "--endpoint", "workers": "--workers", "repo_id": "--repo-id",
              "release": "--release"}


def cli_message(text: str) -> str:
    """A library error message with its Python keywords (``revision='v1'``) as CLI options."""
    text = re.sub(r"local_files_only=True", "--offline", text)
    text = re.sub(r"\blist_releases\(\)", "`degzoo zoo tags REPO`", text)
    text = re.sub(r"degzoo\.zoo\.hub\.`degzoo", "`degzoo", text)
    return re.sub(r"\b(" + "|".join(_CLI_WORDS) + r")=('?)([^'\s,)]*)\2",
                  lambda m: f"{_CLI_WORDS[m.group(1)]} {m.group(3)}".rstrip(), text)

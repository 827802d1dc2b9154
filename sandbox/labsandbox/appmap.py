"""App maps: which local command stands in for which container image.

A map is a YAML or JSON file::

    apps:
      - name: invsys                         # a label (default: the first pattern)
        image: "*/flask-inventory/invsys:*"  # a glob, or a list of globs
        command: ["{python}", "invsys.py", "--port", "{port}"]
        env: {INVSYS_IMAGE_VERSION: "1.0.0"} # added to the container's environment
        cwd: .                               # where the command runs (default: the map's directory)

Patterns are matched against the image reference (``:latest`` added when it has
no tag or digest) and against the same reference without its registry host;
the first entry that matches wins.  Relative paths (``cwd``, and through it a
relative command or script) resolve against the map file's directory.
``{name}`` placeholders in ``command`` and ``env`` are expanded when a process
starts (see ``behaviours.apps``); other braces stay as written.

This module imports nothing of moto, so a bad map is refused at once.
"""

from __future__ import annotations

import fnmatch
import json
import os
from dataclasses import dataclass
from typing import Any


class MapError(ValueError):
    """An app map that cannot be used; the message names the file and entry."""


@dataclass(frozen=True)
class AppEntry:
    """One entry of an app map: which images, and how to run them here."""

    name: str
    patterns: tuple[str, ...]
    command: tuple[str, ...]
    env: tuple[tuple[str, str], ...]
    cwd: str
    source: str

    def as_dict(self) -> dict:
        return {
            "name": self.name, "image": list(self.patterns), "command": list(self.command),
            "env": dict(self.env), "cwd": self.cwd, "source": self.source,
        }


ENTRY_KEYS = {"name", "image", "command", "env", "cwd"}


def _strings(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise MapError(f"{what} must be a non-empty string or list of strings")
    return tuple(value)


def parse_entry(raw: Any, index: int, base_dir: str, source: str) -> AppEntry:
    where = f"{source}: apps[{index}]"
    if not isinstance(raw, dict):
        raise MapError(f"{where} must be a mapping")
    unknown = set(raw) - ENTRY_KEYS
    if unknown:
        raise MapError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(ENTRY_KEYS))}")
    if "image" not in raw or "command" not in raw:
        raise MapError(f"{where} needs 'image' and 'command'")
    patterns = _strings(raw["image"], f"{where}.image")
    if isinstance(raw["command"], str):
        raise MapError(f"{where}.command must be a list (argv), not a shell string")
    command = _strings(raw["command"], f"{where}.command")
    env = raw.get("env") or {}
    if not isinstance(env, dict) or not all(isinstance(k, str) and k for k in env):
        raise MapError(f"{where}.env must be a mapping of names to values")
    cwd = raw.get("cwd", ".")
    if not isinstance(cwd, str):
        raise MapError(f"{where}.cwd must be a string")
    return AppEntry(
        name=str(raw.get("name") or patterns[0]),
        patterns=patterns,
        command=command,
        env=tuple((k, "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)) for k, v in env.items()),
        cwd=os.path.normpath(os.path.join(base_dir, cwd)),
        source=source,
    )


def parse_map(data: Any, base_dir: str, source: str) -> list[AppEntry]:
    """Entries of a parsed map: ``{"apps": [{"image": glob or [globs], "command": [argv],
    ["env": {NAME: value}], ["cwd": dir], ["name": label]}, ...]}``."""
    if not isinstance(data, dict) or not isinstance(data.get("apps"), list):
        raise MapError(f"{source}: expected a mapping with a list under 'apps'")
    return [parse_entry(raw, i, base_dir, source) for i, raw in enumerate(data["apps"])]


def load_map(path: str) -> list[AppEntry]:
    """Read a map file (``.json`` as JSON, anything else as YAML); relative paths in it
    resolve against its directory."""
    path = os.path.abspath(path)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise MapError(f"{path}: {exc.strerror or exc}") from None
    try:
        if path.endswith(".json"):
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as exc:
        raise MapError(f"{path}: not valid {'JSON' if path.endswith('.json') else 'YAML'}: {exc}") from None
    return parse_map(data, os.path.dirname(path), path)


def image_forms(image: str) -> list[str]:
    """What patterns are matched against: the full reference (``:latest`` added when it
    has neither tag nor digest) and the same without its registry host."""
    ref = image.strip()
    last = ref.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        ref += ":latest"
    forms = [ref]
    first, _, rest = ref.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        forms.append(rest)
    return forms


def find_entry(entries: list[AppEntry], image: str) -> AppEntry | None:
    """The first entry with a pattern matching ``image``."""
    forms = image_forms(image or "")
    for entry in entries:
        if any(fnmatch.fnmatchcase(form, pattern) for pattern in entry.patterns for form in forms):
            return entry
    return None


def expand(text: str, values: dict[str, str]) -> str:
    """Replace ``{name}`` placeholders of known names; other braces stay as they are."""
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text


def files_from_env(environ: Any = os.environ) -> list[str]:
    """``LABSANDBOX_APPS``: map files separated by ``os.pathsep``."""
    return [p for p in (environ.get("LABSANDBOX_APPS") or "").split(os.pathsep) if p]


def load_all(files: list[str]) -> list[AppEntry]:
    """The entries of several maps, in order (all or nothing)."""
    return [e for f in files for e in load_map(f)]

"""The web terminal's server-side defaults (``--web-*`` flags), which URL parameters override."""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import asdict, dataclass

__all__ = ["THEMES", "WebOptions", "add_web_arguments", "web_options"]

THEMES = ("dark", "light")


@dataclass(frozen=True)
class WebOptions:
    font_size: int = 14
    font_family: str = "DejaVu Sans Mono, Liberation Mono, monospace"
    theme: str = "dark"
    #: What a page without a ``command`` parameter runs.
    command: str = "bash"

    def __post_init__(self) -> None:
        if not 6 <= self.font_size <= 72:
            raise ValueError(f"font size {self.font_size} is not between 6 and 72")
        if self.theme not in THEMES:
            raise ValueError(f"theme {self.theme!r} is not one of {', '.join(THEMES)}")
        if not self.command:
            raise ValueError("the web terminal's default command is empty")

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))


def _font_size(text: str) -> int:
    try:
        return WebOptions(font_size=int(text)).font_size
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_web_arguments(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    group = parser.add_argument_group("web terminal (with --web)")
    a = group.add_argument
    default = WebOptions()
    size = int(env("WSEP_WEB_FONT_SIZE", "") or default.font_size)
    a("--web-font-size", type=_font_size, default=size,
      help="font size in CSS pixels (URL: font_size) [WSEP_WEB_FONT_SIZE]")  # fmt: skip
    a("--web-font-family", default=env("WSEP_WEB_FONT_FAMILY", default.font_family),
      help="CSS font family (URL: font_family) [WSEP_WEB_FONT_FAMILY]")  # fmt: skip
    a("--web-theme", choices=THEMES, default=env("WSEP_WEB_THEME", default.theme),
      help="colour theme (URL: theme) [WSEP_WEB_THEME]")  # fmt: skip
    a("--web-command", default=env("WSEP_WEB_COMMAND", default.command),
      help="what a page without a command parameter runs [WSEP_WEB_COMMAND]")  # fmt: skip


def web_options(ns: argparse.Namespace) -> WebOptions:
    return WebOptions(
        font_size=ns.web_font_size,
        font_family=ns.web_font_family,
        theme=ns.web_theme,
        command=ns.web_command,
    )

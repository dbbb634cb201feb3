"""Helpers for session tests: commands to run in a session, the ``server`` fixture's type."""

from __future__ import annotations

import os
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from wsep_protocol import Command

if TYPE_CHECKING:
    from wsep_server.sessions import SessionManager

__all__ = ["PY", "UNSUPPORTED", "ServerFactory", "py", "script"]

PY = sys.executable
_TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The helper programs sessions run (tests/sessions/scripts).
SCRIPTS = os.path.join(_TESTS, "sessions", "scripts")
#: The ``server`` fixture: starts a server, returns its URL and session manager.
ServerFactory = Callable[..., Awaitable[tuple[str, "SessionManager"]]]


def py(code: str, *, tty: bool = True, rows: int = 0, cols: int = 0, stdin: bool = True) -> Command:
    """A Python one-off as a command."""
    return Command(PY, ("-u", "-c", code), stdin=stdin, tty=tty, rows=rows, cols=cols)


def script(name: str, *args: str, tty: bool = True, rows: int = 0, cols: int = 0) -> Command:
    """A helper script from tests/sessions/scripts."""
    path = os.path.join(SCRIPTS, name)
    return Command(PY, ("-u", path, *args), stdin=True, tty=tty, rows=rows, cols=cols)


#: What today's programs send that pyte 0.8 raised on, printed, or misread.
UNSUPPORTED = [
    b"\x1b[?4m",  # private SGR (vim): pyte raised TypeError
    b"\x1b[?1;2c",  # a DA1 answer echoed back: pyte raised TypeError
    b"\x1b[?u",  # kitty keyboard: query flags
    b"\x1b[>1u",  # kitty keyboard: push flags
    b"\x1b[<u",  # kitty keyboard: pop flags
    b"\x1b[=1;1u",  # kitty keyboard: set flags
    b"\x1b[>4;2m",  # modifyOtherKeys (pyte took it for underline)
    b"\x1b[>c",  # DA2
    b"\x1b[>0q",  # XTVERSION
    b"\x1b[c",  # DA1
    b"\x1b[?12$p",  # DECRQM
    b"\x1b[2 q",  # DECSCUSR
    b"\x1b[!p",  # DECSTR
    b"\x1bP+q544e;6b637531\x1b\\",  # XTGETTCAP
    b"\x1bP$qm\x1b\\",  # DECRQSS
    b"\x1bPq#0;2;0;0;0#1;2;100;100;0#1~~@@vv@@~~@@~~$-#0!14@\x1b\\",  # sixel
    b"\x1b_Gf=24,s=1,v=1;AAAA\x1b\\",  # kitty graphics (APC)
    b"\x1b^private message\x1b\\",  # PM
    b"\x1bXstart of string\x1b\\",  # SOS
    b"\x1b]10;?\x07",  # OSC 10 colour query
    b"\x1b]11;?\x1b\\",  # OSC 11 colour query
    b"\x1b]52;c;?\x07",  # clipboard
    b"\x1b]8;;http://example.com\x1b\\\x1b]8;;\x1b\\",  # hyperlink
    b"\x1b]22;title-stack\x07",  # pyte set the title ";title-stack"
    b"\x1b[?2004h\x1b[?2004l",  # bracketed paste
    b"\x1b[200~",  # a paste start echoed
    b"\x1b[?1000h\x1b[?1006h\x1b[?1006l\x1b[?1000l",  # mouse
    b"\x1b[?2026h\x1b[?2026l",  # synchronized output
    b"\x1b[?1000000h",  # absurd private mode
    b"\x1b[22;0;0t\x1b[23;0;0t",  # title stack
    b"\x1b[4:3m\x1b[4:0m",  # curly underline
    b"\x1b[58:2::1:2:3m\x1b[59m",  # underline colour
    b"\x1b[38:2::10:20:30m\x1b[39m",  # colon truecolour
    b"\x1b%G\x1b%@",  # charset selection (pyte left UTF-8 for ESC % @)
    b"\x1b F",  # S7C1T
    b"\xc2\x9b1m\xc2\x9b0m",  # 8-bit CSI, UTF-8 encoded
    b"\xc2\x90qsixel\xc2\x9c",  # 8-bit DCS
    b"\xc2\x9d2;c1 title\xc2\x9c",  # 8-bit OSC
    b"\x9b\x9d\x90",  # raw C1 bytes: invalid UTF-8, shown as U+FFFD as a terminal does
    b"\xff\xfe\xed\xa0\x80",  # invalid UTF-8
    b"\x1b[" + b"9" * 5000 + b"X",  # a huge parameter
    b"\x1b[1;2B\x1b[1;2A\x1b[1;2C\x1b[1;2D\x1b[1;2E\x1b[1;2F\x1b[2;9G",  # extra parameters
    b"\x1b[0;0g\x1b[0;1K\x1b[;1d\x1b[1;2;3H\x1b[1;2;3r\x1b[r\x1b[1;2H",
    b"\x1b[5n\x1b[6n\x1b[0c\x1b[18t\x1b[s\x1b[u\x1b[3b",  # queries, window ops, REP
    b"\x1b[1;" + b"9" * 6000 + b"r\x1b[r\x1b[1;2H",
]

"""A filter in front of the emulator: only escape sequences pyte understands get through.

pyte 0.8 mis-parses much of what today's programs send: it raises on private
SGR (``ESC [ ? 4 m``) and private DA, prints the body of DCS/APC/PM/SOS strings
(sixel images, XTGETTCAP, DECRQSS, kitty graphics) as text, takes
``ESC [ > 4 ; 2 m`` (modifyOtherKeys) for underline, and draws the parameters
of kitty keyboard sequences (``ESC [ < u``, ``ESC [ = 1 u``) and of SGR with
colon sub-parameters. :class:`EscapeFilter` tokenises the output (escape
sequences split across reads included) and passes on text and the sequences
that change the screen, rewritten where pyte needs it; state-free queries and
everything pyte would get wrong are dropped. A terminal attached to the session
still gets every byte: only the server's copy of the screen is filtered.
"""

from __future__ import annotations

import re

__all__ = ["EscapeFilter"]

#: Sequences pyte takes as they are (the bulk of a full-screen program's output):
#: cursor movement, erasing, margins, colours, modes, charsets, save/restore.
_SAFE = (
    rb"\[(?:[0-9]{0,4}[@ABCDEFGJKLMPXadeg`]|[0-9]{0,4}(?:;[0-9]{0,4})?[Hfr]"
    rb"|[0-9;]{0,64}[mhl]|\?[0-9]{1,4}(?:;[0-9]{1,4}){0,8}[hl])"
    rb"|[78DEHMc=>]|[()][0AB]"
)
#: Where the filter has work to do: ESC not followed by a safe sequence, a C1
#: control encoded in UTF-8, or the first byte of one at the end of the data.
_NEEDS_WORK = re.compile(rb"\x1b(?!" + _SAFE + rb")|\xc2[\x80-\x9f]|\xc2\Z")
#: The rest of a control sequence after its introducer: parameters, intermediates, final.
_CSI = re.compile(rb"([\x30-\x3f]*)([\x20-\x2f]*)([\x40-\x7e])")
_CSI_PREFIX = re.compile(rb"[\x30-\x3f]*[\x20-\x2f]*\Z")
#: What ends a string (OSC, DCS, APC, PM, SOS): ST (7- or 8-bit), BEL, CAN or SUB, or
#: (as in xterm.js and DEC's parser) any other ESC, which then starts a new sequence.
_STRING_END = re.compile(rb"\x1b\\|(?=\x1b)|\xc2\x9c|[\x07\x18\x1a]")
#: What ends an overlong control sequence being skipped: its final byte, or anything else.
_CSI_END = re.compile(rb"[\x40-\x7e]|(?=[^\x20-\x3f])")
#: ``ESC`` with intermediates (nF): charsets and ``#`` are pyte's; the rest is dropped.
_NF = re.compile(rb"([\x20-\x2f]+)([\x30-\x7e])")
#: DEC private modes re-emitted (``?h``/``?l``) below this number; pyte keeps every one it sees.
_MAX_MODE = 10_000
_HUGE = re.compile(rb"[0-9]{5,}")
_DIGITS = re.compile(rb"[0-9;]*")
_SUBPARAMS = re.compile(rb"[0-9;:]*")
#: How many parameters pyte's handler of each final byte takes (None: any number);
#: a final byte not here is dropped (pyte ignores it, or it is a query).
_PYTE_PARAMS: dict[bytes, int | None] = {
    **{bytes([final]): 1 for final in b"'@ABCDEFGJKLMPXadeg"},
    b"H": 2,
    b"f": 2,
    b"r": 2,
    b"h": None,
    b"l": None,
    b"m": None,
}
#: Longest OSC (title) and longest unfinished sequence kept across reads.
_MAX_OSC = 4096
_MAX_CARRY = 256
#: ESC and 8-bit (UTF-8 encoded) C1 introducers of strings whose content is dropped.
_STRINGS = frozenset(
    {b"\x1bP", b"\x1b_", b"\x1b^", b"\x1bX", b"\xc2\x90", b"\xc2\x9f", b"\xc2\x9e", b"\xc2\x98"}
)
_CSI_INTROS = frozenset({b"\x1b[", b"\xc2\x9b"})
_OSC_INTROS = frozenset({b"\x1b]", b"\xc2\x9d"})


class EscapeFilter:
    """Passes on the output pyte can take: text, and the sequences it models, rewritten.

    :meth:`feed` returns what of the input is complete; an unfinished
    sequence at the end waits for the next call (at most ``_MAX_CARRY`` bytes;
    a string such as a sixel image is skipped however long it is).
    """

    def __init__(self) -> None:
        self._carry = b""
        #: While skipping a string or an overlong sequence: what ends it.
        self._skipping: re.Pattern[bytes] | None = None

    @property
    def idle(self) -> bool:
        """Nothing held back: the next byte starts fresh."""
        return not self._carry and self._skipping is None

    def feed(self, data: bytes) -> bytes:
        if not self._carry and self._skipping is None and not _NEEDS_WORK.search(data):
            return data  # text and safe sequences (the common case): as they are
        return b"".join(self._pieces(data))

    def _pieces(self, data: bytes) -> list[bytes]:
        if self._carry:
            data = self._carry + data
            self._carry = b""
        out: list[bytes] = []
        pos = 0
        end = len(data)
        if self._skipping is not None:
            pos = self._skip(data, 0, self._skipping)
            if pos < 0:
                return out
        while pos < end:
            match = _NEEDS_WORK.search(data, pos)
            if match is None:
                out.append(data[pos:])
                break
            start = match.start()
            if start > pos:
                out.append(data[pos:start])
            if data[start] == 0xC2 and start + 1 == end:  # perhaps the first half of a C1
                self._carry = data[start:]
                break
            pos = self._sequence(data, start, start + (1 if data[start] == 0x1B else 2), out)
            if pos < 0:
                break
        return out

    def _skip(self, data: bytes, pos: int, end: re.Pattern[bytes]) -> int:
        """Past what ``end`` finds, or -1 (still skipping when the data ends)."""
        match = end.search(data, pos)
        if end is _STRING_END and _ends_unsure(match, data):
            match = None
        if match is None:
            self._skipping = end
            if end is _STRING_END and data[-1:] in (b"\x1b", b"\xc2"):
                self._carry = data[-1:]  # perhaps the first half of ST
            return -1
        self._skipping = None
        return match.end()

    def _hold(self, data: bytes, start: int) -> int:
        """Keep an unfinished sequence for the next read; skip one absurdly long."""
        if len(data) - start <= _MAX_CARRY:
            self._carry = data[start:]
        else:
            self._skipping = _CSI_END
        return -1

    def _sequence(self, data: bytes, start: int, after: int, out: list[bytes]) -> int:
        """Handle the sequence at ``start``; the position after it, or -1 (data used up)."""
        intro = data[start:after]
        if intro == b"\x1b":
            if after == len(data):
                return self._hold(data, start)
            intro = data[start : after + 1]
            after += 1
        if intro in _CSI_INTROS:
            match = _CSI.match(data, after)
            if match is None:
                if _CSI_PREFIX.match(data, after):
                    return self._hold(data, start)
                return after  # broken off by a control character: drop the introducer
            piece = _rewrite_csi(match.group(1), match.group(2), match.group(3))
            if piece:
                out.append(piece)
            return match.end()
        if intro in _OSC_INTROS:
            return self._osc(data, start, after, out)
        if intro in _STRINGS:
            return self._skip(data, after, _STRING_END)
        if intro[0] == 0x1B:
            second = intro[1]
            if 0x20 <= second <= 0x2F:  # ESC with intermediates
                match = _NF.match(data, start + 1)
                if match is None:
                    if _CSI_PREFIX.match(data, start + 1):
                        return self._hold(data, start)
                    return after
                if second in b"()#" and len(match.group(1)) == 1:
                    out.append(data[start : match.end()])
                return match.end()
            if second == 0x1B:
                return start + 1  # ESC ESC: the first one is cancelled
            out.append(intro)
            return after
        if intro == b"\xc2\x9c":  # a stray ST
            return after
        out.append(intro)  # other C1 controls (IND, NEL, RI, ...): pyte knows them
        return after

    def _osc(self, data: bytes, start: int, after: int, out: list[bytes]) -> int:
        match = _STRING_END.search(data, after)
        if match is None or _ends_unsure(match, data):
            if len(data) - start <= _MAX_OSC:
                self._carry = data[start:]
                return -1
            return self._skip(data, after, _STRING_END)
        body = data[after : match.start()]
        number, _, text = body.partition(b";")
        if number in (b"0", b"1", b"2") and match.group() in (b"\x07", b"\x1b\\", b"\xc2\x9c"):
            out.append(b"\x1b]" + number + b";" + text[:_MAX_OSC] + b"\x07")
        return match.end()


def _ends_unsure(match: re.Match[bytes] | None, data: bytes) -> bool:
    """The string seems to end at an ESC that is the last byte: it may be half of ST."""
    return match is not None and match.start() == len(data) - 1 and not match.group()


def _rewrite_csi(params: bytes, inter: bytes, final: bytes) -> bytes:
    """``ESC [ params inter final`` as pyte should see it, or ``b""`` to drop it."""
    if not inter and len(params) < 5 and final in _PYTE_PARAMS and _DIGITS.fullmatch(params):
        wanted = _PYTE_PARAMS[final]
        if wanted is None or params.count(b";") < wanted:
            return b"\x1b[" + params + final  # the common case: as it is
    if inter:
        return b""  # DECSCUSR, DECRQM, DECSTR, ...: nothing pyte models
    if params[:1] in (b"<", b"=", b">"):
        return b""  # kitty keyboard, DA2/DA3, XTVERSION, modifyOtherKeys, ...
    if params[:1] == b"?":
        rest = params[1:]
        if not _DIGITS.fullmatch(rest):
            return b""
        if final in (b"h", b"l"):
            modes = [m for m in rest.split(b";") if 0 < len(m) < 6 and int(m) < _MAX_MODE]
            if not modes:
                return b""
            return b"\x1b[?" + b";".join(modes) + final
        if final in (b"J", b"K"):  # selective erase: as a plain erase
            return b"\x1b[" + rest + final
        return b""  # private SGR, DECRQM, DA responses, kitty ``?u``, ...
    if not _SUBPARAMS.fullmatch(params) or final not in _PYTE_PARAMS:
        return b""
    wanted = _PYTE_PARAMS[final]
    if wanted is not None and params.count(b";") >= wanted:
        params = b";".join(params.split(b";")[:wanted])  # pyte raises on more
    if len(params) > 4:
        params = _HUGE.sub(b"9999", params)  # as pyte clamps, without parsing a huge number
    if b":" in params:
        if final != b"m":
            return b""
        params = _flatten_sgr(params)
        if not params:
            return b""
    return b"\x1b[" + params + final


def _flatten_sgr(params: bytes) -> bytes:
    """SGR with colon sub-parameters (ITU T.416) in the semicolon form pyte reads."""
    out: list[bytes] = []
    for param in params.split(b";"):
        if b":" not in param:
            out.append(param)
            continue
        parts = param.split(b":")
        head = parts[0]
        if head in (b"38", b"48"):
            kind = parts[1:2]
            if kind == [b"5"] and len(parts) >= 3:
                out += [head, b"5", parts[2] or b"0"]
            elif kind == [b"2"] and len(parts) >= 5:
                out += [head, b"2", *(p or b"0" for p in parts[-3:])]
        elif head == b"4":  # underline styles: any style but "none" underlines
            out.append(b"24" if parts[1:2] == [b"0"] else b"4")
        elif head in (b"58", b"59"):
            continue  # underline colour: not modelled
        elif head:
            out.append(head)
    return b";".join(out)

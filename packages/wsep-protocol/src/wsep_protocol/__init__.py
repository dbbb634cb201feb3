"""wsep's wire protocol, sans I/O: messages, codec, state machine, errors, limits.

Imports neither asyncio nor aiohttp, so the server, the client and any other
I/O layer share one definition of what is on the wire and what is legal.
"""

from __future__ import annotations

from . import sessions  # noqa: F401  (registers the session extension's messages)
from .codec import STDERR_HEADER, STDIN_HEADER, STDOUT_HEADER, decode, encode, encode_json
from .command import Command
from .connection import Connection, ConnectionState, Role
from .errors import (
    MAX_REASON_BYTES,
    CloseCode,
    LocalProtocolError,
    MalformedMessage,
    MessageTooBig,
    PolicyViolation,
    ProtocolViolation,
    RemoteProtocolError,
    StartError,
    StartErrorKind,
    WsepError,
    truncate_reason,
)
from .execer import Execer, Process, ProcessReader, ProcessWriter
from .flow import Flow, FlowAck, FlowWindow
from .messages import (
    AnyMessage,
    Buffer,
    ClientMessage,
    CloseStdin,
    Error,
    ExitCode,
    ExtensionMessage,
    Message,
    Pid,
    Resize,
    ServerMessage,
    Signal,
    Start,
    Stderr,
    Stdin,
    Stdout,
    UnknownMessage,
)
from .status import ExitStatus, signal_description, signal_name, signal_number
from .versions import (
    MAX_HEADER_SIZE,
    SUBPROTOCOL_V1,
    SUBPROTOCOL_V2,
    TOKEN_SUBPROTOCOL_PREFIX,
    V1_MAX_MESSAGE_SIZE,
    V2_MAX_MESSAGE_SIZE,
    Limits,
    ProtocolVersion,
    SubprotocolRefused,
    limits_for,
    negotiate,
    select_version,
    subprotocols_for,
)

__version__ = "0.1.0"

__all__ = [
    "MAX_HEADER_SIZE",
    "MAX_REASON_BYTES",
    "STDERR_HEADER",
    "STDIN_HEADER",
    "STDOUT_HEADER",
    "SUBPROTOCOL_V1",
    "SUBPROTOCOL_V2",
    "TOKEN_SUBPROTOCOL_PREFIX",
    "V1_MAX_MESSAGE_SIZE",
    "V2_MAX_MESSAGE_SIZE",
    "AnyMessage",
    "Buffer",
    "ClientMessage",
    "CloseCode",
    "CloseStdin",
    "Command",
    "Connection",
    "ConnectionState",
    "Error",
    "Execer",
    "ExitCode",
    "ExitStatus",
    "ExtensionMessage",
    "Flow",
    "FlowAck",
    "FlowWindow",
    "Limits",
    "LocalProtocolError",
    "MalformedMessage",
    "Message",
    "MessageTooBig",
    "Pid",
    "PolicyViolation",
    "Process",
    "ProcessReader",
    "ProcessWriter",
    "ProtocolVersion",
    "ProtocolViolation",
    "RemoteProtocolError",
    "Resize",
    "Role",
    "ServerMessage",
    "Signal",
    "Start",
    "StartError",
    "StartErrorKind",
    "Stderr",
    "Stdin",
    "Stdout",
    "SubprotocolRefused",
    "UnknownMessage",
    "WsepError",
    "decode",
    "encode",
    "encode_json",
    "limits_for",
    "negotiate",
    "select_version",
    "signal_description",
    "signal_name",
    "signal_number",
    "subprotocols_for",
    "truncate_reason",
]

"""Per-identity start policy from a TOML file: what may run, as whom, where, how long.

See :mod:`wsep_server.policy.rules` for the file format and
:class:`FilePolicy` for the :class:`~wsep_server.hooks.StartPolicy` itself.
"""

from __future__ import annotations

from .arguments import ArgumentRule
from .checks import (
    check_arguments,
    check_command,
    check_env,
    check_ids,
    check_tty,
    check_working_dir,
    effective_ids,
    path_within,
    resolve_command,
)
from .engine import FilePolicy, default_resolver
from .rules import (
    DEFAULT_ENV_ALLOW,
    DEFAULT_ENV_DENY,
    PolicyFile,
    Rules,
    compile_pattern,
    dir_real,
    load_policy_file,
    parse_policy,
)

__all__ = [
    "DEFAULT_ENV_ALLOW",
    "DEFAULT_ENV_DENY",
    "ArgumentRule",
    "FilePolicy",
    "PolicyFile",
    "Rules",
    "check_arguments",
    "check_command",
    "check_env",
    "check_ids",
    "check_tty",
    "check_working_dir",
    "compile_pattern",
    "default_resolver",
    "dir_real",
    "effective_ids",
    "load_policy_file",
    "parse_policy",
    "path_within",
    "resolve_command",
]

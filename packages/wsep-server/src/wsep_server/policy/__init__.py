"""Per-identity start policy from a TOML file: what may run, as whom, where, how long.

See :mod:`wsep_server.policy.rules` for the file format,
:class:`FilePolicy` for the :class:`~wsep_server.hooks.StartPolicy` itself, and
:mod:`wsep_server.policy.decision` for what a policy gets and answers.
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
from .decision import (
    DecidedExecer,
    EnvironmentPlan,
    Lease,
    RunAs,
    StartDecision,
    StartRequest,
    decide,
    start_decided,
)
from .engine import FilePolicy, default_resolver
from .legacy import LegacyPolicy, LegacyStartPolicy, as_start_policy
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
    "DecidedExecer",
    "EnvironmentPlan",
    "FilePolicy",
    "Lease",
    "LegacyPolicy",
    "LegacyStartPolicy",
    "PolicyFile",
    "Rules",
    "RunAs",
    "StartDecision",
    "StartRequest",
    "as_start_policy",
    "check_arguments",
    "check_command",
    "check_env",
    "check_ids",
    "check_tty",
    "check_working_dir",
    "compile_pattern",
    "decide",
    "default_resolver",
    "dir_real",
    "effective_ids",
    "load_policy_file",
    "parse_policy",
    "path_within",
    "resolve_command",
    "start_decided",
]

"""Wheel build hook: put xterm.js (from npm, per web/package-lock.json) into the wheel.

The web terminal's front-end dependencies are not copied into the repository:
``web/package.json`` and its lock file name them, ``npm ci`` installs them, and
this hook adds the files the server serves to the wheel under
``wsep_server/web/vendor/`` (see ``wsep_server.web.VENDOR_FILES``). An editable
install skips this: the server then finds ``web/node_modules`` in the checkout.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

# Keep in step with wsep_server.web.VENDOR_FILES (the build cannot import the package).
VENDOR_FILES = (
    "@xterm/xterm/lib/xterm.mjs",
    "@xterm/xterm/css/xterm.css",
    "@xterm/xterm/LICENSE",
    "@xterm/addon-fit/lib/addon-fit.mjs",
    "@xterm/addon-fit/LICENSE",
)


class WebAssetsHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel" or version == "editable":
            return
        web = Path(self.root) / "web"
        modules = web / "node_modules"
        if not all((modules / rel).is_file() for rel in VENDOR_FILES):
            npm = shutil.which("npm")
            if npm is None:
                raise RuntimeError("building the wsep-server wheel needs npm (for xterm.js)")
            subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=web, check=True
            )
        for rel in VENDOR_FILES:
            build_data["force_include"][str(modules / rel)] = f"wsep_server/web/vendor/{rel}"

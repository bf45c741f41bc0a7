"""Runs the real launcher with fake services: `fake_stack.py CONFIG.json` (see test_devstack_launcher)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from complaints_devstack.harness import ServiceSpec
from complaints_devstack.launcher import LaunchConfig, Launcher

FAKE = str(Path(__file__).with_name("fake_service.py"))


def main() -> int:
    cfg = json.loads(Path(sys.argv[1]).read_text())
    services = [
        ServiceSpec(
            name,
            port,
            serve=(sys.executable, FAKE, name, "serve"),
            migrate=(sys.executable, FAKE, name, "migrate"),
        )
        for name, port in cfg["services"]
    ]
    config = LaunchConfig.from_env(run_dir=Path(cfg["run_dir"]))
    config.services = services
    config.ready_timeout = cfg.get("ready_timeout", 20.0)
    config.stop_timeout = cfg.get("stop_timeout", 5.0)
    launcher = Launcher(config)
    return launcher.up_infra() if cfg.get("infra_only") else launcher.run()


if __name__ == "__main__":
    sys.exit(main())

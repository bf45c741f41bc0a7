"""Developer tool: autogenerate a service's next migration against a scratch database.

python -m complaints_common.autogen complaints_intake.main "add deadlines" postgresql+asyncpg://...
"""

from __future__ import annotations

import importlib
import sys

from alembic import command
from alembic.config import Config


def main(argv: list[str]) -> None:
    module, message, url = argv
    definition = importlib.import_module(module).SERVICE
    config = Config()
    config.set_main_option("script_location", str(definition.migrations))
    config.attributes["database_url"] = url
    config.attributes["metadata"] = definition.metadata
    command.upgrade(config, "head")
    command.revision(config, message=message, autogenerate=True)


if __name__ == "__main__":
    main(sys.argv[1:])

"""Each service's migrations form one chain: unique revision ids, one head, every file on the chain.

Two branches that each added a "0003" once left one of them silently unapplied (Alembic keeps the
last file it reads with a given id); this fails instead.
"""

from __future__ import annotations

import re

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from complaints_common.runtime import ServiceDefinition
from complaints_compensation.main import SERVICE as COMPENSATION
from complaints_followup.main import SERVICE as FOLLOWUP
from complaints_intake.main import SERVICE as INTAKE
from complaints_notifications.main import SERVICE as NOTIFICATIONS

REVISION = re.compile(r'^revision: str = "([^"]+)"', re.MULTILINE)


@pytest.mark.parametrize("service", [INTAKE, COMPENSATION, FOLLOWUP, NOTIFICATIONS], ids=lambda s: s.name)
def test_the_migrations_form_one_chain(service: ServiceDefinition) -> None:
    folder = service.migrations
    files = sorted((folder / "versions").glob("*.py"))
    ids = [match.group(1) for f in files if (match := REVISION.search(f.read_text()))]
    assert len(ids) == len(files), "every migration file names its revision"
    assert len(ids) == len(set(ids)), f"revision ids used twice: {ids}"
    config = Config()
    config.set_main_option("script_location", str(folder))
    script = ScriptDirectory.from_config(config)
    assert len(script.get_heads()) == 1, script.get_heads()
    chain = [rev.revision for rev in script.walk_revisions()]
    assert sorted(chain) == sorted(ids)
    assert [f.name[:4] for f in files] == sorted(ids), "file names follow the revision ids"

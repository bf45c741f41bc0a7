"""What the notifications process builds once and every route, handler and loop shares."""

from __future__ import annotations

from dataclasses import dataclass

from complaints_common.runtime import Runtime
from complaints_notifications.application.composing import Composer
from complaints_notifications.channels.targets import TargetPolicy
from complaints_notifications.domain.rendering import Templates
from complaints_notifications.settings import NotificationSettings
from complaints_notifications.store.webhooks import SecretBox


@dataclass(frozen=True, slots=True)
class NotificationsDependencies:
    """The runtime, the typed settings, the composer (templates checked), where webhooks may go and
    the box that seals their secrets."""

    runtime: Runtime
    settings: NotificationSettings
    composer: Composer
    targets: TargetPolicy
    secrets: SecretBox

    @classmethod
    def build(cls, runtime: Runtime) -> NotificationsDependencies:
        """Once per process. The templates are compiled and rendered against sample data here: a
        template error stops the start instead of failing a send."""
        settings = runtime.settings
        if not isinstance(settings, NotificationSettings):
            raise TypeError(f"notifications runs on NotificationSettings, not {type(settings).__name__}")
        composer = Composer(settings, Templates.load(), runtime.outbox)
        return cls(runtime, settings, composer, TargetPolicy.of(settings), SecretBox.of(settings))

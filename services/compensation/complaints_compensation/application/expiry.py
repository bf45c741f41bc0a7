"""The loops of compensation: voucher expiry (marks vouchers past their expiry and publishes
`compensation.voucher_changed`) and lapsed options (a customer given options whose choice was not
recorded in time gets the first option, granted automatically)."""

from __future__ import annotations

import asyncio

from complaints_common.loops import BackgroundLoop, every, periodically
from complaints_compensation.application.options import lapse_options
from complaints_compensation.application.vouchers import expire_vouchers
from complaints_compensation.dependencies import CompensationDependencies

BATCH = 200


def background(deps: CompensationDependencies) -> list[BackgroundLoop]:
    settings = deps.settings

    async def turn() -> bool:
        return await expire_vouchers(deps, BATCH) >= BATCH

    async def loop(stop: asyncio.Event) -> None:
        await periodically(stop, "voucher expiry", turn, every(settings.voucher_expiry_interval_s))

    async def lapse_turn() -> bool:
        return await lapse_options(deps, BATCH) >= BATCH

    async def lapse_loop(stop: asyncio.Event) -> None:
        await periodically(stop, "options lapse", lapse_turn, every(settings.options_lapse_interval_s))

    return [loop, lapse_loop]

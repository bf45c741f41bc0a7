"""The bare baseline intake is measured against: FastAPI validating a complaint-shaped body and
inserting one row with asyncpg, served by uvicorn with the same settings as the services.

No authentication, no outbox, no idempotency, no tracing: the cost of "accept a complaint and make
it durable" and nothing else. `python -m benchmarks.baseline_app --port P --dsn postgresql://...`
"""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

import asyncpg
import uvicorn
from fastapi import FastAPI, Request
from pydantic import BaseModel, ConfigDict, Field

POOL_SIZE = 10  # the services' default database_pool_size


class Customer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer_id: str = Field(min_length=1, max_length=100)
    name: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    preferred_channel: Literal["email", "sms", "phone", "post", "none"] = "email"
    language: str = Field(default="en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")


class Money(BaseModel):
    amount: Decimal = Field(ge=0, max_digits=14, decimal_places=2)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class Complaint(BaseModel):
    model_config = ConfigDict(extra="forbid")
    customer: Customer
    channel: Literal["phone", "email", "chat", "social", "in_person", "web", "post"]
    category: str = Field(min_length=1, max_length=100)
    product: str | None = Field(default=None, max_length=200)
    severity: Literal["low", "medium", "high", "critical"] = "medium"
    description: str = Field(min_length=1, max_length=10_000)
    amount_at_stake: Money | None = None
    agent_id: str | None = Field(default=None, max_length=100)
    crm_reference: str | None = Field(default=None, max_length=100)


class Accepted(BaseModel):
    id: uuid.UUID
    filed_at: datetime


DDL = (
    "CREATE TABLE IF NOT EXISTS baseline_complaints "
    "(id uuid PRIMARY KEY, body jsonb NOT NULL, filed_at timestamptz NOT NULL)"
)
INSERT = "INSERT INTO baseline_complaints (id, body, filed_at) VALUES ($1, $2::jsonb, $3)"


def create_app(dsn: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(dsn, min_size=POOL_SIZE, max_size=POOL_SIZE)
        await pool.execute(DDL)
        app.state.pool = pool
        yield
        await pool.close()

    app = FastAPI(title="baseline", lifespan=lifespan)

    @app.post("/v1/complaints", status_code=201)
    async def file(complaint: Complaint, request: Request) -> Accepted:
        accepted = Accepted(id=uuid.uuid4(), filed_at=datetime.now(UTC))
        body = json.dumps(complaint.model_dump(mode="json"))
        await request.app.state.pool.execute(INSERT, accepted.id, body, accepted.filed_at)
        return accepted

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dsn", required=True)
    args = parser.parse_args()
    # The same uvicorn settings as complaints_common.runtime.serve.
    uvicorn.run(create_app(args.dsn), host="127.0.0.1", port=args.port, log_config=None, access_log=False)


if __name__ == "__main__":
    main()

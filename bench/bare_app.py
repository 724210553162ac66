"""The bare endpoint ``POST /claims`` is compared with (bench only, never part of the product).

What a minimal FastAPI service does for a claim: validate the body with the same model
(models.submission.ClaimSubmission), insert one claim row and one history row in one
transaction on the pooled engine, answer 202 with the id. No authentication (the member is the
``X-Bench-User`` header), no idempotency, no enrolment lookup, no outbox, no action row.

Run as ``uvicorn --factory bench.bare_app:app_factory``.
"""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from fastapi import FastAPI, Header, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from config import get_settings
from models.enums import ActorRole, ClaimEvent, ClaimStatus
from models.history_chain import GENESIS, chain_hash
from models.submission import ClaimSubmission
from models.tables import Claim, ClaimStatusHistory
from storage.engine import get_engine

_CLAIMS = cast(sa.Table, Claim.__table__)
_HISTORY = cast(sa.Table, ClaimStatusHistory.__table__)
_INSERT_CLAIM = sa.insert(_CLAIMS).returning(_CLAIMS.c.id)
_INSERT_HISTORY = sa.insert(_HISTORY)


def app_factory() -> FastAPI:
    app = FastAPI()
    window = get_settings().filing_window_days
    engine = get_engine()
    plan_id = int(os.environ.get("BENCH_BARE_PLAN_ID", "0")) or None

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/claims", status_code=202)
    async def submit(request: Request, x_bench_user: str = Header()) -> Any:
        try:
            body = ClaimSubmission.model_validate_json(
                await request.body(), context={"filing_window_days": window}
            )
        except ValidationError as invalid:
            return JSONResponse(
                {
                    "error": {
                        "code": "VALIDATION_ERROR",
                        "message": str(invalid.errors()[0]["msg"]),
                        "field": None,
                    }
                },
                status_code=422,
            )
        return {"id": await _store(body, x_bench_user)}

    async def _store(body: ClaimSubmission, user: str) -> int:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(_insert, body, user)

    def _insert(body: ClaimSubmission, user: str) -> int:
        now = datetime.now(UTC)
        with engine.begin() as conn:
            claim_id = int(
                conn.execute(
                    _INSERT_CLAIM,
                    {
                        "member_plan_id": body.member_plan_id,
                        "plan_id": plan_id or _plan_of(conn, body.member_plan_id),
                        "user_id": user,
                        "procedure_type": body.procedure_type,
                        "procedure_code": body.procedure_code,
                        "diagnosis_code": body.diagnosis_code,
                        "provider_name": body.provider_name,
                        "service_date": body.service_date,
                        "claimed_amount": body.amount,
                        "currency": body.currency,
                        "status": ClaimStatus.SUBMITTED,
                        "version": 2,
                        "submitted_at": now,
                    },
                ).scalar_one()
            )
            history: dict[str, Any] = {
                "claim_id": claim_id,
                "event_id": uuid.uuid4(),
                "event": ClaimEvent.SUBMIT.value,
                "from_status": ClaimStatus.DRAFT.value,
                "to_status": ClaimStatus.SUBMITTED.value,
                "actor_id": user,
                "actor_role": ActorRole.MEMBER.value,
                "reason_code": None,
                "note": None,
                "details": None,
                "occurred_at": now,
            }
            # History rows are hash-chained (the column is NOT NULL): a claim's first row
            # chains on the genesis. (The claim's own copy of its last hash is left out: it
            # would cost the bare endpoint a second statement on the claim.)
            history["hash"] = chain_hash(GENESIS, history)
            conn.execute(_INSERT_HISTORY, history)
        return claim_id

    return app


_PLAN_OF = sa.text("SELECT plan_id FROM plan.member_plans WHERE id = :id")


def _plan_of(conn: sa.Connection, member_plan_id: int | None) -> int:
    # The claim row needs its plan; the bench names it (BENCH_BARE_PLAN_ID), else one lookup.
    return int(conn.execute(_PLAN_OF, {"id": member_plan_id}).scalar_one())

"""The benchmark's pure parts: percentiles, the history-path check, the bench claims, the
profile classification and the pass/fail marks against issue 6's targets."""

from __future__ import annotations

import os
import time
from datetime import date
from decimal import Decimal

from bench.monitor import cpu_seconds
from bench.profiling import _process_of, classify
from bench.report import at_least, at_most, below, figures
from bench.stats import latency_summary_ms, percentile
from bench.verify import path_errors
from bench.world import World, claimed_amount, queued_claim
from models.adjudication import (
    ClaimFacts,
    CoverageFacts,
    Decision,
    EnrolmentFacts,
    PlanFacts,
    YearToDate,
    adjudicate,
)
from models.enums import ClaimStatus, DocumentType, MemberPlanStatus, ProcedureType
from models.submission import QueuedClaim

WORLD = World(plan_id=1, coverage_id=1, users=("u0", "u1", "u2"), member_plan_ids=(10, 11, 12))
TODAY = date(2026, 6, 30)


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.50) == 50
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([7.0], 0.99) == 7


def test_latency_summary_is_in_milliseconds() -> None:
    summary = latency_summary_ms([0.010, 0.020, 0.030])
    assert summary["count"] == 3
    assert summary["p50_ms"] == 20
    assert summary["max_ms"] == 30


def test_the_automatic_lifecycle_is_a_valid_path() -> None:
    rows = [
        ("submit", "DRAFT", "SUBMITTED"),
        ("start_review", "SUBMITTED", "UNDER_REVIEW"),
        ("approve", "UNDER_REVIEW", "APPROVED"),
    ]
    assert path_errors(rows, ClaimStatus.APPROVED) is None


def test_a_skipped_step_is_not_a_valid_path() -> None:
    rows = [("submit", "DRAFT", "SUBMITTED"), ("approve", "SUBMITTED", "APPROVED")]
    assert path_errors(rows, ClaimStatus.APPROVED) is not None


def test_a_history_that_ends_elsewhere_than_the_claim_is_not_valid() -> None:
    rows = [("submit", "DRAFT", "SUBMITTED")]
    assert "ends in SUBMITTED" in (path_errors(rows, ClaimStatus.APPROVED) or "")


def test_a_doubled_transition_is_not_a_valid_path() -> None:
    rows = [("submit", "DRAFT", "SUBMITTED"), ("submit", "DRAFT", "SUBMITTED")]
    assert path_errors(rows, ClaimStatus.SUBMITTED) is not None


def test_bench_claims_are_valid_unique_and_within_the_auto_approval_threshold() -> None:
    claims = [queued_claim(WORLD, seq, tag="t", today=TODAY) for seq in range(2000)]
    keys = {
        (c["userId"], c["serviceDate"], c["procedureCode"], c["providerName"].lower())
        for c in claims
    }
    assert len(keys) == len(claims)
    for claim in claims[:50]:
        QueuedClaim.model_validate(claim, context={"today": TODAY, "filing_window_days": 365})
    assert all(Decimal("20.00") <= claimed_amount(seq) <= Decimal("100.00") for seq in range(9000))


def test_a_bench_claim_is_approved_automatically() -> None:
    decision = adjudicate(
        ClaimFacts(
            ProcedureType.CONSULTATION,
            "C10101",
            date(2026, 6, 1),
            claimed_amount(7),
            frozenset({DocumentType.RECEIPT}),
        ),
        EnrolmentFacts(date(2020, 1, 1), None, MemberPlanStatus.ACTIVE),
        PlanFacts(Decimal("0.00"), Decimal("5000.00")),
        [
            CoverageFacts(
                1,
                ProcedureType.CONSULTATION,
                None,
                Decimal(80),
                Decimal("0.00"),
                True,
                None,
                0,
                False,
                date(2020, 1, 1),
                None,
                True,
            )
        ],
        YearToDate(),
        auto_approval_threshold=Decimal("100.00"),
    )
    assert decision.decision is Decision.APPROVE


def test_profile_samples_are_classified_by_what_the_thread_was_doing() -> None:
    assert classify(["run (x.py)", "Connection.wait (psycopg/connection.py)"]) == (
        "waiting on PostgreSQL"
    )
    assert classify(["_epoll.poll (kombu/utils/eventio.py)"]) == "idle (waiting for work)"
    assert classify(["adjudicate (models/adjudication.py)", "<genexpr> (decimal.py)"]) == (
        "adjudication rules"
    )
    stack = 'process 1:"celery";process 2:"celery";main (a.py)'
    assert _process_of(stack) == "2"


def test_targets_are_marked_against_their_bounds() -> None:
    assert at_least("x", 10_000, "claims/s", 10_000).passed
    assert not at_least("x", 9_999, "claims/s", 10_000).passed
    assert below("x", 99.9, "ms", 100).passed
    assert not below("x", 100, "ms", 100).passed
    assert at_most("x", 10, "%", 10).passed
    assert not at_least("x", None, "claims/s", 1).passed


def test_a_result_without_phases_has_no_figures() -> None:
    assert figures({}) == []


def test_cpu_per_transition_counts_the_service_and_its_backends_only() -> None:
    from bench.report import cpu_per_transition_ms

    phase = {
        "claims": 1000,
        "cpu": {
            "cpu_seconds": {
                "worker 0": 0.9,
                "relay": 0.1,
                "postgres backends (bench databases)": 0.5,
                "postgres (all processes, shared server)": 9.0,
                "everything else on the machine": 50.0,
            }
        },
    }
    assert cpu_per_transition_ms(phase) == 0.5  # 1.5 s over 3,000 transitions
    assert cpu_per_transition_ms({"claims": 10, "cpu": {}}) is None


def test_the_pipeline_is_reported_as_a_share_of_postgresql_alone() -> None:
    results = {
        "pipeline": {
            "claims_per_s": 2500.0,
            "layout": "prefork",
            "workers": 2,
            "latency_enqueue_to_decision": {"p50_ms": 1, "p99_ms": 2},
            "latency_submit_to_decision": {"p99_ms": 1},
        },
        "ceiling": {"claims_per_s": 10000.0, "connections": 2},
        "http_bare": {"requests_per_s": 1000.0, "concurrency": 32, "latency": {"p99_ms": 20}},
        "http_ratio_to_bare": 1.6,
        "http_open_loop": {
            "open_loop_rate": 500.0,
            "requests_per_s": 499.0,
            "latency": {"p99_ms": 25.0},
            "errors_non_202": 0,
        },
    }
    rows = {row.name: row for row in figures(results)}
    assert rows["pipeline / PostgreSQL alone"].value == 25.0
    assert rows["POST /claims / bare endpoint"].passed is True
    assert rows["POST /claims open loop at 500 req/s (half bare): p99"].passed is True


def test_cpu_of_a_process_is_read_from_proc() -> None:
    before = cpu_seconds(os.getpid())
    assert before is not None
    deadline = time.process_time() + 0.05
    while time.process_time() < deadline:
        pass
    assert (cpu_seconds(os.getpid()) or 0.0) - before >= 0.03

"""The ``plan`` command line: the web process, the relay, Flower, seeding, dead letters, history
verification, development tokens, diagrams."""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Sequence
from types import FrameType

from config import get_settings


def _relay(_: argparse.Namespace) -> int:
    from worker import app
    from worker.logs import configure_logging
    from worker.relay import OutboxRelay

    configure_logging(get_settings())
    stopping = False

    def stop(_signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    OutboxRelay(app).run(should_stop=lambda: stopping)
    return 0


def _flower(args: argparse.Namespace) -> int:
    from worker.flower_auth import run_flower

    settings = get_settings()
    return run_flower(
        credentials=settings.flower_basic_auth.get_secret_value(),
        address=settings.flower_address,
        port=settings.flower_port,
        broker_api=(
            None
            if settings.broker_management_url is None
            else settings.broker_management_url.get_secret_value()
        ),
        extra=args.extra,
    )


def _web(_: argparse.Namespace) -> int:
    from api.server import serve

    serve(get_settings())
    return 0


def _seed(_: argparse.Namespace) -> int:
    from devtools.seed import main

    main()
    return 0


def _dead_letters(args: argparse.Namespace) -> int:
    from service.dead_letters import list_dead_letters, take_for_replay

    if args.action == "list":
        letters = list_dead_letters(include_replayed=args.all, limit=args.limit)
        for letter in letters:
            print(
                json.dumps(
                    {
                        "id": letter.id,
                        "task": letter.task_name,
                        "queue": letter.queue,
                        "reason": letter.reason,
                        "errors": letter.errors,
                        "createdAt": letter.created_at.isoformat(),
                        "replayedAt": letter.replayed_at.isoformat()
                        if letter.replayed_at
                        else None,
                    }
                )
            )
        print(f"{len(letters)} dead letter(s)", file=sys.stderr)
        return 0
    for dead_letter_id in args.ids:
        try:
            task_name, queue = take_for_replay(dead_letter_id)
        except LookupError as missing:
            print(missing, file=sys.stderr)
            return 1
        print(f"dead letter {dead_letter_id} re-queued for {task_name} on {queue}")
    return 0


def _history(args: argparse.Namespace) -> int:
    from service.history import verify_history
    from storage.unit_of_work import PlanJourneyContext

    with PlanJourneyContext() as ctx:
        verification = verify_history(ctx, claim_id=args.claim)
    for problem in verification.broken:
        print(problem.describe())
    print(
        f"{verification.claims_checked} claim(s) checked, {len(verification.broken)} with a "
        "history that was edited, deleted or reordered",
        file=sys.stderr,
    )
    return 1 if verification.broken else 0


def _token(args: argparse.Namespace) -> int:
    from api.auth import issue_token

    print(issue_token(get_settings(), subject=args.sub, role=args.role, ttl_s=args.ttl))
    return 0


def _diagram(_: argparse.Namespace) -> int:
    from models.lifecycle import mermaid_diagram

    sys.stdout.write(mermaid_diagram())
    return 0


def _diagram_doc(_: argparse.Namespace) -> int:
    from pathlib import Path

    from models.lifecycle import lifecycle_document

    target = Path(__file__).resolve().parents[1] / "docs" / "lifecycle.md"
    target.write_text(lifecycle_document())
    print(f"wrote {target}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="plan", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("web", help="serve the HTTP API (uvicorn)").set_defaults(run=_web)
    commands.add_parser("relay", help="publish outbox rows to the broker").set_defaults(run=_relay)
    commands.add_parser("seed", help="write the development seed data").set_defaults(run=_seed)
    flower = commands.add_parser("flower", help="start Flower, every page behind FLOWER_BASIC_AUTH")
    flower.add_argument("extra", nargs="*", help="further Flower options")
    flower.set_defaults(run=_flower)
    dead = commands.add_parser(
        "dead-letters", help="list or replay messages the workers gave up on"
    )
    dead.add_argument("action", choices=["list", "replay"])
    dead.add_argument("ids", nargs="*", type=int)
    dead.add_argument("--all", action="store_true", help="include replayed ones")
    dead.add_argument("--limit", type=int, default=100)
    dead.set_defaults(run=_dead_letters)
    history = commands.add_parser(
        "history", help="verify the hash chains of the claims' status history"
    )
    history.add_argument("action", choices=["verify"])
    history.add_argument("--claim", type=int, help="verify one claim only")
    history.set_defaults(run=_history)
    token = commands.add_parser("token", help="print a development JWT")
    token.add_argument("--role", choices=["member", "reviewer", "admin"], default="member")
    token.add_argument("--sub", default="seed-user-1")
    token.add_argument("--ttl", type=int, default=3600)
    token.set_defaults(run=_token)
    commands.add_parser("diagram", help="print the lifecycle as mermaid").set_defaults(run=_diagram)
    commands.add_parser("diagram-doc", help="rewrite docs/lifecycle.md").set_defaults(
        run=_diagram_doc
    )
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    raise SystemExit(main())

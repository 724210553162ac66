"""What ``make up`` does before honcho starts the Procfile: ``.env``, seed, and what to read.

``python -m devtools.up env NAME=value ...`` writes the resolved server URLs into the project's
``.env`` (created from nothing the first time, with a development JWT secret and a Flower
password of its own; later runs keep every other line as the person left it).
``python -m devtools.up seed`` seeds the database when it holds no plan yet.
``python -m devtools.up banner`` prints the URLs, where the Flower password is, and how to stop.
"""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import psycopg

from config.settings import PROJECT_ENV_FILE, Settings, env_file, get_settings
from storage.engine import database_url

HEADER = (
    "# Written by `make up` (edit freely: later runs only update the server URLs).\n"
    "# Read by the settings (the environment wins), honcho, and every make target.\n"
)


def fresh_defaults() -> dict[str, str]:
    return {
        "ENVIRONMENT": "development",
        "PORT": "8000",
        "FLOWER_PORT": "5555",
        "JWT_SECRET": secrets.token_urlsafe(32),
        "FLOWER_BASIC_AUTH": f"admin:{secrets.token_urlsafe(12)}",
        "LOG_JSON": "false",
    }


def updated_env_text(current: str, values: Mapping[str, str]) -> str:
    """``current`` with ``values`` set: lines replaced in place, missing names appended."""
    pending = dict(values)
    lines: list[str] = []
    for line in current.splitlines():
        name, sep, _ = line.partition("=")
        key = name.strip().removeprefix("export ").strip()
        if sep and not line.lstrip().startswith("#") and key in pending:
            lines.append(f"{key}={pending.pop(key)}")
        else:
            lines.append(line)
    lines += [f"{key}={value}" for key, value in pending.items()]
    return "\n".join(lines) + "\n"


def write_env(path: Path, resolved: Mapping[str, str]) -> bool:
    """Set ``resolved`` in ``path``; returns whether the file was created."""
    created = not path.exists()
    current = HEADER if created else path.read_text()
    values = {**(fresh_defaults() if created else {}), **resolved}
    path.write_text(updated_env_text(current, values))
    path.chmod(0o600)
    return created


def plans_stored(settings: Settings) -> int:
    conninfo = database_url(settings).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(conninfo, connect_timeout=10) as connection:
        row = connection.execute("SELECT count(*) FROM plan.plans").fetchone()
    return int(row[0]) if row else 0


def seed_if_empty(settings: Settings) -> None:
    if plans_stored(settings):
        print("up: the database already holds plans; not seeding")
        return
    from devtools.seed import main as seed

    seed()


def banner(settings: Settings, env_file: Path) -> str:
    user = settings.flower_basic_auth.get_secret_value().partition(":")[0]
    web = f"http://127.0.0.1:{settings.port}"
    return "\n".join(
        [
            "",
            "Plan Service: web, worker, relay, beat and Flower start below (honcho, Procfile).",
            f"  API docs     {web}/docs        readiness {web}/ready",
            f"  Flower       http://127.0.0.1:{settings.flower_port}   user {user!r}, "
            f"password: FLOWER_BASIC_AUTH in {env_file}",
            f"  database     {database_url(settings).render_as_string()}",
            f"  broker       {_redacted_broker(settings)}",
            "  a token      make token ROLE=member SUB=seed-user-1   (or ROLE=reviewer / admin)",
            f'  try it       curl -H "Authorization: Bearer $(make -s token)" {web}/me/plans',
            "  stop         Ctrl-C stops every process; `make services-stop` stops private servers",
            "",
        ]
    )


def _redacted_broker(settings: Settings) -> str:
    url = settings.broker_url.get_secret_value()
    scheme, sep, rest = url.partition("://")
    credentials, at, location = rest.rpartition("@")
    if not at or ":" not in credentials:
        return url
    return f"{scheme}{sep}{credentials.partition(':')[0]}:***@{location}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.up", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    env = commands.add_parser("env", help="write the resolved settings into .env")
    env.add_argument("values", nargs="*", metavar="NAME=value")
    commands.add_parser("seed", help="seed the database if it holds no plan yet")
    commands.add_parser("banner", help="print what a person needs to use the running service")
    args = parser.parse_args(argv)
    target = env_file() or PROJECT_ENV_FILE
    if args.command == "env":
        resolved = dict(value.split("=", 1) for value in args.values if "=" in value)
        created = write_env(target, resolved)
        print(f"up: {'wrote' if created else 'updated'} {target}", file=sys.stderr)
    elif args.command == "seed":
        seed_if_empty(get_settings())
    else:
        print(banner(get_settings(), target))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

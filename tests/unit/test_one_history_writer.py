"""One history writer: only the service's change set inserts into claim_status_history,
claim_actions and outbox.

The shipped source is read, not run: SQL text that inserts into either table, and calls that
insert rows of either table (``insert``, ``insert_rows``, ``session.add`` of a new row ...),
are looked for in every module but ``service/changes.py``.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WRITER = "service/changes.py"
# The benchmarks are not the service: what the bench compares it with (the plain-Celery
# baseline, the bare FastAPI endpoint) writes its own rows on purpose, and the growth run
# fills a throwaway database with 1,000,000 stored claims in SQL.
EXEMPT = ("bench/",)
WRITTEN_TABLES = ("claim_status_history", "claim_actions", "outbox")
MODELS = {"ClaimStatusHistory", "ClaimAction", "OutboxMessage"}
INSERTING_CALLS = {
    "insert",
    "pg_insert",
    "insert_rows",
    "add",
    "add_all",
    "bulk_insert_mappings",
    "bulk_save_objects",
    "merge",
}
SQL_INSERT = re.compile(
    r"\bINSERT\s+INTO\s+(?:\"?plan\"?\s*\.\s*)?\"?(" + "|".join(WRITTEN_TABLES) + r")\b",
    re.IGNORECASE,
)
COPY_INTO = re.compile(
    r"\bCOPY\s+(?:\"?plan\"?\s*\.\s*)?\"?(" + "|".join(WRITTEN_TABLES) + r")\b", re.IGNORECASE
)


def shipped_packages() -> list[str]:
    """The packages pyproject.toml ships (``[tool.setuptools.packages.find] include``)."""
    with (ROOT / "pyproject.toml").open("rb") as file:
        include = tomllib.load(file)["tool"]["setuptools"]["packages"]["find"]["include"]
    return sorted({pattern.rstrip("*") for pattern in include})


def shipped_modules() -> Iterator[tuple[str, str]]:
    for package in shipped_packages():
        for path in sorted((ROOT / package).rglob("*.py")):
            yield path.relative_to(ROOT).as_posix(), path.read_text()


# Calls that hand a table on: ``cast(sa.Table, ...)``, ``alias(...)``, and any helper with
# "table" in its name (``table_of(ClaimStatusHistory)``, ``_table(Document)``).
TABLE_CALLS = {"cast", "alias", "aliased"}


def is_table(node: ast.AST, aliases: set[str]) -> bool:
    """Whether ``node`` stands for one of the tables: a model or an alias, an attribute of one
    (``OutboxMessage.__table__``), or a call that hands one on."""
    if isinstance(node, ast.Name):
        return node.id in aliases
    if isinstance(node, ast.Attribute):
        return is_table(node.value, aliases)
    if isinstance(node, ast.Call):
        name = _called_name(node) or ""
        hands_on = name in TABLE_CALLS or "table" in name.lower()
        return hands_on and any(is_table(argument, aliases) for argument in node.args)
    return False


def table_aliases(tree: ast.Module, imported: set[str]) -> set[str]:
    """The names a module binds to the tables: the models, and names assigned a table."""
    aliases = MODELS | imported
    assignments = [
        (target.id, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Assign)
        for target in node.targets
        if isinstance(target, ast.Name)
    ]
    grown = True
    while grown:
        before = len(aliases)
        aliases |= {name for name, value in assignments if is_table(value, aliases)}
        grown = len(aliases) > before
    return aliases


def _called_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def inserting_calls(source: str, imported: Iterable[str] = ()) -> list[int]:
    """Lines of calls that insert rows of the tables, or build a new row of their models."""
    tree = ast.parse(source)
    aliases = table_aliases(tree, set(imported))
    lines = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _called_name(node)
        targets = [*node.args, *(keyword.value for keyword in node.keywords)]
        if isinstance(node.func, ast.Attribute):
            targets.append(node.func.value)  # table.insert()
        inserts = name in INSERTING_CALLS and any(is_table(t, aliases) for t in targets)
        if inserts or (isinstance(node.func, ast.Name) and name in MODELS):
            lines.append(node.lineno)
    return lines


def sql_inserts(source: str) -> list[int]:
    return [
        source.count("\n", 0, match.start()) + 1
        for pattern in (SQL_INSERT, COPY_INTO)
        for match in pattern.finditer(source)
    ]


def writer_exports() -> set[str]:
    """Names the change set binds to the tables (``history_t``, ...)."""
    tree = ast.parse((ROOT / WRITER).read_text())
    return table_aliases(tree, set()) - MODELS


def imported_aliases(source: str, exports: set[str]) -> set[str]:
    return {
        alias.asname or alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module == WRITER[:-3].replace("/", ".")
        for alias in node.names
        if alias.name in exports
    }


def test_the_scan_sees_the_shipped_packages_and_the_writer() -> None:
    modules = dict(shipped_modules())
    assert {"service/changes.py", "devtools/seed.py", "api/app.py"} <= set(modules)
    assert sql_inserts(modules[WRITER]) or inserting_calls(modules[WRITER])


def test_only_the_change_set_inserts_history_action_or_outbox_rows() -> None:
    exports = writer_exports()
    writers = {
        name: sorted(
            sql_inserts(source) + inserting_calls(source, imported_aliases(source, exports))
        )
        for name, source in shipped_modules()
        if name != WRITER and not name.startswith(EXEMPT)
    }
    assert {name: lines for name, lines in writers.items() if lines} == {}


def test_the_exemptions_still_exist() -> None:
    for name in EXEMPT:
        assert (ROOT / name).exists(), f"{name} is exempt but gone: drop it from EXEMPT"
    assert not WRITER.startswith(EXEMPT)


def test_the_scan_catches_each_way_of_writing_those_tables() -> None:
    caught = [
        'ctx.execute(sa.text("INSERT INTO plan.claim_status_history (claim_id) VALUES (1)"))',
        "sql = '''insert into outbox (kind) values ('task')'''",
        "insert_rows(ctx, table_of(ClaimStatusHistory), rows)",
        "history = table_of(ClaimStatusHistory)\ninsert_rows(ctx, history, rows)",
        "t = OutboxMessage.__table__\nctx.execute(t.insert().values(kind='task'))",
        "ctx.execute(pg_insert(OutboxMessage).values(rows))",
        "ctx.execute(pg_insert(_table(ClaimStatusHistory)).values(rows))",
        "ctx.session.add(ClaimStatusHistory(claim_id=1))",
    ]
    for source in caught:
        assert sql_inserts(source) or inserting_calls(source), source
    assert inserting_calls("insert_rows(ctx, mine, rows)", {"mine"})


def test_the_scan_lets_reads_and_other_tables_pass() -> None:
    passed = [
        'ctx.execute(sa.text("SELECT * FROM plan.outbox WHERE published_at IS NULL"))',
        "ctx.execute(sa.select(ClaimStatusHistory.event_id))",
        "insert_rows(ctx, table_of(Document), rows)",
        "outbox_t = table_of(OutboxMessage)\nupdate_rows(ctx, outbox_t, rows)",
        'ctx.execute(sa.text("INSERT INTO plan.outbox_archive (id) VALUES (1)"))',
        "queued = ctx.execute(sa.select(ClaimAction)).all()\ninsert_rows(ctx, documents_t, queued)",
        "ctx.session.add(Document(claim_id=ClaimStatusHistory.claim_id))",
    ]
    for source in passed:
        assert not sql_inserts(source) and not inserting_calls(source), source

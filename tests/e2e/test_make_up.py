"""`make up` from a fresh clone runs the whole service, and Ctrl-C leaves nothing behind.

The clone is of this checkout's committed HEAD, in a temporary folder. It reuses the virtual
environment running the tests (``VENV=``, with the clone's ``pyproject.toml`` dated before the
venv's install stamp so that make does not reinstall, and ``PYTHONPATH`` on the clone so that
its code, not this checkout's editable install, is what runs). The servers are this test's own
database and broker, named by DATABASE_URL and BROKER_URL as a person would configure them;
the ports are free ones.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from devtools.processes import ROOT, free_port, inherited_environment
from models.names import TaskName
from tests.support.harness import Harness, wait_until

DECIDED_BY_THE_WORKER = {"APPROVED", "REJECTED", "ADDITIONAL_INFO_REQUIRED"}


def fresh_clone(target: Path, venv: Path) -> Path:
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(target)], check=True)
    stamp = (venv / ".installed-stamp").stat().st_mtime
    os.utime(target / "pyproject.toml", (stamp - 60, stamp - 60))
    return target


def processes_in(folder: Path) -> list[int]:
    """Pids of the processes whose working directory is ``folder`` (honcho and its children)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = (entry / "cwd").resolve()
        except OSError:
            continue
        if cwd == folder or folder in cwd.parents:
            found.append(int(entry.name))
    return found


def dotenv(clone: Path) -> dict[str, str]:
    lines = (clone / ".env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def claim(member_plan_id: int) -> dict[str, Any]:
    return {
        "memberPlanId": member_plan_id,
        "procedureType": "CONSULTATION",
        "procedureCode": "C10101",
        "diagnosisCode": "J45.909",
        "providerName": "Clinic make-up",
        "serviceDate": (date.today() - timedelta(days=3)).isoformat(),
        "amount": "60.00",
        "currency": "BRL",
        "documents": [
            {
                "type": "RECEIPT",
                "fileName": "receipt.pdf",
                "mimeType": "application/pdf",
                "sizeBytes": 2048,
            }
        ],
    }


def answer(url: str, **kwargs: Any) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5, **kwargs)
    except httpx.HTTPError:
        return None


@pytest.mark.timeout(420)
def test_make_up_from_a_fresh_clone_serves_decides_and_stops_on_ctrl_c(
    harness: Harness, tmp_path: Path
) -> None:
    venv = Path(sys.prefix)
    clone = fresh_clone(tmp_path / "plan-service", venv).resolve()
    web_port, flower_port = free_port(), free_port()
    env = {
        **inherited_environment(),
        "VENV": str(venv),
        "PYTHONPATH": str(clone),
        "DATABASE_URL": harness.database_url,
        "BROKER_URL": harness.broker_url,
        "PORT": str(web_port),
        "FLOWER_PORT": str(flower_port),
    }
    log = (tmp_path / "make-up.log").open("wb")
    up = subprocess.Popen(
        ["make", "up"],
        cwd=clone,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    web = f"http://127.0.0.1:{web_port}"
    try:
        wait_until(
            lambda: (
                up.poll() is None
                and (ready := answer(f"{web}/ready")) is not None
                and ready.status_code == 200
            ),
            timeout=240,
            interval=0.5,
            what=f"/ready of `make up` (log: {tmp_path / 'make-up.log'})",
        )
        token = subprocess.run(
            ["make", "-s", "token"],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        member = {"Authorization": f"Bearer {token}"}
        plans = httpx.get(f"{web}/me/plans", headers=member, timeout=10).json()["items"]
        created = httpx.post(
            f"{web}/claims", json=claim(plans[0]["id"]), headers=member, timeout=10
        )
        assert created.status_code == 202, created.text
        claim_id = created.json()["id"]
        decided = wait_until(
            lambda: (
                (seen := httpx.get(f"{web}/claims/{claim_id}", headers=member, timeout=10)).json()[
                    "status"
                ]
                in DECIDED_BY_THE_WORKER
                and seen.json()
            ),
            timeout=60,
            what="the worker to decide the claim",
        )
        assert [row["event"] for row in decided["history"]][:2] == ["submit", "start_review"]

        user, _, password = dotenv(clone)["FLOWER_BASIC_AUTH"].partition(":")
        succeeded = wait_until(
            lambda: (
                (seen := answer(f"http://127.0.0.1:{flower_port}/api/tasks", auth=(user, password)))
                is not None
                and seen.status_code == 200
                and {t["name"] for t in seen.json().values() if t["state"] == "SUCCESS"}
            ),
            timeout=60,
            what="Flower to show the worker's tasks",
        )
        assert succeeded & set(TaskName), succeeded  # the task that decided the claim
    finally:
        os.killpg(up.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        try:
            up.wait(60)
        finally:
            log.close()
    wait_until(
        lambda: not processes_in(clone), timeout=30, what="every process of `make up` to end"
    )

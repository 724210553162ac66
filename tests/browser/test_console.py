"""A reviewer's day in the console, in headless chromium: sign in, filter the queue, take a
claim, approve a partial amount; a second reviewer who finds it taken; a member refused."""

from __future__ import annotations

from playwright.sync_api import Browser, expect

from api.auth import issue_token
from config import get_settings
from tests.browser.conftest import Screens, new_context, sign_in
from tests.support.factories import make_world
from tests.support.harness import Harness
from tests.support.review import reviewer, take, waiting_claim

MEMBER = "member-1"
OTHER = "member-2"


def test_sign_in_filter_take_and_approve_a_partial_amount(
    harness: Harness, chromium: Browser, console_url: str, screens: Screens
) -> None:
    world = make_world(users=(MEMBER, OTHER))
    target = waiting_claim(harness, world, MEMBER, amount="800.00")
    large = waiting_claim(harness, world, MEMBER, amount="2500.00")
    preventive = waiting_claim(harness, world, OTHER, amount="300.00", procedure_type="PREVENTIVE")
    context = new_context(chromium, console_url)
    page = context.new_page()

    page.goto("/console")
    expect(page).to_have_url(f"{console_url}/console/sign-in")
    screens.shot(page, "sign-in")
    sign_in(page, "reviewer-1")
    rows = page.get_by_test_id("queue-row")
    expect(rows).to_have_count(3)
    screens.shot(page, "queue")

    page.get_by_test_id("filter-procedure").select_option("PREVENTIVE")
    page.get_by_test_id("apply-filters").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-claim-id", str(preventive))
    page.get_by_test_id("filter-procedure").select_option("")
    page.get_by_test_id("filter-min-amount").fill("500")
    page.get_by_test_id("filter-max-amount").fill("1000")
    page.get_by_test_id("apply-filters").click()
    expect(rows).to_have_count(1)
    row = page.locator(f'[data-testid="queue-row"][data-claim-id="{target}"]')
    expect(row).to_contain_text("800.00")
    screens.shot(page, "queue-filtered")
    assert large != target

    row.get_by_test_id("take").click()
    expect(page).to_have_url(f"{console_url}/console/claims/{target}?done=take")
    expect(page.get_by_test_id("claim-status")).to_have_text("UNDER_REVIEW")
    amount = page.get_by_test_id("approved-amount")
    expect(amount).to_have_value("640.00")  # the suggested benefit: 80 % of 800.00
    screens.shot(page, "claim-taken")

    page.get_by_test_id("approve-partial").click()
    expect(page.get_by_test_id("claim-status")).to_have_text("APPROVED")
    expect(page.get_by_test_id("action-status")).to_contain_text("applied")
    approval = page.locator('[data-testid="history-row"][data-event="approve"]')
    expect(approval).to_have_count(1)
    expect(approval).to_contain_text("reviewer-1")
    expect(page.get_by_test_id("actions")).to_contain_text("nothing is left to decide")
    screens.shot(page, "claim-approved")
    assert harness.scalar(
        "SELECT approved_amount::text FROM plan.claims WHERE id = %s", (target,)
    ) == "640.00"
    context.close()


def test_a_second_reviewer_sees_the_claim_taken_and_cannot_decide(
    harness: Harness, chromium: Browser, console_url: str, screens: Screens
) -> None:
    world = make_world(users=(MEMBER,))
    claim_id = waiting_claim(harness, world, MEMBER, amount="900.00")
    take(claim_id, reviewer("reviewer-1"))
    context = new_context(chromium, console_url)
    page = context.new_page()

    sign_in(page, "reviewer-2")
    row = page.locator(f'[data-testid="queue-row"][data-claim-id="{claim_id}"]')
    expect(row.get_by_test_id("assignment")).to_have_text("reviewer-1")
    expect(row.get_by_test_id("take")).to_have_count(0)
    screens.shot(page, "queue-taken-by-another")

    page.goto(f"/console/claims/{claim_id}")
    expect(page.get_by_test_id("taken-by")).to_contain_text("reviewer-1")
    for control in ("approve", "approve-partial", "reject", "request-info", "release", "take"):
        expect(page.get_by_test_id(control)).to_have_count(0)
    screens.shot(page, "claim-taken-by-another")
    context.close()


def test_a_members_token_is_refused_by_the_console(
    harness: Harness, chromium: Browser, console_url: str, screens: Screens
) -> None:
    token = issue_token(get_settings(), subject=MEMBER, role="member", ttl_s=600)
    context = new_context(chromium, console_url)
    page = context.new_page()

    page.goto("/console/sign-in")
    page.get_by_test_id("token").fill(token)
    page.get_by_test_id("sign-in-token").click()
    expect(page.get_by_test_id("error")).to_contain_text("reviewers and administrators")
    screens.shot(page, "member-token-refused")
    page.goto("/console")
    expect(page).to_have_url(f"{console_url}/console/sign-in")
    context.close()

    forwarded = chromium.new_context(
        base_url=console_url, extra_http_headers={"Authorization": f"Bearer {token}"}
    )
    page = forwarded.new_page()
    response = page.goto("/console")
    assert response is not None and response.status == 403
    expect(page.get_by_test_id("refused")).to_contain_text("reviewers and administrators")
    forwarded.close()


def test_four_eyes_in_two_browsers(
    harness: Harness, chromium: Browser, console_url: str, screens: Screens
) -> None:
    world = make_world(users=(MEMBER,))
    claim_id = waiting_claim(harness, world, MEMBER, amount="8000.00")
    first, second = new_context(chromium, console_url), new_context(chromium, console_url)
    one, two = first.new_page(), second.new_page()
    sign_in(one, "reviewer-1")
    sign_in(two, "reviewer-2")

    one.goto(f"/console/claims/{claim_id}")
    one.get_by_test_id("take").click()
    one.get_by_test_id("approve").click()
    expect(one.get_by_test_id("action-status")).to_have_attribute("data-status", "applied")
    expect(one.get_by_test_id("claim-status")).to_have_text("UNDER_REVIEW")
    expect(one.get_by_test_id("pending-approval")).to_contain_text("6,400.00")
    screens.shot(one, "first-approval-pending")

    two.goto("/console?awaitingSecondApproval=true")
    row = two.locator(f'[data-testid="queue-row"][data-claim-id="{claim_id}"]')
    expect(row.get_by_test_id("awaiting-second-approval")).to_be_visible()
    screens.shot(two, "queue-awaiting-second-approval")
    row.get_by_test_id("take").click()
    expect(two.get_by_test_id("pending-approval")).to_contain_text("reviewer-1")
    two.get_by_test_id("approve").click()
    expect(two.get_by_test_id("claim-status")).to_have_text("APPROVED")
    approval = two.locator('[data-testid="history-row"][data-event="approve"]')
    expect(approval).to_contain_text("reviewer-2")
    expect(approval.get_by_test_id("first-approver")).to_contain_text("reviewer-1")
    screens.shot(two, "second-approval-approved")
    first.close()
    second.close()

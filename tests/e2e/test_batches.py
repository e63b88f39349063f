"""Batch jobs in real headless Chromium against the real server and the real worker (daphne
and `manage.py batch_worker` in processes of their own, the fake API over HTTP): upload a
small CSV, watch the progress reach the end, read the results, download them. Every control
has a name a screen reader reads; the form is used from the keyboard. Screenshots (light,
dark, phone) go to tests/e2e/screenshots/."""

import csv
import io
import os
import subprocess
import sys
import time

import pytest

from chatapp.batches.models import BatchJob
from chatapp.usage.models import UsagePolicy, UsageRecord

from .. import live
from . import test_browser
from .test_manage import DESKTOP, PHONE, SCREENSHOTS, expect, shoot

pytestmark = pytest.mark.browser

live_server_url = test_browser.live_server_url
page = test_browser.page

TICKETS = (
    "custom_id,prompt\n"
    "t-1,I was charged twice for my subscription\n"
    "t-2,The app crashes when I open settings\n"
    "t-3,Where is my parcel?\n"
    "t-4,I was charged twice for my subscription\n"
    + "".join(f"t-{n},Ticket number {n}: please help\n" for n in range(5, 13))
)
ROWS = 12

# Every control must have a name: a label, aria-label(ledby) or its own text.
UNNAMED_CONTROLS = """() => [...document.querySelectorAll(
  'input:not([type=hidden]), select, textarea, button, a[href], [tabindex="0"]')]
  .filter((el) => {
    if (el.closest('[hidden]')) return false;
    const labels = el.labels ? [...el.labels] : [];
    const labelled = labels.some((l) => l.textContent.trim());
    const aria = el.getAttribute('aria-label') || el.getAttribute('aria-labelledby');
    const text = (el.textContent || el.value || '').trim();
    return !(labelled || aria || (['BUTTON', 'A'].includes(el.tagName) && text));
  }).map((el) => el.outerHTML.slice(0, 120))"""


@pytest.fixture
def worker(live_server_url, fake_api):
    """The batch worker, as `serve` runs it, on the live server's database."""
    UsagePolicy.objects.update_or_create(
        pk=1,
        defaults={"requests_per_minute": 0, "max_tokens_cap": 8192},
    )
    process = subprocess.Popen(
        [sys.executable, "manage.py", "batch_worker"],
        cwd=live.ROOT,
        env={
            **os.environ,
            "DATABASE_URL": live.database_url(),
            "ANTHROPIC_BASE_URL": fake_api.base_url,
            "ANTHROPIC_API_KEY": "test-key",
            "BATCH_POLL_SECONDS": "0.3",
            "BATCH_POLL_MAX_SECONDS": "0.5",
            "BATCH_WORKER_IDLE_SECONDS": "0.2",
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    yield process
    process.terminate()
    process.wait(timeout=30)


def shoot_whole(page, name: str) -> None:
    """The whole page, not just what the window shows, in both colour schemes."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.wait_for_timeout(300)
        page.screenshot(path=SCREENSHOTS / f"{name}-{scheme}.png", full_page=True)
    page.emulate_media(color_scheme="light")


def log_in_to_batches(page, base_url, *, from_the_chat=False):
    page.set_viewport_size(DESKTOP)
    page.goto(base_url + ("/" if from_the_chat else "/batches/"))
    page.fill("#id_username", "owner")
    page.fill("#id_password", "pw-owner")
    page.click("button[type=submit]")
    if from_the_chat:  # the chat page links to the batch jobs
        link = page.get_by_role("link", name="Batch jobs")
        expect(link).to_be_visible()
        shoot(page, "batches-chat-link", schemes=("light",))
        link.click()
    expect(page.get_by_role("heading", name="Batch jobs", exact=True)).to_be_visible()


def test_upload_a_csv_watch_it_run_and_download_the_results(
    live_server_url, worker, page, fake_api, owner, tmp_path
):
    fake_api.set_batch_live_counts(True)
    fake_api.set_batch_speed(3)  # about 4 s for the 11 requests sent
    fake_api.set_batch_scenarios({"r3": {"kind": "http_error", "status": 529}})
    log_in_to_batches(page, live_server_url, from_the_chat=True)
    assert page.evaluate(UNNAMED_CONTROLS) == []
    expect(page.get_by_text("No batch jobs yet.")).to_be_visible()

    # The form, from the keyboard: each field reached with Tab, by its name.
    page.get_by_label("File of prompts").set_input_files(
        {"name": "tickets.csv", "mimeType": "text/csv", "buffer": TICKETS.encode()}
    )
    page.get_by_label("File of prompts").focus()
    page.keyboard.press("Tab")
    expect(page.get_by_role("combobox", name="Model")).to_be_focused()
    page.get_by_role("combobox", name="Model").select_option(label="Claude Haiku 4.5")
    page.keyboard.press("Tab")
    expect(page.get_by_role("spinbutton", name="Max tokens per answer")).to_be_focused()
    page.keyboard.press("Control+A")
    page.keyboard.type("300")
    page.keyboard.press("Tab")
    expect(page.get_by_role("textbox", name="System prompt")).to_be_focused()
    page.keyboard.type("Label each support ticket in one word.")
    page.keyboard.press("Tab")
    expect(page.get_by_role("checkbox", name="Cache the shared system prompt")).to_be_focused()
    page.keyboard.press("Space")
    shoot(page, "batches-upload")
    page.get_by_role("button", name="Check and queue the job").focus()
    page.keyboard.press("Enter")

    # The job page: progress moves while the API works, then the page shows the results.
    expect(page.get_by_role("heading", name="tickets.csv")).to_be_visible()
    job = BatchJob.objects.get()
    assert page.url.endswith(f"/batches/{job.pk}/")
    expect(page.locator("#count-reused")).to_have_text("1")
    processed = page.locator("#processed-bar")
    seen = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and len(seen) < 3:
        value = processed.get_attribute("value")
        if value is not None:
            seen.add(value)
        time.sleep(0.1)
    assert len(seen) >= 3, f"the progress bar did not move in steps: {seen}"
    shoot(page, "batches-running")
    expect(page.locator("#job-status-badge")).to_have_text("Ended", timeout=30_000)
    expect(page.locator("#imported-bar")).to_have_attribute("value", "11")
    expect(page.locator("#count-succeeded")).to_have_text("10")
    expect(page.locator("#count-errored")).to_have_text("1")
    table = page.get_by_role("region", name="Results table")
    expect(table.locator("tbody tr")).to_have_count(ROWS)
    expect(table.get_by_text("Ticket number 12: please help", exact=True)).to_be_visible()
    expect(table.get_by_text("overloaded", exact=False).first).to_be_visible()
    assert page.evaluate(UNNAMED_CONTROLS) == []
    shoot_whole(page, "batches-ended")
    page.set_viewport_size(PHONE)
    shoot_whole(page, "batches-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"the phone page scrolls sideways ({width}px)"
    page.set_viewport_size(DESKTOP)

    # The download, from the keyboard.
    page.get_by_role("link", name="Download CSV").focus()
    with page.expect_download() as download_info:
        page.keyboard.press("Enter")
    download = download_info.value
    assert download.suggested_filename == f"tickets-results-{job.pk}.csv"
    saved = tmp_path / "results.csv"
    download.save_as(saved)
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
    assert [row["custom_id"] for row in rows] == [f"t-{n}" for n in range(1, ROWS + 1)]
    assert rows[0]["prompt"] == "I was charged twice for my subscription"
    assert rows[0]["status"] == "succeeded" and rows[0]["output"]
    assert rows[3]["output"] == rows[0]["output"] and rows[3]["reused"] == "yes"
    assert rows[2]["status"] == "errored" and rows[2]["reason"]
    with page.expect_download() as jsonl_info:
        page.get_by_role("link", name="Download JSONL").click()
    assert jsonl_info.value.suggested_filename.endswith(".jsonl")

    # The ledger: one row per request sent, settled; the list shows the job and its cost.
    assert UsageRecord.objects.count() == 11
    assert not UsageRecord.objects.filter(status="reserved").exists()
    page.get_by_role("link", name="All batch jobs").click()
    jobs = page.get_by_role("region", name="Jobs table")
    expect(jobs.get_by_role("link", name="tickets.csv")).to_be_visible()
    expect(jobs.get_by_text("10 succeeded")).to_be_visible()
    shoot_whole(page, "batches-list")


def test_a_refused_upload_lists_its_rows_problems(live_server_url, page, owner):
    log_in_to_batches(page, live_server_url)
    bad = "custom_id,prompt\na,First\na,Second\nb c,\n"
    page.get_by_label("File of prompts").set_input_files(
        {"name": "bad.csv", "mimeType": "text/csv", "buffer": bad.encode()}
    )
    page.get_by_role("button", name="Check and queue the job").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("2 rows of 3 cannot be sent")
    expect(alert).to_contain_text("Row 2 (line 3): custom_id 'a' is also row 1's")
    expect(alert).to_contain_text("Row 3 (line 4): custom_id 'b c' may only hold")
    shoot(page, "batches-refused")
    page.set_viewport_size(PHONE)
    shoot(page, "batches-refused-phone", schemes=("dark",))
    assert BatchJob.objects.count() == 0

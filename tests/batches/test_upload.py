"""Creating a job: every problem of an uploaded file is found before anything is stored or
sent, row by row; a good file becomes a queued job whose every request holds its worst
case in the ledger; identical rows are one request; a job past the API's limits is split."""

from decimal import Decimal

import pytest
from django.urls import reverse

from chatapp.batches.models import BatchJob, BatchPart, BatchRequest, BatchRow
from chatapp.batches.params import JobSettings
from chatapp.batches.services import _part_requests
from chatapp.llm import catalogue
from chatapp.llm.models import ClaudeModel
from chatapp.usage.models import ModelPrice, UsageRecord
from chatapp.usage.pricing import most_it_can_cost

from .conftest import HAIKU, LIST, csv_bytes, jsonl_bytes, post_job, prompts

pytestmark = pytest.mark.usefixtures("no_budget")


@pytest.fixture
def logged_in(client, owner):
    client.force_login(owner)
    return client


def nothing_stored():
    assert BatchJob.objects.count() == 0
    assert BatchRequest.objects.count() == 0
    assert UsageRecord.objects.count() == 0


def refusal(response) -> str:
    assert response.status_code == 400, response.status_code
    return response.content.decode()


# --- a good file ---------------------------------------------------------------------


def test_a_csv_becomes_a_queued_job_whose_requests_hold_their_worst_case(logged_in, owner):
    response = post_job(logged_in, csv_bytes(prompts(3)), system="You sort support tickets.")

    job = BatchJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/batches/{job.pk}/"
    assert job.user == owner and job.status == "queued" and job.model == HAIKU
    assert (job.row_count, job.request_count, job.reused) == (3, 3, 0)
    assert list(job.batch_rows.values_list("number", "custom_id")) == [
        (1, "row-1"),
        (2, "row-2"),
        (3, "row-3"),
    ]
    part = BatchPart.objects.get()
    assert (part.status, part.requests, part.batch_id) == ("pending", 3, None)

    price = ModelPrice.objects.get(model=HAIKU).prices
    records = UsageRecord.objects.order_by("id")
    assert [r.status for r in records] == ["reserved"] * 3
    assert {(r.purpose, r.is_batch, r.user_id, r.model) for r in records} == {
        ("batch", True, owner.pk, HAIKU)
    }
    for request in BatchRequest.objects.select_related("usage_record"):
        bound = len(request.prompt.encode()) + len("You sort support tickets.")
        assert request.input_tokens_at_most == bound
        worst = most_it_can_cost(
            input_tokens_at_most=bound, max_tokens=200, prices=price, batch=True
        )
        assert request.usage_record.reserved_cost == pytest.approx(worst, abs=Decimal("1e-15"))
        # At the batch price: half of what the same call would hold in a chat.
        assert worst * 2 == most_it_can_cost(
            input_tokens_at_most=bound, max_tokens=200, prices=price
        )
    assert job.reserved_cost == sum(r.reserved_cost for r in records)


def test_a_jsonl_file_with_custom_ids_and_a_system_prompt_per_row(logged_in):
    data = jsonl_bytes(
        [
            {"custom_id": "ticket-7", "prompt": "Refund please"},
            {"custom_id": "ticket_8", "prompt": "Hola", "system": "Answer in Spanish."},
            {"prompt": "No id here"},
        ]
    )
    assert post_job(logged_in, data, name="t.jsonl", system="Be brief.").status_code == 302
    rows = BatchRow.objects.select_related("request").order_by("number")
    assert [(r.custom_id, r.request.system) for r in rows] == [
        ("ticket-7", "Be brief."),
        ("ticket_8", "Answer in Spanish."),
        ("row-3", "Be brief."),
    ]


def test_a_generated_id_never_takes_one_the_file_gives(logged_in):
    data = csv_bytes(
        [{"custom_id": "", "prompt": "first"}, {"custom_id": "row-1", "prompt": "second"}]
    )
    assert post_job(logged_in, data).status_code == 302
    assert list(BatchRow.objects.order_by("number").values_list("custom_id", flat=True)) == [
        "row-1-2",
        "row-1",
    ]


def test_a_csv_with_a_bom_other_columns_and_blank_lines(logged_in):
    data = (
        b"\xef\xbb\xbfID,Prompt,notes\r\n"
        b"A1,First question,x\r\n\r\n"
        b'A2,"Second,\nwith a newline",y\r\n'
    )
    assert post_job(logged_in, data).status_code == 302
    assert sorted(BatchRequest.objects.values_list("prompt", flat=True)) == [
        "First question",
        "Second,\nwith a newline",
    ]


# --- identical rows --------------------------------------------------------------------


def test_identical_rows_are_one_request_and_one_reservation(logged_in):
    rows = [
        {"prompt": "Same question"},
        {"prompt": "Other question"},
        {"prompt": "Same question"},
        {"prompt": "Same question", "system": "A different system prompt"},
        {"prompt": "Same question"},
    ]
    assert post_job(logged_in, csv_bytes(rows, ["prompt", "system"])).status_code == 302
    job = BatchJob.objects.get()
    assert (job.row_count, job.request_count, job.reused) == (5, 3, 2)
    assert UsageRecord.objects.count() == 3
    by_row = dict(BatchRow.objects.values_list("number", "request__custom_id"))
    assert by_row == {1: "r1", 2: "r2", 3: "r1", 4: "r3", 5: "r1"}
    firsts = dict(BatchRow.objects.values_list("number", "first"))
    assert firsts == {1: True, 2: True, 3: False, 4: True, 5: False}


# --- every refusal, before anything is stored --------------------------------------------


def test_a_duplicate_custom_id_is_refused_with_its_rows(logged_in):
    data = csv_bytes(
        [
            {"custom_id": "a", "prompt": "one"},
            {"custom_id": "b", "prompt": "two"},
            {"custom_id": "a", "prompt": "three"},
        ]
    )
    page = refusal(post_job(logged_in, data))
    assert "1 row of 3 cannot be sent" in page
    assert "Row 3 (line 4): custom_id &#x27;a&#x27; is also row 1&#x27;s" in page
    nothing_stored()


@pytest.mark.parametrize(
    ("custom_id", "problem"),
    [
        ("has space", "may only hold letters, digits, _ and -"),
        ("ticket#1", "may only hold letters, digits, _ and -"),
        ("x" * 65, "must be 1 to 64 characters long"),
    ],
)
def test_a_malformed_custom_id_is_refused(logged_in, custom_id, problem):
    data = jsonl_bytes(
        [{"custom_id": "ok-1", "prompt": "fine"}, {"custom_id": custom_id, "prompt": "p"}]
    )
    page = refusal(post_job(logged_in, data, name="x.jsonl"))
    assert "Row 2 (line 2)" in page and problem in page
    nothing_stored()


def test_an_empty_prompt_is_refused(logged_in):
    data = csv_bytes([{"prompt": "fine"}, {"prompt": "   "}, {"prompt": ""}])
    page = refusal(post_job(logged_in, data))
    assert "2 rows of 3 cannot be sent" in page
    assert "Row 2 (line 3): the prompt is empty" in page
    assert "Row 3 (line 4): the prompt is empty" in page
    nothing_stored()


def test_a_prompt_over_the_models_window_is_refused_as_counted(logged_in, fake_api):
    ClaudeModel.objects.filter(id=HAIKU).update(max_input_tokens=100)
    catalogue.forget()
    # 200 bytes could be 200 tokens: counted (the fake: 4 characters a token), it fits.
    fits = "word " * 40
    over = "word " * 200
    page = refusal(post_job(logged_in, csv_bytes([{"prompt": fits}, {"prompt": over}])))
    assert "Row 2 (line 3): the prompt is" in page
    assert "tokens, over Claude Haiku 4.5&#x27;s context window of 100" in page
    assert "Row 1" not in page
    assert fake_api.count_tokens_calls == 2
    nothing_stored()


def test_a_file_without_a_prompt_column_is_refused(logged_in):
    page = refusal(post_job(logged_in, b"question,custom_id\nWhy?,a\n"))
    assert "The CSV has no `prompt` column" in page and "&#x27;question&#x27;" in page
    nothing_stored()


def test_a_file_that_is_not_utf8_is_refused(logged_in):
    data = "prompt\nCafé crème\n".encode("latin-1")
    page = refusal(post_job(logged_in, data))
    assert "The file is not UTF-8 text" in page
    nothing_stored()


def test_jsonl_lines_that_are_not_objects_are_refused(logged_in):
    data = b'{"prompt": "fine"}\n{"prompt": \n["a list"]\n{"prompt": 5}\n'
    page = refusal(post_job(logged_in, data, name="p.jsonl"))
    assert "Row 2 (line 2): not valid JSON" in page
    assert "Row 3 (line 3): not a JSON object" in page
    assert "Row 4 (line 4): `prompt` must be a string" in page
    nothing_stored()


def test_an_empty_file_is_refused(logged_in):
    assert "The file has no rows" in refusal(post_job(logged_in, b"prompt\n"))
    nothing_stored()


def test_a_file_over_the_upload_limit_is_refused(logged_in, settings):
    settings.BATCH_MAX_UPLOAD_BYTES = 1000
    page = refusal(post_job(logged_in, csv_bytes(prompts(100))))
    assert "a job&#x27;s file may be at most" in page
    nothing_stored()


def test_a_file_over_the_row_limit_is_refused(logged_in, settings):
    settings.BATCH_MAX_ROWS = 10
    page = refusal(post_job(logged_in, csv_bytes(prompts(11))))
    assert "more than 10 rows" in page
    nothing_stored()


def test_a_request_larger_than_a_whole_batch_is_refused(logged_in, settings):
    settings.BATCH_MAX_BYTES = 2000
    page = refusal(post_job(logged_in, csv_bytes([{"prompt": "short"}, {"prompt": "x" * 3000}])))
    assert "Row 2 (line 3): the request is 0.0 MB, over the API&#x27;s 0 MB" in page
    nothing_stored()


def test_every_problem_is_told_at_once_and_the_first_hundred_listed(logged_in):
    rows = [{"custom_id": "bad id", "prompt": "x"}] * 130
    page = refusal(post_job(logged_in, csv_bytes(rows)))
    assert "130 rows of 130 cannot be sent" in page
    assert page.count("may only hold letters") == 100
    assert "… and 30 more rows with a problem." in page
    nothing_stored()


# --- the API's limits: a larger job is split -------------------------------------------


def test_a_job_over_the_request_limit_is_split_into_batches(logged_in, settings):
    settings.BATCH_MAX_REQUESTS = 2
    assert post_job(logged_in, csv_bytes(prompts(5))).status_code == 302
    parts = list(BatchPart.objects.order_by("number").values_list("number", "requests"))
    assert parts == [(1, 2), (2, 2), (3, 1)]
    for part in BatchPart.objects.all():
        assert part.batch_requests.count() == part.requests


def test_a_job_over_the_size_limit_is_split_by_bytes(logged_in, settings):
    rows = [{"prompt": f"{i}" + "y" * 300} for i in range(6)]
    settings.BATCH_MAX_BYTES = 1000  # about two requests of ~400 bytes each
    assert post_job(logged_in, csv_bytes(rows)).status_code == 302
    parts = list(BatchPart.objects.order_by("number"))
    assert [p.requests for p in parts] == [2, 2, 2]
    for part in parts:
        body = sum(len(str(r).encode()) for r in _part_requests(part))
        assert part.bytes <= 1000 and body > 0


# --- the form: models, max_tokens, schema, caching --------------------------------------


def test_only_models_that_take_batches_are_offered(logged_in):
    ClaudeModel.objects.filter(id="claude-opus-4-8").update(
        capabilities={
            **ClaudeModel.objects.get(id=HAIKU).capabilities,
            "batch": {"supported": False},
        }
    )
    catalogue.forget()
    page = logged_in.get(LIST).content.decode()
    assert f'value="{HAIKU}"' in page and 'value="claude-sonnet-5"' in page
    assert 'value="claude-opus-4-8"' not in page
    response = post_job(logged_in, csv_bytes(prompts(1)), model="claude-opus-4-8")
    assert "Select a valid choice" in refusal(response)
    nothing_stored()


def test_max_tokens_over_the_models_or_the_sites_cap_is_refused(logged_in):
    response = post_job(logged_in, csv_bytes(prompts(1)), max_tokens="9000")
    assert "At most 8,192 with Claude Haiku 4.5" in refusal(response)
    nothing_stored()


def test_a_schema_must_be_an_object_schema_for_a_model_that_takes_one(logged_in):
    for schema, problem in [
        ("{not json", "The schema is not valid JSON"),
        ('{"type": "array"}', "must describe an object"),
        ('{"type": "object"}', "must name its fields"),
    ]:
        page = refusal(post_job(logged_in, csv_bytes(prompts(1)), output_schema=schema))
        assert problem in page
    ClaudeModel.objects.filter(id=HAIKU).update(
        capabilities={
            **ClaudeModel.objects.get(id=HAIKU).capabilities,
            "structured_outputs": {"supported": False},
        }
    )
    catalogue.forget()
    schema = '{"type": "object", "properties": {"label": {"type": "string"}}}'
    page = refusal(post_job(logged_in, csv_bytes(prompts(1)), output_schema=schema))
    assert "Claude Haiku 4.5 does not take a schema" in page
    nothing_stored()


def test_the_request_sent_has_the_schema_and_the_cached_shared_system_prompt(logged_in):
    schema = '{"type": "object", "properties": {"label": {"type": "string"}}}'
    rows = [{"prompt": "Shared system"}, {"prompt": "Own system", "system": "Answer in French."}]
    response = post_job(
        logged_in,
        csv_bytes(rows, ["prompt", "system"]),
        system="Sort tickets.",
        cache_system="on",
        output_schema=schema,
    )
    assert response.status_code == 302
    job = BatchJob.objects.get()
    assert job.cache_system and job.schema["additionalProperties"] is False
    shared, own = _part_requests(BatchPart.objects.get())
    assert shared["custom_id"] == "r1" and own["custom_id"] == "r2"
    assert shared["params"]["system"] == [
        {
            "type": "text",
            "text": "Sort tickets.",
            "cache_control": {"type": "ephemeral", "ttl": "1h"},
        }
    ]
    assert own["params"]["system"] == "Answer in French."
    for request in (shared, own):
        assert request["params"]["output_config"] == {
            "format": {"type": "json_schema", "schema": job.schema}
        }
        assert request["params"]["max_tokens"] == 200 and request["params"]["model"] == HAIKU


def test_caching_needs_a_shared_system_prompt(logged_in):
    page = refusal(post_job(logged_in, csv_bytes(prompts(1)), cache_system="on"))
    assert "There is no shared system prompt to cache" in page


def test_params_without_options_are_plain():
    params = JobSettings(model=HAIKU, max_tokens=10).params(prompt="Hi", system="")
    assert params == {
        "model": HAIKU,
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "Hi"}],
    }


def test_the_upload_needs_a_login(client):
    response = post_job(client, csv_bytes(prompts(1)))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    nothing_stored()

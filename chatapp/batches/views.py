"""The batch jobs pages. Contract (README, tests outside the project use it):
`GET /batches/` lists the user's jobs with the upload form; `POST /batches/` (multipart
`file`, `model`, `system`, `max_tokens`) creates a job and redirects to `/batches/<id>/`;
`GET /batches/<id>/results.csv` and `results.jsonl` download the results;
`POST /batches/<id>/cancel/` cancels. Another user's job is a 404 everywhere."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import exports, selectors
from .forms import BatchJobForm
from .params import schema_fields
from .services import BatchRefused, batch_job_cancel, batch_job_create, batch_job_resubmit


def _own_job_or_404(request, job_id: int):
    job = selectors.batch_job_of_user(user=request.user, job_id=job_id)
    if job is None:
        raise Http404("No such batch job.")
    return job


def _list_page(request, form: BatchJobForm, refused: BatchRefused | None = None, status=200):
    return render(
        request,
        "batches/list.html",
        {
            "form": form,
            "jobs": selectors.batch_jobs_of_user(user=request.user),
            "refused": refused,
        },
        status=status,
    )


@login_required
@require_http_methods(["GET", "POST"])
def batch_list(request):
    if request.method == "GET":
        return _list_page(request, BatchJobForm())
    form = BatchJobForm(request.POST, request.FILES)
    if not form.is_valid():
        return _list_page(request, form, status=400)
    try:
        job = batch_job_create(
            user=request.user, upload=form.cleaned_data["file"], job_settings=form.job_settings()
        )
    except BatchRefused as refused:
        return _list_page(request, form, refused, status=400)
    return redirect(job)


@login_required
@require_GET
def batch_job(request, job_id: int):
    job = _own_job_or_404(request, job_id)
    page = selectors.batch_rows_page(job=job, number=request.GET.get("page") or 1)
    rows = [
        {"row": row, "values": exports.field_cells(job, row.request)} for row in page.object_list
    ]
    return render(
        request,
        "batches/job.html",
        {
            "job": job,
            "page": page,
            "rows": rows,
            "fields": schema_fields(job.schema),
            "progress": selectors.batch_job_progress(job=job),
            "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2),
        },
    )


@login_required
@require_GET
def batch_progress(request, job_id: int):
    job = _own_job_or_404(request, job_id)
    response = JsonResponse(selectors.batch_job_progress(job=job))
    response["Cache-Control"] = "no-store"
    return response


def _download(job, stream, *, extension: str, content_type: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(stream(job), content_type=content_type)
    stem = job.name.rsplit(".", 1)[0] or "batch"
    response["Content-Disposition"] = content_disposition_header(
        True, f"{stem}-results-{job.pk}.{extension}"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


@login_required
@require_GET
def batch_results_csv(request, job_id: int):
    job = _own_job_or_404(request, job_id)
    return _download(
        job, exports.csv_stream, extension="csv", content_type="text/csv; charset=utf-8"
    )


@login_required
@require_GET
def batch_results_jsonl(request, job_id: int):
    job = _own_job_or_404(request, job_id)
    return _download(
        job,
        exports.jsonl_stream,
        extension="jsonl",
        content_type="application/jsonl; charset=utf-8",
    )


@login_required
@require_POST
def batch_cancel(request, job_id: int):
    job = _own_job_or_404(request, job_id)
    if batch_job_cancel(job=job):
        messages.info(request, "Canceling: results already in are kept.")
    else:
        messages.info(request, "This job has already ended.")
    return redirect(job)


@login_required
@require_POST
def batch_resubmit(request, job_id: int):
    job = _own_job_or_404(request, job_id)
    if not job.finished or not job.failed_results:
        messages.error(
            request, "Only an ended job's errored, expired or canceled rows can be sent again."
        )
        return redirect(job)
    try:
        new_job = batch_job_resubmit(job=job)
    except BatchRefused as refused:
        messages.error(request, refused.message)
        return redirect(job)
    messages.info(request, f"Sent again as a new job, with {new_job.row_count:,} rows.")
    return redirect(new_job)

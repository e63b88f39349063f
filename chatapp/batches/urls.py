from django.urls import path

from . import views

app_name = "batches"
urlpatterns = [
    path("", views.batch_list, name="list"),
    path("<int:job_id>/", views.batch_job, name="job"),
    path("<int:job_id>/progress/", views.batch_progress, name="progress"),
    path("<int:job_id>/results.csv", views.batch_results_csv, name="results_csv"),
    path("<int:job_id>/results.jsonl", views.batch_results_jsonl, name="results_jsonl"),
    path("<int:job_id>/cancel/", views.batch_cancel, name="cancel"),
    path("<int:job_id>/resubmit/", views.batch_resubmit, name="resubmit"),
]

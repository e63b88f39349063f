# Batch jobs: a job, its parts (one API batch each), the requests sent and the rows of the
# uploaded file. A request holds its ledger row (usage.UsageRecord) from reservation to result.

import django.db.models.deletion
from decimal import Decimal
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('usage', '0005_batch'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='BatchJob',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=255)),
                ('model', models.CharField(max_length=100)),
                ('system', models.TextField(blank=True)),
                ('max_tokens', models.PositiveIntegerField()),
                ('cache_system', models.BooleanField(default=False)),
                ('output_schema', models.TextField(blank=True)),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('running', 'Running'), ('canceling', 'Canceling'), ('ended', 'Ended'), ('failed', 'Failed')], default='queued', max_length=10)),
                ('row_count', models.PositiveIntegerField(default=0)),
                ('request_count', models.PositiveIntegerField(default=0)),
                ('succeeded', models.PositiveIntegerField(default=0)),
                ('errored', models.PositiveIntegerField(default=0)),
                ('canceled', models.PositiveIntegerField(default=0)),
                ('expired', models.PositiveIntegerField(default=0)),
                ('reserved_cost', models.DecimalField(decimal_places=15, default=Decimal('0'), max_digits=30)),
                ('cost', models.DecimalField(decimal_places=15, default=Decimal('0'), max_digits=30)),
                ('unpriced', models.PositiveIntegerField(default=0)),
                ('error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('submitted_at', models.DateTimeField(blank=True, null=True)),
                ('cancel_requested_at', models.DateTimeField(blank=True, null=True)),
                ('ended_at', models.DateTimeField(blank=True, null=True)),
                ('resubmitted_from', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='resubmissions', to='batches.batchjob')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='batch_jobs', to=settings.AUTH_USER_MODEL)),
            ],
            options={
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='BatchPart',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.PositiveIntegerField()),
                ('batch_id', models.CharField(blank=True, max_length=100, null=True, unique=True)),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('submitting', 'Submitting'), ('in_progress', 'In Progress'), ('canceling', 'Canceling'), ('ended', 'Ended'), ('imported', 'Imported'), ('failed', 'Failed'), ('canceled', 'Canceled')], default='pending', max_length=12)),
                ('requests', models.PositiveIntegerField()),
                ('bytes', models.BigIntegerField()),
                ('processing', models.PositiveIntegerField(default=0)),
                ('succeeded', models.PositiveIntegerField(default=0)),
                ('errored', models.PositiveIntegerField(default=0)),
                ('canceled', models.PositiveIntegerField(default=0)),
                ('expired', models.PositiveIntegerField(default=0)),
                ('imported', models.PositiveIntegerField(default=0)),
                ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                ('poll_interval', models.FloatField(default=0)),
                ('attempts', models.PositiveIntegerField(default=0)),
                ('lease_until', models.DateTimeField(blank=True, null=True)),
                ('submit_started_at', models.DateTimeField(blank=True, null=True)),
                ('cancel_sent_at', models.DateTimeField(blank=True, null=True)),
                ('submitted_at', models.DateTimeField(blank=True, null=True)),
                ('expires_at', models.DateTimeField(blank=True, null=True)),
                ('ended_at', models.DateTimeField(blank=True, null=True)),
                ('imported_at', models.DateTimeField(blank=True, null=True)),
                ('error', models.TextField(blank=True)),
                ('job', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='parts', to='batches.batchjob')),
            ],
            options={
                'ordering': ['job', 'number'],
            },
        ),
        migrations.CreateModel(
            name='BatchRequest',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('custom_id', models.CharField(max_length=64)),
                ('prompt', models.TextField()),
                ('system', models.TextField(blank=True)),
                ('input_tokens_at_most', models.PositiveIntegerField()),
                ('result', models.CharField(blank=True, choices=[('', 'Waiting'), ('succeeded', 'Succeeded'), ('errored', 'Errored'), ('canceled', 'Canceled'), ('expired', 'Expired')], default='', max_length=10)),
                ('output', models.TextField(blank=True)),
                ('stop_reason', models.CharField(blank=True, max_length=40)),
                ('error_type', models.CharField(blank=True, max_length=60)),
                ('error_message', models.TextField(blank=True)),
                ('message', models.JSONField(blank=True, null=True)),
                ('imported_at', models.DateTimeField(blank=True, null=True)),
                ('job', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='batch_requests', to='batches.batchjob')),
                ('part', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='batch_requests', to='batches.batchpart')),
                ('usage_record', models.OneToOneField(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='usage.usagerecord')),
            ],
        ),
        migrations.CreateModel(
            name='BatchRow',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.PositiveIntegerField()),
                ('custom_id', models.CharField(max_length=64)),
                ('first', models.BooleanField(default=True)),
                ('job', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='batch_rows', to='batches.batchjob')),
                ('request', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='rows', to='batches.batchrequest')),
            ],
            options={
                'ordering': ['job', 'number'],
            },
        ),
        migrations.AddIndex(
            model_name='batchjob',
            index=models.Index(fields=['user', '-created_at'], name='batch_job_user_time'),
        ),
        migrations.AddIndex(
            model_name='batchpart',
            index=models.Index(fields=['status', 'next_attempt_at'], name='batch_part_due'),
        ),
        migrations.AddConstraint(
            model_name='batchpart',
            constraint=models.UniqueConstraint(fields=('job', 'number'), name='batch_part_once'),
        ),
        migrations.AddConstraint(
            model_name='batchrequest',
            constraint=models.UniqueConstraint(fields=('job', 'custom_id'), name='batch_request_once'),
        ),
        migrations.AddConstraint(
            model_name='batchrequest',
            constraint=models.UniqueConstraint(fields=('part', 'custom_id'), name='batch_result_key'),
        ),
        migrations.AddConstraint(
            model_name='batchrow',
            constraint=models.UniqueConstraint(fields=('job', 'number'), name='batch_row_once'),
        ),
        migrations.AddConstraint(
            model_name='batchrow',
            constraint=models.UniqueConstraint(fields=('job', 'custom_id'), name='batch_row_custom_id'),
        ),
    ]

/*
 * A batch job's live progress: the page polls its small JSON endpoint (GET
 * /batches/<id>/progress/) while the job runs, a little less often each time nothing moved
 * (1 s up to 10 s), and shows the counts and bars. When the job ends the page reloads
 * once, to show the results table.
 */

const section = document.getElementById("progress");
const FIRST_DELAY = 1000;
const LONGEST_DELAY = 10000;

const money = (text) => `$${Number(text).toFixed(4)}`;

function setText(id, text) {
  const element = document.getElementById(id);
  if (element && element.textContent !== String(text)) element.textContent = String(text);
}

function show(progress) {
  const total = progress.requests;
  for (const [id, value] of [["processed", progress.processed], ["imported", progress.imported]]) {
    const bar = document.getElementById(`${id}-bar`);
    bar.max = total;
    bar.value = value;
    setText(`${id}-text`, `${value} / ${total}`);
  }
  const badge = document.getElementById("job-status-badge");
  badge.className = `status-badge status-${progress.status}`;
  setText("job-status-badge", progress.status_label);
  setText(
    "job-status-text",
    progress.finished
      ? `${progress.imported} of ${total} results in.`
      : progress.processed >= total && total > 0
        ? `Saving results: ${progress.imported} of ${total}.`
        : `${progress.processed} of ${total} requests processed.`,
  );
  setText("count-processing", progress.api.processing);
  for (const kind of ["succeeded", "errored", "expired", "canceled"]) {
    setText(`count-${kind}`, progress.results[kind]);
  }
  setText("count-cost", money(progress.cost));
  const error = document.getElementById("job-error");
  error.hidden = !progress.error;
  setText("job-error", progress.error);
  document.getElementById("job-notice").hidden = !progress.notice;
  setText("job-notice-text", progress.notice);
  document.getElementById("cancel-form").hidden = !progress.can_cancel;
}

async function poll(delay, last) {
  let progress = null;
  try {
    const response = await fetch(section.dataset.url, {
      headers: { Accept: "application/json" },
      credentials: "same-origin",
    });
    if (response.ok) progress = await response.json();
  } catch (error) {
    /* offline for a moment: try again later */
  }
  if (progress) {
    show(progress);
    if (progress.finished) {
      window.location.reload();
      return;
    }
  }
  const key = progress ? JSON.stringify([progress.processed, progress.imported, progress.status]) : last;
  const next = key === last ? Math.min(delay * 1.5, LONGEST_DELAY) : FIRST_DELAY;
  setTimeout(() => poll(next, key), next);
}

if (section && section.dataset.finished !== "true") {
  setTimeout(() => poll(FIRST_DELAY, null), FIRST_DELAY);
}

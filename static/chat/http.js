/*
 * The page's requests besides the socket: form posts with Django's CSRF token, and JSON
 * reads. Each answers {ok, status, data} and never throws, so that every caller shows a
 * failure the same way: `status` 0 is a server out of reach, `data` the JSON answer or null.
 */

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) return decodeURIComponent(match[1]);
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

async function request(url, init) {
  let response;
  try {
    response = await fetch(url, { credentials: "same-origin", ...init });
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    return { ok: false, status: 0, data: null };
  }
  // A redirect answers a signed-out session with the login page: not an answer of ours.
  const data = response.redirected ? null : await response.json().catch(() => null);
  return { ok: response.ok && !response.redirected && data !== null, status: response.status, data };
}

/* POSTs `fields` (an object; undefined values left out) form-encoded, as Django's forms
 * read them. */
export function postForm(url, fields = {}) {
  const body = new URLSearchParams();
  for (const [name, value] of Object.entries(fields)) {
    if (value !== undefined) body.append(name, String(value));
  }
  return request(url, {
    method: "POST",
    headers: {
      "X-CSRFToken": csrfToken(),
      "X-Requested-With": "XMLHttpRequest",
      Accept: "application/json",
    },
    body,
  });
}

/* POSTs one file as the multipart field `file`; an AbortSignal in `signal` cancels it (the
 * promise then rejects with AbortError). */
export function postFile(url, file, { signal } = {}) {
  const body = new FormData();
  body.append("file", file, file.name);
  return request(url, {
    method: "POST",
    headers: { "X-CSRFToken": csrfToken(), "X-Requested-With": "XMLHttpRequest", Accept: "application/json" },
    body,
    signal,
  });
}

// An AbortSignal in `signal` cancels the read: the promise then rejects with AbortError.
export function getJson(url, { signal } = {}) {
  return request(url, { headers: { Accept: "application/json" }, signal });
}

// A form error (a list of messages, or one) as one line of text.
export const errorText = (messages) => (Array.isArray(messages) ? messages.join(" ") : (messages || ""));

/* The message to show for an answer that is not a success: the server's own words when
 * it gave some (`data.error`, or the errors not shown next to a field), else what happened. */
export function failureText(result, what) {
  const data = result.data || {};
  if (data.error) return errorText(data.error);
  const errors = data.errors ? Object.values(data.errors).flat() : [];
  if (errors.length) return errorText(errors);
  if (result.status === 0) return `Could not ${what}: the server is unreachable.`;
  return `Could not ${what} (HTTP ${result.status}).`;
}

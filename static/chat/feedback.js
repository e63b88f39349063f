/*
 * A reply's rating: thumbs up or down (pressed shows the rating saved), pressed again to
 * clear it, and after a thumbs-down an optional comment (Submit or Skip). Saved with a POST
 * to the reply's feedback URL; the answer's feedback is what the buttons show from then on.
 */

import { element } from "./dom.js";
import { errorText, failureText, postForm } from "./http.js";
import { iconButton } from "./icons.js";

/* `setFeedback(messageId, feedback)` records the saved feedback (and redraws the buttons). */
export function createFeedback({ urls, setFeedback }) {
  const enabled = Boolean(urls.feedback(0));

  // The area under a reply's buttons for the comment box and what a save said.
  function areaOf(el) {
    let area = el.querySelector(".feedback-area");
    if (!area) {
      area = element("div", "feedback-area");
      el.append(area);
    }
    return area;
  }

  function say(el, text, { error = false } = {}) {
    const area = areaOf(el);
    let note = area.querySelector(".feedback-note");
    if (!note) {
      note = element("p", "feedback-note");
      note.setAttribute("role", "status");
      area.prepend(note);
    }
    note.textContent = text;
    note.classList.toggle("field-error", error);
  }

  async function save(el, messageId, fields) {
    say(el, "");
    const result = await postForm(urls.feedback(messageId), fields);
    if (result.ok && result.data.ok) {
      setFeedback(messageId, result.data.feedback || null);
      return true;
    }
    const errors = (result.data && result.data.errors) || {};
    const text = errors.comment ? errorText(errors.comment) : failureText(result, "save your feedback");
    return { error: text, field: errors.comment ? "comment" : null };
  }

  function closeComment(el) {
    el.querySelector(".feedback-comment")?.remove();
  }

  function openComment(el, messageId) {
    closeComment(el);
    const form = element("form", "feedback-comment");
    const id = `feedback-comment-${messageId}`;
    const label = element("label", "", "What was wrong with this reply? (optional)");
    label.htmlFor = id;
    const input = element("textarea");
    input.id = id;
    input.rows = 2;
    const error = element("p", "field-error");
    error.id = `${id}-error`;
    error.hidden = true;
    input.setAttribute("aria-describedby", error.id);
    const submit = element("button", "button small primary", "Submit");
    submit.type = "submit";
    const skip = element("button", "button small", "Skip");
    skip.type = "button";
    const actions = element("div", "feedback-comment-actions");
    actions.append(submit, skip);
    form.append(label, input, error, actions);
    areaOf(el).append(form);
    input.focus();

    const back = () => el.querySelector('.message-toolbar [data-action="down"]')?.focus();
    skip.addEventListener("click", () => {
      closeComment(el);
      back();
    });
    form.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        closeComment(el);
        back();
      }
    });
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      submit.disabled = true;
      const saved = await save(el, messageId, { rating: "down", comment: input.value });
      submit.disabled = false;
      if (saved === true) {
        closeComment(el);
        say(el, "Thanks for your feedback.");
        back();
        return;
      }
      error.textContent = saved.error;
      error.hidden = false;
      input.setAttribute("aria-invalid", "true");
    });
  }

  async function rate(el, info, rating, button) {
    const current = info.feedback && info.feedback.rating;
    const next = current === rating ? "" : rating; // pressing the rating given clears it
    button.disabled = true;
    const saved = await save(el, info.id, { rating: next, comment: "" });
    button.disabled = false;
    if (saved !== true) {
      say(el, saved.error, { error: true });
      return;
    }
    if (next === "down") openComment(el, info.id);
    else closeComment(el);
  }

  // The thumbs for a finished reply, into its toolbar.
  function render(toolbar, el, info) {
    if (!enabled) return;
    const current = info.feedback && info.feedback.rating;
    for (const [rating, label] of [["up", "Good response"], ["down", "Bad response"]]) {
      const button = iconButton(rating, label);
      button.dataset.action = rating;
      button.setAttribute("aria-pressed", current === rating ? "true" : "false");
      button.addEventListener("click", () => rate(el, info, rating, button));
      toolbar.append(button);
    }
  }

  return { render };
}

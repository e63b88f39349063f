/*
 * The context gauge under the composer: how much of the model's context window
 * (`max_input_tokens`) the conversation fills. A reply's usage counts everything the model
 * read (input, cache writes, cache reads) and wrote, so the last reply of the branch shown
 * gives the conversation's size; the files attached to the next message add their tokens
 * (the server's bound of each). The arithmetic is pure (tests/js/gauge.test.mjs);
 * `showGauge` writes it into the page.
 */

import { formatCount } from "./format.js";
import { USAGE_FIELDS } from "./protocol.js";

export const WARN_ABOVE = 0.9;

const usageTotal = (usage) => USAGE_FIELDS.reduce((sum, name) => sum + (Number(usage[name]) || 0), 0);

/* The conversation's tokens: the total of the last usage (replies of the branch shown,
 * first first) that counts any; null while no reply has. A reply that failed before the
 * model read anything reports none and is passed over. */
export function contextTokens(usages) {
  for (let i = usages.length - 1; i >= 0; i -= 1) {
    const total = usages[i] ? usageTotal(usages[i]) : 0;
    if (total > 0) return total;
  }
  return null;
}

/* What the gauge shows: null (nothing) without tokens; `fraction`, `warn` (above 90%) and
 * `full` only when the model's window is known. `attached`: the tokens of the files
 * attached to the next message, counted in and named. */
export function gaugeReading(conversationTokens, window, attached = 0) {
  const files = Number(attached) > 0 ? Number(attached) : 0;
  if (conversationTokens == null && !files) return null;
  const tokens = (conversationTokens || 0) + files;
  const filesText = files ? ` · ${formatCount(files)} in files` : "";
  if (!(window > 0)) {
    return {
      tokens, attached: files, window: null, fraction: null, warn: false, full: false,
      text: `${formatCount(tokens)} tokens${filesText}`,
    };
  }
  const fraction = tokens / window;
  return {
    tokens,
    attached: files,
    window,
    fraction,
    warn: fraction > WARN_ABOVE,
    full: fraction >= 1,
    text: `${formatCount(tokens)} / ${formatCount(window)} tokens${filesText}`,
  };
}

export const percentText = (fraction) => `${Math.min(100, Math.round(fraction * 100))}%`;

// `els`: {gauge, meter, text}; `model` names the window in the tooltip.
export function showGauge(els, reading, model) {
  els.gauge.hidden = !reading;
  if (!reading) return;
  els.text.textContent = reading.text;
  els.gauge.classList.toggle("is-near-full", reading.warn);
  els.gauge.classList.toggle("is-full", reading.full);
  els.meter.hidden = reading.fraction === null;
  if (reading.fraction === null) {
    els.gauge.title = "The conversation's size in tokens";
    return;
  }
  els.meter.max = reading.window;
  els.meter.high = Math.round(reading.window * WARN_ABOVE);
  els.meter.value = Math.min(reading.tokens, reading.window);
  const files = reading.attached ? `, with the attached files` : "";
  els.gauge.title = `${percentText(reading.fraction)} of ${model ? `${model.label}’s` : "the model’s"} context window${files}`;
}

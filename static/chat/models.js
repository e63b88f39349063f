/*
 * What the page knows of the models offered (the `models` of the page's data, each
 * `llm.catalogue.ModelInfo.to_dict`): which one a conversation is on, how the picker names
 * them, and which reply settings (thinking, effort, web search) each takes. Pure (no DOM), so that
 * node's test runner checks it (tests/js/models.test.mjs).
 */

const SNAPSHOT = /^(.+)-\d{8}$/;

/* The model offered under `id`: that model, or for an alias (`claude-sonnet-5`) its newest
 * dated snapshot, as the server resolves it (llm.catalogue.get); null when none is offered. */
export function findModel(models, id) {
  if (!id || !Array.isArray(models)) return null;
  const exact = models.find((m) => m.id === id);
  if (exact) return exact;
  const snapshots = models.filter((m) => SNAPSHOT.exec(m.id)?.[1] === id);
  return snapshots.reduce((newest, m) => (!newest || m.id > newest.id ? m : newest), null);
}

export const optionLabel = (model) => (model.deprecated ? `${model.label} (deprecated)` : model.label);

const EFFORT_LABELS = { low: "Low", medium: "Medium", high: "High", xhigh: "Extra high", max: "Max" };

export const effortLabel = (level) => (
  Object.prototype.hasOwnProperty.call(EFFORT_LABELS, level) ? EFFORT_LABELS[level] : String(level)
);

// The reply settings a model takes: thinking or not, its effort levels (none: no setting),
// web search or not.
export function allowedSettings(model) {
  return {
    thinking: Boolean(model && model.thinking),
    effortLevels: model && Array.isArray(model.effort_levels) ? model.effort_levels : [],
    webSearch: Boolean(model && model.web_search),
  };
}

// What a model keeps of the settings chosen ({thinking, effort, web_search}): what it does
// not take is reset.
export function keptSettings(model, chosen) {
  const allowed = allowedSettings(model);
  return {
    thinking: allowed.thinking && Boolean(chosen.thinking),
    effort: allowed.effortLevels.includes(chosen.effort) ? chosen.effort : "",
    web_search: allowed.webSearch && Boolean(chosen.web_search),
  };
}

/* The fields to post when a conversation (its saved `thinking`, `effort`, `web_search`) moves to
 * `model`: the model, and the reset of what that model does not take, sent together (the
 * server refuses a model that would be left with a setting it lacks). */
export function modelChangeFields(model, saved) {
  const fields = { model: model.id };
  const kept = keptSettings(model, saved);
  if (Boolean(saved.thinking) !== kept.thinking) fields.thinking = "false";
  if ((saved.effort || "") !== kept.effort) fields.effort = "";
  if (Boolean(saved.web_search) !== kept.web_search) fields.web_search = "false";
  return fields;
}

/* What the picker shows: for a new chat (`conversationModel` null) the default model; for a
 * conversation its model, or, when that is no longer offered (retired, hidden), the first
 * model offered and `unavailable` true, until the person picks one. */
export function pickerChoice(models, conversationModel, defaultModel) {
  const first = (Array.isArray(models) && models[0]) || null;
  if (conversationModel == null) return { model: findModel(models, defaultModel) || first, unavailable: false };
  const model = findModel(models, conversationModel);
  return model ? { model, unavailable: false } : { model: first, unavailable: true };
}

/*
 * The model picker and what depends on the model chosen: the picker's options (a deprecated
 * model says so, with a note under the picker), the notice of a conversation whose model is
 * no longer offered, and the reply settings the model takes (the "Think before answering"
 * box, the effort levels, the "Search the web" box). Which is which comes from models.js; saving is settings.js's.
 */

import { element } from "./dom.js";
import {
  allowedSettings, effortLabel, findModel, keptSettings, optionLabel, pickerChoice,
} from "./models.js";

/* `models`: the page's models; `onUse()` saves the model the picker shows (the notice's
 * button, for a conversation whose model is gone: the picker already shows another). */
export function createModelPicker({ els, models, defaultModel, onUse }) {
  let conversationModel = null; // the model of the conversation shown (null: a new chat)
  let unavailable = false;

  els.model.replaceChildren(...models.map((m) => {
    const option = element("option", "", optionLabel(m));
    option.value = m.id;
    return option;
  }));
  els.use.addEventListener("click", onUse);

  const selected = () => findModel(models, els.model.value);

  function showNotes() {
    const model = selected();
    const deprecated = Boolean(model && model.deprecated);
    els.deprecated.hidden = !deprecated;
    els.deprecated.textContent = deprecated
      ? `${model.label} is deprecated and will be retired, after which it no longer answers. Pick a newer model to keep going.`
      : "";
    els.notice.hidden = !unavailable;
    els.noticeText.textContent = unavailable
      ? `This conversation's model, ${conversationModel}, is no longer offered. Pick another model to go on.`
      : "";
    const other = unavailable && model && model.id !== conversationModel;
    els.use.hidden = !other;
    if (other) els.use.textContent = `Use ${model.label}`;
  }

  // The conversation's model (null: a new chat); a model no longer offered is noticed.
  function show(model) {
    conversationModel = model;
    const choice = pickerChoice(models, model, defaultModel);
    unavailable = choice.unavailable;
    if (choice.model) els.model.value = choice.model.id;
    showNotes();
  }

  // The server said the conversation's model is gone: in its words if this page still
  // offered that model.
  function showUnavailable(message) {
    const known = unavailable;
    unavailable = true;
    showNotes();
    if (message && !known) els.noticeText.textContent = message;
  }

  /* Shows the reply settings the selected model takes, with `chosen` ({thinking, effort, web_search})
   * less what it does not take; returns what is shown. */
  function showSettings(chosen) {
    const model = selected();
    const allowed = allowedSettings(model);
    const kept = keptSettings(model, chosen);
    els.thinkingField.hidden = !allowed.thinking;
    els.thinking.checked = kept.thinking;
    els.effortField.hidden = !allowed.effortLevels.length;
    const levels = allowed.effortLevels.map((level) => {
      const option = element("option", "", effortLabel(level));
      option.value = level;
      return option;
    });
    const byDefault = element("option", "", "Default");
    byDefault.value = "";
    els.effort.replaceChildren(byDefault, ...levels);
    els.effort.value = kept.effort;
    els.webSearchField.hidden = !allowed.webSearch;
    els.webSearch.checked = kept.web_search;
    showNotes();
    return kept;
  }

  // What the fields show, as the settings a new conversation starts with.
  const shownSettings = () => keptSettings(selected(), {
    thinking: els.thinking.checked, effort: els.effort.value, web_search: els.webSearch.checked,
  });

  return { selected, show, showUnavailable, showSettings, shownSettings };
}

/*
 * The conversation's header and settings: its title, the model picker, and the settings
 * panel (system prompt, thinking, effort, web search, max tokens per reply, stop sequences),
 * saved with a POST to the conversation's settings URL. A new chat has no settings to save
 * yet: its model, system prompt, thinking, effort and web search go with its first message,
 * and the other reply
 * settings appear once it is stored. What the model takes is model-picker.js's to show.
 */

import { errorText, failureText, getJson, postForm } from "./http.js";
import { createModelPicker } from "./model-picker.js";
import { modelChangeFields } from "./models.js";

// The textarea's lines as stop sequences (blank lines are none), and back.
export const stopSequencesFrom = (text) => text.split(/\r?\n/).filter((line) => line.length > 0);
const stopSequencesText = (sequences) => (Array.isArray(sequences) ? sequences.join("\n") : "");

function showFieldError(el, messages) {
  const text = errorText(messages);
  el.textContent = text;
  el.hidden = !text;
}

// The page's elements this module and the model picker use (templates/chat/index.html).
export function settingsElements(byId) {
  const picker = {
    model: byId("model-select"),
    deprecated: byId("model-deprecated"),
    notice: byId("model-unavailable"),
    noticeText: byId("model-unavailable-text"),
    use: byId("model-use"),
    thinkingField: byId("thinking-field"),
    thinking: byId("thinking"),
    effortField: byId("effort-field"),
    effort: byId("effort"),
    webSearchField: byId("web-search-field"),
    webSearch: byId("web-search"),
  };
  return {
    title: byId("conversation-title"),
    picker,
    model: picker.model,
    modelError: byId("model-error"),
    thinking: picker.thinking,
    thinkingError: byId("thinking-error"),
    effort: picker.effort,
    effortError: byId("effort-error"),
    webSearch: picker.webSearch,
    webSearchError: byId("web-search-error"),
    error: byId("settings-error"),
    system: byId("system-prompt"),
    systemPanel: byId("system-prompt-panel"),
    systemError: byId("system-prompt-error"),
    systemSave: byId("system-save"),
    maxTokens: byId("max-tokens"),
    maxTokensError: byId("max-tokens-error"),
    stopSequences: byId("stop-sequences"),
    stopSequencesError: byId("stop-sequences-error"),
    replySettings: byId("reply-settings"),
    status: byId("settings-status"),
  };
}

/* `page.conversation` is the conversation shown (null for a new chat); `models` and
 * `defaultModel` come from the page's data; `modelShown(model)` is told the model the
 * picker shows whenever it changes. */
export function createSettings({ els, page, urls, models, defaultModel, modelShown = () => {} }) {
  // The settings fields, by the name the server gives their errors.
  const fields = {
    model: { input: els.model, error: els.modelError },
    system_prompt: { input: els.system, error: els.systemError },
    thinking: { input: els.thinking, error: els.thinkingError },
    effort: { input: els.effort, error: els.effortError },
    web_search: { input: els.webSearch, error: els.webSearchError },
    max_tokens: { input: els.maxTokens, error: els.maxTokensError },
    stop_sequences: { input: els.stopSequences, error: els.stopSequencesError },
  };
  // The panel's fields that its Save button saves; the model's settings save when changed.
  const panelFields = ["system_prompt", "max_tokens", "stop_sequences"];
  const modelFields = ["thinking", "effort", "web_search"];
  const inPanel = [...panelFields, ...modelFields];
  const picker = createModelPicker({ els: els.picker, models, defaultModel, onUse: modelChosen });

  function setTitle(title) {
    const text = title || "New chat";
    els.title.textContent = text;
    document.title = `${text} · Claude Chat`;
  }

  // The model of a conversation (null: a new chat) and the reply settings it takes.
  function showModel(conversation) {
    picker.show(conversation ? conversation.model : null);
    picker.showSettings(conversation || { thinking: false, effort: "", web_search: false });
    modelShown(picker.selected());
  }

  // Shows a conversation's settings (those it carries); a field being typed in is left alone.
  function apply(conversation) {
    if (conversation.model) picker.show(conversation.model);
    if (conversation.model || modelFields.some((name) => conversation[name] !== undefined)) {
      picker.showSettings({ ...page.conversation, ...conversation });
      modelShown(picker.selected());
    }
    const shown = {
      system_prompt: conversation.system_prompt,
      max_tokens: conversation.max_tokens != null ? String(conversation.max_tokens) : undefined,
      stop_sequences: conversation.stop_sequences !== undefined
        ? stopSequencesText(conversation.stop_sequences) : undefined,
    };
    for (const [name, value] of Object.entries(shown)) {
      const { input } = fields[name];
      if (typeof value === "string" && document.activeElement !== input) input.value = value;
    }
  }

  // The model, system prompt, thinking, effort and web search a new conversation starts with.
  function newChatFields() {
    const chosen = { model: els.model.value };
    if (els.system.value.trim()) chosen.system = els.system.value;
    const { thinking, effort, web_search: webSearch } = picker.shownSettings();
    if (thinking) chosen.thinking = true;
    if (effort) chosen.effort = effort;
    if (webSearch) chosen.web_search = true;
    return chosen;
  }

  // The new chat became a stored conversation (`info`: its conversation frame, if any):
  // the page shows it, its settings can now be saved, and its reply settings are read.
  async function conversationCreated(id, info) {
    page.conversation = {
      id,
      title: info.title || "",
      model: info.model || els.model.value,
      system_prompt: els.system.value,
      ...picker.shownSettings(),
      max_tokens: null,
      stop_sequences: [],
    };
    setTitle(page.conversation.title);
    els.systemSave.hidden = false;
    els.replySettings.hidden = false;
    els.status.textContent = "";
    const result = await getJson(urls.messages(id));
    if (result.ok && result.data.conversation && page.conversation && page.conversation.id === id) {
      page.conversation = { ...page.conversation, ...result.data.conversation };
      apply(page.conversation);
    }
  }

  function valueOf(name) {
    const { input } = fields[name];
    if (input.type === "checkbox") return input.checked ? "true" : "false";
    return name === "stop_sequences" ? stopSequencesFrom(input.value).join("\n") : input.value;
  }

  function savedValue(name) {
    const saved = page.conversation[name];
    if (name === "stop_sequences") return stopSequencesText(saved);
    return saved == null ? "" : String(saved);
  }

  function showErrors(result) {
    const errors = (result.data && result.data.errors) || {};
    const others = [];
    for (const [name, messages] of Object.entries(errors)) {
      if (fields[name]) showFieldError(fields[name].error, messages);
      else others.push(...[].concat(messages));
    }
    // The saved model and its settings still apply.
    if (errors.model || modelFields.some((name) => errors[name])) showModel(page.conversation);
    if (inPanel.some((name) => errors[name])) els.systemPanel.open = true;
    if (others.length || !Object.keys(errors).length) {
      showFieldError(els.error, others.length ? others : failureText(result, "save the settings"));
    }
  }

  // Saves `changed` ({field: value}; each may go alone: the server keeps the others).
  async function save(changed) {
    if (!page.conversation) return;
    for (const { error } of Object.values(fields)) showFieldError(error, "");
    showFieldError(els.error, "");
    els.status.textContent = "Saving…";
    const result = await postForm(urls.settings(page.conversation.id), changed);
    if (result.ok && result.data.ok) {
      page.conversation = { ...page.conversation, ...(result.data.conversation || {}) };
      apply(page.conversation);
      els.status.textContent = "Saved";
      setTimeout(() => {
        if (els.status.textContent === "Saved") els.status.textContent = "";
      }, 2000);
      return;
    }
    els.status.textContent = "";
    showErrors(result);
  }

  // Serialised, so that two quick changes cannot land out of order.
  let saving = Promise.resolve();
  const queueSave = (changed) => {
    const run = () => save(changed);
    saving = saving.then(run, run);
    return saving;
  };
  const saveFields = (names) => queueSave(Object.fromEntries(names.map((name) => [name, valueOf(name)])));

  // A model chosen: the settings it does not take are reset with it (and go with the model).
  function modelChosen() {
    const model = picker.selected();
    if (!model) return;
    picker.showSettings(page.conversation || picker.shownSettings());
    modelShown(model);
    if (page.conversation) queueSave(modelChangeFields(model, page.conversation));
  }

  els.model.addEventListener("change", modelChosen);
  for (const name of modelFields) {
    fields[name].input.addEventListener("change", () => {
      if (page.conversation) saveFields([name]);
    });
  }
  // The panel's fields that changed; the system prompt when none did (a Save says "Saved").
  els.systemSave.addEventListener("click", () => {
    const changed = panelFields.filter((name) => valueOf(name) !== savedValue(name));
    saveFields(changed.length ? changed : ["system_prompt"]);
  });

  // The server refused a reply because the conversation's model is gone (`model_unavailable`).
  const modelUnavailable = (message) => picker.showUnavailable(message);

  return { setTitle, apply, showModel, newChatFields, conversationCreated, modelUnavailable };
}

/*
 * The conversation's header and settings: its title, the model picker, and the settings
 * panel (system prompt, max tokens per reply, stop sequences), saved with a POST to the
 * conversation's settings URL. A new chat has no settings to save yet: its model and system
 * prompt go with its first message, and the reply settings appear once it is stored.
 */

import { errorText, failureText, getJson, postForm } from "./http.js";

// The textarea's lines as stop sequences (blank lines are none), and back.
export const stopSequencesFrom = (text) => text.split(/\r?\n/).filter((line) => line.length > 0);
const stopSequencesText = (sequences) => (Array.isArray(sequences) ? sequences.join("\n") : "");

function showFieldError(el, messages) {
  const text = errorText(messages);
  el.textContent = text;
  el.hidden = !text;
}

/* `page.conversation` is the conversation shown (null for a new chat). */
export function createSettings({ els, page, urls }) {
  // The settings fields, by the name the server gives their errors.
  const fields = {
    model: { input: els.model, error: els.modelError },
    system_prompt: { input: els.system, error: els.systemError },
    max_tokens: { input: els.maxTokens, error: els.maxTokensError },
    stop_sequences: { input: els.stopSequences, error: els.stopSequencesError },
  };
  const panelFields = ["system_prompt", "max_tokens", "stop_sequences"];

  function setTitle(title) {
    const text = title || "New chat";
    els.title.textContent = text;
    document.title = `${text} · Claude Chat`;
  }

  function ensureModelOption(model) {
    if (!model || Array.from(els.model.options).some((o) => o.value === model)) return;
    const option = document.createElement("option");
    option.value = model;
    option.textContent = model;
    els.model.append(option);
  }

  // Shows a conversation's settings; a field being typed in is left alone.
  function apply(conversation) {
    if (conversation.model) {
      ensureModelOption(conversation.model);
      els.model.value = conversation.model;
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

  // The model and system prompt a new conversation starts with.
  function newChatFields() {
    const chosen = { model: els.model.value };
    if (els.system.value.trim()) chosen.system = els.system.value;
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
    const value = fields[name].input.value;
    return name === "stop_sequences" ? stopSequencesFrom(value).join("\n") : value;
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
    if (errors.model) {
      ensureModelOption(page.conversation.model);
      els.model.value = page.conversation.model; // the saved model still applies
    }
    if (panelFields.some((name) => errors[name])) els.systemPanel.open = true;
    if (others.length || !Object.keys(errors).length) {
      showFieldError(els.error, others.length ? others : failureText(result, "save the settings"));
    }
  }

  // Saves the fields named (each may go alone: the server keeps the others as they are).
  async function save(names) {
    if (!page.conversation) return;
    for (const { error } of Object.values(fields)) showFieldError(error, "");
    showFieldError(els.error, "");
    const changed = {};
    for (const name of names) changed[name] = valueOf(name);
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
  const queueSave = (names) => {
    const run = () => save(names);
    saving = saving.then(run, run);
    return saving;
  };

  els.model.addEventListener("change", () => {
    if (page.conversation) queueSave(["model"]);
  });
  // The panel's fields that changed; the system prompt when none did (a Save says "Saved").
  els.systemSave.addEventListener("click", () => {
    const changed = panelFields.filter((name) => valueOf(name) !== savedValue(name));
    queueSave(changed.length ? changed : ["system_prompt"]);
  });

  return { setTitle, apply, newChatFields, conversationCreated };
}

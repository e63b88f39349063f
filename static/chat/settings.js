/*
 * The conversation's header and settings: its title, the model picker and the system
 * prompt, saved with a POST to the conversation's settings URL.
 */

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) return decodeURIComponent(match[1]);
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

function showFieldError(el, messages) {
  const text = Array.isArray(messages) ? messages.join(" ") : (messages || "");
  el.textContent = text;
  el.hidden = !text;
}

/* `page.conversation` is the conversation shown (null for a new chat). */
export function createSettings({ els, page, urls }) {
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

  function apply(conversation) {
    if (conversation.model) {
      ensureModelOption(conversation.model);
      els.model.value = conversation.model;
    }
    if (typeof conversation.system_prompt === "string" && document.activeElement !== els.system) {
      els.system.value = conversation.system_prompt;
    }
  }

  // The model and system prompt a new conversation starts with.
  function newChatFields() {
    const fields = { model: els.model.value };
    if (els.system.value.trim()) fields.system = els.system.value;
    return fields;
  }

  // The new chat became a stored conversation (`info`: its conversation frame, if any):
  // the page shows it, and its settings can now be saved.
  function conversationCreated(id, info) {
    page.conversation = {
      id,
      title: info.title || "",
      model: info.model || els.model.value,
      system_prompt: els.system.value,
      max_tokens: null,
    };
    setTitle(page.conversation.title);
    els.systemSave.hidden = false;
    els.status.textContent = "";
  }

  function showErrors(response, data) {
    const errors = (data && data.errors) || {};
    if (errors.model) {
      showFieldError(els.modelError, errors.model);
      ensureModelOption(page.conversation.model);
      els.model.value = page.conversation.model; // the saved model still applies
    }
    if (errors.system_prompt) {
      showFieldError(els.systemError, errors.system_prompt);
      els.systemPanel.open = true;
    }
    const known = new Set(["model", "system_prompt"]);
    const others = Object.entries(errors).filter(([key]) => !known.has(key)).flatMap(([, v]) => v);
    if (others.length || !Object.keys(errors).length) {
      showFieldError(els.error, others.length ? others : `Could not save the settings (HTTP ${response.status}).`);
    }
  }

  async function save() {
    if (!page.conversation) return;
    for (const el of [els.modelError, els.systemError, els.error]) showFieldError(el, "");
    els.status.textContent = "Saving…";
    const body = new URLSearchParams({ model: els.model.value, system_prompt: els.system.value });
    let response;
    let data = null;
    try {
      response = await fetch(urls.settings(page.conversation.id), {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "X-CSRFToken": csrfToken(),
          "X-Requested-With": "XMLHttpRequest",
          Accept: "application/json",
        },
        body,
      });
      data = await response.json().catch(() => null);
    } catch (e) {
      els.status.textContent = "";
      showFieldError(els.error, "Could not save the settings: the server is unreachable.");
      return;
    }
    if (response.ok && data && data.ok) {
      page.conversation = { ...page.conversation, ...(data.conversation || {}) };
      apply(page.conversation);
      els.status.textContent = "Saved";
      setTimeout(() => {
        if (els.status.textContent === "Saved") els.status.textContent = "";
      }, 2000);
      return;
    }
    els.status.textContent = "";
    showErrors(response, data);
  }

  // Serialised, so that two quick changes cannot land out of order.
  let saving = Promise.resolve();
  const queueSave = () => {
    saving = saving.then(save, save);
    return saving;
  };

  els.model.addEventListener("change", () => {
    if (page.conversation) queueSave();
  });
  els.systemSave.addEventListener("click", () => queueSave());

  return { setTitle, apply, newChatFields, conversationCreated };
}

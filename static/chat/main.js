/*
 * Claude Chat: the chat page's entry module. Reads the page's data (the `chat-data` JSON
 * built by chatapp/chat/views.py), wires the modules together and applies the server's
 * frames (docs/protocol.md) to them. Native ES modules, no build step; the vendored
 * marked, DOMPurify and highlight.js are classic scripts that run before it.
 */

import { createAttachmentTray, watchDrops } from "./attachment-tray.js";
import { createBranches } from "./branch-actions.js";
import { handleCitationPopovers } from "./citation-view.js";
import { lastUserMessageId } from "./branches.js";
import { createComposer } from "./composer.js";
import { createConversationMenu } from "./conversation-menu.js";
import { createFeedback } from "./feedback.js";
import { contextTokens, gaugeReading, showGauge } from "./gauge.js";
import { getJson } from "./http.js";
import { createHistory } from "./history.js";
import { createMessageTools } from "./message-tools.js";
import { applyFrame, errorText } from "./protocol.js";
import { handleCopyButtons } from "./render.js";
import { createSearch } from "./search.js";
import { createSettings, settingsElements } from "./settings.js";
import { createShortcuts } from "./shortcuts.js";
import { createSidebar } from "./sidebar.js";
import { createSocket, socketUrl, Unacknowledged, watchPage } from "./socket.js";
import { createThemeToggle } from "./theme.js";
import { pageUrls } from "./urls.js";

const byId = (id) => document.getElementById(id);

function start(data) {
  const urls = pageUrls(data.urls);
  const els = {
    history: byId("history"),
    form: byId("composer-form"),
    composer: byId("composer"),
    send: byId("send"),
    stop: byId("stop"),
    alerts: byId("alerts"),
  };
  const page = {
    conversation: data.conversation || null, // {id, title, model, system_prompt, thinking, effort, max_tokens, ...}
    newChatClientIds: new Set(), // client_ids sent while no conversation existed yet
  };
  const unacknowledged = new Unacknowledged();

  // The context gauge: the conversation's size, with the files attached to the next
  // message, out of the window of the model shown.
  let shownModel = null;
  const gaugeEls = { gauge: byId("context-gauge"), meter: byId("context-meter"), text: byId("context-text") };
  function updateGauge() {
    const tokens = contextTokens(chatHistory.replyUsages());
    const reading = gaugeReading(tokens, shownModel && shownModel.max_input_tokens, files.tokens());
    showGauge(gaugeEls, reading, shownModel);
  }

  // The files attached in the composer, or in an editor (`trayEls`, `onChange`).
  const attachmentTray = (trayEls, onChange) => createAttachmentTray({
    els: trayEls,
    uploadUrl: urls.attachments,
    max: Number(data.max_attachments) || 20,
    model: () => shownModel,
    onChange,
  });
  let composer = null;
  const files = attachmentTray(
    { list: byId("attachment-chips"), status: byId("attachment-status"), button: byId("attach"),
      input: byId("attach-input"), text: els.composer },
    () => {
      updateGauge();
      composer?.update();
    },
  );

  let tools = null; // the buttons under each message, once the socket they act through exists
  const chatHistory = createHistory({
    scroller: els.history,
    list: byId("history-inner"),
    empty: byId("empty-state"),
    decorate: (...args) => tools.decorate(...args),
    changed: () => updateGauge(),
  });
  handleCopyButtons(els.history);
  handleCitationPopovers(els.history);
  const sidebar = createSidebar({
    els: {
      list: byId("conversation-list"),
      nav: byId("conversation-nav"),
      more: byId("conversation-more"),
      toggle: byId("sidebar-toggle"),
      backdrop: byId("sidebar-backdrop"),
      monthUsage: byId("month-usage"),
    },
    urls,
    currentId: () => (page.conversation ? page.conversation.id : null),
    monthToDate: data.month_to_date,
    next: data.conversations_next,
  });
  createSearch({
    els: {
      form: byId("conversation-search-box"),
      input: byId("conversation-search"),
      status: byId("search-status"),
      results: byId("search-results"),
    },
    urls,
    sidebar,
  });
  const settings = createSettings({
    els: settingsElements(byId),
    page,
    urls,
    models: Array.isArray(data.models) ? data.models : [],
    defaultModel: data.default_model,
    modelShown(model) {
      shownModel = model;
      files.modelChanged();
    },
  });
  const connectionStatus = byId("connection-status");
  const socket = createSocket({
    url: socketUrl(location, urls.socket),
    unacknowledged,
    firstFrame: () => (page.conversation ? { type: "open", conversation_id: page.conversation.id } : null),
    onFrame: handleFrame,
    onReconnected: () => { if (page.conversation) refresh(page.conversation.id); },
    onReconnecting: (reconnecting) => { connectionStatus.hidden = !reconnecting; },
  });
  composer = createComposer({
    els,
    page,
    unacknowledged,
    history: chatHistory,
    send: socket.send,
    maxChars: Number(data.max_message_chars) || 100000,
    newChatFields: settings.newChatFields,
    files,
    onSent: sidebar.touch,
    editLast: () => {
      const id = lastUserMessageId(chatHistory.shown());
      const el = id && chatHistory.element(id);
      if (el) tools.startEdit(el);
      return Boolean(el);
    },
  });
  createConversationMenu({
    els: {
      list: byId("conversation-list"),
      dialog: byId("delete-dialog"),
      dialogText: byId("delete-dialog-text"),
      dialogError: byId("delete-dialog-error"),
      fallbackFocus: byId("conversation-search"),
    },
    urls,
    sidebar,
    onChanged(conversation) {
      if (!isShown({ conversation_id: conversation.id })) return;
      page.conversation.title = conversation.title || "";
      settings.setTitle(conversation.title);
    },
    onDeleted(id) {
      if (page.conversation && String(page.conversation.id) === String(id)) window.location.assign(urls.index);
    },
    onError: composer.alert,
  });
  createShortcuts({
    els: { composer: els.composer, button: byId("shortcuts-button"), dialog: byId("shortcuts-dialog") },
    newChatUrl: urls.index,
    isBusy: composer.isBusy,
    stop: composer.requestStop,
  });
  createThemeToggle(byId("theme-toggle"));

  const isShown = (frame) => Boolean(page.conversation)
    && frame.conversation_id != null
    && String(frame.conversation_id) === String(page.conversation.id);

  // The first message of a new chat was stored: the page now shows that conversation.
  function adoptConversation(id, info) {
    settings.conversationCreated(id, info);
    window.history.replaceState(window.history.state, "", urls.conversation(id));
    sidebar.upsert({ id, title: page.conversation.title, updated_at: new Date().toISOString() });
    // Subscribe explicitly; if a reply is already streaming the server resyncs it.
    socket.send({ type: "open", conversation_id: id });
    composer.conversationKnown(id);
  }

  // Applies a reply frame of the conversation shown; what changed, or null if ignored.
  function applyToReply(frame, messageId = frame.message_id) {
    if (!isShown(frame) || messageId == null) return null;
    const view = chatHistory.reply(messageId, { create: true });
    const change = applyFrame(view.state, frame);
    return change && { view, change };
  }

  function streamed(frame) {
    const applied = applyToReply(frame);
    if (!applied) return;
    if (frame.type === "message_start" || frame.type === "content_block_start") {
      composer.setAwaitingReply(false);
      composer.update();
    }
    chatHistory.scheduleRender(applied.view, applied.change);
  }

  // A reply shown at once, whole: the composer is free again.
  function replaced({ view, change }) {
    chatHistory.renderNow(view, change);
    composer.setAwaitingReply(false);
    composer.update();
  }

  const branches = createBranches({
    page,
    socket,
    unacknowledged,
    history: chatHistory,
    composer,
    sidebar,
    editor: () => tools,
  });
  tools = createMessageTools({
    actions: branches.actions,
    feedback: createFeedback({ urls, setFeedback: chatHistory.setFeedback }),
    attachmentTray,
  });
  watchDrops({ area: byId("chat-main"), overlay: byId("drop-target"), trayAt: (target) => tools.trayAt(target) || files });

  const handlers = {
    conversation(frame) {
      const id = frame.conversation_id;
      if (!page.conversation && frame.client_id && page.newChatClientIds.has(frame.client_id)) {
        adoptConversation(id, frame);
        return;
      }
      sidebar.upsert({ id, title: frame.title, pinned: frame.pinned, updated_at: frame.updated_at });
      if (isShown(frame)) {
        page.conversation.title = frame.title || "";
        settings.setTitle(frame.title);
        // What another tab changed: the model and the settings that go with it.
        const changed = {};
        for (const name of ["model", "thinking", "effort", "web_search"]) {
          if (frame[name] !== undefined && frame[name] !== null) changed[name] = frame[name];
        }
        if (!frame.model) delete changed.model;
        Object.assign(page.conversation, changed);
        settings.apply(changed);
      }
    },

    user_message(frame) {
      const clientId = frame.client_id;
      if (!page.conversation && clientId && page.newChatClientIds.has(clientId) && frame.conversation_id != null) {
        adoptConversation(frame.conversation_id, {});
      }
      if (!isShown(frame) || !frame.message) return;
      const sent = clientId ? unacknowledged.remove(clientId) : null;
      if (sent) {
        chatHistory.placeSentMessage(sent.el, frame.message);
        if (!chatHistory.hasReplyAfter(frame.message.id)) composer.setAwaitingReply(true);
      } else {
        chatHistory.addUserMessage(frame.message);
      }
      composer.update();
      if (chatHistory.isNearBottom()) chatHistory.scrollToBottom();
    },

    message_start: streamed,
    content_block_start: streamed,
    content_block_delta: streamed,
    content_block_stop: streamed,
    message_delta: streamed,

    branch(frame) {
      branches.show(frame, isShown(frame));
    },

    message_stop(frame) {
      sidebar.countReply(frame.message);
      const applied = applyToReply(frame);
      if (!applied || !frame.message) return;
      replaced(applied);
      chatHistory.learnReply(frame.message);
      composer.refocus();
    },

    resync(frame) {
      if (!frame.message) return;
      if (frame.message.role === "user") {
        if (isShown(frame)) chatHistory.addUserMessage(frame.message);
        return;
      }
      const applied = applyToReply(frame, frame.message_id ?? frame.message.id);
      if (!applied) return;
      replaced(applied);
      chatHistory.learnReply(frame.message);
    },

    error(frame) {
      const text = errorText(frame);
      if (frame.message_id != null) {
        if (frame.conversation_id != null && !isShown(frame)) return;
        const view = chatHistory.reply(frame.message_id, { create: true });
        const change = applyFrame(view.state, frame);
        if (!change) return; // its message_stop already told the whole story
        replaced({ view, change });
        composer.refocus();
        return;
      }
      // The conversation's model is gone: the notice under the picker says so.
      const modelGone = frame.code === "model_unavailable" && isShown(frame);
      if (modelGone) settings.modelUnavailable(text);
      const refused = unacknowledged.refusedBy(frame);
      if (refused && refused.frame.type !== "user_message") {
        branches.refused(refused, text);
        return;
      }
      if (refused) composer.refused(refused, text);
      if (modelGone) {
        composer.setAwaitingReply(false);
        composer.update();
        return;
      }
      if (frame.code === "not_streaming") {
        // We think a reply is streaming but the server does not: it ended unseen.
        if (chatHistory.anyStreaming() && page.conversation) refresh(page.conversation.id);
        return;
      }
      composer.setAwaitingReply(false);
      composer.alert(text);
      composer.update();
    },
  };

  function handleFrame(frame) {
    const handler = Object.prototype.hasOwnProperty.call(handlers, frame.type) ? handlers[frame.type] : null;
    if (!handler) return;
    try {
      handler(frame);
    } catch (e) {
      console.error("chat: failed to apply frame", frame, e); // eslint-disable-line no-console
    }
  }

  // `open` only resyncs a reply that is still streaming: one that ended while the socket
  // was down is read from the conversation's saved messages, which are its active branch
  // (another tab may have switched it meanwhile).
  async function refresh(conversationId) {
    const result = await getJson(urls.messages(conversationId));
    if (!result.ok) return;
    const saved = result.data;
    if (!page.conversation || String(page.conversation.id) !== String(conversationId)) return;
    chatHistory.showBranch(saved.messages || []);
    if (saved.conversation && saved.conversation.title !== undefined) {
      page.conversation.title = saved.conversation.title;
      settings.setTitle(saved.conversation.title);
    }
    composer.update();
  }

  if (page.conversation) {
    settings.apply(page.conversation);
    settings.setTitle(page.conversation.title);
  } else {
    settings.showModel(null);
  }
  chatHistory.showBranch(data.messages || []);
  sidebar.showMonth();
  composer.update();
  composer.autoGrow();
  chatHistory.scrollToBottom();
  els.composer.focus();
  socket.connect();
  watchPage(socket);
}

const dataElement = byId("chat-data");
if (dataElement) start(JSON.parse(dataElement.textContent));

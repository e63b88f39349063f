/*
 * The page's addresses, from its data (`urls` in chat-data, built by the view from the URL
 * configuration): never written here, so that a route changes in one place only.
 */

// A template the page does not carry gives null: the control that needs it is not shown.
const withId = (template) => (id) => (
  typeof template === "string" ? template.replace("{id}", encodeURIComponent(String(id))) : null
);

export function pageUrls(urls) {
  return {
    index: urls.index,
    socket: urls.socket,
    search: urls.search,
    conversations: urls.conversations,
    attachments: typeof urls.attachments === "string" ? urls.attachments : null,
    conversation: withId(urls.conversation),
    messages: withId(urls.messages),
    settings: withId(urls.settings),
    delete: withId(urls.delete),
    export: withId(urls.export),
    feedback: withId(urls.feedback),
  };
}

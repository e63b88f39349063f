/*
 * The page's addresses, from its data (`urls` in chat-data, built by the view from the URL
 * configuration): never written here, so that a route changes in one place only.
 */

const withId = (template) => (id) => template.replace("{id}", encodeURIComponent(String(id)));

export function pageUrls(urls) {
  return {
    socket: urls.socket,
    conversation: withId(urls.conversation),
    messages: withId(urls.messages),
    settings: withId(urls.settings),
  };
}

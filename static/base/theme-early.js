/* The colour theme chosen with the page's Theme button (static/chat/theme.js), applied
   before the page is drawn so that it never flashes the other one: "light" or "dark"
   sets data-theme on <html>, which chat.css honours, and picks the matching code
   highlighting; with neither, the system's preference applies. */
window.chatTheme = {
  key: "theme",
  apply: function (theme) {
    var chosen = theme === "light" || theme === "dark" ? theme : null;
    var root = document.documentElement;
    if (chosen) root.setAttribute("data-theme", chosen); else root.removeAttribute("data-theme");
    document.querySelectorAll("link[data-color-scheme]").forEach(function (link) {
      if (!link.hasAttribute("data-system-media")) link.setAttribute("data-system-media", link.media);
      link.media = !chosen ? link.getAttribute("data-system-media")
        : link.getAttribute("data-color-scheme") === chosen ? "all" : "not all";
    });
  }
};
try { window.chatTheme.apply(localStorage.getItem(window.chatTheme.key)); } catch (e) { /* no storage */ }

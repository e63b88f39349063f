/* The batch pages' theme button: the chat's own (static/chat/theme.js). */
import { createThemeToggle } from "../chat/theme.js";

const button = document.getElementById("theme-toggle");
if (button) createThemeToggle(button);

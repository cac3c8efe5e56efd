// Publishing an item at its public URL.
import { api } from "mg/api.js";
import { confirmAction } from "mg/dialogs.js";
import { $, toast, showError, busy } from "mg/dom.js";

export function initPublish(section, base) {
  const on = $(".publish-on", section);
  const off = $(".publish-off", section);
  const input = $("#public-url");
  const embed = $("#embed-code");
  const absolute = (p) => (p ? new URL(p, location.href).href : "");
  const stream = $("#stream-url");
  if (stream) stream.value = absolute(stream.value);
  const showURL = (u) => {
    input.value = absolute(u);
    if (embed) embed.value = input.value ? embedCode(input.value, section.closest(".media-page") || $(".media-page")) : "";
  };
  showURL(input.value);
  $("[data-action=publish]", section).addEventListener("click", async (e) => {
    busy(e.currentTarget, true);
    showError(section, "");
    try {
      const r = await api("POST", base + "/publish");
      showURL(r.public_url);
      on.hidden = false;
      off.hidden = true;
      toast("Published.");
      input.focus();
    } catch (err) {
      showError(section, err.message);
    } finally {
      busy(e.currentTarget, false);
    }
  });
  $("[data-action=unpublish]", section).addEventListener("click", async (e) => {
    const ok = await confirmAction("Unpublish?", "The public URL stops working at once (copies may stay in caches for a few minutes). Publishing again gives the same URL.", "Unpublish");
    if (!ok) return;
    showError(section, "");
    try {
      await api("DELETE", base + "/publish");
      on.hidden = true;
      off.hidden = false;
      toast("Unpublished.");
    } catch (err) {
      showError(section, err.message);
    }
  });
}

// embedCode is the HTML that shows a published file on a web page, by
// its kind.
function embedCode(url, page) {
  const esc = (v) => String(v).replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const name = (page && page.dataset.filename) || "";
  switch (page && page.dataset.kind) {
    case "video": return '<video controls preload="metadata" src="' + esc(url) + '"></video>';
    case "audio": return '<audio controls preload="metadata" src="' + esc(url) + '"></audio>';
    case "image": return '<img src="' + esc(url) + '" alt="' + esc(name) + '">';
    default: return '<a href="' + esc(url) + '">' + esc(name) + "</a>";
  }
}

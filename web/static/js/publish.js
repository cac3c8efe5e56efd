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
  const fresh = $("#publish-new", section);
  // publish asks for the public URL: the one the item had, or a new one
  // (the old one then 404s for good).
  async function publish(button, newURL) {
    busy(button, true);
    showError(section, "");
    try {
      const r = await api("POST", base + "/publish", newURL ? { new_url: true } : undefined);
      const was = input.value;
      showURL(r.public_url);
      on.hidden = false;
      off.hidden = true;
      if (fresh) fresh.checked = false;
      toast(newURL ? "Published at a new URL; the old one no longer works." : was && was === input.value ? "Published again at the same URL." : "Published.");
      input.focus();
    } catch (err) {
      showError(section, err.message);
    } finally {
      busy(button, false);
    }
  }
  $("[data-action=publish]", section).addEventListener("click", (e) => publish(e.currentTarget, fresh && fresh.checked));
  const replace = $("[data-action=publish-new-url]", section);
  if (replace) {
    replace.addEventListener("click", async () => {
      const ok = await confirmAction("Replace the public URL?", "The current URL stops working for good, everywhere it is embedded, and the file gets a new one. Do this when the URL leaked.", "New URL");
      if (ok) publish(replace, true);
    });
  }
  $("[data-action=unpublish]", section).addEventListener("click", async (e) => {
    const ok = await confirmAction("Unpublish?", "The public URL answers “not found” at once (copies may stay in caches for a few minutes). Publishing again brings the same URL back.", "Unpublish");
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

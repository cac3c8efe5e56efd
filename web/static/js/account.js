// The account page: change the password, make and delete API tokens.
import { api } from "mg/api.js";
import { confirmAction } from "mg/dialogs.js";
import { $, $$, el, when, toast, showError, busy } from "mg/dom.js";

export function initAccount() {
  const pw = $("#password-form");
  pw.addEventListener("submit", async (e) => {
    e.preventDefault();
    const next = $("#pw-new").value;
    if (next !== $("#pw-confirm").value) {
      showError(pw, "The two new passwords differ.");
      $("#pw-confirm").focus();
      return;
    }
    const button = $("[type=submit]", pw);
    busy(button, true);
    showError(pw, "");
    try {
      await api("POST", "/api/me/password", { current: $("#pw-current").value, new: next });
      pw.reset();
      toast("Password changed. Other sessions are signed out.");
    } catch (err) {
      showError(pw, err.message);
    } finally {
      busy(button, false);
    }
  });

  const tf = $("#token-form");
  const section = tf.closest("section");
  tf.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = $("[type=submit]", tf);
    busy(button, true);
    showError(section, "");
    try {
      const t = await api("POST", "/api/tokens", { name: $("#token-name").value.trim() });
      const box = $(".new-token", section);
      const input = $("#new-token-value");
      input.value = t.token;
      box.hidden = false;
      input.focus();
      input.select();
      tf.reset();
      addTokenRow(section, t);
    } catch (err) {
      showError(section, err.message);
    } finally {
      busy(button, false);
    }
  });
  $$("[data-action=delete-token]", section).forEach((b) => wireTokenDelete(b));
}

function addTokenRow(section, t) {
  let table = $("table", section);
  if (!table) {
    const empty = $("[data-testid=no-tokens]", section);
    table = el("table", { class: "table", "data-testid": "token-table" },
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Name" }), el("th", { scope: "col", text: "Created" }), el("th", { scope: "col" }, el("span", { class: "sr", text: "Actions" })))),
      el("tbody"));
    const wrap = el("div", { class: "table-wrap" }, table);
    if (empty) empty.replaceWith(wrap); else section.append(wrap);
  }
  const b = el("button", { type: "button", class: "btn btn-small btn-danger-quiet", "data-action": "delete-token", "data-name": t.name || "this token", "data-testid": "delete-token", "aria-label": "Delete token " + (t.name || "(no name)"), text: "Delete" });
  wireTokenDelete(b);
  $("tbody", table).prepend(el("tr", { "data-token": t.id },
    el("th", { scope: "row", text: t.name || "(no name)" }),
    el("td", {}, el("time", { datetime: t.created_at, text: when(t.created_at) })),
    el("td", { class: "row-actions" }, b)));
}

function wireTokenDelete(b) {
  b.addEventListener("click", async () => {
    const row = b.closest("tr");
    const ok = await confirmAction("Delete token?", "Anything using “" + b.dataset.name + "” stops working at once.", "Delete token");
    if (!ok) return;
    try {
      await api("DELETE", "/api/tokens/" + encodeURIComponent(row.dataset.token));
      row.remove();
      toast("Token deleted.");
    } catch (err) {
      toast(err.message, true);
    }
  });
}

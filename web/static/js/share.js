// Share links of an item or a folder.
import { api } from "mg/api.js";
import { confirmAction } from "mg/dialogs.js";
import { $, el, when, toast, showError, busy } from "mg/dom.js";

// initLinks shows the share-link editor once the links API answers.
export async function initLinks(section, base) {
  const list = $(".link-list", section);
  const form = $("#link-form");
  const fresh = $(".new-link", section);

  async function load() {
    const data = await api("GET", base + "/links");
    list.replaceChildren();
    const links = (data.links || []).filter((l) => !l.revoked);
    if (!links.length) {
      list.append(el("li", { class: "muted", text: "No share links yet." }));
      return;
    }
    const now = Date.now();
    for (const l of links) {
      const expired = l.expires_at && new Date(l.expires_at).getTime() <= now;
      const what = el("span", { class: "link-what" + (expired ? " is-dead" : "") });
      what.append(el("strong", { text: "Link created " + when(l.created_at) }), el("br"));
      const bits = [l.expires_at ? (expired ? "expired " : "expires ") + when(l.expires_at) : "never expires"];
      if (l.has_password) bits.push("password");
      if (l.created_by) bits.push("by " + l.created_by);
      what.append(bits.join(" · "));
      const revoke = el("button", { type: "button", class: "btn btn-small btn-danger-quiet", "data-testid": "revoke-link", "data-link": l.id, text: "Revoke", "aria-label": "Revoke the link created " + when(l.created_at) });
      revoke.addEventListener("click", async () => {
        const ok = await confirmAction("Revoke this link?", "Anyone using it loses access at once.", "Revoke");
        if (!ok) return;
        try {
          await api("DELETE", "/api/links/" + encodeURIComponent(l.id));
          toast("Link revoked.");
          fresh.hidden = true;
          load();
        } catch (err) {
          showError(section, err.message);
        }
      });
      list.append(el("li", { "data-testid": "link", id: "link-" + l.id }, what, revoke));
    }
  }

  try {
    await load();
  } catch (err) {
    // No links API on this server (yet): the section stays hidden.
    if (err.code === "no_endpoint" || err.code === "method_not_allowed") return;
    showError(section, err.message);
  }
  section.hidden = false;

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = $("[type=submit]", form);
    const body = {};
    const exp = $("#link-expiry").value;
    if (exp) body.expires_in = parseInt(exp, 10);
    const pw = $("#link-password").value;
    if (pw) body.password = pw;
    busy(button, true);
    showError(section, "");
    try {
      const l = await api("POST", base + "/links", body);
      const url = $("#new-link-url");
      url.value = new URL(l.url, location.href).href;
      fresh.hidden = false;
      $("#link-password").value = "";
      url.focus();
      url.select();
      await load();
    } catch (err) {
      showError(section, err.message);
    } finally {
      busy(button, false);
    }
  });
}

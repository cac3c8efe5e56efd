// The admin pages: users (add, role, disable) and groups (create, members).
import { api } from "mg/api.js";
import { commitSelect, confirmAction } from "mg/dialogs.js";
import { $, $$, seg, el, toast, showError, busy } from "mg/dom.js";

export function initAdminUsers() {
  const form = $("#user-form");
  const password = $("#user-password");
  $("[data-action=generate-password]").addEventListener("click", () => {
    const bytes = crypto.getRandomValues(new Uint8Array(15));
    password.value = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_");
    password.select();
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = $("[type=submit]", form);
    busy(button, true);
    showError(form.parentElement, "");
    try {
      const u = await api("POST", "/api/users", { email: $("#user-email").value, role: $("#user-role").value, password: password.value });
      sessionStorage.setItem("mg.toast", "Added " + u.email + " (" + u.role + ").");
      location.reload();
    } catch (err) {
      showError(form.parentElement, err.message);
      busy(button, false);
    }
  });
  for (const row of $$("tr[data-email]")) {
    const email = row.dataset.email;
    const role = $(".user-role", row);
    if (role) {
      commitSelect(role, async (v) => {
        try {
          await api("PATCH", "/api/users/" + seg(email), { role: v });
          toast(email + " is now " + v + ".");
          return true;
        } catch (err) {
          toast(err.message, true);
          return false;
        }
      }, "Save the role of " + email);
    }
    const toggle = $("[data-action=toggle-user]", row);
    if (toggle) {
      toggle.addEventListener("click", async () => {
        const disable = toggle.dataset.disabled !== "true";
        if (disable) {
          const ok = await confirmAction("Disable " + email + "?", "They are signed out everywhere at once and their API tokens stop working, until you enable the account again.", "Disable");
          if (!ok) return;
        }
        try {
          await api("PATCH", "/api/users/" + seg(email), { disabled: disable });
          toggle.dataset.disabled = String(disable);
          toggle.textContent = disable ? "Enable" : "Disable";
          toggle.classList.toggle("btn-danger-quiet", !disable);
          row.classList.toggle("is-disabled", disable);
          $(".user-status", row).replaceChildren(el("span", { class: "badge " + (disable ? "badge-off" : "badge-on"), text: disable ? "disabled" : "active" }));
          toast(email + (disable ? " is disabled and signed out." : " can sign in again."));
        } catch (err) {
          toast(err.message, true);
        }
      });
    }
  }
}

export function initAdminGroups() {
  const form = $("#group-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showError(form.parentElement, "");
    try {
      const g = await api("POST", "/api/groups", { name: $("#group-name").value.trim() });
      sessionStorage.setItem("mg.toast", "Group " + g.name + " created.");
      location.reload();
    } catch (err) {
      showError(form.parentElement, err.message);
    }
  });
  for (const section of $$("[data-group]")) {
    const group = section.dataset.group;
    const mf = $(".member-form", section);
    mf.addEventListener("submit", async (e) => {
      e.preventDefault();
      const email = $("[name=email]", mf).value.trim();
      showError(section, "");
      try {
        await api("PUT", "/api/groups/" + seg(group) + "/members/" + seg(email));
        sessionStorage.setItem("mg.toast", email + " added to " + group + ".");
        location.reload();
      } catch (err) {
        showError(section, err.message);
      }
    });
    for (const b of $$("[data-action=remove-member]", section)) {
      b.addEventListener("click", async () => {
        const email = b.dataset.email;
        showError(section, "");
        try {
          await api("DELETE", "/api/groups/" + seg(group) + "/members/" + seg(email));
          b.closest("li").remove();
          toast(email + " removed from " + group + ".");
        } catch (err) {
          showError(section, err.message);
        }
      });
    }
  }
}

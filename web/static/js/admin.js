// The admin pages: users (add, role, disable) and groups (create, members).
import { api } from "mg/api.js";
import { commitSelect, confirmAction, openDialog } from "mg/dialogs.js";
import { $, $$, seg, el, toast, showError, busy, reloadWithToast } from "mg/dom.js";

// generatePassword is 20 random URL-safe characters.
function generatePassword() {
  const bytes = crypto.getRandomValues(new Uint8Array(15));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_");
}

export function initAdminUsers() {
  const form = $("#user-form");
  const password = $("#user-password");
  $("[data-action=generate-password]").addEventListener("click", () => {
    password.value = generatePassword();
    password.select();
  });
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const button = $("[type=submit]", form);
    busy(button, true);
    showError(form.parentElement, "");
    try {
      const u = await api("POST", "/api/users", { email: $("#user-email").value, role: $("#user-role").value, password: password.value });
      reloadWithToast("Added " + u.email + " (" + u.role + ").");
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
    const reset = $("[data-action=reset-password]", row);
    if (reset) reset.addEventListener("click", () => resetPassword(email));
    const del = $("[data-action=delete-user]", row);
    if (del) del.addEventListener("click", () => deleteUser(email, row));
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

// resetPassword sets a new password for email, in the reset dialog; the
// API signs them out everywhere.
function resetPassword(email) {
  const dlg = $("#reset-dialog");
  const form = $("form", dlg);
  const input = $("#reset-password", dlg);
  $("#reset-title", dlg).textContent = "Reset the password of " + email;
  input.value = "";
  $("[data-action=generate-reset]", dlg).onclick = () => { input.value = generatePassword(); input.select(); };
  form.onsubmit = async (e) => {
    e.preventDefault();
    if (input.value.length < 8) { showError(form, "The password needs 8 characters or more."); input.focus(); return; }
    const button = $("[type=submit]", form);
    busy(button, true);
    showError(form, "");
    try {
      await api("POST", "/api/users/" + seg(email) + "/password", { password: input.value });
      dlg.close();
      toast("New password set for " + email + "; they are signed out everywhere.");
    } catch (err) {
      showError(form, err.message);
    } finally {
      busy(button, false);
    }
  };
  openDialog(dlg);
  input.focus();
}

// deleteUser deletes email after asking which admin gets what they own.
function deleteUser(email, row) {
  const dlg = $("#delete-user-dialog");
  const form = $("form", dlg);
  const to = $("#reassign-to", dlg);
  $("#delete-user-title", dlg).textContent = "Delete " + email + "?";
  $(".delete-user-text", dlg).textContent = "Their account goes for good. What they own is given to the admin you choose.";
  for (const o of $$("option", to)) o.hidden = o.disabled = o.value === email;
  if (to.selectedOptions[0] && to.selectedOptions[0].disabled) {
    const first = $$("option", to).find((o) => !o.disabled);
    to.value = first ? first.value : "";
  }
  form.onsubmit = async (e) => {
    e.preventDefault();
    if (!to.value) { showError(form, "There is no other admin to give their files to: make one first."); return; }
    const button = $("[type=submit]", form);
    busy(button, true);
    showError(form, "");
    try {
      await api("DELETE", "/api/users/" + seg(email), { reassign_to: to.value });
      dlg.close();
      row.remove();
      for (const o of $$("option", to)) if (o.value === email) o.remove(); // no longer an heir
      toast(email + " deleted; their files and folders now belong to " + to.value + ".");
    } catch (err) {
      showError(form, err.message);
    } finally {
      busy(button, false);
    }
  };
  openDialog(dlg);
  to.focus();
}

export function initAdminGroups() {
  const form = $("#group-form");
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    showError(form.parentElement, "");
    try {
      const g = await api("POST", "/api/groups", { name: $("#group-name").value.trim() });
      reloadWithToast("Group " + g.name + " created.");
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
        reloadWithToast(email + " added to " + group + ".");
      } catch (err) {
        showError(section, err.message);
      }
    });
    $("[data-action=rename-group]", section).addEventListener("click", () => renameGroup(group));
    $("[data-action=delete-group]", section).addEventListener("click", async () => {
      const ok = await confirmAction("Delete the group " + group + "?", "Its members lose the access given to the group, at once. The people themselves stay.", "Delete group");
      if (!ok) return;
      showError(section, "");
      try {
        await api("DELETE", "/api/groups/" + seg(group));
        section.remove();
        toast("Group " + group + " deleted.");
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

// renameGroup renames group in the rename dialog, then shows the page again.
function renameGroup(group) {
  const dlg = $("#group-rename-dialog");
  const form = $("form", dlg);
  const input = $("#group-new-name", dlg);
  $("#group-rename-title", dlg).textContent = "Rename the group " + group;
  input.value = group;
  form.onsubmit = async (e) => {
    e.preventDefault();
    const name = input.value.trim();
    const button = $("[type=submit]", form);
    busy(button, true);
    showError(form, "");
    try {
      const g = await api("PATCH", "/api/groups/" + seg(group), { name });
      reloadWithToast("Group " + group + " is now " + g.name + ".");
    } catch (err) {
      showError(form, err.message);
      busy(button, false);
    }
  };
  openDialog(dlg);
  input.select();
}

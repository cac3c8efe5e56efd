// The access editor of an item or a folder.
import { api } from "mg/api.js";
import { commitSelect } from "mg/dialogs.js";
import { $, seg, el, toast, showError, busy } from "mg/dom.js";

function subjectLabel(s) {
  if (s === "everyone") return "Everyone signed in";
  if (s.startsWith("group:")) return "Group " + s.slice(6);
  if (s.startsWith("user:")) return s.slice(5);
  return s;
}

const LEVELS = { view: "Can view", edit: "Can edit", manage: "Can manage" };

// syncWho fits the name field of a grant form to its "Who" select (the
// c-who-options): hidden and optional for everyone, an email for a person,
// text for a group. It returns the choice.
export function syncWho(type, name, field) {
  const t = type.value;
  field.hidden = t === "everyone";
  name.required = t !== "everyone";
  if (t === "user") {
    name.type = "email";
    name.placeholder = "name@example.com";
  } else if (t === "group") {
    name.type = "text";
    name.placeholder = "group name";
  }
  return t;
}

// initGrants runs one access editor: list, add, change, remove.
export function initGrants(root) {
  if (!root || root.dataset.ready) return;
  root.dataset.ready = "1";
  const base = root.dataset.grants;
  const form = $(".grants-form", root);
  const list = $(".grant-list", root);
  const type = $("[name=type]", form);
  const name = $("[name=name]", form);
  const nameField = $(".grant-name-field", form);
  const nameLabel = $("label", nameField);
  let groupsLoaded = false;

  function syncType() {
    const t = syncWho(type, name, nameField);
    if (t === "user") {
      nameLabel.textContent = "Email";
      name.removeAttribute("list");
    } else if (t === "group") {
      nameLabel.textContent = "Group";
      name.setAttribute("list", "group-names");
      loadGroups();
    }
  }

  async function loadGroups() {
    if (groupsLoaded) return;
    groupsLoaded = true;
    try {
      const data = await api("GET", "/api/groups");
      const dl = $("#group-names");
      dl.replaceChildren(...data.groups.map((g) => el("option", { value: g.name })));
    } catch (_) { groupsLoaded = false; }
  }

  async function load() {
    try {
      const data = await api("GET", base + "/grants");
      render(data.grants);
    } catch (err) {
      list.replaceChildren();
      showError(root, err.message);
    }
  }

  function render(grants) {
    list.replaceChildren();
    if (!grants.length) {
      list.append(el("li", { class: "muted", text: "Only the owner and admins can see this. Add people or groups above." }));
      return;
    }
    for (const g of grants) {
      const who = el("span", { class: "grant-who", text: subjectLabel(g.subject) });
      const li = el("li", { "data-subject": g.subject, "data-testid": "grant" }, who);
      if (g.inherited_from) {
        const from = el("span", { class: "grant-from" }, "Through folder ");
        from.append(el("a", { href: "/?folder=" + encodeURIComponent(g.inherited_from.folder_id), text: g.inherited_from.name }));
        who.append(from);
        li.append(el("span", { class: "badge grant-level", text: LEVELS[g.permission] || g.permission }));
      } else {
        const id = "lvl-" + Math.random().toString(36).slice(2);
        const sel = el("select", { id, class: "grant-level", "data-testid": "grant-level-change" });
        for (const [v, label] of Object.entries(LEVELS)) sel.append(el("option", { value: v, text: label, selected: v === g.permission }));
        const rm = el("button", { type: "button", class: "btn btn-small btn-danger-quiet", "data-testid": "revoke-grant", "aria-label": "Remove access for " + subjectLabel(g.subject), text: "Remove" });
        rm.addEventListener("click", () => removeGrant(g.subject, rm));
        li.append(el("label", { for: id, class: "sr", text: "Permission of " + subjectLabel(g.subject) }), sel, rm);
        commitSelect(sel, (v) => setGrant(g.subject, v), "Save the permission of " + subjectLabel(g.subject));
      }
      list.append(li);
    }
  }

  async function setGrant(subject, permission) {
    showError(root, "");
    try {
      await api("PUT", base + "/grants/" + seg(subject), { permission });
      toast(subjectLabel(subject) + ": " + LEVELS[permission].toLowerCase() + ".");
    } catch (err) {
      showError(root, err.message);
    }
    load();
  }

  async function removeGrant(subject, button) {
    busy(button, true);
    showError(root, "");
    try {
      await api("DELETE", base + "/grants/" + seg(subject));
      toast("Access removed for " + subjectLabel(subject) + ".");
    } catch (err) {
      showError(root, err.message);
    }
    load();
  }

  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const t = type.value;
    const n = name.value.trim();
    const subject = t === "everyone" ? "everyone" : t + ":" + n;
    const button = $("[type=submit]", form);
    busy(button, true);
    showError(root, "");
    try {
      await api("PUT", base + "/grants/" + seg(subject), { permission: $("[name=permission]", form).value });
      name.value = "";
      toast("Access given to " + subjectLabel(subject) + ".");
      await load();
    } catch (err) {
      showError(root, err.message);
    } finally {
      busy(button, false);
    }
  });
  type.addEventListener("change", syncType);
  syncType();
  load();
}

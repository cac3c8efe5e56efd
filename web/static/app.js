// Mediagate's pages. Plain JavaScript, no build step: the pages work from
// the server's HTML and this file adds uploads, dialogs and the editors that
// talk to the JSON API. Nothing here writes inline styles into markup: the
// page CSP forbids them (setting element.style through the DOM is allowed).
"use strict";
(() => {
  const $ = (sel, root = document) => root.querySelector(sel);
  const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

  // ---------------------------------------------------------------- helpers

  const KINDS = /(?:^|: )(?:invalid request|authentication required|forbidden|not found|method not allowed|conflict|gone|too large|too many attempts|temporarily unavailable): /;

  // readable turns an API error ("set grant: not found: no user named …")
  // into a sentence: what follows the kind of error.
  function readable(msg) {
    msg = String(msg || "").trim();
    const m = msg.match(KINDS);
    if (m) msg = msg.slice(m.index + m[0].length);
    return msg ? msg.charAt(0).toUpperCase() + msg.slice(1) : "Something went wrong.";
  }

  // api calls the JSON API and throws an Error with the API's own message.
  async function api(method, path, body, again) {
    const opts = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (_) {
      throw new Error("Network error: check your connection and try again.");
    }
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
    if (!res.ok) {
      const code = (data && data.code) || ""; // the API's stable code, such as "not_found"
      // The session ended: sign in again in a dialog, then send the same
      // request once more; the page, and what was typed in it, stays.
      if (code === "unauthenticated" && !again && await reauthenticate()) return api(method, path, body, true);
      const err = new Error(code === "unauthenticated" ? SIGNED_OUT : readable((data && data.error) || text || res.statusText || "HTTP " + res.status));
      err.status = res.status;
      err.code = code;
      throw err;
    }
    return data;
  }

  // ---------------------------------------------------------------- session

  const SIGNED_OUT = "Your session has ended: sign in again, then try again.";
  let reauthenticating = null;

  // reauthenticate asks the user to sign in again, in the page's session
  // dialog, and resolves to true once the session works again. Calls made
  // meanwhile wait for the same dialog.
  function reauthenticate() {
    const dlg = $("#session-dialog");
    if (!dlg) return Promise.resolve(false);
    if (!reauthenticating) reauthenticating = askSignIn(dlg).finally(() => { reauthenticating = null; });
    return reauthenticating;
  }

  async function signedIn() {
    try {
      const res = await fetch("/api/me", { headers: { Accept: "application/json" }, credentials: "same-origin" });
      return res.ok;
    } catch (_) {
      return false;
    }
  }

  function askSignIn(dlg) {
    const form = $("form", dlg);
    const email = $("#session-email", dlg);
    const password = $("#session-password", dlg);
    const retry = $("[data-action=session-retry]", dlg);
    const submit = $("[type=submit]", form);
    const newTab = $("[data-testid=session-new-tab]", dlg);
    newTab.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
    let ok = false;
    const done = () => { ok = true; dlg.close(); };
    form.onsubmit = async (e) => {
      e.preventDefault();
      if (!email.value.trim() || !password.value) {
        showError(form, "Fill in your email and password.");
        (email.value.trim() ? password : email).focus();
        return;
      }
      busy(submit, true);
      showError(form, "");
      try {
        // The sign-in form's own endpoint: a redirect (303) means signed in.
        const res = await fetch("/login", {
          method: "POST", credentials: "same-origin", redirect: "manual",
          headers: { "Content-Type": "application/x-www-form-urlencoded" },
          body: new URLSearchParams({ email: email.value.trim(), password: password.value, next: "/" }),
        });
        if (res.type === "opaqueredirect" && await signedIn()) { done(); return; }
        showError(form, res.status === 429 ? "Too many attempts: wait a few minutes, then try again."
          : res.status === 401 || res.status === 400 ? "Wrong email or password."
            : "Signing in failed (HTTP " + res.status + "): try again.");
        password.select();
      } catch (_) {
        showError(form, "Network error: check your connection and try again.");
      } finally {
        busy(submit, false);
      }
    };
    retry.onclick = async () => {
      busy(retry, true);
      showError(form, "");
      if (await signedIn()) done();
      else showError(form, "Still signed out: sign in in the other tab first, or here.");
      busy(retry, false);
    };
    password.value = "";
    openDialog(dlg);
    (email.value ? password : email).focus();
    return new Promise((resolve) => {
      dlg.addEventListener("close", () => { password.value = ""; resolve(ok); }, { once: true });
    });
  }

  // commitSelect keeps a select that saves from acting on every arrow key
  // (WCAG 3.2.2): choosing a value only shows a Save button beside it; the
  // button, or Enter on the select, saves. save resolves to false when the
  // value was refused, and the select goes back to the saved one.
  function commitSelect(sel, save, label) {
    let saved = sel.value;
    const btn = el("button", { type: "button", class: "btn btn-small btn-primary", hidden: true, "data-testid": "select-save", "aria-label": label, title: label, text: "Save" });
    sel.after(btn);
    const sync = () => { btn.hidden = sel.value === saved; };
    async function commit() {
      if (sel.value === saved) return;
      const had = document.activeElement === btn;
      busy(btn, true);
      try {
        if (await save(sel.value) === false) sel.value = saved;
        else saved = sel.value;
      } finally {
        busy(btn, false);
        sync();
        if (had && document.contains(sel)) sel.focus();
      }
    }
    sel.addEventListener("change", sync);
    sel.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); commit(); } });
    btn.addEventListener("click", commit);
  }

  // seg encodes one path segment the way Go's router leaves it alone: ':',
  // '@' and '+' stay as they are, so "user:a+b@example.com" arrives intact.
  function seg(s) {
    return encodeURIComponent(s).replace(/%(2B|3A|40|24|26|2C|3B|3D)/g, (m) => decodeURIComponent(m));
  }

  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  }

  function humanSize(n) {
    if (n < 1024) return n + " B";
    const units = "KMGTPE";
    let i = -1;
    do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
    return n.toFixed(1) + " " + units[i] + "iB";
  }

  function humanTime(secs) {
    if (!isFinite(secs) || secs < 0) return "";
    secs = Math.round(secs);
    if (secs < 60) return secs + " s";
    const m = Math.round(secs / 60);
    if (m < 60) return m + " min";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  }

  function when(iso) {
    const d = new Date(iso);
    return isNaN(d) ? "" : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  let toastTimer = 0;
  function toast(msg, isError) {
    const t = $("#toast");
    if (!t) return;
    t.textContent = msg;
    t.classList.toggle("is-error", !!isError);
    t.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { t.hidden = true; }, isError ? 7000 : 3500);
  }

  // showError writes msg into the .error box of scope (a form, dialog or
  // section); an empty msg hides it.
  function showError(scope, msg) {
    let box = scope && (scope.matches(".error") ? scope : $(".error", scope));
    if (!box && scope) box = scope.parentElement && $(":scope > .error", scope.parentElement);
    if (!box) { if (msg) toast(msg, true); return; }
    box.textContent = msg || "";
    box.hidden = !msg;
  }

  function busy(button, on) {
    if (button) button.disabled = on;
  }

  // ---------------------------------------------------------------- dialogs

  function openDialog(dlg) {
    const opener = document.activeElement;
    $$(".error", dlg).forEach((e) => { e.hidden = true; });
    dlg.showModal();
    dlg.addEventListener("close", () => {
      if (opener && document.contains(opener) && opener.focus) opener.focus();
    }, { once: true });
  }

  document.addEventListener("click", (e) => {
    const close = e.target.closest("[data-close]");
    if (close && close.closest("dialog")) {
      close.closest("dialog").close();
      return;
    }
    // A click on the backdrop (the dialog itself, outside its body) closes it.
    if (e.target.tagName === "DIALOG" && e.target.open) e.target.close();
  });

  // confirmAction asks, in the page's confirm dialog, and resolves to true on OK.
  function confirmAction(title, text, okLabel) {
    const dlg = $("#confirm");
    if (!dlg) return Promise.resolve(window.confirm(text));
    $("#confirm-title", dlg).textContent = title;
    $("#confirm-text", dlg).textContent = text;
    $("[value=ok]", dlg).textContent = okLabel || "Delete";
    dlg.returnValue = "";
    openDialog(dlg);
    return new Promise((resolve) => {
      dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
    });
  }

  // ---------------------------------------------------------------- copy

  document.addEventListener("click", async (e) => {
    const btn = e.target.closest("[data-copy]");
    if (!btn) return;
    const input = $(btn.dataset.copy);
    if (!input) return;
    if (input.hasAttribute("data-absolute") && input.value) input.value = new URL(input.value, location.href).href;
    const text = input.value;
    try {
      if (!navigator.clipboard) throw new Error("no clipboard");
      await navigator.clipboard.writeText(text);
    } catch (_) {
      // Plain http or an old browser: fall back to selecting and copying.
      input.focus();
      input.select();
      let ok = false;
      try { ok = document.execCommand("copy"); } catch (_) { /* not allowed */ }
      if (!ok) { toast("Press Ctrl+C (or ⌘C) to copy the selected text."); return; }
    }
    copied(btn);
  });

  // copied says so on the button for a moment and, for screen readers, in
  // the toast's live region.
  function copied(btn) {
    const label = $("span", btn);
    if (label && !btn.dataset.label) btn.dataset.label = label.textContent;
    if (label) label.textContent = "Copied";
    btn.classList.add("is-copied");
    clearTimeout(btn.copiedTimer);
    btn.copiedTimer = setTimeout(() => {
      if (label) label.textContent = btn.dataset.label;
      btn.classList.remove("is-copied");
    }, 2000);
    toast("Copied to the clipboard.");
  }

  // ---------------------------------------------------------------- folder picker

  // pickFolder lets the user browse folders and resolves to the chosen
  // folder id (null for the library's root), or undefined when cancelled.
  function pickFolder({ title, action, exclude, current }) {
    const dlg = $("#folder-picker");
    const list = $(".picker-list", dlg);
    const trail = $(".picker-trail", dlg);
    const choose = $(".picker-choose", dlg);
    $("#folder-picker-title", dlg).textContent = title;
    let path = []; // [{id, name}] from the top
    let result;

    async function show() {
      const here = path.length ? path[path.length - 1] : null;
      trail.replaceChildren();
      const top = el("button", { type: "button", text: "Library" });
      top.addEventListener("click", () => { path = []; show(); });
      trail.append(top);
      path.forEach((f, i) => {
        const b = el("button", { type: "button", text: f.name });
        b.addEventListener("click", () => { path = path.slice(0, i + 1); show(); });
        trail.append(el("span", { class: "sep", text: "/", "aria-hidden": "true" }), b);
      });
      const hereID = here ? here.id : null;
      choose.textContent = here ? action + " “" + here.name + "”" : "Move to the library";
      choose.disabled = hereID === (current === undefined ? "\u0000" : current);
      list.replaceChildren(el("li", {}, el("span", { class: "muted", text: "Loading…" })));
      showError(dlg, "");
      try {
        const data = await api("GET", "/api/folders/" + (here ? here.id : "root") + "?limit=1");
        list.replaceChildren();
        for (const f of data.folders) {
          if (f.id === exclude) continue;
          const b = el("button", { type: "button", "data-folder": f.id });
          b.append(folderIcon(), el("span", { text: f.name }));
          b.addEventListener("click", () => { path.push({ id: f.id, name: f.name }); show(); });
          list.append(el("li", {}, b));
        }
        if (!list.children.length) list.append(el("li", {}, el("span", { class: "muted", text: "No folders in here." })));
        const first = $("button", list);
        if (first && document.activeElement === document.body) first.focus();
      } catch (err) {
        list.replaceChildren();
        showError(dlg, err.message);
      }
    }

    choose.onclick = () => {
      const here = path.length ? path[path.length - 1] : null;
      result = here ? here.id : null;
      dlg.close();
    };
    openDialog(dlg);
    show();
    return new Promise((resolve) => {
      dlg.addEventListener("close", () => resolve(result), { once: true });
    });
  }

  // folderIcon copies the page's folder icon, so the script draws none itself.
  function folderIcon() {
    const t = $("#icon-folder");
    return t ? t.content.firstElementChild.cloneNode(true) : el("span");
  }

  // ---------------------------------------------------------------- grants

  function subjectLabel(s) {
    if (s === "everyone") return "Everyone signed in";
    if (s.startsWith("group:")) return "Group " + s.slice(6);
    if (s.startsWith("user:")) return s.slice(5);
    return s;
  }

  const LEVELS = { view: "Can view", edit: "Can edit", manage: "Can manage" };

  // initGrants runs one access editor: list, add, change, remove.
  function initGrants(root) {
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
      const t = type.value;
      nameField.hidden = t === "everyone";
      name.required = t !== "everyone";
      if (t === "user") {
        name.type = "email";
        name.placeholder = "name@example.com";
        nameLabel.textContent = "Email";
        name.removeAttribute("list");
      } else if (t === "group") {
        name.type = "text";
        name.placeholder = "group name";
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

  // ---------------------------------------------------------------- library

  function initLibrary() {
    const lib = $(".library");
    const folder = lib.dataset.folder || null;

    // Grid or list, remembered.
    const setView = (v) => {
      document.documentElement.classList.toggle("view-list", v === "list");
      $$("[data-view]").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.view === v)));
      try { localStorage.setItem("mg.view", v); } catch (_) { /* fine */ }
    };
    setView(document.documentElement.classList.contains("view-list") ? "list" : "grid");
    $$("[data-view]").forEach((b) => b.addEventListener("click", () => setView(b.dataset.view)));

    // The sort select only chooses; Apply (or Enter) reloads (WCAG 3.2.2).

    previews.watch();
    document.addEventListener("click", (e) => {
      const more = e.target.closest("[data-action=load-more]");
      if (more) { e.preventDefault(); loadMore(more); }
    });
    initTree();

    const act = (name, fn) => { const b = $(`[data-action=${name}]`); if (b) b.addEventListener("click", () => fn(b)); };
    act("new-folder", () => folderDialog("create"));
    act("rename-folder", () => folderDialog("rename"));
    act("move-folder", moveFolder);
    act("delete-folder", deleteFolder);
    act("folder-links", () => {
      const dlg = $("#folder-links-dialog");
      openDialog(dlg);
      if (!dlg.dataset.ready) {
        dlg.dataset.ready = "1";
        initLinks($("#links", dlg), "/api/folders/" + folder);
      }
    });
    act("share-folder", () => {
      const dlg = $("#access-dialog");
      openDialog(dlg);
      initGrants($("[data-grants]", dlg));
    });

    function folderDialog(mode) {
      const dlg = $("#folder-dialog");
      const form = $("form", dlg);
      const input = $("#folder-name", dlg);
      $("#folder-dialog-title", dlg).textContent = mode === "create" ? "New folder" : "Rename folder";
      $("[type=submit]", form).textContent = mode === "create" ? "Create" : "Save";
      input.value = mode === "create" ? "" : lib.dataset.folderName;
      form.onsubmit = async (e) => {
        e.preventDefault();
        const button = $("[type=submit]", form);
        busy(button, true);
        try {
          if (mode === "create") {
            const f = await api("POST", "/api/folders", { name: input.value, parent: folder });
            location.href = "/?folder=" + encodeURIComponent(f.id);
          } else {
            await api("PATCH", "/api/folders/" + folder, { name: input.value });
            location.reload();
          }
        } catch (err) {
          showError(form, err.message);
          busy(button, false);
        }
      };
      openDialog(dlg);
      input.select();
    }

    async function moveFolder() {
      const target = await pickFolder({ title: "Move “" + lib.dataset.folderName + "” to…", action: "Move into", exclude: folder, current: lib.dataset.parent || null });
      if (target === undefined) return;
      try {
        await api("PATCH", "/api/folders/" + folder, { parent: target });
        location.reload();
      } catch (err) {
        toast(err.message, true);
      }
    }

    async function deleteFolder() {
      const ok = await confirmAction("Delete folder?", "“" + lib.dataset.folderName + "” will be deleted. Only an empty folder can be deleted: move or delete what is in it first.", "Delete folder");
      if (!ok) return;
      try {
        await api("DELETE", "/api/folders/" + folder);
        location.href = lib.dataset.parent ? "/?folder=" + encodeURIComponent(lib.dataset.parent) : "/";
      } catch (err) {
        toast(err.message, true);
      }
    }

    if (lib.dataset.canUpload) initUploads(folder);
  }

  // ---------------------------------------------------------------- previews

  // clock writes a duration as players show it, m:ss or h:mm:ss, and iso
  // as <time datetime> wants it: the same as the server's Length and
  // LengthISO.
  function clock(secs) {
    if (!(secs > 0)) return null;
    const s = Math.max(Math.round(secs), 1);
    const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, r = s % 60;
    const two = (n) => String(n).padStart(2, "0");
    return {
      text: h ? h + ":" + two(m) + ":" + two(r) : m + ":" + two(r),
      iso: "PT" + (h ? h + "H" : "") + (s >= 60 ? m + "M" : "") + r + "S",
    };
  }

  // showTilePreview draws what the API says of a tile's item once the
  // pipeline is done with it: the thumbnail, the duration and size, or why
  // there is no preview. It returns false while the item is still pending.
  function showTilePreview(li, it) {
    const m = it.media;
    if (!m || m.state === "pending") return false;
    li.dataset.state = m.state;
    const thumb = $(".thumb", li);
    if (m.thumb_url && thumb && !$("img", thumb)) {
      thumb.prepend(el("img", { src: m.thumb_url, decoding: "async", alt: "" }));
    }
    const c = m.kind !== "image" ? clock(m.duration) : null;
    const len = $(".item-length", li);
    if (len && c) len.replaceChildren(el("span", { class: "sr", text: "Duration: " }), el("time", { datetime: c.iso, text: c.text }));
    const dims = $(".item-dims", li);
    if (dims && m.kind !== "audio" && m.width > 0 && m.height > 0) {
      dims.replaceChildren(el("span", { class: "sr", text: "Dimensions: " }), m.width + "×" + m.height);
    }
    const state = $(".item-state", li);
    if (state) {
      // The live region says what changed, for screen readers.
      const name = it.filename || "";
      if (m.state === "ready") {
        state.replaceChildren(el("span", { class: "state-text", text: "Preview of " + name + " ready." }));
      } else {
        const text = el("span", { class: "state-text", text: "No preview" });
        if (m.reason) text.append(el("span", { class: "state-reason" }, el("span", { class: "state-sep", text: ": " }), m.reason));
        state.replaceChildren(text);
      }
    }
    return true;
  }

  // previews asks the API about the library's pending tiles every few
  // seconds, less and less often, until none is pending; not while the page
  // is hidden. watch() starts it again after new tiles came.
  const previews = (() => {
    const FIRST = 2000, MAX = 30000;
    let delay = FIRST, timer = 0, running = false;

    const pending = () => $$(".items > .item[data-state=pending]");

    function schedule() {
      clearTimeout(timer);
      timer = 0;
      if (running || document.hidden || !pending().length) return;
      timer = setTimeout(round, delay);
    }

    async function round() {
      timer = 0;
      running = true;
      try {
        for (const li of pending()) {
          if (document.hidden) break;
          try {
            const it = await api("GET", "/api/media/" + encodeURIComponent(li.dataset.id));
            showTilePreview(li, it);
          } catch (err) {
            // Deleted, or no longer ours to see: stop asking about it.
            if (err.status === 404) delete li.dataset.state;
            else break; // offline or a server in trouble: try later
          }
        }
      } finally {
        running = false;
      }
      delay = Math.min(Math.round(delay * 1.6), MAX);
      schedule();
    }

    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) delay = FIRST;
      schedule();
    });
    return { watch() { delay = FIRST; schedule(); } };
  })();

  // loadMore fetches the next page as HTML and appends its items, so there
  // is one template for both.
  async function loadMore(link) {
    const holder = link.closest(".more");
    link.setAttribute("aria-disabled", "true");
    link.textContent = "Loading…";
    try {
      const res = await fetch(link.href, { credentials: "same-origin" });
      if (!res.ok) throw new Error("Could not load more (" + res.status + ").");
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      const items = $(".items", document);
      const fresh = $$(".items > .item", doc).map((li) => document.adoptNode(li));
      items.append(...fresh);
      previews.watch();
      const next = $(".more", doc);
      if (next) holder.replaceWith(document.adoptNode(next));
      else holder.remove();
      const first = fresh[0] && $(".item-name", fresh[0]);
      if (first) first.focus();
    } catch (err) {
      link.textContent = "Load more";
      link.removeAttribute("aria-disabled");
      toast(err.message, true);
    }
  }

  // refreshListing reloads the current view's items in place (after uploads).
  async function refreshListing() {
    try {
      const res = await fetch(location.href, { credentials: "same-origin" });
      if (!res.ok) return;
      const doc = new DOMParser().parseFromString(await res.text(), "text/html");
      const fresh = $("#library-items", doc);
      const here = $("#library-items");
      if (fresh && here) {
        here.replaceWith(document.adoptNode(fresh));
        previews.watch();
      }
    } catch (_) { /* the next visit shows them */ }
  }

  // The side tree opens folders on demand.
  function initTree() {
    $$(".sidebar .tree-toggle").forEach(wireToggle);
  }

  function wireToggle(btn) {
    btn.addEventListener("click", async () => {
      const li = btn.closest(".tree-node");
      const name = $("a span", li).textContent;
      const open = btn.getAttribute("aria-expanded") === "true";
      let sub = $(":scope > .tree", li);
      if (open) {
        btn.setAttribute("aria-expanded", "false");
        btn.setAttribute("aria-label", "Expand " + name);
        if (sub) sub.hidden = true;
        return;
      }
      if (!sub) {
        btn.disabled = true;
        try {
          const data = await api("GET", "/api/folders/" + btn.dataset.folder + "?limit=1");
          if (!data.folders.length) {
            btn.classList.add("is-leaf");
            btn.setAttribute("aria-hidden", "true");
            btn.tabIndex = -1;
            return;
          }
          sub = el("ul", { class: "tree", role: "list" });
          const row = $(":scope > .tree-row", li);
          for (const f of data.folders) {
            const r = row.cloneNode(true);
            const a = $("a", r);
            a.href = "/?folder=" + encodeURIComponent(f.id);
            a.removeAttribute("aria-current");
            $("span", a).textContent = f.name;
            const t = $(".tree-toggle", r);
            t.dataset.folder = f.id;
            t.setAttribute("aria-expanded", "false");
            t.setAttribute("aria-label", "Expand " + f.name);
            t.classList.remove("is-leaf");
            t.removeAttribute("aria-hidden");
            t.removeAttribute("tabindex");
            wireToggle(t);
            sub.append(el("li", { class: "tree-node" }, r));
          }
          li.append(sub);
        } catch (err) {
          toast(err.message, true);
          return;
        } finally {
          btn.disabled = false;
        }
      }
      sub.hidden = false;
      btn.setAttribute("aria-expanded", "true");
      btn.setAttribute("aria-label", "Collapse " + name);
    });
  }

  // ---------------------------------------------------------------- uploads

  const CHUNK = 8 << 20; // bytes per tus PATCH
  const PARALLEL = 2;
  const TUS = "/api/uploads/";
  let tusAvailable = null; // unknown until the first POST answers

  function b64(s) {
    const bytes = new TextEncoder().encode(s);
    let bin = "";
    for (const b of bytes) bin += String.fromCharCode(b);
    return btoa(bin);
  }

  // send runs one XMLHttpRequest (for upload progress, which fetch lacks).
  function send(task, { method, url, headers, body, onProgress }) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      task.xhr = xhr;
      xhr.open(method, url);
      for (const [k, v] of Object.entries(headers || {})) xhr.setRequestHeader(k, v);
      if (onProgress) xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded));
      xhr.addEventListener("load", () => resolve({
        status: xhr.status,
        header: (h) => xhr.getResponseHeader(h),
        text: xhr.responseText,
      }));
      xhr.addEventListener("error", () => reject(Object.assign(new Error("Network error"), { retry: true })));
      xhr.addEventListener("abort", () => reject(Object.assign(new Error("Cancelled"), { cancelled: true })));
      xhr.send(body === undefined ? null : body);
    });
  }

  function answerError(r) {
    let msg = r.text, code = "";
    try {
      const data = JSON.parse(r.text);
      msg = data.error || msg;
      code = data.code || "";
    } catch (_) { /* tusd's plain text */ }
    const err = new Error(readable(msg || "The server answered " + r.status + "."));
    err.status = r.status;
    err.code = code;
    err.retry = retryable(r.status);
    if (code === "unauthenticated") err.message = SIGNED_OUT;
    return err;
  }

  // retryable tells the answers that trying again can fix: none (the
  // network), a timeout, throttling and the server's own troubles; not a
  // request refused for what it is (400, 403, 404, 413, 415…).
  function retryable(status) {
    return !status || status === 408 || status === 429 || status >= 500;
  }

  function storageGet(k) { try { return localStorage.getItem(k); } catch (_) { return null; } }
  function storageSet(k, v) { try { localStorage.setItem(k, v); } catch (_) { /* fine */ } }
  function storageDel(k) { try { localStorage.removeItem(k); } catch (_) { /* fine */ } }

  // tusUpload sends the file by the tus 1.0 protocol, resuming an earlier
  // attempt of the same file. It resolves to the new item's id, or to
  // false when the server has no tus endpoint.
  async function tusUpload(task) {
    const { file, folder } = task;
    const key = "mg.tus:" + [folder || "root", file.name, file.size, file.lastModified].join(":");
    const tus = { "Tus-Resumable": "1.0.0" };
    let url = storageGet(key);
    let offset = 0;

    let itemID = null;
    // serverOffset asks how much the server has; a finished upload also
    // names its item.
    async function serverOffset() {
      const r = await send(task, { method: "HEAD", url, headers: tus });
      const n = parseInt(r.header("Upload-Offset"), 10);
      if (r.status === 401) throw answerError(r); // keep the upload to resume after signing in
      if (r.header("Mediagate-Item-Id")) itemID = r.header("Mediagate-Item-Id");
      if ((r.status === 200 || r.status === 204) && n >= 0 && n <= file.size) return n;
      return -1;
    }

    if (url) {
      offset = await serverOffset();
      if (offset < 0) { storageDel(key); url = null; offset = 0; } else task.resumed = offset;
    }
    if (!url) {
      let meta = "filename " + b64(file.name);
      if (folder) meta += ",folder " + b64(folder);
      const r = await send(task, { method: "POST", url: TUS, headers: { ...tus, "Upload-Length": String(file.size), "Upload-Metadata": meta } });
      if (r.status === 404 || r.status === 405 || r.status === 501) return false;
      if (r.status !== 201 || !r.header("Location")) throw answerError(r);
      const loc = new URL(r.header("Location"), location.href);
      if (loc.origin !== location.origin) throw Object.assign(new Error("The server sent an upload address on another site."), { retry: false });
      url = loc.href;
      storageSet(key, url);
    }
    task.url = url;
    let failures = 0;
    while (offset < file.size) {
      const end = Math.min(offset + CHUNK, file.size);
      const start = offset;
      let r;
      try {
        r = await send(task, {
          method: "PATCH", url, body: file.slice(start, end),
          headers: { ...tus, "Upload-Offset": String(start), "Content-Type": "application/offset+octet-stream" },
          onProgress: (loaded) => progress(task, start + loaded),
        });
      } catch (err) {
        if (!err.retry || ++failures > 5) throw err;
        await sleep(1000 * failures);
        offset = await serverOffset().catch(() => start);
        if (offset < 0) throw new Error("The server forgot this upload; start it again.");
        continue;
      }
      if (r.status === 409) { // offsets disagree: ask the server where it is
        offset = await serverOffset();
        if (offset < 0) throw answerError(r);
        continue;
      }
      if (r.status === 404 || r.status === 410) {
        storageDel(key);
        throw new Error("The server no longer has this upload; start it again.");
      }
      if (r.status !== 204 && r.status !== 200) {
        const err = answerError(r);
        if (!err.retry || ++failures > 5) {
          if (r.status < 500 && r.status !== 401) storageDel(key); // refused for good (too large, forbidden…)
          throw err;
        }
        await sleep(1000 * failures);
        offset = await serverOffset().catch(() => start);
        continue;
      }
      failures = 0;
      offset = parseInt(r.header("Upload-Offset"), 10);
      if (!(offset >= 0)) throw new Error("The server's answer had no Upload-Offset.");
      progress(task, offset);
      if (offset >= file.size) {
        itemID = r.header("Mediagate-Item-Id") || null;
        break;
      }
    }
    if (itemID === null) {
      // Every byte was sent before, but the answer naming the item was lost:
      // the server finishes the upload now if it had not.
      const r = await send(task, { method: "GET", url: url + "/item", headers: { Accept: "application/json" } });
      if (r.status !== 200) throw answerError(r);
      itemID = JSON.parse(r.text).id;
    }
    storageDel(key);
    return itemID;
  }

  // plainUpload posts the file as a multipart form, as the page without
  // scripts does, when the server has no tus endpoint.
  async function plainUpload(task) {
    const data = new FormData();
    data.append("file", task.file);
    const q = task.folder ? "?folder=" + encodeURIComponent(task.folder) : "";
    const r = await send(task, { method: "POST", url: "/api/media" + q, body: data, onProgress: (n) => progress(task, Math.min(n, task.file.size)) });
    if (r.status !== 201) throw answerError(r);
    return JSON.parse(r.text).id;
  }

  function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

  function progress(task, sent) {
    const now = performance.now();
    task.sent = sent;
    if (!task.samples) task.samples = [];
    task.samples.push([now, sent]);
    while (task.samples.length > 2 && now - task.samples[0][0] > 5000) task.samples.shift();
    if (now - (task.drawn || 0) < 150 && sent < task.file.size) return;
    task.drawn = now;
    const [t0, s0] = task.samples[0];
    const rate = now > t0 ? (sent - s0) / ((now - t0) / 1000) : 0;
    const pct = task.file.size ? Math.floor((sent / task.file.size) * 100) : 100;
    const parts = [humanSize(sent) + " of " + humanSize(task.file.size)];
    if (rate > 0) {
      parts.push(humanSize(rate) + "/s");
      const left = humanTime((task.file.size - sent) / rate);
      if (left && sent < task.file.size) parts.push(left + " left");
    }
    if (task.resumed) parts.push("resumed");
    setBar(task, pct);
    task.info.textContent = parts.join(" · ");
  }

  function setBar(task, pct) {
    task.bar.setAttribute("aria-valuenow", String(pct));
    task.bar.setAttribute("aria-valuetext", pct + "%");
    task.fill.style.width = pct + "%";
  }

  function initUploads(folder) {
    const panel = $("#uploads");
    const list = $(".upload-list", panel);
    const status = $("#uploads-status");
    const input = $("#upload-input");
    const form = $("#upload-form");
    const drop = $("#dropzone");
    const queue = [];
    const title = $("#uploads-title");
    const tally = { total: 0, done: 0, failed: 0 };
    let active = 0;
    let finished = 0;

    function count() {
      const left = tally.total - tally.done - tally.failed;
      let t = "Uploads";
      if (left > 0) t = "Uploading " + left + (left === 1 ? " file" : " files");
      else if (tally.total) t = tally.done + " of " + tally.total + " uploaded";
      if (tally.failed) t += " · " + tally.failed + " failed";
      title.textContent = t;
    }

    input.multiple = true;
    input.required = false;
    input.addEventListener("change", () => {
      add(Array.from(input.files));
      input.value = "";
    });
    form.addEventListener("submit", (e) => { e.preventDefault(); add(Array.from(input.files)); });
    $("[data-action=close-uploads]").addEventListener("click", () => { panel.hidden = true; });

    // Drag and drop anywhere on the page.
    let depth = 0;
    const hasFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types || []).includes("Files");
    document.addEventListener("dragenter", (e) => { if (!hasFiles(e)) return; e.preventDefault(); depth++; drop.hidden = false; });
    document.addEventListener("dragover", (e) => { if (!hasFiles(e)) return; e.preventDefault(); e.dataTransfer.dropEffect = "copy"; });
    document.addEventListener("dragleave", (e) => { if (!hasFiles(e)) return; if (--depth <= 0) { depth = 0; drop.hidden = true; } });
    document.addEventListener("drop", (e) => {
      if (!hasFiles(e)) return;
      e.preventDefault();
      depth = 0;
      drop.hidden = true;
      const files = [];
      let skipped = 0;
      const items = Array.from(e.dataTransfer.items || []);
      Array.from(e.dataTransfer.files).forEach((f, i) => {
        const entry = items[i] && items[i].webkitGetAsEntry && items[i].webkitGetAsEntry();
        if (entry && entry.isDirectory) skipped++;
        else files.push(f);
      });
      if (skipped) toast("Folders can't be uploaded as such: open them and drop the files inside.", true);
      add(files);
    });

    window.addEventListener("beforeunload", (e) => {
      if (active > 0 || queue.length > 0) { e.preventDefault(); e.returnValue = ""; }
    });

    function add(files) {
      if (!files.length) return;
      panel.hidden = false;
      for (const file of files) {
        const task = { file, folder };
        const name = el("span", { class: "upload-name", text: file.name, title: file.name });
        const cancel = el("button", { type: "button", class: "btn btn-icon btn-quiet btn-small", "data-testid": "upload-cancel", "aria-label": "Cancel upload of " + file.name, title: "Cancel upload of " + file.name, text: "✕" });
        task.fill = el("div", { class: "bar-fill" });
        task.bar = el("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0", "aria-label": "Upload of " + file.name, "data-testid": "upload-progress" }, task.fill);
        task.info = el("div", { class: "upload-info", text: "Waiting…" });
        task.row = el("li", { class: "upload", "data-testid": "upload-row" }, el("div", { class: "upload-top" }, name, cancel), task.bar, task.info);
        task.nameEl = name;
        task.cancelEl = cancel;
        cancel.addEventListener("click", () => cancelTask(task));
        list.append(task.row);
        queue.push(task);
        tally.total++;
      }
      count();
      status.textContent = files.length === 1 ? "Uploading " + files[0].name + "." : "Uploading " + files.length + " files.";
      pump();
    }

    function pump() {
      while (active < PARALLEL && queue.length) {
        const task = queue.shift();
        active++;
        run(task).finally(() => {
          active--;
          if (active === 0 && queue.length === 0) {
            if (finished > 0) refreshListing();
            finished = 0;
          }
          pump();
        });
      }
    }

    async function run(task) {
      task.row.classList.remove("is-error", "is-done");
      task.info.textContent = "Starting…";
      task.samples = null;
      try {
        let id = false;
        if (tusAvailable !== false && task.file.size > 0) {
          id = await tusUpload(task);
          if (id === false) tusAvailable = false;
          else tusAvailable = true;
        }
        if (id === false) id = await plainUpload(task);
        done(task, id);
        finished++;
        tally.done++;
        count();
      } catch (err) {
        if (err.cancelled) return;
        tally.failed++;
        count();
        task.row.classList.add("is-error");
        task.info.textContent = err.message;
        status.textContent = "Upload of " + task.file.name + " failed: " + err.message;
        offerRetry(task, err);
      }
    }

    // offerRetry puts what can be done about a failed upload under it: a
    // sign-in link when the session ended, and Retry only when trying again
    // can help.
    function offerRetry(task, err) {
      const again = () => { $$("[data-upload-fix]", task.info).forEach((b) => b.remove()); tally.failed--; count(); queue.push(task); pump(); };
      if (err.code === "unauthenticated") {
        const next = "/login?next=" + encodeURIComponent(location.pathname + location.search);
        const link = el("a", { href: next, target: "_blank", rel: "noopener", "data-upload-fix": "", "data-testid": "upload-sign-in", text: "Sign in again" });
        link.addEventListener("click", async (e) => {
          if (!$("#session-dialog")) return; // the new tab it is
          e.preventDefault();
          if (await reauthenticate()) again();
        });
        task.info.append(" ", link);
      }
      if (err.code === "unauthenticated" || (err.retry !== false && retryable(err.status))) {
        const retry = el("button", { type: "button", class: "btn btn-small", "data-upload-fix": "", "data-testid": "upload-retry", text: "Retry" });
        retry.addEventListener("click", again);
        task.info.append(" ", retry);
      }
    }

    function done(task, id) {
      setBar(task, 100);
      task.row.classList.add("is-done");
      task.info.textContent = "Uploaded · " + humanSize(task.file.size);
      task.cancelEl.remove();
      if (id) {
        const link = el("a", { class: "upload-name", href: "/m/" + encodeURIComponent(id), text: task.file.name, title: task.file.name, "data-testid": "upload-link" });
        task.nameEl.replaceWith(link);
      }
      status.textContent = task.file.name + " uploaded.";
    }

    async function cancelTask(task) {
      const i = queue.indexOf(task);
      if (i >= 0) queue.splice(i, 1);
      task.cancelled = true;
      if (task.xhr) task.xhr.abort();
      if (task.url) {
        // tus termination: the server may drop what it has so far.
        fetch(task.url, { method: "DELETE", headers: { "Tus-Resumable": "1.0.0" }, credentials: "same-origin" }).catch(() => {});
        storageDel("mg.tus:" + [task.folder || "root", task.file.name, task.file.size, task.file.lastModified].join(":"));
      }
      if (task.row.classList.contains("is-error")) tally.failed--; // cancelled after failing
      tally.total--;
      count();
      task.row.classList.add("is-error");
      task.info.textContent = "Cancelled";
      task.cancelEl.remove();
      status.textContent = "Upload of " + task.file.name + " cancelled.";
    }
  }

  // ---------------------------------------------------------------- media page

  function initMedia() {
    const page = $(".media-page");
    const id = page.dataset.id;
    const base = "/api/media/" + id;
    const act = (name, fn) => { const b = $(`[data-action=${name}]`); if (b) b.addEventListener("click", () => fn(b)); };

    act("rename", () => {
      const dlg = $("#rename-dialog");
      const form = $("form", dlg);
      const input = $("#rename-name");
      input.value = page.dataset.filename;
      form.onsubmit = async (e) => {
        e.preventDefault();
        const button = $("[type=submit]", form);
        busy(button, true);
        try {
          const it = await api("PATCH", base, { filename: input.value });
          page.dataset.filename = it.filename;
          $("#media-title").textContent = it.filename;
          $(".crumbs [aria-current=page]").textContent = it.filename;
          document.title = it.filename + " · Mediagate";
          const dl = $("[data-testid=download]");
          dl.setAttribute("download", it.filename);
          dlg.close();
          toast("Renamed to " + it.filename + ".");
        } catch (err) {
          showError(form, err.message);
        } finally {
          busy(button, false);
        }
      };
      openDialog(dlg);
      // Select the name without its extension, as file managers do.
      const dot = input.value.lastIndexOf(".");
      input.setSelectionRange(0, dot > 0 ? dot : input.value.length);
    });

    act("move", async () => {
      const target = await pickFolder({ title: "Move “" + page.dataset.filename + "” to…", action: "Move into", current: page.dataset.folder || null });
      if (target === undefined) return;
      try {
        await api("PATCH", base, { folder: target });
        location.reload();
      } catch (err) {
        toast(err.message, true);
      }
    });

    act("delete", async () => {
      const ok = await confirmAction("Delete this file?", "“" + page.dataset.filename + "” will be deleted for everyone, with its share links and public URL. This can't be undone.", "Delete");
      if (!ok) return;
      try {
        await api("DELETE", base);
        location.href = page.dataset.folder ? "/?folder=" + encodeURIComponent(page.dataset.folder) : "/";
      } catch (err) {
        toast(err.message, true);
      }
    });

    const preview = $("[data-testid=preview-state]");
    if (preview) initPreview(preview, base);
    const poster = $("#poster");
    if (poster) initPosterEditor(poster, base);
    const captions = $("#captions");
    if (captions) initCaptions(captions, base);
    const grants = $("#access [data-grants]");
    if (grants) initGrants(grants);
    const links = $("#links");
    if (links) initLinks(links, base);
    const publish = $("#publish");
    if (publish) initPublish(publish, base);
    const audit = $("#audit");
    if (audit) initAudit(audit, base);
  }

  // initPreview follows a preview being prepared, through the API, and lets
  // managers retry one that failed. Once it is ready, the details and the
  // player's poster come from the page as the server now renders it.
  function initPreview(box, base) {
    const status = $(".preview-status", box);
    const retry = $("[data-action=retry-preview]", box);
    const FIRST = 2000, MAX = 30000;
    let delay = FIRST, timer = 0;

    function show(state, text) {
      box.dataset.state = state;
      if (status.textContent !== text) status.textContent = text;
      if (!retry) return;
      const had = document.activeElement === retry;
      retry.hidden = state !== "failed";
      if (had && retry.hidden) box.focus(); // not lost to the page's top
    }

    function schedule() {
      clearTimeout(timer);
      timer = 0;
      if (box.dataset.state === "pending" && !document.hidden) timer = setTimeout(poll, delay);
    }

    async function poll() {
      timer = 0;
      let it;
      try {
        it = await api("GET", base);
      } catch (_) {
        it = null; // try again later
      }
      if (!apply(it && it.media)) {
        delay = Math.min(Math.round(delay * 1.6), MAX);
        schedule();
      }
    }

    // apply shows the state the API gave; false while it is still pending.
    function apply(m) {
      if (m && m.state === "ready") {
        show("ready", "The preview is ready.");
        refreshDetails();
        return true;
      }
      if (m && m.state === "failed") {
        show("failed", "No preview could be made" + (m.reason ? ": " + m.reason : "") + ".");
        return true;
      }
      show("pending", "Preparing the preview…");
      return false;
    }

    // refreshDetails takes the details and the poster from the page as it
    // is now; a player that has not started gets the rendition if there is one.
    async function refreshDetails() {
      try {
        const res = await fetch(location.href, { credentials: "same-origin" });
        if (!res.ok) return;
        const doc = new DOMParser().parseFromString(await res.text(), "text/html");
        const fresh = $(".media-side .meta", doc);
        const here = $(".media-side .meta");
        if (fresh && here) here.replaceWith(document.adoptNode(fresh));
        const player = $("video#player");
        const next = $("video#player", doc);
        if (player && next) {
          const poster = next.getAttribute("poster");
          if (poster && player.getAttribute("poster") !== poster) player.setAttribute("poster", poster);
          const src = next.getAttribute("src");
          if (src && src !== player.getAttribute("src") && player.paused && player.currentTime === 0 && !player.played.length) {
            player.setAttribute("src", src);
          }
        }
      } catch (_) { /* the next visit shows them */ }
    }

    if (retry) {
      retry.addEventListener("click", async () => {
        busy(retry, true);
        try {
          const it = await api("POST", base + "/pipeline");
          if (!apply(it && it.media)) {
            delay = FIRST;
            schedule();
          }
        } catch (err) {
          toast(err.message, true);
        } finally {
          busy(retry, false);
        }
      });
    }
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) delay = FIRST;
      schedule();
    });
    schedule();
  }

  // sendFile sends file as the raw body of a request (the API takes the
  // query's fields with it) and, like api, throws an Error with the API's
  // own message.
  async function sendFile(method, path, file) {
    let res;
    try {
      res = await fetch(path, {
        method, body: file, credentials: "same-origin",
        headers: { Accept: "application/json", "Content-Type": "application/octet-stream" },
      });
    } catch (_) {
      throw new Error("Network error: check your connection and try again.");
    }
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
    if (!res.ok) {
      if (res.status === 401) {
        location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search);
      }
      const err = new Error(readable((data && data.error) || (res.status === 413 ? "too large: the file is too large" : "") || res.statusText || "HTTP " + res.status));
      err.status = res.status;
      throw err;
    }
    return data;
  }

  // stamp writes a time in a video as m:ss.s, for the poster's frame.
  function stamp(secs) {
    const t = Math.max(0, Math.floor((secs || 0) * 10) / 10);
    const m = Math.floor(t / 60);
    const s = (t - m * 60).toFixed(1).padStart(4, "0");
    return m + ":" + s;
  }

  // initPosterEditor lets editors choose the video's poster: the frame the
  // player shows, an uploaded image, or back to the pipeline's. The player
  // and the preview take the new poster without a reload.
  function initPosterEditor(panel, base) {
    const player = $("video#player");
    const img = $(".poster-preview", panel);
    const none = $(".poster-none", panel);
    const source = $(".poster-source", panel);
    const at = $(".poster-at", panel);
    const status = $("[role=status]", panel);
    const file = $("#poster-file", panel);
    const frameBtn = $("[data-action=poster-frame]", panel);
    const auto = $("[data-action=poster-auto]", panel);
    const buttons = [frameBtn, $("[data-action=poster-upload]", panel), auto];
    const url = panel.dataset.posterUrl;

    // The timestamp of the frame on screen, which names it exactly; the
    // player's currentTime is only somewhere within it.
    let shown = null;
    if (player && player.requestVideoFrameCallback) {
      const track = (_, meta) => { shown = meta.mediaTime; tick(); player.requestVideoFrameCallback(track); };
      player.requestVideoFrameCallback(track);
      player.addEventListener("seeking", () => { shown = null; });
    }
    const frameTime = () => (shown !== null && Math.abs(shown - player.currentTime) < 1 ? shown : player.currentTime);
    function tick() { if (player) at.textContent = "(" + stamp(frameTime()) + ")"; }
    if (player) ["timeupdate", "seeked", "loadedmetadata"].forEach((e) => player.addEventListener(e, tick));
    tick();

    // show puts src (or no poster) in the preview and the player; chosen
    // says whether an editor chose it.
    function show(src, chosen) {
      if (src) {
        img.src = src;
        if (player) player.setAttribute("poster", src);
      } else {
        img.removeAttribute("src");
        if (player) player.removeAttribute("poster");
      }
      img.hidden = !src;
      none.hidden = !!src;
      source.textContent = chosen ? "Chosen by an editor" : "Chosen automatically";
      panel.dataset.chosen = String(chosen);
      auto.hidden = !chosen;
    }
    // A new URL each time: the browser asks for the new picture.
    const fresh = () => url + "?v=" + Date.now();

    async function run(doing, fn) {
      showError(panel, "");
      status.textContent = doing;
      // A disabled button loses the focus: it comes back after.
      const focused = document.activeElement;
      buttons.forEach((b) => busy(b, true));
      panel.setAttribute("aria-busy", "true");
      try {
        status.textContent = await fn();
      } catch (err) {
        status.textContent = "";
        showError(panel, err.message);
      } finally {
        buttons.forEach((b) => busy(b, false));
        panel.removeAttribute("aria-busy");
        if (!document.activeElement || document.activeElement === document.body) {
          (buttons.includes(focused) && !focused.hidden ? focused : frameBtn).focus();
        }
      }
    }

    frameBtn.addEventListener("click", () => {
      if (!player) return;
      player.pause();
      // Floored to the millisecond: the frame starting at or after it is
      // the one on screen.
      const t = Math.floor(frameTime() * 1000) / 1000;
      run("Making the poster from the frame at " + stamp(t) + "…", async () => {
        await api("PUT", base + "/poster?at=" + t.toFixed(3));
        show(fresh(), true);
        return "The poster is now the frame at " + stamp(t) + ".";
      });
    });
    $("[data-action=poster-upload]", panel).addEventListener("click", () => file.click());
    file.addEventListener("change", () => {
      const f = file.files[0];
      file.value = "";
      if (!f) return;
      if (f.size > 20 << 20) {
        showError(panel, "The image is too large: 20 MiB at most.");
        return;
      }
      run("Uploading " + f.name + "…", async () => {
        await sendFile("PUT", base + "/poster", f);
        show(fresh(), true);
        return "The poster is now " + f.name + ".";
      });
    });
    auto.addEventListener("click", () => {
      run("Going back to the automatic poster…", async () => {
        await api("DELETE", base + "/poster");
        const it = await api("GET", base);
        show(it && it.media && it.media.poster_url ? fresh() : "", false);
        return "The poster is chosen automatically again.";
      });
    });
  }

  // initCaptions lets editors attach WebVTT or SRT captions and delete
  // them; the player gets each new track at once, the first one showing.
  function initCaptions(panel, base) {
    const player = $("video#player");
    const list = $(".caption-list", panel);
    const empty = $(".caption-empty", list);
    const form = $("#caption-form", panel);
    const fileIn = $("#caption-file", form);
    const lang = $("#caption-lang", form);
    const label = $("#caption-label", form);
    // The server's rule: a well-formed BCP 47 tag whose language is two or
    // three letters (en, pt-BR, zh-Hant-TW, de-CH-1901).
    const LANG = /^[a-z]{2,3}(-[a-z]{3}){0,3}(-[a-z]{4})?(-([a-z]{2}|[0-9]{3}))?(-([a-z0-9]{5,8}|[0-9][a-z0-9]{3}))*(-[0-9a-wyz](-[a-z0-9]{2,8})+)*(-x(-[a-z0-9]{1,8})+)?$/i;

    function row(c) {
      const del = el("button", { type: "button", class: "btn btn-small btn-danger-quiet", "data-action": "caption-delete",
        "data-testid": "caption-delete", "aria-label": "Delete the captions “" + c.label + "” (" + c.lang + ")", text: "Delete" });
      return el("li", { "data-caption": c.id, "data-testid": "caption" },
        el("span", { class: "caption-what" }, el("strong", { text: c.label }), " ", el("span", { class: "muted", lang: c.lang, text: c.lang })),
        del);
    }

    function invalid(input, msg) {
      input.setAttribute("aria-invalid", "true");
      input.focus();
      showError(panel, msg);
    }

    form.addEventListener("input", (e) => e.target.removeAttribute("aria-invalid"));
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      showError(panel, "");
      const f = fileIn.files[0];
      const tag = lang.value.trim();
      const name = label.value.trim();
      if (!f) return invalid(fileIn, "Choose a WebVTT (.vtt) or SubRip (.srt) file.");
      if (f.size > 1 << 20) return invalid(fileIn, "The file is too large: captions are 1 MiB at most.");
      if (!LANG.test(tag) || tag.length > 64) return invalid(lang, "The language must be a language tag such as en, fr or pt-BR.");
      if (!name) return invalid(label, "Give the captions a label, such as English.");
      const button = $("[type=submit]", form);
      busy(button, true);
      try {
        const c = await sendFile("POST", base + "/captions?lang=" + encodeURIComponent(tag) + "&label=" + encodeURIComponent(name), f);
        list.insertBefore(row(c), empty);
        empty.hidden = true;
        if (player) {
          const first = !$("track", player);
          const tr = el("track", { kind: "subtitles", srclang: c.lang, label: c.label, src: c.url, "data-caption": c.id, "data-testid": "track" });
          player.append(tr);
          // As the page does with the first track: on by default.
          if (first) tr.track.mode = "showing";
        }
        form.reset();
        toast("Captions “" + c.label + "” added.");
        fileIn.focus();
      } catch (err) {
        showError(panel, err.message);
      } finally {
        busy(button, false);
        if (document.activeElement === document.body) button.focus();
      }
    });

    list.addEventListener("click", async (e) => {
      const del = e.target.closest("[data-action=caption-delete]");
      if (!del) return;
      const li = del.closest("li");
      const id = li.dataset.caption;
      const what = $("strong", li).textContent;
      const ok = await confirmAction("Delete these captions?", "“" + what + "” goes from the player for everyone.", "Delete");
      if (!ok) return;
      showError(panel, "");
      busy(del, true);
      try {
        await api("DELETE", base + "/captions/" + encodeURIComponent(id));
        if (player) $$("track", player).filter((t) => t.dataset.caption === id).forEach((t) => t.remove());
        const next = li.nextElementSibling;
        li.remove();
        empty.hidden = !!$("[data-caption]", list);
        (next && next.querySelector("button") || fileIn).focus();
        toast("Captions “" + what + "” deleted.");
      } catch (err) {
        showError(panel, err.message);
        busy(del, false);
        del.focus();
      }
    });
  }

  function initPublish(section, base) {
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

  // initLinks shows the share-link editor once the links API answers.
  async function initLinks(section, base) {
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

  // initAudit shows the read audit one viewing per row: who, how they got
  // in, when it started and ended (to the second), how many requests and
  // bytes. A share link's row links to that link in the list above.
  function initAudit(section, base) {
    const rows = $("tbody", section);
    const more = $("[data-action=audit-more]", section);
    let cursor = "";
    let first = true;
    const seconds = (iso) => {
      const d = new Date(iso);
      return isNaN(d) ? "" : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
    };
    const clock = (iso) => {
      const d = new Date(iso);
      return isNaN(d) ? "" : d.toLocaleTimeString(undefined, { timeStyle: "medium" });
    };

    function whoCell(v) {
      const link = /^link:(.+)$/.exec(v.who);
      if (!link) return el("td", { text: v.who });
      return el("td", {}, el("a", { href: "#link-" + link[1], title: v.who, "data-testid": "audit-link", text: "Share link" }));
    }

    async function load() {
      more.disabled = true;
      try {
        const q = "?limit=50" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
        const data = await api("GET", base + "/access" + q);
        if (first) rows.replaceChildren();
        first = false;
        for (const v of data.views) {
          const sameDay = new Date(v.started).toDateString() === new Date(v.ended).toDateString();
          const span = seconds(v.started) === seconds(v.ended) ? "" : " – " + (sameDay ? clock(v.ended) : seconds(v.ended));
          const what = v.action === "replace" ? "replaced the file" : v.allowed ? "yes" : "refused";
          rows.append(el("tr", { "data-testid": "audit-row" },
            el("td", {}, el("time", { datetime: v.started, text: seconds(v.started) }), span ? el("time", { datetime: v.ended, text: span }) : null),
            whoCell(v),
            el("td", { text: v.via || "—" }),
            el("td", { class: v.allowed ? "allow" : "deny", text: what }),
            el("td", { class: "num", text: String(v.requests) }),
            el("td", { class: "num", text: v.bytes ? humanSize(v.bytes) : "—" })));
        }
        if (!rows.children.length) rows.append(el("tr", {}, el("td", { colspan: "6", class: "muted", text: "Nobody has opened it yet." })));
        cursor = data.next_cursor || "";
        more.hidden = !cursor;
      } catch (err) {
        rows.replaceChildren(el("tr", {}, el("td", { colspan: "6", class: "error", text: err.message })));
      } finally {
        more.disabled = false;
      }
    }
    more.addEventListener("click", load);
    load();
  }

  // ---------------------------------------------------------------- admin and account

  function initAdminUsers() {
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

  function initAdminGroups() {
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

  function initAccount() {
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

  // ---------------------------------------------------------------- start

  document.addEventListener("DOMContentLoaded", () => {
    const pending = sessionStorage.getItem("mg.toast");
    if (pending) { sessionStorage.removeItem("mg.toast"); toast(pending); }
    const init = {
      library: initLibrary,
      media: initMedia,
      "admin-users": initAdminUsers,
      "admin-groups": initAdminGroups,
      account: initAccount,
    }[document.body.dataset.page];
    if (init) init();
  });
})();

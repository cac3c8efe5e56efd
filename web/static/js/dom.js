// Small DOM and formatting helpers every page uses. Nothing here writes
// inline styles into markup: the page CSP forbids them (setting
// element.style through the DOM is allowed).
export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// seg encodes one path segment the way Go's router leaves it alone: ':',
// '@' and '+' stay as they are, so "user:a+b@example.com" arrives intact.
export function seg(s) {
  return encodeURIComponent(s).replace(/%(2B|3A|40|24|26|2C|3B|3D)/g, (m) => decodeURIComponent(m));
}

export function el(tag, attrs, ...children) {
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

export function humanSize(n) {
  if (n < 1024) return n + " B";
  const units = "KMGTPE";
  let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < units.length - 1);
  return n.toFixed(1) + " " + units[i] + "iB";
}

export function humanTime(secs) {
  if (!isFinite(secs) || secs < 0) return "";
  secs = Math.round(secs);
  if (secs < 60) return secs + " s";
  const m = Math.round(secs / 60);
  if (m < 60) return m + " min";
  return Math.floor(m / 60) + " h " + (m % 60) + " min";
}

export function when(iso) {
  const d = new Date(iso);
  return isNaN(d) ? "" : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

let toastTimer = 0;
export function toast(msg, isError) {
  const t = $("#toast");
  if (!t) return;
  t.textContent = msg;
  t.classList.toggle("is-error", !!isError);
  t.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { t.hidden = true; }, isError ? 7000 : 3500);
}

// nextPage fetches the page a "Load more" link names, as a document, the
// link saying it is loading meanwhile. When that fails, the link is ready
// again, a toast says why, and it answers null; so it does while the link
// is already loading its page.
export async function nextPage(link) {
  if (link.getAttribute("aria-disabled") === "true") return null; // under way
  link.setAttribute("aria-disabled", "true");
  link.textContent = "Loading…";
  try {
    const res = await fetch(link.href, { credentials: "same-origin" });
    if (!res.ok) throw new Error("Could not load more (" + res.status + ").");
    return new DOMParser().parseFromString(await res.text(), "text/html");
  } catch (err) {
    link.textContent = "Load more";
    link.removeAttribute("aria-disabled");
    toast(err.message, true);
    return null;
  }
}

// reloadWithToast reloads the page, which then shows msg as a toast (main.js
// reads it back from sessionStorage).
export function reloadWithToast(msg) {
  try { sessionStorage.setItem("mg.toast", msg); } catch (_) { /* reload anyway */ }
  location.reload();
}

// showError writes msg into the .error box of scope (a form, dialog or
// section); an empty msg hides it.
export function showError(scope, msg) {
  let box = scope && (scope.matches(".error") ? scope : $(".error", scope));
  if (!box && scope) box = scope.parentElement && $(":scope > .error", scope.parentElement);
  if (!box) { if (msg) toast(msg, true); return; }
  box.textContent = msg || "";
  box.hidden = !msg;
}

export function busy(button, on) {
  if (button) button.disabled = on;
}

export function storageGet(k) { try { return localStorage.getItem(k); } catch (_) { return null; } }
export function storageSet(k, v) { try { localStorage.setItem(k, v); } catch (_) { /* fine */ } }
export function storageDel(k) { try { localStorage.removeItem(k); } catch (_) { /* fine */ } }

export function sleep(ms) { return new Promise((r) => setTimeout(r, ms)); }

// folderIcon copies the page's folder icon, so the script draws none itself.
export function folderIcon() {
  const t = $("#icon-folder");
  return t ? t.content.firstElementChild.cloneNode(true) : el("span");
}

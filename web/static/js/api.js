// The JSON API: calls that throw the API's own message, and the session
// dialog that signs in again and retries, so a page keeps what was typed.
import { openDialog } from "mg/dialogs.js";
import { $, showError, busy } from "mg/dom.js";

const KINDS = /(?:^|: )(?:invalid request|authentication required|forbidden|not found|method not allowed|conflict|gone|too large|too many attempts|temporarily unavailable): /;

// readable turns an API error ("set grant: not found: no user named …")
// into a sentence: what follows the kind of error.
export function readable(msg) {
  msg = String(msg || "").trim();
  const m = msg.match(KINDS);
  if (m) msg = msg.slice(m.index + m[0].length);
  return msg ? msg.charAt(0).toUpperCase() + msg.slice(1) : "Something went wrong.";
}

// api calls the JSON API and throws an Error with the API's own message.
export async function api(method, path, body, again) {
  const opts = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const { res, text, data } = await exchange(path, opts);
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

export const SIGNED_OUT = "Your session has ended: sign in again, then try again.";
let reauthenticating = null;

// reauthenticate asks the user to sign in again, in the page's session
// dialog, and resolves to true once the session works again. Calls made
// meanwhile wait for the same dialog.
export function reauthenticate() {
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

// sendFile sends file as the raw body of a request (the API takes the
// query's fields with it) and, like api, throws an Error with the API's
// own message.
export async function sendFile(method, path, file) {
  const { res, data } = await exchange(path, {
    method, body: file, credentials: "same-origin",
    headers: { Accept: "application/json", "Content-Type": "application/octet-stream" },
  });
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

// exchange sends one request and reads the whole answer: the response,
// its text, and that text as JSON (null when it is not JSON).
async function exchange(path, opts) {
  let res;
  try {
    res = await fetch(path, opts);
  } catch (_) {
    throw new Error("Network error: check your connection and try again.");
  }
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (_) { /* not JSON */ }
  return { res, text, data };
}

// retryable tells the answers that trying again can fix: none (the
// network), a timeout, throttling and the server's own troubles; not a
// request refused for what it is (400, 403, 404, 413, 415…).
export function retryable(status) {
  return !status || status === 408 || status === 429 || status >= 500;
}

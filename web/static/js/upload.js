// Uploads: tus 1.0 with resume, or a plain multipart POST when the server
// has no tus endpoint; a queue with progress, cancel and retry.
import { readable, SIGNED_OUT, reauthenticate, retryable } from "mg/api.js";
import { $, $$, el, humanSize, humanTime, toast, storageGet, storageSet, storageDel, sleep } from "mg/dom.js";

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

// initUploads runs the upload panel of the library's folder; uploaded is
// called once a batch of uploads is over and some succeeded.
export function initUploads(folder, uploaded) {
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
  // Files picked before the scripts ran are not lost.
  if (input.files && input.files.length) {
    const early = Array.from(input.files);
    input.value = "";
    queueMicrotask(() => add(early));
  }
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
          if (finished > 0) uploaded();
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

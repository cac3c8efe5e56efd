// Upload with a progress bar; without JavaScript the form posts to /upload.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("upload");
  if (!form) return;
  form.addEventListener("submit", (ev) => {
    const input = document.getElementById("file");
    if (!input.files.length) return;
    ev.preventDefault();
    const bar = document.getElementById("bar");
    const status = document.getElementById("status");
    document.getElementById("progress").hidden = false;
    const data = new FormData();
    data.append("file", input.files[0]);
    const xhr = new XMLHttpRequest();
    const started = Date.now();
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      const pct = Math.round((e.loaded / e.total) * 100);
      bar.value = pct;
      const secs = (Date.now() - started) / 1000;
      const rate = secs > 0 ? e.loaded / secs : 0;
      status.textContent = pct + "%" + (rate ? " · " + (rate / 1048576).toFixed(1) + " MB/s" : "");
    });
    xhr.addEventListener("load", () => {
      let body = {};
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status === 201) {
        bar.value = 100;
        status.textContent = "100% · done";
        window.location.href = "/m/" + encodeURIComponent(body.id);
      } else {
        status.textContent = "Upload failed: " + (body.error || xhr.statusText);
      }
    });
    xhr.addEventListener("error", () => { status.textContent = "Upload failed: network error"; });
    xhr.open("POST", "/api/media");
    xhr.send(data);
  });
});

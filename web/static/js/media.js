// The media page: rename, move, delete, the preview's progress, the
// poster and the captions; access, links, publishing and the audit come
// from their own modules.
import { api, sendFile } from "mg/api.js";
import { initAudit } from "mg/audit.js";
import { openDialog, confirmAction } from "mg/dialogs.js";
import { $, $$, el, toast, showError, busy } from "mg/dom.js";
import { initGrants } from "mg/grants.js";
import { pickFolder } from "mg/picker.js";
import { initPublish } from "mg/publish.js";
import { initLinks } from "mg/share.js";
import { deferUndo } from "mg/trash.js";

export function initMedia() {
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
    const ok = await confirmAction("Delete this file?", "“" + page.dataset.filename + "” goes to the trash: nobody can open it, and its share links and public URL stop working, until it is restored from there.", "Delete");
    if (!ok) return;
    try {
      await api("DELETE", base);
      deferUndo("“" + page.dataset.filename + "” moved to the trash.", [id]);
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

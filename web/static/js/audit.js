// The media page's read audit.
import { api } from "mg/api.js";
import { $, el, humanSize } from "mg/dom.js";

// initAudit shows the read audit one viewing per row: who, how they got
// in, when it started and ended (to the second), how many requests and
// bytes. A share link's row links to that link in the list above.
export function initAudit(section, base) {
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

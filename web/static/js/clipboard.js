// Copy buttons: [data-copy] names the input whose value is copied.
import { $, toast } from "mg/dom.js";

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

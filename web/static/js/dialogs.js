// Dialogs: opening one (the focus goes back after), the confirm dialog,
// closing on [data-close] and on the backdrop, and selects that save.
import { $, $$, el, busy } from "mg/dom.js";

// commitSelect keeps a select that saves from acting on every arrow key
// (WCAG 3.2.2): choosing a value only shows a Save button beside it; the
// button, or Enter on the select, saves. save resolves to false when the
// value was refused, and the select goes back to the saved one.
export function commitSelect(sel, save, label) {
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

export function openDialog(dlg) {
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
export function confirmAction(title, text, okLabel) {
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

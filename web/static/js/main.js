// Mediagate's pages. Plain JavaScript modules, no build step: the pages
// work from the server's HTML and these modules add uploads, dialogs and
// the editors that talk to the JSON API. The server serves every module
// under a content-hashed name and renders an import map naming them, so
// a page only ever runs the modules of one release.
import "mg/clipboard.js";
import { initAccount } from "mg/account.js";
import { initAdminUsers, initAdminGroups } from "mg/admin.js";
import { toast } from "mg/dom.js";
import { initLibrary } from "mg/library.js";
import { initMedia } from "mg/media.js";
import { initTrash } from "mg/trash.js";

// A module runs once the document is parsed, before DOMContentLoaded.
function start() {
  const pending = sessionStorage.getItem("mg.toast");
  if (pending) { sessionStorage.removeItem("mg.toast"); toast(pending); }
  const init = {
    library: initLibrary,
    media: initMedia,
    "admin-users": initAdminUsers,
    "admin-groups": initAdminGroups,
    account: initAccount,
    trash: initTrash,
  }[document.body.dataset.page];
  if (init) init();
  // The page's controls are wired: what a test (or a script) may wait for.
  document.documentElement.dataset.ready = "true";
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();

// Runs before the page is drawn: marks that scripts run, and restores the
// library's grid or list view so that it doesn't flash the other one first.
"use strict";
(function () {
  var root = document.documentElement;
  root.classList.add("js");
  try {
    if (localStorage.getItem("mg.view") === "list") root.classList.add("view-list");
  } catch (e) { /* storage disabled: the grid it is */ }
})();

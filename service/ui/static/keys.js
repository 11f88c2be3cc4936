/*
 * OrderShield keyboard layer: no framework, no inline handlers (the pages' CSP forbids them).
 *
 * A page opts in with a `data-keys` attribute on any element (e.g. <main data-keys>). Then:
 *   n        next case: submits the form marked data-key="n" (or clicks the element so marked)
 *   a, r, e  approve / reject / escalate: clicks the element marked data-key="a" / "r" / "e";
 *            an input, textarea or select so marked is focused instead (e.g. a reason field)
 *   j, k     move the highlighted row (data-key-row) of the list marked data-key-list
 *   Enter    opens the highlighted row's first link
 *   ?        shows / hides the help overlay #key-help (its `hidden` attribute); Escape hides it
 * Keys are ignored while typing in a field, with Ctrl, Alt or Meta held, and on auto-repeat of
 * the action keys (holding "a" approves once). The highlighted row keeps its place across htmx
 * swaps of the list when rows carry a value, e.g. data-key-row="case-17".
 */
(function () {
  "use strict";

  var CURRENT = "key-current";
  var ACTIONS = { n: true, a: true, r: true, e: true };
  var remembered = null; // the data-key-row value of the highlighted row, if it has one

  function optedIn() {
    return document.querySelector("[data-keys]") !== null;
  }

  function typing(target) {
    if (!(target instanceof Element)) return false;
    return target.closest("input, textarea, select, [contenteditable]:not([contenteditable=false])") !== null;
  }

  function act(key) {
    var target = document.querySelector('[data-key="' + key + '"]');
    if (target === null || target.disabled) return false;
    if (target instanceof HTMLFormElement) {
      target.requestSubmit();
    } else if (target.matches("input:not([type=submit]):not([type=button]), textarea, select")) {
      target.focus();
    } else {
      target.click();
    }
    return true;
  }

  function rows() {
    var list = document.querySelector("[data-key-list]");
    return list === null ? [] : Array.prototype.slice.call(list.querySelectorAll("[data-key-row]"));
  }

  function highlight(row) {
    rows().forEach(function (other) {
      other.classList.remove(CURRENT);
      other.removeAttribute("aria-current");
    });
    if (row === undefined || row === null) return;
    row.classList.add(CURRENT);
    row.setAttribute("aria-current", "true");
    remembered = row.getAttribute("data-key-row") || null;
    row.scrollIntoView({ block: "nearest" });
  }

  function move(step) {
    var all = rows();
    if (all.length === 0) return false;
    var at = all.findIndex(function (row) { return row.classList.contains(CURRENT); });
    var next = at === -1 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, at + step));
    highlight(all[next]);
    return true;
  }

  function open() {
    var row = rows().find(function (one) { return one.classList.contains(CURRENT); });
    var link = row === undefined ? null : row.querySelector("a[href]");
    if (link === null) return false;
    link.click();
    return true;
  }

  function help(show) {
    var overlay = document.getElementById("key-help");
    if (overlay === null) return false;
    overlay.hidden = show === undefined ? !overlay.hidden : !show;
    return true;
  }

  function onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.altKey || event.metaKey) return;
    if (!optedIn() || typing(event.target)) return;
    var key = event.key;
    var done = false;
    if (ACTIONS[key] === true) {
      done = event.repeat || act(key);
    } else if (key === "j" || key === "k") {
      done = move(key === "j" ? 1 : -1);
    } else if (key === "Enter") {
      // A focused link or button answers Enter itself.
      if (!(event.target instanceof Element) || event.target.closest("a, button") === null) {
        done = open();
      }
    } else if (key === "?") {
      done = help();
    } else if (key === "Escape") {
      var overlay = document.getElementById("key-help");
      done = overlay !== null && !overlay.hidden && help(false);
    }
    if (done) event.preventDefault();
  }

  // After htmx replaces the list (polling), highlight the same row again if it is still there.
  function restore() {
    if (remembered === null) return;
    var again = rows().find(function (row) { return row.getAttribute("data-key-row") === remembered; });
    if (again !== undefined) highlight(again);
  }

  document.addEventListener("keydown", onKey);
  document.addEventListener("htmx:afterSettle", restore);
})();

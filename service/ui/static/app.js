/*
 * OrderShield page behaviours that used to be inline handlers (the pages' CSP forbids those).
 *
 * <form data-open-order> with a field named "order": submitting it goes to /orders/<that id>.
 */
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-open-order")) return;
    var field = form.elements.namedItem("order");
    if (field === null || !("value" in field)) return;
    event.preventDefault();
    window.location.href = "/orders/" + encodeURIComponent(field.value);
  });
})();

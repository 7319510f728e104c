// brokerplane console: progressive enhancement only; every page works without it.
(function () {
  "use strict";
  // A form marked data-once sends once: the button is disabled after the first submit, so a
  // double click posts once (the server also applies a money form's key only once).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-once")) return;
    if (form.dataset.sent === "1") { event.preventDefault(); return; }
    form.dataset.sent = "1";
    var clicked = event.submitter;
    if (clicked && clicked.name) {
      // a disabled button is not sent: carry its value in a hidden field
      var carry = document.createElement("input");
      carry.type = "hidden"; carry.name = clicked.name; carry.value = clicked.value;
      form.appendChild(carry);
    }
    setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
    }, 0);
  });
  // Pages with data-refresh reload themselves (the risk page), unless a field has focus.
  var every = parseInt(document.body.getAttribute("data-refresh") || "0", 10);
  if (every > 0) {
    setInterval(function () {
      var active = document.activeElement;
      if (active && /INPUT|SELECT|TEXTAREA/.test(active.tagName)) return;
      window.location.reload();
    }, every * 1000);
  }
})();

// relance console: decisions without a page reload, keyboard shortcuts in the queue.
// Every form still works without this script (it then reloads the page).
(function () {
  "use strict";
  function inline(form) {
    form.addEventListener("submit", function (ev) {
      if (!window.fetch || !window.URLSearchParams) { return; }
      ev.preventDefault();
      var button = form.querySelector("button[type=submit]");
      if (button) { button.disabled = true; }
      var status = form.querySelector(".result");
      if (!status) {
        status = document.createElement("output");
        status.className = "result";
        status.setAttribute("role", "status");
        form.appendChild(status);
      }
      // getAttribute: a field named "action" (a letter's) shadows form.action.
      fetch(form.getAttribute("action"), {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-Console-Inline": "1", "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(new FormData(form)).toString()
      }).then(function (r) {
        return r.text().then(function (text) { return { ok: r.ok, text: text }; });
      }).then(function (r) {
        status.textContent = r.text;
        form.classList.remove("done", "failed");
        form.classList.add(r.ok ? "done" : "failed");
        if (!r.ok && button) { button.disabled = false; }
      }, function (e) {
        status.textContent = String(e);
        form.classList.add("failed");
        if (button) { button.disabled = false; }
      });
    });
  }
  function shortcuts() {
    var items = Array.prototype.slice.call(document.querySelectorAll("article.suggestion"));
    if (!items.length) { return; }
    document.addEventListener("keydown", function (ev) {
      var t = ev.target;
      if (t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT")) { return; }
      var at = items.indexOf(document.activeElement);
      if (ev.key === "j" || ev.key === "k") {
        var next = ev.key === "j" ? Math.min(at + 1, items.length - 1) : Math.max(at - 1, 0);
        items[next].focus();
        ev.preventDefault();
      } else if (ev.key === "c" && at >= 0) {
        var f = items[at].querySelector("form[data-kind=confirm_match]");
        if (f) { f.requestSubmit ? f.requestSubmit() : f.submit(); ev.preventDefault(); }
      }
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("form[data-inline]"), inline);
    shortcuts();
  });
})();

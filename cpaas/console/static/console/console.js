/* CPaaS console: the few behaviours htmx does not cover. No dependencies. */
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Copy buttons: <button data-copy="#selector">. Clipboard API where allowed (https, localhost),
  // else select the text and fall back to execCommand.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (!button) return;
    var source = document.querySelector(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.value !== undefined ? source.value : source.textContent;
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      button.classList.add("copied");
      setTimeout(function () { button.textContent = label; button.classList.remove("copied"); }, 1800);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { source.select(); });
    } else {
      source.select();
      try { if (document.execCommand("copy")) done(); } catch (e) { /* the text stays selected */ }
    }
  });

  // htmx does not swap error responses: say so instead of doing nothing.
  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr.status;
    var text = status === 404 ? "That item no longer exists, or belongs to another tenant."
      : status === 403 ? "Your role cannot do that."
      : "Something went wrong (" + status + "). Reload the page and try again.";
    var main = document.querySelector("main");
    var box = main.querySelector(".messages");
    if (!box) { box = document.createElement("div"); box.className = "messages"; main.prepend(box); }
    var message = document.createElement("div");
    message.className = "message message-error";
    message.setAttribute("role", "alert");
    message.textContent = text;
    box.append(message);
  });

  // Forms marked data-autosubmit submit when a select changes (the tenant switcher).
  document.addEventListener("change", function (event) {
    var form = event.target.closest("form[data-autosubmit]");
    if (form && event.target.tagName === "SELECT") form.requestSubmit();
  });
})();

// The ops page's only script (the CSP allows no inline script): confirmations for forms
// marked data-confirm, and auto-suggest of contacts when linking by hand.
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) { event.preventDefault(); }
  });

  function suggest(input) {
    var list = input.parentElement.querySelector(".suggestions");
    var target = document.getElementById(input.getAttribute("data-suggest-target"));
    var timer = null;
    var latest = "";

    function choose(contact) {
      target.value = contact.id;
      input.value = contact.name;
      list.hidden = true;
    }

    function show(contacts) {
      list.textContent = "";
      contacts.forEach(function (contact) {
        var item = document.createElement("li");
        item.textContent = contact.name;
        var detail = document.createElement("small");
        detail.textContent = [contact.email, contact.id].filter(Boolean).join(" · ");
        item.appendChild(detail);
        item.addEventListener("mousedown", function (e) { e.preventDefault(); choose(contact); });
        list.appendChild(item);
      });
      if (!contacts.length) {
        var none = document.createElement("li");
        none.textContent = "No active contact matches";
        list.appendChild(none);
      }
      list.hidden = false;
    }

    function ask() {
      var query = input.value.trim();
      if (query.length < 3) { list.hidden = true; return; }
      latest = query;
      fetch(input.getAttribute("data-suggest-url") + "?q=" + encodeURIComponent(query), {credentials: "same-origin"})
        .then(function (response) { return response.json().then(function (body) { return [response, body]; }); })
        .then(function (pair) {
          if (query !== latest) { return; }
          if (!pair[0].ok) { show([]); list.firstChild.textContent = pair[1].error || "Search failed"; return; }
          show(pair[1].contacts || []);
        })
        .catch(function () { list.hidden = true; });
    }

    input.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(ask, 250); });
    input.addEventListener("blur", function () { setTimeout(function () { list.hidden = true; }, 150); });
  }

  document.querySelectorAll("input[data-suggest-url]").forEach(suggest);
})();

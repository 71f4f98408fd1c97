// Light progressive enhancement; every page works without it (forms post and redirect as usual).
// Kept in a static file: the Content-Security-Policy allows no inline script or style.
(function () {
  "use strict";

  // Filters apply as soon as a choice changes (the Filter button stays for keyboards and no-JS).
  document.querySelectorAll("form.filters select, form.filters input[type=date]").forEach(function (field) {
    field.addEventListener("change", function () {
      if (field.form.requestSubmit) { field.form.requestSubmit(); } else { field.form.submit(); }
    });
  });

  // The journey map's lane switches apply as soon as one is ticked (the button stays for keyboards and no-JS).
  document.querySelectorAll("form.lane-switches[data-autosubmit] input[type=checkbox]").forEach(function (box) {
    box.addEventListener("change", function () {
      if (box.form.requestSubmit) { box.form.requestSubmit(); } else { box.form.submit(); }
    });
  });

  // A reject needs a reason: put the cursor there when Reject is pressed without one.
  function needsReason(form) {
    var reason = form.querySelector("input[name=reason]");
    if (form.classList.contains("reject-form") && reason && !reason.value.trim()) {
      reason.focus();
      return true;
    }
    return false;
  }

  // --- search within a long list of choices (evidence, steps) ------------------------------------------------------
  document.querySelectorAll("input.list-search[data-filter]").forEach(function (box) {
    var list = document.querySelector(box.getAttribute("data-filter"));
    if (!list) { return; }
    var count = document.getElementById(box.id.replace(/-search$/, "-count"));
    function apply() {
      var words = box.value.toLowerCase().split(/\s+/).filter(Boolean);
      var shown = 0;
      list.querySelectorAll("[data-text]").forEach(function (item) {
        var input = item.querySelector("input");
        var text = item.getAttribute("data-text");
        var match = words.every(function (w) { return text.indexOf(w) !== -1; }) || (input && input.checked);
        item.hidden = !match;
        if (match) { shown += 1; }
      });
      list.querySelectorAll("[data-group]").forEach(function (group) {
        var matches = group.querySelectorAll("[data-text]:not([hidden])").length;
        group.hidden = matches === 0;
        if (words.length && matches && group.tagName === "DETAILS") { group.open = true; }
      });
      if (count) { count.textContent = words.length ? shown + " shown" : ""; }
    }
    box.addEventListener("input", apply);
    box.addEventListener("keydown", function (event) { if (event.key === "Enter") { event.preventDefault(); } });
  });

  // --- inline validation: say what is wrong next to the field, before anything is sent ---------------------------------
  function fieldMessage(input) {
    var value = input.value.trim();
    if (input.required && !value) { return "required"; }
    if (input.hasAttribute("data-number") && value) {
      var number = Number(value.replace(",", "."));
      if (!isFinite(number)) { return "a number, e.g. 3.9"; }
      var min = input.getAttribute("data-min"), max = input.getAttribute("data-max");
      if (min !== null && number < Number(min)) { return "at least " + min; }
      if (max !== null && number > Number(max)) { return "at most " + max; }
    }
    return "";
  }

  function showProblem(holder, anchorId, message) {
    var id = anchorId + "-live-error";
    var existing = document.getElementById(id);
    if (!message) {
      if (existing) { existing.remove(); }
      holder.classList.remove("has-error");
      return;
    }
    if (!existing) {
      existing = document.createElement("p");
      existing.className = "field-error";
      existing.id = id;
      holder.appendChild(existing);
    }
    existing.textContent = message;
    holder.classList.add("has-error");
  }

  function checkInput(input) {
    var holder = input.closest(".field") || input.parentElement;
    var message = fieldMessage(input);
    showProblem(holder, input.id || input.name, message);
    if (message) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", (input.id || input.name) + "-live-error");
    } else {
      input.removeAttribute("aria-invalid");
    }
    return !message;
  }

  function checkGroup(group) {
    var ok = group.querySelectorAll("input[type=checkbox]:checked").length > 0;
    showProblem(group, "group-" + group.getAttribute("data-required-group"), ok ? "" : "choose at least one");
    return ok;
  }

  document.querySelectorAll("form[data-validate]").forEach(function (form) {
    var inputs = form.querySelectorAll("input[required], textarea[required], input[data-number]");
    inputs.forEach(function (input) {
      input.addEventListener("blur", function () { checkInput(input); });
      input.addEventListener("input", function () {
        if (input.getAttribute("aria-invalid") === "true") { checkInput(input); }
      });
    });
    form.querySelectorAll("[data-required-group]").forEach(function (group) {
      group.addEventListener("change", function () { checkGroup(group); });
    });
    form.addEventListener("submit", function (event) {
      var ok = true;
      inputs.forEach(function (input) { ok = checkInput(input) && ok; });
      form.querySelectorAll("[data-required-group]").forEach(function (group) { ok = checkGroup(group) && ok; });
      if (!ok) {
        event.preventDefault();
        var first = form.querySelector("[aria-invalid=true], .has-error input");
        if (first) { first.focus(); }
      }
    });
  });

  // --- decide in place: Approve / Reject / Withdraw without leaving the page -------------------------------------------
  // The form posts as usual; the answer (the page it redirects to) is read, and the request's card, the notices and the
  // inbox count are swapped in. Anything unexpected falls back to a normal page load.
  function swapFrom(doc, selector) {
    var here = document.querySelector(selector);
    var there = doc.querySelector(selector);
    if (here && there) { here.replaceWith(there); } else if (here) { here.remove(); }
  }

  function showNotices(doc) {
    var main = document.getElementById("main");
    document.querySelectorAll("#main > .notice").forEach(function (n) { n.remove(); });
    var fresh = doc.querySelectorAll("#main > .notice");
    for (var i = fresh.length - 1; i >= 0; i -= 1) { main.insertBefore(fresh[i], main.firstChild); }
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-in-place]") || !window.fetch || !window.DOMParser) { return; }
    event.preventDefault();
    if (needsReason(form)) { return; }
    var card = form.closest("[data-request], [data-swap]");
    var selector = card ? (card.hasAttribute("data-request") ? "[data-request='" + card.getAttribute("data-request") + "']"
      : "[data-swap='" + card.getAttribute("data-swap") + "']") : null;
    var buttons = form.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    if (card) { card.setAttribute("aria-busy", "true"); }
    fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin",
                         headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { return response.text().then(function (text) { return [response, text]; }); })
      .then(function (pair) {
        var response = pair[0];
        if (!response.ok || response.redirected === false && response.status !== 200) { throw new Error("status"); }
        var doc = new DOMParser().parseFromString(pair[1], "text/html");
        if (!doc.getElementById("main")) { throw new Error("page"); }
        if (doc.querySelector(".error-page")) { throw new Error("refused"); }
        showNotices(doc);
        if (selector) { swapFrom(doc, selector); }
        swapFrom(doc, "nav .count");
        document.querySelectorAll("[data-swap-after-decide]").forEach(function (region) {
          swapFrom(doc, "#" + region.id);
        });
        var status = document.querySelector("#main > .notice");
        if (status) { status.setAttribute("tabindex", "-1"); status.focus(); }
      })
      .catch(function () {
        form.removeAttribute("data-in-place");
        buttons.forEach(function (b) { b.disabled = false; });
        form.submit();
      });
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-in-place]") && form.classList.contains("reject-form") && needsReason(form)) {
      event.preventDefault();
    }
  }, true);

})();

// Light progressive enhancement; every page works without it.
// The board's filters apply as soon as a choice changes (the Filter button stays for keyboards and no-JS).
document.querySelectorAll("form.filters select").forEach(function (select) {
  select.addEventListener("change", function () {
    if (select.form.requestSubmit) { select.form.requestSubmit(); } else { select.form.submit(); }
  });
});
// A reject needs a reason: put the cursor there when Reject is pressed without one.
document.querySelectorAll("form.reject-form").forEach(function (form) {
  form.addEventListener("submit", function (event) {
    var reason = form.querySelector("input[name=reason]");
    if (reason && !reason.value.trim()) { event.preventDefault(); reason.focus(); }
  });
});

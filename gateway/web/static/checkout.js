// The hosted checkout page: tokenizes the card in the browser with the session's publishable
// key (the card inputs have no name, so only the token is sent to the form's action), submits
// each form once, and polls while a payment waits for a wallet app, a device or a bank.
(function () {
  "use strict";

  function showError(fieldId, message) {
    var slot = document.getElementById(fieldId + "-error") || document.getElementById(fieldId);
    if (slot) { slot.textContent = message; }
    var input = document.getElementById(fieldId);
    if (input && input.tagName === "INPUT") { input.setAttribute("aria-invalid", "true"); input.focus(); }
  }

  function clearErrors(form) {
    form.querySelectorAll(".field-error, .form-error").forEach(function (el) { el.textContent = ""; });
    form.querySelectorAll("[aria-invalid]").forEach(function (el) { el.removeAttribute("aria-invalid"); });
  }

  function value(id) { return (document.getElementById(id).value || "").trim(); }

  var cardForm = document.getElementById("card-form");
  if (cardForm) {
    var messages = JSON.parse(cardForm.dataset.messages);
    var fields = JSON.parse(cardForm.dataset.fields);
    var button = cardForm.querySelector("button[type=submit]");
    var label = button.textContent;
    var busy = false;

    var checks = [
      ["card-number", function () { return value("card-number") ? "" : "Enter your card number."; }],
      ["card-holder", function () { return value("card-holder") ? "" : "Enter the name printed on your card."; }],
      ["card-expiry", function () {
        var month = Number(value("card-exp-month")), year = Number(value("card-exp-year"));
        if (!month || !year) { return "Enter the expiry month and year shown on your card."; }
        return month >= 1 && month <= 12 ? "" : messages.invalid_expiry_month;
      }],
      ["card-cvv", function () { return /^\d{3}$/.test(value("card-cvv")) ? "" : messages.invalid_cvc; }]
    ];

    function release() { busy = false; button.disabled = false; button.textContent = label; }

    cardForm.addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy) { return; }  // a double click sends one payment
      clearErrors(cardForm);
      var problems = checks.filter(function (check) { var m = check[1](); if (m) { showError(check[0], m); } return m; });
      if (problems.length) { showError(problems[0][0], problems[0][1]()); return; }
      busy = true;
      button.disabled = true;
      button.textContent = "Paying…";
      fetch(cardForm.dataset.tokensUrl, {
        method: "POST",
        headers: {"Content-Type": "application/json", "Authorization": "Bearer " + cardForm.dataset.publishableKey},
        body: JSON.stringify({
          card_number: value("card-number").replace(/[\s-]/g, ""), holder_name: value("card-holder"),
          exp_month: Number(value("card-exp-month")), exp_year: Number(value("card-exp-year")), cvv: value("card-cvv")
        })
      }).then(function (response) {
        return response.json().then(function (body) { return {ok: response.ok, body: body}; });
      }).then(function (answer) {
        if (!answer.ok) {
          var error = answer.body.error || {};
          showError(fields[error.param] || "card-form", messages[error.code] || error.message || "Check your card details.");
          release();
          return;
        }
        cardForm.elements.token.value = answer.body.id;
        cardForm.submit();  // the card number stays in the browser: only the token goes
      }).catch(function () {
        showError("card-form", "We could not reach the payment service. Check your connection and try again.");
        release();
      });
    });
  }

  // Other forms: the first submit goes, later clicks do nothing.
  document.querySelectorAll("form.once").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent) { event.preventDefault(); return; }
      form.dataset.sent = "1";
      var submit = form.querySelector("button[type=submit]");
      if (submit) { setTimeout(function () { submit.disabled = true; }, 0); }
    });
  });

  var waiting = document.getElementById("waiting");
  if (waiting) {
    var poll = function () {
      fetch(waiting.dataset.statusUrl, {headers: {"Accept": "application/json"}}).then(function (r) { return r.json(); })
        .then(function (state) {
          if (state.redirect) { window.location.assign(state.redirect); return; }
          if (state.reload) { window.location.reload(); return; }
          setTimeout(poll, 1000);
        }).catch(function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 1000);
  }
})();

// The review queue's keyboard shortcuts (the page works without them): j/k move between cards, a accepts,
// e edits the title, r goes to the reason (Enter there rejects), x ticks the card for "Accept selected".
(function () {
  "use strict";
  var cards = Array.prototype.slice.call(document.querySelectorAll("form.card"));
  if (!cards.length) { return; }
  var current = -1;

  function show(index) {
    if (index < 0 || index >= cards.length) { return; }
    if (current >= 0) { cards[current].classList.remove("current"); }
    current = index;
    cards[current].classList.add("current");
    cards[current].focus({ preventScroll: true });
    cards[current].scrollIntoView({ block: "nearest" });
  }

  function press(selector) {
    if (current < 0) { show(0); }
    var button = cards[current].querySelector(selector);
    if (button) { button.click(); }
  }

  function focusIn(selector) {
    if (current < 0) { show(0); }
    var field = cards[current].querySelector(selector);
    if (field && !field.disabled) { field.focus(); }
  }

  cards.forEach(function (card, index) {
    card.addEventListener("focusin", function () {
      if (current !== index) {
        if (current >= 0) { cards[current].classList.remove("current"); }
        current = index;
        card.classList.add("current");
      }
    });
    var reason = card.querySelector("input[name=reason]");
    if (reason) {
      reason.addEventListener("keydown", function (event) {
        if (event.key === "Enter") {  // never the form's first button (accept) from the reason field
          event.preventDefault();
          var reject = card.querySelector("button[value=reject]");
          if (reject) { reject.click(); }
        }
      });
    }
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && /^(INPUT|SELECT|TEXTAREA)$/.test(target.tagName) && target.type !== "checkbox";
    if (typing || event.altKey || event.ctrlKey || event.metaKey) { return; }
    if (event.key === "j") { show(current + 1); }
    else if (event.key === "k") { show(Math.max(0, current - 1)); }
    else if (event.key === "a") { press("button[value=accept]"); }
    else if (event.key === "e") { focusIn("input[name=title]"); }
    else if (event.key === "r") { focusIn("input[name=reason]"); }
    else if (event.key === "x") { press("input[name=task_id]"); }
    else { return; }
    event.preventDefault();
  });
})();

/* Review queue bulk bar: with nothing selected every action is disabled; otherwise an action is
   enabled only if every selected row's state allows it, and a disabled action says why. The server
   re-checks every row whatever this script shows. */
(function () {
  "use strict";
  var form = document.getElementById("bulk-form");
  if (!form) { return; }
  var buttons = form.querySelectorAll(".bulk-actions button[data-sources]");
  var reason = form.querySelector(".bulk-reason");

  function selectedStates() {
    var states = {};
    form.querySelectorAll("tbody input[name=ids]:checked").forEach(function (box) {
      states[box.dataset.status] = box.dataset.statusLabel;
    });
    return states;
  }

  function update() {
    var states = selectedStates();
    var codes = Object.keys(states);
    var reasons = [];
    buttons.forEach(function (button) {
      var sources = button.dataset.sources.split(" ");
      var blocked = codes.filter(function (code) { return sources.indexOf(code) < 0; });
      var why = "";
      if (!codes.length) {
        why = form.dataset.noneSelected;
      } else if (blocked.length) {
        why = form.dataset.notAllowed
          .replace("%(action)s", button.textContent.trim())
          .replace("%(states)s", blocked.map(function (code) { return states[code]; }).join("、"));
        reasons.push(why);
      }
      button.disabled = why !== "";
      button.title = why;
    });
    if (reason) {
      reason.textContent = codes.length ? reasons.join("；") : form.dataset.noneSelected;
    }
  }

  form.addEventListener("change", update);
  update();
})();

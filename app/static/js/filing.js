// 外省企业备案登记表: 添加项目 copies the last project row with empty fields and the next index.
(function () {
  "use strict";
  var button = document.getElementById("filing-add-row");
  var rows = document.getElementById("filing-project-rows");
  if (!button || !rows) { return; }
  button.addEventListener("click", function () {
    var all = rows.querySelectorAll("tr.filing-project-row");
    var max = parseInt(button.getAttribute("data-max") || "30", 10);
    if (all.length >= max) { button.disabled = true; return; }
    var last = all[all.length - 1];
    var copy = last.cloneNode(true);
    var index = all.length;
    copy.querySelectorAll("input").forEach(function (input) {
      ["name", "id"].forEach(function (attribute) {
        var value = input.getAttribute(attribute);
        if (value) { input.setAttribute(attribute, value.replace(/^projects-\d+-/, "projects-" + index + "-")); }
      });
      input.value = "";
    });
    copy.querySelectorAll(".field-error").forEach(function (node) { node.remove(); });
    copy.querySelectorAll(".has-error").forEach(function (node) { node.classList.remove("has-error"); });
    rows.appendChild(copy);
    var first = copy.querySelector("input");
    if (first) { first.focus(); }
  });
})();

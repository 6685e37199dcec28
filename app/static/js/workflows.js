/* Render the workflow state diagrams (Mermaid, served from our own static files). */
(function () {
  "use strict";
  if (!window.mermaid) { return; }
  window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", fontFamily: "WenQuanYi Micro Hei, Microsoft YaHei, sans-serif" });
  window.mermaid.run({ querySelector: ".workflow-diagram" }).then(function () {
    document.body.dataset.diagrams = "rendered";
  });
})();

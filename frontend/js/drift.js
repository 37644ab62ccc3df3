/* The drift list: its table is fetched again, with the same filters, when a host's findings
 * are stored. */
(function () {
  "use strict";
  var root = document.getElementById("drift-table");
  if (!root) { return; }
  var refresh = Segscope.refresher(function () {
    var params = new URLSearchParams(window.location.search);
    params.set("partial", "1");
    return fetch(window.location.pathname + "?" + params.toString(), {credentials: "same-origin"})
      .then(function (response) {
        if (!response.ok) { throw new Error("drift: HTTP " + response.status); }
        return response.text();
      }).then(function (html) {
        var template = document.createElement("template");
        template.innerHTML = html;
        root.replaceChildren(template.content);
      });
  });
  Segscope.connect(["fleet"], function (event) {
    if (event.type === "host.analysed") { refresh(); }
  }, refresh);
})();

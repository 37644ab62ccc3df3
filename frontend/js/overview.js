/* The overview: its numbers refetched when the analysis or a generation changes. */
(function () {
  "use strict";
  var root = document.getElementById("overview");
  if (!root) { return; }

  function set(name, value) {
    var el = root.querySelector("[data-value='" + name + "']");
    if (el && value !== undefined && value !== null) { el.textContent = String(value); }
  }

  function show(data) {
    set("hosts", data.hosts);
    set("workloads", data.workloads);
    if (data.generation) {
      set("converged", data.generation.converged + "/" + data.generation.listed);
    }
    Object.keys(data.drift).forEach(function (kind) { set("drift-" + kind, data.drift[kind]); });
    set("drops", data.drops.records);
    if (data.cost) {
      set("rules", data.cost.rules);
      set("rules-per-host", data.cost.rules_per_host);
      set("set-members", data.cost.set_members);
      set("flat-rules", data.cost.flat_rules);
    }
  }

  var refresh = Segscope.refresher(function () {
    return Segscope.fetchJSON(root.dataset.url).then(show);
  });
  Segscope.connect(["fleet"], function (event) {
    if (event.type !== "host.progress") { refresh(); }
  }, refresh);
})();

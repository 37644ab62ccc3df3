/* The host page: a convergence badge that follows the host's analysis and the generations. */
(function () {
  "use strict";
  var root = document.getElementById("convergence-state");
  if (!root) { return; }
  var hostId = Number(root.dataset.host);

  function show(state) {
    root.dataset.state = state.state;
    root.className = "state-badge " + state.state;
    var text = state.label;
    if (state.analysis && state.analysis.status === "running") {
      text += " · analysing " + state.analysis.done + "/" + state.analysis.total;
    }
    root.textContent = text;
  }

  var refresh = Segscope.refresher(function () {
    return Segscope.fetchJSON(root.dataset.url).then(show);
  });
  // The page's lists (sets, drift, history, convergence) follow the same events.
  function lists() { if (Segscope.refreshLists) { Segscope.refreshLists(); } }

  Segscope.liveOwner = true;
  Segscope.connect(["host-" + hostId, "fleet"], function (event) {
    if (event.type === "host.progress" && event.host === hostId) {
      root.textContent = root.textContent.replace(/ · analysing .*$/, "") +
        " · analysing " + event.done + "/" + event.total;
      return;
    }
    if (event.type === "generation.progress" || event.host === hostId) { refresh(); lists(); }
  }, function () { refresh(); lists(); });
})();

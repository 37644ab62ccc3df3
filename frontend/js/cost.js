/* The cost page: its three figures, drawn from the page data and redrawn in place when a
 * host's analysis is stored. */
(function () {
  "use strict";
  var root = document.getElementById("cost");
  if (!root || !document.getElementById("distribution-plot")) { return; }
  var config = {responsive: true, displaylogo: false};

  function show(data) {
    var figures = data.figures;
    return Promise.all([
      Plotly.react("distribution-plot", figures.distribution.data, figures.distribution.layout, config),
      Plotly.react("history-plot", figures.history.data, figures.history.layout, config),
      Plotly.react("traversed-plot", figures.traversed.data, figures.traversed.layout, config)
    ]).then(function () {
      root.dataset.drawn = "1";
      root.dataset.rules = String(data.summary.rules);
    });
  }

  var refresh = Segscope.refresher(function () {
    return Segscope.fetchJSON(root.dataset.url).then(show);
  });
  function lists() { if (Segscope.refreshLists) { Segscope.refreshLists(); } }

  refresh();
  Segscope.liveOwner = true;
  Segscope.connect(["fleet"], function (event) {
    if (event.type === "host.analysed") { refresh(); lists(); }
  }, function () { refresh(); lists(); });
})();

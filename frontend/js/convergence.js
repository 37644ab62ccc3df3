/* The convergence page: a generation's curve and time-to-converge distribution, stragglers
 * and drops, redrawn in place when its convergence is stored again. */
(function () {
  "use strict";
  var E = Segscope.element;
  var root = document.getElementById("convergence");
  if (!root) { return; }
  var number = root.dataset.generation;

  function hostLink(name, ids) {
    return ids[name] !== undefined ? E("a", {href: "/hosts/" + encodeURIComponent(name) + "/", text: name})
                                   : document.createTextNode(name);
  }

  function show(data) {
    var generation = data.generation;
    if (!generation) { return; }
    document.getElementById("converged-count").textContent =
      generation.converged + " of " + generation.listed + " hosts converged";
    document.getElementById("percentiles").textContent =
      "p50 " + fmt(generation.p50) + " · p95 " + fmt(generation.p95) + " · max " + fmt(generation.max);
    var stragglers = document.getElementById("stragglers");
    stragglers.replaceChildren();
    generation.stragglers.forEach(function (name) {
      stragglers.appendChild(E("li", {}, [hostLink(name, data.host_ids)]));
    });
    document.getElementById("no-stragglers").hidden = generation.stragglers.length > 0;
    var drops = document.querySelector("#drops tbody");
    drops.replaceChildren();
    generation.drops_while_converging.forEach(function (d) {
      var explain = "/explain/?" + new URLSearchParams({host: d.host, hook: "FORWARD", src: d.src,
        dst: d.dst, proto: d.proto, dport: d.dport === null ? "" : d.dport, sport: "40000",
        ct_state: "NEW"}).toString();
      drops.appendChild(E("tr", {}, [
        E("td", {}, [hostLink(d.host, data.host_ids)]), E("td", {text: d.workloads.join(" → ")}),
        E("td", {text: d.src + " → " + d.dst + (d.dport !== null ? ":" + d.dport : "")}),
        E("td", {text: d.proto}), E("td", {class: "num", text: String(d.packets)}),
        E("td", {text: d.first}), E("td", {}, [E("a", {href: explain, text: "explain"})])]));
    });
    document.getElementById("drops").hidden = generation.drops_while_converging.length === 0;
    document.getElementById("no-drops").hidden = generation.drops_while_converging.length > 0;
    return Promise.all([
      Plotly.react("convergence-plot", data.figure.data, data.figure.layout,
                   {responsive: true, displaylogo: false}),
      Plotly.react("distribution-plot", data.distribution.data, data.distribution.layout,
                   {responsive: true, displaylogo: false})]).then(function () {
      root.dataset.converged = String(generation.converged);
    });
  }

  function fmt(seconds) { return seconds === null ? "–" : seconds + " s"; }

  var refresh = Segscope.refresher(function () {
    return Segscope.fetchJSON(root.dataset.url + "?generation=" + number).then(show);
  });
  refresh();
  Segscope.connect(["generation-" + number, "fleet"], function (event) {
    if (event.type === "generation.progress" && String(event.generation) === number) { refresh(); }
  }, refresh);
})();

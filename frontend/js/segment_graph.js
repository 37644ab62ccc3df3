/* The segment graph: the server's figure drawn with Plotly.react, an edge table with the same
 * edges for keyboards and screen readers, and the workload pairs and deciding rules of the
 * edge picked. Live events redraw it in place. */
(function () {
  "use strict";
  var E = Segscope.element;
  var root = document.getElementById("segment-graph");
  if (!root) { return; }
  var plot = document.getElementById("graph-plot");
  var form = document.getElementById("graph-filters");
  var table = document.getElementById("graph-edges");
  var detail = document.getElementById("edge-detail");
  var picked = null;

  function query() {
    var params = new URLSearchParams();
    ["focus", "port", "group"].forEach(function (name) {
      var value = form.elements[name].value.trim();
      if (value) { params.set(name, value); }
    });
    return params;
  }

  function counts(edge) {
    if (edge.status !== "partial") { return edge.status === "full" ? "all " + edge.pairs : ""; }
    return Object.keys(edge.pairs_allowed).map(function (port) {
      return port + " " + edge.pairs_allowed[port] + "/" + edge.pairs;
    }).join(", ");
  }

  // The keys segments can be grouped by, the one in use selected.
  function drawKeys(grouping) {
    var select = form.elements.group;
    var wanted = select.dataset.value || select.value;
    delete select.dataset.value;
    select.replaceChildren(E("option", {value: "", text: "default (" + grouping.key + ")"}));
    grouping.keys.forEach(function (key) {
      select.appendChild(E("option", {value: key, text: key === "prefix" ? "name prefix" : "label " + key}));
    });
    select.value = grouping.keys.indexOf(wanted) >= 0 ? wanted : "";
  }

  // An edge of a group opens the group (its source when both are); a segment edge lists its
  // workload pairs.
  function choose(src, dst) {
    var groups = (root.dataset.groups || "").split(",");
    if (groups.indexOf(src) >= 0) { return focusOn(src); }
    if (groups.indexOf(dst) >= 0) { return focusOn(dst); }
    return pick(src, dst);
  }

  function focusOn(name) {
    form.elements.focus.value = name;
    form.requestSubmit();
  }

  function drawTable(data) {
    var body = table.querySelector("tbody");
    body.replaceChildren();
    data.edges.forEach(function (edge) {
      var button = E("button", {type: "button", class: "link",
                                 text: edge.src + " → " + edge.dst,
                                 "aria-label": (edge.group ? "open the group " + edge.src + " of the edge to " :
                                                "workload pairs of " + edge.src + " to ") + edge.dst});
      button.addEventListener("click", function () { choose(edge.src, edge.dst); });
      body.appendChild(E("tr", {"data-edge": edge.src + "|" + edge.dst, class: "edge " + edge.class}, [
        E("td", {}, [button]),
        E("td", {}, [E("span", {class: "edge-class " + edge.class, text: data.classes[edge.class]})]),
        E("td", {text: edge.allowed.join(", ")}),
        E("td", {text: edge.intended.join(", ")}),
        E("td", {text: (edge.group ? edge.edges + " segment edges; " : "") + counts(edge)}),
      ]));
    });
    var groups = data.segments.filter(function (s) { return s.group; }).length;
    document.getElementById("graph-count").textContent =
      (groups ? data.grouping.segments + " segments drawn as " + data.segments.length +
                " nodes (" + groups + " groups by " + data.grouping.key + "; pick one to open it), "
              : data.segments.length + " segments, ") + data.edges.length + " edges" +
      (data.intent ? " (intent " + data.intent + ")" : " (no intent)");
  }

  function draw() {
    var params = query();
    return Segscope.fetchJSON(root.dataset.url + "?" + params.toString()).then(function (data) {
      root.dataset.nodes = data.segments.map(function (s) { return s.name; }).join(",");
      root.dataset.edges = data.edges.map(function (e) { return e.src + "|" + e.dst + "|" + e.class; }).join(",");
      root.dataset.groups = data.segments.filter(function (s) { return s.group; })
        .map(function (s) { return s.name; }).join(",");
      drawKeys(data.grouping);
      drawTable(data);
      return Plotly.react(plot, data.figure.data, data.figure.layout,
                          {responsive: true, displaylogo: false});
    }).then(function () {
      root.dataset.drawn = String(Number(root.dataset.drawn || 0) + 1);
      if (picked) { pick(picked[0], picked[1]); }
    });
  }

  function pick(src, dst) {
    picked = [src, dst];
    var params = query();
    params.delete("focus");
    params.set("src", src);
    params.set("dst", dst);
    return Segscope.fetchJSON(root.dataset.edgeUrl + "?" + params.toString()).then(showDetail);
  }

  function ruleText(rule) {
    if (rule.policy) { return rule.table + " " + rule.chain + " policy"; }
    return rule.table + " " + rule.chain + " rule " + (rule.rule_number || rule.handle) +
      (rule.line ? " (line " + rule.line + ")" : "");
  }

  function showDetail(data) {
    detail.hidden = false;
    detail.replaceChildren(E("h2", {}, [segmentLink(data.src), " → ", segmentLink(data.dst)]));
    detail.appendChild(E("p", {class: "muted", text: data.pairs.length + " of " +
      data.pairs_total + " workload pairs allowed something" +
      (data.intended.length ? "; intended " + data.intended.join(", ") : "; not intended")}));
    if (data.pairs.length) {
      var rows = data.pairs.map(function (p) {
        return E("tr", {}, [E("td", {}, [workloadLink(p.src)]), E("td", {}, [hostLink(p.src_host)]),
                            E("td", {}, [workloadLink(p.dst)]), E("td", {}, [hostLink(p.dst_host)]),
                            E("td", {text: p.allowed.join(", ")})]);
      });
      detail.appendChild(E("table", {class: "data pairs"}, [
        E("thead", {}, [E("tr", {}, ["source", "host", "destination", "host", "allowed"].map(
          function (h) { return E("th", {text: h}); }))]),
        E("tbody", {}, rows)]));
    }
    data.hosts.forEach(function (host) {
      var section = E("section", {class: "host-rules"}, [E("h3", {}, ["Deciding rules on ", hostLink(host.host)])]);
      section.appendChild(E("ul", {}, host.rules.map(function (rule) {
        return E("li", {}, [ruleLink(host.host, rule), " ",
                            E("span", {class: "muted", text: (rule.hook || "") + " · " + rule.pairs + " pairs"}),
                            rule.text ? E("pre", {text: rule.text}) : ""]);
      })));
      detail.appendChild(section);
    });
    detail.focus();
  }

  function hostLink(name) {
    return name ? E("a", {href: "/hosts/" + encodeURIComponent(name) + "/", text: name}) : "";
  }

  function segmentLink(name) {
    return E("a", {href: "/segments/" + encodeURIComponent(name) + "/", text: name});
  }

  function workloadLink(name) {
    return E("a", {href: "/workloads/" + encodeURIComponent(name) + "/", text: name});
  }

  // An iptables rule links its row on the host page (ids as webapp.ui.links.rule_anchor).
  function ruleLink(host, rule) {
    var code = E("code", {text: ruleText(rule)});
    if (rule.policy || !rule.rule_number || rule.handle) { return code; }
    var anchor = "rule-ipv4-" + rule.table + "-" + rule.chain + "-" + rule.rule_number;
    return E("a", {href: "/hosts/" + encodeURIComponent(host) + "/#" + encodeURIComponent(anchor)}, [code]);
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var params = query();
    window.history.replaceState(null, "", window.location.pathname +
                                (params.toString() ? "?" + params.toString() : ""));
    draw();
  });
  form.querySelector("[data-clear]").addEventListener("click", function () {
    form.elements.focus.value = "";
    form.elements.port.value = "";
    form.elements.group.value = "";
    form.requestSubmit();
  });

  var bound = false;
  function bindClicks() {
    if (bound) { return; }
    bound = true;
    plot.on("plotly_click", function (event) {
      var point = event.points && event.points[0];
      if (!point) { return; }
      if (point.data.meta === "edge") {
        var pair = point.customdata.split("|");
        choose(pair[0], pair[1]);
      } else if (point.data.meta === "node") {
        focusOn(point.customdata);
      }
    });
  }

  var refresh = Segscope.refresher(function () { return draw().then(bindClicks); });
  refresh();
  Segscope.connect(["fleet"], function (event) {
    if (event.type === "host.analysed" || event.type === "generation.progress") { refresh(); }
  }, refresh);
})();

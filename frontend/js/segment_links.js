/* The segment graph's way to the segment pages: after each drawing, a link to the page of
 * the segment in focus (a node picked, or a segment searched). */
(function () {
  "use strict";
  var root = document.getElementById("segment-graph");
  var holder = document.getElementById("segment-page");
  if (!root || !holder) { return; }
  var link = holder.querySelector("a");
  var form = document.getElementById("graph-filters");

  function update() {
    var name = form.elements.focus.value.trim();
    var known = (root.dataset.nodes || "").split(",").indexOf(name) >= 0 &&
      (root.dataset.groups || "").split(",").indexOf(name) < 0;
    holder.hidden = !known;
    if (known) {
      link.href = "/segments/" + encodeURIComponent(name) + "/";
      link.textContent = "Open the segment page of " + name;
    }
  }

  new MutationObserver(update).observe(root, {attributes: true, attributeFilter: ["data-drawn"]});
})();

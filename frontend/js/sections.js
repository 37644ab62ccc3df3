/* The lists of a detail page (segment, workload, host, cost), and parts marked
 * data-live-refresh (the host's rule tables): when a host's analysis is stored, the page is
 * fetched again with the same URL and each is replaced in place, keeping filters and pages.
 * Load it after the page's own live script. */
(function () {
  "use strict";
  var LIVE = "section.list-section[id], [data-live-refresh][id]";
  var sections = document.querySelectorAll(LIVE);
  if (!sections.length) { return; }

  var refresh = Segscope.refresher(function () {
    return fetch(window.location.pathname + window.location.search, {credentials: "same-origin"})
      .then(function (response) {
        if (!response.ok) { throw new Error("lists: HTTP " + response.status); }
        return response.text();
      }).then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        document.querySelectorAll(LIVE).forEach(function (section) {
          var replacement = fresh.getElementById(section.id);
          // A list whose filter is being typed into keeps what the person typed.
          if (replacement && !section.contains(document.activeElement)) {
            section.replaceWith(document.importNode(replacement, true));
          }
        });
        document.body.dataset.listsRefreshed = String(Number(document.body.dataset.listsRefreshed || 0) + 1);
      });
  });
  // A page whose own script holds the live socket (host, cost) calls this on its events; the
  // others listen here, so that a page keeps one socket.
  Segscope.refreshLists = refresh;
  if (Segscope.liveOwner) { return; }
  Segscope.connect(["fleet"], function (event) {
    if (event.type === "host.analysed" || event.type === "generation.progress") { refresh(); }
  }, refresh);
})();

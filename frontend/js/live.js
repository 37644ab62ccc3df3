/* Segscope live updates: one websocket per page, joined to the groups the page names.
 * Reconnects by itself with a growing, jittered delay and shows an "offline" badge while
 * it is down. Events only say what changed; pages refetch it over HTTP. */
(function () {
  "use strict";

  var MIN_DELAY = 500;
  var MAX_DELAY = 15000;

  function badge(online) {
    var el = document.getElementById("live-status");
    if (!el) { return; }
    el.hidden = false;
    el.textContent = online ? "live" : "offline";
    el.className = "live-badge " + (online ? "online" : "offline");
    el.title = online ? "Updates arrive as they happen" : "Reconnecting; the page may be out of date";
    document.body.dataset.live = online ? "online" : "offline";
  }

  function connect(groups, onEvent, onReconnect) {
    var delay = MIN_DELAY;
    var wasOpen = false;
    var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    var url = scheme + window.location.host + "/ws/live/?groups=" +
      encodeURIComponent(groups.join(","));

    function open() {
      var socket = new WebSocket(url);
      socket.onopen = function () {
        delay = MIN_DELAY;
        badge(true);
        // Whatever changed while the socket was down is fetched once on its return.
        if (wasOpen && onReconnect) { onReconnect(); }
        wasOpen = true;
      };
      socket.onmessage = function (message) {
        var event;
        try { event = JSON.parse(message.data); } catch (err) { return; }
        if (event && event.type !== "subscribed") { onEvent(event); }
      };
      socket.onclose = function () {
        badge(false);
        var wait = delay * (0.75 + Math.random() * 0.5);
        delay = Math.min(delay * 2, MAX_DELAY);
        window.setTimeout(open, wait);
      };
    }
    open();
  }

  function fetchJSON(url) {
    return fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (response) {
        if (!response.ok) { throw new Error(url + ": HTTP " + response.status); }
        return response.json();
      });
  }

  /* Runs `task` now, and again after events, at most one run at a time plus one queued. */
  function refresher(task) {
    var running = false;
    var again = false;
    function run() {
      if (running) { again = true; return; }
      running = true;
      Promise.resolve().then(task).catch(function (err) {
        console.warn("Segscope refresh failed:", err.message);
      }).then(function () {
        running = false;
        if (again) { again = false; run(); }
      });
    }
    return run;
  }

  function element(tag, attributes, children) {
    var el = document.createElement(tag);
    Object.keys(attributes || {}).forEach(function (key) {
      if (key === "text") { el.textContent = attributes[key]; }
      else if (key === "class") { el.className = attributes[key]; }
      else { el.setAttribute(key, attributes[key]); }
    });
    (children || []).forEach(function (child) {
      el.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return el;
  }

  window.Segscope = {connect: connect, fetchJSON: fetchJSON, refresher: refresher,
                     element: element};
})();

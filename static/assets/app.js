// guanaco fpserver page script: copy buttons and the initiator probes.
// No framework and no inline script (the pages send CSP script-src 'self').
// Everything taken from responses is put into the page with textContent only.
(function () {
  "use strict";

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    return new Promise(function (resolve, reject) {
      var ta = document.createElement("textarea");
      ta.value = text;
      ta.setAttribute("readonly", "");
      ta.className = "hidden-frame";
      document.body.appendChild(ta);
      ta.select();
      var ok = false;
      try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
      document.body.removeChild(ta);
      if (ok) { resolve(); } else { reject(new Error("copy failed")); }
    });
  }

  function initCopyButtons(root) {
    var buttons = root.querySelectorAll("button.copy[data-copy]");
    Array.prototype.forEach.call(buttons, function (b) {
      b.addEventListener("click", function () {
        var label = b.textContent;
        copyText(b.getAttribute("data-copy")).then(function () {
          b.textContent = "Copied";
          b.classList.add("done");
        }, function () {
          b.textContent = "Select and copy";
        }).then(function () {
          window.setTimeout(function () {
            b.textContent = label;
            b.classList.remove("done");
          }, 1500);
        });
      });
    });
  }

  // navigationNames returns the lower-cased header names the server
  // rendered for the navigation request.
  function navigationNames() {
    var items = document.querySelectorAll("#probe-navigate ol li");
    var names = {};
    Array.prototype.forEach.call(items, function (li) {
      names[(li.getAttribute("data-name") || li.textContent).toLowerCase()] = true;
    });
    return names;
  }

  function setStatus(col, text, cls) {
    var s = col.querySelector(".status");
    s.textContent = text;
    s.className = "pill status" + (cls ? " " + cls : "");
  }

  // render fills an initiator column from a capture report (the JSON of
  // /api/fingerprint).
  function render(col, report, navNames) {
    var headers = (report && report.http && report.http.headers) || [];
    var fp = (report && report.fingerprints) || {};
    var meta = col.querySelector(".meta");
    meta.textContent = "";
    if (report && report.capture_id) {
      var a = document.createElement("a");
      a.href = "/captures/" + encodeURIComponent(report.capture_id);
      a.textContent = fp.header_order_hash || report.capture_id;
      a.className = "mono";
      meta.appendChild(a);
      meta.appendChild(document.createTextNode(" · " + headers.length + " headers"));
    }
    var ol = col.querySelector("ol");
    ol.textContent = "";
    headers.forEach(function (pair) {
      var li = document.createElement("li");
      li.textContent = pair[0];
      li.title = pair[1];
      if (navNames && !navNames[String(pair[0]).toLowerCase()]) {
        li.className = "diff";
      }
      ol.appendChild(li);
    });
    setStatus(col, "captured", "ok");
  }

  function fail(col, err) {
    setStatus(col, "failed", "warn");
    col.querySelector(".meta").textContent = String(err && err.message ? err.message : err);
  }

  function probeFetch() {
    return fetch("/probe/fetch", {
      method: "POST",
      body: "probe=fetch",
      credentials: "same-origin"
      // No cache mode: a POST is not cached anyway, and "no-store" would make
      // the browser add Pragma and Cache-Control: no-cache, which ordinary
      // fetches do not carry (profiles are built from this probe).
    }).then(function (resp) {
      if (!resp.ok) { throw new Error("HTTP " + resp.status); }
      return resp.json();
    });
  }

  function probeXHR() {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      xhr.open("POST", "/probe/xhr");
      xhr.responseType = "json";
      xhr.onload = function () {
        if (xhr.status !== 200) { reject(new Error("HTTP " + xhr.status)); return; }
        resolve(xhr.response);
      };
      xhr.onerror = function () { reject(new Error("network error")); };
      xhr.send("probe=xhr");
    });
  }

  function probeForm() {
    return new Promise(function (resolve, reject) {
      var form = document.getElementById("form-probe");
      var frame = document.getElementById("probe-frame");
      if (!form || !frame) { reject(new Error("form probe missing")); return; }
      var timer = window.setTimeout(function () { reject(new Error("timeout")); }, 15000);
      frame.addEventListener("load", function onLoad() {
        var doc;
        try { doc = frame.contentDocument; } catch (e) { doc = null; }
        var el = doc && doc.getElementById("probe-result");
        if (!el) { return; } // the initial about:blank load
        frame.removeEventListener("load", onLoad);
        window.clearTimeout(timer);
        try {
          resolve(JSON.parse(el.getAttribute("data-result")));
        } catch (e) {
          reject(e);
        }
      });
      form.submit();
    });
  }

  // probeWebSocket opens a WebSocket to the server; the handshake is
  // captured like the other probes and the server answers with its report
  // as one text message, then closes. Over HTTP/2 the browser may use
  // extended CONNECT (RFC 8441) or a connection of its own over HTTP/1.1.
  function probeWebSocket() {
    return new Promise(function (resolve, reject) {
      if (typeof WebSocket === "undefined") { reject(new Error("no WebSocket support")); return; }
      var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      var ws;
      try {
        ws = new WebSocket(scheme + window.location.host + "/probe/ws");
      } catch (e) {
        reject(e);
        return;
      }
      var settled = false;
      var timer = window.setTimeout(function () {
        settled = true;
        try { ws.close(); } catch (e) { /* already closed */ }
        reject(new Error("timeout"));
      }, 15000);
      ws.onmessage = function (ev) {
        if (settled) { return; }
        settled = true;
        window.clearTimeout(timer);
        try {
          resolve(JSON.parse(ev.data));
        } catch (e) {
          reject(e);
        }
      };
      ws.onclose = function (ev) {
        if (settled) { return; }
        settled = true;
        window.clearTimeout(timer);
        reject(new Error("closed without a report (code " + ev.code + ")"));
      };
    });
  }

  function runProbes() {
    var root = document.getElementById("probes");
    if (!root) { return; }
    var navNames = navigationNames();
    var steps = [
      ["fetch", probeFetch],
      ["xhr", probeXHR],
      ["form", probeForm],
      ["websocket", probeWebSocket]
    ];
    var chain = Promise.resolve();
    steps.forEach(function (step) {
      var col = document.getElementById("probe-" + step[0]);
      if (!col) { return; }
      setStatus(col, "running", "");
      chain = chain.then(function () {
        return step[1]().then(function (report) {
          render(col, report, navNames);
        }, function (err) {
          fail(col, err);
        });
      });
    });
    chain.then(function () { showSubresources(navNames, 0); });
  }

  // showSubresources fills the sub-resource columns from the visit's
  // profile (the server stores captures asynchronously: columns still
  // missing are asked for again, a few times). A destination the browser
  // did not request (Firefox fetches no manifest) ends "not requested".
  function showSubresources(navNames, attempt) {
    var box = document.getElementById("subresources");
    if (!box) { return; }
    var h2 = box.getAttribute("data-http") === "HTTP/2";
    var cols = box.querySelectorAll(".initiator");
    var last = attempt >= 4;
    fetch(box.getAttribute("data-profile"), {headers: {"Accept": "application/json"}, cache: "no-store"}).then(function (resp) {
      if (!resp.ok) { throw new Error("profile: HTTP " + resp.status); }
      return resp.json();
    }).then(function (p) {
      var part = h2 ? p.h2 : p.h1;
      var lists = (part && part.headers) || {};
      var missing = false;
      Array.prototype.forEach.call(cols, function (col) {
        var name = col.id.slice("probe-".length);
        if (lists[name] && lists[name].length) {
          render(col, {http: {headers: lists[name]}}, navNames);
        } else if (last) {
          setStatus(col, "not requested", "");
        } else {
          missing = true;
        }
      });
      if (missing) {
        window.setTimeout(function () { showSubresources(navNames, attempt + 1); }, 1000);
      }
    }).catch(function (err) {
      if (!last) {
        window.setTimeout(function () { showSubresources(navNames, attempt + 1); }, 1000);
        return;
      }
      Array.prototype.forEach.call(cols, function (col) {
        if (col.querySelector(".status").textContent === "waiting") { fail(col, err); }
      });
    });
  }

  function init() {
    initCopyButtons(document);
    runProbes();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();

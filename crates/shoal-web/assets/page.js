// shoal web view: live fragments over server-sent events, and confirmed actions.
(function () {
  "use strict";
  var meta = document.querySelector("meta[name=csrf]");
  var csrf = meta ? meta.content : "";
  var status = document.getElementById("status");
  function say(msg, bad) {
    status.textContent = msg;
    status.className = bad ? "bad" : "good";
  }
  var live = document.body.getAttribute("data-live");
  if (live) {
    var es = new EventSource(live);
    ["grid", "services", "events", "detail"].forEach(function (k) {
      es.addEventListener(k, function (e) {
        var el = document.getElementById(k);
        if (el) { el.innerHTML = e.data; }
      });
    });
    es.addEventListener("notice", function (e) { say(e.data, true); });
    es.onopen = function () { if (status.className === "bad") { say("", false); } };
    es.onerror = function () { say("live updates interrupted; reconnecting…", true); };
  }
  var logs = document.getElementById("logs");
  if (logs && logs.dataset.src) {
    var ls = new EventSource(logs.dataset.src);
    ls.addEventListener("log", function (e) {
      var atEnd = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
      logs.appendChild(document.createTextNode(e.data + "\n"));
      while (logs.childNodes.length > 500) { logs.removeChild(logs.firstChild); }
      if (atEnd) { logs.scrollTop = logs.scrollHeight; }
    });
  }
  var box = document.getElementById("confirm");
  if (!box) { return; }
  var text = document.getElementById("confirm-text");
  var value = document.getElementById("confirm-value");
  var pending = null;
  document.addEventListener("click", function (ev) {
    var b = ev.target.closest ? ev.target.closest("button.act") : null;
    if (!b) { return; }
    pending = { act: b.dataset.act, id: b.dataset.id, name: b.dataset.name, value: b.dataset.value || "" };
    if (pending.act === "scale") {
      text.textContent = "Scale " + pending.name + " to:";
      value.hidden = false;
      value.value = pending.value;
    } else if (pending.act === "rollback") {
      text.textContent = "Roll " + pending.name + " back to its previous spec?";
      value.hidden = true;
    } else {
      text.textContent = "Set node " + pending.name + " to " + pending.value + "?";
      value.hidden = true;
    }
    box.hidden = false;
    if (!value.hidden) { value.focus(); }
  });
  document.getElementById("confirm-cancel").onclick = function () {
    box.hidden = true;
    pending = null;
  };
  document.getElementById("confirm-ok").onclick = function () {
    if (!pending) { return; }
    var body = new URLSearchParams();
    body.set("id", pending.id);
    body.set("value", pending.act === "scale" ? value.value : pending.value);
    var act = pending.act;
    box.hidden = true;
    pending = null;
    fetch("/action/" + act, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-Shoal-Csrf": csrf, "Content-Type": "application/x-www-form-urlencoded" },
      body: body.toString()
    }).then(function (r) {
      return r.text().then(function (t) { say(t, !r.ok); });
    }, function (e) { say("request failed: " + e, true); });
  };
})();

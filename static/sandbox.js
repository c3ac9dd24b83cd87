// Sandbox chat: polls the chat's new messages every second and appends
// them, so an answer shows up without reloading, and shows where the chat
// stands (answering, needs a person, with a person, closed) with its
// Return to AI button: "answering" only while the server says a turn will
// come, so the hint never spins forever. Progressive enhancement only:
// without this script the form posts and the Refresh link reloads. Text
// is set with textContent, never parsed as HTML.
(function () {
  "use strict";
  var chat = document.getElementById("sandbox-chat");
  if (!chat || !window.fetch) return;
  var pollUrl = chat.getAttribute("data-poll-url");
  var after = parseInt(chat.getAttribute("data-after") || "0", 10) || 0;
  var pending = document.getElementById("sandbox-pending");
  var stateBox = document.getElementById("sandbox-state");
  var stateText = document.getElementById("sandbox-state-text");
  var returnForm = document.getElementById("sandbox-return");
  var seen = {};
  var busy = false;
  var quietPolls = 0;
  // Stop after an hour without news (a forgotten tab); a reload restarts.
  var MAX_QUIET = 3600;

  Array.prototype.forEach.call(chat.querySelectorAll("[data-id]"),
    function (el) { seen[el.getAttribute("data-id")] = true; });

  function bubble(m) {
    var div = document.createElement("div");
    div.className = "bubble " + (m.is_in ? "user" : "agent");
    div.setAttribute("data-id", String(m.id));
    var who = document.createElement("span");
    who.className = "who";
    who.textContent = m.who;
    var p = document.createElement("p");
    p.textContent = m.body;
    div.appendChild(who);
    div.appendChild(p);
    if (m.failed) {
      var e = document.createElement("p");
      e.className = "error";
      e.setAttribute("role", "alert");
      e.textContent = "Not delivered" + (m.error ? ": " + m.error : "");
      div.appendChild(e);
    }
    if (m.note) {
      var n = document.createElement("p");
      n.className = "muted note";
      n.textContent = m.note;
      div.appendChild(n);
    }
    return div;
  }

  // Where the chat stands, as the poll answer says.
  function showState(data) {
    if (pending) {
      pending.hidden = !data.pending;
      if (data.pending) pending.textContent = data.state_text;
    }
    if (stateBox && stateText) {
      stateText.textContent = data.pending ? "" : (data.state_text || "");
      stateBox.hidden = data.pending || !data.state_text;
      stateBox.setAttribute("data-state", data.state || "ai");
    }
    if (returnForm) returnForm.hidden = !data.can_return;
  }

  function poll() {
    if (busy) return;
    busy = true;
    var sep = pollUrl.indexOf("?") < 0 ? "?" : "&";
    fetch(pollUrl + sep + "after=" + after, {
      credentials: "same-origin",
      headers: { "Accept": "application/json" }
    }).then(function (r) {
      return r.ok ? r.json() : null;
    }).then(function (data) {
      if (!data || !data.messages) return;
      showState(data);
      if (data.messages.length === 0) { quietPolls++; return; }
      quietPolls = 0;
      var empty = document.getElementById("sandbox-empty");
      if (empty) empty.remove();
      data.messages.forEach(function (m) {
        if (seen[m.id]) return;
        seen[m.id] = true;
        chat.appendChild(bubble(m));
      });
      after = data.last_id;
    }).catch(function () {
      quietPolls++;
    }).then(function () {
      busy = false;
      if (quietPolls < MAX_QUIET) setTimeout(poll, 1000);
    });
  }
  setTimeout(poll, 1000);
})();

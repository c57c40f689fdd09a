/* Review panel of `survey map --review` (mapping/review_panel.py). AGPL-3.0-or-later.
 * Every text from the survey goes in with textContent: nothing here parses HTML. */
(function () {
  "use strict";
  var dataEl = document.getElementById("survey-review-data");
  if (!dataEl) { return; }
  var D = JSON.parse(dataEl.textContent);
  var items = D.items;
  var GRADES = D.grades;
  var KEY = "survey-review:" + D.survey;
  var NAME_KEY = "survey-review:reviewer";
  var LABELS = {intact: "Intact", minor: "Minor", major: "Major", destroyed: "Destroyed",
                not_building: "Not a building"};
  var KEYS = {intact: "1", minor: "2", major: "3", destroyed: "4", not_building: "0"};

  // -- storage -----------------------------------------------------------------------------
  var storageOk = true;
  function readStore(key, fallback) {
    try {
      var text = window.localStorage.getItem(key);
      return text === null ? fallback : JSON.parse(text);
    } catch (e) { storageOk = false; return fallback; }
  }
  function writeStore(key, value) {
    try { window.localStorage.setItem(key, JSON.stringify(value)); return true; }
    catch (e) { storageOk = false; return false; }
  }
  var state = readStore(KEY, null);
  if (!state || typeof state !== "object" || typeof state.reviews !== "object") {
    state = {reviews: {}, cursor: 0};
  }
  var reviewer = readStore(NAME_KEY, "") || "";
  function save() {
    if (!writeStore(KEY, state)) {
      message("Not saved in this browser (storage refused): export review.geojson often.");
    }
  }

  function pad(n) { n = Math.floor(Math.abs(n)); return (n < 10 ? "0" : "") + n; }
  function isoNow() {  // local time with its UTC offset, e.g. 2026-12-03T10:15:00+09:00
    var d = new Date(), off = -d.getTimezoneOffset();
    return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + "T" +
      pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds()) +
      (off >= 0 ? "+" : "-") + pad(off / 60) + ":" + pad(off % 60);
  }

  function reviewOf(item) {
    return state.reviews[item.target] || item.stored || null;
  }
  function reviewedCount() {
    var n = 0;
    for (var i = 0; i < items.length; i++) { if (reviewOf(items[i])) { n++; } }
    return n;
  }

  // -- DOM helpers (text only) -------------------------------------------------------------
  function h(tag, props, kids) {
    var e = document.createElement(tag);
    if (props) {
      for (var k in props) {
        if (k === "text") { e.textContent = props[k]; }
        else if (k === "cls") { e.className = props[k]; }
        else if (k === "style") { e.style.cssText = props[k]; }
        else { e.setAttribute(k, props[k]); }
      }
    }
    (kids || []).forEach(function (c) {
      e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return e;
  }
  function swatch(grade) {
    return h("i", {style: "background:" + (D.colours[grade] || D.unknown_colour)});
  }

  // -- the map -----------------------------------------------------------------------------
  var map = null;
  if (window.L) {
    map = Object.values(window).find(function (v) { return v instanceof window.L.Map; }) || null;
  }
  var rings = {}, ringLayer = null, currentRing = null;
  if (map) {
    ringLayer = window.L.layerGroup().addTo(map);
  }
  function ring(item) {
    if (!ringLayer) { return; }
    var r = reviewOf(item);
    if (!r) {
      if (rings[item.target]) { ringLayer.removeLayer(rings[item.target]); delete rings[item.target]; }
      return;
    }
    var colour = D.colours[r.grade] || D.unknown_colour;
    if (!rings[item.target]) {
      rings[item.target] = window.L.circleMarker([item.lat, item.lon], {
        radius: 12, weight: 4, color: colour, fill: false, interactive: false,
        className: "review-ring review-" + r.grade}).addTo(ringLayer);
    } else {
      rings[item.target].setStyle({color: colour});
    }
  }
  function showCurrentOnMap(item, pan) {
    if (!map) { return; }
    if (!currentRing) {
      currentRing = window.L.circleMarker([item.lat, item.lon], {
        radius: 18, weight: 2, color: "#2b83ba", dashArray: "4 3", fill: false,
        interactive: false, className: "review-current"}).addTo(map);
    } else {
      currentRing.setLatLng([item.lat, item.lon]);
    }
    if (pan) {
      // no animation: a reviewer going through the queue by key wants the next one now
      map.setView([item.lat, item.lon], Math.max(map.getZoom(), 19), {animate: false});
    }
  }

  // -- the panel ---------------------------------------------------------------------------
  var panel = h("div", {id: "survey-review", role: "region", "aria-label": "Review"});
  var progress = h("span", {cls: "rv-progress"});
  var barFill = h("i", {style: "width:0"});
  var nameInput = h("input", {type: "text", id: "survey-review-name",
                              placeholder: "Your name (asked once)", maxlength: "200"});
  nameInput.value = reviewer;
  var exportBtn = h("button", {type: "button", id: "survey-review-export",
                               text: "Export review.geojson"});
  var msg = h("div", {cls: "rv-msg"});
  var current = h("div", {cls: "rv-current"});
  var list = h("ul", {cls: "rv-list", id: "survey-review-list"});
  panel.appendChild(h("div", {cls: "rv-head"}, [
    h("h3", {text: "Review the AI's grades"}),
    h("div", {}, [progress]), h("div", {cls: "rv-bar"}, [barFill]),
    h("div", {cls: "rv-row"}, [h("label", {"for": "survey-review-name", text: "Reviewer"}),
                               nameInput]),
    h("div", {cls: "rv-row"}, [exportBtn]),
    h("div", {cls: "rv-keys", text: "Keys: 1 intact · 2 minor · 3 major · 4 destroyed · " +
      "0/X not a building · Enter/C confirm the AI · N note · ↓/J next · ↑/K previous"}),
    msg]));
  panel.appendChild(current);
  panel.appendChild(list);
  var toggle = h("button", {type: "button", id: "survey-review-toggle", text: "Review panel"});
  document.body.appendChild(panel);
  document.body.appendChild(toggle);
  document.body.classList.add("review-open");
  if (map) { map.invalidateSize({pan: false}); }

  function message(text) { msg.textContent = text || ""; }

  var rows = items.map(function (item, i) {
    var mark = h("span", {cls: "rv-mark"});
    var li = h("li", {"data-target": item.target, "data-model": item.model}, [
      mark, swatch(item.model),
      (i + 1) + ". " + item.label + " — " + item.model + (item.needs ? " ⚠" : "")]);
    li.addEventListener("click", function () { select(i, true); });
    list.appendChild(li);
    return {li: li, mark: mark};
  });

  function renderRow(i) {
    var r = reviewOf(items[i]);
    rows[i].li.className = (r ? "done" : "") + (i === state.cursor ? " cur" : "");
    rows[i].mark.textContent = r ? "✓ " + r.grade : "";
    ring(items[i]);
  }

  function renderProgress() {
    var k = reviewedCount(), n = items.length;
    var need = items.filter(function (it) { return it.needs && !reviewOf(it); }).length;
    progress.textContent = k + " of " + n + " reviewed" +
      (need ? " · " + need + " flagged still to check" : "");
    barFill.style.width = (n ? (100 * k / n) : 0) + "%";
  }

  var noteBox = null;
  function renderCurrent() {
    current.textContent = "";
    var item = items[state.cursor];
    if (!item) { current.appendChild(h("div", {text: "Nothing to review."})); return; }
    var r = reviewOf(item);
    current.appendChild(h("div", {cls: "rv-title"}, [
      swatch(item.model), (state.cursor + 1) + " / " + items.length + ": " + item.label]));
    current.appendChild(h("div", {}, [
      "AI: " + item.model + " (" + (item.psource === "assessor" ? "assessor" :
      "from the detections") + ", priority " + item.priority.toFixed(2) + ")"]));
    if (item.needs) { current.appendChild(h("div", {cls: "rv-warn", text: "Needs review: " + item.why})); }
    var details = Object.keys(item.details || {});
    if (details.length) {
      current.appendChild(h("div", {text: details.map(function (k) {
        return k + ": " + item.details[k]; }).join("; ")}));
    }
    var crops = h("div", {cls: "rv-crops"});
    item.views.forEach(function (v) {
      var cap = v.photo + (v.grade ? " — " + v.grade + " " + v.score.toFixed(2) : "");
      var fig = h("figure", {}, []);
      if (v.crop && v.crop.indexOf("data:image/jpeg;base64,") === 0) {
        fig.appendChild(h("img", {src: v.crop, alt: v.photo, cls: "rv-crop"}));
      } else {
        fig.appendChild(h("div", {cls: "rv-nocrop", text: "(no crop in this map)",
                                  style: "width:150px;height:40px;color:#777"}));
      }
      fig.appendChild(h("figcaption", {text: cap}));
      crops.appendChild(fig);
    });
    current.appendChild(crops);
    var probs = h("table", {cls: "rv-probs"});
    GRADES.forEach(function (g) {
      var p = item.p[g] || 0;
      probs.appendChild(h("tr", {}, [h("td", {}, [swatch(g), LABELS[g]]),
        h("td", {text: p.toFixed(2)}),
        h("td", {}, [h("span", {cls: "pb", style: "width:" + Math.round(100 * p) + "px"})])]));
    });
    current.appendChild(probs);
    var buttons = h("div", {cls: "rv-grades"});
    GRADES.forEach(function (g) {
      var b = h("button", {type: "button", "data-grade": g,
                           cls: r && r.grade === g ? "on" : ""},
                [swatch(g), KEYS[g] + " " + LABELS[g]]);
      b.addEventListener("click", function () { grade(g); });
      buttons.appendChild(b);
    });
    var confirm = h("button", {type: "button", "data-grade": "confirm",
                               text: "Enter: confirm " + item.model});
    confirm.addEventListener("click", function () { grade(item.model); });
    buttons.appendChild(confirm);
    current.appendChild(buttons);
    noteBox = h("textarea", {id: "survey-review-note", placeholder: "Note (N)", maxlength: "2000"});
    noteBox.value = r && r.note ? r.note : "";
    noteBox.addEventListener("change", commitNote);
    current.appendChild(noteBox);
    current.appendChild(h("div", {cls: "rv-keys", text: r ? "Reviewed: " + r.grade + " by " +
      r.reviewer + " at " + r.time + (state.reviews[item.target] ? "" : " (in the survey)") :
      "Not reviewed yet"}));
  }

  function render() {
    for (var i = 0; i < items.length; i++) { renderRow(i); }
    renderProgress();
    renderCurrent();
  }

  function select(i, pan) {
    if (i < 0 || i >= items.length) { return; }
    var old = state.cursor;
    state.cursor = i;
    save();
    if (rows[old]) { renderRow(old); }
    renderRow(i);
    renderCurrent();
    rows[i].li.scrollIntoView({block: "nearest"});
    showCurrentOnMap(items[i], pan);
  }

  function nextUnreviewed(from) {
    for (var k = 1; k <= items.length; k++) {
      var j = (from + k) % items.length;
      if (!reviewOf(items[j])) { return j; }
    }
    return -1;
  }

  function needName() {
    reviewer = nameInput.value.trim();
    if (reviewer) { return false; }
    message("Type your name first (asked once).");
    nameInput.focus();
    return true;
  }

  function grade(g) {
    var item = items[state.cursor];
    if (!item || GRADES.indexOf(g) < 0 || needName()) { return; }
    message("");
    state.reviews[item.target] = {grade: g, time: isoNow(), reviewer: reviewer,
                                  note: noteBox ? noteBox.value.trim() : "",
                                  model: item.model};
    save();
    renderRow(state.cursor);
    renderProgress();
    var next = nextUnreviewed(state.cursor);
    if (next >= 0) { select(next, true); } else { renderCurrent(); message("All reviewed: export."); }
  }

  function commitNote() {
    var item = items[state.cursor];
    var r = item && state.reviews[item.target];
    if (!r || !noteBox) { return; }  // a note typed first goes with the grade
    var note = noteBox.value.trim();
    if (note !== r.note) { r.note = note; r.time = isoNow(); save(); }
  }

  nameInput.addEventListener("change", function () {
    reviewer = nameInput.value.trim();
    writeStore(NAME_KEY, reviewer);
    if (reviewer) { message(""); }
  });

  function exportText() {
    var features = [];
    items.forEach(function (item) {
      var r = state.reviews[item.target];
      if (!r) { return; }
      features.push({type: "Feature",
                     geometry: {type: "Point", coordinates: [item.lon, item.lat]},
                     properties: {target: item.target, grade: r.grade, reviewer: r.reviewer,
                                  time: r.time, note: r.note || "", model_grade: item.model}});
    });
    return JSON.stringify({type: "FeatureCollection", features: features}, null, 1);
  }
  var api = {exportText: exportText, lastExportUrl: null, survey: D.survey};
  function exportFile() {
    commitNote();
    var url = URL.createObjectURL(new Blob([exportText()], {type: "application/geo+json"}));
    var a = h("a", {href: url, download: "review.geojson", style: "display:none"});
    document.body.appendChild(a);
    a.click();
    a.remove();
    api.lastExportUrl = url;
    var n = Object.keys(state.reviews).length;
    message("");
    msg.style.color = "#1a9641";
    msg.textContent = n + " review(s) exported to review.geojson";
    setTimeout(function () { msg.style.color = ""; }, 4000);
  }
  exportBtn.addEventListener("click", exportFile);
  api.exportFile = exportFile;
  api.grade = grade;
  api.select = select;
  api.state = function () { return JSON.parse(JSON.stringify(state)); };
  window.surveyReview = api;

  toggle.addEventListener("click", function () {
    document.body.classList.toggle("review-open");
    if (map) { map.invalidateSize({pan: false}); }
  });

  document.addEventListener("keydown", function (ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var t = ev.target;
    var typing = t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA");
    if (typing) {
      if (t.closest && t.closest("#survey-review") &&
          (ev.key === "Escape" || (ev.key === "Enter" && !ev.shiftKey))) {
        ev.preventDefault();
        t.blur();  // fires change: the name or note is kept
      }
      return;
    }
    if (!document.body.classList.contains("review-open")) { return; }
    var k = ev.key, done = true;
    if (k >= "1" && k <= "4") { grade(GRADES[Number(k) - 1]); }
    else if (k === "0" || k === "x" || k === "X") { grade("not_building"); }
    else if (k === "Enter" || k === "c" || k === "C") {
      if (items[state.cursor]) { grade(items[state.cursor].model); }
    }
    else if (k === "n" || k === "N") { if (noteBox) { noteBox.focus(); } }
    else if (k === "ArrowDown" || k === "ArrowRight" || k === "j" || k === "J") {
      select(Math.min(state.cursor + 1, items.length - 1), true);
    }
    else if (k === "ArrowUp" || k === "ArrowLeft" || k === "k" || k === "K") {
      select(Math.max(state.cursor - 1, 0), true);
    }
    else { done = false; }
    if (done) { ev.preventDefault(); ev.stopPropagation(); }
  }, true);

  if (!(state.cursor >= 0 && state.cursor < items.length)) { state.cursor = 0; }
  render();
  if (items.length) { showCurrentOnMap(items[state.cursor], false); }
  if (!storageOk) { message("This browser keeps no storage here: export review.geojson often."); }
  if (map) { setTimeout(function () { map.invalidateSize(); }, 0); }
})();

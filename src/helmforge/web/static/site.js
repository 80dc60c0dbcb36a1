// helmforge UI: a little progressive enhancement. Every page works without it.
(function () {
  "use strict";

  // Keep the line-number gutter beside the editor in step with its scrolling.
  function syncGutters() {
    document.querySelectorAll(".editor").forEach(function (editor) {
      var area = editor.querySelector("textarea");
      var gutter = editor.querySelector(".gutter");
      if (!area || !gutter) { return; }
      function renumber() {
        var count = area.value.split("\n").length;
        var marked = {};
        gutter.querySelectorAll(".err").forEach(function (span) { marked[span.textContent.replace("!", "")] = true; });
        if (gutter.childElementCount === count) { return; }
        var html = [];
        for (var i = 1; i <= count; i++) {
          html.push(marked[i] ? '<span class="err">!' + i + "</span>" : "<span>" + i + "</span>");
        }
        gutter.innerHTML = html.join("\n") + "\n";
      }
      area.addEventListener("scroll", function () { gutter.scrollTop = area.scrollTop; });
      area.addEventListener("input", renumber);
    });
  }

  // Tab indents in the template editor (two spaces, YAML's usual step), Shift+Tab outdents
  // the line; Esc hands Tab back to the page for one key press, so keyboard users can leave.
  function editorTabs() {
    var area = document.getElementById("editor");
    if (!area) { return; }
    var released = false;
    area.addEventListener("keydown", function (event) {
      if (event.key === "Escape") { released = true; return; }
      if (event.key !== "Tab" || released || event.ctrlKey || event.altKey || event.metaKey) {
        released = false;
        return;
      }
      event.preventDefault();
      var start = area.selectionStart;
      var lineStart = area.value.lastIndexOf("\n", start - 1) + 1;
      if (event.shiftKey) {
        var spaces = area.value.slice(lineStart, lineStart + 2).match(/^ {0,2}/)[0].length;
        area.setRangeText("", lineStart, lineStart + spaces, "preserve");
        area.selectionStart = area.selectionEnd = Math.max(lineStart, start - spaces);
      } else {
        area.setRangeText("  ", start, area.selectionEnd, "end");
      }
      area.dispatchEvent(new Event("input"));
    });
    area.addEventListener("blur", function () { released = false; });
  }

  // "line N" links in a problem list select that line in the editor.
  function gotoLines() {
    document.querySelectorAll(".goto-line").forEach(function (link) {
      link.addEventListener("click", function (event) {
        var area = document.getElementById("editor");
        if (!area) { return; }
        event.preventDefault();
        var line = parseInt(link.getAttribute("data-line"), 10);
        var lines = area.value.split("\n");
        var start = 0;
        for (var i = 0; i < line - 1 && i < lines.length; i++) { start += lines[i].length + 1; }
        var end = start + (lines[line - 1] || "").length;
        area.focus();
        area.setSelectionRange(start, end);
        var lineHeight = parseFloat(getComputedStyle(area).lineHeight) || 18;
        area.scrollTop = Math.max(0, (line - 4) * lineHeight);
      });
    });
  }

  // "Add item" in a list of values: copy the last (blank) item with the next index.
  function listItems() {
    document.querySelectorAll("[data-add-item]").forEach(function (button) {
      button.addEventListener("click", function () {
        var list = button.closest("[data-list]");
        var items = list.querySelectorAll(":scope > [data-item]");
        if (!items.length) { return; }
        var last = items[items.length - 1];
        var control = last.querySelector("input, select, textarea");
        var match = control.name.match(/^(.*)\.(\d+)$/);
        if (!match) { return; }
        var next = match[1] + "." + (parseInt(match[2], 10) + 1);
        var copy = last.cloneNode(true);
        copy.querySelectorAll(".field-error").forEach(function (node) { node.remove(); });
        var newControl = copy.querySelector("input, select, textarea");
        var newId = "f-" + next.replace(/\./g, "-");
        newControl.name = next;
        newControl.id = newId;
        newControl.value = "";
        newControl.removeAttribute("aria-invalid");
        copy.querySelector("label").setAttribute("for", newId);
        var text = copy.querySelector("label").firstChild;
        text.textContent = text.textContent.replace(/\d+(\s*)$/, String(parseInt(match[2], 10) + 2) + "$1");
        list.insertBefore(copy, button);
        newControl.focus();
      });
    });
  }

  // Forms with data-confirm ask before they are sent (a password reset signs a user out).
  // A form with a "confirmed" field is told the answer; without this script the server
  // asks on a page of its own instead.
  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (event) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); return; }
        var confirmed = form.querySelector("input[name='confirmed']");
        if (confirmed) { confirmed.value = "yes"; }
      });
    });
  }

  // Move focus to the first problem so keyboard and screen-reader users hear it.
  function focusProblems() {
    var target = document.querySelector("#problems, #conflict, [aria-invalid='true']");
    if (target && target.focus) { target.focus(); }
  }

  // A job's page follows its job: the progress bar and count move as /jobs/ID/progress
  // answers, and the page reloads when the job ends (with data-reload-on-progress, also each
  // time it moves) to show what it found. Without this script the page refreshes itself.
  function followJobs() {
    var box = document.querySelector("[data-job-poll]");
    if (!box || typeof window.fetch !== "function") { return; }
    var ended = ["succeeded", "failed", "cancelled"];
    if (ended.indexOf(box.getAttribute("data-job-state")) >= 0) { return; }
    var url = box.getAttribute("data-job-poll");
    var seen = box.getAttribute("data-job-done");
    var onProgress = box.hasAttribute("data-reload-on-progress");
    function text(id, value) {
      var node = document.getElementById(id);
      if (node) { node.textContent = String(value); }
    }
    function show(job) {
      var bar = document.getElementById("job-progress");
      if (bar) {
        bar.max = Math.max(job.total, 1);
        bar.value = job.total ? job.done : 0;
        bar.textContent = job.done + " / " + job.total;
      }
      text("job-done", job.done);
      text("job-total", job.total);
      text("job-state", job.state);
      var badge = document.getElementById("job-state");
      if (badge) { badge.className = "badge job-" + job.state; }
    }
    function poll() {
      window.fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.json();
        })
        .then(function (job) {
          show(job);
          if (ended.indexOf(job.state) >= 0 || (onProgress && String(job.done) !== seen)) {
            window.location.reload();
            return;
          }
          window.setTimeout(poll, 1000);
        })
        .catch(function () { window.setTimeout(poll, 5000); });
    }
    window.setTimeout(poll, 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    syncGutters();
    editorTabs();
    gotoLines();
    listItems();
    confirmations();
    focusProblems();
    followJobs();
  });
})();

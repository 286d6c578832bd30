/* ID-photo page: send the form to its action (POST /id-photo, the page twin of /api/v1/id-photo), then
   show before/after and the compliance report that comes back in the X-Compliance header. No inline
   script: the page only has data-* hooks. */
(function () {
  "use strict";
  var form = document.querySelector("[data-idphoto-form]");
  if (!form) { return; }
  var result = document.querySelector("[data-idphoto-result]");
  var presetSelect = form.querySelector("[data-preset]");
  var backgroundSelect = form.querySelector("[data-background]");
  var errorBox = form.querySelector("[data-error-box]");
  var submit = form.querySelector("[data-submit]");
  var LABELS = { pass: "Pass", warn: "Check", fail: "Fail" };

  function showError(message) {
    errorBox.querySelector("[data-error-text]").textContent = message;
    errorBox.classList.remove("hidden");
  }

  function onPresetChange() {
    var option = presetSelect.options[presetSelect.selectedIndex];
    var allowed = option.getAttribute("data-backgrounds").split(",");
    form.querySelector("[data-preset-source]").textContent = option.getAttribute("data-source");
    form.querySelector("[data-custom-size]").classList.toggle("hidden", presetSelect.value !== "custom");
    Array.prototype.forEach.call(backgroundSelect.options, function (opt) {
      opt.textContent = opt.textContent.replace(/ \(not accepted\)$/, "") +
        (allowed.indexOf(opt.value) < 0 ? " (not accepted)" : "");
    });
    if (allowed.indexOf(backgroundSelect.value) < 0) { backgroundSelect.value = allowed[0]; }
    form.querySelector("[data-background-note]").textContent = "Accepted: " + allowed.join(", ").replace(/-/g, " ");
  }

  function formatRange(allowed, unit) {
    if (allowed === null || allowed === undefined) { return ""; }
    if (!Array.isArray(allowed)) { return String(allowed); }
    if (allowed.length === 2 && typeof allowed[0] === "number") {
      var high = allowed[1] === null ? "…" : allowed[1];
      return allowed[0] + "–" + high + (unit ? " " + unit : "");
    }
    return allowed.join(", ");
  }

  function cell(row, text, className) {
    var td = document.createElement("td");
    td.textContent = text;
    if (className) { td.className = className; }
    row.appendChild(td);
  }

  function showReport(report, urls) {
    var body = result.querySelector("[data-report-rows]");
    body.textContent = "";
    report.rules.forEach(function (rule) {
      var row = document.createElement("tr");
      row.setAttribute("data-rule", rule.id);
      cell(row, rule.label);
      cell(row, rule.value === null ? "–" : rule.value + (rule.unit ? " " + rule.unit : ""));
      cell(row, formatRange(rule.allowed, rule.unit));
      cell(row, LABELS[rule.status] || rule.status, "status-" + rule.status);
      cell(row, rule.hint);
      body.appendChild(row);
    });
    var overall = result.querySelector("[data-overall]");
    var sheet = report.sheet ? " · " + report.sheet.copies + " copies on the 4x6 in sheet" : "";
    overall.textContent = report.preset_name + ", " + report.size_px[0] + "×" + report.size_px[1] + " px at " +
      report.dpi + " DPI: " + (LABELS[report.overall] || report.overall) + sheet;
    overall.className = "idphoto-overall status-" + report.overall;
    overall.setAttribute("data-status", report.overall);
    result.querySelector("[data-before]").src = urls.input;
    result.querySelector("[data-after]").src = urls.result;
    result.querySelector("[data-download]").href = urls.download;
    result.querySelector("[data-job-json]").href = "/api/v1/jobs/" + urls.job;
    result.classList.remove("hidden");
  }

  presetSelect.addEventListener("change", onPresetChange);
  onPresetChange();

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    errorBox.classList.add("hidden");
    var file = form.querySelector("input[type=file]").files[0];
    if (!file) { showError("image: choose a photo first."); return; }
    if (file.size > Number(form.getAttribute("data-max-bytes"))) { showError("image: the file is too large."); return; }
    submit.disabled = true;
    submit.classList.add("busy");
    fetch(form.action, { method: "POST", body: new FormData(form), headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          return response.json().then(function (data) { throw new Error(data.error.message); },
                                      function () { throw new Error("The server answered " + response.status + "."); });
        }
        showReport(JSON.parse(response.headers.get("X-Compliance")), {
          input: response.headers.get("X-Input-Url"), result: response.headers.get("X-Result-Url"),
          download: response.headers.get("X-Download-Url"), job: response.headers.get("X-Job-Id")
        });
      })
      .catch(function (error) { showError(error.message); })
      .then(function () { submit.disabled = false; submit.classList.remove("busy"); });
  });
}());

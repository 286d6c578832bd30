/* ID-photo page: drop or choose a photo (preview with numbered face boxes to click; the faces come from
   POST /id-photo/faces), send the form to its action (POST /id-photo, the page twin of /api/v1/id-photo:
   the page posts with its CSRF token, never to the API), then show before/after and the compliance report
   from the X-Compliance header. ?job=ID reopens one of this browser's ID jobs (History links here) through
   GET /id-photo/jobs/<id>. No inline script: data-* hooks only. */
(function () {
  "use strict";
  var form = document.querySelector("[data-idphoto-form]");
  if (!form) { return; }
  var result = document.querySelector("[data-idphoto-result]");
  var template = document.querySelector("[data-report-template]");
  var input = form.querySelector("[data-id-image]");
  var zone = form.querySelector("[data-id-dropzone]");
  var stage = form.querySelector("[data-id-stage]");
  var faceField = form.querySelector("[data-face]");
  var facesNote = form.querySelector("[data-faces-note]");
  var presetSelect = form.querySelector("[data-preset]");
  var backgroundSelect = form.querySelector("[data-background]");
  var errorBox = form.querySelector("[data-error-box]");
  var submit = form.querySelector("[data-submit]");
  var LABELS = { pass: "Pass", warn: "Check", fail: "Fail" };
  var previewUrl = null;

  function jobUrl(id) { return form.getAttribute("data-job-url").replace(/JOB$/, encodeURIComponent(id)); }

  function showError(message) {
    errorBox.querySelector("[data-error-text]").textContent = message;
    errorBox.classList.remove("hidden");
    result.classList.add("hidden");  // an old result must not look like the answer to this request
  }

  function clearError() { errorBox.classList.add("hidden"); }

  function clearResult() {
    result.classList.add("hidden");
    result.querySelector("[data-reports]").textContent = "";
  }

  /* ---- document and background ---- */
  function onPresetChange() {
    var option = presetSelect.options[presetSelect.selectedIndex];
    var allowed = option.getAttribute("data-backgrounds").split(",");
    var replace = option.getAttribute("data-replace") === "yes";
    form.querySelector("[data-preset-rule]").textContent =
      (replace ? "Background replaced. " : "Background kept as photographed (only cropped and scaled). ") +
      option.getAttribute("data-rule");
    form.querySelector("[data-custom-size]").classList.toggle("hidden", presetSelect.value !== "custom");
    form.querySelector("[data-background-field]").classList.toggle("hidden", !replace);
    backgroundSelect.disabled = !replace;
    Array.prototype.forEach.call(backgroundSelect.options, function (opt) {
      opt.hidden = allowed.indexOf(opt.value) < 0;
    });
    backgroundSelect.value = allowed[0];  // each document's own default colour
    onBackgroundChange();
  }

  function onBackgroundChange() {
    var option = backgroundSelect.options[backgroundSelect.selectedIndex];
    form.querySelector("[data-background-swatch]").style.background = option.getAttribute("data-colour");
  }

  /* ---- photo: preview and face boxes ---- */
  function drawFaces(data) {
    Array.prototype.forEach.call(stage.querySelectorAll(".idphoto-face"), function (b) { b.remove(); });
    faceField.value = "";
    data.faces.forEach(function (face) {
      var box = document.createElement("button");
      box.type = "button";
      box.className = "idphoto-face";
      box.textContent = face.number;
      box.setAttribute("data-face-box", face.number);
      box.setAttribute("aria-label", "Use face " + face.number);
      box.style.left = (100 * face.box[0] / data.width) + "%";
      box.style.top = (100 * face.box[1] / data.height) + "%";
      box.style.width = (100 * (face.box[2] - face.box[0]) / data.width) + "%";
      box.style.height = (100 * (face.box[3] - face.box[1]) / data.height) + "%";
      box.addEventListener("click", function (event) {
        event.stopPropagation();
        chooseFace(face.number);
      });
      stage.appendChild(box);
    });
    var count = data.faces.length;
    facesNote.textContent = count === 0 ? "No face found in this photo." : count === 1 ? "One face found." :
      count + " faces found: click the one to use, or tick \u201cOne photo per person\u201d.";
    if (count === 1) { chooseFace(1); }
  }

  function chooseFace(number) {
    faceField.value = String(number);
    Array.prototype.forEach.call(stage.querySelectorAll(".idphoto-face"), function (b) {
      b.classList.toggle("selected", b.getAttribute("data-face-box") === String(number));
    });
  }

  function findFaces(file) {
    var data = new FormData();
    data.append("image", file);
    data.append("csrf_token", form.querySelector("[name=csrf_token]").value);
    facesNote.textContent = "Looking for faces…";
    fetch(form.getAttribute("data-faces-url"), { method: "POST", body: data, headers: { Accept: "application/json" } })
      .then(function (response) { return response.json(); })
      .then(function (body) {
        if (body.faces) { drawFaces(body); } else { facesNote.textContent = ""; showError(body.error.message); }
      })
      .catch(function () { facesNote.textContent = ""; });
  }

  function usePhoto() {
    var file = input.files && input.files[0];
    if (previewUrl) { URL.revokeObjectURL(previewUrl); previewUrl = null; }
    clearError();
    clearResult();
    faceField.value = "";
    setCrop(null);
    form.querySelector("[data-id-preview]").classList.toggle("hidden", !file);
    form.querySelector("[data-id-empty]").classList.toggle("hidden", !!file);
    if (!file) { return; }
    previewUrl = URL.createObjectURL(file);
    stage.querySelector("[data-id-preview-img]").src = previewUrl;
    findFaces(file);
  }

  input.addEventListener("change", usePhoto);
  ["dragenter", "dragover"].forEach(function (name) {
    zone.addEventListener(name, function (event) { event.preventDefault(); zone.classList.add("dragover"); });
  });
  ["dragleave", "dragend", "drop"].forEach(function (name) {
    zone.addEventListener(name, function () { zone.classList.remove("dragover"); });
  });
  zone.addEventListener("drop", function (event) {
    event.preventDefault();
    if (event.dataTransfer && event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      usePhoto();
    }
  });

  /* ---- the report ---- */
  function formatRange(allowed, unit) {
    if (allowed === null || allowed === undefined) { return ""; }
    if (!Array.isArray(allowed)) { return String(allowed); }
    if (allowed.length === 2 && typeof allowed[0] === "number") {
      var high = allowed[1] === null ? "…" : allowed[1];
      return allowed[0] + "–" + high + (unit ? " " + unit : "");
    }
    return allowed.join(", ");
  }

  function cell(row, label, text, className) {
    var td = document.createElement("td");
    td.textContent = text;
    td.setAttribute("data-label", label);
    if (className) { td.className = className; }
    row.appendChild(td);
  }

  function personReport(report, title) {
    var section = template.content.firstElementChild.cloneNode(true);
    var body = section.querySelector("[data-report-rows]");
    report.rules.forEach(function (rule) {
      var row = document.createElement("tr");
      row.setAttribute("data-rule", rule.id);
      cell(row, "Rule", rule.label);
      cell(row, "Measured", rule.value === null ? "–" : rule.value + (rule.unit ? " " + rule.unit : ""));
      cell(row, "Allowed", formatRange(rule.allowed, rule.unit));
      cell(row, "Result", LABELS[rule.status] || rule.status, "status-" + rule.status);
      cell(row, "Hint", rule.hint);
      body.appendChild(row);
    });
    var overall = section.querySelector("[data-overall]");
    overall.textContent = title + report.preset_name + ", " + report.size_px[0] + "×" + report.size_px[1] +
      " px at " + report.dpi + " DPI: " + (LABELS[report.overall] || report.overall);
    overall.className = "idphoto-overall status-" + report.overall;
    overall.setAttribute("data-status", report.overall);
    return section;
  }

  function showReport(report, urls) {
    var list = result.querySelector("[data-reports]");
    var people = report.reports || [report];
    list.textContent = "";
    people.forEach(function (person) {
      list.appendChild(personReport(person, people.length > 1 ? "Face " + person.face.number + ": " : ""));
    });
    if (report.sheet) {
      var note = document.createElement("p");
      note.className = "muted";
      note.textContent = report.sheet.copies + " copies on the 4x6 in sheet, " + report.sheet.gap_mm + " mm apart, with crop marks.";
      list.appendChild(note);
    }
    var isZip = /\.zip$/.test(urls.result);
    result.querySelector("[data-before]").src = urls.input;
    result.querySelector("[data-after-figure]").classList.toggle("hidden", isZip);
    if (!isZip) { result.querySelector("[data-after]").src = urls.result; }
    result.querySelector("[data-download]").href = urls.download;
    result.querySelector("[data-download]").textContent = isZip ? "Download all (zip)" : "Download JPEG";
    result.querySelector("[data-job-json]").href = jobUrl(urls.job);
    result.classList.remove("hidden");
    showAdjust(report, urls.result);
  }

  /* ---- adjustable crop: a preview moved and scaled in the browser, applied by the server ---- */
  var adjust = result.querySelector("[data-adjust]");
  var adjustFrame = adjust.querySelector("[data-adjust-frame]");
  var adjustImg = adjust.querySelector("[data-adjust-img]");
  var headSlider = adjust.querySelector("[data-adjust-head]");
  var crop = null;  // {head, offset, top, sizeMm, dx, dy} of the result on screen, mm; dx, dy: drag in px

  function setCrop(values) {
    ["head_mm", "offset_mm", "top_mm"].forEach(function (name) {
      form.querySelector("[data-crop='" + name + "']").value = values ? String(values[name]) : "";
    });
  }

  function drawPreview() {
    var scale = Number(headSlider.value) / crop.head;
    var originY = 100 * (crop.top + crop.head / 2) / crop.sizeMm[1];
    adjustImg.style.transformOrigin = (50 + 100 * crop.offset / crop.sizeMm[0]) + "% " + originY + "%";
    adjustImg.style.transform = "translate(" + crop.dx + "px, " + crop.dy + "px) scale(" + scale + ")";
    adjust.querySelector("[data-adjust-value]").textContent = Number(headSlider.value).toFixed(1) + " mm (" +
      headSlider.min + "–" + headSlider.max + " mm)";
  }

  function showAdjust(report, url) {
    var rules = {};
    report.rules.forEach(function (rule) { rules[rule.id] = rule; });
    var usable = !report.reports && !report.sheet && input.files.length && rules.top_margin &&
      rules.top_margin.value !== null;
    adjust.classList.toggle("hidden", !usable);
    if (!usable) { crop = null; return; }
    crop = { head: rules.head_height.value, offset: rules.centring.value, top: rules.top_margin.value,
             sizeMm: report.size_mm, dx: 0, dy: 0 };
    headSlider.min = rules.head_height.allowed[0];
    headSlider.max = rules.head_height.allowed[1];
    headSlider.value = crop.head;
    adjustFrame.style.aspectRatio = report.size_mm[0] + " / " + report.size_mm[1];
    adjustFrame.style.background = report.background || "#fff";
    adjustImg.src = url;
    drawPreview();
  }

  function applyCrop() {
    var mmPerPx = crop.sizeMm[0] / adjustFrame.clientWidth;
    var head = Number(headSlider.value);
    setCrop({ head_mm: head.toFixed(2), offset_mm: (crop.offset + crop.dx * mmPerPx).toFixed(2),
              top_mm: (crop.top + (crop.head - head) / 2 + crop.dy * mmPerPx).toFixed(2) });
    form.requestSubmit();
  }

  adjustFrame.addEventListener("pointerdown", function (event) {
    var start = { x: event.clientX - crop.dx, y: event.clientY - crop.dy };
    adjustFrame.setPointerCapture(event.pointerId);
    function move(e) { crop.dx = e.clientX - start.x; crop.dy = e.clientY - start.y; drawPreview(); }
    function up() {
      adjustFrame.removeEventListener("pointermove", move);
      adjustFrame.removeEventListener("pointerup", up);
    }
    adjustFrame.addEventListener("pointermove", move);
    adjustFrame.addEventListener("pointerup", up);
  });
  headSlider.addEventListener("input", drawPreview);
  adjust.querySelector("[data-adjust-apply]").addEventListener("click", applyCrop);
  adjust.querySelector("[data-adjust-auto]").addEventListener("click", function () {
    setCrop(null);
    form.requestSubmit();
  });

  /* ---- reopening a stored job (?job=ID, from History) ---- */
  function reopen(jobId) {
    fetch(jobUrl(jobId), { headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.ok) { return response.json(); }
        return response.json().then(function (data) { throw new Error(data.error.message); },
                                    function () { throw new Error("This ID photo job no longer exists."); });
      })
      .then(function (job) {
        if (!job.idphoto) { throw new Error("This job is not an ID photo."); }
        presetSelect.value = job.settings.preset;
        onPresetChange();
        var name = job.idphoto.file;
        showReport(job.idphoto.report, { input: job.links["input.jpg"], result: job.links[name],
                                         download: job.links[name] + "?download=1", job: job.id });
      })
      .catch(function (error) { showError(error.message); });
  }

  presetSelect.addEventListener("change", function () { setCrop(null); onPresetChange(); });
  backgroundSelect.addEventListener("change", onBackgroundChange);
  onPresetChange();
  var jobId = new URLSearchParams(window.location.search).get("job");
  if (jobId) { reopen(jobId); }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    clearError();
    clearResult();
    var file = input.files[0];
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

/* Backdrop's page behaviour. Every feature attaches to data-* hooks in the templates, so a page only
 * gets what its markup asks for, and there is no inline script anywhere (the pages can run under a
 * strict Content-Security-Policy). Forms all work without this file; it adds drag and drop (anywhere on
 * the page), paste, the preview, several photos at once (the batch list), the colour picker sync, inline
 * errors without a page reload, and the before/after slider. */
(function ($) {
  "use strict";

  var HEX = /^#[0-9a-fA-F]{6}$/;

  function formatBytes(n) {
    if (n < 1024) { return n + " B"; }
    if (n < 1024 * 1024) { return (n / 1024).toFixed(0) + " kB"; }
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }

  /* ---- errors next to the form ---- */
  function showError($form, message, field) {
    var $box = $form.find("[data-error-box]");
    $form.find(".invalid").removeClass("invalid");
    $box.find("[data-error-text]").text(message);
    $box.attr("data-field", field || "").removeClass("hidden");
    if (field === "image") {
      $form.find("[data-dropzone]").addClass("invalid");
    } else if (field) {
      $form.find("[name='" + field + "']").closest(".field").addClass("invalid");
    }
    focusError($box);
  }

  // Screen readers and keyboards land on the message, and it scrolls into view wherever it is.
  function focusError($box) {
    $box.closest("details").prop("open", true);
    $box[0].focus();
  }

  function clearError($form) {
    $form.find("[data-error-box]").addClass("hidden").find("[data-error-text]").text("");
    $form.find(".invalid").removeClass("invalid");
  }

  function setBusy($form, busy) {
    var $button = $form.find("[data-submit]");
    var $label = $button.find("[data-submit-label]");
    if (!$label.data("idle")) { $label.data("idle", $label.text()); }
    $button.prop("disabled", busy).toggleClass("busy", busy);
    $label.text(busy ? "Working…" : $label.data("idle"));
  }

  /* ---- upload forms: drop zone, preview, AJAX submit ---- */
  function initUploadForm(form) {
    var $form = $(form);
    var $zone = $form.find("[data-dropzone]");
    var input = $form.find("[data-image-input]")[0];
    var $preview = $form.find("[data-preview]");
    var previewUrl = null;

    function showPreview() {
      var files = input.files || [];
      var file = files[0];
      if (previewUrl) { URL.revokeObjectURL(previewUrl); previewUrl = null; }
      clearError($form);
      if (!file) {
        $preview.addClass("hidden");
        $form.find("[data-drop-empty]").removeClass("hidden");
        return;
      }
      previewUrl = URL.createObjectURL(file);
      // Files the browser cannot draw (not images, TIFF, HEIC) get a note instead of a broken image.
      $preview.find("[data-preview-img]").removeClass("hidden").attr("src", previewUrl);
      $preview.find("[data-preview-none]").addClass("hidden");
      $preview.find("[data-preview-name]").text(files.length > 1 ? files.length + " photos: " +
        $.map(files, function (f) { return f.name; }).join(", ") : file.name);
      $preview.find("[data-preview-size]").text(formatBytes($.map(files, function (f) { return f.size; })
        .reduce(function (a, b) { return a + b; }, 0)));
      $preview.removeClass("hidden");
      $form.find("[data-drop-empty]").addClass("hidden");
    }

    // Files dropped anywhere on the page or pasted: into the input (only the first unless it takes several).
    function takeFiles(files) {
      var transfer = new DataTransfer();
      $.each(input.multiple ? files : [files[0]], function (_, file) { transfer.items.add(file); });
      input.files = transfer.files;
      showPreview();
    }

    $(input).on("change", showPreview);
    $preview.find("[data-preview-img]").on("error", function () {
      $(this).addClass("hidden");
      $preview.find("[data-preview-none]").removeClass("hidden");
    });
    $preview.on("click", function () { input.click(); });
    $(document).on("dragover", function (event) {
      if (carriesFiles(event)) { $zone.addClass("dragover"); }
    }).on("dragleave", function (event) {
      if (!event.originalEvent.relatedTarget) { $zone.removeClass("dragover"); }  // left the window
    }).on("drop dragend", function () {
      $zone.removeClass("dragover");
    }).on("drop", function (event) {
      var files = event.originalEvent.dataTransfer && event.originalEvent.dataTransfer.files;
      if (files && files.length) { takeFiles(files); }
    }).on("paste", function (event) {
      var files = event.originalEvent.clipboardData && event.originalEvent.clipboardData.files;
      if (files && files.length) {
        event.preventDefault();
        takeFiles(files);
      }
    });

    $form.on("reset", function () {
      // Let the browser reset the inputs first, then bring the custom widgets in line with them.
      window.setTimeout(function () {
        showPreview();
        $form.find("[data-background-picker]").each(function () { syncColour($(this), null); });
      }, 0);
    });

    $form.on("submit", function (event) {
      var file = input.files && input.files[0];
      var limit = Number($form.data("max-bytes"));
      event.preventDefault();
      if (!file) {
        showError($form, "No file was uploaded; choose a photo first.", "image");
        return;
      }
      if (input.files.length > 1) {
        clearError($form);
        runBatch($form, $.makeArray(input.files));
        return;
      }
      if (limit && file.size > limit) {
        showError($form, "The file is " + formatBytes(file.size) + "; the limit is " + formatBytes(limit) + ".", "image");
        return;
      }
      clearError($form);
      setBusy($form, true);
      $.ajax({
        url: $form.attr("action"),
        method: "POST",
        data: new FormData(form),
        processData: false,
        contentType: false,
        dataType: "json",
        headers: { Accept: "application/json" }
      }).done(function (data) {
        window.location.assign(data.url);
      }).fail(function (xhr) {
        var error = xhr.responseJSON && xhr.responseJSON.error;
        setBusy($form, false);
        if (error) {
          showError($form, error.message, error.field);
        } else if (xhr.status === 413) {
          showError($form, "The upload is too large.", "image");
        } else {
          showError($form, "The upload failed (" + (xhr.status || "no connection") + "). Please try again.", null);
        }
      });
    });
  }

  function carriesFiles(event) {
    var transfer = event.originalEvent.dataTransfer;
    return Boolean(transfer) && $.inArray("Files", transfer.types) >= 0;
  }

  // Wherever a file is dropped, the browser must not open it in place of the page (and lose the form).
  function initDropGuard() {
    $(document).on("dragover drop", function (event) {
      if (carriesFiles(event)) { event.preventDefault(); }
    });
  }

  /* ---- several photos at once: one row each, sent one after another with the form's settings ---- */
  function runBatch($form, files) {
    var $batch = $("[data-batch]").removeClass("hidden");
    var $list = $batch.find("[data-batch-list]").empty();
    var $zip = $batch.find("[data-batch-zip]").addClass("hidden");
    var queue = [];
    var done = [];
    var busy = false;

    function updateZip() {
      $zip.toggleClass("hidden", done.length === 0).attr("href", $batch.data("zip-url") + "?" +
        $.map(done, function (id) { return "job=" + id; }).join("&"));
      $zip.text("Download all " + done.length + " (zip)");
    }

    function setState(item, state, text) {
      item.$row.attr("data-state", state);
      item.$row.find("[data-batch-status]").text(text);
      item.$row.find("[data-batch-retry]").toggleClass("hidden", state !== "failed");
    }

    // The Upload button stays busy while any photo of the batch is on its way (a second click would
    // start a second batch over this one).
    function next() {
      if (busy || !queue.length) { return; }
      busy = true;
      setBusy($form, true);
      send(queue.shift());
    }

    function finish() {
      busy = false;
      if (!queue.length) { setBusy($form, false); }
      next();
    }

    function send(item) {
      var data = new FormData($form[0]);
      var $bar = item.$row.find("progress").removeClass("hidden").attr("value", 0);
      data.set("image", item.file, item.file.name);  // one file per request, the form's other fields as set
      setState(item, "uploading", "Uploading…");
      $.ajax({
        url: $form.attr("action"), method: "POST", data: data, processData: false, contentType: false,
        dataType: "json", headers: { Accept: "application/json" },
        xhr: function () {
          var xhr = $.ajaxSettings.xhr();
          xhr.upload.addEventListener("progress", function (event) {
            if (!event.lengthComputable) { return; }
            $bar.attr("value", Math.round(100 * event.loaded / event.total));
            if (event.loaded === event.total) { setState(item, "working", "Removing the background…"); }
          });
          return xhr;
        }
      }).done(function (result) {
        done.push(result.id);
        $bar.addClass("hidden");
        setState(item, "done", "Done");
        item.$row.find("[data-batch-link]").attr("href", result.url);
        item.$row.find("[data-batch-thumb]").attr("src", result.thumb).removeClass("hidden");
        updateZip();
        finish();
      }).fail(function (xhr) {
        var error = xhr.responseJSON && xhr.responseJSON.error;
        var wait = Number(xhr.getResponseHeader("Retry-After"));
        $bar.addClass("hidden");
        if (xhr.status === 429 && wait) {  // the server's rate limit: wait as it says, then go on
          setState(item, "waiting", "Waiting " + wait + " s for the server…");
          queue.unshift(item);
          window.setTimeout(finish, wait * 1000);
          return;
        }
        setState(item, "failed", error ? error.message : "The upload failed (" + (xhr.status || "no connection") + ").");
        finish();
      });
    }

    $.each(files, function (_, file) {
      var item = { file: file, $row: $("<li class='batch-item' data-batch-item>").html(
        "<a data-batch-link><img alt='' class='checkerboard hidden' data-batch-thumb></a>" +
        "<div class='batch-body'><strong data-batch-name></strong><span data-batch-status></span>" +
        "<progress max='100' value='0' class='hidden'></progress></div>" +
        "<button type='button' class='button hidden' data-batch-retry>Retry</button>") };
      item.$row.find("[data-batch-name]").text(file.name);
      item.$row.find("[data-batch-retry]").on("click", function () {
        setState(item, "queued", "Waiting…");
        queue.push(item);
        next();
      });
      setState(item, "queued", "Waiting…");
      $list.append(item.$row);
      queue.push(item);
    });
    updateZip();
    next();
  }

  /* ---- background picker: colour input, hex field and preset swatches stay in step ---- */
  function syncColour($picker, value) {
    var $hex = $picker.find("[data-colour-hex]");
    var colour = (value || $hex.val() || "").toLowerCase();
    if (!HEX.test(colour)) { return; }
    $hex.val(colour);
    $picker.find("[data-colour-picker]").val(colour);
    $picker.find(".swatch").each(function () {
      $(this).toggleClass("selected", String($(this).data("colour")).toLowerCase() === colour);
    });
  }

  function initBackgroundPicker(element) {
    var $picker = $(element);
    function chooseColour(value) {
      $picker.find("input[name=background][value=color]").prop("checked", true);
      syncColour($picker, value);
    }
    $picker.find("[data-colour-picker]").on("input change", function () { chooseColour(this.value); });
    $picker.find("[data-colour-hex]").on("input", function () {
      var value = this.value.trim();
      if (value && value.charAt(0) !== "#") { value = "#" + value; }
      if (HEX.test(value)) { chooseColour(value); }
    });
    $picker.find(".swatch").on("click", function () { chooseColour(String($(this).data("colour"))); });
    $picker.find("[data-bg-file]").on("change", function () {
      if (this.files && this.files.length) {
        $picker.find("input[name=background][value=image]").prop("checked", true);
      }
    });
    syncColour($picker, null);
  }

  /* ---- before/after slider ---- */
  function initBeforeAfter(element) {
    var $box = $(element);
    var $after = $box.find("[data-ba-after]");
    var $handle = $box.find("[data-ba-handle]");
    $box.find("[data-ba-range]").on("input change", function () {
      var position = Number(this.value);
      $after.css("clip-path", "inset(0 0 0 " + position + "%)");
      $handle.css("left", position + "%");
    });
  }

  /* ---- small things ---- */
  function initConfirm(form) {
    $(form).on("submit", function (event) {
      if (!window.confirm($(form).data("confirm"))) { event.preventDefault(); }
    });
  }

  function initBusyOnSubmit(form) {
    $(form).on("submit", function () {
      $(form).find("button[type=submit]").prop("disabled", true).addClass("busy");
    });
  }

  function initLocalTime(element) {
    var date = new Date($(element).attr("datetime"));
    if (!isNaN(date.getTime())) {
      $(element).text(date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }));
    }
  }

  $(function () {
    initDropGuard();
    $("[data-upload-form]").each(function () { initUploadForm(this); });
    $("[data-background-picker]").each(function () { initBackgroundPicker(this); });
    $("[data-before-after]").each(function () { initBeforeAfter(this); });
    $("form[data-confirm]").each(function () { initConfirm(this); });
    $("form[method=post]").not("[data-upload-form], [data-confirm]").each(function () { initBusyOnSubmit(this); });
    $("time[data-local-time]").each(function () { initLocalTime(this); });
    // An error the server put in the page (a form sent without this script's help) gets focus too.
    $("[data-error-box]").not(".hidden").first().each(function () { focusError($(this)); });
  });
}(jQuery));

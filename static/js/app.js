/* Backdrop's page behaviour. Every feature attaches to data-* hooks in the templates, so a page only
 * gets what its markup asks for, and there is no inline script anywhere (the pages can run under a
 * strict Content-Security-Policy). Forms all work without this file; it adds drag and drop, the
 * preview, the colour picker sync, inline errors without a page reload, and the before/after slider. */
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
      var file = input.files && input.files[0];
      if (previewUrl) { URL.revokeObjectURL(previewUrl); previewUrl = null; }
      clearError($form);
      if (!file) {
        $preview.addClass("hidden");
        $form.find("[data-drop-empty]").removeClass("hidden");
        return;
      }
      previewUrl = URL.createObjectURL(file);
      // Files the browser cannot draw (not images, TIFF) get a note instead of a broken image.
      $preview.find("[data-preview-img]").removeClass("hidden").attr("src", previewUrl);
      $preview.find("[data-preview-none]").addClass("hidden");
      $preview.find("[data-preview-name]").text(file.name);
      $preview.find("[data-preview-size]").text(formatBytes(file.size));
      $preview.removeClass("hidden");
      $form.find("[data-drop-empty]").addClass("hidden");
    }

    $(input).on("change", showPreview);
    $preview.find("[data-preview-img]").on("error", function () {
      $(this).addClass("hidden");
      $preview.find("[data-preview-none]").removeClass("hidden");
    });
    $preview.on("click", function () { input.click(); });
    $zone.on("dragenter dragover", function (event) {
      event.preventDefault();
      $zone.addClass("dragover");
    }).on("dragleave dragend drop", function () {
      $zone.removeClass("dragover");
    }).on("drop", function (event) {
      event.preventDefault();
      var files = event.originalEvent.dataTransfer && event.originalEvent.dataTransfer.files;
      if (files && files.length) {
        input.files = files;
        showPreview();
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

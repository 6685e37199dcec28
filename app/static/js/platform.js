/* Platform behaviour: SMS-code buttons with a countdown, and the province/city/district cascade. */
(function () {
  "use strict";

  function csrfToken(element) {
    var form = element.closest("form");
    var input = (form && form.querySelector("[name=csrf_token]")) || document.querySelector("[name=csrf_token]");
    return input ? input.value : "";
  }

  document.querySelectorAll("[data-sms-url]").forEach(function (button) {
    var label = button.textContent;
    var message = document.getElementById(button.dataset.messageTarget);
    var timer = null;

    function countdown(seconds) {
      button.disabled = true;
      button.textContent = button.dataset.waitLabel.replace("%s", seconds);
      timer = setInterval(function () {
        seconds -= 1;
        if (seconds <= 0) {
          clearInterval(timer);
          button.disabled = false;
          button.textContent = label;
          return;
        }
        button.textContent = button.dataset.waitLabel.replace("%s", seconds);
      }, 1000);
    }

    function show(text, ok) {
      if (!message) { return; }
      message.textContent = text;
      message.className = "help-block " + (ok ? "text-success" : "text-danger");
    }

    var captchaBox = document.getElementById("sms-captcha");
    var captchaInput = document.getElementById("sms-captcha-input");
    var captchaImage = captchaBox && captchaBox.querySelector(".sms-captcha-image");

    function newCaptcha() {
      captchaImage.src = captchaBox.dataset.imageUrl + "?t=" + Date.now();
      captchaInput.value = "";
    }

    if (captchaImage) { captchaImage.addEventListener("click", newCaptcha); }

    button.addEventListener("click", function () {
      var phone = document.getElementById(button.dataset.phoneInput).value;
      var fields = { phone: phone, csrf_token: csrfToken(button) };
      if (captchaBox && !captchaBox.classList.contains("hidden")) { fields.captcha = captchaInput.value; }
      button.disabled = true;
      fetch(button.dataset.smsUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(fields)
      }).then(function (response) {
        return response.json();
      }).then(function (result) {
        show(result.message, result.ok);
        if (captchaBox && result.captcha) {
          captchaBox.classList.remove("hidden");
          newCaptcha();
          captchaInput.focus();
        } else if (captchaBox && result.ok) {
          captchaBox.classList.add("hidden");
        }
        if (result.wait > 0) { countdown(result.wait); } else { button.disabled = false; }
      }).catch(function () {
        show(button.dataset.errorLabel, false);
        button.disabled = false;
      });
    });
  });

  document.querySelectorAll(".region-cascade").forEach(function (box) {
    var province = box.querySelector("[data-region=province]");
    var city = box.querySelector("[data-region=city]");
    var district = box.querySelector("[data-region=district]");
    var data = [];

    function fill(select, items, selected) {
      var placeholder = select.options[0];
      select.innerHTML = "";
      select.appendChild(placeholder);
      items.forEach(function (item) {
        var option = document.createElement("option");
        option.value = item.code;
        option.textContent = item.name;
        if (item.code === selected) { option.selected = true; }
        select.appendChild(option);
      });
    }

    function find(items, code) {
      return items.filter(function (item) { return item.code === code; })[0];
    }

    function onProvince(selectedCity, selectedDistrict) {
      var p = find(data, province.value);
      fill(city, p ? p.cities : [], selectedCity);
      onCity(selectedDistrict);
    }

    function onCity(selectedDistrict) {
      var p = find(data, province.value);
      var c = p && find(p.cities, city.value);
      fill(district, c ? c.districts : [], selectedDistrict);
    }

    province.addEventListener("change", function () { onProvince("", ""); });
    city.addEventListener("change", function () { onCity(""); });

    fetch(box.dataset.regionsUrl, { credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (tree) {
        data = tree;
        fill(province, data, province.dataset.selected);
        onProvince(city.dataset.selected, district.dataset.selected);
        box.dataset.loaded = "true";
      });
  });
})();

/* 入会须知: the checkbox unlocks after the configured seconds; until then the page cannot be left
   with the browser's back button and the apply button stays disabled (the server checks too). */
(function () {
  "use strict";
  var form = document.getElementById("notice-form");
  if (!form) { return; }
  var seconds = parseInt(form.dataset.seconds, 10) || 15;
  var checkbox = document.getElementById("notice-read");
  var button = document.getElementById("notice-apply");
  var countdown = document.getElementById("notice-countdown");
  var locked = true;

  history.pushState({ notice: true }, "", location.href);
  window.addEventListener("popstate", function () {
    if (locked) { history.pushState({ notice: true }, "", location.href); }
  });
  function onLeave(event) {
    if (locked) { event.preventDefault(); event.returnValue = ""; }
  }
  window.addEventListener("beforeunload", onLeave);

  function tick() {
    if (seconds <= 0) {
      locked = false;
      window.removeEventListener("beforeunload", onLeave);
      checkbox.disabled = false;
      countdown.textContent = "";
      return;
    }
    countdown.textContent = countdown.dataset.template.replace("%s", seconds);
    seconds -= 1;
    setTimeout(tick, 1000);
  }
  checkbox.addEventListener("change", function () { button.disabled = !checkbox.checked; });
  tick();
})();

/* Review queue and staff picker: select all rows of the table. Delivery form: mail fields only for 邮寄. */
(function () {
  "use strict";
  var all = document.getElementById("select-all");
  if (all) {
    all.addEventListener("change", function () {
      var scope = all.closest("table") || document;
      scope.querySelectorAll("tbody input[type=checkbox]").forEach(function (box) { box.checked = all.checked; });
    });
  }
  var mailFields = document.querySelector(".mail-fields");
  if (mailFields) {
    var update = function () {
      var chosen = document.querySelector("input[name=delivery_method]:checked");
      mailFields.style.display = chosen && chosen.value === "mail" ? "" : "none";
    };
    document.querySelectorAll("input[name=delivery_method]").forEach(function (radio) { radio.addEventListener("change", update); });
    update();
  }
})();

/* File pickers with our own words: show the chosen file's name (or the "no file" text again). */
(function () {
  "use strict";
  document.querySelectorAll(".file-picker-input").forEach(function (input) {
    var name = input.parentElement.querySelector(".file-picker-name");
    input.addEventListener("change", function () {
      var names = Array.prototype.map.call(input.files, function (file) { return file.name; });
      name.textContent = names.length ? names.join("、") : name.dataset.empty;
      input.parentElement.classList.toggle("chosen", names.length > 0);
    });
  });
})();

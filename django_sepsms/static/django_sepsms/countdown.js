/* The phone pages of django-sepsms: count each wait down, then unlock what waited.
 *
 * Markup (sepsms/verify.html, sepsms/login.html, built by django_sepsms/otp/waits.py):
 *   <span data-sepsms-seconds="2922" data-sepsms-s="{n} s|{n} s"
 *         data-sepsms-min="{n} min|{n} min">49 min</span>
 *   a wait, in seconds, ticked down to 0 and shown as the server shows it: minutes
 *   (rounded up) from 90 s on, else seconds, in the words of data-sepsms-s and
 *   data-sepsms-min (singular|plural, translated by the server);
 *   an ancestor with data-sepsms-done="Send a new code" gets that text when the count
 *   is over and, if it is a disabled button, is enabled again.
 * The pages work without this file: the server enforces every wait and the
 * count is right whenever the page is loaded.
 */
(function () {
  "use strict";

  function finish(holder) {
    if (!holder) {
      return;
    }
    holder.textContent = holder.getAttribute("data-sepsms-done");
    if (holder.tagName === "BUTTON") {
      holder.disabled = false;
    }
    var box = holder.closest(".sepsms-error, .sepsms-notice");
    if (box) {
      box.classList.add("sepsms-over");
    }
  }

  var MINUTES_FROM = 90;

  function words(counter, unit, count) {
    var forms = (counter.getAttribute("data-sepsms-" + unit) || "").split("|");
    var form = (count === 1 ? forms[0] : forms[1]) || forms[0];
    return form ? form.replace("{n}", String(count)) : String(count);
  }

  function show(counter, seconds) {
    if (seconds >= MINUTES_FROM) {
      return words(counter, "min", Math.ceil(seconds / 60));
    }
    return words(counter, "s", seconds);
  }

  function start(counter) {
    var seconds = parseInt(counter.getAttribute("data-sepsms-seconds"), 10);
    var holder = counter.closest("[data-sepsms-done]");
    if (!(seconds > 0)) {
      finish(holder);
      return;
    }
    var deadline = Date.now() + seconds * 1000;

    function tick() {
      var left = deadline - Date.now();
      if (left <= 0) {
        finish(holder);
        return;
      }
      counter.textContent = show(counter, Math.ceil(left / 1000));
      // Wake when the shown number changes next.
      window.setTimeout(tick, (left % 1000) || 1000);
    }

    tick();
  }

  function startAll() {
    var counters = document.querySelectorAll("[data-sepsms-seconds]");
    Array.prototype.forEach.call(counters, start);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", startAll);
  } else {
    startAll();
  }
})();

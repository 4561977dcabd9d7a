/* The phone pages of django-sepsms: count each wait down, then unlock what waited.
 *
 * Markup (sepsms/verify.html, sepsms/login.html):
 *   <span data-sepsms-seconds="57">57</span>  a count, in seconds, ticked down to 0;
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
    var box = holder.closest(".sepsms-error");
    if (box) {
      box.classList.add("sepsms-over");
    }
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
      counter.textContent = String(Math.ceil(left / 1000));
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

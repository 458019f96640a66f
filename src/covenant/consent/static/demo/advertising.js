/* The demo's stand-in for an advertising tag: it only shows that it ran.
   Tagged on the demo page as <script type="text/plain" data-category="advertising">. */
(() => {
  "use strict";
  window.__advertisingRan = true;
  const mark = () => {
    const item = document.createElement("li");
    item.id = "advertising-ran";
    item.textContent = "The advertising script ran.";
    document.getElementById("demo-log").append(item);
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mark);
  else mark();
})();

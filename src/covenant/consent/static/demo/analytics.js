/* The demo's stand-in for an analytics tag: it only shows that it ran.
   Tagged on the demo page as <script type="text/plain" data-category="analytics">. */
(() => {
  "use strict";
  window.__analyticsRan = true;
  const mark = () => {
    const item = document.createElement("li");
    item.id = "analytics-ran";
    item.textContent = "The analytics script ran.";
    document.getElementById("demo-log").append(item);
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", mark);
  else mark();
})();

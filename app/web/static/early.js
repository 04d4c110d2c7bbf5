// Runs before the modules load (a classic script): the theme before the first paint, and the first
// request of the Jobs page (the page "/" opens once onboarding is done), so that its answer is on
// its way while the modules load; api.js takes the started request over instead of sending another.
(function () {
  var theme = localStorage.getItem("sauti.theme");
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
  var route = location.hash.replace(/^#/, "");
  if (route === "" || route === "/" || route === "/jobs") {
    var path = "/v1/jobs?limit=50";
    window.sautiEarly = {};
    var started = fetch(path, { headers: { Accept: "application/json" } });
    started.catch(function () {}); // untaken (a first run opens Welcome): no unhandled rejection
    window.sautiEarly[path] = started;
  }
})();

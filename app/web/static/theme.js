// Applied before the first paint: the chosen theme ("light", "dark"), or the system's when unset.
(function () {
  var theme = localStorage.getItem("sauti.theme");
  if (theme === "light" || theme === "dark") document.documentElement.dataset.theme = theme;
})();

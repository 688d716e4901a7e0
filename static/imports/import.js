/* The contact import page: the progress bar fills while the worker imports; the
   page reloads to show the outcome once the import has finished. */
(function () {
  "use strict";
  const root = document.getElementById("contact-import");
  if (!root) return;
  const gettext = window.gettext || ((s) => s);
  const interp = (s, o) => (window.interpolate ? window.interpolate(s, o, true) : s);
  const fmt = (n) => new Intl.NumberFormat(document.documentElement.lang || undefined).format(n);
  const FINAL = ["done", "refused", "failed"];

  function draw(job) {
    const bar = document.getElementById("import-progress");
    bar.setAttribute("aria-valuenow", String(job.progress));
    bar.querySelector(".progress-bar").style.width = `${job.progress}%`;
    const text = job.status === "checking"
      ? gettext("Checking rows: %(done)s of %(total)s")
      : gettext("Importing rows: %(done)s of %(total)s");
    document.getElementById("import-progress-text").textContent = FINAL.includes(job.status)
      ? interp(gettext("%(n)s%"), { n: fmt(job.progress) })
      : interp(text, { done: fmt(job.rows_done), total: fmt(job.rows_total) });
    const status = document.getElementById("import-status");
    status.textContent = job.status_label;
    status.dataset.status = job.status;
  }

  async function poll() {
    let job = null;
    try {
      const response = await fetch(root.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      job = response.ok ? await response.json() : null;
    } catch (e) {
      job = null;
    }
    if (job) {
      draw(job);
      if (FINAL.includes(job.status)) {
        window.location.reload();
        return;
      }
    }
    window.setTimeout(poll, 1000);
  }

  const bar = document.getElementById("import-progress");
  bar.querySelector(".progress-bar").style.width = `${bar.getAttribute("aria-valuenow")}%`;
  if (!root.dataset.final) poll();
})();

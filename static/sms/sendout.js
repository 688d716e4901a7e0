/* The sendout page: progress bar, counts, outcome chart, recipients table. */
(function () {
  "use strict";
  const root = document.getElementById("sendout");
  if (!root) return;
  const labels = JSON.parse(document.getElementById("sendout-labels").textContent);
  // Named gettext/ngettext so that `makemessages -d djangojs` finds the strings.
  const gettext = window.gettext || ((s) => s);
  const ngettext = window.ngettext || ((s, p, n) => (n === 1 ? s : p));
  const interp = (s, o) => (window.interpolate ? window.interpolate(s, o, true) : s);
  const fmt = (n) => new Intl.NumberFormat(document.documentElement.lang || undefined).format(n);
  const ORDER = ["delivered", "sent", "unknown", "undelivered", "failed", "cancelled", "skipped", "sending", "pending"];
  const FINAL = ["completed", "cancelled"];
  // Messages that reached the provider (sms.statuses.MESSAGE_LEFT_STATUSES).
  const LEFT = ["sent", "delivered", "undelivered", "unknown"];
  let page = 1;

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function getJson(url, options) {
    const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json", "X-CSRFToken": csrfToken() }, ...(options || {}) });
    return response.ok ? response.json() : null;
  }

  function draw(sendout) {
    const counts = sendout.counts;
    const bar = document.getElementById("sendout-progress");
    bar.setAttribute("aria-valuenow", String(sendout.progress));
    bar.querySelector(".progress-bar").style.width = `${sendout.progress}%`;
    bar.classList.toggle("stopped", sendout.status === "cancelled");
    const left = LEFT.reduce((sum, s) => sum + counts[s], 0);
    document.getElementById("sendout-progress-text").textContent = sendout.status === "cancelled"
      ? interp(gettext("Cancelled · %(left)s of %(total)s recipients were texted before the cancellation"), {
        left: fmt(left), total: fmt(counts.recipients),
      })
      : !sendout.messages_written
        ? interp(gettext("Preparing the messages of %(total)s recipients…"), { total: fmt(counts.pending) })
        : interp(gettext("%(progress)s done · %(done)s of %(total)s recipients handled"), {
        // Translators: a percentage; Finnish writes a space before the sign ("100 %").
        progress: interp(gettext("%(n)s%"), { n: fmt(sendout.progress) }),
        done: fmt(counts.recipients - counts.pending - counts.sending),
        total: fmt(counts.recipients),
      });
    const status = document.getElementById("sendout-status");
    status.textContent = labels.sendout_statuses[sendout.status] || sendout.status;
    status.dataset.status = sendout.status;
    document.getElementById("sendout-charged").textContent =
      interp(gettext("Messages charged: %(n)s"), { n: fmt(sendout.messages_charged) });
    const dl = document.getElementById("sendout-counts");
    dl.replaceChildren(...ORDER.filter((s) => counts[s] > 0).flatMap((s) => {
      const dt = document.createElement("dt");
      const swatch = document.createElement("span");
      swatch.className = `swatch s-${s}`;
      dt.append(swatch, labels.message_statuses[s] || s);
      const dd = document.createElement("dd");
      dd.textContent = fmt(counts[s]);
      dd.dataset.status = s;
      return [dt, dd];
    }));
    const svg = document.getElementById("sendout-chart");
    const title = svg.querySelector("title");
    let x = 0;
    const rects = ORDER.filter((s) => counts[s] > 0).map((s) => {
      const w = counts.recipients ? (100 * counts[s]) / counts.recipients : 0;
      const rect = document.createElementNS("http://www.w3.org/2000/svg", "rect");
      rect.setAttribute("x", String(x)); rect.setAttribute("y", "0");
      rect.setAttribute("width", String(w)); rect.setAttribute("height", "10");
      rect.setAttribute("class", `s-${s}`);
      x += w;
      return rect;
    });
    svg.replaceChildren(title, ...rects);
    document.getElementById("sendout-cancel").hidden = FINAL.includes(sendout.status);
    return FINAL.includes(sendout.status);
  }

  async function loadRecipients() {
    const status = document.getElementById("recipient-status").value;
    const url = new URL(root.dataset.recipientsUrl, window.location.href);
    url.searchParams.set("page", String(page));
    if (status) url.searchParams.set("status", status);
    const data = await getJson(url);
    if (!data) return;
    const tbody = document.querySelector("#recipients tbody");
    tbody.replaceChildren(...data.results.map((r) => {
      const tr = document.createElement("tr");
      let who = r.contact_name || gettext("Deleted contact");
      if (r.contact) {
        who = Object.assign(document.createElement("a"), {
          href: root.dataset.contactUrl.replace(/0\/$/, `${r.contact}/`),
          textContent: r.contact_name || gettext("Unnamed contact"),
        });
      }
      const charged = r.messages_charged === null
        ? interp(gettext("%(n)s reserved"), { n: fmt(r.messages) })
        : fmt(r.messages_charged);
      const cells = [who, r.to_display || r.to, labels.message_statuses[r.status] || r.status,
        labels.reasons[r.reason] || r.reason || (r.error_code ? interp(gettext("Provider error %(code)s"), { code: r.error_code }) : ""),
        charged];
      cells.forEach((value, i) => {
        const td = document.createElement("td");
        td.append(value);
        if (i === 4) td.className = "num";
        tr.append(td);
      });
      tr.dataset.status = r.status;
      return tr;
    }));
    if (!data.results.length) {
      const tr = document.createElement("tr");
      tr.innerHTML = '<td colspan="5" class="empty"></td>';
      tr.firstChild.textContent = gettext("No recipients with this status.");
      tbody.append(tr);
    }
    const nav = document.getElementById("recipients-pages");
    const parts = [];
    if (data.previous) parts.push(Object.assign(document.createElement("button"), { type: "button", textContent: gettext("Previous"), onclick: () => { page -= 1; loadRecipients(); } }));
    parts.push(Object.assign(document.createElement("span"), { textContent: interp(ngettext("%(count)s recipient", "%(count)s recipients", data.count), { count: fmt(data.count) }) }));
    if (data.next) parts.push(Object.assign(document.createElement("button"), { type: "button", textContent: gettext("Next"), onclick: () => { page += 1; loadRecipients(); } }));
    nav.replaceChildren(...parts);
  }

  async function poll() {
    const sendout = await getJson(root.dataset.url);
    if (!sendout) { setTimeout(poll, 3000); return; }
    const done = draw(sendout);
    document.dispatchEvent(new CustomEvent("sendout:updated", { detail: sendout }));
    if (!done) setTimeout(poll, 1000);
    loadRecipients();
  }

  document.getElementById("recipient-status").addEventListener("change", () => { page = 1; loadRecipients(); });
  document.getElementById("sendout-cancel").addEventListener("click", async () => {
    if (!window.confirm(gettext("Cancel the messages that have not been sent yet? They are refunded to the quota."))) return;
    await getJson(root.dataset.cancelUrl, { method: "POST" });
    poll();
  });
  poll();
})();

// The condition builder of a target group's Conditions tab. Plain JS, no build step.
// Driven by the field catalogue embedded in the page (the same JSON as
// GET /api/v1/target-groups/fields/); saves through the API with the CSRF token.
// Strings come from Django's JavaScript catalog (gettext), labels from the page.
//
// Unsaved edits: the form carries data-unsaved while the rows differ from what was
// saved; leaving the page then asks first. Other scripts (the SMS modal) read that
// attribute, may ask for a save with form.requestSubmit(), and hear the answer as
// the events "targetgroup:saved" or "targetgroup:notsaved" on the form.
(function () {
  "use strict";
  const data = (id) => JSON.parse(document.getElementById(id).textContent);
  const catalogue = data("tg-catalogue");
  const opLabels = data("tg-operator-labels");
  const state = data("tg-builder");
  // Named gettext/ngettext so that `makemessages -d djangojs` finds the strings.
  const gettext = window.gettext || ((s) => s);
  const ngettext = window.ngettext || ((s, p, n) => (n === 1 ? s : p));
  const interp = (s, o) => (window.interpolate ? window.interpolate(s, o, true) : s);
  const fmt = (n) => new Intl.NumberFormat(document.documentElement.lang || undefined).format(n);
  const t = {
    field: gettext("Field"),
    operator: gettext("Operator"),
    value: gettext("Value"),
    remove: gettext("Remove"),
    condition: gettext("Condition"),
    listHint: gettext("Separate values with commas"),
    days: gettext("days"),
  };
  const byKey = Object.fromEntries(catalogue.map((f) => [f.field, f]));
  const VALUELESS = new Set(["is_empty", "is_not_empty", "is_true", "is_false"]);

  const form = document.getElementById("condition-builder");
  const rows = document.getElementById("condition-rows");
  const noConditions = document.getElementById("no-conditions");
  const countEl = document.getElementById("live-count");
  const countLabel = document.getElementById("live-count-label");
  const countLabelText = countLabel.textContent;
  const headCount = document.getElementById("member-count");
  const errorsEl = document.getElementById("form-errors");
  const statusEl = document.getElementById("save-status");
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  const disabled = !state.can_write;
  let uid = 0;

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : v);
    }
    (children || []).forEach((c) => node.appendChild(c));
    return node;
  }

  function labelled(labelText, control) {
    const id = "c" + ++uid;
    control.id = id;
    if (disabled) control.disabled = true;
    return el("div", { class: "cell" }, [el("label", { for: id, class: "visually-hidden", text: labelText }), control]);
  }

  function fieldSelect(selected) {
    const select = el("select", { "data-role": "field" });
    const groups = {};
    catalogue.forEach((f) => {
      if (!groups[f.group]) groups[f.group] = select.appendChild(el("optgroup", { label: f.group }));
      groups[f.group].appendChild(el("option", { value: f.field, text: f.label, selected: f.field === selected }));
    });
    return select;
  }

  function operatorSelect(field, selected) {
    const select = el("select", { "data-role": "operator" });
    byKey[field].operators.forEach((op) => select.appendChild(el("option", { value: op, text: opLabels[op] || op, selected: op === selected })));
    return select;
  }

  function valueControl(field, op, value) {
    const f = byKey[field];
    if (VALUELESS.has(op)) return null;
    if (f.type === "choice") {
      const select = el("select", { "data-role": "value", multiple: op === "in" });
      const chosen = new Set(Array.isArray(value) ? value : [value]);
      f.choices.forEach((c) => select.appendChild(el("option", { value: c.value, text: c.label, selected: chosen.has(c.value) })));
      return select;
    }
    if (op === "in") {
      return el("input", { type: "text", "data-role": "value", value: Array.isArray(value) ? value.join(", ") : "", placeholder: t.listHint, title: t.listHint });
    }
    if (f.type === "date" && op === "within_last_days") {
      return el("input", { type: "number", min: "0", step: "1", inputmode: "numeric", "data-role": "value", value: value ?? "", placeholder: t.days });
    }
    if (f.type === "date") return el("input", { type: "date", "data-role": "value", value: value ?? "" });
    if (f.type === "number") return el("input", { type: "number", step: "any", "data-role": "value", value: value ?? "" });
    return el("input", { type: "text", maxlength: "200", "data-role": "value", value: value ?? "" });
  }

  function readValue(row) {
    const field = row.querySelector("[data-role=field]").value;
    const op = row.querySelector("[data-role=operator]").value;
    const control = row.querySelector("[data-role=value]");
    const f = byKey[field];
    if (!control) return null;
    if (control.multiple) return Array.from(control.selectedOptions).map((o) => o.value);
    const raw = control.value;
    if (op === "in") {
      const parts = raw.split(",").map((s) => s.trim()).filter(Boolean);
      return f.type === "number" ? parts.map(Number) : parts;
    }
    if (op === "within_last_days" || f.type === "number") return raw === "" ? null : Number(raw);
    return raw;
  }

  function numberRows() {
    Array.from(rows.children).forEach((row, i) => {
      const n = i + 1;
      row.querySelectorAll("label").forEach((label) => {
        label.textContent = t[label.dataset.kind] + " " + n;
      });
      const remove = row.querySelector("[data-role=remove]");
      if (remove) remove.setAttribute("aria-label", t.remove + ": " + t.condition + " " + n);
    });
    noConditions.hidden = rows.children.length > 0;
  }

  function renderRow(row, condition) {
    row.textContent = "";
    row.classList.remove("invalid");
    const fSel = fieldSelect(condition.field);
    const ops = byKey[condition.field].operators;
    const op = ops.includes(condition.operator) ? condition.operator : ops[0];
    const oSel = operatorSelect(condition.field, op);
    const cells = [labelled(t.field, fSel), labelled(t.operator, oSel)];
    const control = valueControl(condition.field, op, condition.value);
    cells.push(control ? labelled(t.value, control) : el("div", { class: "cell" }));
    cells.forEach((c) => row.appendChild(c));
    row.querySelectorAll("label").forEach((label, i) => (label.dataset.kind = ["field", "operator", "value"][i]));
    if (!disabled) {
      const remove = el("button", { type: "button", "data-role": "remove", text: t.remove });
      remove.addEventListener("click", () => {
        const next = row.nextElementSibling || row.previousElementSibling;
        row.remove();
        numberRows();
        changed();
        const focusTarget = next ? next.querySelector("select") : document.getElementById("add-condition");
        if (focusTarget) focusTarget.focus();
      });
      row.appendChild(remove);
    }
    fSel.addEventListener("change", () => {
      renderRow(row, { field: fSel.value, operator: null, value: null });
      numberRows();
      row.querySelector("[data-role=field]").focus();
      changed();
    });
    oSel.addEventListener("change", () => {
      const keep = readValue(row);
      renderRow(row, { field: fSel.value, operator: oSel.value, value: keep });
      numberRows();
      row.querySelector("[data-role=operator]").focus();
      changed();
    });
    const valueEl = row.querySelector("[data-role=value]");
    if (valueEl) valueEl.addEventListener("input", changed);
    if (valueEl) valueEl.addEventListener("change", changed);
  }

  function addRow(condition) {
    const row = el("li", { class: "condition-row" });
    rows.appendChild(row);
    renderRow(row, condition);
    numberRows();
    return row;
  }

  function collect() {
    return {
      name: document.getElementById("tg-name").value,
      description: document.getElementById("tg-description").value,
      match: form.querySelector("input[name=match]:checked").value,
      conditions: Array.from(rows.children).map((row) => {
        const c = { field: row.querySelector("[data-role=field]").value, operator: row.querySelector("[data-role=operator]").value };
        const v = readValue(row);
        if (v !== null) c.value = v;
        return c;
      }),
    };
  }

  function showConditionErrors(errors) {
    Array.from(rows.children).forEach((row) => {
      row.classList.remove("invalid");
      const old = row.querySelector(".row-errors");
      if (old) old.remove();
    });
    if (!Array.isArray(errors)) return;
    errors.forEach((e) => {
      if (typeof e !== "object") return;
      const row = rows.children[e.index];
      if (!row) return;
      row.classList.add("invalid");
      const messages = Object.values(e.errors).flat().join(" ");
      const p = el("p", { class: "row-errors", id: "row-error-" + e.index, text: messages });
      row.appendChild(p);
      row.querySelectorAll("select, input").forEach((c) => c.setAttribute("aria-describedby", p.id));
    });
  }

  async function post(url, method, body) {
    const response = await fetch(url, {
      method: method,
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
      credentials: "same-origin",
      body: JSON.stringify(body),
    });
    let json = null;
    try { json = await response.json(); } catch (e) { json = null; }
    return { ok: response.ok, status: response.status, json: json };
  }

  let countTimer = null;
  let countSeq = 0;
  function changed() {
    track();
    clearTimeout(countTimer);
    countTimer = setTimeout(liveCount, 350);
  }

  async function liveCount() {
    const seq = ++countSeq;
    const body = collect();
    countLabel.textContent = gettext("Counting…");
    try {
      const r = await post(state.count_url, "POST", {
        match: body.match,
        conditions: body.conditions,
        included_contacts: state.included_contacts,
        excluded_contacts: state.excluded_contacts,
      });
      if (seq !== countSeq) return;
      if (r.ok) {
        countEl.textContent = fmt(r.json.count);
        countLabel.textContent = countLabelText;
      } else {
        countEl.textContent = "–";
        countLabel.textContent = gettext("Complete the conditions to see the count");
      }
    } catch (e) {
      if (seq === countSeq) countLabel.textContent = gettext("Something went wrong. Try again.");
    }
  }

  // --- Unsaved edits ---------------------------------------------------------
  let saved = null;  // the form as last saved (or loaded), as JSON
  const snapshot = () => JSON.stringify(collect());
  const isDirty = () => saved !== null && snapshot() !== saved;
  function markSaved() {
    saved = snapshot();
    delete form.dataset.unsaved;
  }
  function track() {
    if (isDirty()) form.dataset.unsaved = "true"; else delete form.dataset.unsaved;
  }
  form.addEventListener("input", track);
  form.addEventListener("change", track);
  const LEAVE = gettext("The conditions have changes that are not saved. Leave without saving them?");
  let leaving = false;
  document.addEventListener("click", (event) => {
    const link = event.target.closest && event.target.closest("a[href]");
    if (!link || !isDirty() || link.target || link.getAttribute("href").startsWith("#")) return;
    if (window.confirm(LEAVE)) { leaving = true; return; }
    event.preventDefault();
  });
  window.addEventListener("beforeunload", (event) => {
    if (leaving || !isDirty()) return;
    event.preventDefault();
    event.returnValue = LEAVE;
  });

  function showSummary(rowErrors, other) {
    // Above the conditions, so that it is read before the rows it points to.
    errorsEl.replaceChildren();
    const items = [];
    (Array.isArray(rowErrors) ? rowErrors : []).forEach((e) => {
      if (typeof e !== "object" || !e) return;
      const messages = Object.values(e.errors).flat().join(" ");
      items.push(interp(gettext("Condition %(n)s: %(errors)s"), { n: e.index + 1, errors: messages }));
    });
    items.push(...other);
    if (!items.length) { errorsEl.hidden = true; return; }
    const title = document.createElement("p");
    title.className = "summary-title";
    title.textContent = gettext("Not saved. Fix these first:");
    const list = document.createElement("ul");
    items.forEach((text) => list.append(Object.assign(document.createElement("li"), { textContent: text })));
    errorsEl.append(title, list);
    errorsEl.hidden = false;
    errorsEl.focus();
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (disabled) return;
    statusEl.textContent = gettext("Saving…");
    const body = collect();
    const sent = JSON.stringify(body);
    try {
      const r = await post(state.api_url, "PATCH", body);
      if (r.ok) {
        showConditionErrors([]);
        showSummary([], []);
        statusEl.textContent = gettext("Saved.");
        const n = r.json.member_count;
        countEl.textContent = fmt(n);
        countLabel.textContent = countLabelText;
        if (headCount) headCount.textContent = interp(ngettext("%(n)s member", "%(n)s members", n), { n: fmt(n) });
        saved = sent;
        track();
        form.dispatchEvent(new CustomEvent("targetgroup:saved", { detail: { member_count: n } }));
        return;
      }
      statusEl.textContent = gettext("Not saved: see the errors above the conditions.");
      const errs = r.json || {};
      showConditionErrors(errs.conditions);
      const other = Object.entries(errs)
        .filter(([k, v]) => k !== "conditions" || !Array.isArray(v) || typeof v[0] !== "object")
        .map(([k, v]) => (Array.isArray(v) ? v.join(" ") : String(v)));
      showSummary(errs.conditions, other);
    } catch (e) {
      statusEl.textContent = gettext("Something went wrong. Try again.");
    }
    form.dispatchEvent(new CustomEvent("targetgroup:notsaved"));
  });

  form.querySelectorAll("input[name=match]").forEach((r) => r.addEventListener("change", changed));
  const add = document.getElementById("add-condition");
  if (add) {
    add.addEventListener("click", () => {
      const row = addRow({ field: catalogue[0].field, operator: null, value: null });
      row.querySelector("select").focus();
      changed();
    });
  }
  state.conditions.forEach((c) => addRow(c));
  numberRows();
  markSaved();
})();

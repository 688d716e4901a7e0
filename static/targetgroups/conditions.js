// The condition builder of a target group's Conditions tab. Plain JS, no build step.
// Driven by the field catalogue embedded in the page (the same JSON as
// GET /api/v1/target-groups/fields/); saves through the API with the CSRF token.
// Strings come from Django's JavaScript catalog (gettext), labels from the page.
//
// Conditions are a tree: the top group (its all/any is the radio pair above the
// rows) holds conditions and groups; a group holds conditions and groups, up to
// MAX_DEPTH levels deep counting the top one. Each item is an <li> in an <ol>: a
// condition is li.condition-row, a group li.condition-group with its own <ol>. Items
// are named by their place ("2.1" = the first item of the second), in labels and in
// the API's errors (their "path").
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
    group: gettext("Group"),
    removeGroup: gettext("Remove group"),
    addCondition: gettext("Add condition"),
    addGroup: gettext("Add group"),
    groupMatch: gettext("Contacts in this group must match"),
    all: gettext("all conditions"),
    any: gettext("any condition"),
  };
  const MAX_DEPTH = 3;
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

  // The <ol> of a group's items (the top group's is #condition-rows).
  const itemsOf = (group) => (group === rows ? rows : group.querySelector(":scope>fieldset>ol"));
  const isGroup = (li) => li.classList.contains("condition-group");

  function numberRows(list, prefix) {
    list = list || rows;
    Array.from(list.children).forEach((row, i) => {
      const n = (prefix ? prefix + "." : "") + (i + 1);
      row.dataset.place = n;
      if (isGroup(row)) {
        const legend = row.querySelector(":scope>fieldset>legend");
        legend.textContent = t.group + " " + n;
        row.querySelectorAll(":scope>fieldset>.group-match>label[data-kind]").forEach((label) => {
          label.lastChild.textContent = " " + t[label.dataset.kind];
        });
        row.querySelectorAll(":scope>fieldset>.group-buttons>button").forEach((b) => {
          b.setAttribute("aria-label", t[b.dataset.kind] + ": " + t.group + " " + n);
        });
        numberRows(itemsOf(row), n);
        return;
      }
      row.querySelectorAll(":scope>.cell>label").forEach((label) => {
        label.textContent = t[label.dataset.kind] + " " + n;
      });
      const remove = row.querySelector(":scope>[data-role=remove]");
      if (remove) remove.setAttribute("aria-label", t.remove + ": " + t.condition + " " + n);
    });
    if (list === rows) noConditions.hidden = rows.children.length > 0;
  }

  function depthOf(list) {
    let depth = 1;
    for (let node = list; node && node !== rows; node = node.parentElement) {
      if (node.classList && node.classList.contains("condition-group")) depth += 1;
    }
    return depth;
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
    row.querySelectorAll(":scope>.cell>label").forEach((label, i) => (label.dataset.kind = ["field", "operator", "value"][i]));
    if (!disabled) {
      const remove = el("button", { type: "button", "data-role": "remove", text: t.remove });
      remove.addEventListener("click", () => {
        removeItem(row);
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

  // Remove a condition or a group; focus goes to the next item, else the previous,
  // else the group's (or the page's) "Add condition" button.
  function removeItem(li) {
    const list = li.parentElement;
    const next = li.nextElementSibling || li.previousElementSibling;
    li.remove();
    numberRows();
    changed();
    let focusTarget = next ? next.querySelector("select, input") : null;
    if (!focusTarget) {
      const owner = list === rows ? null : list.closest(".condition-group");
      focusTarget = owner ? owner.querySelector(":scope>fieldset>.group-buttons>[data-role=add-condition]") : document.getElementById("add-condition");
    }
    if (focusTarget) focusTarget.focus();
  }

  function addRow(condition, list) {
    const row = el("li", { class: "condition-row" });
    (list || rows).appendChild(row);
    renderRow(row, condition);
    numberRows();
    return row;
  }

  const newCondition = () => ({ field: catalogue[0].field, operator: null, value: null });

  function addItem(item, list) {
    if (item && Array.isArray(item.items)) return addGroup(item, list);
    return addRow(item, list);
  }

  // A group: its all/any, its items, and buttons to add a condition, add a group
  // (while deeper groups are allowed) and remove it. A new group starts with one
  // condition, since an empty group is refused.
  function addGroup(group, list) {
    list = list || rows;
    const li = el("li", { class: "condition-group" });
    const name = "match-" + ++uid;
    const radios = ["all", "any"].map((m) => {
      const input = el("input", { type: "radio", name: name, value: m, checked: group.match === m, disabled: disabled });
      input.addEventListener("change", changed);
      return el("label", { "data-kind": m }, [input, document.createTextNode(" " + t[m])]);
    });
    const matchBox = el("div", { class: "group-match", role: "radiogroup", "aria-label": t.groupMatch }, radios);
    const items = el("ol", { class: "condition-rows" });
    const fieldset = el("fieldset", { class: "group" }, [el("legend", { text: t.group }), matchBox, items]);
    li.appendChild(fieldset);
    list.appendChild(li);
    if (!disabled) {
      const buttons = el("p", { class: "group-buttons" });
      const addC = el("button", { type: "button", "data-role": "add-condition", "data-kind": "addCondition", class: "small", text: t.addCondition });
      addC.addEventListener("click", () => {
        const row = addRow(newCondition(), items);
        row.querySelector("select").focus();
        changed();
      });
      buttons.appendChild(addC);
      if (depthOf(items) < MAX_DEPTH) {
        const addG = el("button", { type: "button", "data-role": "add-group", "data-kind": "addGroup", class: "small", text: t.addGroup });
        addG.addEventListener("click", () => {
          const inner = addGroup({ match: "all", items: [newCondition()] }, items);
          inner.querySelector("input[type=radio]").focus();
          changed();
        });
        buttons.appendChild(addG);
      }
      const remove = el("button", { type: "button", "data-role": "remove-group", "data-kind": "removeGroup", class: "small", text: t.removeGroup });
      remove.addEventListener("click", () => removeItem(li));
      buttons.appendChild(remove);
      fieldset.appendChild(buttons);
    }
    (group.items || []).forEach((item) => addItem(item, items));
    numberRows();
    return li;
  }

  function collectItems(list) {
    return Array.from(list.children).map((row) => {
      if (isGroup(row)) {
        const checked = row.querySelector(":scope>fieldset>.group-match>label>input:checked");
        return { match: checked ? checked.value : "all", items: collectItems(itemsOf(row)) };
      }
      const c = { field: row.querySelector("[data-role=field]").value, operator: row.querySelector("[data-role=operator]").value };
      const v = readValue(row);
      if (v !== null) c.value = v;
      return c;
    });
  }

  function collect() {
    const match = form.querySelector("input[name=match]:checked").value;
    return {
      name: document.getElementById("tg-name").value,
      description: document.getElementById("tg-description").value,
      match: match,
      conditions: { match: match, items: collectItems(rows) },
    };
  }

  // The <li> an error's path names (the top group for an empty path).
  function itemAt(path) {
    let list = rows;
    let li = null;
    for (const i of path || []) {
      if (!list) return null;
      li = list.children[i];
      if (!li) return null;
      list = isGroup(li) ? itemsOf(li) : null;
    }
    return li;
  }

  function showConditionErrors(errors) {
    rows.querySelectorAll("li").forEach((row) => row.classList.remove("invalid"));
    rows.querySelectorAll(".row-errors").forEach((old) => old.remove());
    rows.querySelectorAll("[aria-describedby^=row-error-]").forEach((c) => c.removeAttribute("aria-describedby"));
    if (!Array.isArray(errors)) return;
    errors.forEach((e) => {
      if (typeof e !== "object" || !e) return;
      const row = itemAt(e.path || [e.index]);
      if (!row) return;
      row.classList.add("invalid");
      const messages = Object.values(e.errors).flat().join(" ");
      const p = el("p", { class: "row-errors", id: "row-error-" + row.dataset.place.replace(/\./g, "-"), text: messages });
      if (isGroup(row)) {
        row.querySelector(":scope>fieldset").appendChild(p);
        row.querySelectorAll(":scope>fieldset>.group-match>label>input").forEach((c) => c.setAttribute("aria-describedby", p.id));
      } else {
        row.appendChild(p);
        row.querySelectorAll(":scope>.cell>select,:scope>.cell>input").forEach((c) => c.setAttribute("aria-describedby", p.id));
      }
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
      const row = itemAt(e.path || [e.index]);
      if (!row) { items.push(messages); return; }
      const n = row.dataset.place;
      items.push(isGroup(row) ? interp(gettext("Group %(n)s: %(errors)s"), { n: n, errors: messages }) : interp(gettext("Condition %(n)s: %(errors)s"), { n: n, errors: messages }));
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
      const row = addRow(newCondition());
      row.querySelector("select").focus();
      changed();
    });
  }
  const addG = document.getElementById("add-group");
  if (addG) {
    addG.addEventListener("click", () => {
      const group = addGroup({ match: "all", items: [newCondition()] });
      group.querySelector("input[type=radio]").focus();
      changed();
    });
  }
  // A stored tree (or a flat list stored before trees) whose items are drawn.
  const stored = Array.isArray(state.conditions) ? state.conditions : (state.conditions.items || []);
  stored.forEach((c) => addItem(c));
  numberRows();
  markSaved();
})();

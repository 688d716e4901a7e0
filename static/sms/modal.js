/* The "Send SMS messages" modal: compose, live preview, confirmation, send.
   Plain JS, no dependencies. Strings come from Django's JavaScript catalog. */
(function () {
  "use strict";

  const MAX_CHARS_FALLBACK = 480;
  const PREVIEW_DELAY_MS = 300;
  const TAG_RE = /\{\{[^{}]*\}\}/g;
  // sms.rules.links: a URL starts with http://, https:// or www. and runs to white
  // space, less trailing punctuation and a closing bracket it does not open.
  const URL_RE = /(?:https?:\/\/|www\.)[^\s<>"]+/gi;
  const TRAILING = ".,;:!?'\"»”’";
  const PAIRS = { ")": "(", "]": "[", "}": "{" };

  const opener = document.getElementById("sms-open");
  const dialog = document.getElementById("sms-modal");
  if (!opener || !dialog) return;

  const $ = (id) => document.getElementById(id);
  const els = {
    form: $("sms-form"), quota: $("sms-quota"), sender: $("sms-sender"),
    purpose: $("sms-purpose"), senderHint: $("sms-sender-hint"),
    phoneField: $("sms-phone-field"), tag: $("sms-tag"), addTag: $("sms-add-tag"),
    body: $("sms-body"), counter: $("sms-counter"), encoding: $("sms-encoding"),
    preview: $("sms-preview"), submit: $("sms-submit"), compose: $("sms-compose"),
    confirm: $("sms-confirm"), formError: $("sms-form-error"),
    confirmError: $("sms-confirm-error"), yes: $("sms-confirm-yes"), no: $("sms-confirm-no"),
    notice: $("sms-body-notice"), perRecipient: $("sms-per-recipient"), summary: $("sms-summary"),
    tracking: $("sms-link-tracking"),
    unsaved: $("sms-unsaved"), unsavedSave: $("sms-unsaved-save"), skippedList: $("sms-skipped-list"),
    whenNow: $("sms-when-now"), whenLater: $("sms-when-later"), sendAt: $("sms-send-at"),
    sendAtField: $("sms-send-at-field"), sendAtError: $("sms-send_at-error"), zone: $("sms-zone"),
    windowNotice: $("sms-window-notice"), override: $("sms-override"),
    overrideField: $("sms-override-field"), quotaReserved: $("sms-quota-reserved"),
    template: $("sms-template"), saveTemplate: $("sms-save-template"), templateSave: $("sms-template-save"),
    templateName: $("sms-template-name"), templateSaveYes: $("sms-template-save-yes"),
    templateNameError: $("sms-template-name-error"), templateStatus: $("sms-template-status"),
    testContact: $("sms-test-contact"), testTo: $("sms-test-to"), testToError: $("sms-test-to-error"),
    testSend: $("sms-test-send"), testStatus: $("sms-test-status"), testHint: $("sms-test-hint"),
  };
  // The condition builder of the Conditions tab, when the modal sits beside it.
  const builder = document.getElementById("condition-builder");
  const fieldErrors = {
    sender: $("sms-sender-error"), phone_field: $("sms-phone-field-error"), body: $("sms-body-error"),
    purpose: $("sms-purpose-error"),
  };
  const numberFormat = new Intl.NumberFormat(document.documentElement.lang || undefined);
  const fmt = (n) => numberFormat.format(n);
  // Named gettext/ngettext so that `makemessages -d djangojs` finds the strings.
  const gettext = window.gettext || ((s) => s);
  const ngettext = window.ngettext || ((s, p, n) => (n === 1 ? s : p));
  const interp = (s, o) => (window.interpolate ? window.interpolate(s, o, true) : s);

  let options = null;
  let lastPreview = null;
  let previewTimer = null;
  let previewSeq = 0;
  let idempotencyKey = null;
  let sending = false;
  let ownInsert = false;  // our own insertion: not the user's edit
  let templates = [];  // the organisation's saved templates, by name

  function csrfToken() {
    const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function api(url, method, body, extraHeaders) {
    const headers = { Accept: "application/json", "X-CSRFToken": csrfToken(), ...(extraHeaders || {}) };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(url, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    return { status: response.status, ok: response.ok, data };
  }

  // Characters are counted in Unicode code points, as the server counts them.
  const length = (text) => Array.from(text.replace(/\r\n?/g, "\n")).length;
  // A marketing text ends with its opt-out (a link or "Vastaa LOPETA"), counted in
  // the 480 limit: the template gets what is left (the last preview tells how much).
  let optoutChars = 0;
  const maxChars = () => (options ? options.max_chars : MAX_CHARS_FALLBACK) - optoutChars;
  const perMessage = () => (options ? options.chars_per_message : 160);

  const count = (text, ch) => text.split(ch).length - 1;

  function trimUrl(url) {
    for (;;) {
      const last = url.slice(-1);
      if (last && TRAILING.includes(last)) url = url.slice(0, -1);
      else if (last && PAIRS[last] && count(url, PAIRS[last]) < count(url, last)) url = url.slice(0, -1);
      else return url;
    }
  }

  // The URLs of the template's literal text that go out as short links: as the
  // server decides (MessageTemplate.track_links), one that runs into a tag stays.
  function trackedUrls(text) {
    const urls = [];
    text.split(TAG_RE).forEach((part, i, parts) => {
      for (const match of part.matchAll(URL_RE)) {
        const url = trimUrl(match[0]);
        if (/^(https?:\/\/|www\.)$/i.test(url)) continue;
        if (i < parts.length - 1 && match.index + url.length === part.length) continue;
        if (urls.length < 32) urls.push(url);
      }
    });
    return urls;
  }

  // The template's length as the counter shows it: each tracked URL as its short link.
  function shortLength(text) {
    const normalised = text.replace(/\r\n?/g, "\n");
    let chars = length(normalised);
    if (!els.tracking || !els.tracking.checked || !options) return chars;
    trackedUrls(normalised).forEach((url) => { chars += options.short_link_chars - length(url); });
    return chars;
  }

  function cutToFit(text, room) {
    // Cut inserted text to `room` code points, never inside a tag.
    const points = Array.from(text);
    if (points.length <= room) return text;
    let cut = points.slice(0, room).join("");
    const open = cut.lastIndexOf("{{");
    if (open !== -1 && cut.indexOf("}}", open) === -1) cut = cut.slice(0, open);
    return cut;
  }

  function insertAtCursor(text) {
    // As one step of the browser's undo history (Ctrl+Z takes it out again).
    const el = els.body;
    el.focus();
    ownInsert = true;
    let done = false;
    try { done = document.execCommand("insertText", false, text); } catch (e) { done = false; }
    if (!done) {
      el.setRangeText(text, el.selectionStart, el.selectionEnd, "end");
      el.dispatchEvent(new Event("input", { bubbles: true }));
    }
    ownInsert = false;
  }

  // The notice of a cut stays until the user edits again (a preview does not clear it).
  function showCut(cut, leftOut) {
    els.notice.replaceChildren();
    const p = document.createElement("p");
    p.textContent = interp(ngettext(
      "%(n)s character was left out: the message holds at most %(max)s characters.",
      "%(n)s characters were left out: the message holds at most %(max)s characters.", cut),
    { n: fmt(cut), max: fmt(maxChars()) });
    els.notice.append(p);
    if (leftOut) {
      const details = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = gettext("Show the text that was left out");
      const text = document.createElement("p");
      text.className = "left-out";
      text.textContent = leftOut;
      const undo = document.createElement("p");
      undo.className = "hint";
      undo.textContent = gettext("Undo (Ctrl+Z) takes the cut paste out again.");
      details.append(summary, text, undo);
      els.notice.append(details);
    }
    els.notice.hidden = false;
    els.body.classList.add("was-cut");
  }

  function clearCut() {
    if (els.notice.hidden) return;
    els.notice.hidden = true;
    els.notice.replaceChildren();
    els.body.classList.remove("was-cut");
  }

  function setFieldError(name, message) {
    const el = fieldErrors[name];
    if (!el) return false;
    el.textContent = message || "";
    const input = name === "body" ? els.body : name === "sender" ? els.sender : els.phoneField;
    if (message) input.setAttribute("aria-invalid", "true"); else input.removeAttribute("aria-invalid");
    return true;
  }

  function clearErrors() {
    Object.keys(fieldErrors).forEach((name) => setFieldError(name, ""));
    els.formError.textContent = "";
    els.confirmError.textContent = "";
  }

  function showErrors(data) {
    if (!data) { els.formError.textContent = gettext("Something went wrong. Please try again."); return; }
    if (data.detail) { els.formError.textContent = data.detail; return; }
    Object.entries(data).forEach(([field, messages]) => {
      const text = Array.isArray(messages) ? messages.join(" ") : String(messages);
      if (!setFieldError(field, text)) els.formError.textContent = text;
    });
  }

  function fillSelect(select, items) {
    select.replaceChildren(...items.map((item) => {
      const option = document.createElement("option");
      option.value = item.value;
      option.textContent = item.label;
      if (item.default) option.selected = true;
      return option;
    }));
  }

  function fillTags(tags) {
    const groups = new Map();
    tags.forEach((tag) => {
      if (!groups.has(tag.group)) groups.set(tag.group, []);
      groups.get(tag.group).push(tag);
    });
    els.tag.replaceChildren(...Array.from(groups, ([group, items]) => {
      const optgroup = document.createElement("optgroup");
      optgroup.label = group;
      items.forEach((tag) => {
        const option = document.createElement("option");
        option.value = tag.value;
        option.textContent = `${tag.label} — ${tag.value}`;
        optgroup.append(option);
      });
      return optgroup;
    }));
  }

  function updateCounter() {
    const chars = shortLength(els.body.value);
    const optout = optoutChars;
    const messages = Math.ceil((chars + optout) / perMessage());
    let text = interp(
      ngettext("Template: %(chars)s / %(max)s characters · %(messages)s message",
         "Template: %(chars)s / %(max)s characters · %(messages)s messages", messages),
      { chars: fmt(chars), max: fmt(maxChars()), messages: fmt(messages) });
    if (optout) {
      text += " " + interp(gettext("(+ %(n)s characters of opt-out, counted)"), { n: fmt(optout) });
    }
    els.counter.textContent = text;
    els.counter.classList.toggle("at-limit", chars >= maxChars());
  }

  function reasonLabel(reason) {
    const found = options && options.skip_reasons.find((r) => r.value === reason);
    return found ? found.label : reason;
  }

  function renderPreview(data) {
    lastPreview = data;
    optoutChars = data.optout_chars || 0;
    updateCounter();
    const r = data.recipients;
    const parts = [];
    const summary = document.createElement("p");
    summary.className = "preview-summary";
    summary.textContent = interp(
      ngettext("%(sendable)s of %(total)s contact receives the message · %(messages)s messages to bill",
         "%(sendable)s of %(total)s contacts receive the message · %(messages)s messages to bill",
         r.total),
      { sendable: fmt(r.sendable), total: fmt(r.total), messages: fmt(data.messages) });
    parts.push(summary);
    const skipped = Object.entries(r.skipped);
    if (skipped.length) {
      const list = document.createElement("ul");
      list.className = "skipped";
      list.setAttribute("aria-label", gettext("Skipped"));
      skipped.forEach(([reason, n]) => {
        const li = document.createElement("li");
        const text = interp(gettext("%(n)s skipped: %(reason)s"), { n: fmt(n), reason: reasonLabel(reason) });
        li.append(text, " ");
        const show = document.createElement("button");
        show.type = "button";
        show.className = "show-who";
        show.textContent = gettext("Show who");
        show.setAttribute("aria-label", interp(gettext("Show who: %(what)s"), { what: text }));
        show.addEventListener("click", () => showSkipped(reason, 1));
        li.append(show);
        if (reason === "no_legal_basis") {
          // Nobody's consent is assumed: the user records a basis they can show.
          const set = document.createElement("button");
          set.type = "button";
          set.className = "set-basis";
          set.id = "sms-basis-open";
          set.textContent = gettext("Record their legal basis");
          set.addEventListener("click", () => openBasis(n));
          li.append(set);
        }
        li.dataset.reason = reason;
        list.append(li);
      });
      parts.push(list);
    }
    const quota = document.createElement("p");
    quota.className = "quota-after";
    quota.classList.toggle("error", data.quota_after < 0);
    quota.textContent = interp(gettext("Quota after sending: %(after)s"), { after: fmt(data.quota_after) });
    parts.push(quota);
    data.samples.slice(0, 5).forEach((sample) => {
      const figure = document.createElement("figure");
      figure.className = "sample";
      const caption = document.createElement("figcaption");
      caption.textContent = interp(gettext("Example: %(name)s, %(to)s · %(chars)s characters"),
        { name: sample.name, to: sample.to, chars: fmt(sample.chars) });
      const bubble = document.createElement("p");
      bubble.className = "bubble";
      bubble.textContent = sample.body;  // plain text: contact data is never HTML
      figure.append(caption, bubble);
      parts.push(figure);
    });
    data.warnings.forEach((warning) => {
      const p = document.createElement("p");
      p.className = "warning";
      p.textContent = warning;
      parts.push(p);
    });
    els.preview.replaceChildren(...parts);
    els.preview.classList.remove("stale");
    fillTestContacts(data.samples);
    els.perRecipient.textContent = data.messages_per_recipient_max ? interp(ngettext(
      "up to %(n)s message per recipient after tags", "up to %(n)s messages per recipient after tags",
      data.messages_per_recipient_max), { n: fmt(data.messages_per_recipient_max) }) : "";
    showSummary(data);
    const segments = interp(ngettext("%(n)s carrier segment", "%(n)s carrier segments", data.carrier_segments),
      { n: data.carrier_segments });
    els.encoding.textContent = data.encoding === "GSM-7"
      ? interp(gettext("GSM-7 · %(segments)s"), { segments })
      : interp(data.ucs2_recipients ? ngettext("Unicode (UCS-2) for %(n)s recipient · %(segments)s", "Unicode (UCS-2) for %(n)s recipients · %(segments)s", data.ucs2_recipients) : gettext("Unicode (UCS-2) · %(segments)s"), { segments, n: data.ucs2_recipients });
    els.submit.disabled = !(r.sendable > 0 && data.quota_after >= 0);
  }

  // The numbers that decide the send, beside Submit (the preview may be scrolled away).
  function showSummary(data) {
    if (!data) { els.summary.textContent = ""; els.summary.classList.remove("error"); return; }
    const over = data.quota_after < 0;
    els.summary.textContent = interp(over
      ? ngettext("%(recipients)s recipient · %(messages)s messages · %(short)s more than the quota",
        "%(recipients)s recipients · %(messages)s messages · %(short)s more than the quota", data.recipients.sendable)
      : ngettext("%(recipients)s recipient · %(messages)s messages · quota after %(after)s",
        "%(recipients)s recipients · %(messages)s messages · quota after %(after)s", data.recipients.sendable),
    { recipients: fmt(data.recipients.sendable), messages: fmt(data.messages),
      after: fmt(data.quota_after), short: fmt(-data.quota_after) });
    els.summary.classList.toggle("error", over);
  }

  // A preview that no longer holds (an error in the message) is taken away.
  function clearPreview(text) {
    lastPreview = null;
    els.submit.disabled = true;
    els.encoding.textContent = "";
    els.perRecipient.textContent = "";
    showSummary(null);
    hideSkipped();
    els.preview.classList.add("stale");
    els.preview.replaceChildren(Object.assign(document.createElement("p"), { className: "muted", textContent: text }));
  }

  async function refreshPreview() {
    const seq = ++previewSeq;
    clearErrors();
    if (!els.body.value.trim()) {
      clearPreview(gettext("Write a message to see who receives it."));
      els.preview.classList.remove("stale");
      return;
    }
    els.preview.setAttribute("aria-busy", "true");
    const response = await api(opener.dataset.previewUrl, "POST", payload());
    if (seq !== previewSeq) return;  // a newer keystroke has asked again
    els.preview.setAttribute("aria-busy", "false");
    if (response.ok) { renderPreview(response.data); return; }
    clearPreview(gettext("No preview until the message is fixed."));
    showErrors(response.data);
  }

  // --- The no_legal_basis skips: record a basis for them ---------------------
  const basis = {
    panel: $("sms-basis"), title: $("sms-basis-title"), value: $("sms-basis-value"),
    consent: $("sms-basis-consent"), save: $("sms-basis-save"), cancel: $("sms-basis-cancel"),
    done: $("sms-basis-done"),
  };
  const basisFields = ["legal_basis", "consent_at", "consent_source", "consent_evidence", "contacts"];

  function basisErrors(data) {
    basisFields.forEach((name) => {
      const el = $(`sms-basis-${name}-error`);
      const messages = data && data[name];
      el.textContent = messages ? [].concat(messages).join(" ") : "";
      const input = $(`sms-basis-${name === "legal_basis" ? "value" : name}`);
      if (input) input.toggleAttribute("aria-invalid", Boolean(messages));
    });
    if (data && data.detail) $("sms-basis-contacts-error").textContent = data.detail;
  }

  function openBasis(n) {
    basis.title.textContent = interp(ngettext(
      "Record a legal basis for %(n)s contact skipped for want of one",
      "Record a legal basis for %(n)s contacts skipped for want of one", n), { n: fmt(n) });
    basisErrors(null);
    basis.done.hidden = true;
    basis.consent.hidden = basis.value.value !== "consent";
    basis.panel.hidden = false;
    basis.title.focus();
  }

  function closeBasis() {
    basis.panel.hidden = true;
    basisErrors(null);
  }

  basis.value.addEventListener("change", () => { basis.consent.hidden = basis.value.value !== "consent"; });
  basis.cancel.addEventListener("click", closeBasis);
  basis.save.addEventListener("click", async () => {
    const asked = { legal_basis: basis.value.value };
    if (asked.legal_basis === "consent") {
      asked.consent_at = $("sms-basis-consent_at").value || null;
      asked.consent_source = $("sms-basis-consent_source").value;
      asked.consent_evidence = $("sms-basis-consent_evidence").value;
    }
    basis.save.disabled = true;
    const response = await api(opener.dataset.basisUrl, "POST", asked);
    basis.save.disabled = false;
    if (!response.ok) { basisErrors(response.data || { detail: gettext("The legal basis was not saved.") }); return; }
    closeBasis();
    hideSkipped();
    basis.done.textContent = interp(ngettext(
      "The legal basis was recorded for %(n)s contact.",
      "The legal basis was recorded for %(n)s contacts.", response.data.updated), { n: fmt(response.data.updated) });
    basis.done.hidden = false;
    refreshPreview();
  });

  // --- Who is skipped, page by page --------------------------------------------
  function hideSkipped() {
    els.skippedList.hidden = true;
    els.skippedList.replaceChildren();
  }

  async function showSkipped(reason, page) {
    const url = new URL(opener.dataset.skippedUrl, window.location.href);
    Object.entries({ ...payload(), reason, page: String(page), page_size: "10" })
      .forEach(([k, v]) => url.searchParams.set(k, v));
    const response = await api(url, "GET");
    if (!response.ok) { showErrors(response.data); return; }
    const data = response.data;
    const heading = document.createElement("h4");
    heading.id = "sms-skipped-title";
    heading.tabIndex = -1;
    heading.textContent = interp(gettext("Skipped: %(reason)s (%(n)s)"), { reason: reasonLabel(reason), n: fmt(data.count) });
    const table = document.createElement("table");
    table.className = "table compact";
    const head = table.createTHead().insertRow();
    [gettext("Name"), gettext("Number")].forEach((text) => {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = text;
      head.append(th);
    });
    const body = table.createTBody();
    data.results.forEach((r) => {
      const row = body.insertRow();
      const link = document.createElement("a");
      link.href = opener.dataset.contactUrl.replace("/0/", `/${r.contact}/`);
      link.target = "_blank";
      link.textContent = r.name || gettext("(no name)");
      row.insertCell().append(link);
      row.insertCell().textContent = r.to || "–";
    });
    const nav = document.createElement("p");
    nav.className = "skipped-pages";
    const button = (text, action) => Object.assign(document.createElement("button"), { type: "button", textContent: text, onclick: action });
    if (data.previous) nav.append(button(gettext("Previous"), () => showSkipped(reason, page - 1)));
    const pages = Math.max(1, Math.ceil(data.count / 10));
    nav.append(" ", interp(gettext("Page %(page)s of %(pages)s"), { page: fmt(page), pages: fmt(pages) }), " ");
    if (data.next) nav.append(button(gettext("Next"), () => showSkipped(reason, page + 1)));
    nav.append(" ", button(gettext("Close the list"), hideSkipped));
    els.skippedList.replaceChildren(heading, table, nav);
    els.skippedList.hidden = false;
    heading.focus();
  }

  // --- Templates and the last message of this group -----------------------------
  const dateFormat = new Intl.DateTimeFormat(document.documentElement.lang || undefined, { dateStyle: "short" });

  async function loadTemplates(chosen) {
    const url = new URL(opener.dataset.templatesUrl, window.location.href);
    url.searchParams.set("page_size", "1000");
    const response = await api(url, "GET");
    templates = response.ok ? response.data.results : [];
    const items = [Object.assign(document.createElement("option"), { value: "", textContent: gettext("A new message") })];
    if (options && options.last_message) {
      items.push(Object.assign(document.createElement("option"), {
        value: "last",
        textContent: interp(gettext("The last message to this group (%(date)s)"),
          { date: dateFormat.format(new Date(options.last_message.created_at)) }),
      }));
    }
    if (templates.length) {
      const group = document.createElement("optgroup");
      group.label = gettext("Templates");
      templates.forEach((t) => group.append(Object.assign(document.createElement("option"), { value: `t${t.id}`, textContent: t.name })));
      items.push(group);
    }
    els.template.replaceChildren(...items);
    els.template.value = chosen || "";
  }

  function chooseIn(select, value) {
    // Answers whether `value` is one of the select's options, choosing it if so.
    if (!Array.from(select.options).some((o) => o.value === value)) return false;
    select.value = value;
    return true;
  }

  function applyMessage(message) {
    clearErrors();
    if (!chooseIn(els.sender, message.sender)) {
      const fallback = options.senders.find((s) => s.default);
      if (fallback) els.sender.value = fallback.value;
      setFieldError("sender", interp(
        gettext("The sender “%(name)s” of this message is not available now: the default sender was chosen."),
        { name: message.sender }));
    }
    chooseIn(els.phoneField, message.phone_field);
    const purpose = $("sms-purpose");  // the purpose field, where the modal has one
    if (purpose && message.purpose) chooseIn(purpose, message.purpose);
    // One step of the undo history: Ctrl+Z brings the previous text back.
    els.body.focus();
    els.body.select();
    if (els.body.value !== message.body) insertAtCursor(message.body);
    updateCounter();
    schedulePreview();
  }

  els.template.addEventListener("change", () => {
    const value = els.template.value;
    if (value === "last" && options.last_message) applyMessage(options.last_message);
    const template = templates.find((t) => `t${t.id}` === value);
    if (template) applyMessage(template);
  });

  function showTemplateSave(show) {
    els.templateSave.hidden = !show;
    els.saveTemplate.setAttribute("aria-expanded", String(show));
    els.templateNameError.textContent = "";
    els.templateName.removeAttribute("aria-invalid");
    if (show) { els.templateStatus.textContent = ""; els.templateName.focus(); }
  }

  async function saveTemplate() {
    clearErrors();
    els.templateNameError.textContent = "";
    const purpose = $("sms-purpose");
    const body = { ...payload(), name: els.templateName.value };
    if (purpose) body.purpose = purpose.value;
    const response = await api(opener.dataset.templatesUrl, "POST", body);
    if (response.status === 201) {
      showTemplateSave(false);
      els.templateName.value = "";
      els.templateStatus.textContent = interp(gettext("Saved as the template “%(name)s”."), { name: response.data.name });
      await loadTemplates(`t${response.data.id}`);
      els.saveTemplate.focus();
      return;
    }
    const data = response.data || {};
    if (data.name) {
      els.templateNameError.textContent = [].concat(data.name).join(" ");
      els.templateName.setAttribute("aria-invalid", "true");
      els.templateName.focus();
    }
    const rest = Object.fromEntries(Object.entries(data).filter(([k]) => k !== "name"));
    if (Object.keys(rest).length || !response.data) showErrors(response.data && rest);
  }

  els.saveTemplate.addEventListener("click", () => showTemplateSave(els.templateSave.hidden));
  els.templateSaveYes.addEventListener("click", saveTemplate);
  els.templateName.addEventListener("keydown", (event) => {
    // Enter saves the template; it must not submit the message form.
    if (event.key === "Enter") { event.preventDefault(); saveTemplate(); }
  });

  // --- Send a test ---------------------------------------------------------------
  function fillTestContacts(samples) {
    const chosen = els.testContact.value;
    const first = Object.assign(document.createElement("option"), { value: "", textContent: gettext("The group's first member") });
    els.testContact.replaceChildren(first, ...samples.map((sample) => Object.assign(
      document.createElement("option"), { value: String(sample.contact), textContent: sample.name || gettext("(no name)") })));
    chooseIn(els.testContact, chosen);
  }

  async function sendTest() {
    clearErrors();
    els.testToError.textContent = "";
    els.testTo.removeAttribute("aria-invalid");
    els.testStatus.textContent = "";
    els.testSend.disabled = true;
    const body = { ...payload(), to: els.testTo.value };
    if (els.testContact.value) body.contact = Number(els.testContact.value);
    const response = await api(opener.dataset.testUrl, "POST", body);
    els.testSend.disabled = false;
    const data = response.data || {};
    if (response.status === 202) {
      els.testStatus.replaceChildren(interp(ngettext(
        "Test sent to your number: %(n)s message charged.", "Test sent to your number: %(n)s messages charged.",
        data.messages_reserved), { n: fmt(data.messages_reserved) }), " ",
      Object.assign(document.createElement("a"), {
        href: opener.dataset.sendoutUrl.replace("/0/", `/${data.id}/`), textContent: gettext("Follow the test"),
      }));
      schedulePreview();  // the quota changed
      return;
    }
    if (data.to) {
      els.testToError.textContent = [].concat(data.to).join(" ");
      els.testTo.setAttribute("aria-invalid", "true");
      els.testTo.focus();
      return;
    }
    if (data.detail) { els.testStatus.textContent = data.detail; return; }
    if (data.contact) { els.testStatus.textContent = [].concat(data.contact).join(" "); return; }
    showErrors(response.data);
  }

  els.testSend.addEventListener("click", sendTest);

  function schedulePreview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(refreshPreview, PREVIEW_DELAY_MS);
  }

  function payload() {
    return {
      sender: els.sender.value, phone_field: els.phoneField.value, body: els.body.value,
      purpose: els.purpose.value,
      link_tracking: els.tracking ? els.tracking.checked : true,
    };
  }

  function showStep(step) {
    els.compose.hidden = step !== "compose";
    els.confirm.hidden = step !== "confirm";
    els.unsaved.hidden = step !== "unsaved";
    dialog.querySelector(".compose-buttons").hidden = step !== "compose";
    dialog.querySelector(".confirm-buttons").hidden = step !== "confirm";
    dialog.querySelector(".unsaved-buttons").hidden = step !== "unsaved";
    els.summary.hidden = step === "unsaved";
  }

  function showCompose() { showStep("compose"); }

  // A time of the organisation's zone, written in the page's language with the zone.
  function zoneTime(iso) {
    const zone = options.send_window.time_zone;
    const text = new Intl.DateTimeFormat(document.documentElement.lang || undefined, {
      dateStyle: "full", timeStyle: "short", timeZone: zone,
    }).format(new Date(iso));
    return `${text} (${zone})`;
  }

  // The confirmation's "when": now or later, and what the send window says.
  function updateWhen() {
    const later = els.whenLater.checked;
    const sw = options && options.send_window;
    els.sendAtField.hidden = !later;
    els.sendAtError.textContent = "";
    els.overrideField.hidden = !(sw && sw.may_override && !sw.open_now && !later);
    const overridden = !els.overrideField.hidden && els.override.checked;
    if (sw && !later && !sw.open_now && !overridden) {
      els.windowNotice.textContent = sw.next_opening
        ? interp(gettext("Outside the send window: the sendout will start at %(time)s. Confirm to schedule it for then."), { time: zoneTime(sw.next_opening) })
        : gettext("The send windows never open: ask an administrator to check the SMS settings.");
      els.windowNotice.hidden = false;
    } else {
      els.windowNotice.hidden = true;
      els.windowNotice.textContent = "";
    }
  }

  function showConfirm() {
    const data = lastPreview;
    if (options && options.send_window) {
      els.zone.textContent = `(${options.send_window.time_zone})`;
    }
    updateWhen();
    $("sms-confirm-messages").textContent = fmt(data.messages);
    $("sms-confirm-recipients").textContent = fmt(data.recipients.sendable);
    $("sms-confirm-quota").textContent = fmt(data.quota_remaining);
    $("sms-confirm-after").textContent = fmt(data.quota_after);
    els.confirmError.textContent = "";
    showStep("confirm");
    idempotencyKey = (crypto.randomUUID && crypto.randomUUID()) || String(Date.now()) + Math.random();
    els.yes.disabled = false;
    els.yes.focus();
  }

  async function send() {
    if (sending) return;  // a double click is one request, and the key makes it one sendout
    sending = true;
    els.yes.disabled = true;
    const body = { ...payload(), expected_messages: lastPreview.messages };
    if (els.whenLater.checked) {
      if (!els.sendAt.value) {
        els.sendAtError.textContent = gettext("Choose the date and time to send.");
        sending = false;
        els.yes.disabled = false;
        els.sendAt.focus();
        return;
      }
      body.send_at_local = els.sendAt.value;
    } else if (!els.overrideField.hidden && els.override.checked) {
      body.ignore_send_window = true;
    }
    const perHour = $("sms-per-hour").value.trim();
    if (perHour) body.messages_per_hour = Number(perHour);
    const response = await api(opener.dataset.createUrl, "POST", body, { "Idempotency-Key": idempotencyKey });
    sending = false;
    if (response.status === 202) {
      window.location.assign(opener.dataset.sendoutUrl.replace("/0/", `/${response.data.id}/`));
      return;
    }
    const data = response.data || {};
    if (data.code === "insufficient_quota") {
      // The quota changed since the preview: show the numbers as they are now.
      $("sms-confirm-quota").textContent = fmt(data.has);
      $("sms-confirm-after").textContent = fmt(data.has - data.needs);
      els.quota.textContent = interp(gettext("Message quota: %(n)s messages left"), { n: fmt(data.has) });
      if (lastPreview) {
        lastPreview.quota_remaining = data.has;
        lastPreview.quota_after = data.has - data.needs;
        showSummary(lastPreview);
      }
      els.confirmError.textContent = interp(
        gettext("Not enough quota: the sendout needs %(needs)s messages and %(has)s are left. Nothing was sent. Ask an administrator to top up the quota, or send to fewer recipients."),
        { needs: fmt(data.needs), has: fmt(data.has) });
    } else if (data.code === "count_changed") {
      // Back to the form with the new numbers; the user confirms again.
      showCompose();
      await refreshPreview();
      els.formError.textContent = gettext("The recipients changed since the preview. Nothing was sent: check the new numbers and submit again.");
      els.submit.focus();
      return;
    } else if (data.messages_per_hour) {
      $("sms-messages_per_hour-error").textContent = data.messages_per_hour.join(" ");
      els.yes.disabled = false;
      $("sms-per-hour").focus();
      return;
    } else if (data.send_at) {
      els.sendAtError.textContent = data.send_at.join(" ");
      els.yes.disabled = false;
      els.sendAt.focus();
      return;
    } else if (data.detail) {
      els.confirmError.textContent = data.detail;
    } else {
      showCompose();
      showErrors(data);
      return;
    }
    els.no.focus();
  }

  async function open() {
    clearErrors();
    if (builder && builder.dataset.unsaved === "true") {
      // The messages go to the saved definition: the one on screen is saved first.
      showStep("unsaved");
      dialog.showModal();
      els.unsavedSave.focus();
      return;
    }
    showCompose();
    if (!dialog.open) dialog.showModal();
    const response = await api(opener.dataset.optionsUrl, "GET");
    if (!response.ok) { showErrors(response.data); return; }
    options = response.data;
    els.quota.textContent = interp(gettext("Message quota: %(n)s messages left"), { n: fmt(options.quota_remaining) });
    const reserved = options.quota_reserved_scheduled || 0;
    els.quotaReserved.hidden = !reserved;
    els.quotaReserved.textContent = reserved
      ? interp(ngettext("%(n)s more message is reserved by scheduled sendouts.", "%(n)s more messages are reserved by scheduled sendouts.", reserved), { n: fmt(reserved) })
      : "";
    fillSelect(els.sender, options.senders);
    // Sender names left out for this group (Traficom's register), and why.
    els.senderHint.textContent = options.senders_unavailable.map((s) => s.reason).join(" ");
    els.senderHint.hidden = !options.senders_unavailable.length;
    fillSelect(els.purpose, options.purposes);
    fillSelect(els.phoneField, options.phone_fields);
    fillTags(options.tags);
    await loadTemplates(els.template.value);
    if (!els.testTo.value) els.testTo.value = options.own_number || "";
    els.testHint.textContent = interp(gettext("A test is charged against the quota like any message and shows in its ledger; you may send %(n)s an hour."),
      { n: fmt(options.test_sends_per_hour) });
    updateCounter();
    els.body.focus();
    if (els.body.value) schedulePreview();
  }

  function close() {
    clearTimeout(previewTimer);
    dialog.close();
    opener.focus();
  }

  els.whenNow.addEventListener("change", updateWhen);
  els.whenLater.addEventListener("change", () => {
    updateWhen();
    if (els.whenLater.checked) els.sendAt.focus();
  });
  els.override.addEventListener("change", updateWhen);

  if (els.unsavedSave && builder) {
    els.unsavedSave.addEventListener("click", () => {
      els.unsavedSave.disabled = true;
      const done = (event) => {
        builder.removeEventListener("targetgroup:saved", done);
        builder.removeEventListener("targetgroup:notsaved", done);
        els.unsavedSave.disabled = false;
        if (event.type === "targetgroup:saved") { open(); return; }
        dialog.close();
        const errors = document.getElementById("form-errors");
        if (errors && !errors.hidden) errors.focus();
      };
      builder.addEventListener("targetgroup:saved", done);
      builder.addEventListener("targetgroup:notsaved", done);
      builder.requestSubmit();
    });
  }

  // Typing and pasting stop at the limit; a paste is cut to fit (never inside a tag),
  // and a notice says how much was left out until the user edits again.
  els.body.addEventListener("beforeinput", (event) => {
    if (ownInsert) return;
    clearCut();
    if (!event.inputType.startsWith("insert")) return;
    const el = els.body;
    const data = event.data ?? (event.dataTransfer ? event.dataTransfer.getData("text/plain") : null)
      ?? (event.inputType === "insertLineBreak" || event.inputType === "insertParagraph" ? "\n" : "");
    const selected = el.value.slice(el.selectionStart, el.selectionEnd);
    const room = maxChars() - (length(el.value) - length(selected));
    if (length(data) <= room) return;
    event.preventDefault();
    const fitted = cutToFit(data, Math.max(room, 0));
    if (fitted) insertAtCursor(fitted);
    const points = Array.from(data);
    const leftOut = points.slice(Array.from(fitted).length).join("");
    showCut(length(data) - length(fitted), points.length > 1 ? leftOut : "");
  });
  els.body.addEventListener("input", () => {
    // A last guard for input that bypasses beforeinput (e.g. some IMEs).
    if (!ownInsert && length(els.body.value) > maxChars()) {
      const whole = Array.from(els.body.value);
      const kept = cutToFit(els.body.value, maxChars());
      els.body.value = kept;
      showCut(whole.length - Array.from(kept).length, whole.slice(Array.from(kept).length).join(""));
    }
    updateCounter();
    schedulePreview();
  });

  els.addTag.addEventListener("click", () => {
    const tag = els.tag.value;
    if (!tag) return;
    const el = els.body;
    const selected = el.value.slice(el.selectionStart, el.selectionEnd);
    const room = maxChars() - (length(el.value) - length(selected));
    if (length(tag) > room) {
      setFieldError("body", interp(
        gettext("The tag %(tag)s does not fit: the message holds at most %(max)s characters. Shorten the text first."),
        { tag, max: fmt(maxChars()) }));
      el.focus();
      return;
    }
    el.focus();
    insertAtCursor(tag);
  });

  [els.sender, els.phoneField, els.purpose].forEach((el) => el.addEventListener("change", schedulePreview));
  if (els.tracking) els.tracking.addEventListener("change", () => { updateCounter(); schedulePreview(); });
  els.form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (lastPreview && !els.submit.disabled) showConfirm();
  });
  els.yes.addEventListener("click", send);
  els.no.addEventListener("click", () => { showCompose(); els.submit.focus(); schedulePreview(); });
  dialog.querySelectorAll("[data-close]").forEach((el) => el.addEventListener("click", close));
  dialog.addEventListener("cancel", (event) => { event.preventDefault(); close(); });  // Esc
  opener.addEventListener("click", open);

  // Exposed for tests of the counting rule only.
  window.smsModal = { length, cutToFit, TAG_RE, trackedUrls };
})();

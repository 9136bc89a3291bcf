/* Pantau console: the alert detail panel. Everything about one alert (GET /api/v1/alerts/{id}),
 * its evidence, SOP checklist, small map, related alerts, notes, audit trail and delivery log, and
 * the lifecycle commands (ack, assign, resolve, close, note, report, sop).
 *
 * Commands carry the version the operator sees; a 409 shows the server's reason and reloads. */
(() => {
  "use strict";
  const P = window.Pantau;
  const { el, $, clear, toast } = P.dom;
  const t = (key, vars) => P.i18n.t(key, vars);
  const seg = (v) => P.api.seg(v);
  const ASSIGNEE = /^[A-Za-z0-9][A-Za-z0-9_.@-]*$/;
  const CLOSE_REASONS = ["handled", "false_alarm", "duplicate", "test"];

  const panel = $("#detail");
  let data = null; // the last GET /api/v1/alerts/{id}
  let alert = null; // the freshest state of the alert shown
  let cases = null; // cases holding it
  let loadToken = 0;
  let retries = 0;
  let reloadTimer = null;
  let busy = false;
  let errorText = "";
  let loadError = "";
  let shownIncident = null;
  const snapshots = new Map(); // incident id -> <img>: every view of evidence is recorded, so load once
  const players = new Map(); // incident id -> clip player: one recorded viewing, kept across renders
  let playerIncident = null; // the incident whose clip is open in the player
  const mapBox = el("div", { class: "d-map", testid: "detail-map" });
  let miniMap = null;

  const S = () => P.state;
  const isWide = () => window.matchMedia("(min-width: 1200px)").matches;
  const ver = (a) => Number(a && a.version) || 0;

  function freshest(id) {
    const live = S().alerts.get(id);
    const mine = alert && alert.id === id ? alert : null;
    if (live && mine) return ver(live) >= ver(mine) ? live : mine;
    return live || mine || null;
  }

  // ---- open / close / load -------------------------------------------------------------------
  function open(id) {
    if (!id) return;
    const state = S();
    if (state.detailId !== id) {
      snapshots.clear();
      stopPlayers();
      shownIncident = null;
      data = null;
      cases = null;
      errorText = "";
      loadError = "";
      alert = null;
      retries = 0;
    }
    state.detailId = id;
    alert = freshest(id);
    panel.hidden = false;
    document.body.classList.add("detail-open");
    render();
    P.emit("detail", id);
    load();
    if (!isWide()) {
      const title = $("#detail-title");
      if (title) title.focus();
    }
  }

  function close() {
    const state = S();
    if (!state || !state.detailId) {
      panel.hidden = true;
      return;
    }
    state.detailId = null;
    loadToken += 1;
    clearTimeout(reloadTimer);
    data = null;
    alert = null;
    cases = null;
    snapshots.clear();
    stopPlayers();
    panel.hidden = true;
    clear(panel);
    document.body.classList.remove("detail-open");
    if (miniMap) {
      miniMap.destroy();
      miniMap = null;
    }
    P.emit("detail", null);
  }

  async function load() {
    const id = S().detailId;
    if (!id) return;
    const token = ++loadToken;
    try {
      const answer = await P.api.get(`/api/v1/alerts/${seg(id)}`);
      if (token !== loadToken || S().detailId !== id) return;
      data = answer;
      loadError = "";
      retries = 0;
      if (!alert || ver(answer.alert) >= ver(alert)) alert = answer.alert;
      render();
      if (P.can.readCases()) {
        try {
          const found = await P.api.get(`/api/v1/cases${P.api.qs({ alert: id })}`);
          if (token !== loadToken) return;
          cases = found;
          render();
        } catch {
          cases = null;
        }
      }
    } catch (error) {
      if (token !== loadToken) return;
      loadError = t("detail.loadFailed", { detail: error.detail || error.status });
      render();
      // A brand-new alert may not be in the history database yet: try again a few times.
      if ((error.status === 404 || error.status === 503) && alert && retries < 5) {
        retries += 1;
        scheduleReload(2000);
      }
    }
  }

  function scheduleReload(ms) {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(load, ms);
  }

  function accept(updated) {
    if (!updated || !updated.id) return;
    P.store.applyAlert(updated, { alarm: false });
    if (updated.id === S().detailId && (!alert || ver(updated) >= ver(alert))) alert = updated;
  }

  function setError(text) {
    errorText = text || "";
  }

  // ---- commands ------------------------------------------------------------------------------
  const isSopBlock = (detail) => /procedure steps still open/i.test(String(detail || ""));

  async function command(a, action, body) {
    busy = true;
    render();
    try {
      const updated = await P.api.post(`/api/v1/alerts/${seg(a.id)}/${action}`, body);
      accept(updated);
      setError("");
      toast(t(`ok.${action}`), "ok");
      scheduleReload(300);
      return true;
    } catch (error) {
      const overridable = (action === "resolve" || action === "close") && !body.override_reason;
      if (error.status === 409 && isSopBlock(error.detail) && overridable && P.can.override()) {
        busy = false;
        setError(error.detail);
        render();
        const answer = await P.dialog({
          title: t("sop.overrideTitle"),
          message: error.detail,
          input: { label: t("sop.overrideReason"), required: true, maxLength: 2000 },
          validate: (v) => (v.input.trim().length < 3 ? t("sop.overrideShort") : null),
          okText: t("sop.overrideOk"),
          danger: true,
        });
        if (!answer) return false;
        const now = freshest(a.id) || a;
        return command(now, action, { ...body, version: now.version, override_reason: answer.input.trim() });
      }
      setError(error.detail || t("err.generic"));
      if (error.status === 409 || error.status === 404) scheduleReload(0);
      return false;
    } finally {
      busy = false;
      render();
    }
  }

  function allowed(action, a) {
    const open = P.util.OPEN.has(a.status);
    switch (action) {
      case "ack":
        return P.can.command() && a.status === "new";
      case "assign":
      case "resolve":
        return P.can.command() && open;
      case "close":
        return P.can.command() && a.status !== "closed";
      case "note":
        return P.can.note();
      case "report":
        return P.can.report() && open;
      default:
        return false;
    }
  }

  function knownAssignees() {
    const names = new Set();
    for (const a of S().alerts.values()) {
      if (a.assignee) names.add(a.assignee);
      for (const who of Object.keys(a.responders || {})) names.add(who);
    }
    return [...names].sort();
  }

  async function act(action, id = S().detailId, extra = {}) {
    if (!id) return;
    if (S().detailId !== id) open(id);
    const a = freshest(id);
    if (!a) return;
    if (!allowed(action, a)) {
      toast(t("act.notAllowed", { action: t(`act.${action}`), status: t(`status.${a.status}`) }), "error");
      return;
    }
    if (action === "ack") {
      await command(a, "ack", { version: a.version });
    } else if (action === "assign") {
      const answer = await P.dialog({
        title: t("act.assign"),
        message: a.title,
        input: { label: t("dlg.assignee"), value: a.assignee || "", required: true, maxLength: 128, list: knownAssignees() },
        validate: (v) => (ASSIGNEE.test(v.input.trim()) ? null : t("dlg.assigneeInvalid")),
        okText: t("act.assign"),
      });
      if (answer) {
        const now = freshest(id) || a;
        await command(now, "assign", { version: now.version, assignee: answer.input.trim() });
      }
    } else if (action === "resolve") {
      const answer = await P.dialog({
        title: t("act.resolve"),
        message: a.title,
        input: { label: t("dlg.reasonOptional"), maxLength: 2000 },
        okText: t("act.resolve"),
      });
      if (answer) {
        const now = freshest(id) || a;
        const body = { version: now.version };
        if (answer.input.trim()) body.reason = answer.input.trim();
        await command(now, "resolve", body);
      }
    } else if (action === "close") {
      const reasons = (S().config && S().config.close_reasons && S().config.close_reasons.length && S().config.close_reasons) || CLOSE_REASONS;
      const answer = await P.dialog({
        title: t("act.close"),
        message: a.title,
        select: { label: t("dlg.closeReason"), options: reasons.map((r) => ({ value: r, label: P.i18n.tOr(`close.${r}`, r) })), value: reasons[0] },
        input: { label: t("dlg.reasonOptional"), maxLength: 2000 },
        okText: t("act.close"),
      });
      if (answer) {
        const now = freshest(id) || a;
        const body = { version: now.version, close_reason: answer.select };
        if (answer.input.trim()) body.reason = answer.input.trim();
        await command(now, "close", body);
      }
    } else if (action === "note") {
      const answer = await P.dialog({
        title: t("act.note"),
        message: a.title,
        input: { label: t("dlg.noteText"), multiline: true, required: true, maxLength: 4000 },
        okText: t("act.noteSave"),
      });
      if (answer) await command(a, "note", { text: answer.input.trim() });
    } else if (action === "report") {
      await command(a, "report", { status: extra.status });
    }
  }

  async function toggleSop(a, step, done) {
    busy = true;
    render();
    try {
      const updated = await P.api.post(`/api/v1/alerts/${seg(a.id)}/sop`, { step, done });
      accept(updated);
      setError("");
      scheduleReload(500);
    } catch (error) {
      setError(error.detail || t("err.generic"));
      if (error.status === 409) scheduleReload(0);
    } finally {
      busy = false;
      render();
    }
  }

  // ---- rendering -----------------------------------------------------------------------------
  function section(titleKey, ...children) {
    return el("section", { class: "d-section" }, el("h3", {}, t(titleKey)), ...children);
  }

  function fact(labelKey, value) {
    if (value === undefined || value === null || value === "") return null;
    return [el("dt", {}, t(labelKey)), el("dd", {}, value)];
  }

  // The object detector's class and score; a camera detection no classifier checked says so.
  function confidenceText(x) {
    const cls = x.object_class ? `${x.object_class} ` : "";
    if (typeof x.confidence === "number") return `${cls}${Math.round(x.confidence * 100)}%`;
    return x.confidence === null ? t("f.unverified") : null;
  }

  function shortValue(value) {
    if (value === null || value === undefined) return "—";
    if (typeof value === "object") {
      const text = JSON.stringify(value);
      return text.length > 160 ? `${text.slice(0, 157)}…` : text;
    }
    return String(value);
  }

  function header(a) {
    const lang = P.i18n.lang();
    const status = el(
      "span",
      { class: `status st-${a.status}`, testid: "detail-status", "data-status": a.status },
      t(`status.${a.status}`),
      lang !== "en" ? el("small", { class: "code" }, ` (${a.status})`) : null,
    );
    const flags = [];
    if (a.condition_active === false) flags.push(el("span", { class: "flag" }, t("flag.cleared")));
    if (a.suppressed) flags.push(el("span", { class: "flag" }, t("flag.suppressed")));
    if (a.flapping) flags.push(el("span", { class: "flag warn" }, t("flag.flapping")));
    if (a.escalation_level > 0) flags.push(el("span", { class: "flag warn" }, t("flag.escalated", { n: a.escalation_level })));
    return [
      el(
        "div",
        { class: "d-head" },
        P.util.prioBadge(a.priority),
        el("h2", { id: "detail-title", class: "d-title", tabindex: -1 }, a.title),
        el("button", { type: "button", class: "icon-btn", testid: "detail-close", title: t("detail.close"), "aria-label": t("detail.close"), onclick: close }, "✕"),
      ),
      el("div", { class: "d-statusline" }, status, el("span", { class: "sub" }, t("detail.version", { v: a.version })), flags),
    ];
  }

  function button(testid, label, key, enabled, onclick, cls = "") {
    return el(
      "button",
      { type: "button", class: `btn ${cls}`, testid, disabled: busy || !enabled, title: key ? t("detail.shortcut", { key }) : null, onclick },
      label,
      key ? el("kbd", {}, key) : null,
    );
  }

  function actions(a) {
    const items = [];
    if (P.can.command()) {
      items.push(button("action-ack", t("act.ack"), "a", allowed("ack", a), () => act("ack", a.id), "primary"));
      items.push(button("action-assign", t("act.assign"), "s", allowed("assign", a), () => act("assign", a.id)));
      items.push(button("action-resolve", t("act.resolve"), "r", allowed("resolve", a), () => act("resolve", a.id)));
      items.push(button("action-close", t("act.close"), "c", allowed("close", a), () => act("close", a.id)));
    }
    if (P.can.note()) items.push(button("action-note", t("act.note"), "n", allowed("note", a), () => act("note", a.id)));
    if (P.can.report()) {
      const mine = (a.responders || {})[S().me.user];
      for (const st of ["en_route", "on_scene", "done"]) {
        items.push(button(`action-report-${st}`, t(`resp.${st}`), null, allowed("report", a) && mine !== st, () => act("report", a.id, { status: st })));
      }
    }
    if (!items.length) return el("div", { class: "d-actions muted" }, t("detail.readOnly"));
    return el("div", { class: "d-actions" }, items);
  }

  function facts(a) {
    const i18n = P.i18n;
    const loc = a.location || {};
    const responders = Object.entries(a.responders || {}).map(([who, st]) => `${who}: ${i18n.tOr(`resp.${st}`, st)}`).join(", ");
    return el(
      "dl",
      { class: "d-facts" },
      fact("f.type", P.util.typeLabel(a.type)),
      fact("f.source", `${P.util.deviceName(a.source)} · ${P.util.kindLabel(a.source_kind)}`),
      fact("f.zone", a.zone),
      fact("f.district", P.util.districtOf(a)),
      fact("f.location", typeof loc.lat === "number" ? `${loc.lat.toFixed(5)}, ${loc.lon.toFixed(5)}` : null),
      fact("f.firstSeen", `${i18n.dateTime(a.first_seen)} (${i18n.age(Date.now() - Date.parse(a.first_seen))})`),
      fact("f.lastSeen", i18n.dateTime(a.last_seen)),
      fact("f.count", String(a.count)),
      fact("f.severity", i18n.tOr(`sev.${a.severity}`, a.severity)),
      fact("f.confidence", confidenceText(a)),
      fact("f.acknowledged", a.acknowledged_by ? `${a.acknowledged_by} · ${i18n.dateTime(a.acknowledged_at)}` : null),
      fact("f.assignee", a.assignee),
      fact("f.responders", responders),
      fact("f.resolved", a.resolved_at ? i18n.dateTime(a.resolved_at) : null),
      fact("f.closed", a.closed_at ? `${i18n.dateTime(a.closed_at)} · ${i18n.tOr(`close.${a.close_reason}`, a.close_reason || "")}` : null),
      fact("f.suppressedBy", (a.suppressed_by || []).join(", ")),
      fact("f.correlation", a.correlation_rule),
      fact("f.lastChange", `${i18n.tOr(`change.${a.change}`, a.change)} · ${i18n.dateTime(a.updated_at)}`),
    );
  }

  function evidenceFacts(a) {
    const entries = Object.entries(a.evidence || {}).filter(([k]) => k !== "incident_id" && !k.endsWith("_b64"));
    if (!entries.length) return null;
    return section("detail.evidenceData", el("dl", { class: "d-facts small" }, entries.map(([k, v]) => [el("dt", {}, k.replace(/_/g, " ")), el("dd", {}, shortValue(v))])));
  }

  function sop(a) {
    const steps = (S().config && S().config.sop && S().config.sop[a.type]) || [];
    if (!steps.length) return null;
    const done = a.sop_done || {};
    const editable = P.can.command() && P.util.OPEN.has(a.status) && !busy;
    const lang = P.i18n.lang();
    const count = steps.filter((s) => s.id in done).length;
    const requiredOpen = steps.filter((s) => s.required && !(s.id in done)).length;
    const list = el("ul", { class: "sop", testid: "sop-list" });
    for (const step of steps) {
      const text = (step.text && (step.text[lang] || step.text.en || step.text.id)) || step.id;
      const box = el("input", { type: "checkbox", testid: "sop-step", "data-step": step.id, checked: step.id in done, disabled: !editable });
      box.addEventListener("change", () => toggleSop(a, step.id, box.checked));
      list.append(
        el(
          "li",
          { class: `sop-step${step.id in done ? " done" : ""}${step.required ? " required" : ""}` },
          el(
            "label",
            {},
            box,
            el("span", { class: "sop-text" }, text),
            step.required ? el("span", { class: "req", title: t("sop.required") }, ` * ${t("sop.requiredShort")}`) : null,
          ),
          step.id in done ? el("span", { class: "sop-who" }, t("sop.by", { user: done[step.id] })) : null,
        ),
      );
    }
    return el(
      "section",
      { class: "d-section", testid: "sop" },
      el("h3", {}, t("sop.title"), el("span", { class: `sub${requiredOpen ? " warn-text" : ""}` }, ` ${t("sop.summary", { done: count, total: steps.length, open: requiredOpen })}`)),
      list,
    );
  }

  function clipUrl(incident, a) {
    if (incident.clip_url !== undefined) return incident.clip_url;
    return a.source_kind === "camera" ? `/api/v1/incidents/${seg(incident.id)}/clip?download=1` : null;
  }

  function stopPlayers() {
    for (const player of players.values()) player.destroy();
    players.clear();
    playerIncident = null;
  }

  // The clip in the browser: opening it is one recorded viewing, so a player is made on request only.
  function clipPlayer(incident) {
    let player = players.get(incident.id);
    if (!player) {
      player = P.player.create(`/api/v1/incidents/${seg(incident.id)}/clip/frames`);
      players.set(incident.id, player);
    }
    const closePlayer = () => {
      player.destroy();
      players.delete(incident.id);
      playerIncident = null;
      render();
    };
    return el(
      "figure",
      { class: "evidence evidence-clip" },
      player.node,
      el(
        "figcaption",
        {},
        `${t("evidence.clipOf")} ${P.i18n.dateTime(incident.ts)} · ${incident.title} `,
        el("button", { type: "button", class: "btn small", testid: "player-close", onclick: closePlayer }, t("player.close")),
      ),
    );
  }

  function snapshotImage(incident) {
    let img = snapshots.get(incident.id);
    if (!img) {
      img = el("img", { class: "snapshot", src: incident.snapshot_url, alt: t("evidence.snapshotAlt"), testid: "evidence-snapshot" });
      img.addEventListener("click", () => img.classList.toggle("zoomed"));
      img.addEventListener("error", () => {
        img.replaceWith(el("div", { class: "muted" }, t("evidence.snapshotMissing")));
      });
      snapshots.set(incident.id, img);
    }
    return img;
  }

  function evidence(a) {
    if (!data) return null;
    const incidents = [...(data.incidents || [])].sort((x, y) => Date.parse(y.ts) - Date.parse(x.ts));
    if (!P.can.evidence()) return section("evidence.title", el("p", { class: "muted" }, t("evidence.noRole")));
    if (!incidents.length) return section("evidence.title", el("p", { class: "muted" }, t("evidence.none")));
    const shown = incidents.find((i) => i.id === shownIncident && i.snapshot_url) || incidents.find((i) => i.snapshot_url);
    const figure = shown
      ? el(
          "figure",
          { class: "evidence" },
          snapshotImage(shown),
          el("figcaption", {}, `${P.i18n.dateTime(shown.ts)} · ${shown.title}`),
        )
      : el("p", { class: "muted" }, t("evidence.noSnapshot"));
    const playing = incidents.find((i) => i.id === playerIncident && clipUrl(i, a));
    const rows = incidents.map((inc) => {
      const clip = clipUrl(inc, a);
      return el(
        "tr",
        { class: inc === shown ? "current" : "" },
        el("td", { class: "num" }, P.i18n.dateTime(inc.ts)),
        el("td", {}, P.i18n.tOr(`phase.${inc.phase}`, inc.phase)),
        el("td", {}, P.i18n.tOr(`sev.${inc.severity}`, inc.severity)),
        el("td", { class: "num" }, confidenceText(inc) || ""),
        el("td", {}, inc.title, inc.zone ? el("span", { class: "sub" }, ` · ${inc.zone}`) : null),
        el(
          "td",
          { class: "nowrap" },
          inc.snapshot_url && inc !== shown
            ? el("button", { type: "button", class: "btn small", onclick: () => { shownIncident = inc.id; render(); } }, t("evidence.show"))
            : null,
          clip && inc !== playing
            ? el("button", { type: "button", class: "btn small", testid: "clip-play", onclick: () => { playerIncident = inc.id; render(); } }, t("evidence.play"))
            : null,
          clip ? el("a", { class: "btn small", href: clip, download: `${inc.id}.avi`, testid: "clip-download" }, t("evidence.clip")) : null,
        ),
      );
    });
    return section(
      "evidence.title",
      figure,
      playing ? clipPlayer(playing) : null,
      el(
        "table",
        { class: "grid small", testid: "incidents" },
        el("thead", {}, el("tr", {}, ["evidence.when", "evidence.phase", "evidence.severity", "evidence.confidence", "evidence.what", ""].map((k) => el("th", {}, k ? t(k) : "")))),
        el("tbody", {}, rows),
      ),
    );
  }

  function mapSection(a) {
    if (!miniMap) miniMap = P.map.create(mapBox, { mode: "mini", onAlertClick: (id) => open(id) });
    const list = P.openAlerts();
    if (!list.some((x) => x.id === a.id)) list.push(a);
    miniMap.update({ alerts: list, selectedId: a.id });
    return section("detail.map", mapBox);
  }

  function alertLink(other) {
    return el(
      "button",
      { type: "button", class: "link-row", testid: "related-alert", "data-alert-id": other.id, onclick: () => open(other.id) },
      P.util.prioBadge(other.priority),
      el("span", { class: "title" }, other.title),
      P.util.statusNode(other.status),
    );
  }

  function related(a) {
    const full = (data && data.related) || [];
    const ids = new Set(full.map((r) => r.id));
    const rest = (a.related || []).filter((id) => !ids.has(id));
    if (!full.length && !rest.length) return null;
    return section(
      "detail.related",
      el("div", { class: "links" }, full.map(alertLink), rest.map((id) => el("button", { type: "button", class: "link-row", onclick: () => open(id) }, id))),
    );
  }

  function casesSection() {
    if (!cases || !cases.length) return null;
    return section(
      "detail.cases",
      el(
        "div",
        { class: "links" },
        cases.map((c) =>
          el("button", { type: "button", class: "link-row", onclick: () => { S().focusCase = c.id; P.go("cases"); } }, el("span", { class: "title" }, c.title), el("span", { class: "sub" }, ` · ${c.alert_ids.length}`)),
        ),
      ),
    );
  }

  function notes() {
    if (!data) return null;
    const list = data.notes || [];
    return section(
      "detail.notes",
      list.length
        ? el(
            "ul",
            { class: "notes", testid: "notes" },
            list.map((n) =>
              el(
                "li",
                {},
                el("div", { class: "meta" }, `${n.actor} · ${P.i18n.dateTime(n.at)}`),
                el("div", { class: "text" }, (n.detail && n.detail.text) || ""),
                // A photo from the scene (a responder's note): served under the evidence access record.
                n.detail && n.detail.photo_id && alert
                  ? el("img", { class: "note-photo", testid: "note-photo", loading: "lazy", alt: n.actor, src: `/api/v1/alerts/${seg(alert.id)}/photos/${seg(n.detail.photo_id)}`, style: { display: "block", maxWidth: "100%", marginTop: "4px" } })
                  : null,
              ),
            ),
          )
        : el("p", { class: "muted" }, t("detail.noNotes")),
    );
  }

  function auditSummary(d) {
    const parts = [];
    if (!d) return "";
    if (d.from_status && d.to_status && d.from_status !== d.to_status) parts.push(`${d.from_status} → ${d.to_status}`);
    if (d.assignee) parts.push(`${t("f.assignee")}: ${d.assignee}`);
    if (d.close_reason) parts.push(P.i18n.tOr(`close.${d.close_reason}`, d.close_reason));
    if (d.step) parts.push(`${t("sop.step")} ${d.step} ${d.done ? "✓" : "✗"}`);
    if (d.responder_status) parts.push(P.i18n.tOr(`resp.${d.responder_status}`, d.responder_status));
    if (d.reason) parts.push(`${t("f.reason")}: ${d.reason}`);
    if (d.sop_override) parts.push(`${t("sop.override")}: ${d.sop_override.reason} (${(d.sop_override.steps_open || []).join(", ")})`);
    if (d.text) parts.push(`“${String(d.text).slice(0, 200)}”`);
    return parts.join(" · ");
  }

  function audit() {
    if (!data) return null;
    const rows = [...(data.audit || [])].sort((x, y) => Date.parse(y.at) - Date.parse(x.at));
    return section(
      "detail.audit",
      el(
        "table",
        { class: "grid small", testid: "audit" },
        el("thead", {}, el("tr", {}, ["audit.when", "audit.who", "audit.what", "audit.version", "audit.detail"].map((k) => el("th", {}, t(k))))),
        el(
          "tbody",
          {},
          rows.map((r) =>
            el(
              "tr",
              {},
              el("td", { class: "num nowrap" }, P.i18n.dateTime(r.at)),
              el("td", {}, r.actor),
              el("td", {}, P.i18n.tOr(`change.${r.change}`, r.change)),
              el("td", { class: "num" }, String(r.version)),
              el("td", {}, auditSummary(r.detail)),
            ),
          ),
        ),
      ),
    );
  }

  function deliveries() {
    if (!data) return null;
    const rows = data.deliveries || [];
    if (!rows.length) return section("detail.deliveries", el("p", { class: "muted" }, t("detail.noDeliveries")));
    return section(
      "detail.deliveries",
      el(
        "table",
        { class: "grid small", testid: "deliveries" },
        el("thead", {}, el("tr", {}, ["deliv.when", "deliv.channel", "deliv.recipient", "deliv.kind", "deliv.status", "deliv.attempts", "deliv.sent"].map((k) => el("th", {}, t(k))))),
        el(
          "tbody",
          {},
          rows.map((d) =>
            el(
              "tr",
              {},
              el("td", { class: "num nowrap" }, P.i18n.dateTime(d.created_at)),
              el("td", {}, d.channel),
              el("td", {}, d.recipient),
              el("td", {}, d.kind),
              el("td", { class: `deliv-${d.status}` }, d.status, d.last_error ? el("div", { class: "sub" }, d.last_error) : null),
              el("td", { class: "num" }, String(d.attempts)),
              el("td", { class: "num nowrap" }, d.sent_at ? P.i18n.dateTime(d.sent_at) : "—"),
            ),
          ),
        ),
      ),
    );
  }

  function render() {
    const state = S();
    if (!state || !state.detailId) return;
    const body = panel.querySelector(".d-body");
    const scroll = body ? body.scrollTop : 0;
    const a = alert;
    if (!a) {
      panel.replaceChildren(
        el(
          "div",
          { class: "d-head" },
          el("h2", { id: "detail-title", class: "d-title", tabindex: -1 }, loadError ? t("detail.error") : t("detail.loading")),
          el("button", { type: "button", class: "icon-btn", testid: "detail-close", title: t("detail.close"), onclick: close }, "✕"),
        ),
        loadError ? el("div", { class: "error", role: "alert", testid: "detail-error" }, loadError) : null,
      );
      return;
    }
    const error = el("div", { class: "error d-error", role: "alert", testid: "detail-error", hidden: !errorText && !loadError }, errorText || loadError);
    const content = el(
      "div",
      { class: "d-body" },
      el("section", { class: "d-section d-reason" }, el("h3", {}, t("detail.why")), el("p", { testid: "detail-reason" }, a.priority_reason)),
      sop(a),
      evidence(a),
      section("detail.facts", facts(a)),
      evidenceFacts(a),
      mapSection(a),
      related(a),
      casesSection(),
      notes(),
      audit(),
      deliveries(),
      !data && !loadError ? el("p", { class: "muted" }, t("detail.loading")) : null,
    );
    panel.replaceChildren(...header(a), error, actions(a), content);
    content.scrollTop = scroll;
  }

  // ---- live updates --------------------------------------------------------------------------
  P.on("alert", (updated) => {
    const state = S();
    if (!state.detailId || updated.id !== state.detailId) return;
    if (alert && ver(updated) < ver(alert)) return;
    const changed = !alert || ver(updated) !== ver(alert);
    alert = updated;
    if (changed) {
      render();
      scheduleReload(1500); // audit, notes and deliveries of the change
    }
  });
  P.on("alert-gone", (id) => {
    if (id === S().detailId) scheduleReload(300);
  });
  P.on("alerts-changed", () => {
    if (miniMap && alert) {
      const list = P.openAlerts();
      if (!list.some((x) => x.id === alert.id)) list.push(alert);
      miniMap.update({ alerts: list, selectedId: alert.id });
    }
  });
  P.on("lang", () => render());
  P.on("logout", () => close());

  P.detail = { open, close, act, isWide, reload: load, current: () => alert };
})();

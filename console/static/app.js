/* Pantau console: core of the operator page. Session (login, logout), the live alert feed over the
 * websocket (or polling for planners, who may not watch it), the queue, the router between views,
 * the generic dialog, keyboard shortcuts and the alarm sound.
 *
 * Loaded last: dom.js, api.js, i18n.js, map.js, detail.js, views.js and zones.js register their
 * parts on window.Pantau first. */
(() => {
  "use strict";
  const P = window.Pantau;
  const { el, $, $$, clear, show, toast, isTyping, storeGet, storeSet } = P.dom;
  const t = (key, vars) => P.i18n.t(key, vars);

  const OPEN = new Set(["new", "acknowledged", "assigned"]);
  const VIEWS = ["queue", "map", "cases", "handover", "health", "zones", "admin"];
  const POLL_MS = 5000;
  const WATCHDOG_MS = 75000; // no message at all (not even a heartbeat) for this long: reconnect
  const FRESH_MS = 12000; // how long a newly arrived alert stays highlighted

  const S = (P.state = {
    me: null,
    config: null,
    alerts: new Map(), // open alerts by id, from the feed
    lastSeq: null,
    haveSnapshot: false,
    selectedId: null, // keyboard cursor in the queue
    detailId: null, // alert shown in the detail panel
    checked: new Set(), // alerts selected for a case
    fresh: new Map(), // id -> when it arrived
    view: null,
    conn: "down",
    filters: {
      district: storeGet("pantau.filter.district", ""),
      minPriority: Number(storeGet("pantau.filter.priority", "4")) || 4,
    },
  });

  // ---- roles ---------------------------------------------------------------------------------
  const role = () => (S.me ? S.me.role : null);
  const isOneOf = (...roles) => roles.includes(role());
  const can = (P.can = {
    command: () => isOneOf("operator", "admin"),
    report: () => isOneOf("responder"),
    note: () => isOneOf("operator", "admin", "responder"),
    override: () => isOneOf("admin"),
    evidence: () => isOneOf("operator", "admin", "responder"),
    readCases: () => isOneOf("operator", "admin", "planner"),
    handover: () => isOneOf("operator", "admin", "planner"),
    health: () => isOneOf("operator", "admin", "planner"),
    zones: () => isOneOf("admin"),
    admin: () => isOneOf("admin"),
    liveFeed: () => isOneOf("operator", "admin", "responder"),
  });
  const VIEW_ALLOWED = {
    queue: () => true,
    map: () => true,
    cases: can.readCases,
    handover: can.handover,
    health: can.health,
    zones: can.zones,
    admin: can.admin,
  };

  // ---- shared helpers ------------------------------------------------------------------------
  function device(id) {
    const config = S.config || {};
    return (config.cameras || []).find((c) => c.id === id) || (config.sensors || []).find((s) => s.id === id) || null;
  }
  function deviceName(id) {
    const d = device(id);
    return d && d.name && d.name !== id ? `${d.name} (${id})` : String(id || "—");
  }
  function districtOf(alert) {
    if (alert.location && alert.location.district) return alert.location.district;
    const d = device(alert.source);
    return d ? d.district || "" : "";
  }
  const prioBadge = (p) => el("span", { class: `prio p${p}`, title: t(`prio.${p}`) }, `P${p}`);
  const statusNode = (status) => el("span", { class: `status st-${status}` }, t(`status.${status}`));
  const typeLabel = (type) => P.i18n.tOr(`type.${type}`, String(type || "").replace(/_/g, " "));
  const kindLabel = (kind) => P.i18n.tOr(`kind.${kind}`, kind || "");
  P.util = { OPEN, device, deviceName, districtOf, prioBadge, statusNode, typeLabel, kindLabel };

  // ---- sound ---------------------------------------------------------------------------------
  const sound = {
    ctx: null,
    on: storeGet("pantau.sound", "on") !== "off",
    last: 0,
    unlock() {
      try {
        if (!this.ctx) {
          const Ctx = window.AudioContext || window.webkitAudioContext;
          if (Ctx) this.ctx = new Ctx();
        }
        if (this.ctx && this.ctx.state === "suspended") this.ctx.resume().catch(() => {});
      } catch {
        this.ctx = null;
      }
    },
    beep(times = 3) {
      if (!this.on || !this.ctx || this.ctx.state !== "running") return;
      const now = this.ctx.currentTime;
      if (performance.now() - this.last < 1500) return;
      this.last = performance.now();
      for (let i = 0; i < times; i++) {
        const start = now + i * 0.22;
        const osc = this.ctx.createOscillator();
        const gain = this.ctx.createGain();
        osc.type = "square";
        osc.frequency.value = i % 2 ? 660 : 880;
        gain.gain.setValueAtTime(0.0001, start);
        gain.gain.exponentialRampToValueAtTime(0.2, start + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.18);
        osc.connect(gain).connect(this.ctx.destination);
        osc.start(start);
        osc.stop(start + 0.2);
      }
    },
  };
  P.sound = sound;
  // Browsers start audio only after a gesture: any click or key unlocks it (the login click counts).
  document.addEventListener("pointerdown", () => sound.unlock(), { capture: true });
  document.addEventListener("keydown", () => sound.unlock(), { capture: true });

  function renderSoundToggle() {
    const button = $("#sound-toggle");
    button.setAttribute("aria-pressed", String(sound.on));
    button.replaceChildren(sound.on ? "♪ " : "× ", el("span", { class: "label" }, sound.on ? t("sound.on") : t("sound.off")));
    button.title = t("sound.title");
  }

  // ---- alert store ---------------------------------------------------------------------------
  const isNewP1 = (prev, alert) => alert.priority === 1 && OPEN.has(alert.status) && (!prev || prev.priority !== 1);

  /** Apply one alert state (from the feed or a command's answer); older versions are ignored. */
  function applyAlert(alert, { alarm = true } = {}) {
    if (!alert || !alert.id) return false;
    const prev = S.alerts.get(alert.id);
    if (prev && Number(alert.version) < Number(prev.version)) return false;
    if (OPEN.has(alert.status)) S.alerts.set(alert.id, alert);
    else S.alerts.delete(alert.id);
    if (!prev && OPEN.has(alert.status) && S.haveSnapshot) S.fresh.set(alert.id, Date.now());
    if (alarm && S.haveSnapshot && isNewP1(prev, alert)) sound.beep();
    P.emit("alert", alert);
    scheduleRender();
    return true;
  }

  function replaceAll(list, { alarm }) {
    const before = S.alerts;
    S.alerts = new Map();
    let ring = false;
    for (const alert of list || []) {
      if (!OPEN.has(alert.status)) continue;
      const prev = before.get(alert.id);
      if (prev && Number(alert.version) < Number(prev.version)) {
        S.alerts.set(alert.id, prev);
        continue;
      }
      S.alerts.set(alert.id, alert);
      if (alarm && isNewP1(prev, alert)) ring = true;
      if (alarm && !prev) S.fresh.set(alert.id, Date.now());
      if (!prev || prev.version !== alert.version) P.emit("alert", alert);
    }
    for (const id of before.keys()) if (!S.alerts.has(id)) P.emit("alert-gone", id);
    if (ring) sound.beep();
    S.haveSnapshot = true;
    scheduleRender();
  }
  P.store = { applyAlert };

  // ---- live feed -----------------------------------------------------------------------------
  const feed = { ws: null, stopped: true, timer: null, watchdog: null, failures: 0, pollTimer: null };

  function setConn(state) {
    S.conn = state;
    const node = $("#conn");
    node.dataset.state = state;
    node.textContent = state === "live" ? t("conn.live") : t("conn.down");
    node.title = state === "live" ? t("conn.liveTitle") : t("conn.downTitle");
  }

  function startFeed() {
    stopFeed();
    feed.stopped = false;
    if (can.liveFeed()) connect();
    else poll();
  }

  function stopFeed() {
    feed.stopped = true;
    clearTimeout(feed.timer);
    clearTimeout(feed.watchdog);
    clearTimeout(feed.pollTimer);
    if (feed.ws) {
      const ws = feed.ws;
      feed.ws = null;
      try {
        ws.close();
      } catch {
        /* already closed */
      }
    }
    setConn("down");
  }

  function armWatchdog(ws) {
    clearTimeout(feed.watchdog);
    feed.watchdog = setTimeout(() => {
      if (feed.ws === ws) ws.close();
    }, WATCHDOG_MS);
  }

  function connect() {
    clearTimeout(feed.timer);
    if (feed.stopped) return;
    const url = new URL("/ws/alerts", location.href);
    url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    // After repeated failures to resume, ask for a fresh snapshot instead.
    if (S.lastSeq !== null && feed.failures < 3) url.searchParams.set("since", String(S.lastSeq));
    const resuming = url.searchParams.has("since");
    let ws;
    try {
      ws = new WebSocket(url.href);
    } catch {
      scheduleReconnect();
      return;
    }
    feed.ws = ws;
    let opened = false;
    ws.addEventListener("open", () => {
      opened = true;
      feed.failures = 0;
      // A fresh connection is live once its snapshot is shown; a resumed one is live at once.
      if (resuming) setConn("live");
      armWatchdog(ws);
    });
    ws.addEventListener("message", (event) => {
      if (feed.ws !== ws) return;
      armWatchdog(ws);
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      handleMessage(message);
    });
    ws.addEventListener("close", () => {
      if (feed.ws !== ws) return;
      feed.ws = null;
      clearTimeout(feed.watchdog);
      setConn("down");
      if (feed.stopped) return;
      if (!opened) {
        feed.failures += 1;
        // A refused handshake may mean the session ended: /me answers 401 and the login shows.
        P.api.get("/api/v1/me").catch(() => {});
      }
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    if (feed.stopped) return;
    const base = Math.min(1000 * 2 ** Math.min(feed.failures, 4), 15000);
    feed.timer = setTimeout(connect, base + Math.random() * 500);
  }

  function handleMessage(message) {
    switch (message.type) {
      case "snapshot":
        replaceAll(message.alerts, { alarm: S.haveSnapshot });
        renderAll(); // at once: "live" means the board on screen is current
        setConn("live");
        if (message.reason === "resync") toast(t("feed.resync"));
        break;
      case "alert":
        applyAlert(message.alert);
        break;
      case "alerts":
        for (const alert of message.alerts || []) applyAlert(alert);
        break;
      case "heartbeat":
        break;
      default:
        return;
    }
    if (typeof message.seq === "number") S.lastSeq = message.seq;
  }

  /** Planners may not watch the websocket: they poll the live board instead. */
  async function poll() {
    if (feed.stopped) return;
    try {
      const list = await P.api.get("/api/v1/alerts/open");
      if (feed.stopped) return;
      replaceAll(list, { alarm: S.haveSnapshot });
      renderAll();
      setConn("live");
    } catch {
      setConn("down");
    }
    if (!feed.stopped) feed.pollTimer = setTimeout(poll, POLL_MS);
  }

  // ---- queue ---------------------------------------------------------------------------------
  let renderPending = false;
  function scheduleRender() {
    if (renderPending) return;
    renderPending = true;
    requestAnimationFrame(() => {
      renderPending = false;
      renderAll();
    });
  }
  P.scheduleRender = scheduleRender;

  function renderAll() {
    if (!S.me) return;
    renderQueue();
    renderCounts();
    P.emit("alerts-changed");
  }

  function byUrgency(a, b) {
    return a.priority - b.priority || Date.parse(b.first_seen) - Date.parse(a.first_seen) || (a.id < b.id ? -1 : 1);
  }

  function visibleAlerts() {
    const district = (S.filters.district || "").toLowerCase();
    return [...S.alerts.values()]
      .filter((a) => a.priority <= S.filters.minPriority)
      .filter((a) => !district || districtOf(a).toLowerCase() === district)
      .sort(byUrgency);
  }
  P.openAlerts = () => [...S.alerts.values()].sort(byUrgency);

  function flag(text, cls = "") {
    return el("span", { class: `flag ${cls}` }, text);
  }

  function rowFor(a) {
    const classes = ["row", `rp${a.priority}`];
    if (a.id === S.selectedId) classes.push("selected");
    if (a.id === S.detailId) classes.push("opened");
    if (a.condition_active === false) classes.push("cleared");
    if (S.fresh.has(a.id)) classes.push("fresh");
    if (S.checked.has(a.id)) classes.push("checked");
    const flags = [];
    if (a.condition_active === false) flags.push(flag(t("flag.cleared")));
    if (a.suppressed) flags.push(flag(t("flag.suppressed")));
    if (a.flapping) flags.push(flag(t("flag.flapping"), "warn"));
    if (a.escalation_level > 0) flags.push(flag(t("flag.escalated", { n: a.escalation_level }), "warn"));
    if (a.notes > 0) flags.push(flag(`✎ ${a.notes}`));
    const responders = Object.entries(a.responders || {})
      .map(([who, st]) => `${who}: ${P.i18n.tOr(`resp.${st}`, st)}`)
      .join(", ");
    return el(
      "tr",
      { class: classes.join(" "), testid: "alert-row", "data-alert-id": a.id, "data-status": a.status, "data-priority": a.priority },
      el(
        "td",
        { class: "c-check" },
        el("input", { type: "checkbox", class: "case-pick", testid: "alert-check", checked: S.checked.has(a.id), tabindex: -1, "aria-label": t("queue.pick") }),
      ),
      el("td", { class: "c-prio" }, prioBadge(a.priority)),
      el(
        "td",
        { class: "c-title" },
        el("div", { class: "title" }, a.title),
        el("div", { class: "why" }, a.priority_reason),
        flags.length ? el("div", { class: "flags" }, flags) : null,
      ),
      el("td", { class: "c-src" }, deviceName(a.source), el("div", { class: "sub" }, `${kindLabel(a.source_kind)} · ${typeLabel(a.type)}`)),
      el("td", { class: "c-dist" }, districtOf(a) || "—"),
      el("td", { class: "c-count num" }, a.count > 1 ? `×${a.count}` : "1"),
      el(
        "td",
        { class: "c-age num" },
        el("span", { class: "age", "data-since": a.first_seen, title: P.i18n.dateTime(a.first_seen) }, P.i18n.age(Date.now() - Date.parse(a.first_seen))),
      ),
      el("td", { class: "c-status" }, statusNode(a.status)),
      el("td", { class: "c-assignee" }, a.assignee || "—", responders ? el("div", { class: "sub" }, responders) : null),
    );
  }

  function renderQueue() {
    const body = $("#queue-body");
    const list = visibleAlerts();
    S.visible = list.map((a) => a.id);
    body.replaceChildren(...list.map(rowFor));
    const empty = $("#queue-empty");
    empty.textContent = S.alerts.size ? t("queue.emptyFiltered", { n: S.alerts.size }) : t("queue.empty");
    show(empty, list.length === 0);
    $("#queue-shown").textContent = t("queue.shown", { n: list.length, total: S.alerts.size });
    renderSelectionBar();
  }

  function renderCounts() {
    const counts = [0, 0, 0, 0, 0];
    for (const a of S.alerts.values()) counts[a.priority] = (counts[a.priority] || 0) + 1;
    const box = clear($("#counts"));
    for (let p = 1; p <= 4; p++) {
      box.append(el("span", { class: `count p${p}${counts[p] ? "" : " zero"}`, title: t(`prio.${p}`), testid: `count-p${p}` }, `P${p} ${counts[p]}`));
    }
    document.title = counts[1] ? `(${counts[1]}) ${t("app.title")}` : t("app.title");
  }

  function renderSelectionBar() {
    const n = S.checked.size;
    const editable = can.command();
    $("#sel-info").textContent = n ? t("queue.selected", { n }) : "";
    for (const id of ["#case-link", "#case-add", "#sel-clear"]) {
      const button = $(id);
      show(button, editable || id === "#sel-clear");
      button.disabled = n === 0;
    }
    show($("#sel-clear"), n > 0);
  }

  function renderFilters() {
    const prio = clear($("#chips-priority"));
    const options = [
      [1, "P1"],
      [2, "≤ P2"],
      [3, "≤ P3"],
      [4, t("filter.all")],
    ];
    prio.append(el("span", { class: "chips-label" }, t("filter.priority")));
    for (const [value, label] of options) {
      prio.append(
        el(
          "button",
          {
            type: "button",
            class: "chip",
            testid: `filter-priority-${value}`,
            "aria-pressed": String(S.filters.minPriority === value),
            onclick: () => setFilter({ minPriority: value }),
          },
          label,
        ),
      );
    }
    const dist = clear($("#chips-district"));
    dist.append(el("span", { class: "chips-label" }, t("filter.district")));
    const districts = (S.config && S.config.districts) || [];
    for (const value of ["", ...districts]) {
      dist.append(
        el(
          "button",
          {
            type: "button",
            class: "chip",
            testid: "filter-district",
            "data-district": value,
            "aria-pressed": String((S.filters.district || "") === value),
            onclick: () => setFilter({ district: value }),
          },
          value || t("filter.all"),
        ),
      );
    }
  }

  function setFilter(change) {
    Object.assign(S.filters, change);
    storeSet("pantau.filter.district", S.filters.district || "");
    storeSet("pantau.filter.priority", String(S.filters.minPriority));
    renderFilters();
    renderQueue();
  }

  function select(id, { scroll = true } = {}) {
    S.selectedId = id;
    for (const row of $$("#queue-body tr.selected")) row.classList.remove("selected");
    const row = id ? $(`#queue-body tr[data-alert-id="${CSS.escape(id)}"]`) : null;
    if (row) {
      row.classList.add("selected");
      if (scroll) row.scrollIntoView({ block: "nearest" });
    }
  }

  function moveSelection(delta) {
    const ids = S.visible || [];
    if (!ids.length) return;
    const at = ids.indexOf(S.selectedId);
    const next = at < 0 ? (delta > 0 ? 0 : ids.length - 1) : Math.min(Math.max(at + delta, 0), ids.length - 1);
    select(ids[next]);
    if (S.detailId && P.detail.isWide()) P.detail.open(ids[next]);
  }

  function toggleChecked(id) {
    if (!id) return;
    if (S.checked.has(id)) S.checked.delete(id);
    else S.checked.add(id);
    const row = $(`#queue-body tr[data-alert-id="${CSS.escape(id)}"]`);
    if (row) {
      row.classList.toggle("checked", S.checked.has(id));
      const box = row.querySelector("input.case-pick");
      if (box) box.checked = S.checked.has(id);
    }
    renderSelectionBar();
    P.emit("checked-changed");
  }
  P.queue = {
    select,
    toggleChecked,
    clearChecked() {
      S.checked.clear();
      renderQueue();
      P.emit("checked-changed");
    },
  };

  $("#queue-body").addEventListener("click", (event) => {
    const row = event.target.closest("tr[data-alert-id]");
    if (!row) return;
    const id = row.getAttribute("data-alert-id");
    if (event.target.closest(".c-check")) {
      if (event.target.tagName !== "INPUT") event.preventDefault();
      toggleChecked(id);
      return;
    }
    select(id, { scroll: false });
    P.detail.open(id);
  });

  // Live ages, and the end of the "just arrived" highlight.
  setInterval(() => {
    const now = Date.now();
    for (const node of $$(".age[data-since]")) {
      const since = Date.parse(node.getAttribute("data-since"));
      if (Number.isFinite(since)) node.textContent = P.i18n.age(now - since);
    }
    let expired = false;
    for (const [id, at] of S.fresh) {
      if (now - at > FRESH_MS) {
        S.fresh.delete(id);
        expired = true;
      }
    }
    if (expired) for (const row of $$("#queue-body tr.fresh")) if (!S.fresh.has(row.getAttribute("data-alert-id"))) row.classList.remove("fresh");
  }, 1000);

  // ---- router --------------------------------------------------------------------------------
  P.views = P.views || {};

  function currentRoute() {
    const name = location.hash.replace(/^#\/?/, "").split(/[/?]/)[0] || "queue";
    return VIEWS.includes(name) && VIEW_ALLOWED[name]() ? name : "queue";
  }

  function showView(name) {
    const previous = S.view;
    if (previous && previous !== name && P.views[previous] && P.views[previous].leave) P.views[previous].leave();
    for (const view of VIEWS) show($(`#view-${view}`), view === name);
    for (const link of $$("#nav a[data-view]")) {
      if (link.dataset.view === name) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    }
    S.view = name;
    document.body.dataset.view = name;
    if (previous !== name && P.views[name] && P.views[name].enter) P.views[name].enter();
  }

  function go(name) {
    if (location.hash !== `#/${name}`) location.hash = `#/${name}`;
    else showView(currentRoute());
  }
  P.go = go;
  window.addEventListener("hashchange", () => {
    if (S.me) showView(currentRoute());
  });

  function renderNav() {
    for (const link of $$("#nav a[data-view]")) show(link, VIEW_ALLOWED[link.dataset.view]());
  }

  // ---- dialog --------------------------------------------------------------------------------
  let closeDialog = null;

  /**
   * An in-page dialog. opts: {title, message, select: {label, options: [{value, label}], value},
   * input: {label, value, placeholder, multiline, required, maxLength}, okText, danger, validate}.
   * Resolves {input, select} or null when cancelled.
   */
  P.dialog = function dialog(opts) {
    if (closeDialog) closeDialog(null);
    return new Promise((resolve) => {
      const box = $("#dialog");
      const returnFocus = document.activeElement;
      const form = el("form", { class: "dialog-card", novalidate: true, role: "dialog", "aria-modal": "true", "aria-labelledby": "dialog-title" });
      form.append(el("h2", { id: "dialog-title" }, opts.title || ""));
      if (opts.message) form.append(el("p", { class: "dialog-message", testid: "dialog-message" }, opts.message));
      let select = null;
      let input = null;
      if (opts.select) {
        select = el("select", { testid: "dialog-select", id: "dialog-select" });
        for (const o of opts.select.options || []) select.append(el("option", { value: o.value }, o.label));
        if (opts.select.value !== undefined) select.value = opts.select.value;
        form.append(el("label", { class: "field", for: "dialog-select" }, el("span", {}, opts.select.label || ""), select));
      }
      if (opts.input) {
        const common = {
          testid: "dialog-input",
          id: "dialog-input",
          placeholder: opts.input.placeholder || "",
          maxlength: opts.input.maxLength || 4000,
          autocomplete: "off",
        };
        input = opts.input.multiline ? el("textarea", { ...common, rows: 5 }) : el("input", { ...common, type: "text" });
        input.value = opts.input.value || "";
        if (opts.input.list) {
          const list = el("datalist", { id: "dialog-datalist" }, opts.input.list.map((v) => el("option", { value: v })));
          input.setAttribute("list", "dialog-datalist");
          form.append(list);
        }
        form.append(el("label", { class: "field", for: "dialog-input" }, el("span", {}, opts.input.label || ""), input));
        if (opts.input.multiline) {
          input.addEventListener("keydown", (event) => {
            if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
          });
        }
      }
      const error = el("div", { class: "error", testid: "dialog-error", role: "alert", hidden: true });
      form.append(error);
      const cancel = el("button", { type: "button", class: "btn", testid: "dialog-cancel", onclick: () => finish(null) }, t("dlg.cancel"));
      const ok = el("button", { type: "submit", class: `btn ${opts.danger ? "danger" : "primary"}`, testid: "dialog-ok" }, opts.okText || t("dlg.ok"));
      form.append(el("div", { class: "dialog-buttons" }, cancel, ok));
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const values = { input: input ? input.value : null, select: select ? select.value : null };
        let problem = null;
        if (opts.input && opts.input.required && !String(values.input).trim()) problem = t("dlg.required");
        if (!problem && opts.validate) problem = opts.validate(values);
        if (problem) {
          error.textContent = problem;
          error.hidden = false;
          return;
        }
        finish(values);
      });
      function finish(value) {
        if (closeDialog !== finish) return;
        closeDialog = null;
        box.hidden = true;
        box.replaceChildren();
        if (returnFocus && typeof returnFocus.focus === "function" && document.contains(returnFocus)) returnFocus.focus();
        resolve(value);
      }
      closeDialog = finish;
      box.replaceChildren(form);
      box.hidden = false;
      (input || select || ok).focus();
    });
  };
  $("#dialog").addEventListener("mousedown", (event) => {
    if (event.target === event.currentTarget && closeDialog) closeDialog(null);
  });

  // ---- help and keyboard ---------------------------------------------------------------------
  function toggleHelp(visible) {
    const help = $("#help");
    help.hidden = visible === undefined ? !help.hidden : !visible;
    if (!help.hidden) $("#help-close").focus();
  }
  $("#help-btn").addEventListener("click", () => toggleHelp());
  $("#help-close").addEventListener("click", () => toggleHelp(false));
  $("#help").addEventListener("mousedown", (event) => {
    if (event.target === event.currentTarget) toggleHelp(false);
  });

  const anyModalOpen = () => !$("#dialog").hidden || !$("#help").hidden || !$("#manual").hidden;

  function escape(event) {
    if (closeDialog) closeDialog(null);
    else if (!$("#help").hidden) toggleHelp(false);
    else if (!$("#manual").hidden) P.manual.close();
    else if (isTyping(event.target)) event.target.blur();
    else if (S.detailId) P.detail.close();
    else return;
    event.preventDefault();
  }

  let gPending = null;
  const G_TARGETS = { q: "queue", m: "map", c: "cases", o: "handover", h: "health", z: "zones", a: "admin" };
  const ACTION_KEYS = { a: "ack", s: "assign", r: "resolve", c: "close", n: "note" };

  function actionTarget() {
    if (S.detailId) return S.detailId;
    return S.view === "queue" ? S.selectedId : null;
  }

  document.addEventListener("keydown", (event) => {
    if (!S.me) return;
    if (event.key === "Escape") {
      escape(event);
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target) || anyModalOpen()) return;
    const key = event.key;
    if (gPending) {
      clearTimeout(gPending);
      gPending = null;
      const target = G_TARGETS[key];
      if (target && VIEW_ALLOWED[target]()) {
        event.preventDefault();
        go(target);
      }
      return;
    }
    const onButton = event.target instanceof Element && event.target.closest("button, a, summary");
    let handled = true;
    if (key === "g") gPending = setTimeout(() => (gPending = null), 1500);
    else if (key === "?") toggleHelp();
    else if ((key === "j" || key === "ArrowDown") && S.view === "queue") moveSelection(1);
    else if ((key === "k" || key === "ArrowUp") && S.view === "queue") moveSelection(-1);
    else if (key === "Enter" && S.view === "queue" && S.selectedId && !onButton) P.detail.open(S.selectedId);
    else if (key === "x" && S.view === "queue" && S.selectedId) toggleChecked(S.selectedId);
    else if (key === "m" && can.command()) P.manual.open();
    else if (ACTION_KEYS[key] && actionTarget()) P.detail.act(ACTION_KEYS[key], actionTarget());
    else handled = false;
    if (handled) event.preventDefault();
  });

  // ---- session -------------------------------------------------------------------------------
  const langToggle = $("#lang-toggle");

  function renderLang() {
    const lang = P.i18n.lang();
    langToggle.textContent = lang === "id" ? "ID · en" : "EN · id";
    langToggle.title = t("lang.title");
    langToggle.setAttribute("aria-label", t("lang.title"));
  }
  langToggle.addEventListener("click", () => {
    P.i18n.setLang(P.i18n.lang() === "id" ? "en" : "id");
  });
  P.on("lang", () => {
    P.i18n.apply(document);
    renderLang();
    renderSoundToggle();
    setConn(S.conn);
    if (S.me) {
      renderWho();
      renderFilters();
      renderAll();
    }
  });

  $("#sound-toggle").addEventListener("click", () => {
    sound.unlock();
    sound.on = !sound.on;
    storeSet("pantau.sound", sound.on ? "on" : "off");
    renderSoundToggle();
    if (sound.on) {
      sound.last = 0;
      setTimeout(() => sound.beep(1), 50);
    }
  });

  function renderWho() {
    const who = $("#whoami");
    who.textContent = S.me ? `${S.me.display_name || S.me.user} · ${P.i18n.tOr(`role.${S.me.role}`, S.me.role)}` : "";
    who.title = S.me ? S.me.user : "";
  }

  let loginCountdown = null;
  let loginThrottled = false;
  function loginError(message) {
    const box = $("#login-error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function showLogin(message) {
    S.me = null;
    show($("#boot"), false);
    show($("#app"), false);
    show($("#login"), true);
    $("#login-lang").append(langToggle);
    loginError(message);
    $("#login-username").focus();
  }

  function resetSession() {
    stopFeed();
    if (closeDialog) closeDialog(null);
    toggleHelp(false);
    if (P.manual) P.manual.close();
    if (P.detail) P.detail.close();
    if (S.view && P.views[S.view] && P.views[S.view].leave) P.views[S.view].leave();
    S.view = null;
    S.alerts = new Map();
    S.lastSeq = null;
    S.haveSnapshot = false;
    S.checked.clear();
    S.fresh.clear();
    S.selectedId = null;
    S.config = null;
    P.api.setCsrf(null);
    clear($("#queue-body"));
    P.emit("logout");
  }

  async function enter(me) {
    S.me = me;
    P.api.setCsrf(me.csrf_token);
    document.body.dataset.role = me.role;
    show($("#boot"), false);
    show($("#login"), false);
    show($("#app"), true);
    $("#lang-slot").append(langToggle);
    renderWho();
    renderNav();
    renderSoundToggle();
    show($("#manual-open"), can.command());
    try {
      S.config = await P.api.get("/api/v1/ui/config");
    } catch (error) {
      if (!S.me) return;
      S.config = { timezone: "Asia/Jakarta", cameras: [], sensors: [], districts: [], sop: {}, close_reasons: [], manual_types: [] };
      toast(t("err.config", { detail: error.detail }), "error");
    }
    P.i18n.setTimeZone(S.config.timezone);
    renderFilters();
    startFeed();
    showView(currentRoute());
    renderAll();
    P.emit("login", me);
  }

  P.api.onUnauthorized(() => {
    if (!S.me) return;
    resetSession();
    showLogin(t("login.expired"));
  });

  $("#login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    sound.unlock();
    const username = $("#login-username").value.trim();
    const password = $("#login-password").value;
    if (!username || !password) {
      loginError(t("login.missing"));
      return;
    }
    const submit = $("#login-submit");
    submit.disabled = true;
    loginError("");
    try {
      const me = await P.api.post("/api/v1/session", { username, password }, { noAuthRedirect: true });
      $("#login-password").value = "";
      await enter(me);
    } catch (error) {
      $("#login-password").value = "";
      if (error.status === 429) {
        let left = error.retryAfter || 60;
        loginThrottled = true;
        loginError(t("login.tooMany", { s: left }));
        clearInterval(loginCountdown);
        loginCountdown = setInterval(() => {
          left -= 1;
          if (left <= 0) {
            clearInterval(loginCountdown);
            loginThrottled = false;
            loginError("");
            submit.disabled = false;
          } else loginError(t("login.tooMany", { s: left }));
        }, 1000);
        return;
      }
      if (error.status === 401) loginError(error.detail ? `${t("login.bad")} (${error.detail})` : t("login.bad"));
      else if (error.status === 422) loginError(t("login.missing"));
      else loginError(t("login.failed", { detail: error.detail || error.status }));
    } finally {
      if (!loginThrottled) submit.disabled = false;
    }
  });

  $("#logout").addEventListener("click", async () => {
    try {
      await P.api.del("/api/v1/session", { noAuthRedirect: true });
    } catch (error) {
      if (error.status && error.status !== 401 && error.status !== 400) toast(error.detail, "error");
    }
    resetSession();
    showLogin("");
  });

  $("#manual-open").addEventListener("click", () => P.manual.open());
  $("#case-link").addEventListener("click", () => P.cases.linkSelected());
  $("#case-add").addEventListener("click", () => P.cases.addSelected());
  $("#sel-clear").addEventListener("click", () => P.queue.clearChecked());
  P.on("detail", () => {
    for (const row of $$("#queue-body tr")) row.classList.toggle("opened", row.getAttribute("data-alert-id") === S.detailId);
  });

  async function boot() {
    P.i18n.apply(document);
    renderLang();
    renderSoundToggle();
    setConn("down");
    try {
      const me = await P.api.get("/api/v1/me", { noAuthRedirect: true });
      await enter(me);
    } catch (error) {
      showLogin(error.status === 401 ? "" : t("login.failed", { detail: error.detail || error.status }));
    }
  }

  boot();
})();

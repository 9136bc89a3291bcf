/* Pantau responder: the phone page (/responder), an installable web app.
 *
 * The responder signs in as on the operator console (POST /api/v1/session, CSRF header on changes)
 * and sees the open alerts that are theirs: assigned or sent to them or to their team. Two sources
 * keep the list current: the websocket feed (/ws/alerts with the session cookie: alerts assigned to
 * them or their groups, live) and GET /api/v1/alerts?status=open (also what was pushed to them), read
 * on start, every POLL_MS while the page is visible, and at once when a Web Push arrives. A tap opens
 * the alert: why it matters, where (the phone's maps app by geo: URI, or OpenStreetMap), the buttons
 * Acknowledge (a new alert) / En route / On scene / Done, and a note with a photo from the scene
 * (shrunk to at most 1280 px and re-encoded as JPEG in a canvas before upload). When one of their
 * alerts is resolved or closed, a stand-down banner says so.
 *
 * Web Push: the service worker (/responder/sw.js) shows the notifications; the bell button
 * subscribes this browser through the console (/api/v1/push/...). Signing out forgets it.
 *
 * Server data only ever goes into the page as text (dom.js): never as HTML. */
(() => {
  "use strict";
  const P = window.Pantau;
  const { el, $, clear, show, toast } = P.dom;
  const t = (key, vars) => P.i18n.t(key, vars);
  const seg = P.api.seg;

  const OPEN = new Set(["new", "acknowledged", "assigned"]);
  const ENDED = new Set(["resolved", "closed"]);
  const REPORTS = [
    ["en_route", "r.enRoute", "r-en-route"],
    ["on_scene", "r.onScene", "r-on-scene"],
    ["done", "r.done", "r-done"],
  ];
  const POLL_MS = 10000;
  const WATCHDOG_MS = 75000;
  const MAX_SIDE = 1280;
  const MAX_PHOTO_BYTES = 5 * 1024 * 1024;
  const WORKER = "/responder/sw.js";
  const SCOPE = "/responder";

  const S = {
    me: null,
    config: null,
    alerts: new Map(), // my open alerts by id
    ended: new Set(), // alerts a stand-down was shown for
    lastSeq: null,
    conn: "down",
    detailId: null,
    detail: null, // GET /api/v1/alerts/{id} of the open alert
    detailError: "",
    busy: false,
    form: null, // the note form of the open alert (kept across renders: typing is never lost)
    images: new Map(), // url -> <img>: a photo is fetched (and its view recorded) once per page
  };

  // ---- helpers -------------------------------------------------------------------------------
  const prioBadge = (p) => el("span", { class: `prio p${p}`, title: t(`prio.${p}`) }, `P${p}`);
  const statusText = (a) => {
    const base = t(`status.${a.status}`);
    return a.close_reason ? `${base} (${P.i18n.tOr(`close.${a.close_reason}`, a.close_reason)})` : base;
  };
  const statusNode = (a, testid) => el("span", { class: `status st-${a.status}`, testid, "data-status": a.status }, statusText(a));
  const typeLabel = (type) => P.i18n.tOr(`type.${type}`, String(type || "").replace(/_/g, " "));
  const place = (a) => [a.location && a.location.district, a.zone, a.source].filter(Boolean).join(" · ");
  const ago = (iso) => t("r.since", { age: P.i18n.age(Date.now() - Date.parse(iso)) });
  const isNewer = (a, b) => !b || Number(a.version) >= Number(b.version);

  function myStatus(a) {
    const me = S.me ? S.me.user : null;
    return me && a.responders ? a.responders[me] || null : null;
  }

  function image(url, alt, testid) {
    let node = S.images.get(url);
    if (!node) {
      node = el("img", { src: url, alt, loading: "lazy", decoding: "async", testid });
      S.images.set(url, node);
    }
    return node;
  }

  // ---- alert store ---------------------------------------------------------------------------
  /** One alert state from the feed, the list or a command's answer; an older version is ignored. */
  function applyAlert(alert) {
    if (!alert || !alert.id) return;
    const prev = S.alerts.get(alert.id);
    if (prev && !isNewer(alert, prev)) return;
    if (S.detail && S.detail.alert.id === alert.id && !isNewer(alert, S.detail.alert)) return;
    if (OPEN.has(alert.status)) S.alerts.set(alert.id, alert);
    else {
      S.alerts.delete(alert.id);
      if (ENDED.has(alert.status) && (prev || S.detailId === alert.id)) standDown(alert);
    }
    if (S.detail && S.detail.alert.id === alert.id) {
      S.detail.alert = alert;
      scheduleDetailReload();
    }
    scheduleRender();
  }

  function standDown(alert) {
    if (S.ended.has(alert.id)) return;
    S.ended.add(alert.id);
    const banner = el(
      "div",
      { class: "banner", role: "alert", testid: "stand-down", "data-alert-id": alert.id },
      el("span", { class: "text" }, t("r.standDown", { title: alert.title, status: statusText(alert) })),
      el("button", { type: "button", class: "btn small", testid: "stand-down-dismiss", onclick: () => banner.remove() }, t("r.dismiss")),
    );
    $("#banners").prepend(banner);
    if (navigator.vibrate) navigator.vibrate(120);
  }

  /** The list from the database: what was pushed to me too. Alerts that left it are looked up once:
   * resolved or closed means a stand-down. */
  let pollTimer = null;
  let polling = false;
  async function poll() {
    clearTimeout(pollTimer);
    if (!S.me || polling) return;
    polling = true;
    try {
      const page = await P.api.get(`/api/v1/alerts${P.api.qs({ status: "open", limit: 200 })}`);
      const seen = new Set();
      for (const alert of page.alerts || []) {
        seen.add(alert.id);
        applyAlert(alert);
      }
      const missing = [...S.alerts.keys()].filter((id) => !seen.has(id));
      await Promise.all(missing.map(checkGone));
    } catch {
      /* the websocket keeps the list live; the next poll tries again */
    } finally {
      polling = false;
      if (S.me && !document.hidden) pollTimer = setTimeout(poll, POLL_MS);
    }
  }

  async function checkGone(id) {
    try {
      const data = await P.api.get(`/api/v1/alerts/${seg(id)}`);
      applyAlert(data.alert);
      if (OPEN.has(data.alert.status)) S.alerts.set(id, S.alerts.get(id) || data.alert);
    } catch (error) {
      if (error.status === 404) {
        S.alerts.delete(id); // no longer mine
        scheduleRender();
      }
    }
  }

  // ---- live feed -----------------------------------------------------------------------------
  const feed = { ws: null, stopped: true, timer: null, watchdog: null, failures: 0 };

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
    connect();
  }

  function stopFeed() {
    feed.stopped = true;
    clearTimeout(feed.timer);
    clearTimeout(feed.watchdog);
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
      if (message.type === "snapshot") {
        for (const alert of message.alerts || []) applyAlert(alert);
        setConn("live");
        poll(); // what closed while we were away, and what was only pushed to me
      } else if (message.type === "alert") applyAlert(message.alert);
      else if (message.type === "alerts") for (const alert of message.alerts || []) applyAlert(alert);
      if (typeof message.seq === "number") S.lastSeq = message.seq;
    });
    ws.addEventListener("close", () => {
      if (feed.ws !== ws) return;
      feed.ws = null;
      clearTimeout(feed.watchdog);
      setConn("down");
      if (feed.stopped) return;
      if (!opened) {
        feed.failures += 1;
        P.api.get("/api/v1/me").catch(() => {}); // a refused handshake may mean the session ended
      }
      scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    if (feed.stopped) return;
    const base = Math.min(1000 * 2 ** Math.min(feed.failures, 4), 15000);
    feed.timer = setTimeout(connect, base + Math.random() * 500);
  }

  // ---- the list ------------------------------------------------------------------------------
  let renderPending = false;
  function scheduleRender() {
    if (renderPending) return;
    renderPending = true;
    requestAnimationFrame(() => {
      renderPending = false;
      render();
    });
  }

  function byUrgency(a, b) {
    const fresh = (x) => (x.status === "new" ? 0 : 1);
    return a.priority - b.priority || fresh(a) - fresh(b) || Date.parse(b.first_seen) - Date.parse(a.first_seen);
  }

  function card(a) {
    const mine = myStatus(a);
    return el(
      "li",
      {},
      el(
        "button",
        {
          type: "button",
          class: `alert-card rp${a.priority} st-${a.status}`,
          testid: "r-alert",
          "data-alert-id": a.id,
          "data-status": a.status,
          "data-priority": a.priority,
          onclick: () => openAlert(a.id),
        },
        prioBadge(a.priority),
        el("span", { class: "title" }, a.title),
        el(
          "span",
          { class: "meta" },
          el("span", {}, place(a) || typeLabel(a.type)),
          el("span", { class: "age", "data-since": a.first_seen, title: P.i18n.dateTime(a.first_seen) }, ago(a.first_seen)),
          statusNode(a),
          mine ? el("span", {}, P.i18n.tOr(`resp.${mine}`, mine)) : null,
        ),
      ),
    );
  }

  function renderList() {
    const list = [...S.alerts.values()].sort(byUrgency);
    $("#alert-list").replaceChildren(...list.map(card));
    show($("#list-empty"), list.length === 0);
    const p1 = list.filter((a) => a.priority === 1).length;
    document.title = p1 ? `(${p1}) ${t("r.title")}` : t("r.title");
  }

  // ---- the alert -----------------------------------------------------------------------------
  function currentRoute() {
    const match = /^#\/alert\/([A-Za-z0-9-]{1,64})$/.exec(location.hash);
    return match ? match[1] : null;
  }

  function openAlert(id) {
    location.hash = `#/alert/${id}`;
  }

  function showRoute() {
    const id = currentRoute();
    if (id !== S.detailId) {
      S.detailId = id;
      S.detail = null;
      S.detailError = "";
      S.form = id ? noteForm(id) : null;
      if (id) loadDetail();
    }
    show($("#list-view"), !id);
    show($("#detail-view"), Boolean(id));
    render();
    window.scrollTo(0, 0);
  }

  async function loadDetail() {
    const id = S.detailId;
    if (!id) return;
    try {
      const data = await P.api.get(`/api/v1/alerts/${seg(id)}`);
      if (S.detailId !== id) return;
      const live = S.alerts.get(id);
      if (live && !isNewer(data.alert, live)) data.alert = live;
      S.detail = data;
      S.detailError = "";
      if (OPEN.has(data.alert.status)) S.alerts.set(id, data.alert);
      else if (ENDED.has(data.alert.status)) S.alerts.delete(id);
    } catch (error) {
      if (S.detailId !== id) return;
      S.detailError = error.status === 404 ? t("r.gone") : t("err.load", { detail: error.detail });
    }
    scheduleRender();
  }

  let reloadTimer = null;
  function scheduleDetailReload(delay = 700) {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(loadDetail, delay);
  }

  async function command(action, body) {
    const id = S.detailId;
    if (!id || S.busy) return false;
    S.busy = true;
    render();
    try {
      const updated = await P.api.post(`/api/v1/alerts/${seg(id)}/${action}`, body);
      applyAlert(updated);
      scheduleDetailReload(200);
      return true;
    } catch (error) {
      if (error.status === 409) {
        toast(`${t("r.conflict")}: ${error.detail}`, "error");
        scheduleDetailReload(0);
      } else toast(error.detail || t("err.generic"), "error");
      return false;
    } finally {
      S.busy = false;
      render();
    }
  }

  function mapsLinks(a) {
    const loc = a.location;
    if (!loc || !Number.isFinite(Number(loc.lat)) || !Number.isFinite(Number(loc.lon))) return el("p", { class: "muted" }, t("r.noLocation"));
    const lat = Number(loc.lat).toFixed(6);
    const lon = Number(loc.lon).toFixed(6);
    return el(
      "div",
      {},
      el(
        "dl",
        { class: "facts" },
        loc.district ? [el("dt", {}, t("r.district")), el("dd", { testid: "r-district" }, loc.district)] : null,
        el("dt", {}, t("r.coords")),
        el("dd", { class: "num" }, `${lat}, ${lon}`),
      ),
      el(
        "div",
        { class: "maps" },
        el("a", { class: "btn primary", href: `geo:${lat},${lon}?q=${lat},${lon}`, testid: "r-maps" }, t("r.openMaps")),
        el(
          "a",
          {
            class: "btn",
            href: `https://www.openstreetmap.org/?mlat=${lat}&mlon=${lon}#map=17/${lat}/${lon}`,
            target: "_blank",
            rel: "noopener noreferrer",
            testid: "r-maps-osm",
          },
          t("r.openOsm"),
        ),
      ),
    );
  }

  function actions(a) {
    if (!OPEN.has(a.status)) return el("p", { class: "closed-note", testid: "r-closed" }, t("r.closedHere", { status: statusText(a) }));
    const mine = myStatus(a);
    const buttons = [];
    if (a.status === "new") {
      buttons.push(
        el("button", { type: "button", class: "btn primary ack", testid: "r-ack", disabled: S.busy, onclick: () => command("ack", { version: a.version }) }, t("r.ack")),
      );
    }
    for (const [status, label, testid] of REPORTS) {
      const current = mine === status;
      buttons.push(
        el(
          "button",
          {
            type: "button",
            class: `btn${current ? " current on" : ""}`,
            testid,
            "aria-pressed": String(current),
            disabled: S.busy,
            onclick: () => command("report", { status }),
          },
          t(label),
        ),
      );
    }
    return el("div", { class: "actions", testid: "r-actions" }, buttons);
  }

  function teamFacts(a) {
    const me = S.me ? S.me.user : "";
    const mine = myStatus(a);
    const others = Object.entries(a.responders || {}).filter(([who]) => who !== me);
    return el(
      "dl",
      { class: "facts" },
      el("dt", {}, t("r.status")),
      el("dd", {}, statusNode(a, "r-status")),
      el("dt", {}, t("r.assignee")),
      el("dd", { testid: "r-assignee" }, a.assignee || "—"),
      el("dt", {}, t("r.myStatus")),
      el("dd", { testid: "r-my-status", "data-status": mine || "" }, mine ? P.i18n.tOr(`resp.${mine}`, mine) : t("r.noStatus")),
      others.length ? [el("dt", {}, t("r.team")), el("dd", {}, others.map(([who, st]) => `${who}: ${P.i18n.tOr(`resp.${st}`, st)}`).join(", "))] : null,
      el("dt", {}, t("r.firstSeen")),
      el("dd", {}, P.i18n.dateTime(a.first_seen), " · ", el("span", { class: "age", "data-since": a.first_seen }, ago(a.first_seen))),
    );
  }

  function snapshot() {
    const incident = ((S.detail && S.detail.incidents) || []).find((i) => i.snapshot_url);
    if (!incident) return null;
    return el("section", { class: "card" }, el("h3", {}, t("r.evidence")), image(incident.snapshot_url, t("r.evidence"), "r-snapshot"));
  }

  function notesList(a) {
    const notes = (S.detail && S.detail.notes) || [];
    return el(
      "section",
      { class: "card" },
      el("h3", {}, t("r.notes")),
      notes.length
        ? el(
            "ul",
            { class: "notes", testid: "r-notes" },
            [...notes].reverse().map((n) => {
              const d = n.detail || {};
              const url = d.photo_id ? `/api/v1/alerts/${seg(a.id)}/photos/${seg(d.photo_id)}` : null;
              return el(
                "li",
                { testid: "r-note" },
                el("div", { class: "meta" }, `${n.actor} · ${P.i18n.dateTime(n.at)}`),
                d.text ? el("div", { class: "text" }, d.text) : null,
                url ? image(url, t("r.photoAlt", { who: n.actor }), "r-note-photo") : null,
              );
            }),
          )
        : el("p", { class: "muted" }, t("r.noNotes")),
    );
  }

  // The view keeps three parts: what is drawn again on every change above and below, and the note
  // form in between, which stays in place (moving it would close the phone's keyboard mid-word).
  const detailParts = { head: el("div", {}), tail: el("div", {}), form: null };

  /** Replace the children of ``node`` (null and false are left out, not shown as text). */
  function fill(node, ...children) {
    node.replaceChildren();
    return P.dom.append(node, children);
  }

  function renderDetail() {
    const view = $("#detail-view");
    const back = el("button", { type: "button", class: "btn small", testid: "r-back", onclick: () => (location.hash = "#/") }, `← ${t("r.back")}`);
    const a = S.detail ? S.detail.alert : S.alerts.get(S.detailId);
    const form = a && S.form ? S.form.render() : null;
    if (view.firstChild !== detailParts.head || detailParts.form !== form) {
      detailParts.form = form;
      view.replaceChildren(detailParts.head, ...(form ? [form] : []), detailParts.tail);
    }
    if (!a) {
      fill(
        detailParts.head,
        el("div", { class: "d-head" }, back),
        S.detailError ? el("div", { class: "error", role: "alert", testid: "r-error" }, S.detailError) : el("p", { class: "muted" }, t("common.loading")),
      );
      detailParts.tail.replaceChildren();
      return;
    }
    fill(
      detailParts.head,
      el("div", { class: "d-head" }, back),
      el("div", { class: "d-head" }, prioBadge(a.priority), el("h2", { testid: "r-title" }, a.title)),
      el("p", { class: "sub" }, `${typeLabel(a.type)} · ${place(a)}`),
      S.detailError ? el("div", { class: "error", role: "alert", testid: "r-error" }, S.detailError) : null,
      actions(a),
      el("section", { class: "card" }, el("h3", {}, t("r.why")), el("p", { testid: "r-reason" }, a.priority_reason)),
      el("section", { class: "card" }, el("h3", {}, t("r.where")), mapsLinks(a)),
      el("section", { class: "card" }, teamFacts(a)),
    );
    fill(detailParts.tail, snapshot(), notesList(a));
  }

  function render() {
    if (!S.me) return;
    renderList();
    if (S.detailId) renderDetail();
  }

  // ---- note and photo ------------------------------------------------------------------------
  /** Shrink a picture to at most MAX_SIDE px on its longer side and encode it as JPEG. */
  async function shrink(file) {
    let source;
    let width;
    let height;
    let cleanup = () => {};
    try {
      source = await createImageBitmap(file, { imageOrientation: "from-image" });
      width = source.width;
      height = source.height;
      cleanup = () => source.close();
    } catch {
      const url = URL.createObjectURL(file);
      cleanup = () => URL.revokeObjectURL(url);
      const img = new Image();
      img.src = url;
      await img.decode();
      source = img;
      width = img.naturalWidth;
      height = img.naturalHeight;
    }
    try {
      if (!width || !height) throw new Error("empty picture");
      const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
      const canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(width * scale));
      canvas.height = Math.max(1, Math.round(height * scale));
      canvas.getContext("2d").drawImage(source, 0, 0, canvas.width, canvas.height);
      for (const quality of [0.85, 0.7, 0.5]) {
        const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
        if (blob && blob.size <= MAX_PHOTO_BYTES) return blob;
      }
      throw new Error(t("r.photoBig"));
    } finally {
      cleanup();
    }
  }

  function base64Of(blob) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(blob);
    });
  }

  /** The note form of one alert: built once, so re-rendering never loses what is being typed. */
  function noteForm(alertId) {
    let photo = null; // {blob, url}
    let sending = false;
    const text = el("textarea", { testid: "r-note-text", maxlength: 4000, placeholder: t("r.notePlaceholder"), "aria-label": t("r.noteTitle") });
    const input = el("input", { type: "file", accept: "image/jpeg", capture: "environment", testid: "r-photo-input", "aria-label": t("r.photo") });
    const pickLabel = el("span", {}, t("r.photo"));
    const pick = el("label", { class: "btn photo-pick" }, pickLabel, input);
    const preview = el("img", { class: "preview", testid: "r-photo-preview", alt: "", hidden: true });
    const remove = el("button", { type: "button", class: "btn small", testid: "r-photo-remove", hidden: true }, t("r.photoRemove"));
    const send = el("button", { type: "button", class: "btn primary", testid: "r-note-send" }, t("r.send"));
    const title = el("h3", {}, t("r.noteTitle"));
    const root = el("section", { class: "card", testid: "r-note-form" }, title, text, el("div", { class: "photo-row" }, pick, preview, remove), send);

    function setPhoto(next) {
      if (photo) URL.revokeObjectURL(photo.url);
      photo = next;
      preview.hidden = !photo;
      remove.hidden = !photo;
      if (photo) preview.src = photo.url;
      else preview.removeAttribute("src");
      root.dataset.photo = photo ? "ready" : "";
    }

    input.addEventListener("change", async () => {
      const file = input.files && input.files[0];
      input.value = "";
      if (!file) return;
      root.dataset.photo = "processing";
      try {
        const blob = await shrink(file);
        setPhoto({ blob, url: URL.createObjectURL(blob) });
      } catch (error) {
        setPhoto(null);
        toast(t("r.photoBad", { detail: error && error.message ? error.message : String(error) }), "error");
      }
    });
    remove.addEventListener("click", () => setPhoto(null));
    send.addEventListener("click", async () => {
      if (sending) return;
      const note = text.value.trim();
      if (!note && !photo) {
        toast(t("r.noteEmpty"), "error");
        return;
      }
      sending = true;
      send.disabled = true;
      send.textContent = t("r.sending");
      try {
        const body = {};
        if (note) body.text = note;
        if (photo) body.photo_jpeg_b64 = await base64Of(photo.blob);
        if (S.detailId !== alertId) return;
        if (await command("note", body)) {
          text.value = "";
          setPhoto(null);
          toast(t("r.noteSent"), "ok");
        }
      } catch (error) {
        toast(error && error.message ? error.message : t("err.generic"), "error");
      } finally {
        sending = false;
        send.disabled = false;
        send.textContent = t("r.send");
      }
    });

    return {
      render() {
        title.textContent = t("r.noteTitle");
        text.placeholder = t("r.notePlaceholder");
        pickLabel.textContent = t("r.photo");
        remove.textContent = t("r.photoRemove");
        if (!sending) send.textContent = t("r.send");
        return root;
      },
    };
  }

  // ---- Web Push ------------------------------------------------------------------------------
  const push = {
    supported: "serviceWorker" in navigator && "PushManager" in window && "Notification" in window,
    registration: null,
    subscription: null,
    busy: false,
  };

  async function registerWorker() {
    if (!("serviceWorker" in navigator)) return;
    try {
      push.registration = await navigator.serviceWorker.register(WORKER, { scope: SCOPE });
    } catch (error) {
      console.warn("service worker not registered", error);
    }
  }

  function keyBytes(base64url) {
    const padded = base64url.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (base64url.length % 4)) % 4);
    const raw = atob(padded);
    return Uint8Array.from(raw, (c) => c.charCodeAt(0));
  }

  function renderPush() {
    const button = $("#push-toggle");
    show(button, push.supported && Boolean(S.me));
    const on = Boolean(push.subscription);
    button.setAttribute("aria-pressed", String(on));
    button.classList.toggle("on", on);
    button.textContent = on ? t("push.on") : t("push.off");
    button.disabled = push.busy;
  }

  /** After signing in: a subscription this browser already has is (re)stored for this person. */
  async function syncPush() {
    if (!push.supported || !push.registration || Notification.permission !== "granted") return renderPush();
    try {
      push.subscription = await push.registration.pushManager.getSubscription();
      if (push.subscription) await P.api.post("/api/v1/push/subscriptions", push.subscription.toJSON());
    } catch (error) {
      console.warn("push subscription not stored", error);
    }
    renderPush();
  }

  async function togglePush() {
    if (push.busy) return;
    push.busy = true;
    renderPush();
    try {
      if (push.subscription) {
        await forgetPush();
        toast(t("push.disabled"));
        return;
      }
      if (!push.registration) await registerWorker();
      if (!push.registration) throw new Error(t("push.unsupported"));
      const permission = await Notification.requestPermission();
      if (permission !== "granted") {
        toast(t("push.denied"), "error");
        return;
      }
      let key;
      try {
        key = (await P.api.get("/api/v1/push/vapid-public-key")).public_key;
      } catch (error) {
        toast(error.status === 404 ? t("push.notConfigured") : t("push.failed", { detail: error.detail }), "error");
        return;
      }
      const subscription = await push.registration.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: keyBytes(key) });
      await P.api.post("/api/v1/push/subscriptions", subscription.toJSON());
      push.subscription = subscription;
      toast(t("push.enabled"), "ok");
    } catch (error) {
      toast(t("push.failed", { detail: error && (error.detail || error.message) ? error.detail || error.message : String(error) }), "error");
    } finally {
      push.busy = false;
      renderPush();
    }
  }

  /** Stop pushes to this browser: on the server (while still signed in) and in the browser. */
  async function forgetPush() {
    const subscription = push.subscription;
    push.subscription = null;
    if (!subscription) return;
    try {
      await P.api.request("DELETE", "/api/v1/push/subscriptions", { endpoint: subscription.endpoint }, { noAuthRedirect: true });
    } catch (error) {
      if (error.status !== 404 && error.status !== 401) console.warn("push subscription not deleted", error);
    }
    try {
      await subscription.unsubscribe();
    } catch {
      /* already gone */
    }
  }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.addEventListener("message", (event) => {
      const message = event.data || {};
      if (message.type === "push") {
        poll();
        const payload = message.payload || {};
        if (payload.kind === "stand_down" && payload.alert_id) checkGone(String(payload.alert_id));
      } else if (message.type === "open" && message.alert_id) openAlert(String(message.alert_id));
    });
  }

  // ---- session -------------------------------------------------------------------------------
  const langToggle = $("#lang-toggle");
  function renderLang() {
    langToggle.textContent = P.i18n.lang() === "id" ? "ID · en" : "EN · id";
    langToggle.title = t("lang.title");
    langToggle.setAttribute("aria-label", t("lang.title"));
  }
  langToggle.addEventListener("click", () => P.i18n.setLang(P.i18n.lang() === "id" ? "en" : "id"));
  P.on("lang", () => {
    P.i18n.apply(document);
    renderLang();
    setConn(S.conn);
    renderPush();
    renderWho();
    render();
  });

  function renderWho() {
    const who = $("#whoami");
    who.textContent = S.me ? `${S.me.display_name || S.me.user} · ${P.i18n.tOr(`role.${S.me.role}`, S.me.role)}` : "";
    const note = $("#role-note");
    const other = S.me && S.me.role !== "responder";
    show(note, Boolean(other));
    if (other) {
      note.replaceChildren(
        el("p", {}, t("r.wrongRole", { role: P.i18n.tOr(`role.${S.me.role}`, S.me.role) })),
        el("a", { class: "btn", href: "/" }, t("r.toConsole")),
      );
    }
  }

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
    clearTimeout(pollTimer);
    S.alerts = new Map();
    S.ended = new Set();
    S.lastSeq = null;
    S.detail = null;
    S.images = new Map();
    P.api.setCsrf(null);
    clear($("#alert-list"));
    clear($("#banners"));
    clear($("#detail-view"));
    detailParts.form = null;
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
    try {
      S.config = await P.api.get("/api/v1/ui/config");
      P.i18n.setTimeZone(S.config.timezone);
    } catch (error) {
      if (!S.me) return;
      toast(t("err.config", { detail: error.detail }), "error");
    }
    if (me.role !== "planner") startFeed();
    S.detailId = null;
    showRoute();
    poll();
    syncPush();
  }

  P.api.onUnauthorized(() => {
    if (!S.me) return;
    resetSession();
    showLogin(t("login.expired"));
  });

  $("#login-form").addEventListener("submit", async (event) => {
    event.preventDefault();
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
      if (error.status === 429) loginError(t("login.tooMany", { s: error.retryAfter || 60 }));
      else if (error.status === 401) loginError(t("login.bad"));
      else if (error.status === 422) loginError(t("login.missing"));
      else loginError(t("login.failed", { detail: error.detail || error.status }));
    } finally {
      submit.disabled = false;
    }
  });

  $("#logout").addEventListener("click", async () => {
    await forgetPush(); // a shared phone stops ringing for the person who signed out
    try {
      await P.api.del("/api/v1/session", { noAuthRedirect: true });
    } catch (error) {
      if (error.status && error.status !== 401 && error.status !== 400) toast(error.detail, "error");
    }
    resetSession();
    renderPush();
    showLogin("");
  });

  $("#refresh").addEventListener("click", () => poll());
  $("#push-toggle").addEventListener("click", togglePush);
  window.addEventListener("hashchange", showRoute);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden || !S.me) return;
    poll();
    if (!feed.stopped && !feed.ws) connect();
  });
  setInterval(() => {
    for (const node of document.querySelectorAll(".age[data-since]")) node.textContent = ago(node.dataset.since);
  }, 5000);

  async function boot() {
    P.i18n.apply(document);
    renderLang();
    setConn("down");
    registerWorker();
    try {
      const me = await P.api.get("/api/v1/me", { noAuthRedirect: true });
      await enter(me);
    } catch (error) {
      showLogin(error.status === 401 ? "" : t("login.failed", { detail: error.detail || error.status }));
    }
  }

  boot();
})();

/* Pantau console: the views beside the queue (map, cases, shift handover, health, admin) and the
 * form that raises an alert by hand. Each view registers {enter, leave} in Pantau.views. */
(() => {
  "use strict";
  const P = window.Pantau;
  const { el, $, clear, show, toast } = P.dom;
  const t = (key, vars) => P.i18n.t(key, vars);
  const seg = (v) => P.api.seg(v);
  const S = () => P.state;
  P.views = P.views || {};

  function errorBox(message) {
    return el("div", { class: "error", role: "alert" }, message);
  }

  function table(testid, headKeys, rows) {
    return el(
      "table",
      { class: "grid", testid },
      el("thead", {}, el("tr", {}, headKeys.map((k) => el("th", {}, k ? t(k) : "")))),
      el("tbody", {}, rows),
    );
  }

  const ageNode = (iso) =>
    iso
      ? el("span", { class: "age", "data-since": iso, title: P.i18n.dateTime(iso) }, P.i18n.age(Date.now() - Date.parse(iso)))
      : el("span", { class: "muted" }, "—");

  // ---- map view ------------------------------------------------------------------------------
  let bigMap = null;
  function updateBigMap() {
    if (!bigMap) return;
    bigMap.update({ alerts: P.openAlerts(), selectedId: S().detailId || S().selectedId });
    const list = P.openAlerts();
    const unplaced = list.filter((a) => !P.map.alertPoint(a)).length;
    $("#map-summary").textContent = t("map.summary", { n: list.length, unplaced });
  }
  P.views.map = {
    enter() {
      if (!bigMap) bigMap = P.map.create($("#bigmap"), { mode: "view", onAlertClick: (id) => P.detail.open(id) });
      updateBigMap();
    },
  };
  P.on("alerts-changed", () => S().view === "map" && updateBigMap());
  P.on("detail", () => S().view === "map" && updateBigMap());
  P.on("lang", () => S().view === "map" && updateBigMap());
  P.on("logout", () => {
    if (bigMap) bigMap.destroy();
    bigMap = null;
  });

  // ---- manual alert --------------------------------------------------------------------------
  const MAX_PHOTO = 5 * 1024 * 1024;
  const SEVERITIES = ["critical", "high", "medium", "low"];
  const manual = { map: null, photo: null, busy: false, autoDistrict: true };

  function nearestDistrict(lat, lon) {
    let best = null;
    let bestD = Infinity;
    for (const d of P.map.devices()) {
      if (!d.district) continue;
      const dist = (d.lat - lat) ** 2 + ((d.lon - lon) * Math.cos((lat * Math.PI) / 180)) ** 2;
      if (dist < bestD) {
        bestD = dist;
        best = d.district;
      }
    }
    return best;
  }

  function manualError(text) {
    const box = $("#manual-error");
    box.textContent = text || "";
    box.hidden = !text;
  }

  async function readPhoto(file) {
    manual.photo = null;
    const info = $("#manual-photo-info");
    clear(info);
    if (!file) return;
    if (file.size > MAX_PHOTO) throw new Error(t("manual.photoTooBig", { mb: (file.size / 1048576).toFixed(1) }));
    const head = new Uint8Array(await file.slice(0, 3).arrayBuffer());
    if (head.length < 3 || head[0] !== 0xff || head[1] !== 0xd8 || head[2] !== 0xff) throw new Error(t("manual.photoNotJpeg"));
    const dataUrl = await new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result));
      reader.onerror = () => reject(new Error(t("manual.photoUnreadable")));
      reader.readAsDataURL(file);
    });
    manual.photo = dataUrl.slice(dataUrl.indexOf(",") + 1);
    info.append(
      el("img", { class: "thumb", src: dataUrl, alt: "" }),
      el("span", { class: "sub" }, `${file.name} · ${(file.size / 1024).toFixed(0)} kB`),
    );
  }

  function setPick(lat, lon, fromMap) {
    $("#manual-lat").value = String(lat);
    $("#manual-lon").value = String(lon);
    if (!fromMap && manual.map) manual.map.update({ pick: { lat, lon } });
    const district = $("#manual-district");
    if (manual.autoDistrict || !district.value) {
      const near = nearestDistrict(lat, lon);
      if (near) {
        district.value = near;
        manual.autoDistrict = true;
      }
    }
    $("#manual-pick-info").textContent = t("manual.picked", { lat: lat.toFixed(5), lon: lon.toFixed(5) });
  }

  function buildManualForm() {
    const config = S().config || {};
    const types = config.manual_types && config.manual_types.length ? config.manual_types : ["citizen_report"];
    const field = (labelKey, control, extra) => el("label", { class: "field" }, el("span", {}, t(labelKey)), control, extra || null);
    const typeSel = el("select", { testid: "manual-type", id: "manual-type", required: true }, types.map((v) => el("option", { value: v }, P.util.typeLabel(v))));
    const sevSel = el("select", { testid: "manual-severity", id: "manual-severity" }, SEVERITIES.map((v) => el("option", { value: v }, P.i18n.tOr(`sev.${v}`, v))));
    sevSel.value = "high";
    const distSel = el(
      "select",
      { testid: "manual-district", id: "manual-district" },
      el("option", { value: "" }, t("manual.noDistrict")),
      (config.districts || []).map((d) => el("option", { value: d }, d)),
    );
    distSel.addEventListener("change", () => (manual.autoDistrict = false));
    const lat = el("input", { type: "number", step: "any", min: -90, max: 90, id: "manual-lat", testid: "manual-lat", placeholder: "-7.98" });
    const lon = el("input", { type: "number", step: "any", min: -180, max: 180, id: "manual-lon", testid: "manual-lon", placeholder: "112.63" });
    const onCoord = () => {
      const la = Number.parseFloat(lat.value);
      const lo = Number.parseFloat(lon.value);
      if (Number.isFinite(la) && Number.isFinite(lo) && manual.map) manual.map.update({ pick: { lat: la, lon: lo } });
    };
    lat.addEventListener("change", onCoord);
    lon.addEventListener("change", onCoord);
    const photo = el("input", { type: "file", accept: "image/jpeg,.jpg,.jpeg", id: "manual-photo", testid: "manual-photo" });
    photo.addEventListener("change", async () => {
      manualError("");
      try {
        await readPhoto(photo.files && photo.files[0]);
      } catch (error) {
        photo.value = "";
        manual.photo = null;
        manualError(error.message);
      }
    });
    const pickBox = el("div", { class: "map-pick", testid: "map-pick", id: "map-pick", title: t("manual.pickHint") });
    const form = el(
      "form",
      { class: "modal-card manual-card", id: "manual-form", novalidate: true, testid: "manual-form", role: "dialog", "aria-modal": "true", "aria-labelledby": "manual-heading" },
      el("h2", { id: "manual-heading" }, t("manual.title")),
      el(
        "div",
        { class: "manual-grid" },
        el(
          "div",
          { class: "manual-fields" },
          el("div", { class: "row2" }, field("manual.type", typeSel), field("manual.severity", sevSel)),
          field("manual.titleField", el("input", { type: "text", id: "manual-title", testid: "manual-title", maxlength: 200, required: true, autocomplete: "off" })),
          field("manual.description", el("textarea", { id: "manual-description", testid: "manual-description", rows: 4, maxlength: 4000 })),
          el("div", { class: "row2" }, field("manual.district", distSel), field("manual.reporter", el("input", { type: "text", id: "manual-reporter", testid: "manual-reporter", maxlength: 200, autocomplete: "off" }))),
          el("div", { class: "row2" }, field("manual.lat", lat), field("manual.lon", lon)),
          field("manual.photo", photo, el("div", { class: "photo-info", id: "manual-photo-info" })),
        ),
        el(
          "div",
          { class: "manual-map" },
          el("div", { class: "sub" }, t("manual.pickHint")),
          pickBox,
          el("div", { class: "sub", id: "manual-pick-info", testid: "manual-pick-info" }, t("manual.notPicked")),
        ),
      ),
      el("div", { class: "error", id: "manual-error", testid: "manual-error", role: "alert", hidden: true }),
      el(
        "div",
        { class: "dialog-buttons" },
        el("button", { type: "button", class: "btn", testid: "manual-cancel", onclick: () => closeManual() }, t("dlg.cancel")),
        el("button", { type: "submit", class: "btn danger", testid: "manual-submit", id: "manual-submit" }, t("manual.submit")),
      ),
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      submitManual();
    });
    return form;
  }

  function openManual() {
    if (!P.can.command()) return;
    const box = $("#manual");
    manual.photo = null;
    manual.autoDistrict = true;
    box.replaceChildren(buildManualForm());
    box.hidden = false;
    manual.map = P.map.create($("#map-pick"), { mode: "pick", onPick: (lat, lon) => setPick(lat, lon, true) });
    manual.map.update({ alerts: P.openAlerts(), pick: null });
    $("#manual-title").focus();
  }

  function closeManual() {
    const box = $("#manual");
    if (box.hidden) return;
    if (manual.map) manual.map.destroy();
    manual.map = null;
    manual.photo = null;
    box.hidden = true;
    box.replaceChildren();
  }

  async function submitManual() {
    if (manual.busy) return;
    manualError("");
    const title = $("#manual-title").value.trim();
    const lat = Number.parseFloat($("#manual-lat").value);
    const lon = Number.parseFloat($("#manual-lon").value);
    if (title.length < 3) return manualError(t("manual.needTitle"));
    if (!Number.isFinite(lat) || !Number.isFinite(lon) || Math.abs(lat) > 90 || Math.abs(lon) > 180) return manualError(t("manual.needPlace"));
    const body = {
      type: $("#manual-type").value,
      severity: $("#manual-severity").value,
      title,
      description: $("#manual-description").value.trim(),
      lat,
      lon,
    };
    const district = $("#manual-district").value;
    if (district) body.district = district;
    const reporter = $("#manual-reporter").value.trim();
    if (reporter) body.reporter = reporter;
    if (manual.photo) body.photo_jpeg_b64 = manual.photo;
    manual.busy = true;
    $("#manual-submit").disabled = true;
    try {
      const created = await P.api.post("/api/v1/alerts", body);
      closeManual();
      toast(t("manual.created"), "ok");
      if (created && created.id) {
        P.store.applyAlert(created, { alarm: false });
        P.detail.open(created.id);
      }
    } catch (error) {
      manualError(error.detail || t("err.generic"));
    } finally {
      manual.busy = false;
      const submit = $("#manual-submit");
      if (submit) submit.disabled = false;
    }
  }

  P.manual = { open: openManual, close: closeManual };
  $("#manual").addEventListener("mousedown", (event) => {
    if (event.target === event.currentTarget) closeManual();
  });

  // ---- cases ---------------------------------------------------------------------------------
  const summaries = new Map(); // alert id -> {title, priority, status} of alerts not on the live board
  const cases = { list: null, error: "", fetching: new Set() };

  function alertSummary(id) {
    return S().alerts.get(id) || summaries.get(id) || null;
  }

  async function fetchSummaries(ids) {
    const missing = ids.filter((id) => !alertSummary(id) && !cases.fetching.has(id)).slice(0, 30);
    if (!missing.length) return;
    for (const id of missing) cases.fetching.add(id);
    await Promise.all(
      missing.map(async (id) => {
        try {
          const detail = await P.api.get(`/api/v1/alerts/${seg(id)}`);
          summaries.set(id, detail.alert);
        } catch {
          summaries.set(id, { id, title: id, priority: 4, status: "unknown" });
        }
      }),
    );
    if (S().view === "cases") renderCases();
  }

  function renderCases() {
    const box = clear($("#cases-list"));
    const n = S().checked.size;
    $("#cases-selected").textContent = n ? t("queue.selected", { n }) : t("cases.noneSelected");
    if (cases.error) box.append(errorBox(cases.error));
    if (!cases.list) return box.append(el("p", { class: "muted" }, t("common.loading")));
    if (!cases.list.length) return box.append(el("p", { class: "muted" }, t("cases.empty")));
    const wanted = [];
    for (const c of cases.list) {
      const alerts = c.alert_ids.map((id) => {
        const a = alertSummary(id);
        if (!a) wanted.push(id);
        return el(
          "button",
          { type: "button", class: "link-row", testid: "case-alert", "data-alert-id": id, onclick: () => P.detail.open(id) },
          a && a.priority ? P.util.prioBadge(a.priority) : null,
          el("span", { class: "title" }, a ? a.title : id),
          a && a.status && a.status !== "unknown" ? P.util.statusNode(a.status) : null,
        );
      });
      const card = el(
        "article",
        { class: `card${S().focusCase === c.id ? " focus" : ""}`, testid: "case-card", "data-case-id": c.id },
        el(
          "header",
          {},
          el("h3", {}, c.title),
          el("span", { class: "sub" }, t("cases.meta", { user: c.created_by, at: P.i18n.dateTime(c.created_at), n: c.alert_ids.length })),
          P.can.command()
            ? el(
                "button",
                { type: "button", class: "btn small", testid: "case-add-selected", disabled: n === 0, onclick: () => addToCase(c.id, c.title) },
                t("cases.addSelected", { n }),
              )
            : null,
        ),
        el("div", { class: "links" }, alerts),
      );
      box.append(card);
    }
    if (S().focusCase) {
      const focused = box.querySelector(".card.focus");
      if (focused) focused.scrollIntoView({ block: "nearest" });
    }
    if (wanted.length) fetchSummaries(wanted);
  }

  async function loadCases() {
    try {
      cases.list = await P.api.get("/api/v1/cases?limit=200");
      cases.error = "";
    } catch (error) {
      cases.error = t("err.load", { detail: error.detail || error.status });
    }
    if (S().view === "cases") renderCases();
  }

  async function addToCase(caseId, title) {
    const ids = [...S().checked];
    if (!ids.length) return;
    try {
      await P.api.post(`/api/v1/cases/${seg(caseId)}/alerts`, { alert_ids: ids });
      toast(t("cases.added", { n: ids.length, title }), "ok");
      P.queue.clearChecked();
      loadCases();
    } catch (error) {
      toast(error.detail || t("err.generic"), "error");
    }
  }

  async function linkSelected() {
    const ids = [...S().checked];
    if (!ids.length || !P.can.command()) return;
    const answer = await P.dialog({
      title: t("cases.linkTitle", { n: ids.length }),
      input: { label: t("cases.caseTitle"), required: true, maxLength: 200 },
      validate: (v) => (v.input.trim().length < 3 ? t("cases.titleShort") : null),
      okText: t("cases.create"),
    });
    if (!answer) return;
    try {
      const created = await P.api.post("/api/v1/cases", { title: answer.input.trim(), alert_ids: ids });
      toast(t("cases.created", { title: created.title }), "ok");
      P.queue.clearChecked();
      if (S().view === "cases") loadCases();
    } catch (error) {
      toast(error.detail || t("err.generic"), "error");
    }
  }

  async function addSelected() {
    const ids = [...S().checked];
    if (!ids.length || !P.can.command()) return;
    let list;
    try {
      list = await P.api.get("/api/v1/cases?limit=100");
    } catch (error) {
      toast(error.detail || t("err.generic"), "error");
      return;
    }
    if (!list.length) {
      toast(t("cases.empty"), "info");
      return;
    }
    const answer = await P.dialog({
      title: t("cases.addTitle", { n: ids.length }),
      select: { label: t("cases.pick"), options: list.map((c) => ({ value: c.id, label: `${c.title} (${c.alert_ids.length})` })), value: list[0].id },
      okText: t("cases.add"),
    });
    if (!answer) return;
    const chosen = list.find((c) => c.id === answer.select);
    await addToCase(answer.select, chosen ? chosen.title : "");
  }

  P.cases = { linkSelected, addSelected };
  P.views.cases = {
    enter() {
      renderCases();
      loadCases();
    },
    leave() {
      S().focusCase = null;
    },
  };
  $("#cases-refresh").addEventListener("click", loadCases);
  P.on("checked-changed", () => S().view === "cases" && renderCases());
  P.on("lang", () => S().view === "cases" && renderCases());
  P.on("logout", () => {
    cases.list = null;
    summaries.clear();
  });

  // ---- shift handover ------------------------------------------------------------------------
  const handover = { list: null, error: "" };

  function renderHandovers() {
    const canWrite = P.can.command();
    show($("#handover-form"), canWrite);
    $("#handover-open").textContent = t("handover.openNow", { n: S().alerts.size });
    const box = clear($("#handover-list"));
    if (handover.error) box.append(errorBox(handover.error));
    if (!handover.list) return box.append(el("p", { class: "muted" }, t("common.loading")));
    if (!handover.list.length) return box.append(el("p", { class: "muted" }, t("handover.empty")));
    const me = S().me.user;
    for (const h of handover.list) {
      let footer;
      if (h.signed_by) footer = el("div", { class: "signed", testid: "handover-signed" }, t("handover.signed", { user: h.signed_by, at: P.i18n.dateTime(h.signed_at) }));
      else if (canWrite && h.author !== me) {
        footer = el("button", { type: "button", class: "btn primary", testid: "handover-sign", onclick: () => signHandover(h.id) }, t("handover.sign"));
      } else footer = el("div", { class: "muted" }, h.author === me ? t("handover.waiting") : t("handover.unsigned"));
      box.append(
        el(
          "article",
          { class: `card${h.signed_by ? "" : " unsigned"}`, testid: "handover-entry", "data-handover-id": h.id },
          el(
            "header",
            {},
            el("h3", {}, h.author),
            el("span", { class: "sub" }, `${P.i18n.dateTime(h.created_at)} · ${t("handover.openAtTime", { n: h.open_alerts })}`),
          ),
          el("div", { class: "pre" }, h.text),
          footer,
        ),
      );
    }
  }

  async function loadHandovers() {
    try {
      const list = await P.api.get("/api/v1/handovers?limit=50");
      handover.list = [...list].sort((a, b) => Date.parse(b.created_at) - Date.parse(a.created_at));
      handover.error = "";
    } catch (error) {
      handover.error = t("err.load", { detail: error.detail || error.status });
    }
    if (S().view === "handover") renderHandovers();
  }

  async function signHandover(id) {
    try {
      await P.api.post(`/api/v1/handovers/${seg(id)}/sign`);
      toast(t("handover.signedOk"), "ok");
    } catch (error) {
      toast(error.detail || t("err.generic"), "error");
    }
    loadHandovers();
  }

  $("#handover-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("#handover-text").value.trim();
    const error = $("#handover-error");
    if (text.length < 3) {
      error.textContent = t("handover.tooShort");
      error.hidden = false;
      return;
    }
    error.hidden = true;
    const submit = $("#handover-submit");
    submit.disabled = true;
    try {
      await P.api.post("/api/v1/handovers", { text });
      $("#handover-text").value = "";
      toast(t("handover.saved"), "ok");
      loadHandovers();
    } catch (err) {
      error.textContent = err.detail || t("err.generic");
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  });

  P.views.handover = {
    enter() {
      renderHandovers();
      loadHandovers();
    },
  };
  P.on("lang", () => S().view === "handover" && renderHandovers());
  P.on("alerts-changed", () => {
    if (S().view === "handover") $("#handover-open").textContent = t("handover.openNow", { n: S().alerts.size });
  });
  P.on("logout", () => (handover.list = null));

  // ---- health --------------------------------------------------------------------------------
  const health = { cameras: null, sensors: null, camError: "", senError: "", timer: null, at: null };

  function sparkline(series) {
    const width = 140;
    const height = 28;
    const values = (series || []).map((p) => Number(p[1])).filter(Number.isFinite);
    if (values.length < 2) return el("span", { class: "muted" }, "—");
    const min = Math.min(...values);
    const max = Math.max(...values);
    const span = max - min || 1;
    const points = values
      .map((v, i) => `${((i / (values.length - 1)) * (width - 2) + 1).toFixed(1)},${(height - 2 - ((v - min) / span) * (height - 4)).toFixed(1)}`)
      .join(" ");
    return P.dom.svg(
      "svg",
      { class: "spark", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": t("health.sparkLabel", { min, max }) },
      P.dom.svg("title", {}, t("health.sparkLabel", { min: round(min), max: round(max) })),
      P.dom.svg("polyline", { points }),
    );
  }
  const round = (v) => (Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 1 ? v.toFixed(2) : v.toPrecision(3));

  function renderHealth() {
    const camBox = clear($("#health-cameras"));
    if (health.camError) camBox.append(errorBox(health.camError));
    if (health.cameras) {
      camBox.append(
        table(
          "camera-health",
          ["health.camera", "f.district", "health.state", "health.fps", "health.lastFrame", "health.reconnects", "health.tamper", "health.openAlerts", "health.error"],
          health.cameras.map((c) =>
            el(
              "tr",
              { "data-camera": c.camera, "data-state": c.state },
              el("td", {}, c.name && c.name !== c.camera ? `${c.name} (${c.camera})` : c.camera),
              el("td", {}, c.district || "—"),
              el("td", {}, el("span", { class: `pill cam-${c.state}` }, P.i18n.tOr(`cam.${c.state}`, c.state))),
              el("td", { class: "num" }, typeof c.fps === "number" ? c.fps.toFixed(1) : "—"),
              el("td", { class: "num" }, ageNode(c.last_frame_at)),
              el("td", { class: "num" }, c.reconnects === undefined ? "—" : String(c.reconnects)),
              el("td", {}, c.tamper ? el("span", { class: "pill cam-offline" }, P.i18n.tOr(`tamper.${c.tamper}`, c.tamper)) : el("span", { class: "muted" }, t("health.noTamper"))),
              el("td", { class: "num" }, c.open_alerts === undefined ? "—" : String(c.open_alerts)),
              el("td", { class: "sub" }, c.error || ""),
            ),
          ),
        ),
      );
    } else if (!health.camError) camBox.append(el("p", { class: "muted" }, t("common.loading")));

    const senBox = clear($("#health-sensors"));
    if (health.senError) senBox.append(errorBox(health.senError));
    if (health.sensors) {
      const config = S().config || {};
      const sensorName = (id) => {
        const s = (config.sensors || []).find((x) => x.id === id);
        return s && s.name && s.name !== id ? `${s.name} (${id})` : id;
      };
      senBox.append(
        table(
          "sensor-latest",
          ["health.sensor", "health.type", "f.district", "health.value", "health.at", "health.series"],
          health.sensors.map((s) =>
            el(
              "tr",
              { "data-sensor": s.sensor },
              el("td", {}, sensorName(s.sensor)),
              el("td", {}, P.util.typeLabel(s.type)),
              el("td", {}, s.district || "—"),
              el("td", { class: "num strong" }, `${round(Number(s.value))} ${s.unit || ""}`),
              el("td", { class: "num" }, ageNode(s.ts)),
              el("td", {}, sparkline(s.series)),
            ),
          ),
        ),
      );
      if (!health.sensors.length) senBox.append(el("p", { class: "muted" }, t("health.noSensors")));
    } else if (!health.senError) senBox.append(el("p", { class: "muted" }, t("common.loading")));
    $("#health-updated").textContent = health.at ? t("health.updated", { at: P.i18n.dateTime(health.at) }) : "";
  }

  async function loadHealth() {
    clearTimeout(health.timer);
    const [cams, sens] = await Promise.allSettled([P.api.get("/api/v1/cameras/health"), P.api.get("/api/v1/sensors/latest?minutes=60")]);
    if (S().view !== "health") return;
    if (cams.status === "fulfilled") {
      health.cameras = cams.value;
      health.camError = "";
    } else health.camError = t("err.load", { detail: cams.reason.detail || cams.reason.status });
    if (sens.status === "fulfilled") {
      health.sensors = sens.value;
      health.senError = "";
    } else health.senError = t("err.load", { detail: sens.reason.detail || sens.reason.status });
    health.at = new Date().toISOString();
    renderHealth();
    health.timer = setTimeout(loadHealth, 10000);
  }

  P.views.health = {
    enter() {
      renderHealth();
      loadHealth();
    },
    leave() {
      clearTimeout(health.timer);
    },
  };
  P.on("lang", () => S().view === "health" && renderHealth());

  // ---- admin ---------------------------------------------------------------------------------
  async function loadAdmin() {
    const user = $("#admin-user").value.trim();
    const query = P.api.qs({ user, limit: 200 });
    const [access, audit] = await Promise.allSettled([P.api.get(`/api/v1/evidence-access${query}`), P.api.get(`/api/v1/audit${query}`)]);
    if (S().view !== "admin") return;
    const accessBox = clear($("#admin-access"));
    if (access.status === "rejected") accessBox.append(errorBox(t("err.load", { detail: access.reason.detail || access.reason.status })));
    else {
      accessBox.append(
        table(
          "evidence-access",
          ["audit.when", "audit.who", "admin.role", "admin.incident", "admin.kind", "f.source"],
          access.value.map((r) =>
            el(
              "tr",
              {},
              el("td", { class: "num nowrap" }, P.i18n.dateTime(r.at)),
              el("td", {}, r.user),
              el("td", {}, P.i18n.tOr(`role.${r.role}`, r.role)),
              el("td", { class: "mono" }, r.incident_id),
              el("td", {}, P.i18n.tOr(`admin.kind.${r.kind}`, r.kind)),
              el("td", {}, r.source || "—"),
            ),
          ),
        ),
      );
      if (!access.value.length) accessBox.append(el("p", { class: "muted" }, t("admin.none")));
    }
    const auditBox = clear($("#admin-audit"));
    if (audit.status === "rejected") auditBox.append(errorBox(t("err.load", { detail: audit.reason.detail || audit.reason.status })));
    else {
      auditBox.append(
        table(
          "console-audit",
          ["audit.when", "audit.who", "admin.role", "admin.action", "audit.detail"],
          audit.value.map((r) =>
            el(
              "tr",
              {},
              el("td", { class: "num nowrap" }, P.i18n.dateTime(r.at)),
              el("td", {}, r.user),
              el("td", {}, P.i18n.tOr(`role.${r.role}`, r.role)),
              el("td", {}, r.action),
              el("td", { class: "mono sub" }, r.detail && Object.keys(r.detail).length ? JSON.stringify(r.detail) : ""),
            ),
          ),
        ),
      );
      if (!audit.value.length) auditBox.append(el("p", { class: "muted" }, t("admin.none")));
    }
  }

  P.views.admin = { enter: loadAdmin };
  $("#admin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    loadAdmin();
  });
  P.on("lang", () => S().view === "admin" && loadAdmin());
})();

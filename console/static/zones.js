/* Pantau console: the zone editor (admins). A camera's latest still as background, its zones and
 * masks drawn over it as polygons in normalised 0..1 coordinates [x, y].
 *
 *  - "+ Zone" / "+ Mask" starts a polygon: click to add points, click the first point (or "Close
 *    polygon", or Enter) to close it;
 *  - drag a point to move it, drag an edge's middle handle to insert one, "Delete point" (or Delete)
 *    removes the selected point;
 *  - a zone's name, criticality, schedule and rules (JSON, checked by the server) are edited beside;
 *  - Save sends PUT /api/v1/cameras/{id}/zones {"zones", "masks"} with If-Match; a 422 shows why. */
(() => {
  "use strict";
  const P = window.Pantau;
  const { el, svg, $, clear, show, toast } = P.dom;
  const t = (key, vars) => P.i18n.t(key, vars);
  const seg = (v) => P.api.seg(v);
  const VIEW_W = 1000;
  const CRITICALITY = ["critical", "high", "medium", "low"];

  const Z = {
    camera: null,
    etag: null,
    zones: [], // [{obj: zone as in the config, rulesText: its rules as editable JSON}]
    masks: [], // [[[x, y], ...], ...]
    active: null, // {kind: "zone" | "mask", index}
    vertex: null, // selected point of the active polygon
    drawing: false,
    dirty: false,
    aspect: 16 / 9,
    stillState: "none", // none | loading | ok | missing
    loadError: "",
    saveError: "",
    busy: false,
  };

  const viewH = () => VIEW_W / Z.aspect;
  const round4 = (v) => Math.round(Math.min(Math.max(v, 0), 1) * 10000) / 10000;

  function activePoints() {
    if (!Z.active) return null;
    if (Z.active.kind === "zone") {
      const zone = Z.zones[Z.active.index];
      return zone ? zone.obj.polygon : null;
    }
    return Z.masks[Z.active.index] || null;
  }

  function markDirty() {
    Z.dirty = true;
    $("#zones-dirty").textContent = t("zones.unsaved");
  }

  function parseRules(text) {
    try {
      const value = JSON.parse(text);
      if (!Array.isArray(value)) return { error: t("zones.rulesNotList") };
      return { value };
    } catch (error) {
      return { error: t("zones.rulesBadJson", { detail: error.message }) };
    }
  }

  /** line_crossing lines inside a zone's rules, to draw them (edited in the rules JSON). */
  function linesOf(zone) {
    const parsed = parseRules(zone.rulesText);
    if (!parsed.value) return [];
    const lines = [];
    for (const rule of parsed.value) {
      const spec = rule && typeof rule === "object" ? rule.line_crossing : null;
      if (spec && Array.isArray(spec.line) && spec.line.length === 2) lines.push(spec.line);
    }
    return lines;
  }

  // ---- loading -------------------------------------------------------------------------------
  function fillCameras() {
    const select = $("#zones-camera");
    const cameras = (P.state.config && P.state.config.cameras) || [];
    const current = Z.camera || select.value;
    select.replaceChildren(...cameras.map((c) => el("option", { value: c.id }, c.name && c.name !== c.id ? `${c.name} (${c.id})` : c.id)));
    if (current && cameras.some((c) => c.id === current)) select.value = current;
    return cameras.length;
  }

  async function load(camera) {
    Z.camera = camera;
    Z.zones = [];
    Z.masks = [];
    Z.active = null;
    Z.vertex = null;
    Z.drawing = false;
    Z.dirty = false;
    Z.etag = null;
    Z.loadError = "";
    Z.saveError = "";
    $("#zones-dirty").textContent = "";
    loadStill(camera);
    render();
    try {
      const { data, headers } = await P.api.request("GET", `/api/v1/cameras/${seg(camera)}/zones`, undefined, { withHeaders: true });
      if (Z.camera !== camera) return;
      adopt(data, headers.get("ETag"));
    } catch (error) {
      if (Z.camera !== camera) return;
      Z.loadError = t("err.load", { detail: error.detail || error.status });
    }
    render();
  }

  function adopt(data, etag) {
    Z.etag = etag || null;
    Z.zones = (data.zones || []).map((obj) => ({
      obj: { ...obj, polygon: (obj.polygon || []).map((p) => [Number(p[0]), Number(p[1])]) },
      rulesText: JSON.stringify(obj.rules || [], null, 2),
    }));
    Z.masks = (data.masks || []).map((m) => (m || []).map((p) => [Number(p[0]), Number(p[1])]));
    Z.active = Z.zones.length ? { kind: "zone", index: 0 } : null;
    Z.vertex = null;
    Z.drawing = false;
    Z.dirty = false;
    $("#zones-dirty").textContent = "";
  }

  function loadStill(camera) {
    const img = $("#zones-still");
    Z.stillState = "loading";
    img.onload = () => {
      if (Z.camera !== camera) return;
      Z.stillState = "ok";
      if (img.naturalWidth && img.naturalHeight) Z.aspect = img.naturalWidth / img.naturalHeight;
      render();
    };
    img.onerror = () => {
      if (Z.camera !== camera) return;
      Z.stillState = "missing";
      Z.aspect = 16 / 9;
      render();
    };
    img.src = `/api/v1/cameras/${seg(camera)}/still?t=${Date.now()}`;
  }

  // ---- drawing -------------------------------------------------------------------------------
  function centroid(points) {
    const n = points.length || 1;
    return [points.reduce((s, p) => s + p[0], 0) / n, points.reduce((s, p) => s + p[1], 0) / n];
  }

  const toView = (p) => [p[0] * VIEW_W, p[1] * viewH()];
  const pointsAttr = (points) => points.map((p) => toView(p).map((v) => v.toFixed(1)).join(",")).join(" ");

  function renderStage() {
    const stage = $("#zones-stage");
    stage.style.aspectRatio = String(Z.aspect);
    show($("#zones-still"), Z.stillState === "ok");
    const note = $("#zones-still-note");
    note.textContent = Z.stillState === "missing" ? t("zones.noStill") : Z.stillState === "loading" ? t("common.loading") : "";
    show(note, Z.stillState !== "ok");
    const canvas = $("#zones-svg");
    const h = viewH();
    canvas.setAttribute("viewBox", `0 0 ${VIEW_W} ${h.toFixed(1)}`);
    const k = VIEW_W / Math.max(stage.clientWidth, 200); // screen pixel in view units
    const parts = [
      svg(
        "defs",
        {},
        svg(
          "pattern",
          { id: "mask-hatch", width: 12 * k, height: 12 * k, patternUnits: "userSpaceOnUse", patternTransform: "rotate(45)" },
          svg("line", { x1: 0, y1: 0, x2: 0, y2: 12 * k, class: "hatch" }),
        ),
      ),
      svg("rect", { class: "zones-bg", x: 0, y: 0, width: VIEW_W, height: h }),
    ];
    Z.masks.forEach((mask, index) => {
      const isActive = Z.active && Z.active.kind === "mask" && Z.active.index === index;
      if (isActive) return;
      parts.push(svg("polygon", { class: "mask", points: pointsAttr(mask), "data-kind": "mask", "data-index": index }));
    });
    Z.zones.forEach((zone, index) => {
      const isActive = Z.active && Z.active.kind === "zone" && Z.active.index === index;
      for (const line of linesOf(zone)) {
        const [a, b] = [toView(line[0]), toView(line[1])];
        parts.push(svg("line", { class: "crossing", x1: a[0], y1: a[1], x2: b[0], y2: b[1], "stroke-width": 2 * k }));
      }
      if (isActive) return;
      const points = zone.obj.polygon;
      parts.push(svg("polygon", { class: `zone crit-${zone.obj.criticality || "medium"}`, points: pointsAttr(points), "data-kind": "zone", "data-index": index }));
      if (points.length) {
        const [cx, cy] = toView(centroid(points));
        parts.push(svg("text", { class: "zone-label", x: cx, y: cy, "font-size": 14 * k, "text-anchor": "middle" }, zone.obj.name || "?"));
      }
    });
    const points = activePoints();
    if (points) {
      const isMask = Z.active.kind === "mask";
      const cls = isMask ? "mask active" : `zone active crit-${Z.zones[Z.active.index].obj.criticality || "medium"}`;
      if (Z.drawing) parts.push(svg("polyline", { class: cls, points: pointsAttr(points), "stroke-width": 2 * k }));
      else parts.push(svg("polygon", { class: cls, points: pointsAttr(points), "stroke-width": 2 * k, "data-kind": Z.active.kind, "data-index": Z.active.index }));
      if (!Z.drawing && points.length >= 2) {
        points.forEach((p, i) => {
          const q = points[(i + 1) % points.length];
          const [x, y] = toView([(p[0] + q[0]) / 2, (p[1] + q[1]) / 2]);
          parts.push(svg("circle", { class: "mid-handle", cx: x, cy: y, r: 5 * k, "data-mid": i }, svg("title", {}, t("zones.insertPoint"))));
        });
      }
      points.forEach((p, i) => {
        const [x, y] = toView(p);
        const cls2 = `handle${i === Z.vertex ? " selected" : ""}${Z.drawing && i === 0 && points.length >= 3 ? " first" : ""}`;
        parts.push(svg("circle", { class: cls2, cx: x, cy: y, r: 7 * k, "data-vertex": i, testid: "zones-point" }));
      });
    }
    canvas.replaceChildren(...parts);
  }

  function renderList() {
    const list = clear($("#zones-list"));
    Z.zones.forEach((zone, index) => {
      const active = Z.active && Z.active.kind === "zone" && Z.active.index === index;
      list.append(
        el(
          "button",
          { type: "button", class: `link-row${active ? " active" : ""}`, testid: "zones-item", "data-kind": "zone", onclick: () => selectItem("zone", index) },
          el("span", { class: `swatch crit-${zone.obj.criticality || "medium"}` }),
          el("span", { class: "title" }, zone.obj.name || t("zones.unnamed")),
          el("span", { class: "sub" }, ` ${t("zones.points", { n: zone.obj.polygon.length })}`),
        ),
      );
    });
    Z.masks.forEach((mask, index) => {
      const active = Z.active && Z.active.kind === "mask" && Z.active.index === index;
      list.append(
        el(
          "button",
          { type: "button", class: `link-row${active ? " active" : ""}`, testid: "zones-item", "data-kind": "mask", onclick: () => selectItem("mask", index) },
          el("span", { class: "swatch mask" }),
          el("span", { class: "title" }, t("zones.maskN", { n: index + 1 })),
          el("span", { class: "sub" }, ` ${t("zones.points", { n: mask.length })}`),
        ),
      );
    });
    if (!Z.zones.length && !Z.masks.length) list.append(el("p", { class: "muted" }, t("zones.none")));

  }

  function renderEditor() {
    const editor = clear($("#zones-item"));
    const points = activePoints();
    if (!points) return;
    const buttons = el(
      "div",
      { class: "btn-row" },
      el("button", { type: "button", class: "btn small", testid: "zones-close-polygon", disabled: !Z.drawing || points.length < 3, onclick: closePolygon }, t("zones.closePolygon")),
      el("button", { type: "button", class: "btn small", testid: "zones-delete-point", disabled: Z.vertex === null, onclick: deletePoint }, t("zones.deletePoint")),
      el("button", { type: "button", class: "btn small", testid: "zones-redraw", onclick: redraw }, t("zones.redraw")),
      el("button", { type: "button", class: "btn small danger", testid: "zones-delete-item", onclick: deleteItem }, Z.active.kind === "zone" ? t("zones.deleteZone") : t("zones.deleteMask")),
    );
    const hint = el("p", { class: "sub" }, Z.drawing ? t("zones.drawHint") : t("zones.editHint"));
    if (Z.active.kind === "mask") {
      editor.append(el("h3", {}, t("zones.maskN", { n: Z.active.index + 1 })), hint, buttons);
      return;
    }
    const zone = Z.zones[Z.active.index];
    const name = el("input", { type: "text", testid: "zone-name", maxlength: 64, value: zone.obj.name || "" });
    name.addEventListener("input", () => {
      zone.obj.name = name.value;
      markDirty();
      renderStage();
      renderList();
    });
    const crit = el("select", { testid: "zone-criticality" }, CRITICALITY.map((c) => el("option", { value: c }, P.i18n.tOr(`sev.${c}`, c))));
    crit.value = zone.obj.criticality || "medium";
    crit.addEventListener("change", () => {
      zone.obj.criticality = crit.value;
      markDirty();
      renderStage();
      renderList();
    });
    const schedule = el("input", { type: "text", testid: "zone-schedule", placeholder: "always · 18:00-06:00", value: zone.obj.schedule === undefined ? "" : String(zone.obj.schedule) });
    schedule.addEventListener("input", () => {
      if (schedule.value.trim()) zone.obj.schedule = schedule.value.trim();
      else delete zone.obj.schedule;
      markDirty();
    });
    const rules = el("textarea", { testid: "zone-rules", rows: 8, spellcheck: "false", class: "mono" });
    rules.value = zone.rulesText;
    const rulesError = el("div", { class: "error", testid: "zone-rules-error", hidden: true });
    const checkRules = () => {
      const parsed = parseRules(rules.value);
      rulesError.textContent = parsed.error || "";
      rulesError.hidden = !parsed.error;
    };
    rules.addEventListener("input", () => {
      zone.rulesText = rules.value;
      markDirty();
      checkRules();
      renderStage();
    });
    checkRules();
    const field = (key, control) => el("label", { class: "field" }, el("span", {}, t(key)), control);
    editor.append(
      el("h3", {}, t("zones.zone")),
      field("zones.name", name),
      el("div", { class: "row2" }, field("zones.criticality", crit), field("zones.schedule", schedule)),
      field("zones.rules", rules),
      rulesError,
      el("p", { class: "sub" }, t("zones.rulesHint")),
      hint,
      buttons,
    );
  }

  function render() {
    if (P.state.view !== "zones") return;
    const error = $("#zones-error");
    error.textContent = Z.saveError || Z.loadError;
    error.hidden = !(Z.saveError || Z.loadError);
    $("#zones-save").disabled = Z.busy || !Z.camera || Boolean(Z.loadError);
    renderStage();
    renderList();
    renderEditor();
  }

  // ---- editing -------------------------------------------------------------------------------
  function selectItem(kind, index) {
    if (Z.drawing) finishDrawing();
    Z.active = { kind, index };
    Z.vertex = null;
    render();
  }

  function finishDrawing() {
    // An unfinished polygon (fewer than 3 points) is dropped when leaving it.
    const points = activePoints();
    Z.drawing = false;
    if (points && points.length < 3) removeActive();
  }

  function addZone() {
    if (Z.drawing) finishDrawing();
    const names = new Set(Z.zones.map((z) => z.obj.name));
    let n = Z.zones.length + 1;
    while (names.has(`zone-${n}`)) n += 1;
    Z.zones.push({ obj: { name: `zone-${n}`, polygon: [], rules: ["intrusion"], criticality: "medium" }, rulesText: JSON.stringify(["intrusion"], null, 2) });
    Z.active = { kind: "zone", index: Z.zones.length - 1 };
    Z.vertex = null;
    Z.drawing = true;
    markDirty();
    render();
  }

  function addMask() {
    if (Z.drawing) finishDrawing();
    Z.masks.push([]);
    Z.active = { kind: "mask", index: Z.masks.length - 1 };
    Z.vertex = null;
    Z.drawing = true;
    markDirty();
    render();
  }

  function closePolygon() {
    const points = activePoints();
    if (!points || points.length < 3) {
      toast(t("zones.needThree"), "error");
      return;
    }
    Z.drawing = false;
    render();
  }

  function deletePoint() {
    const points = activePoints();
    if (!points || Z.vertex === null) return;
    points.splice(Z.vertex, 1);
    Z.vertex = points.length ? Math.min(Z.vertex, points.length - 1) : null;
    markDirty();
    render();
  }

  function redraw() {
    const points = activePoints();
    if (!points) return;
    points.length = 0;
    Z.vertex = null;
    Z.drawing = true;
    markDirty();
    render();
  }

  function removeActive() {
    if (!Z.active) return;
    if (Z.active.kind === "zone") Z.zones.splice(Z.active.index, 1);
    else Z.masks.splice(Z.active.index, 1);
    Z.active = null;
    Z.vertex = null;
    Z.drawing = false;
  }

  async function deleteItem() {
    if (!Z.active) return;
    const points = activePoints();
    if (points && points.length >= 3) {
      const answer = await P.dialog({ title: Z.active.kind === "zone" ? t("zones.deleteZone") : t("zones.deleteMask"), message: t("zones.deleteConfirm"), okText: t("zones.delete"), danger: true });
      if (!answer) return;
    }
    removeActive();
    markDirty();
    render();
  }

  function normalised(event) {
    const rect = $("#zones-svg").getBoundingClientRect();
    return [round4((event.clientX - rect.left) / Math.max(rect.width, 1)), round4((event.clientY - rect.top) / Math.max(rect.height, 1))];
  }

  let drag = null;
  let frame = false;
  function scheduleStage() {
    if (frame) return;
    frame = true;
    requestAnimationFrame(() => {
      frame = false;
      renderStage();
    });
  }

  function onPointerDown(event) {
    if (event.button !== 0 || !Z.camera) return;
    const target = event.target instanceof Element ? event.target : null;
    const points = activePoints();
    const canvas = $("#zones-svg");
    if (target && target.hasAttribute("data-vertex") && points) {
      const index = Number(target.getAttribute("data-vertex"));
      if (Z.drawing && index === 0 && points.length >= 3) {
        closePolygon();
        return;
      }
      Z.vertex = index;
      drag = { index, moved: false };
      canvas.setPointerCapture(event.pointerId);
      render();
      return;
    }
    if (target && target.hasAttribute("data-mid") && points) {
      const index = Number(target.getAttribute("data-mid")) + 1;
      points.splice(index, 0, normalised(event));
      Z.vertex = index;
      drag = { index, moved: true };
      canvas.setPointerCapture(event.pointerId);
      markDirty();
      render();
      return;
    }
    if (Z.drawing && points) {
      points.push(normalised(event));
      Z.vertex = points.length - 1;
      markDirty();
      render();
      return;
    }
    if (target && target.hasAttribute("data-kind")) {
      selectItem(target.getAttribute("data-kind"), Number(target.getAttribute("data-index")));
      return;
    }
    if (Z.vertex !== null) {
      Z.vertex = null;
      render();
    }
  }

  function onPointerMove(event) {
    if (!drag) return;
    const points = activePoints();
    if (!points || !points[drag.index]) return;
    points[drag.index] = normalised(event);
    drag.moved = true;
    markDirty();
    scheduleStage();
  }

  function onPointerUp() {
    if (!drag) return;
    drag = null;
    render();
  }

  // ---- saving --------------------------------------------------------------------------------
  async function save() {
    if (!Z.camera || Z.busy) return;
    if (Z.drawing) {
      const points = activePoints();
      if (points && points.length >= 3) Z.drawing = false;
    }
    const zones = [];
    for (const zone of Z.zones) {
      const parsed = parseRules(zone.rulesText);
      const name = zone.obj.name || t("zones.unnamed");
      if (parsed.error) return failSave(`${name}: ${parsed.error}`);
      if (zone.obj.polygon.length < 3) return failSave(t("zones.zoneNeedsThree", { name }));
      zones.push({ ...zone.obj, rules: parsed.value, polygon: zone.obj.polygon.map((p) => [round4(p[0]), round4(p[1])]) });
    }
    for (const [i, mask] of Z.masks.entries()) {
      if (mask.length < 3) return failSave(t("zones.maskNeedsThree", { n: i + 1 }));
    }
    const masks = Z.masks.map((m) => m.map((p) => [round4(p[0]), round4(p[1])]));
    Z.busy = true;
    Z.saveError = "";
    render();
    try {
      const headers = Z.etag ? { "If-Match": Z.etag } : {};
      const { data, headers: answer } = await P.api.request("PUT", `/api/v1/cameras/${seg(Z.camera)}/zones`, { zones, masks }, { headers, withHeaders: true });
      const keep = Z.active;
      adopt(data, answer.get("ETag"));
      if (keep && ((keep.kind === "zone" && keep.index < Z.zones.length) || (keep.kind === "mask" && keep.index < Z.masks.length))) Z.active = keep;
      toast(t("zones.saved"), "ok");
    } catch (error) {
      Z.saveError = error.status === 412 ? t("zones.conflict", { detail: error.detail }) : t("zones.refused", { detail: error.detail || error.status });
    } finally {
      Z.busy = false;
      render();
    }
    return undefined;
  }

  function failSave(message) {
    Z.saveError = message;
    render();
  }

  async function confirmDiscard() {
    if (!Z.dirty) return true;
    const answer = await P.dialog({ title: t("zones.discardTitle"), message: t("zones.discard"), okText: t("zones.discardOk"), danger: true });
    return Boolean(answer);
  }

  // ---- wiring --------------------------------------------------------------------------------
  const canvas = $("#zones-svg");
  canvas.addEventListener("pointerdown", onPointerDown);
  canvas.addEventListener("pointermove", onPointerMove);
  canvas.addEventListener("pointerup", onPointerUp);
  canvas.addEventListener("pointercancel", onPointerUp);
  $("#zones-camera").addEventListener("change", async (event) => {
    const wanted = event.target.value;
    if (await confirmDiscard()) load(wanted);
    else event.target.value = Z.camera;
  });
  $("#zones-reload").addEventListener("click", async () => {
    if (Z.camera && (await confirmDiscard())) load(Z.camera);
  });
  $("#zones-add-zone").addEventListener("click", addZone);
  $("#zones-add-mask").addEventListener("click", addMask);
  $("#zones-save").addEventListener("click", save);
  document.addEventListener("keydown", (event) => {
    if (P.state.view !== "zones" || P.dom.isTyping(event.target) || !$("#dialog").hidden) return;
    if ((event.key === "Delete" || event.key === "Backspace") && Z.vertex !== null) {
      event.preventDefault();
      deletePoint();
    } else if (event.key === "Enter" && Z.drawing) {
      event.preventDefault();
      closePolygon();
    }
  });
  if (typeof ResizeObserver === "function") new ResizeObserver(() => P.state && P.state.view === "zones" && renderStage()).observe($("#zones-stage"));

  P.views = P.views || {};
  P.views.zones = {
    enter() {
      const n = fillCameras();
      if (!n) {
        Z.loadError = t("zones.noCameras");
        render();
        return;
      }
      const select = $("#zones-camera");
      if (!Z.camera || Z.camera !== select.value) load(select.value);
      else render();
    },
  };
  P.on("lang", () => P.state.view === "zones" && render());
  P.on("logout", () => {
    Z.camera = null;
    Z.zones = [];
    Z.masks = [];
    Z.dirty = false;
    Z.active = null;
  });
})();

/* Pantau console: the offline map. No tiles: an SVG drawn from the coordinates of cameras, sensors
 * and alerts, in an equirectangular projection (longitude scaled by cos(mid latitude)).
 *
 *   const m = Pantau.map.create(container, {mode: "view" | "mini" | "pick", onAlertClick, onPick});
 *   m.update({alerts, selectedId, pick: {lat, lon} | null});
 *
 * "view" and "pick" zoom with the wheel (or the +/- buttons) and pan by dragging; a click (not a
 * drag) in "pick" mode calls onPick(lat, lon). */
(() => {
  "use strict";
  const P = (window.Pantau = window.Pantau || {});
  const { el, svg, clear } = P.dom;
  const t = (key, vars) => P.i18n.t(key, vars);
  const MARGIN = 24;
  const GRID_STEPS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5];

  const num = (v) => typeof v === "number" && Number.isFinite(v);

  function devices() {
    const config = (P.state && P.state.config) || {};
    const cams = (config.cameras || []).filter((d) => num(d.lat) && num(d.lon)).map((d) => ({ ...d, kind: "camera" }));
    const sens = (config.sensors || []).filter((d) => num(d.lat) && num(d.lon)).map((d) => ({ ...d, kind: "sensor" }));
    return cams.concat(sens);
  }

  /** Where an alert is: its own location, or the location of its camera or sensor. */
  function alertPoint(alert) {
    const loc = alert && alert.location;
    if (loc && num(loc.lat) && num(loc.lon)) return { lat: loc.lat, lon: loc.lon };
    const dev = devices().find((d) => d.id === alert.source);
    return dev ? { lat: dev.lat, lon: dev.lon } : null;
  }

  function create(container, opts = {}) {
    const mode = opts.mode || "view";
    const interactive = mode !== "mini";
    const root = el("div", { class: `map map-${mode}` });
    const canvas = svg("svg", { class: "map-svg", role: "img", "aria-label": t("map.title") });
    root.append(canvas);
    let controls = null;
    if (interactive) {
      controls = el(
        "div",
        { class: "map-ctrl" },
        el("button", { type: "button", title: t("map.zoomIn"), "aria-label": t("map.zoomIn"), onclick: () => zoomBy(1.5) }, "+"),
        el("button", { type: "button", title: t("map.zoomOut"), "aria-label": t("map.zoomOut"), onclick: () => zoomBy(1 / 1.5) }, "−"),
        el("button", { type: "button", title: t("map.reset"), "aria-label": t("map.reset"), onclick: () => resetView() }, "⟲"),
      );
      root.append(controls);
    }
    clear(container).append(root);

    const data = { alerts: [], selectedId: null, pick: null };
    const view = { zoom: 1, panX: 0, panY: 0 };
    let frame = null; // the projection of the last drawing
    let pending = false;

    function bounds() {
      const points = devices().map((d) => ({ lat: d.lat, lon: d.lon }));
      for (const a of data.alerts) {
        const p = alertPoint(a);
        if (p) points.push(p);
      }
      if (!points.length) points.push({ lat: -7.98, lon: 112.63 }); // Malang, until devices are known
      let minLat = Infinity, maxLat = -Infinity, minLon = Infinity, maxLon = -Infinity;
      for (const p of points) {
        minLat = Math.min(minLat, p.lat);
        maxLat = Math.max(maxLat, p.lat);
        minLon = Math.min(minLon, p.lon);
        maxLon = Math.max(maxLon, p.lon);
      }
      const minSpan = mode === "pick" ? 0.03 : 0.01;
      const padLat = Math.max((maxLat - minLat) * 0.12, (minSpan - (maxLat - minLat)) / 2, 0);
      const padLon = Math.max((maxLon - minLon) * 0.12, (minSpan - (maxLon - minLon)) / 2, 0);
      return { minLat: minLat - padLat, maxLat: maxLat + padLat, minLon: minLon - padLon, maxLon: maxLon + padLon };
    }

    function makeFrame(width, height) {
      const b = bounds();
      const kx = Math.cos((((b.minLat + b.maxLat) / 2) * Math.PI) / 180);
      const spanX = Math.max((b.maxLon - b.minLon) * kx, 1e-6);
      const spanY = Math.max(b.maxLat - b.minLat, 1e-6);
      const scale = Math.min((width - 2 * MARGIN) / spanX, (height - 2 * MARGIN) / spanY);
      const cx = ((b.minLon + b.maxLon) / 2) * kx;
      const cy = -(b.minLat + b.maxLat) / 2;
      const s = () => scale * view.zoom;
      return {
        width,
        height,
        project: (lat, lon) => [width / 2 + (lon * kx - cx) * s() + view.panX, height / 2 + (-lat - cy) * s() + view.panY],
        invert: (x, y) => ({
          lon: ((x - width / 2 - view.panX) / s() + cx) / kx,
          lat: -((y - height / 2 - view.panY) / s() + cy),
        }),
      };
    }

    function gridStep(f) {
      const top = f.invert(0, 0);
      const bottom = f.invert(0, f.height);
      const span = Math.abs(top.lat - bottom.lat);
      return GRID_STEPS.find((step) => span / step <= 8) || 5;
    }

    function draw() {
      pending = false;
      const width = Math.max(root.clientWidth, 50);
      const height = Math.max(root.clientHeight, 50);
      canvas.setAttribute("viewBox", `0 0 ${width} ${height}`);
      canvas.setAttribute("width", String(width));
      canvas.setAttribute("height", String(height));
      const f = (frame = makeFrame(width, height));
      const parts = [svg("rect", { class: "map-bg", x: 0, y: 0, width, height })];

      // Graticule, so that an operator can read coordinates without tiles.
      const step = gridStep(f);
      const nw = f.invert(0, 0);
      const se = f.invert(width, height);
      const digits = Math.max(0, Math.ceil(-Math.log10(step)));
      const grid = svg("g", { class: "map-grid" });
      for (let lat = Math.ceil(se.lat / step) * step; lat <= nw.lat; lat += step) {
        const [, y] = f.project(lat, nw.lon);
        grid.append(svg("line", { x1: 0, x2: width, y1: y, y2: y }));
        if (mode !== "mini") grid.append(svg("text", { x: 4, y: y - 3 }, lat.toFixed(digits)));
      }
      for (let lon = Math.ceil(nw.lon / step) * step; lon <= se.lon; lon += step) {
        const [x] = f.project(nw.lat, lon);
        grid.append(svg("line", { x1: x, x2: x, y1: 0, y2: height }));
        if (mode !== "mini") grid.append(svg("text", { x: x + 3, y: height - 4 }, lon.toFixed(digits)));
      }
      parts.push(grid);

      // District labels at the centroid of their devices.
      const devs = devices();
      const byDistrict = new Map();
      for (const d of devs) {
        if (!d.district) continue;
        const acc = byDistrict.get(d.district) || { lat: 0, lon: 0, n: 0 };
        acc.lat += d.lat;
        acc.lon += d.lon;
        acc.n += 1;
        byDistrict.set(d.district, acc);
      }
      const labels = svg("g", { class: "map-districts" });
      for (const [name, acc] of byDistrict) {
        const [x, y] = f.project(acc.lat / acc.n, acc.lon / acc.n);
        labels.append(svg("text", { x, y: y - 14, "text-anchor": "middle" }, name));
      }
      parts.push(labels);

      const devLayer = svg("g", { class: "map-devices" });
      for (const d of devs) {
        const [x, y] = f.project(d.lat, d.lon);
        const label = `${d.kind === "camera" ? t("map.camera") : t("map.sensor")}: ${d.name || d.id} (${d.id})`;
        const shape =
          d.kind === "camera"
            ? svg("rect", { class: "dev cam", x: x - 4.5, y: y - 4.5, width: 9, height: 9 }, svg("title", {}, label))
            : svg("circle", { class: "dev sensor", cx: x, cy: y, r: 4.5 }, svg("title", {}, label));
        devLayer.append(shape);
      }
      parts.push(devLayer);

      // Alerts: least urgent first, so that a P1 is drawn on top.
      const alertLayer = svg("g", { class: "map-alerts" });
      const sorted = [...data.alerts].sort((a, b) => b.priority - a.priority);
      let selected = null;
      for (const a of sorted) {
        const p = alertPoint(a);
        if (!p) continue;
        const [x, y] = f.project(p.lat, p.lon);
        const g = svg(
          "g",
          { class: `alert p${a.priority}`, "data-alert-id": a.id, transform: `translate(${x.toFixed(1)} ${y.toFixed(1)})` },
          svg("circle", { class: "pulse", r: 8 }),
          svg("circle", { class: "core", r: 6 }),
          svg("title", {}, `P${a.priority} · ${a.title}`),
        );
        if (a.id === data.selectedId) selected = g;
        alertLayer.append(g);
      }
      if (selected) {
        selected.classList.add("selected");
        selected.append(svg("circle", { class: "sel-ring", r: 13 }));
        alertLayer.append(selected); // on top of everything
      }
      parts.push(alertLayer);

      if (data.pick && num(data.pick.lat) && num(data.pick.lon)) {
        const [x, y] = f.project(data.pick.lat, data.pick.lon);
        parts.push(
          svg(
            "g",
            { class: "map-pick-mark", transform: `translate(${x.toFixed(1)} ${y.toFixed(1)})` },
            svg("line", { x1: -12, x2: 12, y1: 0, y2: 0 }),
            svg("line", { x1: 0, x2: 0, y1: -12, y2: 12 }),
            svg("circle", { r: 7 }),
          ),
        );
      }
      canvas.replaceChildren(...parts);
    }

    function redraw() {
      if (pending) return;
      pending = true;
      requestAnimationFrame(draw);
    }

    function toLocal(event) {
      const rect = canvas.getBoundingClientRect();
      const sx = frame ? frame.width / Math.max(rect.width, 1) : 1;
      const sy = frame ? frame.height / Math.max(rect.height, 1) : 1;
      return [(event.clientX - rect.left) * sx, (event.clientY - rect.top) * sy];
    }

    function zoomAt(factor, x, y) {
      if (!frame) return;
      const before = frame.invert(x, y);
      view.zoom = Math.min(Math.max(view.zoom * factor, 0.1), 64);
      const [nx, ny] = frame.project(before.lat, before.lon);
      view.panX += x - nx;
      view.panY += y - ny;
      redraw();
    }

    function zoomBy(factor) {
      if (frame) zoomAt(factor, frame.width / 2, frame.height / 2);
    }

    function resetView() {
      view.zoom = 1;
      view.panX = 0;
      view.panY = 0;
      redraw();
    }

    // Pointer handling: a drag pans, a click picks (pick mode) or opens an alert.
    let drag = null;
    canvas.addEventListener("pointerdown", (event) => {
      if (event.button !== 0) return;
      drag = { x: event.clientX, y: event.clientY, panX: view.panX, panY: view.panY, moved: false };
      if (interactive) canvas.setPointerCapture(event.pointerId);
    });
    canvas.addEventListener("pointermove", (event) => {
      if (!drag || !interactive) return;
      const dx = event.clientX - drag.x;
      const dy = event.clientY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) < 5) return;
      drag.moved = true;
      const rect = canvas.getBoundingClientRect();
      const k = frame ? frame.width / Math.max(rect.width, 1) : 1;
      view.panX = drag.panX + dx * k;
      view.panY = drag.panY + dy * k;
      redraw();
    });
    canvas.addEventListener("pointerup", (event) => {
      const wasDrag = drag && drag.moved;
      drag = null;
      if (wasDrag || !frame) return;
      if (mode === "pick") {
        const [x, y] = toLocal(event);
        const p = frame.invert(x, y);
        const point = { lat: Number(p.lat.toFixed(6)), lon: Number(p.lon.toFixed(6)) };
        data.pick = point;
        redraw();
        if (opts.onPick) opts.onPick(point.lat, point.lon);
        return;
      }
      const target = event.target instanceof Element ? event.target.closest("[data-alert-id]") : null;
      if (target && opts.onAlertClick) opts.onAlertClick(target.getAttribute("data-alert-id"));
    });
    canvas.addEventListener("pointercancel", () => {
      drag = null;
    });
    if (interactive) {
      canvas.addEventListener(
        "wheel",
        (event) => {
          event.preventDefault();
          const [x, y] = toLocal(event);
          zoomAt(event.deltaY < 0 ? 1.25 : 0.8, x, y);
        },
        { passive: false },
      );
    }

    const observer = typeof ResizeObserver === "function" ? new ResizeObserver(() => redraw()) : null;
    if (observer) observer.observe(root);
    redraw();

    return {
      element: root,
      update(next) {
        if (next) {
          if ("alerts" in next) data.alerts = next.alerts || [];
          if ("selectedId" in next) data.selectedId = next.selectedId;
          if ("pick" in next) data.pick = next.pick;
        }
        redraw();
      },
      reset: resetView,
      destroy() {
        if (observer) observer.disconnect();
        root.remove();
      },
    };
  }

  P.map = { create, alertPoint, devices };
})();

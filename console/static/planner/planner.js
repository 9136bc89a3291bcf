/* Pantau planner: the planners' history page (/planner).
 *
 * A planner (or an operator or admin) signs in as on the other pages (POST /api/v1/session) and picks
 * a range of local dates in the city's time zone (/api/v1/ui/config), a bucket, a grouping and
 * optional district and type filters. Apply reads /api/v1/history/... and draws each answer as an
 * inline SVG chart built with dom.js's svg(): incidents over time (stacked bars per group, with a
 * legend), sensor readings over time (stacked bars per district, the same bucket and district filter),
 * line crossings (vehicles and people per bucket, stacked per object class, for all cameras or one
 * camera's line, all classes or vehicles or people only), the hour-of-week heatmap, response times
 * per priority, false-alarm rates, the noisiest sources and one sensor's trend (average line in its
 * min/max band). Every card says how many data
 * points it drew (data-points), shows the same data as a table on request, and links the same API
 * URL with format=csv (the server sends it as an attachment); the range also exports as CAP.
 *
 * Below the charts, the leadership reports the console keeps (GET /api/v1/reports, whatever the
 * range): kind, local period, HTML and PDF links and how their mail went; an admin may build one now
 * (POST /api/v1/reports) or mail one again (POST /api/v1/reports/{id}/mail).
 *
 * Server data only ever goes into the page as text (dom.js): never as HTML. */
(() => {
  "use strict";
  const P = window.Pantau;
  const { el, svg, $, clear, show, toast } = P.dom;
  const t = (key, vars) => P.i18n.t(key, vars);
  const H = "/api/v1/history";
  const DAY = 86400000;
  const COLORS = ["#5aaaff", "#ff8a1f", "#2fbf71", "#e05adf", "#ffd21f", "#4fd1c5", "#ff5a5f", "#a98bff", "#9eacbd"];
  const MAX_GROUPS = 8;

  // A colour per object class, the same on every chart and range.
  const CLASS_COLORS = {
    car: "#5aaaff", person: "#2fbf71", motorcycle: "#ff8a1f", bus: "#ffd21f", truck: "#e05adf",
    bicycle: "#4fd1c5", unclassified: "#9eacbd",
  };

  const S = { me: null, config: null, query: null, sensor: "", seq: 0, reports: null, rseq: 0, crossLine: "", crossKind: "", cseq: 0 };

  // ---- time in the city's zone ------------------------------------------------------------------
  const zone = () => P.i18n.timeZone();

  /** Minutes east of UTC of the city's zone at the instant ms. */
  function offsetMin(ms) {
    const parts = new Intl.DateTimeFormat("en-US", {
      timeZone: zone(), hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    }).formatToParts(new Date(ms));
    const v = Object.fromEntries(parts.map((p) => [p.type, p.value]));
    const asUtc = Date.UTC(+v.year, +v.month - 1, +v.day, +v.hour % 24, +v.minute, +v.second);
    return Math.round((asUtc - Math.floor(ms / 1000) * 1000) / 60000);
  }

  /** The instant of local midnight starting the date "YYYY-MM-DD" in the city's zone. */
  function localMidnight(date) {
    const [y, m, d] = date.split("-").map(Number);
    const guess = Date.UTC(y, m - 1, d);
    let ms = guess - offsetMin(guess) * 60000;
    ms = guess - offsetMin(ms) * 60000;
    return ms;
  }

  /** "YYYY-MM-DD" of the instant ms in the city's zone. */
  function localDate(ms) {
    return new Intl.DateTimeFormat("en-CA", { timeZone: zone(), year: "numeric", month: "2-digit", day: "2-digit" }).format(new Date(ms));
  }

  const addDays = (date, n) => localDate(localMidnight(date) + n * DAY + 12 * 3600000);

  function label(ms, bucket) {
    const opts = { timeZone: zone(), day: "2-digit", month: "2-digit" };
    if (bucket === "1h") Object.assign(opts, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    return new Intl.DateTimeFormat(P.i18n.lang() === "id" ? "id-ID" : "en-GB", opts).format(new Date(ms));
  }

  const minutes = (s) => (s === null || s === undefined ? null : s / 60);
  const fmtNum = (n, digits = 1) => (n === null || n === undefined ? "—" : Number(n).toLocaleString(P.i18n.lang() === "id" ? "id-ID" : "en-GB", { maximumFractionDigits: digits }));
  const pct = (r) => `${fmtNum(r * 100, 1)} %`;

  // ---- the query --------------------------------------------------------------------------------
  function readForm() {
    const from = $("#pl-from").value;
    const to = $("#pl-to").value;
    if (!from || !to || from > to) return null;
    return {
      from: new Date(localMidnight(from)).toISOString(),
      to: new Date(localMidnight(addDays(to, 1))).toISOString(),
      fromDate: from,
      toDate: to,
      bucket: $("#pl-bucket").value,
      group_by: $("#pl-group").value,
      district: $("#pl-district").value.trim(),
      type: $("#pl-type").value.trim(),
    };
  }

  function url(path, params) {
    return `${H}${path}${P.api.qs(params)}`;
  }

  function preset(days) {
    const today = localDate(Date.now());
    $("#pl-to").value = today;
    $("#pl-from").value = addDays(today, -(days - 1));
  }

  // ---- cards ------------------------------------------------------------------------------------
  /** A chart card: title, CSV link, table toggle, body. */
  function card(name, titleKey, csvHref) {
    const body = el("div", { class: "card-body" }, el("p", { class: "muted" }, t("pl.loading")));
    const tableBox = el("div", { class: "table-box", hidden: true });
    const toggle = el("button", { type: "button", class: "btn small", testid: `table-${name}`, "aria-pressed": "false" }, t("pl.table"));
    toggle.addEventListener("click", () => {
      const open = tableBox.hidden;
      tableBox.hidden = !open;
      body.hidden = open;
      toggle.setAttribute("aria-pressed", String(open));
      toggle.textContent = open ? t("pl.chart") : t("pl.table");
    });
    const csv = csvHref
      ? el("a", { class: "btn small", href: csvHref, download: `pantau-${name}.csv`, testid: `csv-${name}`, title: t("pl.csvTitle") }, t("pl.csv"))
      : null;
    const head = el("div", { class: "card-head" }, el("h2", {}, t(titleKey)), el("span", { class: "spacer" }), toggle, csv);
    const root = el("section", { class: "card", testid: `chart-${name}`, "data-points": "0", "aria-busy": "true" }, head, body, tableBox);
    return {
      root,
      head,
      csv,
      set(points, content, table) {
        root.dataset.points = String(points);
        root.setAttribute("aria-busy", "false");
        body.replaceChildren(...[].concat(content));
        tableBox.replaceChildren(table || el("p", { class: "muted" }, t("pl.empty")));
      },
      empty(key = "pl.empty") {
        root.dataset.points = "0";
        root.setAttribute("aria-busy", "false");
        body.replaceChildren(el("p", { class: "empty", testid: "chart-empty" }, t(key)));
        tableBox.replaceChildren();
      },
      fail(error) {
        root.dataset.points = "0";
        root.setAttribute("aria-busy", "false");
        body.replaceChildren(el("p", { class: "error", testid: "chart-error" }, t("pl.failed", { detail: error.detail || error.message || error.status })));
      },
    };
  }

  function table(head, rows) {
    return el(
      "table",
      { class: "data" },
      el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, rows.map((r) => el("tr", {}, r.map((c) => el("td", {}, c === null || c === undefined ? "—" : String(c)))))),
    );
  }

  function legend(items) {
    return el(
      "ul",
      { class: "legend", testid: "legend" },
      items.map(([name, color]) => el("li", { testid: "legend-item" }, el("span", { class: "swatch", style: { background: color } }), name)),
    );
  }

  /** A "nice" upper bound and ticks for 0..max. */
  function ticks(max, n = 4, integer = false) {
    if (!(max > 0)) return { top: 1, steps: [0, 1] };
    const raw = max / n;
    const mag = 10 ** Math.floor(Math.log10(raw));
    let step = [1, 2, 2.5, 5, 10].map((f) => f * mag).find((s) => s >= raw);
    if (integer) step = Math.max(1, Math.ceil(step));
    const top = Math.ceil(max / step) * step;
    const steps = [];
    for (let v = 0; v <= top + step / 2; v += step) steps.push(Number(v.toPrecision(6)));
    return { top, steps };
  }

  // Chart frame: viewBox W x H, plot area inside margins.
  const W = 720;
  const M = { l: 52, r: 12, t: 10, b: 40 };

  function yAxis(chartH, scale, unitLabel, fmt = (v) => fmtNum(v, 2)) {
    const ph = chartH - M.t - M.b;
    return [
      scale.steps.map((v) => {
        const y = M.t + ph - (v / scale.top) * ph;
        return [
          svg("line", { x1: M.l, x2: W - M.r, y1: y, y2: y, class: "grid" }),
          svg("text", { x: M.l - 6, y: y + 4, "text-anchor": "end", class: "tick" }, fmt(v)),
        ];
      }),
      svg("text", { x: 12, y: M.t + ph / 2, class: "axis-label", transform: `rotate(-90 12 ${M.t + ph / 2})`, "text-anchor": "middle" }, unitLabel),
    ];
  }

  // ---- counts over time (incidents, readings) ------------------------------------------------------
  /** Stacked bars of counts per time bucket and group (the largest MAX_GROUPS groups, the rest as
   * "other"), with a legend and the rows as a table. opts: aria (the chart's name), unit (the y axis
   * and the count column), groupHead (the group column); optional: name (a group's label), color
   * (a group's fixed colour, else by rank). */
  function stackedBars(c, data, opts) {
    if (!data.rows.length) return c.empty();
    const step = data.bucket === "1h" ? 3600000 : DAY;
    const start = Date.parse(data.from);
    const n = Math.max(1, Math.round((Date.parse(data.to) - start) / step));
    const totals = new Map();
    for (const r of data.rows) totals.set(r.group ?? "", (totals.get(r.group ?? "") || 0) + r.count);
    const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1]).map(([g]) => g);
    const kept = ranked.slice(0, MAX_GROUPS);
    const other = t("pl.other");
    const groupOf = (g) => (kept.includes(g) ? g : other);
    const groups = ranked.length > MAX_GROUPS ? [...kept, other] : kept;
    const rankColor = (g) => COLORS[groups.indexOf(g) % COLORS.length];
    const color = (g) => (opts.color && opts.color(g)) || rankColor(g);
    const name = (g) => (g === "" ? t("pl.none") : g === other ? other : opts.name ? opts.name(g) : g);
    const stacks = Array.from({ length: n }, () => new Map());
    for (const r of data.rows) {
      const i = Math.min(n - 1, Math.max(0, Math.round((Date.parse(r.bucket_start) - start) / step)));
      const g = groupOf(r.group ?? "");
      stacks[i].set(g, (stacks[i].get(g) || 0) + r.count);
    }
    const max = Math.max(...stacks.map((s) => [...s.values()].reduce((a, b) => a + b, 0)));
    const scale = ticks(max, 4, true);
    const chartH = 260;
    const ph = chartH - M.t - M.b;
    const pw = W - M.l - M.r;
    const bw = pw / n;
    const bars = [];
    stacks.forEach((stack, i) => {
      let y0 = M.t + ph;
      const when = label(start + i * step, data.bucket);
      for (const g of groups) {
        const v = stack.get(g);
        if (!v) continue;
        const h = (v / scale.top) * ph;
        y0 -= h;
        bars.push(
          svg("rect", { x: M.l + i * bw + bw * 0.1, y: y0, width: Math.max(2, bw * 0.8), height: h, fill: color(g), class: "bar", "data-group": name(g), "data-key": g, "data-count": v },
            svg("title", {}, `${when} · ${name(g)}: ${v}`)),
        );
      }
    });
    const every = Math.max(1, Math.ceil(n / 8));
    const xLabels = [];
    for (let i = 0; i < n; i += every) {
      xLabels.push(svg("text", { x: M.l + i * bw + bw / 2, y: chartH - M.b + 16, "text-anchor": "middle", class: "tick" }, label(start + i * step, data.bucket)));
    }
    const chart = svg(
      "svg",
      { viewBox: `0 0 ${W} ${chartH}`, class: "chart", role: "img", "aria-label": opts.aria },
      yAxis(chartH, scale, opts.unit, (v) => fmtNum(v, 0)),
      bars,
      xLabels,
      svg("text", { x: M.l + pw / 2, y: chartH - 6, "text-anchor": "middle", class: "axis-label" }, `${t("pl.time")} (${P.i18n.zoneAbbr()})`),
    );
    const rows = data.rows.map((r) => [P.i18n.dateTime(r.bucket_start), name(r.group ?? ""), r.count]);
    c.set(bars.length, [chart, legend(groups.map((g) => [name(g), color(g)]))], table([t("pl.time"), opts.groupHead, opts.unit], rows));
  }

  function drawIncidents(c, data, q) {
    const groupHead = t(`pl.g${q.group_by[0].toUpperCase()}${q.group_by.slice(1)}`);
    stackedBars(c, data, { aria: t("pl.incidents"), unit: t("pl.count"), groupHead });
  }

  /** Sensor readings per bucket, stacked per district (ReadingSeries: count per bucket and district). */
  function drawReadings(c, data) {
    stackedBars(c, data, { aria: t("pl.readings"), unit: t("pl.readingCount"), groupHead: t("pl.gDistrict") });
  }

  // ---- line crossings: vehicles and people ----------------------------------------------------------
  /** A class's name in the page's language ("mobil"), the COCO name when there is no translation. */
  const className = (g) => P.i18n.tOr(`pl.cls.${g}`, g);

  /** Crossings per bucket stacked per object class (CrossingSeries grouped by class). */
  function drawCrossings(c, data) {
    const rows = data.rows.map((r) => ({ bucket_start: r.bucket_start, group: r.object_class, count: r.count }));
    stackedBars(c, { ...data, rows }, {
      aria: t(data.bucket === "1h" ? "pl.crossingsHour" : "pl.crossingsDay"),
      unit: t("pl.crossCount"),
      groupHead: t("pl.crossClass"),
      name: className,
      color: (g) => CLASS_COLORS[g],
    });
    c.root.dataset.total = String(rows.reduce((sum, r) => sum + r.count, 0));
  }

  /** The crossings card's query: the form's range, bucket and district; the picked line and kind. */
  function crossingParams(q) {
    const params = { from: q.from, to: q.to, bucket: q.bucket, group_by: "class", district: q.district, kind: S.crossKind };
    if (S.crossLine) {
      const [camera, line] = JSON.parse(S.crossLine);
      Object.assign(params, { camera, line });
    }
    return params;
  }

  /** Vehicles and people per bucket: all cameras or one camera's line (the lines with crossings in
   * the range are listed), all classes, vehicles or people. */
  function crossingCard(q, seq) {
    const c = card("crossings", q.bucket === "1h" ? "pl.crossingsHour" : "pl.crossingsDay", url("/crossings", { ...crossingParams(q), format: "csv" }));
    const lineSelect = el("select", { id: "pl-cross-line", testid: "planner-crossing-line" }, el("option", { value: "" }, t("pl.crossAll")));
    const kinds = [["", t("pl.crossKindAll")], ["vehicle", t("pl.crossVehicles")], ["person", t("pl.crossPeople")]];
    const kindSelect = el("select", { id: "pl-cross-kind", testid: "planner-crossing-kind" },
      kinds.map(([value, text]) => el("option", { value, selected: value === S.crossKind }, text)));
    c.head.after(el("div", { class: "sensor-pick crossing-pick" },
      el("label", { for: "pl-cross-line" }, t("pl.crossLine")), lineSelect,
      el("label", { for: "pl-cross-kind" }, t("pl.crossKind")), kindSelect));
    const load = () => {
      const params = crossingParams(q);
      c.csv.href = url("/crossings", { ...params, format: "csv" });
      c.root.setAttribute("aria-busy", "true");
      const mine = ++S.cseq;
      P.api.get(url("/crossings", params))
        .then((data) => seq === S.seq && mine === S.cseq && drawCrossings(c, data))
        .catch((error) => {
          if (seq !== S.seq || mine !== S.cseq || !S.me) return;
          c.fail(error);
        });
    };
    lineSelect.addEventListener("change", () => {
      S.crossLine = lineSelect.value;
      load();
    });
    kindSelect.addEventListener("change", () => {
      S.crossKind = kindSelect.value;
      load();
    });
    // The camera lines with crossings in the range (and district), for the picker; a picked line
    // the range does not hold falls back to all.
    P.api.get(url("/crossings", { from: q.from, to: q.to, bucket: "1d", group_by: "line", district: q.district }))
      .then((data) => {
        if (seq !== S.seq) return;
        const pairs = [...new Set(data.rows.map((r) => JSON.stringify([r.camera, r.line])))].sort();
        lineSelect.append(...pairs.map((key) => {
          const [camera, line] = JSON.parse(key);
          return el("option", { value: key, testid: "crossing-line-option" }, `${camera} · ${line}`);
        }));
        if (!pairs.includes(S.crossLine)) S.crossLine = "";
        lineSelect.value = S.crossLine;
      })
      .catch(() => {
        S.crossLine = ""; /* the card still shows every camera */
      })
      .finally(() => seq === S.seq && load());
    return c;
  }

  // ---- heatmap ------------------------------------------------------------------------------------
  function drawHeatmap(c, data) {
    if (!data.total) return c.empty();
    const days = t("pl.days").split(",");
    const max = Math.max(...data.counts.flat());
    const cw = 26;
    const ch = 22;
    const left = 44;
    const top = 18;
    const cells = [];
    let points = 0;
    data.counts.forEach((row, d) => {
      row.forEach((v, h) => {
        if (v) points += 1;
        const k = v ? 0.15 + 0.85 * (v / max) : 0;
        cells.push(
          svg("rect", {
            x: left + h * cw, y: top + d * ch, width: cw - 2, height: ch - 2, rx: 3,
            fill: v ? `rgba(255, 138, 31, ${k.toFixed(3)})` : "#1a2330",
            class: "heat-cell", testid: "heat-cell", "data-count": v, "data-weekday": d, "data-hour": h,
          }, svg("title", {}, `${days[d]} ${String(h).padStart(2, "0")}:00 — ${v}`)),
        );
      });
    });
    const labels = [
      days.map((name, d) => svg("text", { x: left - 6, y: top + d * ch + 15, "text-anchor": "end", class: "tick" }, name)),
      Array.from({ length: 8 }, (_, i) => svg("text", { x: left + i * 3 * cw + cw / 2, y: top - 5, "text-anchor": "middle", class: "tick" }, String(i * 3).padStart(2, "0"))),
    ];
    const width = left + 24 * cw + 8;
    const height = top + 7 * ch + 30;
    const scaleBar = Array.from({ length: 5 }, (_, i) => svg("rect", { x: left + i * 30, y: height - 18, width: 28, height: 10, fill: `rgba(255, 138, 31, ${(0.15 + 0.85 * (i / 4)).toFixed(3)})` }));
    const chart = svg(
      "svg",
      { viewBox: `0 0 ${width} ${height}`, class: "chart heatmap", role: "img", "aria-label": t("pl.heatmap") },
      cells, labels, scaleBar,
      svg("text", { x: left + 160, y: height - 9, class: "tick" }, `1 – ${max} · ${t("pl.total", { n: data.total })} · ${data.timezone}`),
    );
    const rows = [];
    data.counts.forEach((row, d) => row.forEach((v, h) => v && rows.push([days[d], `${String(h).padStart(2, "0")}:00`, v])));
    c.set(points, chart, table([t("pl.weekday"), t("pl.hour"), t("pl.count")], rows));
  }

  // ---- response times -----------------------------------------------------------------------------
  const RT = [
    ["ack_median_s", "pl.ackMedian", "#5aaaff"],
    ["ack_p90_s", "pl.ackP90", "#2a6fbf"],
    ["resolve_median_s", "pl.resolveMedian", "#2fbf71"],
    ["resolve_p90_s", "pl.resolveP90", "#1d7a48"],
  ];

  function drawResponseTimes(c, data) {
    const rows = data.rows.filter((r) => r.all_districts).sort((a, b) => a.priority - b.priority);
    if (!rows.length) return c.empty();
    const max = Math.max(0, ...rows.flatMap((r) => RT.map(([f]) => minutes(r[f]) || 0)));
    const scale = ticks(max);
    const chartH = 240;
    const ph = chartH - M.t - M.b;
    const pw = W - M.l - M.r;
    const gw = pw / rows.length;
    const bw = Math.min((gw * 0.8) / RT.length, 56);
    const pad = (gw - bw * RT.length) / 2;
    const bars = [];
    rows.forEach((r, i) => {
      RT.forEach(([f, key, color], j) => {
        const v = minutes(r[f]);
        if (v === null) return;
        const h = (v / scale.top) * ph;
        bars.push(svg("rect", { x: M.l + i * gw + pad + j * bw, y: M.t + ph - h, width: Math.max(1, bw - 2), height: h, fill: color, class: "bar" },
          svg("title", {}, `P${r.priority} · ${t(key)}: ${fmtNum(v)} ${t("pl.minutes")}`)));
      });
    });
    const xLabels = rows.map((r, i) => svg("text", { x: M.l + i * gw + gw / 2, y: chartH - M.b + 16, "text-anchor": "middle", class: "tick" }, `P${r.priority} (${r.alerts} ${t("pl.alerts")})`));
    const chart = svg("svg", { viewBox: `0 0 ${W} ${chartH}`, class: "chart", role: "img", "aria-label": t("pl.responseTimes") },
      yAxis(chartH, scale, t("pl.minutes")), bars, xLabels,
      svg("text", { x: M.l + pw / 2, y: chartH - 6, "text-anchor": "middle", class: "axis-label" }, t("pl.priority")));
    if (!bars.length) return c.empty();
    c.set(bars.length, [chart, legend(RT.map(([, key, color]) => [t(key), color]))],
      table([t("pl.priority"), t("pl.alerts"), ...RT.map(([, key]) => `${t(key)} (${t("pl.minutes")})`)],
        rows.map((r) => [`P${r.priority}`, r.alerts, ...RT.map(([f]) => fmtNum(minutes(r[f])))])));
  }

  // ---- horizontal bars (false alarms, top sources) -----------------------------------------------------
  function hbars(items, ariaLabel, color) {
    const rowH = 24;
    const left = 230;
    const right = 110;
    const height = items.length * rowH + 8;
    const max = Math.max(...items.map((i) => i.value)) || 1;
    const span = W - left - right;
    const nodes = items.map((item, i) => {
      const y = 4 + i * rowH;
      const w = Math.max(2, (item.value / max) * span);
      return [
        svg("text", { x: left - 8, y: y + 16, "text-anchor": "end", class: "tick" }, item.label.length > 34 ? `${item.label.slice(0, 33)}…` : item.label),
        svg("rect", { x: left, y: y + 3, width: w, height: rowH - 8, rx: 3, fill: color, class: "bar" }, svg("title", {}, `${item.label}: ${item.text}`)),
        svg("text", { x: left + w + 6, y: y + 16, class: "tick" }, item.text),
      ];
    });
    return svg("svg", { viewBox: `0 0 ${W} ${height}`, class: "chart", role: "img", "aria-label": ariaLabel }, nodes);
  }

  function drawFalseAlarms(c, data) {
    const rows = data.rows.filter((r) => r.per === "source_rule").sort((a, b) => b.rate - a.rate || b.closed - a.closed).slice(0, 15);
    if (!rows.length) return c.empty();
    const name = (r) => `${r.source || "—"} · ${r.rule || "—"}`;
    const items = rows.map((r) => ({ label: name(r), value: r.rate, text: `${pct(r.rate)} (${r.false_alarms}/${r.closed})` }));
    c.set(items.length, hbars(items, t("pl.falseAlarms"), "#ff5a5f"),
      table([t("pl.source"), t("pl.rule"), t("pl.closed"), t("pl.rate"), "%"], rows.map((r) => [r.source, r.rule, r.closed, r.false_alarms, pct(r.rate)])));
  }

  function drawTopSources(c, data) {
    if (!data.rows.length) return c.empty();
    const items = data.rows.map((r) => ({ label: `${r.source} (${r.source_kind})`, value: r.count, text: String(r.count) }));
    c.set(items.length, hbars(items, t("pl.topSources"), "#a98bff"),
      table([t("pl.source"), t("pl.gType"), t("pl.count")], data.rows.map((r) => [r.source, r.source_kind, r.count])));
  }

  // ---- sensor trend -------------------------------------------------------------------------------
  function drawTrend(c, data) {
    if (!data.points.length) return c.empty();
    const pts = data.points.map((p) => ({ x: Date.parse(p.bucket_start), ...p }));
    const x0 = Date.parse(data.from);
    const x1 = Date.parse(data.to);
    const lo = Math.min(...pts.map((p) => p.min));
    const hi = Math.max(...pts.map((p) => p.max));
    const pad = (hi - lo) * 0.08 || 1;
    const y0 = lo - pad;
    const y1 = hi + pad;
    const chartH = 240;
    const ph = chartH - M.t - M.b;
    const pw = W - M.l - M.r;
    const sx = (ms) => M.l + ((ms - x0) / Math.max(1, x1 - x0)) * pw;
    const sy = (v) => M.t + ph - ((v - y0) / (y1 - y0)) * ph;
    const half = (data.bucket_s * 1000) / 2;
    const band = [...pts.map((p) => `${sx(p.x + half).toFixed(1)},${sy(p.max).toFixed(1)}`), ...pts.slice().reverse().map((p) => `${sx(p.x + half).toFixed(1)},${sy(p.min).toFixed(1)}`)].join(" ");
    const line = pts.map((p) => `${sx(p.x + half).toFixed(1)},${sy(p.avg).toFixed(1)}`).join(" ");
    const grid = [0, 1, 2, 3, 4].map((i) => {
      const v = y0 + ((y1 - y0) * i) / 4;
      return [svg("line", { x1: M.l, x2: W - M.r, y1: sy(v), y2: sy(v), class: "grid" }), svg("text", { x: M.l - 6, y: sy(v) + 4, "text-anchor": "end", class: "tick" }, fmtNum(v, 2))];
    });
    const bucket = x1 - x0 > 3 * DAY ? "1d" : "1h";
    const xLabels = [0, 1, 2, 3, 4].map((i) => {
      const ms = x0 + ((x1 - x0) * i) / 4;
      return svg("text", { x: sx(ms), y: chartH - M.b + 16, "text-anchor": i === 0 ? "start" : i === 4 ? "end" : "middle", class: "tick" }, label(ms, bucket));
    });
    const dots = pts.length <= 60
      ? pts.map((p) => svg("circle", { cx: sx(p.x + half), cy: sy(p.avg), r: 2.5, fill: "#5aaaff" }, svg("title", {}, `${P.i18n.dateTime(p.bucket_start)}: ${fmtNum(p.avg, 2)} ${data.unit} (${fmtNum(p.min, 2)} – ${fmtNum(p.max, 2)})`)))
      : [];
    const chart = svg("svg", { viewBox: `0 0 ${W} ${chartH}`, class: "chart", role: "img", "aria-label": `${t("pl.sensor")} ${data.sensor_id}` },
      grid,
      svg("polygon", { points: band, fill: "rgba(90, 170, 255, 0.22)", stroke: "none", class: "band" }),
      svg("polyline", { points: line, fill: "none", stroke: "#5aaaff", "stroke-width": 2, class: "line" }),
      dots, xLabels,
      svg("text", { x: 12, y: M.t + ph / 2, class: "axis-label", transform: `rotate(-90 12 ${M.t + ph / 2})`, "text-anchor": "middle" }, `${data.kind} (${data.unit})`),
      svg("text", { x: M.l + pw / 2, y: chartH - 6, "text-anchor": "middle", class: "axis-label" }, `${t("pl.time")} (${P.i18n.zoneAbbr()})`));
    c.set(pts.length, [chart, legend([[t("pl.avg"), "#5aaaff"], [t("pl.minmax"), "rgba(90, 170, 255, 0.45)"]])],
      table([t("pl.time"), t("pl.avg"), "min", "max", "n"], pts.map((p) => [P.i18n.dateTime(p.bucket_start), fmtNum(p.avg, 3), fmtNum(p.min, 3), fmtNum(p.max, 3), p.count])));
  }

  // ---- loading ------------------------------------------------------------------------------------
  async function fill(c, path, params, draw, seq) {
    try {
      const data = await P.api.get(url(path, params));
      if (seq !== S.seq) return;
      draw(c, data);
    } catch (error) {
      if (seq !== S.seq || !S.me) return;
      c.fail(error);
    }
  }

  function sensorCard(q, sensors, seq) {
    const csvHref = S.sensor ? url(`/sensors/${P.api.seg(S.sensor)}`, { from: q.from, to: q.to, points: 300, format: "csv" }) : null;
    const c = card("sensor", "pl.sensor", csvHref);
    const input = el("input", { id: "pl-sensor", list: "pl-sensors", value: S.sensor, testid: "planner-sensor", maxlength: 128, "aria-label": t("pl.sensorPick") });
    const pick = el("form", { class: "sensor-pick" },
      el("label", { for: "pl-sensor" }, t("pl.sensorPick")), input,
      el("datalist", { id: "pl-sensors" }, sensors.map((s) => el("option", { value: s }))),
      el("button", { type: "submit", class: "btn small", testid: "planner-sensor-show" }, t("pl.sensorShow")));
    pick.addEventListener("submit", (event) => {
      event.preventDefault();
      S.sensor = input.value.trim();
      refresh();
    });
    c.head.after(pick);
    if (!S.sensor) c.empty("pl.sensorNone");
    else {
      P.api.get(url(`/sensors/${P.api.seg(S.sensor)}`, { from: q.from, to: q.to, points: 300 }))
        .then((data) => seq === S.seq && drawTrend(c, data))
        .catch((error) => {
          if (seq !== S.seq || !S.me) return;
          if (error.status === 404) c.empty("pl.sensorUnknown");
          else c.fail(error);
        });
    }
    return c;
  }

  async function refresh() {
    const q = readForm();
    if (!q) {
      toast(t("pl.badRange"), "error");
      return;
    }
    S.query = q;
    const seq = ++S.seq;
    const base = { from: q.from, to: q.to };
    const filters = { district: q.district, type: q.type };
    const incParams = { ...base, bucket: q.bucket, group_by: q.group_by, ...filters };
    // Readings have kinds, not incident types: the district filter only (history.py's readings()).
    const readParams = { ...base, bucket: q.bucket, group_by: "district", district: q.district };
    const heatParams = { ...base, ...filters };
    const topParams = { ...base, ...filters, limit: 15 };
    $("#cap-export").href = url("/cap", { ...base, ...filters });
    $("#cap-export").setAttribute("download", `pantau-cap-${q.fromDate}-${q.toDate}.xml`);
    $("#range-note").textContent = t("pl.range", { from: q.fromDate, to: q.toDate, zone: zone() });

    const cards = {
      incidents: card("incidents", "pl.incidents", url("/incidents", { ...incParams, format: "csv" })),
      readings: card("readings", "pl.readings", url("/readings", { ...readParams, format: "csv" })),
      heatmap: card("heatmap", "pl.heatmap", url("/heatmap", { ...heatParams, format: "csv" })),
      responseTimes: card("response-times", "pl.responseTimes", url("/response-times", { ...base, format: "csv" })),
      falseAlarms: card("false-alarms", "pl.falseAlarms", url("/false-alarms", { ...base, format: "csv" })),
      topSources: card("top-sources", "pl.topSources", url("/top-sources", { ...topParams, format: "csv" })),
    };
    const crossings = crossingCard(q, seq);
    for (const c of [cards.incidents, cards.readings, crossings]) c.root.classList.add("wide");
    const main = $("#charts");
    main.replaceChildren(cards.incidents.root, cards.readings.root, crossings.root, ...Object.values(cards).slice(2).map((c) => c.root));
    fill(cards.incidents, "/incidents", incParams, (c, d) => drawIncidents(c, d, q), seq);
    fill(cards.readings, "/readings", readParams, drawReadings, seq);
    fill(cards.heatmap, "/heatmap", heatParams, drawHeatmap, seq);
    fill(cards.responseTimes, "/response-times", base, drawResponseTimes, seq);
    fill(cards.falseAlarms, "/false-alarms", base, drawFalseAlarms, seq);
    fill(cards.topSources, "/top-sources", topParams, drawTopSources, seq);

    // The sensors with readings in the range (for the picker); the first one is shown by default.
    let sensors = [];
    try {
      const data = await P.api.get(url("/readings", { ...base, bucket: "1d", group_by: "sensor", district: q.district }));
      sensors = [...new Set(data.rows.map((r) => r.group).filter(Boolean))].sort();
    } catch {
      /* the picker still takes a typed sensor id */
    }
    if (seq !== S.seq) return;
    if (!S.sensor && sensors.length) S.sensor = sensors[0];
    const sc = sensorCard(q, sensors, seq);
    sc.root.classList.add("wide");
    main.append(sc.root);
  }

  // ---- leadership reports -------------------------------------------------------------------------
  const R = "/api/v1/reports";
  const isAdmin = () => Boolean(S.me && S.me.role === "admin");

  /** "25/11/2026": the local date of the instant ms in the city's zone. */
  function localDay(ms) {
    return new Intl.DateTimeFormat(P.i18n.lang() === "id" ? "id-ID" : "en-GB", { timeZone: zone(), day: "2-digit", month: "2-digit", year: "numeric" }).format(new Date(ms));
  }

  /** A report's period [from, to): local dates when it spans whole local days, else the moments. */
  function reportPeriod(r) {
    const from = Date.parse(r.period_from);
    const to = Date.parse(r.period_to);
    const midnight = (ms) => localMidnight(localDate(ms)) === ms;
    if (!midnight(from) || !midnight(to)) return `${P.i18n.dateTime(r.period_from)} – ${P.i18n.dateTime(r.period_to)}`;
    const first = localDay(from);
    const last = localDay(to - 1);
    return first === last ? first : `${first} – ${last}`;
  }

  function reportKind(kind) {
    if (kind === "daily") return t("pl.rpDaily");
    if (kind === "weekly") return t("pl.rpWeekly");
    return String(kind);
  }

  /** How the report's last mail went, as text. */
  function mailState(r) {
    const n = r.mailed_to.length;
    if (n) return n === 1 ? t("pl.rpMailedOne") : t("pl.rpMailed", { n });
    if (r.mail_error) {
      const vars = { reason: r.mail_error, n: r.mail_attempts };
      return r.mail_attempts === 1 ? t("pl.rpNotMailedOne", vars) : t("pl.rpNotMailed", vars);
    }
    return t("pl.rpNoMail");
  }

  function reportError(message) {
    const box = $("#report-error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function renderReports() {
    const box = $("#reports");
    const list = $("#report-list");
    const rows = [...(S.reports || [])].sort((a, b) => Date.parse(b.period_from) - Date.parse(a.period_from) || Date.parse(b.created_at) - Date.parse(a.created_at));
    box.dataset.count = String(rows.length);
    box.setAttribute("aria-busy", "false");
    if (!rows.length) {
      list.replaceChildren(el("p", { class: "empty", testid: "reports-empty" }, t("pl.rpNone")));
      return;
    }
    const admin = isAdmin();
    const head = [t("pl.rpKind"), t("pl.rpPeriod"), t("pl.rpBuilt"), t("pl.rpFiles"), t("pl.rpMail")];
    if (admin) head.push(t("pl.rpActions"));
    const body = rows.map((r) => {
      const tried = r.mail_tried_at ? t("pl.rpTriedAt", { at: P.i18n.dateTime(r.mail_tried_at) }) : null;
      const mailed = r.mailed_to.length ? r.mailed_to.join(", ") : null;
      const cells = [
        el("td", { testid: "report-kind" }, reportKind(r.kind)),
        el("td", { testid: "report-period", title: `${P.i18n.dateTime(r.period_from)} – ${P.i18n.dateTime(r.period_to)}` }, reportPeriod(r)),
        el("td", { class: "nowrap" }, P.i18n.dateTime(r.created_at)),
        el("td", { class: "report-files" },
          el("a", { class: "btn small", href: r.html_url, target: "_blank", rel: "noopener", testid: "report-html" }, t("pl.rpHtml")),
          el("a", { class: "btn small", href: r.pdf_url, download: "", testid: "report-pdf" }, t("pl.rpPdf"))),
        el("td", { class: r.mailed_to.length ? "mail-ok" : "mail-not", testid: "report-mail-state", title: [mailed, tried].filter(Boolean).join(" · ") || null }, mailState(r)),
      ];
      if (admin) {
        const button = el("button", { type: "button", class: "btn small", testid: "report-mail" }, t("pl.rpMailAgain"));
        button.addEventListener("click", () => mailAgain(r, button));
        cells.push(el("td", {}, button));
      }
      return el("tr", { testid: "report-row", "data-id": r.id, "data-kind": r.kind }, cells);
    });
    list.replaceChildren(
      el("table", { class: "data reports-table" },
        el("thead", {}, el("tr", {}, head.map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, body)),
    );
  }

  /** Reads the kept reports again (on entering the page and after building or mailing one). */
  async function loadReports() {
    const seq = ++S.rseq;
    $("#reports").setAttribute("aria-busy", "true");
    try {
      const rows = await P.api.get(R);
      if (seq !== S.rseq || !S.me) return;
      S.reports = rows;
      renderReports();
    } catch (error) {
      if (seq !== S.rseq || !S.me) return;
      S.reports = null;
      $("#reports").setAttribute("aria-busy", "false");
      $("#report-list").replaceChildren(el("p", { class: "error", testid: "reports-failed" }, t("pl.failed", { detail: error.detail || error.message || error.status })));
    }
  }

  async function mailAgain(r, button) {
    if (!isAdmin()) return;
    button.disabled = true;
    reportError("");
    try {
      const row = await P.api.post(`${R}/${P.api.seg(r.id)}/mail`);
      toast(t("pl.rpMailedNow", { n: row.mailed_to.length }), "ok");
    } catch (error) {
      if (!S.me) return;
      // 502: the SMTP server's answer (the row records it too); 409: no SMTP server or recipient.
      reportError(t("pl.rpMailFailed", { detail: error.detail || error.message || error.status }));
    } finally {
      button.disabled = false;
    }
    loadReports();
  }

  $("#report-build-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!isAdmin()) return;
    const button = $("#report-build");
    button.disabled = true;
    button.textContent = t("pl.rpBuilding");
    reportError("");
    try {
      const answer = await P.api.post(R, { kind: $("#report-kind").value });
      if (answer.created) toast(t("pl.rpBuiltNow"), "ok");
      else toast(t("pl.rpExists"), "info");
    } catch (error) {
      if (!S.me) return;
      reportError(t("pl.rpBuildFailed", { detail: error.detail || error.message || error.status }));
    } finally {
      button.disabled = false;
      button.textContent = t("pl.rpBuild");
    }
    loadReports();
  });

  function enterReports() {
    reportError("");
    show($("#report-build-form"), isAdmin());
    show($("#reports"), true);
    loadReports();
  }

  function leaveReports() {
    S.reports = null;
    S.rseq += 1;
    reportError("");
    show($("#reports"), false);
    show($("#report-build-form"), false);
    $("#reports").dataset.count = "0";
    clear($("#report-list"));
  }

  // ---- session ------------------------------------------------------------------------------------
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
    renderWho();
    if (S.me && S.reports) renderReports();
    if (S.me && S.query) refresh();
  });

  function renderWho() {
    $("#whoami").textContent = S.me ? `${S.me.display_name || S.me.user} · ${P.i18n.tOr(`role.${S.me.role}`, S.me.role)}` : "";
  }

  function loginError(message) {
    const box = $("#login-error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function showLogin(message) {
    S.me = null;
    S.seq += 1;
    P.api.setCsrf(null);
    clear($("#charts"));
    leaveReports();
    show($("#boot"), false);
    show($("#app"), false);
    show($("#login"), true);
    $("#login-lang").append(langToggle);
    loginError(message);
    $("#login-username").focus();
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
    if (me.role === "responder") {
      leaveReports();
      $("#charts").replaceChildren(el("div", { class: "note-box", testid: "role-note" }, el("p", {}, t("pl.wrongRole")), el("a", { class: "btn", href: "/responder" }, "/responder")));
      return;
    }
    try {
      S.config = await P.api.get("/api/v1/ui/config");
      P.i18n.setTimeZone(S.config.timezone);
    } catch (error) {
      if (!S.me) return;
      toast(t("err.config", { detail: error.detail }), "error");
    }
    if (!$("#pl-from").value || !$("#pl-to").value) preset(30);
    enterReports();
    refresh();
  }

  P.api.onUnauthorized(() => {
    if (S.me) showLogin(t("login.expired"));
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
    try {
      await P.api.del("/api/v1/session", { noAuthRedirect: true });
    } catch (error) {
      if (error.status && error.status !== 401 && error.status !== 400) toast(error.detail, "error");
    }
    showLogin("");
  });

  $("#range-form").addEventListener("submit", (event) => {
    event.preventDefault();
    refresh();
  });
  for (const button of document.querySelectorAll("[data-days]")) {
    button.addEventListener("click", () => {
      preset(Number(button.dataset.days));
      refresh();
    });
  }

  async function boot() {
    P.i18n.apply(document);
    renderLang();
    try {
      const me = await P.api.get("/api/v1/me", { noAuthRedirect: true });
      await enter(me);
    } catch (error) {
      showLogin(error.status === 401 ? "" : t("login.failed", { detail: error.detail || error.status }));
    }
  }

  boot();
})();

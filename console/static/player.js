/* Pantau console: the evidence clip player of the alert detail.
 *
 * Browsers do not play Motion-JPEG AVI, so the console serves a clip frame by frame:
 * GET {clip}/frames opens one viewing (recorded in the evidence access log) and answers the frames'
 * times and a view token; GET {clip}/frames/{n}?view= answers each frame as a JPEG. The frames are
 * fetched with the session cookie, kept as blob: URLs (the CSP allows img-src blob:, nothing else
 * new), and shown in an <img>: play/pause at the times the frames were captured, a scrubber with the
 * incident's moment marked, and a frame back / forward. destroy() stops it and frees the frames. */
(() => {
  "use strict";
  const P = window.Pantau;
  const { el } = P.dom;
  const t = (key, vars) => P.i18n.t(key, vars);
  const PARALLEL = 3; // frames fetched at once: enough to keep ahead of playback, gentle on the console

  /** A player for the clip whose frames are under framesUrl (".../clip/frames"). */
  function create(framesUrl) {
    let index = null; // the answer of GET framesUrl
    let urls = []; // blob: URL per frame, once fetched
    let current = 0;
    let playing = false;
    let timer = null;
    let destroyed = false;
    let waiting = null; // a frame asked for before it arrived

    const img = el("img", { class: "player-frame", alt: t("player.alt"), testid: "player-frame" });
    const playButton = el("button", { type: "button", class: "btn small", testid: "player-play", disabled: true, onclick: () => (playing ? pause() : play()) }, t("player.play"));
    const back = el("button", { type: "button", class: "btn small", testid: "player-back", title: t("player.back"), "aria-label": t("player.back"), disabled: true, onclick: () => step(-1) }, "◀");
    const forward = el("button", { type: "button", class: "btn small", testid: "player-forward", title: t("player.forward"), "aria-label": t("player.forward"), disabled: true, onclick: () => step(1) }, "▶");
    const scrub = el("input", { type: "range", class: "player-scrub", min: 0, max: 0, step: 1, value: 0, testid: "player-scrub", "aria-label": t("player.scrub"), disabled: true });
    scrub.addEventListener("input", () => {
      pause();
      show(Number(scrub.value));
    });
    const marker = el("span", { class: "player-marker", testid: "player-marker", title: t("player.moment"), hidden: true });
    const time = el("span", { class: "player-time num", testid: "player-time" });
    const status = el("div", { class: "player-status muted", testid: "player-status" }, t("player.loading"));
    const node = el(
      "div",
      { class: "player", testid: "clip-player", "data-state": "loading" },
      el("div", { class: "player-screen" }, img),
      el("div", { class: "player-controls" }, playButton, back, forward, el("div", { class: "player-track" }, scrub, marker), time),
      status,
    );

    function setState(state) {
      node.dataset.state = state;
    }

    function caption(n) {
      const parts = [`${n + 1} / ${index.count}`, `+${index.offsets_s[n].toFixed(1)} s`];
      if (index.frame_ts) parts.push(P.i18n.dateTime(index.frame_ts[n]));
      if (n === index.incident_frame) parts.push(t("player.moment"));
      return parts.join(" · ");
    }

    function show(n) {
      if (!index) return;
      current = Math.max(0, Math.min(index.count - 1, n));
      scrub.value = String(current);
      node.dataset.frame = String(current);
      node.classList.toggle("at-moment", current === index.incident_frame);
      time.textContent = caption(current);
      if (urls[current]) {
        waiting = null;
        img.src = urls[current];
      } else {
        waiting = current; // shown as soon as it arrives
      }
    }

    function step(delta) {
      pause();
      show(current + delta);
    }

    function schedule() {
      clearTimeout(timer);
      if (!playing || destroyed) return;
      if (current >= index.count - 1) {
        pause();
        return;
      }
      const next = current + 1;
      if (!urls[next]) {
        timer = setTimeout(schedule, 100); // not fetched yet: wait for it rather than skip it
        return;
      }
      const gap = (index.offsets_s[next] - index.offsets_s[current]) * 1000;
      timer = setTimeout(() => {
        show(next);
        schedule();
      }, Math.max(20, Math.min(2000, gap)));
    }

    function play() {
      if (!index || destroyed) return;
      if (current >= index.count - 1) show(0);
      playing = true;
      playButton.textContent = t("player.pause");
      setState("playing");
      schedule();
    }

    function pause() {
      clearTimeout(timer);
      if (!playing) return;
      playing = false;
      playButton.textContent = t("player.play");
      setState("paused");
    }

    async function fetchFrame(n) {
      const response = await fetch(`${framesUrl}/${n}?view=${encodeURIComponent(index.view)}`, { credentials: "same-origin", cache: "no-store" });
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const blob = await response.blob();
      if (destroyed) return;
      urls[n] = URL.createObjectURL(blob);
      if (waiting === n) show(n);
    }

    async function load() {
      try {
        index = await P.api.get(framesUrl);
      } catch (error) {
        if (destroyed) return;
        setState("error");
        status.textContent = t("player.failed", { detail: error.detail || error.status });
        return;
      }
      if (destroyed) return;
      urls = new Array(index.count).fill(null);
      scrub.max = String(index.count - 1);
      for (const control of [playButton, back, forward, scrub]) control.disabled = false;
      if (index.incident_frame !== null && index.count > 1) {
        marker.hidden = false;
        marker.style.left = `${(index.incident_frame / (index.count - 1)) * 100}%`;
      }
      setState("paused");
      show(index.incident_frame !== null ? index.incident_frame : 0);
      // The incident's moment first (what the operator came for), then the clip from its start.
      const order = [current, ...Array.from({ length: index.count }, (_, i) => i).filter((i) => i !== current)];
      let loaded = 0;
      let failed = null;
      const worker = async () => {
        while (order.length && !destroyed && !failed) {
          const n = order.shift();
          try {
            await fetchFrame(n);
            loaded += 1;
            status.textContent = loaded < index.count ? t("player.fetching", { n: loaded, total: index.count }) : (index.blurred ? t("player.blurred") : "");
          } catch (error) {
            failed = error;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(PARALLEL, index.count) }, worker));
      if (failed && !destroyed) {
        pause();
        setState("error");
        status.textContent = t("player.failed", { detail: failed.message });
      }
    }

    function destroy() {
      destroyed = true;
      clearTimeout(timer);
      for (const url of urls) if (url) URL.revokeObjectURL(url);
      urls = [];
    }

    load();
    return { node, destroy, play, pause };
  }

  P.player = { create };
})();

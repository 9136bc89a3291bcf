/* Pantau responder: the service worker (served at /responder/sw.js, scope /responder).
 *
 * Shows the Web Push notifications alerting sends (alerting/channels/webpush.py):
 *   {"title", "body", "priority", "alert_id", "kind", "lat", "lon", "district", "snapshot_url", "link", "delivery_id"}
 * kind is "alert", "reminder", "escalation" or "stand_down" (the alert was resolved or closed). One
 * notification per alert (tag): a reminder or the stand-down replaces the earlier one. A tap opens the
 * responder page on that alert, or focuses it if it is open already. Open pages are told about every
 * push (postMessage {type: "push", payload}) so they refresh at once.
 *
 * The payload's "link" points at the operator console; the responder page is opened instead. Nothing
 * is cached: the page needs the network for live alerts anyway. */
/* eslint-env serviceworker */
"use strict";

const PAGE = "/responder";
const ICON = "/static/responder/icon-192.png";

function pageUrl(alertId) {
  const url = new URL(PAGE, self.location.origin);
  if (alertId) url.hash = `#/alert/${encodeURIComponent(String(alertId))}`;
  return url.href;
}

function parse(event) {
  if (!event.data) return {};
  try {
    const data = event.data.json();
    return data && typeof data === "object" ? data : {};
  } catch {
    return { body: event.data.text() };
  }
}

self.addEventListener("install", () => {
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("push", (event) => {
  const data = parse(event);
  const standDown = data.kind === "stand_down";
  const priority = Number(data.priority) || 4;
  const title = String(data.title || "Pantau");
  const options = {
    body: String(data.body || ""),
    icon: ICON,
    badge: ICON,
    tag: data.alert_id ? `pantau-alert-${data.alert_id}` : undefined,
    renotify: Boolean(data.alert_id),
    // An urgent alert stays on screen until the responder does something with it; a stand-down does not.
    requireInteraction: !standDown && priority <= 2,
    vibrate: standDown ? [120] : priority <= 2 ? [400, 150, 400, 150, 400] : [250, 120, 250],
    timestamp: Date.now(),
    data: { alert_id: data.alert_id || null, kind: data.kind || "alert", url: pageUrl(data.alert_id) },
  };
  event.waitUntil(
    (async () => {
      await self.registration.showNotification(title, options);
      const pages = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      for (const page of pages) page.postMessage({ type: "push", payload: data });
    })(),
  );
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  const data = event.notification.data || {};
  const target = data.url || pageUrl(null);
  event.waitUntil(
    (async () => {
      const pages = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
      for (const page of pages) {
        if (new URL(page.url).pathname.startsWith(PAGE)) {
          page.postMessage({ type: "open", alert_id: data.alert_id || null });
          await page.focus();
          return;
        }
      }
      await self.clients.openWindow(target);
    })(),
  );
});

/* Pantau console: HTTP client for /api/v1 (same origin, cookie session, CSRF header on changes).
 *
 * Every error becomes an ApiError {status, detail, retryAfter}; detail is the server's
 * {"detail": ...} as readable text. A 401 anywhere but the login form calls the handler set with
 * onUnauthorized (the page then shows the login form again). */
(() => {
  "use strict";
  const P = (window.Pantau = window.Pantau || {});

  let csrfToken = null;
  let unauthorizedHandler = null;

  class ApiError extends Error {
    constructor(status, detail, retryAfter = null) {
      super(detail);
      this.name = "ApiError";
      this.status = status;
      this.detail = detail;
      this.retryAfter = retryAfter;
    }
  }

  /** The server's detail (a string, or FastAPI's list of validation errors) as one line of text. */
  function describe(detail) {
    if (detail === undefined || detail === null) return "";
    if (typeof detail === "string") return detail;
    if (Array.isArray(detail)) {
      return detail
        .map((item) => {
          if (!item || typeof item !== "object") return String(item);
          const where = Array.isArray(item.loc) ? item.loc.filter((p) => p !== "body").join(".") : "";
          return where ? `${where}: ${item.msg}` : String(item.msg || JSON.stringify(item));
        })
        .join("; ");
    }
    if (typeof detail === "object") return detail.message ? String(detail.message) : JSON.stringify(detail);
    return String(detail);
  }

  function qs(params) {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(params || {})) {
      if (value === undefined || value === null || value === "") continue;
      for (const v of Array.isArray(value) ? value : [value]) search.append(key, String(v));
    }
    const text = search.toString();
    return text ? `?${text}` : "";
  }

  const seg = (value) => encodeURIComponent(String(value));

  async function request(method, path, body, opts = {}) {
    const headers = { Accept: "application/json", ...(opts.headers || {}) };
    const init = { method, headers, credentials: "same-origin", cache: "no-store" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
    let response;
    try {
      response = await fetch(path, init);
    } catch {
      throw new ApiError(0, P.i18n ? P.i18n.t("err.network") : "network error");
    }
    let data = null;
    const text = response.status === 204 ? "" : await response.text().catch(() => "");
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    if (!response.ok) {
      const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
      const detail =
        data && data.detail !== undefined ? describe(data.detail) : response.statusText || `HTTP ${response.status}`;
      const error = new ApiError(response.status, detail, Number.isFinite(retry) ? retry : null);
      if (response.status === 401 && !opts.noAuthRedirect && unauthorizedHandler) unauthorizedHandler(error);
      throw error;
    }
    return opts.withHeaders ? { data, headers: response.headers } : data;
  }

  P.api = {
    ApiError,
    describe,
    qs,
    seg,
    request,
    get: (path, opts) => request("GET", path, undefined, opts),
    post: (path, body, opts) => request("POST", path, body === undefined ? {} : body, opts),
    put: (path, body, opts) => request("PUT", path, body, opts),
    del: (path, opts) => request("DELETE", path, undefined, opts),
    setCsrf(token) {
      csrfToken = token || null;
    },
    onUnauthorized(handler) {
      unauthorizedHandler = handler;
    },
  };
})();

/* Pantau console: DOM helpers shared by every script.
 *
 * Server data is only ever put into the page as text (textContent, text nodes, attributes): never
 * as HTML. el() and svg() build elements; strings among the children become text nodes. */
(() => {
  "use strict";
  const P = (window.Pantau = window.Pantau || {});
  const SVG_NS = "http://www.w3.org/2000/svg";

  function setProps(node, props) {
    if (!props) return;
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.setAttribute("class", value);
      else if (key === "text") node.textContent = String(value);
      else if (key === "testid") node.setAttribute("data-testid", value);
      else if (key === "dataset") for (const [k, v] of Object.entries(value)) node.dataset[k] = String(v);
      else if (key === "style" && typeof value === "object") Object.assign(node.style, value);
      else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else if (key === "value" && "value" in node && node.namespaceURI !== SVG_NS) node.value = String(value);
      else if (key === "checked" || key === "selected") node[key] = Boolean(value);
      else if (value === true) node.setAttribute(key, "");
      else node.setAttribute(key, String(value));
    }
  }

  function append(parent, children) {
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      parent.append(child instanceof Node ? child : String(child));
    }
    return parent;
  }

  /** el("div", {class: "x", text: "y", onclick: fn}, child, "text", [more]) */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    setProps(node, props);
    return append(node, children);
  }

  function svg(tag, props, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    setProps(node, props);
    return append(node, children);
  }

  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

  function clear(node) {
    node.replaceChildren();
    return node;
  }

  function show(node, visible = true) {
    if (node) node.hidden = !visible;
  }

  /** A short message in the corner; kind: "info" | "ok" | "error". */
  function toast(message, kind = "info") {
    const box = document.getElementById("toasts");
    if (!box) return;
    const item = el("div", { class: `toast toast-${kind}`, role: kind === "error" ? "alert" : "status", testid: "toast" }, message);
    box.append(item);
    while (box.children.length > 5) box.firstElementChild.remove();
    setTimeout(() => item.remove(), kind === "error" ? 9000 : 4500);
  }

  const NOT_TEXT = new Set(["checkbox", "radio", "button", "submit", "reset", "file", "range", "color", "image"]);
  function isTyping(target) {
    if (!target || !(target instanceof Element)) return false;
    const tag = target.tagName;
    if (tag === "INPUT") return !NOT_TEXT.has((target.getAttribute("type") || "text").toLowerCase());
    return tag === "TEXTAREA" || tag === "SELECT" || target.isContentEditable;
  }

  function storeGet(key, fallback = null) {
    try {
      const value = window.localStorage.getItem(key);
      return value === null ? fallback : value;
    } catch {
      return fallback;
    }
  }

  function storeSet(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch {
      /* private mode: settings last for this page only */
    }
  }

  /** A tiny event bus between the scripts. */
  const listeners = new Map();
  function on(name, fn) {
    if (!listeners.has(name)) listeners.set(name, new Set());
    listeners.get(name).add(fn);
  }
  function emit(name, data) {
    for (const fn of listeners.get(name) || []) {
      try {
        fn(data);
      } catch (err) {
        console.error(`listener of ${name} failed`, err);
      }
    }
  }

  P.dom = { el, svg, $, $$, clear, show, append, toast, isTyping, storeGet, storeSet, SVG_NS };
  P.on = on;
  P.emit = emit;
})();

// Loads pages and components of app/ with miniprogram-simulate (which needs a DOM: jsdom).
const path = require('node:path');
const { JSDOM } = require('jsdom');

const dom = new JSDOM('<!doctype html><html><body></body></html>');
const g = /** @type {any} */ (globalThis);
g.window = dom.window;
g.document = dom.window.document;
for (const k of ['Node', 'HTMLElement', 'Element', 'Event', 'CustomEvent', 'MutationObserver', 'DocumentFragment', 'Text', 'Comment']) {
  if (!(k in g)) g[k] = dom.window[k];
}
const simulate = require('miniprogram-simulate');

const APP = path.join(__dirname, '..', '..', 'app');

/** Forgets the app's modules so that each test gets a fresh API layer (its login state). */
function freshModules() {
  for (const k of Object.keys(require.cache)) if (k.startsWith(APP + path.sep)) delete require.cache[k];
}

/**
 * Renders a page (built with Component(), as WeChat allows) and attaches it.
 * @param {string} page e.g. 'activate'
 */
function render(page) {
  const id = simulate.load(path.join(APP, 'pages', page, 'index'), { rootPath: APP });
  const comp = simulate.render(id);
  comp.attach(document.createElement('parent-wrapper'));
  return comp;
}

/** Waits for pending promise callbacks and timers of 0 ms. */
function settle(ms = 0) {
  return new Promise((r) => setTimeout(r, ms));
}

module.exports = { simulate, render, settle, freshModules, APP };

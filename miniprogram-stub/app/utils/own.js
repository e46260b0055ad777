// A page's private, non-rendered state (timers, canvas handles, keys), kept off `data`.
const store = new WeakMap();

/** @param {object} self the page or component @returns {Record<string, any>} */
module.exports = function own(self) {
  let o = store.get(self);
  if (!o) {
    o = {};
    store.set(self, o);
  }
  return o;
};

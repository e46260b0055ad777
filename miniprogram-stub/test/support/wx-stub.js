// A `wx` for unit tests: every call recorded, `request` answered by a route table.

/**
 * @param {{routes?: Record<string, any>, env?: string}} [opts]
 *   routes: "METHOD /path" → response object {status, data, headers} or a function(req, n) → one,
 *   or {fail: 'request:fail timeout'} to simulate a network failure.
 */
function wxStub(opts = {}) {
  const storage = new Map();
  const calls = [];
  const hits = new Map();
  let codes = 0;
  const canvases = [];
  const routes = Object.assign({
    'POST /api/v1/auth/wechat/login': () => ({ status: 200, data: { token: 'tok-' + codes, expires_in: 7200, user: { role: 'worker' } } }),
  }, opts.routes || {});
  const makeCanvas = () => {
    const ops = [];
    const ctx = new Proxy({ ops }, {
      get: (t, k) => (k === 'ops' ? ops : k in t ? t[k] : (...a) => ops.push([k, ...a])),
      set: (t, k, v) => { ops.push(['set ' + String(k), v]); return true; },
    });
    const c = { width: 0, height: 0, ctx, getContext: () => ctx };
    canvases.push(c);
    return c;
  };
  const wx = {
    calls,
    storage,
    canvases,
    requests: () => calls.filter((c) => c[0] === 'request').map((c) => c[1]),
    getAccountInfoSync: () => ({ miniProgram: { envVersion: opts.env || 'develop', appId: 'wx-test', version: '' } }),
    getStorageSync: (k) => (storage.has(k) ? storage.get(k) : ''),
    setStorageSync: (k, v) => storage.set(k, v),
    removeStorageSync: (k) => storage.delete(k),
    login: (o) => { calls.push(['login']); codes += 1; setTimeout(() => o.success({ code: 'code-' + codes, errMsg: 'login:ok' })); },
    request: (o) => {
      const path = o.url.replace(/^https?:\/\/[^/]+/, '').split('?')[0];
      const key = (o.method || 'GET') + ' ' + path;
      calls.push(['request', { key, url: o.url, data: o.data, header: o.header }]);
      const n = (hits.get(key) || 0) + 1;
      hits.set(key, n);
      let r = routes[key];
      if (typeof r === 'function') r = r(o, n);
      setTimeout(() => {
        if (!r) return o.success({ statusCode: 404, data: { code: 'not_found', message: '未找到' }, header: {} });
        if (r.fail) return o.fail({ errMsg: r.fail });
        o.success({ statusCode: r.status || 200, data: r.data, header: r.headers || {} });
      });
    },
    createSelectorQuery: () => {
      const q = {
        in: () => q, select: () => q, fields: () => q,
        exec: (cb) => setTimeout(() => cb([{ node: makeCanvas(), width: 240, height: 240 }])),
      };
      return q;
    },
    getWindowInfo: () => ({ pixelRatio: 1 }),
    getScreenBrightness: (o) => { calls.push(['getScreenBrightness']); o.success({ value: 0.3 }); },
    setScreenBrightness: (o) => calls.push(['setScreenBrightness', o.value]),
    requestSubscribeMessage: (o) => { calls.push(['requestSubscribeMessage', o.tmplIds]); setTimeout(() => o.success({ [o.tmplIds[0]]: 'accept' })); },
    canvasToTempFilePath: (o) => setTimeout(() => o.success({ tempFilePath: 'wxfile://sig.png' })),
    getFileSystemManager: () => ({ readFileSync: () => 'iVBORw0KGgo=' }),
    scanCode: (o) => { calls.push(['scanCode']); setTimeout(() => o.success({ result: opts.scan || 'qr-token' })); },
    navigateTo: (o) => calls.push(['navigateTo', o.url]),
    redirectTo: (o) => calls.push(['redirectTo', o.url]),
    stopPullDownRefresh: () => calls.push(['stopPullDownRefresh']),
  };
  return wx;
}

module.exports = { wxStub };

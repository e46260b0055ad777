// The one module that talks to the Huigong API: base URL per environment, the bearer token in
// storage, one silent re-login and one retry after a 401, every failure turned into ApiError.
// Nothing here logs request or response bodies (they carry names, ID numbers, mobiles).

const config = require('../config');

/** Storage keys of the two kinds of session this mini program holds. */
const TOKEN_KEYS = { worker: 'huigong.token', staff: 'huigong.staff_token' };

/** Messages for failures that never reached the server or came back without a JSON error. */
const LOCAL_MESSAGES = {
  network: '网络不可用，请检查网络后重试',
  timeout: '请求超时，请检查网络后重试',
  session_expired: '登录已过期，请重新登录',
  wechat_login_failed: '微信登录失败，请稍后重试',
  server_error: '服务暂时不可用，请稍后重试',
};

/** What every page shows for a failed call: the server's `{code, message, field?}`. */
class ApiError extends Error {
  /**
   * @param {{status?: number, code: string, message?: string, field?: string, retryAfter?: number}} p
   */
  constructor(p) {
    super(p.message || LOCAL_MESSAGES[p.code] || LOCAL_MESSAGES.server_error);
    this.name = 'ApiError';
    /** HTTP status; 0 when the server was not reached. */
    this.status = p.status || 0;
    this.code = p.code;
    this.field = p.field;
    /** Seconds, from `Retry-After`. */
    this.retryAfter = p.retryAfter;
  }

  /** Whether trying the same call again later can help (network, timeout, 5xx). */
  get retryable() {
    return this.status === 0 || this.status >= 500;
  }
}

/** The API host for this copy of the mini program (develop / trial / release). */
function baseUrl() {
  return /** @type {Record<string, string>} */ (config.baseUrls)[envVersion()] || config.baseUrls.release;
}

/** `develop`, `trial` or `release`. */
function envVersion() {
  try {
    return wx.getAccountInfoSync().miniProgram.envVersion || 'release';
  } catch (_) {
    return 'release'; // older base libraries
  }
}

/** @param {'worker'|'staff'} role */
function getToken(role = 'worker') {
  return wx.getStorageSync(TOKEN_KEYS[role]) || '';
}

/** @param {'worker'|'staff'} role @param {string} token */
function setToken(role, token) {
  if (token) wx.setStorageSync(TOKEN_KEYS[role], token);
  else wx.removeStorageSync(TOKEN_KEYS[role]);
}

/** @param {Record<string, string>|undefined} headers @param {string} name */
function header(headers, name) {
  if (!headers) return undefined;
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

/**
 * One HTTP exchange; resolves `{status, data, headers}` whatever the status, rejects ApiError
 * when the server was not reached.
 * @param {{path: string, method?: string, data?: any, headers?: Record<string, string>}} opts
 * @returns {Promise<{status: number, data: any, headers: Record<string, string>}>}
 */
function send(opts) {
  return new Promise((resolve, reject) => {
    wx.request({
      url: baseUrl() + opts.path,
      method: /** @type {any} */ (opts.method || 'GET'),
      data: opts.data,
      header: Object.assign({ 'content-type': 'application/json' }, opts.headers || {}),
      timeout: config.requestTimeoutMs,
      dataType: 'json',
      success: (res) =>
        resolve({
          status: res.statusCode,
          data: res.data,
          headers: /** @type {Record<string, string>} */ (res.header || {}),
        }),
      fail: (err) => {
        const timeout = /timeout|超时/i.test((err && err.errMsg) || '');
        reject(new ApiError({ code: timeout ? 'timeout' : 'network' }));
      },
    });
  });
}

/** @param {{status: number, data: any, headers: Record<string, string>}} res */
function toError(res) {
  const body = res.data && typeof res.data === 'object' ? res.data : {};
  const retry = Number(header(res.headers, 'retry-after'));
  return new ApiError({
    status: res.status,
    code: typeof body.code === 'string' ? body.code : res.status >= 500 ? 'server_error' : 'http_' + res.status,
    message: typeof body.message === 'string' ? body.message : undefined,
    field: typeof body.field === 'string' ? body.field : undefined,
    retryAfter: Number.isFinite(retry) && retry > 0 ? retry : undefined,
  });
}

/** A login code: `wx.login`, or the local mock's in a develop build set up for it. */
function loginCode() {
  if (config.developMockLogin && envVersion() === 'develop') {
    return send({ path: '/wechat-mock/wx/login', method: 'POST', data: {} }).then((res) => {
      if (res.status !== 200) throw new ApiError({ code: 'wechat_login_failed' });
      return res.data.code;
    });
  }
  return new Promise((resolve, reject) => {
    wx.login({
      success: (r) => resolve(r.code),
      fail: () => reject(new ApiError({ code: 'wechat_login_failed' })),
    });
  });
}

/** @type {Promise<any>|null} */
let pendingLogin = null;

/** `wx.login` → `POST /api/v1/auth/wechat/login`; one at a time. Resolves the user. */
function login() {
  if (pendingLogin) return pendingLogin;
  pendingLogin = loginCode()
    .then((code) => send({ path: '/api/v1/auth/wechat/login', method: 'POST', data: { code } }))
    .then((res) => {
      if (res.status !== 200) throw toError(res);
      setToken('worker', res.data.token);
      return res.data.user;
    })
    .finally(() => {
      pendingLogin = null;
    });
  return pendingLogin;
}

/** Logs in with a token already stored, else with `wx.login`. */
function ensureLogin() {
  return getToken('worker') ? Promise.resolve(null) : login();
}

/**
 * A call to the API. Resolves the JSON body (or `{data, status, headers}` with `full`).
 * A worker's 401 is answered by one silent re-login and one retry; a till's 401 means signing
 * in again (`session_expired`).
 * @param {{path: string, method?: string, data?: any, headers?: Record<string, string>,
 *   role?: 'worker'|'staff', auth?: boolean, full?: boolean}} opts
 * @returns {Promise<any>}
 */
async function request(opts) {
  const role = opts.role || 'worker';
  const auth = opts.auth !== false;
  const attempt = async () => {
    const headers = Object.assign({}, opts.headers || {});
    const token = auth ? getToken(role) : '';
    if (token) headers.Authorization = 'Bearer ' + token;
    return send({ path: opts.path, method: opts.method, data: opts.data, headers });
  };
  if (auth && role === 'worker' && !getToken('worker')) await login();
  let res = await attempt();
  if (res.status === 401 && auth) {
    setToken(role, '');
    if (role !== 'worker') throw new ApiError({ status: 401, code: 'session_expired' });
    await login();
    res = await attempt();
  }
  if (res.status < 200 || res.status >= 300) throw toError(res);
  return opts.full ? res : res.data;
}

/** @param {Record<string, any>} q */
function query(q) {
  const parts = Object.keys(q)
    .filter((k) => q[k] !== undefined && q[k] !== null && q[k] !== '')
    .map((k) => encodeURIComponent(k) + '=' + encodeURIComponent(q[k]));
  return parts.length ? '?' + parts.join('&') : '';
}

/** A key for a request that must not happen twice (not a secret). */
function newIdempotencyKey() {
  const rand = () => Math.floor(Math.random() * 0x100000000).toString(16).padStart(8, '0');
  return 'mp-' + Date.now().toString(36) + '-' + rand() + rand();
}

module.exports = {
  ApiError,
  LOCAL_MESSAGES,
  TOKEN_KEYS,
  baseUrl,
  getToken,
  setToken,
  login,
  ensureLogin,
  request,
  newIdempotencyKey,

  // The worker.
  me: () => request({ path: '/api/v1/me' }),
  /** @param {string} code */
  confirmPhone: (code) => request({ path: '/api/v1/me/phone', method: 'POST', data: { code } }),
  card: () => request({ path: '/api/v1/card' }),
  cardQr: () => request({ path: '/api/v1/card/qr' }),
  cardRedemptions: () => request({ path: '/api/v1/card/redemptions' }),
  /** @param {{name: string, id_number: string}} body */
  previewActivation: (body) => request({ path: '/api/v1/card/activation/preview', method: 'POST', data: body }),
  /** @param {string} previewId */
  confirmActivation: (previewId) =>
    request({ path: '/api/v1/card/activation/confirm', method: 'POST', data: { preview_id: previewId } }),
  declaration: () => request({ path: '/api/v1/applications/declaration', auth: false }),
  /** @param {string} q */
  unions: (q) => request({ path: '/api/v1/unions' + query({ q, per_page: 20 }) }),
  /** The union a poster's scene code names: {id, name, district}. @param {string} code */
  unionByScene: (code) => request({ path: '/api/v1/unions/scene/' + encodeURIComponent(code) }),
  /** @param {Record<string, any>} body @param {string} key */
  apply: (body, key) =>
    request({ path: '/api/v1/applications', method: 'POST', data: body, headers: { 'Idempotency-Key': key } }),
  myApplications: () => request({ path: '/api/v1/applications/mine' }),
  /** @param {string} [category] */
  benefits: (category) => request({ path: '/api/v1/benefits' + query({ category }) }),
  /** @param {{category?: string, q?: string, page?: number}} q */
  merchants: (q) => request({ path: '/api/v1/merchants' + query(Object.assign({ per_page: 20 }, q)) }),

  // The till (merchant staff).
  /** @param {string} username @param {string} password */
  async staffLogin(username, password) {
    const res = await send({
      path: '/api/v1/auth/password/login',
      method: 'POST',
      data: { username, password },
    });
    if (res.status !== 200) throw toError(res);
    if (res.data.user.role !== 'merchant_staff') {
      throw new ApiError({ status: 403, code: 'not_merchant_staff', message: '该账号不是商家核销员账号' });
    }
    setToken('staff', res.data.token);
    return res.data.user;
  },
  staffLogout: () => setToken('staff', ''),
  /** @param {string} token */
  verify: (token) => request({ role: 'staff', path: '/api/v1/merchant/verify', method: 'POST', data: { token } }),
  /** @param {{verification_id: string, discount_id: string, amount_fen: number}} body @param {string} key */
  redeem: (body, key) =>
    request({
      role: 'staff',
      path: '/api/v1/merchant/redemptions',
      method: 'POST',
      data: body,
      headers: { 'Idempotency-Key': key },
      full: true,
    }),
  /** @param {string} day YYYY-MM-DD */
  todaysRedemptions: (day) =>
    request({ role: 'staff', path: '/api/v1/merchant/redemptions' + query({ from: day, to: day, per_page: 50 }) }),
};

// The API layer (app/api): base URL, token, 401 → one silent re-login and one retry, errors.
const test = require('node:test');
const assert = require('node:assert/strict');
const { freshModules } = require('../support/sim.js');
const { wxStub } = require('../support/wx-stub.js');

function setup(opts) {
  freshModules();
  const wx = wxStub(opts);
  /** @type {any} */ (globalThis).wx = wx;
  return { wx, api: require('../../app/api/index.js') };
}

test('base URL follows the environment (develop / trial / release)', () => {
  for (const [env, host] of [['develop', 'http://127.0.0.1:8080'], ['trial', 'https://huigong.example.gov.cn'], ['release', 'https://huigong.example.gov.cn']]) {
    const { api } = setup({ env });
    assert.equal(api.baseUrl(), host);
  }
});

test('logs in silently first, stores the token and sends it as a bearer token', async () => {
  const { wx, api } = setup({ routes: { 'GET /api/v1/me': { data: { role: 'worker' } } } });
  const me = await api.me();
  assert.equal(me.role, 'worker');
  const reqs = wx.requests();
  assert.deepEqual(reqs.map((r) => r.key), ['POST /api/v1/auth/wechat/login', 'GET /api/v1/me']);
  assert.deepEqual(reqs[0].data, { code: 'code-1' });
  assert.equal(reqs[1].header.Authorization, 'Bearer tok-1');
  assert.equal(wx.getStorageSync(api.TOKEN_KEYS.worker), 'tok-1');
});

test('a 401 is answered by one silent re-login and one retry', async () => {
  const { wx, api } = setup({
    routes: {
      'GET /api/v1/card': (_o, n) => (n === 1 ? { status: 401, data: { code: 'unauthorized', message: '请先登录' } } : { data: { card_number: '1' } }),
    },
  });
  wx.setStorageSync(api.TOKEN_KEYS.worker, 'stale');
  const card = await api.card();
  assert.equal(card.card_number, '1');
  const keys = wx.requests().map((r) => r.key);
  assert.deepEqual(keys, ['GET /api/v1/card', 'POST /api/v1/auth/wechat/login', 'GET /api/v1/card']);
  assert.equal(wx.requests()[2].header.Authorization, 'Bearer tok-1');
});

test('a second 401 is not answered by another login: the error reaches the page', async () => {
  const { wx, api } = setup({ routes: { 'GET /api/v1/card': { status: 401, data: { code: 'unauthorized', message: '请先登录' } } } });
  wx.setStorageSync(api.TOKEN_KEYS.worker, 'stale');
  await assert.rejects(api.card(), (e) => e instanceof api.ApiError && e.code === 'unauthorized' && e.status === 401);
  assert.equal(wx.calls.filter((c) => c[0] === 'login').length, 1);
});

test('concurrent calls share one login', async () => {
  const { wx, api } = setup({ routes: { 'GET /api/v1/me': { data: {} }, 'GET /api/v1/card': { data: {} } } });
  await Promise.all([api.me(), api.card()]);
  assert.equal(wx.calls.filter((c) => c[0] === 'login').length, 1);
});

test('{code, message, field} errors become ApiError with Retry-After', async () => {
  const { api } = setup({
    routes: {
      'POST /api/v1/card/activation/preview': {
        status: 429,
        data: { code: 'too_many_attempts', message: '今日核验失败次数过多，请明天再试' },
        headers: { 'Retry-After': '3600' },
      },
    },
  });
  await assert.rejects(api.previewActivation({ name: 'x', id_number: 'y' }), (e) => {
    assert.equal(e.code, 'too_many_attempts');
    assert.equal(e.message, '今日核验失败次数过多，请明天再试');
    assert.equal(e.retryAfter, 3600);
    assert.equal(e.retryable, false);
    return true;
  });
});

test('timeouts and offline become retryable errors with a Chinese message', async () => {
  for (const [fail, code] of [['request:fail timeout', 'timeout'], ['request:fail', 'network']]) {
    const { api } = setup({ routes: { 'GET /api/v1/card': { fail } } });
    await assert.rejects(api.card(), (e) => e.code === code && e.retryable && /网络/.test(e.message));
  }
});

test('a till session that expires asks to sign in again instead of a WeChat login', async () => {
  const { wx, api } = setup({ routes: { 'POST /api/v1/merchant/verify': { status: 401, data: { code: 'unauthorized', message: '请先登录' } } } });
  wx.setStorageSync(api.TOKEN_KEYS.staff, 'staff-token');
  await assert.rejects(api.verify('t'), (e) => e.code === 'session_expired' && /重新登录/.test(e.message));
  assert.equal(wx.calls.filter((c) => c[0] === 'login').length, 0);
  assert.equal(wx.getStorageSync(api.TOKEN_KEYS.staff), '');
});

test('no request or answer is written to the console', async () => {
  const { api } = setup({
    routes: {
      'POST /api/v1/card/activation/preview': { status: 404, data: { code: 'not_on_roster', message: '未找到' } },
    },
  });
  const seen = [];
  const saved = {};
  for (const m of ['log', 'info', 'warn', 'error', 'debug']) {
    saved[m] = console[m];
    console[m] = (...a) => seen.push(a.join(' '));
  }
  try {
    await api.previewActivation({ name: '张三丰', id_number: '330522199001010013' }).catch(() => {});
  } finally {
    Object.assign(console, saved);
  }
  assert.ok(!seen.some((l) => /330522|张三丰/.test(l)), seen.join('\n'));
});

test('a develop build set up for the local mock takes its login code from /wechat-mock/wx/login', async () => {
  const { wx, api } = setup({
    routes: {
      'POST /wechat-mock/wx/login': { data: { code: 'mock-code' } },
      'GET /api/v1/me': { data: {} },
    },
  });
  require('../../app/config.js').developMockLogin = true;
  await api.me();
  assert.deepEqual(wx.requests().map((r) => r.key), ['POST /wechat-mock/wx/login', 'POST /api/v1/auth/wechat/login', 'GET /api/v1/me']);
  assert.deepEqual(wx.requests()[1].data, { code: 'mock-code' });
  assert.equal(wx.calls.filter((c) => c[0] === 'login').length, 0);
});

test('a release build never uses the mock login', async () => {
  const { wx, api } = setup({ env: 'release', routes: { 'GET /api/v1/me': { data: {} } } });
  require('../../app/config.js').developMockLogin = true;
  await api.me();
  assert.equal(wx.calls.filter((c) => c[0] === 'login').length, 1);
});

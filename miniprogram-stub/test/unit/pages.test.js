// Page logic with miniprogram-simulate (pages rendered from their wxml) and `wx` stubbed per test.
const test = require('node:test');
const assert = require('node:assert/strict');
const { render, settle, freshModules } = require('../support/sim.js');
const { wxStub } = require('../support/wx-stub.js');

function setup(opts) {
  freshModules();
  const wx = wxStub(opts);
  /** @type {any} */ (globalThis).wx = wx;
  return wx;
}
const text = (comp) => comp.dom.textContent;
const err = (status, code, message, headers) => ({ status, data: { code, message }, headers });

test('首页: a worker without a card is offered activation and the application', async () => {
  const wx = setup({ routes: { 'GET /api/v1/card': err(404, 'no_card', '尚未激活惠工卡，请先核验身份并激活') } });
  const page = render('index');
  await page.instance.onLoad({});
  assert.equal(wx.requests()[0].key, 'POST /api/v1/auth/wechat/login');
  assert.equal(page.data.activated, false);
  assert.match(text(page), /激活惠工卡/);
  assert.match(text(page), /申请入会/);
});

test('首页: a server failure is shown with its message and a retry button', async () => {
  setup({ routes: { 'GET /api/v1/card': err(503, 'database_unavailable', '数据库暂时不可用，请稍后再试') } });
  const page = render('index');
  await page.instance.onLoad({});
  assert.match(text(page), /数据库暂时不可用/);
  assert.match(text(page), /重试/);
});

test('激活: nothing is sent before the privacy consent', async () => {
  const wx = setup();
  const page = render('activate');
  page.instance.setData({ name: '张三丰', idNumber: '330522199001010013' });
  await page.instance.submitPreview();
  assert.equal(wx.requests().length, 0);
  assert.match(text(page), /请先阅读并同意《个人信息处理说明》/);
  assert.match(text(page), /个人信息处理说明/);
});

test('激活: preview shows the masked holder, drops the ID number, confirm opens the card', async () => {
  const wx = setup({
    routes: {
      'POST /api/v1/card/activation/preview': { data: { preview_id: 'p1', holder: '张*丰', union_name: '甲公司工会', unit_name: '甲公司', expires_in: 600 } },
      'POST /api/v1/card/activation/confirm': { status: 201, data: { card_number: '8330' } },
    },
  });
  const page = render('activate');
  page.instance.setData({ name: '张三丰', idNumber: '330522199001010013', consent: true });
  await page.instance.submitPreview();
  assert.equal(page.data.idNumber, '');
  assert.match(text(page), /张\*丰/);
  assert.doesNotMatch(text(page), /330522199001010013/);
  await page.instance.confirm();
  assert.deepEqual(wx.requests().at(-1).data, { preview_id: 'p1' });
  assert.deepEqual(wx.calls.at(-1), ['redirectTo', '/pages/card/index']);
});

test('激活: every error code of the preview is shown with its message', async () => {
  const cases = [
    [err(404, 'not_on_roster', '未找到与该姓名和身份证号匹配的在册会员'), /未找到与该姓名/, /申请入会/],
    [err(429, 'too_many_attempts', '今日核验失败次数过多，请明天再试', { 'Retry-After': '600' }), /今日核验失败次数过多.*可于 .*\d\d:\d\d 后再试/],
    [{ status: 400, data: { code: 'invalid_field', message: '身份证号码校验位错误', field: 'id_number' } }, /身份证号码校验位错误/],
    [err(403, 'forbidden', '没有权限'), /没有权限/],
  ];
  for (const [answer, message, extra] of cases) {
    setup({ routes: { 'POST /api/v1/card/activation/preview': answer } });
    const page = render('activate');
    page.instance.setData({ name: '张三丰', idNumber: '330522199001010013', consent: true });
    await page.instance.submitPreview();
    assert.match(text(page), message);
    if (extra) assert.match(text(page), extra);
  }
});

test('激活: confirm errors are shown; an expired preview goes back to the form', async () => {
  for (const [code, message] of [['preview_not_found', '核验信息已过期'], ['card_bound_elsewhere', '已绑定其他微信账号'], ['already_has_card', '只能绑定一张卡']]) {
    setup({ routes: { 'POST /api/v1/card/activation/confirm': err(code === 'preview_not_found' ? 404 : 409, code, message) } });
    const page = render('activate');
    page.instance.setData({ preview: { preview_id: 'p', holder: '张*', union_name: 'u', unit_name: 'x' } });
    await page.instance.confirm();
    assert.match(text(page), new RegExp(message));
    assert.equal(page.data.preview === null, code === 'preview_not_found');
  }
});

test('我的惠工卡: the QR is drawn, refreshed before expiry, the screen brightened and restored', async () => {
  let qrs = 0;
  const wx = setup({
    routes: {
      'GET /api/v1/card': { data: { card_number: '8330', holder: '张*丰', union_name: '甲公司工会' } },
      'GET /api/v1/card/qr': () => ({ data: { token: 'tok' + ++qrs, expires_in: 6 } }),
      'GET /api/v1/card/redemptions': { data: { items: [] } },
    },
  });
  const page = render('card');
  await page.instance.onShow();
  assert.deepEqual(wx.calls.filter((c) => c[0] === 'setScreenBrightness')[0], ['setScreenBrightness', 1]);
  assert.ok(wx.canvases[0].ctx.ops.some((op) => op[0] === 'fillRect'), 'QR modules drawn');
  assert.match(text(page), /暂无使用记录/);
  await settle(1100 + 50); // expires_in 6 − 5 s margin = 1 s
  assert.equal(qrs, 2, 'refreshed before expiry');
  page.instance.onHide();
  assert.deepEqual(wx.calls.filter((c) => c[0] === 'setScreenBrightness').at(-1), ['setScreenBrightness', 0.3]);
  await settle(1200);
  assert.equal(qrs, 2, 'no refresh once hidden');
});

test('我的惠工卡: a suspended card shows why there is no code', async () => {
  setup({
    routes: {
      'GET /api/v1/card': { data: { card_number: '8330', holder: '张*', union_name: 'u' } },
      'GET /api/v1/card/qr': err(403, 'card_inactive', '惠工卡当前不可用（已暂停或注销），无法出示动态码'),
      'GET /api/v1/card/redemptions': { data: { items: [] } },
    },
  });
  const page = render('card');
  await page.instance.onShow();
  assert.match(text(page), /惠工卡当前不可用/);
  page.instance.onUnload();
});

const declaration = { version: 'acftu-application-2018', title: '中华全国总工会入会申请书', text: '我自愿加入中华全国总工会' };

async function applyPage(routes) {
  const wx = setup({
    routes: Object.assign({
      'GET /api/v1/applications/declaration': { data: declaration },
      'GET /api/v1/unions': { data: { items: [{ id: 'u1', name: '甲公司工会', unit_names: ['甲公司'] }], total: 1 } },
    }, routes),
  });
  const page = render('apply');
  await page.instance.onLoad({ union_id: 'u1' });
  page.instance.setData({
    form: Object.assign({}, page.data.form, { name: '张三丰', id_number: '330522199001010013', education: '大专', household_type: '农村', unit_name: '甲公司' }),
  });
  return { wx, page };
}

test('申请入会: the declaration from the API, the union chosen, consents required', async () => {
  const { wx, page } = await applyPage({});
  assert.match(text(page), /中华全国总工会入会申请书/);
  assert.match(text(page), /我自愿加入中华全国总工会/);
  assert.equal(page.data.union.id, 'u1');
  await page.instance.submit();
  assert.match(text(page), /须阅读并同意《中华全国总工会入会申请书》/);
  page.instance.setData({ agree: true });
  await page.instance.submit();
  assert.match(text(page), /须单独同意工会处理您的身份证号码/);
  assert.ok(!wx.requests().some((r) => r.key === 'POST /api/v1/applications'));
});

test('申请入会: subscribe is asked before submitting; a failed submit keeps its Idempotency-Key', async () => {
  const { wx, page } = await applyPage({
    'POST /api/v1/applications': (_o, n) => (n === 1 ? { fail: 'request:fail timeout' } : { status: 201, data: { id: 'a1', status: 'pending' } }),
  });
  page.instance.setData({ agree: true, consent: true });
  await page.instance.submit();
  assert.match(text(page), /请求超时/);
  const subscribeAt = wx.calls.findIndex((c) => c[0] === 'requestSubscribeMessage');
  const postAt = wx.calls.findIndex((c) => c[0] === 'request' && c[1].key === 'POST /api/v1/applications');
  assert.ok(subscribeAt >= 0 && subscribeAt < postAt, 'subscribe requested before the POST');
  assert.deepEqual(wx.calls[subscribeAt][1], ['tmpl-dev-apply-result']);
  await page.instance.submit();
  const posts = wx.requests().filter((r) => r.key === 'POST /api/v1/applications');
  assert.equal(posts.length, 2);
  assert.equal(posts[0].header['Idempotency-Key'], posts[1].header['Idempotency-Key']);
  assert.equal(posts[1].data.consent_sensitive, true);
  assert.equal(posts[1].data.declaration_version, 'acftu-application-2018');
  assert.deepEqual(wx.calls.at(-1), ['redirectTo', '/pages/applications/index']);
});

test('申请入会: already a member → the message and the way to activate', async () => {
  const { page } = await applyPage({ 'POST /api/v1/applications': err(409, 'already_member', '您已是工会会员，可直接激活惠工卡') });
  page.instance.setData({ agree: true, consent: true });
  await page.instance.submit();
  assert.match(text(page), /您已是工会会员/);
  assert.equal(page.data.error.action, 'activate');
});

test('我的申请: status and the reviewer\'s reason', async () => {
  setup({ routes: { 'GET /api/v1/applications/mine': { data: [{ id: 'a', union_name: '甲公司工会', status: 'rejected', reason: '不在本单位', created_at: '2026-12-01T02:00:00Z' }] } } });
  const page = render('applications');
  await page.instance.onShow();
  assert.match(text(page), /未通过/);
  assert.match(text(page), /不在本单位/);
});

test('手机号: the button\'s code is sent and the masked number shown; errors with their message', async () => {
  const wx = setup({ routes: { 'POST /api/v1/me/phone': (_o, n) => (n === 1 ? { data: { mobile: '138****5678' } } : err(400, 'phone_code_invalid', '手机号授权凭证无效、已过期或已使用，请重新授权')) } });
  const page = render('phone');
  await page.instance.onGetPhoneNumber({ detail: { code: 'pc1' } });
  assert.deepEqual(wx.requests().at(-1).data, { code: 'pc1' });
  assert.match(text(page), /138\*\*\*\*5678/);
  await page.instance.onGetPhoneNumber({ detail: { code: 'pc2' } });
  assert.match(text(page), /手机号授权凭证无效/);
});

test('惠工服务 and 特约商家: lists by category, empty states', async () => {
  setup({
    routes: {
      'GET /api/v1/benefits': { data: { card_active: false, categories: [{ category: '职工医疗', items: [{ id: 'b', title: '职工体检', provider: '县医院', offered_by: '县总工会', how_to_use: '持卡', contact: '1', members_only: true, qualifies: false }] }, { category: '职工就业', items: [] }] } },
      'GET /api/v1/merchants': { data: { items: [{ id: 'm', name: '长兴面馆', category: '餐饮', address: 'a', phone: 'p', discounts: [{ id: 'd', title: '会员九折', kind: 'percent', value: 10, daily_limit_per_card: 2 }] }], total: 1 } },
    },
  });
  const b = render('benefits');
  await b.instance.onLoad();
  assert.match(text(b), /职工体检/);
  b.instance.pick({ currentTarget: { dataset: { index: 1 } } });
  assert.match(text(b), /该类别暂无服务/);
  const m = render('merchants');
  await m.instance.onLoad();
  assert.match(text(m), /长兴面馆/);
  assert.match(text(m), /9 折/);
  assert.deepEqual(m.data.categories, ['全部', '餐饮']);
});

test('商家核销: the Idempotency-Key is kept until the redemption succeeds', async () => {
  const wx = setup({
    scan: 'qr-token-1',
    routes: {
      'POST /api/v1/auth/password/login': { data: { token: 'st', user: { role: 'merchant_staff' } } },
      'GET /api/v1/merchant/redemptions': { data: { items: [], totals: { count: 0, discount_fen: 0 } } },
      'POST /api/v1/merchant/verify': { data: { verification_id: 'v1', expires_in: 300, card: { holder: '张*丰', union_name: 'u' }, discounts: [{ id: 'd1', title: '会员九折', kind: 'percent', value: 10, uses_left_today: 2 }] } },
      'POST /api/v1/merchant/redemptions': (_o, n) =>
        n === 1 ? { fail: 'request:fail' } : n === 2 ? err(503, 'database_unavailable', '数据库暂时不可用') : { status: 201, data: { id: 'r1', verification_id: 'v1', discount_title: '会员九折', discount_fen: 500, amount_fen: 5000, created_at: '2026-12-01T02:00:00Z' } },
    },
  });
  const page = render('till');
  page.instance.onLoad();
  page.instance.setData({ username: 'shop', password: 'pw' });
  await page.instance.signIn();
  assert.equal(page.data.signedIn, true);
  await page.instance.scan();
  assert.deepEqual(wx.requests().find((r) => r.key === 'POST /api/v1/merchant/verify').data, { token: 'qr-token-1' });
  page.instance.setData({ amount: '50' });
  await page.instance.redeem();
  assert.match(text(page), /网络不可用/);
  assert.match(text(page), /重新提交/);
  await page.instance.redeem();
  assert.match(text(page), /数据库暂时不可用/);
  await page.instance.redeem();
  const keys = wx.requests().filter((r) => r.key === 'POST /api/v1/merchant/redemptions').map((r) => r.header['Idempotency-Key']);
  assert.equal(keys.length, 3);
  assert.equal(new Set(keys).size, 1, 'one key for the three attempts');
  assert.equal(wx.getStorageSync('huigong.till.pending'), '', 'forgotten after success');
  assert.match(text(page), /核销成功/);
});

test('商家核销: a wrong password and an expired session are shown', async () => {
  setup({ routes: { 'POST /api/v1/auth/password/login': err(401, 'invalid_credentials', '用户名或密码错误') } });
  const page = render('till');
  page.instance.onLoad();
  await page.instance.signIn();
  assert.match(text(page), /用户名或密码错误/);
});

// Union posters: the scene a poster's mini-program code carries, read at launch (app.js) and by
// 申请入会's onLoad, resolved by GET /api/v1/unions/scene/{code} to the union chosen.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const { render, freshModules, APP } = require('../support/sim.js');
const { wxStub } = require('../support/wx-stub.js');

const g = /** @type {any} */ (globalThis);
const SCENE = 'k7m2p9qr3x';
const declaration = { version: 'acftu-application-2018', title: '中华全国总工会入会申请书', text: '我自愿加入中华全国总工会' };
const union = { id: '01937a2b-5c3d-7e4f-8a9b-0c1d2e3f4a5b', name: '甲公司工会', district: '雉城街道总工会' };

/** app.js as WeChat runs it: the object given to App(), with getApp() returning it. */
function launchApp() {
  freshModules();
  let app = null;
  g.App = (/** @type {any} */ def) => { app = def; };
  require(path.join(APP, 'app.js'));
  g.getApp = () => app;
  return /** @type {any} */ (app);
}

function setup(routes) {
  const wx = wxStub({
    routes: Object.assign({
      'GET /api/v1/applications/declaration': { data: declaration },
      'GET /api/v1/unions': { data: { items: [{ id: 'other', name: '乙公司工会', unit_names: ['乙公司'] }], total: 1 } },
      ['GET /api/v1/unions/scene/' + SCENE]: { data: union },
    }, routes),
  });
  g.wx = wx;
  return wx;
}

test.afterEach(() => {
  delete g.getApp;
  delete g.App;
});

test('app.js remembers a launch scene, URL-decoded, until a page takes it once', () => {
  const app = launchApp();
  app.onLaunch({ path: 'pages/apply/index', query: { scene: encodeURIComponent(SCENE) } });
  assert.equal(app.globalData.scene, SCENE);
  assert.equal(app.takeScene(), SCENE);
  assert.equal(app.takeScene(), '', 'taken once');
  // A poster scanned while the mini program was in the background.
  app.onShow({ query: { scene: 'abc234defg' } });
  assert.equal(app.takeScene(), 'abc234defg');
  // No scene, a malformed one, a launch without query: nothing remembered.
  app.onLaunch({ query: { scene: '%E0%A4%A' } });
  app.onShow({ query: { scene: encodeURIComponent('<script>') } });
  app.onShow({});
  assert.equal(app.takeScene(), '');
});

test('申请入会 opened by a poster chooses the union its scene names', async () => {
  launchApp();
  const wx = setup({});
  const page = render('apply');
  await page.instance.onLoad({ scene: encodeURIComponent(SCENE) });
  assert.ok(wx.requests().some((r) => r.key === 'GET /api/v1/unions/scene/' + SCENE));
  assert.equal(page.data.union.id, union.id);
  assert.equal(page.data.unions[0].id, union.id, 'listed first, chosen');
  assert.match(page.dom.textContent, /甲公司工会/);
  assert.equal(g.getApp().takeScene(), '');
});

test('申请入会 takes the launch scene when its own query has none', async () => {
  const app = launchApp();
  app.onLaunch({ query: { scene: SCENE } });
  setup({});
  const page = render('apply');
  await page.instance.onLoad({});
  assert.equal(page.data.union.id, union.id);
  assert.equal(app.takeScene(), '', 'the launch scene was taken');
});

test('申请入会 with an unknown scene says so and leaves the choice to the worker', async () => {
  launchApp();
  const wx = setup({ ['GET /api/v1/unions/scene/' + SCENE]: { status: 404, data: { code: 'not_found', message: '未找到' } } });
  const page = render('apply');
  await page.instance.onLoad({ scene: SCENE });
  assert.equal(page.data.union, null);
  assert.equal(page.data.error, null);
  assert.match(page.dom.textContent, /未找到海报上的工会/);
  assert.ok(wx.requests().some((r) => r.key === 'GET /api/v1/unions'));
});

test('首页 launched with a poster scene opens 申请入会 with it', async () => {
  const app = launchApp();
  app.onLaunch({ query: { scene: SCENE } });
  const wx = setup({ 'GET /api/v1/card': { status: 404, data: { code: 'no_card', message: '尚未激活惠工卡' } } });
  const page = render('index');
  await page.instance.onLoad({});
  assert.deepEqual(wx.calls.find((c) => c[0] === 'navigateTo'), ['navigateTo', '/pages/apply/index?scene=' + SCENE]);
  assert.equal(app.takeScene(), '');
});

// The end-to-end journey: the mini program's own API layer and pages (rendered by
// miniprogram-simulate) against a spawned `huigong` binary, with a `wx` whose `request` is real
// HTTP and whose login, subscribe request, phone button and code scanner go to the WeChat mock.
//
//   node test/journey.js                       # SQLite in a temporary directory
//   HUIGONG_TEST_PG_URL=… HUIGONG_TEST_REDIS_URL=… node test/journey.js   # PostgreSQL + Redis
//
// HUIGONG_BIN names the binary (default: target/debug/huigong of the workspace).
const assert = require('node:assert/strict');
const { spawn, spawnSync, execFileSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const jsQR = require('jsqr');
const { PNG } = require('pngjs');
const { render, settle, freshModules, APP } = require('./support/sim.js');

const ROOT = path.join(__dirname, '..', '..');
const BIN = process.env.HUIGONG_BIN || path.join(ROOT, 'target', 'debug', 'huigong');
const PASSWORD = 'Journey-Admin-2026';
// The server sends the template the mini program asks the user to accept (app/config.js).
const TEMPLATE = require(path.join(APP, 'config.js')).applyResultTemplateId;
const NAME = '李四光';
const ID_NUMBER = idNumber('19890214', 7);

/** A valid ID number for region 330522 (GB 11643 check digit). */
function idNumber(birth, seq) {
  const body = '330522' + birth + String(seq).padStart(3, '0');
  const w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  const sum = [...body].reduce((s, c, i) => s + Number(c) * w[i], 0);
  return body + '10X98765432'[sum % 11];
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (s.address());
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

function step(what) {
  process.stdout.write('journey: ' + what + '\n');
}

// ---------------------------------------------------------------- the server

async function startServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'huigong-journey-'));
  const port = await freePort();
  const env = Object.assign({}, process.env, {
    HUIGONG_PROFILE: 'test',
    HUIGONG_CONFIG_DIR: path.join(ROOT, 'config'),
    HUIGONG__SERVER__HOST: '127.0.0.1',
    HUIGONG__SERVER__PORT: String(port),
    HUIGONG__SERVER__WORKERS: '2',
    HUIGONG__LOG__FILTER: 'warn',
    HUIGONG__VAULT__DEV_KEY_FILE: path.join(dir, 'dev-keys.toml'),
    HUIGONG__WECHAT__APPLY_RESULT_TEMPLATE_ID: TEMPLATE,
  });
  let backend = 'SQLite + in-process sessions';
  if (process.env.HUIGONG_TEST_PG_URL && process.env.HUIGONG_TEST_REDIS_URL) {
    const db = 'journey_' + crypto.randomBytes(6).toString('hex');
    execFileSync(psql(), [process.env.HUIGONG_TEST_PG_URL, '-qc', 'CREATE DATABASE ' + db]);
    env.HUIGONG__DATABASE__URL = process.env.HUIGONG_TEST_PG_URL.replace(/\/[^/?]*(\?|$)/, '/' + db + '$1');
    env.HUIGONG__REDIS__URL = process.env.HUIGONG_TEST_REDIS_URL;
    env.HUIGONG__REDIS__KEY_PREFIX = db + ':';
    backend = 'PostgreSQL + Redis';
  } else {
    env.HUIGONG__DATABASE__URL = 'sqlite://' + path.join(dir, 'huigong.sqlite');
  }
  step('backend: ' + backend);
  for (const args of [['migrate'], ['admin', 'create', '--username', 'county', '--password-stdin']]) {
    const r = spawnSync(BIN, args, { env, input: PASSWORD + '\n', encoding: 'utf8' });
    if (r.status !== 0) throw new Error('huigong ' + args.join(' ') + ' failed: ' + r.stderr + r.stdout);
  }
  const log = fs.openSync(path.join(dir, 'server.log'), 'w');
  const child = spawn(BIN, ['serve'], { env, stdio: ['ignore', log, log] });
  const base = 'http://127.0.0.1:' + port;
  for (let i = 0; ; i += 1) {
    try {
      const r = await fetch(base + '/healthz');
      if (r.ok) break;
    } catch (_) {
      // not listening yet
    }
    if (i > 300 || child.exitCode !== null) {
      throw new Error('huigong did not start:\n' + fs.readFileSync(path.join(dir, 'server.log'), 'utf8'));
    }
    await settle(100);
  }
  return {
    base,
    dir,
    stop() {
      child.kill('SIGTERM');
      fs.rmSync(dir, { recursive: true, force: true });
    },
    log: () => fs.readFileSync(path.join(dir, 'server.log'), 'utf8'),
  };
}

function psql() {
  const found = ['psql', ...fs.readdirSync('/usr/lib/postgresql', { withFileTypes: true })
    .map((d) => path.join('/usr/lib/postgresql', d.name, 'bin', 'psql'))
    .filter((p) => fs.existsSync(p))];
  return found.length > 1 ? found[found.length - 1] : 'psql';
}

/** Plain HTTP for the admin's side (the console is not the mini program). */
async function http(base, method, p, body, token) {
  const headers = { 'content-type': 'application/json' };
  if (token) headers.authorization = 'Bearer ' + token;
  const r = await fetch(base + p, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  let data = text;
  try {
    data = JSON.parse(text);
  } catch (_) {
    // not JSON
  }
  return { status: r.status, data };
}

/**
 * The union's poster as its admin downloads it, and what the phone's camera reads from its
 * mini-program code: the page it opens and the launch query (`scene`).
 */
async function scanPoster(base, unionId, token) {
  const r = await fetch(base + '/api/v1/admin/orgs/' + unionId + '/poster.png', { headers: { authorization: 'Bearer ' + token } });
  assert.equal(r.status, 200, 'poster: ' + r.status);
  assert.equal(r.headers.get('content-type'), 'image/png');
  const png = PNG.sync.read(Buffer.from(await r.arrayBuffer()));
  assert.deepEqual([png.width, png.height], [1240, 1754]);
  const code = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  assert.ok(code, 'the poster carries a readable code');
  const [page, search] = code.data.split('?');
  return { path: page, query: Object.fromEntries(new URLSearchParams(search)) };
}

// ---------------------------------------------------------------- the phone

/**
 * A `wx` for one phone. `request` is real HTTP; the WeChat-side calls go to the mock.
 * @param {string} base the server
 * @param {string} openid this phone's WeChat user
 */
function phone(base, openid) {
  const storage = new Map();
  const canvases = [];
  /** Paths whose next answer is lost on the way back (the server has handled the request). */
  const lose = new Set();
  const mock = (p, body) => http(base, 'POST', '/wechat-mock' + p, body).then((r) => r.data);
  const makeCanvas = () => {
    const c = { width: 0, height: 0, pixels: new Uint8ClampedArray(0) };
    let fill = [0, 0, 0];
    const ctx = {
      set fillStyle(v) {
        fill = v === '#ffffff' ? [255, 255, 255] : [0, 0, 0];
      },
      fillRect(x, y, w, h) {
        if (c.pixels.length !== c.width * c.height * 4) c.pixels = new Uint8ClampedArray(c.width * c.height * 4);
        for (let j = y; j < Math.min(y + h, c.height); j += 1) {
          for (let i = x; i < Math.min(x + w, c.width); i += 1) {
            const o = (j * c.width + i) * 4;
            c.pixels.set([...fill, 255], o);
          }
        }
      },
      beginPath() {}, moveTo() {}, lineTo() {}, stroke() {}, clearRect() {},
      lineWidth: 1, lineCap: 'butt',
    };
    Object.assign(c, { getContext: () => ctx });
    canvases.push(c);
    return c;
  };
  const wx = {
    openid,
    canvases,
    loseNextAnswer: (p) => lose.add(p),
    getAccountInfoSync: () => ({ miniProgram: { envVersion: 'develop', appId: 'wx-test-appid', version: '' } }),
    getStorageSync: (k) => (storage.has(k) ? storage.get(k) : ''),
    setStorageSync: (k, v) => storage.set(k, v),
    removeStorageSync: (k) => storage.delete(k),
    login(o) {
      mock('/wx/login', { openid }).then((r) => o.success({ code: r.code, errMsg: 'login:ok' }), o.fail);
    },
    request(o) {
      const url = new URL(o.url);
      fetch(o.url, {
        method: o.method || 'GET',
        headers: o.header,
        body: o.data === undefined || (o.method || 'GET') === 'GET' ? undefined : JSON.stringify(o.data),
        signal: AbortSignal.timeout(o.timeout || 10000),
      }).then(
        async (r) => {
          const text = await r.text();
          if (lose.delete(url.pathname)) return o.fail({ errMsg: 'request:fail' });
          let data = text;
          try {
            data = JSON.parse(text);
          } catch (_) {
            // not JSON
          }
          o.success({ statusCode: r.status, data, header: Object.fromEntries(r.headers) });
        },
        (e) => o.fail({ errMsg: e.name === 'TimeoutError' ? 'request:fail timeout' : 'request:fail' }),
      );
    },
    requestSubscribeMessage(o) {
      // The user taps 「允许」: the mock records one grant per accepted template.
      Promise.all(o.tmplIds.map((t) => mock('/mock/subscribe/accept', { openid, template_id: t }))).then(
        () => o.success(Object.fromEntries(o.tmplIds.map((t) => [t, 'accept']))),
        o.fail,
      );
    },
    /** The getPhoneNumber button: the mock issues a code bound to this user. */
    phoneButtonCode: (mobile) => mock('/wx/phone', { openid, phone: mobile }).then((r) => r.code),
    /** The camera sees `screen` (another phone's canvas) and decodes it. */
    screen: null,
    scanCode(o) {
      const c = wx.screen;
      const code = c && jsQR(c.pixels, c.width, c.height);
      setTimeout(() => (code ? o.success({ result: code.data, scanType: 'QR_CODE' }) : o.fail({ errMsg: 'scanCode:fail' })));
    },
    createSelectorQuery() {
      const q = {
        in: () => q, select: () => q, fields: () => q,
        exec: (cb) => setTimeout(() => cb([{ node: makeCanvas(), width: 240, height: 240 }])),
      };
      return q;
    },
    getWindowInfo: () => ({ pixelRatio: 1 }),
    getScreenBrightness: (o) => o.success({ value: 0.5 }),
    setScreenBrightness() {},
    canvasToTempFilePath: (o) => setTimeout(() => o.success({ tempFilePath: 'wxfile://tmp/signature.png' })),
    getFileSystemManager: () => ({
      // A 1×1 PNG stands for the drawn signature.
      readFileSync: () =>
        'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
    }),
    navigateTo() {},
    redirectTo() {},
    stopPullDownRefresh() {},
  };
  return wx;
}

/** Makes `wx` the phone in hand, with the app's modules loaded afresh for it. */
function use(wx, base) {
  freshModules();
  /** @type {any} */ (globalThis).wx = wx;
  require(path.join(APP, 'config.js')).baseUrls.develop = base;
}

const text = (page) => page.dom.textContent;

// ---------------------------------------------------------------- the journey

async function journey(server) {
  const { base } = server;
  const county = (await http(base, 'POST', '/api/v1/auth/password/login', { username: 'county', password: PASSWORD })).data.token;
  assert.ok(county, 'county admin logged in');
  const created = async (p, body) => {
    const r = await http(base, 'POST', p, body, county);
    assert.equal(r.status, 201, p + ': ' + JSON.stringify(r.data));
    return r.data;
  };
  const countyOrg = '00000000-0000-7000-8000-000000000001';
  const district = await created('/api/v1/admin/orgs', { parent_id: countyOrg, level: 'district', name: '雉城街道总工会' });
  const union = await created('/api/v1/admin/orgs', {
    parent_id: district.id, level: 'grassroots', name: '长兴示范企业工会', unit_name: '长兴示范企业',
    unit_code: '91350100M000100Y43', unit_nature: '私营经济', unit_address: '浙江省湖州市长兴县雉城街道金陵路88号',
    employee_count: 120, founded_on: '2001-05-06', union_type: '单建', member_count: 80, leader_name: '王主席', phone: '0572-6022447',
  });
  const today = new Date(Date.now() + 8 * 3600e3);
  const day = (d) => new Date(today.getTime() + d * 86400e3).toISOString().slice(0, 10);
  const shop = await created('/api/v1/admin/merchants', {
    name: '长兴面馆', category: '餐饮', address: '浙江省湖州市长兴县人民路1号', phone: '0572-6022448',
    discounts: [{ title: '会员九折', kind: 'percent', value: 10, valid_from: day(-1), valid_to: day(30), daily_limit_per_card: 2 }],
  });
  await created('/api/v1/admin/merchants/' + shop.id + '/staff', { username: 'noodles', password: PASSWORD });
  step('county, union, merchant and its till account set up over HTTP');

  const worker = phone(base, 'o_journey_' + crypto.randomBytes(4).toString('hex'));
  const till = phone(base, 'o_journey_till');

  // 1. The worker scans the union's poster: WeChat launches the mini program on the page the
  // code names, with its scene in the query (URL-encoded) of the launch and of the page.
  const launch = await scanPoster(base, union.id, county);
  assert.equal(launch.path, 'pages/apply/index');
  assert.match(launch.query.scene, /^[0-9a-z]{10}$/);
  step('the union\'s poster downloaded; its code read: ' + launch.path + ' with a scene');
  use(worker, base);
  let app = /** @type {any} */ (null);
  /** @type {any} */ (globalThis).App = (/** @type {any} */ def) => { app = def; };
  require(path.join(APP, 'app.js'));
  /** @type {any} */ (globalThis).getApp = () => app;
  app.onLaunch({ path: launch.path, query: { scene: encodeURIComponent(launch.query.scene) } });
  const apply = render('apply');
  await apply.instance.onLoad({ scene: encodeURIComponent(launch.query.scene) });
  assert.match(text(apply), /中华全国总工会入会申请书/);
  assert.equal(apply.data.error, null, JSON.stringify(apply.data.error));
  assert.equal(apply.data.union && apply.data.union.id, union.id, 'the poster\'s union is chosen');
  assert.match(text(apply), /长兴示范企业工会/);
  apply.instance.onQuery({ detail: { value: '长兴示范' } });
  await apply.instance.search();
  assert.equal(apply.data.unions.length, 1);
  assert.equal(apply.data.union.id, union.id, 'still chosen after a search');
  for (const [field, value] of Object.entries({ name: NAME, id_number: ID_NUMBER, education: '大专', household_type: '农村', mobile: '13957212345' })) {
    apply.instance.onField({ currentTarget: { dataset: { field } }, detail: { value } });
  }
  apply.instance.onAgree({ detail: { value: ['yes'] } });
  apply.instance.onConsent({ detail: { value: ['yes'] } });
  await apply.instance.penDown({ touches: [{ x: 10, y: 10 }] });
  apply.instance.penMove({ touches: [{ x: 60, y: 40 }] });
  await apply.instance.submit();
  assert.equal(apply.data.error, null, JSON.stringify(apply.data.error));
  assert.equal(apply.data.application.status, 'pending');
  assert.equal(apply.data.application.has_drawn_signature, true);
  assert.equal(apply.data.subscribed, true);
  const mine = render('applications');
  await mine.instance.onShow();
  assert.match(text(mine), /审核中/);
  step('worker applied through 申请入会 (subscription accepted at the mock)');

  // 2. The admin approves over HTTP.
  const pending = await http(base, 'GET', '/api/v1/admin/applications?status=pending', undefined, county);
  assert.equal(pending.data.items.length, 1);
  const approved = await http(base, 'POST', '/api/v1/admin/applications/' + pending.data.items[0].id + '/approve', undefined, county);
  assert.equal(approved.status, 200, JSON.stringify(approved.data));
  step('county admin approved the application');

  // 3. The subscribe message arrives at the mock; its grant is used, a second send is refused.
  let messages = [];
  for (let i = 0; i < 100 && messages.length === 0; i += 1) {
    const r = await fetch(base + '/wechat-mock/mock/subscribe/messages').then((x) => x.json());
    messages = r.messages.filter((m) => m.touser === worker.openid);
    if (!messages.length) await settle(100);
  }
  assert.equal(messages.length, 1, 'one subscribe message delivered');
  assert.equal(messages[0].template_id, TEMPLATE);
  assert.match(JSON.stringify(messages[0].data), /已通过/);
  const grants = await http(base, 'POST', '/wechat-mock/mock/subscribe/accept', { openid: worker.openid, template_id: TEMPLATE, times: 0 });
  assert.equal(grants.data.grants, 0, 'the grant was used');
  const tokenAnswer = await http(base, 'POST', '/wechat-mock/cgi-bin/stable_token', { grant_type: 'client_credential', appid: 'wx-test-appid', secret: 'dev-only-test-wechat-secret' });
  const second = await http(base, 'POST', '/wechat-mock/cgi-bin/message/subscribe/send?access_token=' + tokenAnswer.data.access_token, {
    touser: worker.openid, template_id: TEMPLATE, data: messages[0].data,
  });
  assert.equal(second.data.errcode, 43101, 'a second send is refused: ' + JSON.stringify(second.data));
  await mine.instance.onShow();
  assert.match(text(mine), /已通过/);
  step('subscribe message delivered once; a second send refused (43101)');

  // 4. The worker activates the card.
  const activate = render('activate');
  activate.instance.onName({ detail: { value: NAME } });
  activate.instance.onIdNumber({ detail: { value: ID_NUMBER } });
  activate.instance.onConsent({ detail: { value: ['yes'] } });
  await activate.instance.submitPreview();
  assert.equal(activate.data.error, null, JSON.stringify(activate.data.error));
  assert.match(text(activate), /李\*光|李\*\*/);
  assert.doesNotMatch(text(activate), new RegExp(ID_NUMBER));
  await activate.instance.confirm();
  assert.equal(activate.data.error, null, JSON.stringify(activate.data.error));
  const home = render('index');
  await home.instance.onLoad({});
  assert.equal(home.data.activated, true);
  step('card activated through 激活惠工卡; 首页 shows it');

  // 5. The phone number through the getPhoneNumber button.
  const phonePage = render('phone');
  await phonePage.instance.onGetPhoneNumber({ detail: { code: await worker.phoneButtonCode('13812345678') } });
  assert.match(text(phonePage), /138\*\*\*\*5678/);
  step('mobile confirmed through 手机号');

  // 6. The card shows its live QR code.
  const card = render('card');
  await card.instance.onShow();
  assert.equal(card.data.qrError, null, JSON.stringify(card.data.qrError));
  assert.match(text(card), /长兴示范企业工会/);
  till.screen = worker.canvases[worker.canvases.length - 1];
  card.instance.onHide();
  step('我的惠工卡 drew the live QR code');

  // 7. The till signs in, scans, verifies, redeems; the first answer is lost, the retry uses the
  //    same Idempotency-Key and gets the first record back.
  use(till, base);
  const tillPage = render('till');
  tillPage.instance.onLoad();
  tillPage.instance.onField({ currentTarget: { dataset: { field: 'username' } }, detail: { value: 'noodles' } });
  tillPage.instance.onField({ currentTarget: { dataset: { field: 'password' } }, detail: { value: PASSWORD } });
  await tillPage.instance.signIn();
  assert.equal(tillPage.data.signedIn, true, JSON.stringify(tillPage.data.error));
  await tillPage.instance.scan();
  assert.equal(tillPage.data.error, null, JSON.stringify(tillPage.data.error));
  assert.equal(tillPage.data.verification.card.union_name, '长兴示范企业工会');
  assert.equal(tillPage.data.verification.discounts.length, 1);
  tillPage.instance.onField({ currentTarget: { dataset: { field: 'amount' } }, detail: { value: '58' } });
  till.loseNextAnswer('/api/v1/merchant/redemptions');
  await tillPage.instance.redeem();
  assert.equal(tillPage.data.error.code, 'network');
  await tillPage.instance.redeem();
  assert.equal(tillPage.data.error, null, JSON.stringify(tillPage.data.error));
  assert.equal(tillPage.data.result.replayed, true, 'the retry got the first record back');
  assert.equal(tillPage.data.result.saved, '5.80');
  assert.equal(tillPage.data.today.length, 1);
  step('till scanned, verified and redeemed twice with one key (one record)');

  // 8. The worker sees one redemption.
  use(worker, base);
  const again = render('card');
  await again.instance.onShow();
  assert.equal(again.data.redemptions.length, 1);
  assert.match(text(again), /长兴面馆 · 会员九折/);
  again.instance.onUnload();
  step('the worker sees exactly one redemption');
}

(async () => {
  if (!fs.existsSync(BIN)) {
    console.error('journey: ' + BIN + ' is missing; build it with `cargo build -p huigong-server`');
    process.exit(2);
  }
  const server = await startServer();
  try {
    await journey(server);
    step('passed');
  } catch (e) {
    console.error('journey FAILED:', e && e.stack ? e.stack : e);
    console.error('--- server log ---\n' + server.log().slice(-4000));
    process.exitCode = 1;
  } finally {
    server.stop();
  }
  // Pages may leave timers behind (the QR refresh): end here.
  process.exit(process.exitCode || 0);
})();

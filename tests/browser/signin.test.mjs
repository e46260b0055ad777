// Sign-in without TOTP, the wrong-password message, CSRF refusal, sign-out ending the session.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, signIn, screenshot, BASE } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

test('a wrong password shows the message on the sign-in page', async () => {
  const page = await newPage(browser);
  await signIn(page, 'district_a', 'Not-The-Password-1');
  assert.equal(new URL(page.url()).pathname, '/console/login');
  assert.equal(await page.locator('#signin-error').innerText(), '用户名或密码错误');
  // Keyboard: the username is kept and the form is usable again.
  assert.equal(await page.getByLabel('用户名').inputValue(), 'district_a');
  await screenshot(page, 'signin-error');
  await page.context().close();
});

test('sign in without TOTP lands on the 工作台 with the caller\'s numbers', async () => {
  const page = await newPage(browser);
  await page.goto('/console/login');
  await screenshot(page, 'signin');
  await signIn(page, 'district_a');
  assert.equal(new URL(page.url()).pathname, '/console/');
  await page.getByRole('heading', { name: '工作台' }).waitFor();
  assert.match(await page.locator('p.muted').first().innerText(), /雉城街道总工会/);
  for (const id of ['#fig-applications', '#fig-transfers', '#fig-overdue', '#fig-cards']) {
    assert.match(await page.locator(id + ' .figure').innerText(), /^\d+$/);
  }
  // The member activated a card this month in district A's union.
  assert.equal(await page.locator('#fig-cards .figure').innerText(), '1');
  assert.equal(await page.locator('#fig-applications a').getAttribute('href'), '/console/applications?status=pending');
  // The navigation of a district admin: no 审计日志 (county only), no till.
  const nav = await page.locator('nav.side').innerText();
  assert.match(nav, /进度通报/);
  assert.doesNotMatch(nav, /审计日志|商家核销/);
  await screenshot(page, 'dashboard');
  await page.context().close();
});

test('a POST without the CSRF token is refused and changes nothing', async () => {
  const page = await newPage(browser);
  await signIn(page, 'district_a');
  // A form another site could make the browser send: no token.
  const res = await page.request.post('/console/logout', { form: { x: '1' }, maxRedirects: 0 });
  assert.equal(res.status(), 403);
  assert.match(await res.text(), /页面已过期/);
  // Submitted from the page itself without the token: the 403 page, in Chinese.
  await Promise.all([
    page.waitForLoadState('load'),
    page.evaluate(() => {
      const form = document.createElement('form');
      form.method = 'post';
      form.action = '/console/logout';
      document.body.appendChild(form);
      form.submit();
    }),
  ]);
  await page.getByRole('heading', { name: '无权访问' }).waitFor();
  await screenshot(page, 'csrf-refused');
  // Still signed in.
  await page.goto('/console/');
  await page.getByRole('heading', { name: '工作台' }).waitFor();
  await page.context().close();
});

test('sign-out ends the session: the old cookie no longer works', async () => {
  const page = await newPage(browser);
  await signIn(page, 'district_a');
  const cookies = await page.context().cookies();
  const session = cookies.find((c) => c.name === 'hg_console');
  assert.ok(session, 'session cookie set');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  await Promise.all([page.waitForURL('**/console/login'), page.getByRole('button', { name: '退出登录' }).click()]);

  // The old cookie in a fresh browser context: sent to sign in again.
  const replay = await browser.newContext({ baseURL: BASE, viewport: { width: 1280, height: 800 } });
  await replay.addCookies([{ ...session }]);
  const again = await replay.newPage();
  await again.goto('/console/');
  assert.equal(new URL(again.url()).pathname, '/console/login');
  await replay.close();
  await page.context().close();
});

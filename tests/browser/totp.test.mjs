// Two-factor sign-in: a grassroots admin (auth.require_totp_for = grassroots_admin in run.sh)
// enrols at first sign-in with the QR code on the page, then signs in with a code.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, signIn, screenshot, totp } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

test('sign in with TOTP: enrol at the first sign-in, then sign in with a code', async () => {
  const page = await newPage(browser);
  await signIn(page, 'union_a');
  assert.equal(new URL(page.url()).pathname, '/console/totp/enrol');
  await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: '生成绑定二维码' }).click()]);
  const qr = page.getByAltText('身份验证器绑定二维码');
  assert.match(await qr.getAttribute('src'), /^data:image\/svg\+xml;base64,/);
  assert.ok(await qr.evaluate((img) => img.complete && img.naturalWidth > 0), 'QR code drawn');
  const secret = (await page.locator('#totp-secret').innerText()).trim();
  assert.equal(await page.locator('ul.codes li').count(), 10);
  await screenshot(page, 'totp-enrol');

  // A wrong code first: the message, and the form again.
  await page.getByLabel('动态验证码').fill('000000' === totp(secret) ? '111111' : '000000');
  await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: '完成绑定' }).click()]);
  await page.locator('#enrol-error').waitFor();
  await page.getByLabel('动态验证码').fill(totp(secret));
  await Promise.all([page.waitForURL('**/console/'), page.getByRole('button', { name: '完成绑定' }).click()]);
  await page.getByRole('heading', { name: '工作台' }).waitFor();
  await Promise.all([page.waitForURL('**/console/login'), page.getByRole('button', { name: '退出登录' }).click()]);

  // Again: the password, then the second step asks for the code.
  await signIn(page, 'union_a');
  await page.getByLabel('动态验证码').waitFor();
  assert.match(await page.locator('form').innerText(), /已开启双因素登录/);
  await screenshot(page, 'signin-totp');
  // The next time step's code: the one used to enrol cannot be used again.
  await page.getByLabel('动态验证码').fill(totp(secret, 1));
  await Promise.all([page.waitForURL('**/console/'), page.getByRole('button', { name: '登录' }).click()]);
  await page.getByRole('heading', { name: '工作台' }).waitFor();
  await page.context().close();
});

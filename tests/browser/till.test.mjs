// 商家核销: the scanner types the token, Enter verifies, two clicks record one redemption.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { launch, newPage, signIn, screenshot, api, world } from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser.close(); });

test('the till records one redemption for two clicks', async () => {
  const page = await newPage(browser);
  await signIn(page, 'till_a');
  assert.equal(new URL(page.url()).pathname, '/console/till');
  const field = page.getByLabel('会员卡动态码');
  // Focused on arrival: a scanner can type straight away.
  assert.equal(await field.evaluate((el) => el === document.activeElement), true);

  const [status, qr] = await api('GET', '/api/v1/card/qr', world.worker);
  assert.equal(status, 200);
  await field.fill(qr.token);
  await field.press('Enter');
  const card = page.locator('#till-card');
  await card.waitFor();
  assert.match(await card.innerText(), /张\*/);
  assert.doesNotMatch(await page.content(), /张三丰/);

  const form = page.locator('form.discount').filter({ hasText: '立减5元' });
  await form.getByLabel('消费金额（元）').fill('58.50');
  await form.getByRole('button', { name: '记录核销' }).dblclick();
  await page.locator('#till-done').waitFor();
  // Let any second request finish before counting.
  await page.waitForLoadState('networkidle');
  await page.locator('#today tr.redemption').first().waitFor();
  assert.equal(await page.locator('#today tr.redemption').count(), 1);
  // The scan field is ready for the next card.
  assert.equal(await field.evaluate((el) => el === document.activeElement && el.value === ''), true);

  const staff = await api('POST', '/api/v1/auth/password/login', null, { username: 'till_a', password: world.password });
  const [s2, list] = await api('GET', '/api/v1/merchant/redemptions', staff[1].token);
  assert.equal(s2, 200);
  assert.equal(list.total, 1);
  assert.equal(list.items[0].amount_fen, 5850);
  await screenshot(page, 'till');
  await page.context().close();
});
